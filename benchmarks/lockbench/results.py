"""Medians, ratios and the goals of issue 6, as a table for people and JSON for tools."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .contenders import CASES, Case
from .measure import Measurement

MB = 1_000_000
#: a run during which foreign processes used more CPU than this share of its wall time is noisy
NOISY_SHARE = 0.25


@dataclass
class Results:
    """Every measurement of one harness run, and the contenders that failed."""

    samples: dict[tuple[str, Case], list[Measurement]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    #: runs discarded (and done again) because foreign load made them noisy
    repeated: int = 0

    def add(self, contender: str, case: Case, measurement: Measurement) -> None:
        self.samples.setdefault((contender, case), []).append(measurement)

    def median(self, contender: str, case: Case) -> float | None:
        runs = self.samples.get((contender, case))
        return statistics.median(m.seconds for m in runs) if runs else None

    def ratio(self, numerator: tuple[str, Case], denominator: tuple[str, Case]) -> float | None:
        top, bottom = self.median(*numerator), self.median(*denominator)
        return top / bottom if top is not None and bottom else None

    def paired_ratio(
        self, numerator: tuple[str, Case], denominator: tuple[str, Case]
    ) -> float | None:
        """The median of the rounds' own ratios (round 1's over round 1's, and so on): a drift
        of the machine during the run, which both sides of a round share, cancels out."""
        tops, bottoms = self.samples.get(numerator), self.samples.get(denominator)
        if not tops or not bottoms or len(tops) != len(bottoms):
            return None
        return statistics.median(t.seconds / b.seconds for t, b in zip(tops, bottoms, strict=True))

    def peak_process_rss(self, contender: str) -> int | None:
        """The largest single process over every run of ``contender``, in bytes."""
        peaks = [m.peak_process_rss for (name, _), runs in self.samples.items()
                 if name == contender for m in runs]  # fmt: skip
        return max(peaks) if peaks else None

    def contenders(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.samples))


@dataclass(frozen=True)
class Goal:
    """One goal of the issue: a figure from the results and the bound it must stay within."""

    text: str
    figure: Callable[[Results], float | None]
    bound: float
    #: True: the figure must stay at or below the bound (strictly below when ``strict``)
    upper: bool = True
    strict: bool = False
    unit: str = "x"

    def check(self, results: Results) -> tuple[float | None, bool | None]:
        value = self.figure(results)
        if value is None:
            return None, None
        if self.upper:
            return value, value < self.bound if self.strict else value <= self.bound
        return value, value >= self.bound


Figure = Callable[[Results], float | None]


def is_noisy(measurement: Measurement) -> bool:
    """Foreign processes used more CPU during the run than :data:`NOISY_SHARE` of its time."""
    foreign = measurement.foreign_cpu_seconds
    return foreign is not None and foreign > NOISY_SHARE * measurement.seconds


def _ratio(numerator: tuple[str, Case], denominator: tuple[str, Case]) -> Figure:
    return lambda results: results.ratio(numerator, denominator)


def _seconds(contender: str, case: Case) -> Figure:
    return lambda results: results.median(contender, case)


def _memory(contender: str) -> Figure:
    def figure(results: Results) -> float | None:
        peak = results.peak_process_rss(contender)
        return None if peak is None else peak / MB

    return figure


GOALS = (
    Goal("warm: engine <= 1.0x uv warm", _ratio(("engine", "warm"), ("uv", "warm")), 1.0),
    Goal("warm: hatch <= 1.5x uv warm", _ratio(("hatch", "warm"), ("uv", "warm")), 1.5),
    Goal("cold: engine <= 1.5x uv cold", _ratio(("engine", "cold"), ("uv", "cold")), 1.5),
    Goal("cold: hatch <= 1.5x uv cold", _ratio(("hatch", "cold"), ("uv", "cold")), 1.5),
    Goal("pip cold >= 10x engine cold", _ratio(("pip", "cold"), ("engine", "cold")), 10.0,
         upper=False),
    Goal("pip cold >= 10x hatch cold", _ratio(("pip", "cold"), ("hatch", "cold")), 10.0,
         upper=False),
    Goal("no-op: engine < 1 s", _seconds("engine", "noop"), 1.0, strict=True, unit=" s"),
    Goal("no-op: hatch < 1 s", _seconds("hatch", "noop"), 1.0, strict=True, unit=" s"),
    Goal("memory: engine < 300 MB (largest process)", _memory("engine"), 300.0, strict=True,
         unit=" MB"),
    Goal("memory: hatch < 300 MB (largest process)", _memory("hatch"), 300.0, strict=True,
         unit=" MB"),
)  # fmt: skip

#: a change may cost this much against its baseline (issue 18: 5 %)
BASELINE_BOUND = 1.05
#: held by the median of the rounds' own ratios, which a drift of the machine does not move
BASELINE_GOALS = tuple(
    Goal(f"{case}: engine <= {BASELINE_BOUND}x baseline {case} (median of the rounds' ratios)",
         lambda results, case=case: results.paired_ratio(("engine", case), ("baseline", case)),
         BASELINE_BOUND)
    for case in CASES
)  # fmt: skip

RATIOS = (
    *((f"{ours}/uv {case}", (ours, case), ("uv", case))
      for ours in ("engine", "hatch") for case in CASES),
    *((f"engine/baseline {case}", ("engine", case), ("baseline", case)) for case in CASES),
    ("pip/engine cold", ("pip", "cold"), ("engine", "cold")),
    ("pip/hatch cold", ("pip", "cold"), ("hatch", "cold")),
)  # fmt: skip


def render(results: Results) -> str:
    """The table of medians and samples, the ratios, and every goal met or not."""
    lines = [
        f"{'contender':<9} {'case':<5} {'median s':>8}  {'samples s':<20} {'cpu s':>6} "
        f"{'foreign cpu s':>13}  {'peak RSS MB':>11} {'tree MB':>7}"
    ]
    for name, case in [(n, c) for n in results.contenders() for c in CASES]:
        runs = results.samples.get((name, case))
        if not runs:
            continue
        median = results.median(name, case) or 0.0
        samples = " ".join(f"{m.seconds:.2f}" for m in runs)
        cpu = statistics.median(m.cpu_seconds for m in runs)
        foreign = [m.foreign_cpu_seconds for m in runs if m.foreign_cpu_seconds is not None]
        other = f"{max(foreign):.1f}" if foreign else "n/a"
        process = max(m.peak_process_rss for m in runs) / MB
        trees = [m.peak_tree_rss for m in runs if m.peak_tree_rss is not None]
        tree = f"{max(trees) / MB:.0f}" if trees else "n/a"
        lines.append(
            f"{name:<9} {case:<5} {median:>8.2f}  {samples:<20} {cpu:>6.1f} {other:>13}  "
            f"{process:>11.0f} {tree:>7}"
        )
    lines += [
        "  cpu s: median user+system time of the run's processes; foreign cpu s: the most CPU",
        "  time other people's processes used during one run (load that makes times noisy);",
        "  peak RSS: largest single process; tree: sampled sum over the process tree.",
    ]
    runs = [m for measurements in results.samples.values() for m in measurements]
    noisy = [m for m in runs if is_noisy(m)]
    if results.repeated:
        lines.append(f"  {results.repeated} noisy runs were discarded and done again.")
    if noisy:
        lines.append(
            f"  WARNING: {len(noisy)} of {len(runs)} runs shared the machine with other load "
            f"(foreign cpu > {NOISY_SHARE:.0%} of their wall time): their times are noisy."
        )
    lines += ["", "ratios of medians:"]
    for label, numerator, denominator in RATIOS:
        value = results.ratio(numerator, denominator)
        if value is not None:
            lines.append(f"  {label:<18} {value:6.2f}x")
    if "baseline" in results.contenders():
        lines += ["", "median of each round's own ratio (drift during the run cancels out):"]
        for case in CASES:
            paired = results.paired_ratio(("engine", case), ("baseline", case))
            if paired is not None:
                lines.append(f"  {'engine/baseline ' + case:<22} {paired:6.2f}x")
    lines += ["", "goals (issue 6):", *_goal_lines(GOALS, results)]
    if "baseline" in results.contenders():
        lines += ["", "against the baseline (issue 18):", *_goal_lines(BASELINE_GOALS, results)]
    for name, message in results.failures.items():
        lines.append(f"  {name} FAILED: {message}")
    return "\n".join(lines)


def _goal_lines(goals: tuple[Goal, ...], results: Results) -> list[str]:
    lines = []
    for goal in goals:
        value, met = goal.check(results)
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[met]
        figure = "" if value is None else f"  ({value:.2f}{goal.unit})"
        lines.append(f"  [{verdict:^12}] {goal.text}{figure}")
    return lines


def to_json(results: Results, context: Mapping[str, Any]) -> dict[str, Any]:
    """Everything in :func:`render`, plus every sample, for later comparison."""
    return {
        **context,
        "samples": [
            {"contender": name, "case": case, **asdict(m)}
            for (name, case), runs in results.samples.items()
            for m in runs
        ],
        "medians": {f"{name} {case}": results.median(name, case) for name, case in results.samples},
        "ratios": {label: results.ratio(n, d) for label, n, d in RATIOS},
        "paired ratios": {
            f"engine/baseline {case}": results.paired_ratio(("engine", case), ("baseline", case))
            for case in CASES
        },
        "goals": [_goal_json(goal, results) for goal in (*GOALS, *BASELINE_GOALS)],
        "failures": results.failures,
        "repeated noisy runs": results.repeated,
    }


def _goal_json(goal: Goal, results: Results) -> dict[str, Any]:
    value, met = goal.check(results)
    return {"goal": goal.text, "value": value, "bound": goal.bound, "met": met}
