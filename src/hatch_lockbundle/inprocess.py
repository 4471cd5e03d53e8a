"""Build a user's own hatchling project in this process, without disturbing its other threads."""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, cast

from packaging.requirements import Requirement


class InProcessBuildError(Exception):
    """The backend or a build hook failed; ``output`` is what the build wrote, and the error."""

    def __init__(self, output: str) -> None:
        super().__init__(output)
        self.output = output


def build_here(source: Path, out_dir: Path) -> tuple[Path, str] | None:
    """Build the project at ``source`` with the hatchling of this process, as its
    ``build_wheel`` hook would in an environment holding the same requirements: from inside the
    tree, its output captured. Returns the wheel in ``out_dir`` and what the build wrote; None
    when hatchling is missing or the wheel target needs more than this environment has
    (hatchling's ``get_requires_for_build_wheel``: build hook dependencies).

    This is how ``hatch build`` builds a project (in one environment with its build
    requirements), and it saves an environment and two interpreters per build, which the
    benchmark's cold build shows. Callers keep it to the user's own trees, whose build hooks
    ``hatch build`` would run the same way.

    Process-wide state, and why the other threads of a build do not notice:

    - what the build writes to ``sys.stdout`` and ``sys.stderr`` is kept from this thread only
      (:func:`_output_of_this_thread`); other threads' lines go where they went before;
    - the working directory is changed only for a tree other than the one the build runs in
      (``hatch build`` runs in the project itself), and back at once. Meanwhile no other thread
      resolves a relative path: fetch builds in the main thread once its download threads have
      ended, and what runs beside it (the cache's install workers, the status line) is handed
      resolved paths only (the cache's root, the wheels in it) and draws on the terminal stream
      it was given.

    :raises InProcessBuildError: the build failed
    """
    try:
        from hatchling.builders.wheel import WheelBuilder as HatchlingWheels
    except ImportError:
        return None
    out = os.path.abspath(out_dir)
    os.makedirs(out, exist_ok=True)
    output = io.StringIO()
    previous = os.getcwd()
    # as PEP 517 runs hooks, from inside the tree: build hooks may rely on it
    moved = not os.path.samefile(source, previous)
    try:
        with _output_of_this_thread(output):
            if moved:
                os.chdir(source)
            try:
                builder = HatchlingWheels(os.getcwd())
                if not satisfied(builder.config.dependencies):
                    return None
                built = next(builder.build(directory=out, versions=["standard"]))
            finally:
                if moved:
                    os.chdir(previous)
    except (Exception, SystemExit) as error:  # whatever the backend or a build hook raises
        output.write(f"\n{type(error).__name__}: {error}")
        raise InProcessBuildError(output.getvalue()) from None
    return Path(built), output.getvalue()


def satisfied(requirements: Sequence[str]) -> bool:
    """Whether the running environment holds every one of ``requirements`` (markers evaluated
    here), as ``python -m build --no-isolation`` checks it. A requirement with extras or a URL
    counts as missing."""
    # imported when a build asks: importlib.metadata is a visible part of a no-op build's
    # imports (see `_layout_type` in bundle.py)
    from importlib import metadata

    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if requirement.extras or requirement.url:
            return False
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            return False
        if not requirement.specifier.contains(version, prereleases=True):
            return False
    return True


@contextmanager
def _output_of_this_thread(kept: io.StringIO) -> Iterator[None]:
    """Keep in ``kept`` what this thread writes to ``sys.stdout`` and ``sys.stderr`` during the
    block; what other threads write meanwhile goes where it went before.

    (``contextlib.redirect_stdout`` would take every thread's output.) A thread that a build
    hook starts is another thread: its lines are not kept.
    """
    thread = threading.get_ident()
    previous = sys.stdout, sys.stderr
    # None where there is no console (pythonw): print() then drops what is written
    out, err = (stream if stream is not None else io.StringIO() for stream in previous)
    sys.stdout = cast(TextIO, _ThreadRouted(thread, kept, out))
    sys.stderr = cast(TextIO, _ThreadRouted(thread, kept, err))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = previous


class _ThreadRouted:
    """A stand-in for a standard stream: one thread's writes go to ``kept``, others' to ``other``
    (every attribute too: ``fileno``, ``isatty``, ``encoding`` are those of the stream used)."""

    def __init__(self, thread: int, kept: TextIO, other: TextIO) -> None:
        self._thread = thread
        self._kept = kept
        self._other = other

    def _stream(self) -> TextIO:
        return self._kept if threading.get_ident() == self._thread else self._other

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream(), name)
