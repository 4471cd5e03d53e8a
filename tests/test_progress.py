"""Progress: a live status line on a terminal, plain lines in a log, and -q / -v."""

from __future__ import annotations

import io
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_lockbundle.progress import CLEAR, TICK, Reporter, printable
from support.artifacts import IN_TREE_BACKEND, Entry, sdist_members, write_sdist, write_wheel
from support.cli import LOCKBUNDLE, lockbundle
from support.consumer import Consumer
from support.environ import Sandbox
from support.hatch import Hatch
from support.index import IndexServer
from support.projects import MakeProject
from support.terminal import run_on_terminal

DOWNLOAD_FRAME = re.compile(
    r"Downloading \d+/\d+ files, [\d.]+ (B|KiB|MiB)( of [\d.]+ (B|KiB|MiB))?, "
    r"[\d.]+ (B|KiB|MiB)/s \.\.\. "
)


class Screen:
    """A terminal that records what is written to it, lines and status line alike."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def line(self, level: int, message: str) -> None:
        self.stream.write(message + "\n")

    @property
    def text(self) -> str:
        return self.stream.getvalue()


class Stopwatch:
    """The time a block takes, to check a duration the reporter printed for a phase inside it
    (the phase's own time, which no host makes exactly 0.0 s or any other figure)."""

    def __enter__(self) -> Stopwatch:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.took = time.monotonic() - self.started

    def assert_reported(self, pattern: str, text: str) -> None:
        """``text`` is ``pattern`` with ``{}`` a duration, shown with one decimal, that is at
        most this block's (plus what rounding to a tenth adds)."""
        match = re.fullmatch(pattern.format(r"(\d+\.\d)"), text)
        assert match, f"{text!r} is not {pattern!r}"
        assert float(match[1]) <= self.took + 0.05, (text, self.took)


def test_a_terminal_shows_downloads_with_files_bytes_and_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    screen = Screen()
    reporter = Reporter(screen.line, terminal=screen.stream)

    with reporter.transfers(2, 4096) as transfers:
        transfers.begin("alpha-1.0-py3-none-any.whl")
        transfers.received_bytes(2048)
        transfers.finished("alpha-1.0-py3-none-any.whl")
        time.sleep(TICK * 3)  # the ticker redraws

    frames = screen.text.split(CLEAR)
    assert any(
        re.fullmatch(
            r"Downloading 1/2 files, 2\.0 KiB of 4\.0 KiB, [\d.]+ (B|KiB)/s \.\.\. "
            r"alpha-1\.0-py3-none-any\.whl",
            frame,
        )
        for frame in frames
    ), frames
    assert re.search(
        r"Downloaded 1 file, 2\.0 KiB in [\d.]+ s \([\d.]+ (B|KiB)/s\)\n$", screen.text
    )


def test_the_status_line_is_cut_to_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    screen = Screen()
    reporter = Reporter(screen.line, terminal=screen.stream)

    with reporter.task("Building a-package-with-a-very-long-name==1.0 from sdist", "Built"):
        pass

    (frame,) = [f for f in screen.text.split(CLEAR) if f.startswith("Building")]
    assert frame == "Building a-package-with-a-very-long-nam"  # 39: the last column stays free


def test_a_line_erases_the_status_line_and_the_status_comes_back_under_it() -> None:
    screen = Screen()
    reporter = Reporter(screen.line, terminal=screen.stream)

    with (
        Stopwatch() as stopwatch,
        reporter.counting("Installing wheels into the cache", "Installed", 3) as installed,
    ):
        installed.advance()
        reporter.info("a note")

    assert f"{CLEAR}a note\n{CLEAR}Installing wheels into the cache 1/3 ... " in screen.text
    *_, last = screen.text.split(CLEAR)
    stopwatch.assert_reported(r"Installed in {} s\n", last)


def test_a_log_gets_plain_lines_saying_what_starts_and_how_it_went() -> None:
    lines: list[str] = []
    reporter = Reporter(lambda level, message: lines.append(message))

    with (
        Stopwatch() as building,
        reporter.task("Building alpha==1.0 from alpha-1.0.tar.gz", "Built alpha==1.0"),
    ):
        pass
    with (
        Stopwatch() as installing,
        reporter.counting("Installing wheels into the cache", "Installed 2 wheels", 2) as step,
    ):
        step.advance()
        step.advance()

    assert len(lines) == 4, lines
    assert lines[0] == "Building alpha==1.0 from alpha-1.0.tar.gz"
    building.assert_reported(r"Built alpha==1\.0 in {} s", lines[1])
    assert lines[2] == "Installing wheels into the cache (2)"
    installing.assert_reported(r"Installed 2 wheels in {} s", lines[3])


def test_quiet_keeps_warnings_and_draws_no_status() -> None:
    screen = Screen()
    reporter = Reporter(screen.line, verbosity=-1, terminal=screen.stream)

    with reporter.task("Building alpha", "Built alpha"):
        reporter.info("information")
        reporter.warning("a warning")

    assert screen.text == "a warning\n"


def test_verbose_adds_details() -> None:
    lines: list[str] = []
    normal = Reporter(lambda level, message: lines.append(message))
    verbose = Reporter(lambda level, message: lines.append(f"-v {message}"), verbosity=1)

    for reporter in (normal, verbose):
        reporter.detail("a detail")
        reporter.info("information")

    assert lines == ["information", "-v a detail", "-v information"]


@pytest.fixture
def app(make_project: MakeProject) -> Path:
    return make_project("app")


@pytest.mark.slow
def test_lockbundle_build_on_a_terminal_shows_live_progress(
    app: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    env = sandbox.environ({"LOCKBUNDLE_CACHE_DIR": str(tmp_path / "cache")})

    run = run_on_terminal([LOCKBUNDLE, "build"], cwd=app, env=env)

    assert run.returncode == 0, run.terminal
    frames = run.frames()
    assert any(DOWNLOAD_FRAME.match(frame) for frame in frames), frames
    assert any(frame.startswith("Building cext==") for frame in frames), frames
    assert any(frame.startswith("Installing wheels into the cache ") for frame in frames), frames
    lines = run.lines()
    assert any(re.fullmatch(r"Downloaded \d+ files, .* in [\d.]+ s \(.*/s\)", x) for x in lines)
    assert any(re.fullmatch(r"Built cext==\S+ in [\d.]+ s", x) for x in lines), lines
    assert any(re.fullmatch(r"Installed \d+ wheels into the cache in [\d.]+ s", x) for x in lines)
    # a terminal shows each download on the status line, not as a line of its own
    assert not any(line.startswith("Downloading ") for line in lines), lines


@pytest.mark.slow
def test_lockbundle_build_in_a_log_writes_plain_lines(
    app: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    result = lockbundle(sandbox, app, "build", cache=tmp_path / "cache")

    log = result.stderr
    assert "\r" not in log and "\x1b" not in log
    lines = log.splitlines()
    assert any(re.fullmatch(r"Downloading scriptpkg-\S+\.whl( \(.*\))?", x) for x in lines), log
    assert any(re.fullmatch(r"Downloaded \d+ files, .* in [\d.]+ s \(.*/s\)", x) for x in lines)
    assert any(re.fullmatch(r"Building cext==\S+ from cext-\S+\.tar\.gz", x) for x in lines), log
    assert any(re.fullmatch(r"Built cext==\S+ in [\d.]+ s", x) for x in lines), log
    assert any(re.fullmatch(r"Installing wheels into the cache \(\d+\)", x) for x in lines), log


@pytest.mark.slow
def test_quiet_lockbundle_build_writes_only_the_bundle_path(
    app: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    env = sandbox.environ({"LOCKBUNDLE_CACHE_DIR": str(tmp_path / "cache")})

    run = run_on_terminal([LOCKBUNDLE, "build", "-q"], cwd=app, env=env)

    assert run.returncode == 0, run.terminal
    assert run.terminal == ""
    assert run.stdout.strip().endswith("app-0.1.0-target")


@pytest.mark.slow
def test_hatch_build_on_a_terminal_shows_the_same_progress(
    app: Path, hatch: Hatch, tmp_path: Path
) -> None:
    env = hatch.environ(cache_dir=tmp_path / "cache")

    run = run_on_terminal(
        [sys.executable, "-m", "hatch", "build", "-t", "lockbundle"], cwd=app, env=env
    )

    assert run.returncode == 0, run.terminal
    frames = run.frames()
    assert any(DOWNLOAD_FRAME.match(frame) for frame in frames), frames
    assert any(frame.startswith("Installing wheels into the cache ") for frame in frames), frames
    lines = run.lines()
    assert any(re.fullmatch(r"Downloaded \d+ files, .* in [\d.]+ s \(.*/s\)", x) for x in lines)
    assert any(re.fullmatch(r"Installed \d+ wheels into the cache in [\d.]+ s", x) for x in lines)


@pytest.mark.slow
def test_hatch_quiet_build_shows_no_progress(app: Path, hatch: Hatch, tmp_path: Path) -> None:
    env = hatch.environ(cache_dir=tmp_path / "cache")

    run = run_on_terminal(
        [sys.executable, "-m", "hatch", "-q", "build", "-t", "lockbundle"], cwd=app, env=env
    )

    assert run.returncode == 0, run.terminal
    assert "Download" not in run.terminal and "Install" not in run.terminal, run.terminal
    assert run.frames() == []


# -- what third-party code says during a build ---------------------------------------------------

#: a build backend that warns (both ways a backend does) and then builds as the in-tree one does
WARNING_BACKEND = IN_TREE_BACKEND.replace(
    "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n",
    "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n"
    "    import sys, warnings\n"
    "    warnings.warn('backend-warning: License classifiers are deprecated')\n"
    "    print('backend-note: copying files', file=sys.stderr)\n",
)


@pytest.fixture
def noisy_consumer(tmp_path: Path, sandbox: Sandbox) -> Iterator[Path]:
    """A project depending on a wheel that ships bytecode (as numpy's do) and on an sdist whose
    backend warns while it builds, each served by an index of the test's own."""
    directory = tmp_path / "index"
    directory.mkdir()
    write_wheel(
        directory,
        "withpyc",
        "1.0",
        [Entry("withpyc/__init__.py", b""), Entry("withpyc/__pycache__/x.cpython-311.pyc", b"\0")],
    )
    members = sdist_members("warnsdist", "1.0", {"in_tree_backend.py": WARNING_BACKEND})
    write_sdist(directory, "warnsdist", "1.0", members)
    with IndexServer(directory) as index:
        # its own file included: a virtual project without one is warned about, even with -q
        consumer = Consumer.create(
            tmp_path / "project",
            index,
            ["withpyc", "warnsdist"],
            env=sandbox.environ(),
            settings='include = ["main.py"]',
        )
        (consumer.root / "main.py").write_text("import withpyc, warnsdist\n")
        yield consumer.root


@pytest.mark.slow
def test_quiet_build_shows_nothing_from_installing_or_building(
    noisy_consumer: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    result = lockbundle(sandbox, noisy_consumer, "build", "-q", cache=tmp_path / "cache")

    assert result.stderr == ""
    assert result.stdout.strip().endswith("consumer-0.1.0-target")


@pytest.mark.slow
def test_verbose_build_shows_what_a_build_backend_said(
    noisy_consumer: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    result = lockbundle(sandbox, noisy_consumer, "build", "-v", cache=tmp_path / "cache")

    assert "backend-warning: License classifiers are deprecated" in result.stderr
    assert "backend-note: copying files" in result.stderr


@pytest.mark.slow
def test_a_normal_build_keeps_what_a_build_backend_said_to_itself(
    noisy_consumer: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    result = lockbundle(sandbox, noisy_consumer, "build", cache=tmp_path / "cache")

    assert "backend-note" not in result.stderr
    assert "Built warnsdist==1.0" in result.stderr


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("name\x1b[2Jcleared", "name\\x1b[2Jcleared"),  # a terminal escape sequence
        ("a\x00b\x7fc\x9bd", "a\\x00b\\x7fc\\x9bd"),
        ("right\u202eleft", "right\\u202eleft"),  # a bidirectional override
        ("two\nlines\tand a tab", "two\nlines\tand a tab"),
        ("café ✓", "café ✓"),
    ],
    ids=["escape", "controls", "bidi", "newline-tab", "unicode"],
)
def test_control_characters_are_shown_escaped(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_an_error_naming_a_hostile_path_is_printed_escaped(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    result = lockbundle(
        sandbox, tmp_path, "verify", str(tmp_path / "bundle\x1b[2J"), cache=tmp_path, check=False
    )

    assert result.returncode == 1
    assert "bundle\\x1b[2J: no such bundle" in result.stderr
    assert "\x1b" not in result.stderr
