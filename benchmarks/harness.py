"""Speed benchmark of hatch-lockbundle against the by-hand uv recipe and pip (issue 6).

    uv run python benchmarks/harness.py --rounds 3 [--json results.json]
    uv run python benchmarks/harness.py --contenders engine --baseline COMMIT  # a change's cost

Steps: prepare the fixture's files (downloaded once into benchmarks/.data), serve them from a
PEP 503 index on 127.0.0.1, run every contender cold / warm / no-op for several rounds
(alternating their order), then print medians, ratios and the goals of the issue.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockbench.contenders import (
    CASE_HELP,
    CASES,
    CONTENDERS,
    DEFAULT_CONTENDERS,
    Case,
    Contender,
    Context,
    Workspace,
)
from lockbench.environment import Tools, describe_machine, install_engine
from lockbench.fixture import Fixture, prepare
from lockbench.index import serve
from lockbench.measure import CommandFailed, Measurement, foreign_cpu_during, measure
from lockbench.project import make_template
from lockbench.results import Results, is_noisy, render, to_json
from lockbench.trash import Trash

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURE_PROJECT = HERE / "project"
DATA = HERE / ".data"

HATCH_CONFIG = 'mode = "local"\n'
QUIET_WINDOW = 0.5  # seconds observed before a run
QUIET_CPU = 0.05  # CPU seconds foreign processes may use in that window


@dataclass(frozen=True)
class NoisePolicy:
    """How the harness copes with a machine it shares (a test suite running meanwhile)."""

    #: seconds to wait, at most, for foreign processes to leave the CPUs idle before a run
    settle: float
    #: times a run is done again when foreign processes used the CPUs during it
    retries: int

    def wait_for_quiet(self) -> None:
        deadline = time.monotonic() + self.settle
        while time.monotonic() < deadline:
            used = foreign_cpu_during(QUIET_WINDOW)
            if used is None or used <= QUIET_CPU:
                return


class IncompleteOutput(Exception):
    """A run exited successfully but did not produce the whole locked set."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="cases: " + "; ".join(f"{case}: {text}" for case, text in CASE_HELP.items()),
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every run (default 3)")
    parser.add_argument(
        "--contenders",
        type=_names(CONTENDERS),
        default=list(DEFAULT_CONTENDERS),
        help=f"comma-separated subset of {','.join(CONTENDERS)} (default: all but baseline)",
    )
    parser.add_argument(
        "--baseline",
        metavar="COMMIT",
        help="also run the engine of this commit of the checkout (contender `baseline`), "
        "alternating with the others: the ratios engine/baseline say what a change costs",
    )
    parser.add_argument(
        "--cases",
        type=_names(CASES),
        default=list(CASES),
        help=f"comma-separated subset of {','.join(CASES)} (the cases they start from run "
        "too, unreported)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=30.0,
        help="before each run, wait up to this many seconds for other processes "
        "to leave the CPUs idle (default 30; 0: do not wait)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="do a run again, up to this many times, when other processes used "
        "the CPUs meanwhile (default 2)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--data",
        type=Path,
        default=DATA,
        help="downloads and scratch space (default benchmarks/.data)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch directory (projects, outputs, logs)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.baseline and "baseline" not in args.contenders:
        args.contenders.append("baseline")
    elif "baseline" in args.contenders and not args.baseline:
        sys.exit("the baseline contender needs --baseline COMMIT")
    started = time.perf_counter()
    tools = Tools.find()
    fixture = prepare(FIXTURE_PROJECT, REPO, args.data, tools, log=say, baseline=args.baseline)
    say(
        f"fixture: {fixture.distributions} distributions, "
        f"{fixture.locked_bytes / 1e6:.0f} MB of locked files"
    )
    trash = Trash(args.data / "trash")
    trash.discard(args.data / "scratch")
    trash.empty()  # what earlier runs left
    trash.wait_until_forgotten(say)
    scratch = args.data / "scratch"
    scratch.mkdir(parents=True)
    header = {"machine": describe_machine(scratch), "versions": tools.versions(REPO)}
    if args.baseline:
        header["versions"]["baseline"] = args.baseline
    for section, values in header.items():
        say(f"{section}: " + "; ".join(f"{key} {value}" for key, value in values.items()))
    with serve(fixture.files, fixture.manifest, scratch / "index-access.log") as index:
        context = make_context(tools, index, scratch, fixture)
        contenders = [CONTENDERS[name] for name in args.contenders]
        policy = NoisePolicy(args.settle, args.retries)
        results = run_rounds(
            contenders, args.cases, args.rounds, context, scratch, trash, fixture, policy
        )
    print()
    print(render(results))
    elapsed = time.perf_counter() - started
    print(f"\nharness run: {elapsed:.0f} s ({args.rounds} rounds)")
    if args.json:
        report = to_json(results, {**header, "rounds": args.rounds, "harness seconds": elapsed})
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.keep or results.failures:
        say(f"scratch kept in {scratch} (each contender's run logs are in <contender>/logs)")
    else:
        trash.discard(scratch)
    trash.empty()
    return 1 if results.failures else 0


def make_context(tools: Tools, index: str, scratch: Path, fixture: Fixture) -> Context:
    """The rewritten project template, a neutral hatch configuration and the engine's venv."""
    template = make_template(FIXTURE_PROJECT, scratch / "template", index)
    hatch_config = scratch / "hatch-config.toml"
    hatch_config.write_text(HATCH_CONFIG)
    simple = f"{index}/simple"
    engine_python = install_engine(tools, fixture.plugin, simple, scratch / "engine-env")
    baseline_python = None
    if fixture.baseline_plugin is not None:
        baseline_python = install_engine(
            tools, fixture.baseline_plugin, simple, scratch / "baseline-env"
        )
    return Context(tools, index, template, hatch_config, engine_python, baseline_python)


def run_rounds(
    contenders: Sequence[Contender],
    cases: Sequence[Case],
    rounds: int,
    context: Context,
    scratch: Path,
    trash: Trash,
    fixture: Fixture,
    policy: NoisePolicy,
) -> Results:
    """Every case of every contender, ``rounds`` times; the contenders' order rotates per round.

    Within a round the cases run in order (cold fills the caches that warm uses, warm writes the
    output that no-op rebuilds), each case across all contenders before the next case; the cases
    a chosen case starts from run too, unreported. A run disturbed by foreign load is done
    again: each case's reset re-creates its starting state.
    """
    results = Results()
    needed = CASES[: max(CASES.index(case) for case in cases) + 1]
    for round_ in range(1, rounds + 1):
        shift = (round_ - 1) % len(contenders)
        order = [*contenders[shift:], *contenders[:shift]]
        for case in needed:
            for contender in order:
                if case not in contender.cases or contender.name in results.failures:
                    continue
                workspace = Workspace(scratch / contender.name, trash)
                for attempt in range(policy.retries + 1):
                    try:
                        measurement = run_once(
                            contender, case, round_, workspace, context, fixture, policy
                        )
                    except (CommandFailed, IncompleteOutput) as error:
                        say(f"round {round_} {case:<5} {contender.name:<6} FAILED: {error}")
                        results.failures[contender.name] = str(error)
                        break
                    line = progress(round_, case, contender.name, measurement)
                    if case not in cases:  # only the starting state of a chosen case
                        say(f"{line}  (not reported)")
                        break
                    say(line)
                    if not is_noisy(measurement) or attempt == policy.retries:
                        results.add(contender.name, case, measurement)
                        break
                    say("  disturbed by foreign load: done again")
                    results.repeated += 1
    return results


def run_once(
    contender: Contender,
    case: Case,
    round_: int,
    workspace: Workspace,
    context: Context,
    fixture: Fixture,
    policy: NoisePolicy,
) -> Measurement:
    """Reset the workspace for ``case`` (untimed), measure one run, check its output."""
    workspace.reset(case, context.template)
    if case != "noop":
        contender.setup(workspace, context)
    os.sync()  # the previous run's writeback should not land in this run's time
    policy.wait_for_quiet()
    measurement = measure(
        contender.steps(workspace, context),
        cwd=workspace.project,
        env=contender.env(workspace, context),
        log=workspace.log(case, round_),
    )
    check_output(contender.output(workspace), fixture.distributions)
    return measurement


def check_output(directory: Path, expected: int) -> None:
    """The target directory holds one ``.dist-info`` per locked package and the project."""
    found = len(list(directory.glob("*.dist-info")))
    if found != expected:
        raise IncompleteOutput(f"{directory} has {found} .dist-info directories, not {expected}")


def progress(round_: int, case: Case, name: str, measurement: Measurement) -> str:
    foreign = measurement.foreign_cpu_seconds
    return (
        f"round {round_} {case:<5} {name:<6} {measurement.seconds:7.2f} s"
        f"  cpu {measurement.cpu_seconds:5.1f} s"
        f"  foreign cpu {'n/a' if foreign is None else f'{foreign:4.1f}'} s"
        f"  {measurement.peak_process_rss / 1e6:4.0f} MB"
    )


def say(message: str) -> None:
    print(message, flush=True)


def _names(known: Iterable[str]) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated subset of ``known``."""
    known = list(known)

    def parse(text: str) -> list[str]:
        chosen = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in chosen if name not in known]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(known)}")
        return chosen

    return parse


if __name__ == "__main__":
    sys.exit(main())
