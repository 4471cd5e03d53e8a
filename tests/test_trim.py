"""Exclusions on an installed bundle: files and RECORD rows go together; entry points and what\nthe remaining code imports survive; an import trimming breaks fails the build."""

from __future__ import annotations

import csv
import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.layouts.target import write_target
from hatch_lockbundle.progress import DETAIL, INFO, Reporter
from hatch_lockbundle.report import measure, over_budget
from hatch_lockbundle.trim import Exclusion, exclude_files, trim_bundle, trim_patterns
from support.artifacts import write_wheel
from support.consumer import Consumer
from support.environ import Sandbox
from support.fresh import FreshPython
from support.index import IndexServer
from support.projects import uv_lock
from support.real_wheels import APPLICATIONS, download_real_wheels
from test_layout_target import fetched

REPO_ROOT = Path(__file__).resolve().parent.parent


def bundle(tmp_path: Path, cache: Cache | None = None) -> Path:
    files = {
        "alpha/__init__.py": "",
        "alpha/core.py": "X = 1\n",
        "alpha/core.pyi": "X: int\n",
        "alpha/py.typed": "",
        "alpha/tests/__init__.py": "",
        "alpha/tests/test_core.py": "def test(): pass\n",
        "alpha/tests/cli.py": "def main(): return 0\n",
        "alpha/docs/guide.txt": "words\n" * 100,
        "tests/__init__.py": "",  # a top-level package called tests is somebody's code
        "alpha-1.0.dist-info/entry_points.txt": "[console_scripts]\nalpha-selftest = alpha.tests.cli:main\n",
    }
    wheel = write_wheel(tmp_path, "alpha", "1.0", files)
    root = tmp_path / "bundle"
    write_target([fetched(wheel)], root, compile_bytecode=False, cache=cache)
    return root


def record_paths(root: Path) -> set[str]:
    with (root / "alpha-1.0.dist-info" / "RECORD").open() as record:
        return {row[0] for row in csv.reader(record)}


def test_trim_removes_tests_docs_and_stubs_from_disk_and_record(tmp_path: Path) -> None:
    root = bundle(tmp_path)

    result = exclude_files(root, trim_patterns(False), protect_entry_points=True)

    gone = ["alpha/core.pyi", "alpha/py.typed", "alpha/tests/test_core.py", "alpha/docs/guide.txt"]
    for path in gone:
        assert not (root / path).exists()
        assert path not in record_paths(root)
    assert not (root / "alpha" / "docs").exists()  # emptied directories go too
    assert result.files == 4
    assert result.size > 600


def test_trim_keeps_entry_point_modules_and_top_level_packages(tmp_path: Path) -> None:
    root = bundle(tmp_path)

    exclude_files(root, trim_patterns(False), protect_entry_points=True)

    for path in [
        "alpha/tests/cli.py",
        "alpha/tests/__init__.py",
        "alpha/__init__.py",
        "tests/__init__.py",
    ]:
        assert (root / path).exists()
        assert path in record_paths(root)


def test_every_remaining_record_row_exists(tmp_path: Path) -> None:
    root = bundle(tmp_path)

    exclude_files(root, ["alpha/", "!alpha/__init__.py"], protect_entry_points=False)

    assert all((root / path).exists() for path in record_paths(root))
    assert (root / "alpha" / "__init__.py").exists()
    assert not (root / "alpha" / "core.py").exists()
    assert (root / "alpha-1.0.dist-info" / "METADATA").exists()


