"""`maforge init` writes starters that validate as written and never clobber work."""

from __future__ import annotations

import pytest

from maforge.compiler.validate import check_file


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
