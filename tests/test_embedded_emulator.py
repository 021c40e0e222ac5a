"""`--emulator` on import, plan and apply (connectors/emulator/embedded.py), and the README's
first command, which uses it to show the whole job: validate, build, plan and apply.

The emulator runs inside each command and its tenant lives in the state folder, so the
cross-process tests below run every command as its own process: what one command wrote must
be there for the next only through the files it left.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, SAMPLES

SPEC = "samples/spo-user-profiles.yaml"
FIRST_PLAN = "Plan: 11 to set, 19 to change, 2 to clear; 3 profiles unchanged"
NO_CHANGES = "Plan: 0 to set, 0 to change, 0 to clear; 25 profiles unchanged"
ANNOUNCED = "tenant contoso is the bundled emulator, kept in .maforge/emulator/contoso"


# --------------------------------------------------------------------------- helpers


def _tools(folder: Path) -> Path:
    """A bin folder whose `maforge` runs this checkout's interpreter: the installed maforge,
    whatever PATH says."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "maforge"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m maforge "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return folder


def _environment(root: Path) -> dict[str, str]:
    """A clean shell: no maforge or Azure settings of the machine, its own HOME and cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAFORGE_", "AZURE_", "PYTEST_", "REQUESTS_CA", "CURL_CA"))}
    env.update(PATH=f"{_tools(root / 'bin')}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}", HOME=str(root / "home"), XDG_CACHE_HOME=str(root / "home" / "cache"), NO_COLOR="1", COLUMNS="100", PYTHONWARNINGS="ignore")
    return env


def _clean_copy(root: Path) -> Path:
    """The folder a fresh clone gives the README's command: the samples as git tracks them
    (untracked leftovers of someone's run excluded); a plain copy when git is not at hand."""
    folder = root / "clone"
    folder.mkdir(parents=True)
    try:
        listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "samples"], capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        listed = []
    tracked = [name for name in listed if name and (REPO / name).is_file()]
    if not tracked:
        shutil.copytree(SAMPLES, folder / "samples")
    for name in tracked:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, folder / name)
    return folder


def _shell(command: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one command line as a terminal would, stdout and stderr interleaved."""
    return subprocess.run(["bash", "--noprofile", "--norc", "-c", command], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120, check=False)


def _maforge(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """One maforge command as its own process (stdout and stderr apart)."""
    return subprocess.run(["maforge", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)


def readme_first_command() -> str:
    """The first `sh` block of README.md's quick start, as a reader copies it."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, re.S)[0]


@pytest.fixture
def workspace(tmp_path):
    """A clean folder with the samples, and the environment to run maforge in it."""
    return _clean_copy(tmp_path), _environment(tmp_path)


# --------------------------------------------------------------------------- the README


def test_readme_first_command_does_the_whole_job(workspace):
    folder, env = workspace
    command = readme_first_command()
    # The one substitution: `pip install .` is left out, since the maforge under test is
    # installed already (tests/test_packaging.py proves installing works); the rest of the
    # line runs exactly as the README shows it.
    assert command.startswith("pip install . && "), command
    assert "\n" not in command, "the first command is one line"
    ran = _shell(command.removeprefix("pip install . && "), folder, env)
    assert ran.returncode == 0, ran.stdout
    assert "2 files checked: 2 valid, 0 invalid" in ran.stdout
    assert "wrote out/spo-user-profiles/SPO User Profiles.xml, 9 scripts in out/spo-user-profiles/scripts" in ran.stdout  # the MA folder
    assert (folder / "out" / "spo-user-profiles" / "SPO User Profiles.xml").is_file()
    assert re.search(r"~ Department\s+\"Unassigned\" → \"\w", ran.stdout), "the plan's per-property lines"
    assert FIRST_PLAN in ran.stdout
    assert "Apply: 32 applied, 0 already applied, 0 stale, 0 failed, 0 on missing profiles" in ran.stdout
    again = _maforge(folder, env, "plan", SPEC, "--emulator", "--expect-no-changes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert NO_CHANGES in again.stdout


def test_readme_test_command_is_untouched():
    """.ci/run runs the README's test command; --emulator must not have moved it."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"```sh\n(.*?)\n```", section, re.S)[1] == "pip install '.[test]' && pytest"


# --------------------------------------------------------------------------- one tenant across processes


def test_import_plan_apply_share_one_tenant_across_processes(workspace):
    folder, env = workspace
    planned = _maforge(folder, env, "plan", SPEC, "--emulator", "--out", "plan.json")
    assert planned.returncode == 0, planned.stderr
    assert FIRST_PLAN in planned.stdout and ANNOUNCED in planned.stderr
    assert "apply it with: maforge apply plan.json --emulator" in planned.stderr
    applied = _maforge(folder, env, "apply", "plan.json", "--emulator")
    assert applied.returncode == 0, applied.stderr
    assert "Apply: 32 applied" in applied.stdout
    # import reads what apply wrote: the snapshot it leaves plans to no changes, offline.
    imported = _maforge(folder, env, "import", SPEC, "--emulator")
    assert imported.returncode == 0, imported.stderr
    assert "imported 25 profiles into .maforge/snapshot.jsonl" in imported.stdout
    offline = _maforge(folder, env, "plan", SPEC, "--refresh=false", "--expect-no-changes")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert NO_CHANGES in offline.stdout
    # A state folder of its own is a tenant of its own: fresh, with the sample's drift.
    other = _maforge(folder, env, "plan", SPEC, "--emulator", "--snapshot", "other-state")
    assert FIRST_PLAN in other.stdout, other.stderr
    assert (folder / "other-state" / "emulator" / "contoso" / "tenant.json").is_file()


def test_the_tenant_keeps_its_first_seed_so_hr_edits_show_as_changes(workspace):
    folder, env = workspace
    assert _maforge(folder, env, "apply", SPEC, "--emulator", "--auto-approve").returncode == 0
    hr = folder / "samples" / "hr.csv"
    text = hr.read_text(encoding="utf-8")
    assert text.count("Noise reduction") == 0 and ",Legal," in text
    hr.write_text(text.replace(",Legal,", ",Noise reduction,", 1), encoding="utf-8")
    planned = _maforge(folder, env, "plan", SPEC, "--emulator")
    assert "Plan: 0 to set, 1 to change, 0 to clear; 24 profiles unchanged" in planned.stdout, planned.stdout + planned.stderr
    assert re.search(r'~ Department\s+"Legal" → "Noise reduction"', planned.stdout)


def test_the_spec_hr_file_seeds_the_tenant(cli, tmp_path):
    """A spec whose HR file holds other people gets a tenant of those people (its tenant's
    domain), not the sample's."""
    from maforge.connectors.emulator.embedded import embedded_config, spec_seed
    from maforge.connectors.emulator.seed import read_seed_file
    from maforge.connectors.emulator.state import TenantState

    shutil.copytree(SAMPLES, tmp_path / "samples")
    hr = tmp_path / "samples" / "hr.csv"
    lines = hr.read_text(encoding="utf-8").splitlines()
    hr.write_text("\n".join([lines[0], lines[1].replace("patti.fernandez@", "zoe.new@")]) + "\n", encoding="utf-8")
    sources = [{"type": "csv", "path": "nowhere.csv"}, {"type": "json", "path": "hr.csv"}, {"type": "csv", "path": "hr.csv", "encoding": "utf-8", "delimiter": ","}]
    seed = spec_seed(sources, tmp_path / "samples")
    assert seed == tmp_path / "samples" / "hr.csv"
    config = embedded_config(tmp_path / "state", "fabrikam", seed)
    assert config.seed_file == tmp_path / "state" / "emulator" / "fabrikam" / "seed.csv"  # kept: the tenant's people
    state = TenantState(config.tenant, config.profiles, None, read_seed_file(str(config.seed_file)))
    assert state.user(1).upn == "zoe.new@fabrikam.onmicrosoft.com"
    assert state.user(2).upn.startswith("user000002@")  # the rest of the default 25 is synthetic
    assert spec_seed([{"type": "csv", "path": "powershell/flatfile-hr.yaml"}], tmp_path / "samples") is None


# --------------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["import", SPEC, "--emulator", "--connection", "connection.json"], 2),
        (["apply", "plan.json", "--emulator", "-c", "connection.json"], 2),
        # plan's 2 means "changes" (--detailed-exitcode), so its usage errors exit 1 (docs/index.md)
        (["plan", SPEC, "--emulator", "--connection", "connection.json", "--detailed-exitcode"], 1),
    ],
)
def test_emulator_and_connection_together_is_a_usage_error(cli, args, status):
    shutil.copytree(SAMPLES, Path("samples"))
    Path("connection.json").write_text("{}", encoding="utf-8")
    result = cli(*args)
    assert result.exit_code == status, result.output
    assert "--emulator and --connection name two tenants" in result.output
    assert not Path(".maforge").exists(), "refused before any emulator started"


