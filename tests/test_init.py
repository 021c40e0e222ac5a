"""`maforge init` writes starters that validate as written and never clobber work."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from maforge.compiler.validate import check_file, load_spec


@pytest.mark.parametrize("kind", ["spo-user-profiles", "powershell"])
def test_starter_validates(cli, tmp_path, kind):
    target = tmp_path / "conn" / "my-connector.yaml"
    result = cli("init", "--type", kind, str(target))
    assert result.exit_code == 0, result.output
    assert f"wrote {target}" in result.output
    report = check_file(target)
    assert [d.format() for d in report.diagnostics] == []
    text = target.read_text()
    assert text.startswith("# My Connector: ")
    assert "\nname: \"My Connector\"\n" in text


def test_powershell_starter_writes_its_scripts(cli, tmp_path):
    target = tmp_path / "hr.yaml"
    assert cli("init", "--type", "powershell", str(target)).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "scripts").iterdir()) == ["Hr.psm1", "export.ps1", "import.ps1", "schema.ps1"]


def test_init_never_overwrites_without_force(cli, tmp_path):
    target = tmp_path / "spo.yaml"
    target.write_text("my work\n")
    result = cli("init", str(target))
    assert result.exit_code == 1
    assert "already exists" in result.output and "--force" in result.output
    assert target.read_text() == "my work\n"
    assert cli("init", "--force", str(target)).exit_code == 0
    assert target.read_text().startswith("# Spo: ")


def test_refused_init_writes_nothing_at_all(cli, tmp_path):
    target = tmp_path / "hr.yaml"
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "schema.ps1").write_text("# mine\n")
    assert cli("init", "--type", "powershell", str(target)).exit_code == 1
    assert not target.exists()
    assert sorted(p.name for p in (tmp_path / "scripts").iterdir()) == ["schema.ps1"]


def test_name_and_tenant_options(cli, tmp_path):
    target = tmp_path / "x.yaml"
    assert cli("init", "--name", "Fabrikam Profiles", "--tenant", "fabrikam", str(target)).exit_code == 0
    text = target.read_text()
    assert "\nname: \"Fabrikam Profiles\"\n" in text and "tenant: fabrikam " in text
    assert check_file(target).valid


def test_bad_tenant_is_a_usage_error(cli, tmp_path):
    result = cli("init", "--tenant", "Contoso.com", str(tmp_path / "x.yaml"))
    assert result.exit_code == 2
    assert "is not a tenant name" in result.output


# What maforge writes beside a spec that must never be committed: the connection file (the
# emulator's holds its test password), a saved plan, apply's journal and results beside it,
# and the state folder.
WORKING_FILES = ["connection.json", "plan.json", "plan.json.journal", "plan.json.results.json", ".maforge/snapshot.jsonl", ".emulator/certs/ca.key"]


def _ignored(folder, names: list[str]) -> list[str]:
    """The names git itself would ignore in ``folder`` (a fresh repository)."""
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    found = subprocess.run(["git", "-C", str(folder), "check-ignore", "--no-index", *names], capture_output=True, text=True)
    return found.stdout.split()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("kind", ["spo-user-profiles", "powershell"])
def test_init_writes_a_gitignore_for_what_maforge_writes(cli, tmp_path, kind):
    target = tmp_path / "conn" / "spo.yaml"
    result = cli("init", "--type", kind, str(target))
    assert result.exit_code == 0, result.output
    assert f"wrote {target.parent / '.gitignore'}" in result.output
    assert _ignored(target.parent, WORKING_FILES + ["spo.yaml"]) == WORKING_FILES


def test_init_adds_to_a_gitignore_it_finds_and_keeps_its_rules(cli, tmp_path):
    (tmp_path / ".gitignore").write_text("node_modules/\nplan.json", encoding="utf-8")
    assert cli("init", str(tmp_path / "spo.yaml")).exit_code == 0
    lines = (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["node_modules/", "plan.json"]
    assert lines.count("plan.json") == 1 and {"connection.json", "*.journal", "*.results.json", ".maforge/"} <= set(lines)
    again = cli("init", str(tmp_path / "other.yaml"))
    assert again.exit_code == 0 and ".gitignore" not in again.output  # nothing left to add


def test_a_refused_init_leaves_the_gitignore_alone(cli, tmp_path):
    (tmp_path / "spo.yaml").write_text("my work\n")
    assert cli("init", str(tmp_path / "spo.yaml")).exit_code == 1
    assert not (tmp_path / ".gitignore").exists()


@pytest.mark.parametrize("tenant, company", [("fabrikam", "Fabrikam"), ("northwind-traders", "Northwind Traders")])
def test_the_company_comes_from_the_tenant(cli, tmp_path, tenant, company):
    target = tmp_path / "x.yaml"
    assert cli("init", "--tenant", tenant, str(target)).exit_code == 0
    model, _ = load_spec(target)
    assert model.sharepoint.company == company
    assert "Contoso" not in target.read_text()
