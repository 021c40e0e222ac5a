"""`pip install .` gives a maforge that works from any folder: the wheel carries the
schemas, templates and data the code reads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from support import REPO, SAMPLES


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "maforge"
    # Build from a copy so the build leaves no artefacts in the checkout.
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", ".hypothesis"))
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


def test_installed_wheel_runs_from_any_folder(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(SAMPLES / "spo-user-profiles.yaml", work)
    shutil.copy(SAMPLES / "hr.csv", work)
    maforge = env_dir / "bin" / "maforge"
    checked = subprocess.run([str(maforge), "validate", "spo-user-profiles.yaml"], cwd=work, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "spo-user-profiles.yaml: valid (0 errors, 0 warnings)"
    where = subprocess.run(
        [str(python), "-c", "import maforge.schemas, sys; print(maforge.schemas.__file__)"], cwd=work, capture_output=True, text=True
    )
    assert str(env_dir) in where.stdout, "the test must exercise the installed wheel, not the checkout"
    started = subprocess.run([str(maforge), "init", "--type", "powershell", "new.yaml"], cwd=work, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    assert subprocess.run([str(maforge), "validate", "new.yaml"], cwd=work).returncode == 0


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = "pip install '.[test]' && pytest"
    assert f"```sh\n{command}\n```" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci[-1] == command
