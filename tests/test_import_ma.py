"""`maforge import-ma` and `maforge diff`: existing MAs under version control, losslessly."""

from __future__ import annotations

import json
import shutil

import pytest
from lxml import etree

from maforge.compiler.build import render_outputs
from maforge.compiler.mim.canonical import canonicalize, facts
from maforge.compiler.mim.decompile import own_import_flows
from maforge.compiler.mim.importma import import_ma
from maforge.compiler.mim.mimxml import parse_untrusted
from maforge.compiler.validate import check_file, load_spec
from support import FIXTURES, REPO

REFERENCE = REPO.parent / "shared" / "reference" / "ma-exports"
MA_FILES = sorted(p for p in REFERENCE.glob("*.xml") if p.name.startswith(("granfeldt", "lithnet", "mimps", "serverconfig-contoso-MA", "aadconnect")))
MV_FILE = REFERENCE / "serverconfig-contoso-MV.xml"
LYNC = REFERENCE / "mimpsconnectors-lync-skype-powershell-ecma2-export-ma.xml"

pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason="the shared reference folder is not beside this checkout")


def _facts(element):
    return list(facts(canonicalize(element)))


@pytest.mark.parametrize("export", MA_FILES, ids=lambda p: p.stem)
def test_import_validate_build_gives_the_original_back(export, tmp_path):
    mv = MV_FILE if export.name.startswith("serverconfig") else None
    result = import_ma(export, tmp_path, mv)
    report = check_file(result.spec_path)
    assert [d.format() for d in report.diagnostics if d.is_error] == []
    spec, _ = load_spec(result.spec_path)
    output = render_outputs(spec, result.spec_path.name)
    built = etree.fromstring(output.files[output.xml_name].encode())
    original = parse_untrusted(export.read_bytes(), str(export))
    original_ma = original if original.tag == "ma-data" else original.find("ma-data")
    assert _facts(built.find("ma-data")) == _facts(original_ma)
    flows_source = parse_untrusted(mv.read_bytes(), str(mv)).find("mv-data/import-attribute-flow") if mv else original.find("mv-data/import-attribute-flow")
    own = own_import_flows(flows_source, original_ma.findtext("id"))
    if own is not None:
        assert _facts(built.find("mv-data/import-attribute-flow")) == _facts(own)


def test_lync_import_models_almost_everything(tmp_path):
    result = import_ma(LYNC, tmp_path)
    assert result.spec_path.name == "Skype.yaml"
    assert [c.path for c in result.carried] == [
        "private-configuration/MAConfig/ui-data",
        "private-configuration/MAConfig/parameter-values/parameter[@name='Additional Config Parameter Names']",
    ]
    spec, _ = load_spec(result.spec_path)
    assert spec.type.value == "powershell"
    assert len(spec.scripts) == 11
    assert spec.capabilities.object_confirmation == "NoAddAndDeleteConfirmation"
    assert [p.name for p in spec.parameters][:3] == ["SipAddressType", "SipDomain", "ForceMove"]
    assert spec.provisioning_hierarchy == {"Ou": "OrganizationalUnit"}
    original = parse_untrusted(LYNC.read_bytes(), "lync")
    export_script = original.find("ma-data/private-configuration/MAConfig/parameter-values/parameter[@name='Export Script']").text
    assert (tmp_path / "scripts" / "export.ps1").read_text(encoding="utf-8") == export_script


def test_server_configuration_takes_this_mas_flows_from_mv_xml(tmp_path):
    # HROrg's three import flows are classic direct mappings in MV.xml (HR System's are
    # declarative sync-rule mappings, which the spec carries instead of modelling).
    export = REFERENCE / "serverconfig-contoso-MA-HROrg-mssql.xml"
    ma_id = parse_untrusted(export.read_bytes(), "hr").findtext("ma-data/id")
    with_mv = import_ma(export, tmp_path / "a", MV_FILE)
    without = import_ma(export, tmp_path / "b")
    assert "importFlows:" in with_mv.files[with_mv.spec_path.name]
    assert "importFlows:" not in without.files[without.spec_path.name]
    spec, _ = load_spec(with_mv.spec_path)
    output = render_outputs(spec, with_mv.spec_path.name)
    built = etree.fromstring(output.files[output.xml_name].encode())
    sources = {f.get("src-ma") for f in built.iter("import-flow")}
    assert sources == {ma_id}, "only this MA's own flows are imported"