def test_without_a_tenant_apply_points_at_both_ways(cli):
    shutil.copytree(SAMPLES, Path("samples"))
    result = cli("apply", SPEC, "--auto-approve")
    assert "give --connection FILE, or --emulator" in result.output, result.output


def test_emulator_needs_a_spec_with_a_tenant(cli):
    shutil.copytree(SAMPLES, Path("samples"))
    result = cli("import", "samples/powershell/flatfile-hr.yaml", "--emulator")
    assert result.exit_code == 2, result.output
    assert "--emulator needs the tenant's name" in result.output


# --------------------------------------------------------------------------- secrets


def test_the_emulator_password_never_reaches_output_or_other_files(workspace):
    folder, env = workspace
    outputs = [
        _maforge(folder, env, "-v", "plan", SPEC, "--emulator", "--out", "plan.json"),
        _maforge(folder, env, "-v", "apply", "plan.json", "--emulator"),
        _maforge(folder, env, "-v", "import", SPEC, "--emulator"),
        _maforge(folder, env, "plan", SPEC, "--emulator", "--format", "json"),
    ]
    assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
    tenant = folder / ".maforge" / "emulator" / "contoso"
    saved = json.loads((tenant / "tenant.json").read_text(encoding="utf-8"))
    secrets = [saved["password"], saved["client_secret"]]
    private_key = (tenant / "certs" / "app.pem").read_text(encoding="utf-8").split("-----BEGIN PRIVATE KEY-----")[1][:64]
    assert all(len(s) >= 16 for s in secrets)
    for output in outputs:
        for secret in [*secrets, private_key]:
            assert secret not in output.stdout and secret not in output.stderr
    # Only the tenant's own tenant.json holds them: not the plan, its results, the snapshot.
    for path in folder.rglob("*"):
        if path.is_file() and path != tenant / "tenant.json":
            content = path.read_text(encoding="utf-8", errors="replace")
            assert not any(secret in content for secret in secrets), path
    # ... and that folder is the owner's alone.
    assert stat.S_IMODE(tenant.stat().st_mode) == 0o700
    assert stat.S_IMODE((tenant / "tenant.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tenant / "certs" / "app.pem").stat().st_mode) == 0o600
