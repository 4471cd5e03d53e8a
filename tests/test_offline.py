"""Offline builds (``--offline``, or ``LOCKBUNDLE_OFFLINE=1`` for ``hatch build``): no connection
of any kind, the cache or a clear error naming what is missing from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hatch_lockbundle.cache import Cache
from support.cli import lockbundle
from support.consumer import Consumer
from support.environ import Sandbox, describe
from support.hatch import Hatch
from support.index import IndexServer

pytestmark = pytest.mark.slow

# a wheel, and an sdist whose build environment needs hatchling from the index
DEPENDENCIES = ["scriptpkg", "puresdist"]


@pytest.fixture
def consumer(tmp_path: Path, private_index: IndexServer, sandbox: Sandbox) -> Consumer:
    return Consumer.create(tmp_path / "project", private_index, DEPENDENCIES, env=sandbox.environ())


def build(
    sandbox: Sandbox, consumer: Consumer, cache: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    result = lockbundle(
        sandbox, consumer.root, "build", *args, cache=cache, check=False, extra_env=env
    )
    return result.returncode, result.stdout + result.stderr


def test_an_offline_build_from_a_warm_cache_asks_the_index_nothing(
    consumer: Consumer, private_index: IndexServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    code, output = build(sandbox, consumer, cache)
    assert code == 0, output
    shutil.rmtree(consumer.root / "dist")
    asked = len(private_index.requests)

    code, output = build(sandbox, consumer, cache, "--offline")

    assert code == 0, output
    assert len(private_index.requests) == asked


@pytest.mark.parametrize("how", ["--offline", "LOCKBUNDLE_OFFLINE=1"])
def test_offline_with_a_cold_cache_names_the_missing_file_and_asks_nothing(
    how: str, consumer: Consumer, private_index: IndexServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    asked = len(private_index.requests)
    args, env = (["--offline"], {}) if how == "--offline" else ([], {"LOCKBUNDLE_OFFLINE": "1"})

    code, output = build(sandbox, consumer, tmp_path / "cache", *args, env=env)

    assert code == 1
    assert "is not in the cache, and downloads are off (--offline, LOCKBUNDLE_OFFLINE)" in output
    assert "Traceback" not in output
    assert len(private_index.requests) == asked
    assert not (consumer.root / "dist").exists() or not any((consumer.root / "dist").iterdir())


def test_offline_a_build_environment_not_in_any_cache_is_an_error_and_asks_nothing(
    consumer: Consumer, private_index: IndexServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    code, output = build(sandbox, consumer, cache)
    assert code == 0, output
    # the downloads stay; the built wheel and its build environment go, and uv's cache is empty
    shutil.rmtree(Cache(cache).entries / "built")
    shutil.rmtree(Cache(cache).entries / "build-envs")
    shutil.rmtree(consumer.root / "dist")
    asked = len(private_index.requests)

    code, output = build(
        sandbox, consumer, cache, "--offline", env={"UV_CACHE_DIR": str(tmp_path / "empty-uv")}
    )

    assert code == 1, output
    assert "cannot create the build environment for puresdist==1.0" in output
    assert "Downloads are off (offline): the build requirements must be in the cache" in output
    assert len(private_index.requests) == asked


def test_hatch_build_takes_offline_from_the_environment(
    consumer: Consumer, private_index: IndexServer, hatch: Hatch, tmp_path: Path
) -> None:
    pyproject = consumer.root / "pyproject.toml"
    pyproject.write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        + pyproject.read_text()
        + '\n[tool.hatch.build.targets.lockbundle]\ndependencies = ["hatch-lockbundle"]\n'
        + "[tool.hatch.build.targets.wheel]\nbypass-selection = true\n"
    )
    asked = len(private_index.requests)

    result = hatch.build(
        consumer.root, cache_dir=tmp_path / "cache", extra_env={"LOCKBUNDLE_OFFLINE": "1"}
    )

    assert result.returncode != 0, describe(result)
    assert (
        "is not in the cache, and downloads are off (--offline, LOCKBUNDLE_OFFLINE)"
        in result.stderr
    )
    assert len(private_index.requests) == asked


def test_an_unclear_offline_setting_is_refused(
    consumer: Consumer, sandbox: Sandbox, tmp_path: Path
) -> None:
    code, output = build(sandbox, consumer, tmp_path / "cache", env={"LOCKBUNDLE_OFFLINE": "maybe"})

    assert code == 1
    assert (
        "LOCKBUNDLE_OFFLINE='maybe' is neither on (1, true, yes) nor off (0, false, no)" in output
    )
