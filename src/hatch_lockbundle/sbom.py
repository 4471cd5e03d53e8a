"""A CycloneDX (JSON, spec 1.5) software bill of materials of a bundle's distributions."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
import zipfile
from collections.abc import Sequence
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from packaging.utils import parse_wheel_filename

from . import __version__
from .cache import replace_file
from .digest import hash_file
from .errors import LockbundleError
from .fetched import FetchedPlan, FetchedWheel
from .zipmembers import member_pieces

SPEC_VERSION = "1.5"
SUFFIX = ".cdx.json"


def write_sbom(fetched: Sequence[FetchedPlan], path: Path, epoch: int) -> Path:
    """Describe every distribution of the bundle in ``path`` (deterministic for the same inputs).

    :param fetched: each plan (target) of the bundle with its wheels
    :param epoch: the timestamp to record (the archive's, so that builds stay reproducible)
    """
    root = fetched[0].plan.root
    root_version = next(
        (_version(wheel) for wheel in fetched[0].wheels if wheel.planned.name == root.name),
        root.version,
    )
    components: dict[str, dict[str, Any]] = {}
    dependencies: dict[str, set[str]] = {}
    for each in fetched:
        refs = {wheel.planned.name: _purl(wheel) for wheel in each.wheels}
        for wheel in each.wheels:
            ref = refs[wheel.planned.name]
            components.setdefault(ref, _component(wheel, ref))
            children = dependencies.setdefault(ref, set())
            children.update(
                refs[name] for name in each.plan.edges.get(wheel.planned.name, ()) if name in refs
            )
    root_ref = f"pkg:pypi/{root.name}@{root_version}" if root_version else f"pkg:pypi/{root.name}"
    document: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
            "tools": {
                "components": [
                    {"type": "application", "name": "hatch-lockbundle", "version": __version__}
                ]
            },
            "component": {
                "type": "application",
                "bom-ref": f"{root_ref}#bundle" if root_ref in components else root_ref,
                "name": str(root.name),
                **({"version": root_version} if root_version else {}),
            },
        },
        "components": [components[ref] for ref in sorted(components)],
        "dependencies": [
            {"ref": ref, "dependsOn": sorted(children)}
            for ref, children in sorted(dependencies.items())
        ],
    }
    content = json.dumps(document, sort_keys=True)
    serial = uuid.uuid5(uuid.NAMESPACE_URL, hashlib.sha256(content.encode()).hexdigest())
    document["serialNumber"] = f"urn:uuid:{serial}"
    # through a new, uniquely named temporary: a link planted beside the bundle is not followed
    replace_file(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())
    return path


def _version(wheel: FetchedWheel) -> str:
    """The locked version, or (a lock that gives none, as for a project locked as a directory)
    the version of the wheel built from it."""
    return wheel.planned.version or str(parse_wheel_filename(wheel.path.name)[1])


def _purl(wheel: FetchedWheel) -> str:
    return f"pkg:pypi/{wheel.planned.name}@{_version(wheel)}"


def _component(wheel: FetchedWheel, ref: str) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": ref,
        "name": str(wheel.planned.name),
        "purl": ref,
        "hashes": [{"alg": "SHA-256", "content": wheel.sha256 or hash_file(wheel.path, "sha256")}],
    }
    component["version"] = _version(wheel)
    licenses = _licenses(wheel.path)
    if licenses:
        component["licenses"] = licenses
    return component


def _licenses(wheel: Path) -> list[dict[str, Any]]:
    """The licence from the wheel's METADATA: ``License-Expression``, else a short ``License``."""
    try:
        with zipfile.ZipFile(wheel) as archive, wheel.open("rb", buffering=0) as raw:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            pieces = member_pieces(raw.fileno(), archive.getinfo(name), None, LockbundleError)
            metadata = HeaderParser().parsestr(b"".join(pieces).decode("utf-8", "replace"))
    except (zipfile.BadZipFile, StopIteration, OSError, LockbundleError):
        return []
    expression = metadata.get("License-Expression")
    if expression:
        return [{"expression": expression.strip()}]
    text = (metadata.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 100:
        return [{"license": {"name": text}}]
    classifiers = [
        value.split("::")[-1].strip()
        for value in metadata.get_all("Classifier") or []
        if value.startswith("License ::") and value.count("::") >= 2
    ]
    return [{"license": {"name": name}} for name in classifiers[:1]]