def test_trimming_a_bundle_linked_to_the_cache_leaves_the_cache_alone(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    root = bundle(tmp_path, cache)
    (cached_record,) = cache.entries.glob("installed/*/*/tree/alpha-1.0.dist-info/RECORD")
    assert cached_record.samefile(root / "alpha-1.0.dist-info" / "RECORD")
    before = cached_record.read_bytes()

    exclude_files(root, trim_patterns(False), protect_entry_points=True)

    assert "alpha/core.pyi" not in record_paths(root)
    assert cached_record.read_bytes() == before
    assert (cached_record.parents[1] / "alpha" / "core.pyi").exists()


def test_the_report_lists_sizes_and_savings(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    excluded = exclude_files(root, ["*.txt"], protect_entry_points=False)

    report = measure(root, excluded)
    text = report.render()

    assert report.size == sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert f"in {report.files} files" in text
    assert "Exclusions removed 1 files, 600 B" in text
    assert "alpha-1.0" in text


def test_a_budget_is_exceeded_only_above_it() -> None:
    assert over_budget("max-size", 100, 100) is None
    assert over_budget("max-size", 100, None) is None
    message = over_budget("max-size", 2048, 1000)
    assert message is not None
    assert (
        "over its `max-size` budget: 2.0 KiB (2048 bytes) is more than 1000 B (1000 bytes)"
        in message
    )


# -- what the remaining code imports stays ----------------------------------------------------------


def trimmed(tmp_path: Path, files: dict[str, str], *, compile_bytecode: bool = False) -> Path:
    """A bundle of the wheel ``alpha`` 1.0 holding ``files``, after ``trim = true``."""
    wheel = write_wheel(tmp_path, "alpha", "1.0", files)
    root = tmp_path / "bundle"
    write_target([fetched(wheel)], root, compile_bytecode=compile_bytecode)
    exclude_files(
        root, trim_patterns(compile_bytecode), protect_entry_points=True, keep_imported=True
    )
    return root


def test_a_tests_module_another_package_imports_is_kept(tmp_path: Path) -> None:
    # Django REST framework: rest_framework/test.py imports django.test
    root = trimmed(
        tmp_path,
        {
            "alpha/__init__.py": "",
            "alpha/test/__init__.py": "",
            "alpha/test/client.py": "CLIENT = 1\n",
            "alpha/test/test_client.py": "def test(): pass\n",
            "beta/__init__.py": "",
            "beta/testing.py": "from alpha.test.client import CLIENT\n",
        },
    )

    assert (root / "alpha/test/client.py").is_file()
    assert (root / "alpha/test/__init__.py").is_file()
    assert not (root / "alpha/test/test_client.py").exists()
    assert "alpha/test/client.py" in record_paths(root)


def test_a_relatively_imported_submodule_is_kept_with_the_data_beside_it(tmp_path: Path) -> None:
    # ibis: ibis/__init__.py does `from ibis import examples`, which reads metadata.json
    root = trimmed(
        tmp_path,
        {
            "alpha/__init__.py": "from . import examples\n",
            "alpha/examples/__init__.py": "",
            "alpha/examples/metadata.json": "{}",
            "alpha/examples/tests/test_examples.py": "def test(): pass\n",
        },
    )

    assert (root / "alpha/examples/__init__.py").is_file()
    assert (root / "alpha/examples/metadata.json").is_file()
    assert not (root / "alpha/examples/tests").exists()


def test_modules_are_followed_until_nothing_more_is_reached(tmp_path: Path) -> None:
    # botocore: botocore/waiter.py imports botocore.docs.docstring, which imports .bcdoc
    root = trimmed(
        tmp_path,
        {
            "alpha/__init__.py": "",
            "alpha/waiter.py": "def wait():\n    from alpha.docs.docstring import DOC\n",
            "alpha/docs/__init__.py": "",
            "alpha/docs/docstring.py": "from .bcdoc import style\nDOC = style.X\n",
            "alpha/docs/bcdoc/__init__.py": "",
            "alpha/docs/bcdoc/style.py": "from ..helpers import X\n",
            "alpha/docs/helpers.py": "X = 1\n",
            "alpha/docs/unused.py": "",
        },
    )

    for kept in ["docstring.py", "bcdoc/__init__.py", "bcdoc/style.py", "helpers.py"]:
        assert (root / "alpha/docs" / kept).is_file(), kept
    assert not (root / "alpha/docs/unused.py").exists()


def test_a_module_named_to_import_module_is_kept(tmp_path: Path) -> None:
    root = trimmed(
        tmp_path,
        {
            "alpha/__init__.py": (
                "import importlib\n\n"
                "def formats():\n"
                "    return importlib.import_module('alpha.docs.formats')\n\n"
                "def local():\n"
                "    return importlib.import_module('.examples.local', __name__)\n\n"
                "def bare():\n"
                "    from importlib import import_module\n"
                "    return import_module('alpha.docs.bare')\n"
            ),
            "alpha/docs/bare.py": "",
            "alpha/docs/__init__.py": "",
            "alpha/docs/formats.py": "",
            "alpha/examples/__init__.py": "",
            "alpha/examples/local.py": "",
            "alpha/examples/other.py": "",
        },
    )

    assert (root / "alpha/docs/formats.py").is_file()
    assert (root / "alpha/docs/bare.py").is_file()
    assert (root / "alpha/examples/local.py").is_file()
    assert not (root / "alpha/examples/other.py").exists()


def test_what_nothing_imports_is_still_removed(tmp_path: Path) -> None:
    root = trimmed(
        tmp_path,
        {
            "alpha/__init__.py": '"""Run the tests in alpha/tests or read docs/."""\n',
            "alpha/tests/__init__.py": "",
            "alpha/tests/test_x.py": "import alpha\n",
            "alpha/docs/index.txt": "docs\n",
        },
    )

    assert not (root / "alpha/tests").exists()
    assert not (root / "alpha/docs").exists()


def test_a_kept_module_keeps_its_compiled_bytecode(tmp_path: Path) -> None:
    root = trimmed(
        tmp_path,
        {
            "alpha/__init__.py": "from alpha.test import client\n",
            "alpha/test/__init__.py": "",
            "alpha/test/client.py": "",
            "alpha/test/test_client.py": "",
        },
        compile_bytecode=True,
    )

    pyc = Path(importlib.util.cache_from_source(str(root / "alpha/test/client.py")))
    unused = Path(importlib.util.cache_from_source(str(root / "alpha/test/test_client.py")))
    assert pyc.is_file()
    assert pyc.relative_to(root).as_posix() in record_paths(root)
    assert not unused.exists()


def test_what_was_kept_is_reported_with_the_import_that_keeps_it(tmp_path: Path) -> None:
    wheel = write_wheel(
        tmp_path,
        "alpha",
        "1.0",
        {
            "alpha/__init__.py": "",
            "alpha/test/__init__.py": "",
            "alpha/test/client.py": "",
            "alpha/test/test_client.py": "",
            "alpha/testing.py": "from alpha.test import client\n",
        },
    )
    root = tmp_path / "bundle"
    write_target([fetched(wheel)], root, compile_bytecode=False)
    lines: list[tuple[int, str]] = []

    excluded = trim_bundle(
        root,
        trim_patterns(False),
        trim=True,
        check_imports=False,
        log=Reporter(lambda level, message: lines.append((level, message)), verbosity=1),
    )

    assert (
        INFO,
        "Trim kept alpha/test/ (2 files): alpha/testing.py imports alpha.test",
    ) in lines
    assert (DETAIL, "Removed alpha/test/ (1 files, 0 B)") in lines
    assert "; kept 2 files they matched that the bundle imports" in measure(root, excluded).render()


def test_what_was_kept_is_reported_once_for_each_directory_trimming_would_remove(
    tmp_path: Path,
) -> None:
    files = {
        "alpha/__init__.py": "from alpha.docs import render\n",
        "alpha/docs/__init__.py": "",
        "alpha/docs/render.py": "from .bcdoc import style\n",
        "alpha/docs/bcdoc/__init__.py": "",
        "alpha/docs/bcdoc/style.py": "",
    }
    root = tmp_path / "bundle"
    write_target(
        [fetched(write_wheel(tmp_path, "alpha", "1.0", files))], root, compile_bytecode=False
    )

    excluded = exclude_files(
        root, trim_patterns(False), protect_entry_points=True, keep_imported=True
    )

    assert [kept.describe() for kept in excluded.kept] == [
        "alpha/docs/ (4 files): alpha/__init__.py imports alpha.docs"
    ]


# -- the import check ----------------------------------------------------------------------------


def check_trimmed(tmp_path: Path, files: dict[str, str]) -> Exclusion:
    """Trim a bundle of ``alpha`` holding ``files``, with the import check."""
    wheel = write_wheel(tmp_path, "alpha", "1.0", files)
    root = tmp_path / "bundle"
    write_target([fetched(wheel)], root, compile_bytecode=False)
    return trim_bundle(
        root, trim_patterns(False), trim=True, check_imports=True, log=Reporter.of(print)
    )


def test_an_import_trimming_breaks_is_an_error_naming_the_package_and_what_was_removed(
    tmp_path: Path,
) -> None:
    # a name built at run time: no reading of the code can see it
    files = {
        "alpha/__init__.py": "import importlib\nimportlib.import_module('alpha.' + 'examples')\n",
        "alpha/examples/__init__.py": "",
    }

    with pytest.raises(LockbundleError) as raised:
        check_trimmed(tmp_path, files)

    message = str(raised.value)
    assert (
        "`import alpha` fails with ModuleNotFoundError: No module named 'alpha.examples'" in message
    )
    assert "removed: alpha/examples/" in message
    assert "Set `trim = false`" in message


def test_the_error_names_the_submodule_a_from_import_missed(tmp_path: Path) -> None:
    files = {
        "alpha/__init__.py": "exec('from alpha import examples')\n",  # unseen by a reader
        "alpha/examples/__init__.py": "",
        "alpha/docs/guide.txt": "",
    }

    with pytest.raises(LockbundleError) as raised:
        check_trimmed(tmp_path, files)

    assert "cannot import name 'examples'" in str(raised.value)
    assert "removed: alpha/examples/\n" in str(raised.value)


def test_a_package_that_fails_to_import_untrimmed_too_does_not_fail_the_build(
    tmp_path: Path,
) -> None:
    files = {
        "alpha/__init__.py": "raise RuntimeError('needs settings')\n",
        "alpha/tests/test_alpha.py": "",
    }

    excluded = check_trimmed(tmp_path, files)

    assert excluded.files == 1


def test_packages_that_lose_only_stubs_are_not_imported_by_the_check(tmp_path: Path) -> None:
    imported = tmp_path / "imported"
    files = {
        "alpha/__init__.py": f"open({str(imported)!r}, 'w').close()\n",
        "alpha/core.pyi": "",
        "alpha/py.typed": "",
    }

    excluded = check_trimmed(tmp_path, files)

    assert excluded.files == 2
    assert not imported.exists()


@pytest.fixture
def hidden_import(tmp_path: Path, sandbox: Sandbox) -> Iterator[Consumer]:
    """A project depending on ``alpha``, whose ``__init__`` imports ``alpha.examples`` by a
    name built at run time (trimming cannot see it), on an index of the test's own."""
    directory = tmp_path / "index"
    directory.mkdir()
    write_wheel(
        directory,
        "alpha",
        "1.0",
        {
            "alpha/__init__.py": "import importlib\nimportlib.import_module('alpha.' + 'examples')\n",
            "alpha/examples/__init__.py": "",
        },
    )
    with IndexServer(directory) as index:
        yield Consumer.create(
            tmp_path / "project", index, ["alpha"], env=sandbox.environ(), settings="trim = true"
        )


def test_a_bundle_for_the_running_interpreter_ends_with_the_import_check(
    hidden_import: Consumer, tmp_path: Path
) -> None:
    with pytest.raises(LockbundleError, match=r"`import alpha` fails with ModuleNotFoundError"):
        build_bundle(hidden_import.root, tmp_path / "dist", cache_dir=tmp_path / "cache")

    assert not (tmp_path / "dist" / "consumer-0.1.0-target").exists()


def test_a_bundle_for_another_platform_is_not_import_checked(
    hidden_import: Consumer, tmp_path: Path
) -> None:
    # its packages may not even load here (another platform's native code)
    bundle = build_bundle(
        hidden_import.root,
        tmp_path / "dist",
        cache_dir=tmp_path / "cache",
        overrides={"platforms": ["manylinux_2_17_aarch64"]},
    )

    assert not (bundle / "alpha" / "examples").exists()


# -- on real wheels of the projects trimming once broke ---------------------------------------------


@pytest.fixture(scope="module")
def trimmed_application(tmp_path_factory: pytest.TempPathFactory, sandbox: Sandbox) -> Path:
    """A bundle, with ``trim = true``, of a project depending on Django REST framework, boto3,
    cyclopts and ibis (real wheels from PyPI, served on 127.0.0.1, locked by real uv), built for
    the running interpreter: the import check runs too."""
    wheels = download_real_wheels(REPO_ROOT / ".cache" / "real-wheels")
    directory = tmp_path_factory.mktemp("real-index")
    for wheel in wheels.glob("*.whl"):
        shutil.copy2(wheel, directory)
    project = tmp_path_factory.mktemp("application") / "application"
    project.mkdir()
    dependencies = "".join(f'  "{name}",\n' for name in APPLICATIONS)
    with IndexServer(directory) as index:
        (project / "pyproject.toml").write_text(
            '[project]\nname = "application"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
            f"dependencies = [\n{dependencies}]\n\n"
            "[tool.uv]\nenvironments = [\"sys_platform == 'linux'\"]\n\n"
            f'[[tool.uv.index]]\nurl = "{index.simple_url}"\ndefault = true\n\n'
            "[tool.lockbundle]\ntrim = true\n"
        )
        uv_lock(project, env=sandbox.environ())
        return build_bundle(
            project, project / "dist", cache_dir=tmp_path_factory.mktemp("real-cache")
        )


@pytest.mark.slow
def test_trimmed_django_rest_framework_imports_its_test_tools(
    trimmed_application: Path, fresh_python: FreshPython
) -> None:
    code = (
        "import django\nfrom django.conf import settings\nsettings.configure()\n"
        "django.setup()\nimport rest_framework.test\nprint(rest_framework.test.APIClient)"
    )

    result = fresh_python.run_code(code, trimmed_application)

    assert "APIClient" in result.stdout


@pytest.mark.slow
def test_trimmed_boto3_makes_a_client(trimmed_application: Path, fresh_python: FreshPython) -> None:
    code = "import boto3\nprint(boto3.client('s3', region_name='us-east-1').meta.service_model)"

    result = fresh_python.run_code(code, trimmed_application)

    assert "ServiceModel(s3)" in result.stdout


@pytest.mark.slow
def test_trimmed_ibis_imports_with_its_examples(
    trimmed_application: Path, fresh_python: FreshPython
) -> None:
    result = fresh_python.run_code(
        "import ibis\nprint(ibis.examples.__name__)", trimmed_application
    )

    assert result.stdout.strip() == "ibis.examples"


@pytest.mark.slow
def test_trimmed_cyclopts_writes_documentation(
    trimmed_application: Path, fresh_python: FreshPython
) -> None:
    code = (
        "import cyclopts\napp = cyclopts.App(name='tool', help='Does things.')\n"
        "print(app.generate_docs())"
    )

    result = fresh_python.run_code(code, trimmed_application)

    assert "Does things." in result.stdout


@pytest.mark.slow
def test_trimming_real_wheels_still_removes_what_nothing_imports(
    trimmed_application: Path,
) -> None:
    assert (trimmed_application / "botocore" / "docs" / "docstring.py").is_file()
    assert (trimmed_application / "ibis" / "examples" / "metadata.json").is_file()
    assert not (trimmed_application / "ibis" / "examples" / "tests").exists()
    assert not list(trimmed_application.glob("django/contrib/*/tests"))
    assert not list(trimmed_application.rglob("*.pyi"))
