"""`pip install .` gives a maforge that works from any folder: the wheel carries the
schemas, templates and data the code reads at run time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support import REPO, SAMPLES


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "maforge"
    # Build from a copy so the build leaves no artefacts in the checkout.
    def ignore(folder: str, entries: list[str]) -> set[str]:
        # `build` only at the top: templates/build/ is part of maforge.
        skipped = {".git", "__pycache__", ".hypothesis", ".maforge"} | {e for e in entries if e.endswith(".egg-info")}
        return (skipped | ({"build", "dist", "out"} if Path(folder) == REPO else set())) & set(entries)

    shutil.copytree(REPO, source, ignore=ignore)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("maforge-*.whl")
    return built


def test_wheel_carries_code_schemas_templates_and_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "maforge/cli.py",
        "maforge/compiler/loader.py",
        "maforge/compiler/expressions/parser.py",
        "maforge/connectors/spo/catalogue.py",
        "maforge/connectors/spo/properties.json",
        "maforge/schemas/connector.schema.json",
        "maforge/templates/init/spo-user-profiles.yaml.j2",
        "maforge/templates/init/powershell/schema.ps1.j2",
    ):
        assert required in names, required
    assert not any(n.startswith(("tests/", "samples/", "compiler/", "connectors/")) for n in names)


def test_wheel_carries_every_module_and_resource_of_the_source_tree(wheel):
    """A new sub-package or data file must not work in the checkout and vanish on install."""
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {".py", ".json", ".csv", ".j2", ".ps1", ".psm1"}
    missing = [
        f"maforge/{path.relative_to(REPO).as_posix()}"
        for top in ("compiler", "connectors", "templates", "schemas")
        for path in (REPO / top).rglob("*")
        if path.is_file() and path.suffix in shipped and "__pycache__" not in path.parts
        and f"maforge/{path.relative_to(REPO).as_posix()}" not in names
    ]
    assert not missing, f"not in the wheel (add the package to pyproject.toml): {missing}"


def test_wheel_declares_the_console_script(wheel):
    archive = zipfile.ZipFile(wheel)
    (entry_points,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "maforge = maforge.cli:main" in archive.read(entry_points).decode()


def test_installed_wheel_runs_from_any_folder(wheel, tmp_path):
    """Install the wheel alone (its dependencies come from this environment) and run it
    from a folder that is not the checkout."""
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(SAMPLES / "spo-user-profiles.yaml", work)
    shutil.copy(SAMPLES / "hr.csv", work)
    env = {**os.environ, "PYTHONPATH": str(target)}

    def maforge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "maforge", *args], cwd=work, env=env, capture_output=True, text=True)

    where = subprocess.run(
        [sys.executable, "-c", "import maforge.schemas; print(maforge.schemas.__file__)"], cwd=work, env=env, capture_output=True, text=True
    )
    assert where.stdout.startswith(str(target)), "the test must exercise the installed wheel, not the checkout"
    checked = maforge("validate", "spo-user-profiles.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "spo-user-profiles.yaml: valid (0 errors, 0 warnings)"
    started = maforge("init", "--type", "powershell", "new.yaml")
    assert started.returncode == 0, started.stderr
    assert maforge("validate", "new.yaml").returncode == 0


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = "pip install '.[test]' && pytest"
    assert f"```sh\n{command}\n```" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci[-1] == command
