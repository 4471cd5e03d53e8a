"""The Python versions a ``requires-python`` admits, as intervals compared the way uv does."""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

# A bound of a Python version range: (release without trailing zeros, inclusive), None when
# unbounded. Releases without trailing zeros compare as uv compares them (3.10 == 3.10.0).
Bound = tuple[tuple[int, ...], bool] | None
Interval = tuple[Bound, Bound]


def python_intervals(text: str) -> list[Interval] | None:
    """The Python versions a ``requires-python`` admits, with uv's release-only semantics; None
    when it cannot be read."""
    try:
        specifiers = SpecifierSet(text)
    except InvalidSpecifier:
        return None
    intervals: list[Interval] = [(None, None)]
    for specifier in specifiers:
        wildcard = specifier.version.endswith(".*")
        try:
            version = Version(specifier.version.removesuffix(".*"))
        except InvalidVersion:
            return None
        release = version.release
        point = _trim(release)
        operator = specifier.operator
        if operator in ("==", "!=") and wildcard:
            upper = _trim((*release[:-1], release[-1] + 1))
            inside: list[Interval] = [((point, True), (upper, False))]
            outside: list[Interval] = [(None, (point, False)), ((upper, True), None)]
            allowed = inside if operator == "==" else outside
        elif operator in ("==", "==="):
            allowed = [((point, True), (point, True))]
        elif operator == "!=":
            allowed = [(None, (point, False)), ((point, False), None)]
        elif operator == "<":
            allowed = [(None, (point, False))]
        elif operator == "<=":
            allowed = [(None, (point, True))]
        elif operator == ">":
            allowed = [((point, False), None)]
        elif operator == ">=":
            allowed = [((point, True), None)]
        elif operator == "~=" and len(release) >= 2:
            allowed = [((point, True), (_trim((*release[:-2], release[-2] + 1)), False))]
        else:
            return None
        intervals = intersect(intervals, allowed)
    return intervals


def _trim(release: tuple[int, ...]) -> tuple[int, ...]:
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    return release


def intersect(left: list[Interval], right: list[Interval]) -> list[Interval]:
    found = []
    for low_a, high_a in left:
        for low_b, high_b in right:
            low = _higher_lower(low_a, low_b)
            high = _lower_upper(high_a, high_b)
            if _nonempty(low, high):
                found.append((low, high))
    return found


def _higher_lower(a: Bound, b: Bound) -> Bound:
    if a is None or b is None:
        return b if a is None else a
    if a[0] != b[0]:
        return a if a[0] > b[0] else b
    return (a[0], a[1] and b[1])


def _lower_upper(a: Bound, b: Bound) -> Bound:
    if a is None or b is None:
        return b if a is None else a
    if a[0] != b[0]:
        return a if a[0] < b[0] else b
    return (a[0], a[1] and b[1])


def _nonempty(low: Bound, high: Bound) -> bool:
    if low is None or high is None:
        return True
    return low[0] < high[0] or (low[0] == high[0] and low[1] and high[1])


def bounding(intervals: list[Interval]) -> Interval:
    """The lowest lower bound and the highest upper bound."""
    lows = [low for low, _ in intervals]
    highs = [high for _, high in intervals]
    low: Bound = None
    if None not in lows:
        low = min(lows, key=lambda bound: (bound[0], not bound[1]) if bound else ((), False))
    high: Bound = None
    if None not in highs:
        high = max(highs, key=lambda bound: (bound[0], bound[1]) if bound else ((), False))
    return low, high


def render(interval: Interval) -> str:
    low, high = interval
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low[1] else '>'}{'.'.join(map(str, low[0]))}")
    if high is not None:
        parts.append(f"{'<=' if high[1] else '<'}{'.'.join(map(str, high[0]))}")
    return ", ".join(parts) or "any version"
