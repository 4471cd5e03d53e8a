"""The wheelhouse's packages and their dependency edges over all its targets, as its files say."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName

from ..fetched import FetchedWheel
from ..select import Plan


@dataclass(frozen=True)
class HouseWheel:
    """One wheel of the wheelhouse, or (``binary-only``) one left on its index."""

    fetched: FetchedWheel
    filename: str
    sha256: str
    size: int

    @property
    def built_here(self) -> bool:
        return self.fetched.origin.built_here

    @property
    def downloadable(self) -> bool:
        """The server can fetch it from its index: a file the lock locates by URL, not one
        built here or one the lock names by local path (its ``index`` notwithstanding)."""
        return not self.built_here and self.fetched.planned.artifact.url is not None

    @property
    def url(self) -> str:
        url = self.fetched.planned.artifact.url
        assert url is not None
        return url


@dataclass
class HousePackage:
    """A package of the wheelhouse: its wheels for every target that needs it."""

    name: NormalizedName
    version: str
    wheels: list[HouseWheel]
    #: indices of the plans (targets) that install it
    plans: set[int]
    #: False when its wheels stay on their index (``binary-only``)
    local: bool = True

    @property
    def first(self) -> FetchedWheel:
        return self.wheels[0].fetched

    @property
    def index(self) -> str:
        return self.first.planned.package.source.location

    @property
    def is_project(self) -> bool:
        """Source trees (project, members), git, path and url sources: a ``path`` wheel source."""
        planned = self.first.planned
        return planned.artifact.kind in ("tree", "git") or planned.package.source.kind in (
            "path",
            "url",
        )


class HouseGraph:
    """The packages and edges of all plans, each with the platforms it applies to."""

    def __init__(self, plans: Sequence[Plan], house: dict[NormalizedName, HousePackage]) -> None:
        self.plans = plans
        self.house = house
        self.markers = [plan.target.marker for plan in plans]
        self.all_markers = sorted(set(self.markers))
        self.tops: dict[NormalizedName, set[int]] = {}
        self.edges: dict[NormalizedName, dict[NormalizedName, set[int]]] = {}
        for index, plan in enumerate(plans):
            for name in top_level(plan):
                self.tops.setdefault(name, set()).add(index)
            for planned in plan.packages:
                for child in expand(plan, plan.edges.get(planned.name, ())):
                    self.edges.setdefault(planned.name, {}).setdefault(child, set()).add(index)

    def marker(self, plans: set[int]) -> str | None:
        """The marker for ``plans``: None when they cover every platform of the wheelhouse."""
        markers = sorted({self.markers[index] for index in plans})
        if markers == self.all_markers:
            return None
        return " or ".join(f"({marker})" if len(markers) > 1 else marker for marker in markers)

    def dependencies(self, name: NormalizedName) -> list[tuple[NormalizedName, str | None]]:
        return [
            (child, self.marker(plans)) for child, plans in sorted(self.edges.get(name, {}).items())
        ]


def top_level(plan: Plan) -> list[NormalizedName]:
    """What the wheelhouse project depends on: the root, or a virtual root's dependencies."""
    if plan.root.source.kind != "virtual":
        return [plan.root.name]
    return expand(plan, plan.edges.get(plan.root.name, ()))


def expand(plan: Plan, names: Iterable[NormalizedName]) -> list[NormalizedName]:
    """``names`` with virtual packages replaced by what they depend on (transitively)."""
    installed = {planned.name for planned in plan.packages}
    result: dict[NormalizedName, None] = {}
    pending = list(names)
    seen: set[NormalizedName] = set()
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name in installed:
            result[name] = None
        else:
            pending.extend(plan.edges.get(name, ()))
    return sorted(result)