def test_import_ma_cli_reports_what_is_carried(cli, tmp_path):
    result = cli("import-ma", str(REFERENCE / "granfeldt-sqlma-ma-exported-2021.xml"), "--out", str(tmp_path), "--report")
    assert result.exit_code == 0, result.output
    assert "carried  subtype: another connector's identity" in result.output
    assert "carried  private-configuration/MAConfig: the connector's own configuration pages" in result.output
    again = cli("import-ma", str(REFERENCE / "granfeldt-sqlma-ma-exported-2021.xml"), "--out", str(tmp_path))
    assert again.exit_code == 1 and "already exists" in again.output
    assert cli("import-ma", str(REFERENCE / "granfeldt-sqlma-ma-exported-2021.xml"), "--out", str(tmp_path), "--force").exit_code == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("xxe.xml", "has a DOCTYPE or ENTITY declaration"),
        ("billion-laughs.xml", "has a DOCTYPE or ENTITY declaration"),
        ("external-dtd.xml", "has a DOCTYPE or ENTITY declaration"),
        ("truncated.xml", "truncated.xml:5: not well-formed XML"),
        ("not-xml.xml", "not-xml.xml:1: not well-formed XML"),
        ("wrong-root.xml", "the root element is <saved-mv-configuration>"),
    ],
)
def test_hostile_and_broken_files_are_refused_clearly(cli, tmp_path, name, message):
    result = cli("import-ma", str(FIXTURES / "hostile" / name), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
    assert cli("diff", str(FIXTURES / "hostile" / name), str(LYNC)).exit_code == 2


def test_packaged_templates_are_refused_with_a_reason(cli, tmp_path):
    result = cli("import-ma", str(REFERENCE / "packaged-granfeldt-psma.xml"), "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "packaged MA template" in result.output


def test_size_limit(cli, tmp_path, monkeypatch):
    import maforge.compiler.mim.importma as importma

    monkeypatch.setattr(importma, "MAX_MA_FILE_BYTES", 1000)
    result = cli("import-ma", str(LYNC), "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "larger than the 1000-byte limit" in result.output


def test_diff_of_an_export_and_its_imported_spec_is_empty(cli, tmp_path):
    imported = import_ma(LYNC, tmp_path)
    result = cli("diff", str(LYNC), str(imported.spec_path))
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("same MA")


def test_diff_reports_changes_by_section(cli, tmp_path):
    imported = import_ma(LYNC, tmp_path)
    text = imported.spec_path.read_text(encoding="utf-8").replace("pageSize: 1\n", "pageSize: 50\n")
    imported.spec_path.write_text(text, encoding="utf-8")
    script = tmp_path / "scripts" / "export.ps1"
    script.write_text(script.read_text(encoding="utf-8").replace("Export-CSEntries", "Export-CSEntries -Verbose"), encoding="utf-8")
    result = cli("diff", str(LYNC), str(imported.spec_path))
    assert result.exit_code == 1
    assert "## scripts" in result.output and "+Export-CSEntries -Verbose" in result.output
    # A page size is a run step's setting: the connector's default differs between connectors.
    assert "## run-step settings" in result.output
    assert result.output.startswith("both target PowerShell (Microsoft) 1.0.419.911\n")
    assert result.output.strip().endswith("differ in 2 sections: scripts, run-step settings")
    data = json.loads(cli("diff", "--format", "json", str(LYNC), str(imported.spec_path)).output)
    assert data["equal"] is False and [s["section"] for s in data["sections"]] == ["scripts", "run-step settings"]
    assert set(data["connectors"].values()) == {"PowerShell (Microsoft) 1.0.419.911"}


def test_diff_ignores_layout_and_engine_state(cli, tmp_path):
    text = LYNC.read_text(encoding="utf-8")
    moved = text.replace("export-date='2016-02-22 18:12:03.564'", "export-date='2030-01-01 00:00:00.000'")
    moved = moved.replace("<version>1</version>", "<version>9</version>").replace(" <stay-disconnector />", " <stay-disconnector></stay-disconnector>")
    copy = tmp_path / "lync-again.xml"
    copy.write_text(moved.replace("\n", "\r\n"), encoding="utf-8")
    assert cli("diff", str(LYNC), str(copy)).exit_code == 0


def test_a_carried_element_followed_by_text_is_carried_without_it():
    """Found by reliability/properties.py on a mutated export: an element kept verbatim in
    mim.preserve that has text after it (mixed content) made import-ma crash; the text after
    an element is its parent's, not part of what is carried."""
    from lxml import etree

    from maforge.compiler.mim.importma import _xml

    parent = etree.fromstring("<ma-data><private-configuration><x a='1'>kept</x>stray text</private-configuration></ma-data>")
    element = parent[0]
    assert _xml(element) == "<private-configuration>\n  <x a=\"1\">kept</x>stray text</private-configuration>\n"
    assert _xml(element[0]) == '<x a="1">kept</x>\n'
