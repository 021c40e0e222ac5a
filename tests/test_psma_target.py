"""`connector: psma`: the MA export maforge writes for Granfeldt's PowerShell Management Agent
has PSMA's own structure (golden against real PSMA exports), imports back into a PSMA spec,
round-trips exactly, and one spec built for both connectors differs only where the
connectors differ."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from lxml import etree

from maforge.compiler import psma
from maforge.compiler.build import render_outputs
from maforge.compiler.mim.importma import import_ma
from maforge.compiler.mim.semdiff import CONNECTOR_SECTIONS, connector_of, semantic_diff
from maforge.compiler.validate import check_file, load_spec
from support import REPO

PSMA_EXPORTS = REPO / "tests" / "data" / "psma"
PSMA25 = PSMA_EXPORTS / "granfeldt-psma-ma-exported-2025.xml"
PSMA14 = PSMA_EXPORTS / "granfeldt-psma-ma-exported-2014.xml"
SAMPLE = REPO / "samples" / "spo-user-profiles.yaml"


def _tree(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


def _built(spec_path: Path) -> tuple[etree._Element, dict[str, str]]:
    spec, _ = load_spec(spec_path)
    result = render_outputs(spec, str(spec_path))
    return etree.fromstring(result.files[result.xml_name].encode("utf-8")), result.files


def _definitions(root: etree._Element) -> list[tuple[str, ...]]:
    return [
        tuple((p.findtext(tag) or "").strip() for tag in ("name", "use", "type", "validation", "text", "default-value"))
        for p in root.iterfind(".//parameter-definitions/parameter")
    ]


def _value_names(root: etree._Element) -> list[tuple[str, str, str, str | None]]:
    return [(p.get("name"), p.get("type"), p.get("use"), p.get("encrypted")) for p in root.iterfind(".//parameter-values/parameter")]


def _psma_sample(tmp_path: Path, *, connector: str = "psma") -> Path:
    """The SPO sample for a connector. PSMA has no run-step parameters, so the sample's
    per-step throttling cap is left out (for both connectors, so they build one spec)."""
    text = SAMPLE.read_text(encoding="utf-8")
    text = re.sub(r"\n( +)parameters:\n\1  MaxRetryWaitSeconds: .*", "", text)
    text = text.replace("\ntype: spo-user-profiles\n", f"\ntype: spo-user-profiles\nconnector: {connector}\n", 1)
    path = tmp_path / f"spo-{connector}.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "hr.csv").write_text((SAMPLE.parent / "hr.csv").read_text(encoding="utf-8"), encoding="utf-8")
    return path


def _own_scripts_spec(tmp_path: Path, extra: str = "") -> Path:
    scripts = tmp_path / "scripts"
    scripts.mkdir(exist_ok=True)
    for name in ("schema", "import", "export"):
        (scripts / f"{name}.ps1").write_text(f"# {name}\nparam($ConfigurationParameter)\n", encoding="utf-8")
    path = tmp_path / "people.yaml"
    path.write_text(
        "apiVersion: maforge/v1\nkind: Connector\nname: People\ntype: powershell\nconnector: psma\n"
        "scripts: {schema: scripts/schema.ps1, import: scripts/import.ps1, export: scripts/export.ps1}\n"
        "schema:\n  objectTypes:\n    person:\n      anchor: USER_ID\n      attributes:\n        USER_ID: {}\n        EMAIL: {}\n" + extra,
        encoding="utf-8",
    )
    return path


# --------------------------------------------------------------------------- golden structure


def test_a_psma_build_has_the_structure_psma_writes(tmp_path):
    built, _ = _built(_psma_sample(tmp_path))
    real = _tree(PSMA25)
    for path in ("ma-data/category", "ma-data/subtype", "ma-data/ma-listname", "ma-data/ma-companyname", "ma-data/capabilities-mask", "ma-data/export-type"):
        assert built.findtext(path) == real.findtext(path), path
    config = "ma-data/private-configuration/MAConfig/extension-config/"
    for tag in (
        "filename",
        "import-default-page-size",
        "import-max-page-size",
        "export-default-page-size",
        "export-max-page-size",
        "export-mode",
        "import-mode",
        "capability-bits",
        "export-type",
        "discovery-schema",
        "assembly-version",
        "supports-parameters-ex",
    ):
        assert built.findtext(config + tag) == real.findtext(config + tag), tag
    assert [c.tag for c in built.find(config.rstrip("/"))] == [c.tag for c in real.find(config.rstrip("/"))]
    # PSMA's parameter pages, labels and dividers included, in PSMA's order.
    assert _definitions(built) == _definitions(real)
    assert built.find(".//parameter-definitions").attrib == real.find(".//parameter-definitions").attrib
    assert [h.text for h in built.iterfind(".//ui-data/ma-help-text")] == [h.text for h in real.iterfind(".//ui-data/ma-help-text")]
    assert built.findtext(".//password-extension-config/dll") == psma.ASSEMBLY
    assert built.find("ma-data/password-sync/unlock-account") is not None


def test_parameter_values_follow_psmas_order_and_hold_no_secret(tmp_path):
    built, _ = _built(_psma_sample(tmp_path))
    names = _value_names(built)
    real = _value_names(_tree(PSMA25))
    # Encrypted values first (empty), then connectivity, then global, each in PSMA's order.
    assert names[0] == ("Password", "encrypted-string", "connectivity", "1")
    assert [n for n in names if n[3] is None] == [n for n in real if n[3] is None]
    for parameter in built.iterfind(".//parameter-values/parameter[@encrypted='1']"):
        assert not (parameter.text or "").strip()
    values = {p.get("name"): p.text or "" for p in built.iterfind(".//parameter-values/parameter")}
    folder = psma.DEFAULT_FOLDER_ROOT + "\\spo-user-profiles"
    assert values["Schema Script"] == folder + "\\Schema.ps1"
    assert values["Import Script"] == folder + "\\Import.ps1"
    assert values["Export Script"] == folder + "\\Export.ps1"
    assert values["Password Management Script"] == folder + "\\Password.ps1"
    assert values["Use paged import"] == "1" and values["Export simple objects"] == "1"
    lines = psma.parse_configuration(values["Configuration parameters"])
    # The parameters the SPO scripts read are lines of "Configuration parameters".
    assert {"TenantName", "ClientId", "CertificateThumbprint", "AdminUrl", "CallsPer5Minutes"} <= {line.name for line in lines}
    assert dict((line.name, line.value) for line in lines)["TenantName"] == "contoso"
    # PSMA 6.0.1050 runs the scripts outside the sync service: the log and the snapshots
    # go to the MA's MaData folder by name, not to a TEMP folder.
    assert dict((line.name, line.value) for line in lines)["DataFolder"] == psma.DEFAULT_DATA_ROOT + "\\SPO User Profiles"


def test_run_steps_carry_psmas_page_size_and_no_run_step_parameters(tmp_path):
    built, _ = _built(_psma_sample(tmp_path))
    steps = built.findall(".//ma-run-data/run-configuration/configuration/step")
    assert steps
    for step in steps:
        assert step.find("custom-data/parameter-values") is not None and len(step.find("custom-data/parameter-values")) == 0
    imports = [s for s in steps if s.find("step-type").get("type") in ("full-import", "delta-import")]
    assert {s.findtext("custom-data/extensible2-step-data/batch-size") for s in imports} <= {str(psma.IMPORT_DEFAULT_PAGE_SIZE), "100", "500", "1000"}


def test_psma_5_builds_the_pages_of_psma_5(tmp_path):
    path = _own_scripts_spec(tmp_path, "psma: {version: 5.5.0.0, scriptFolder: 'C:\\PSMA\\People'}\n")
    report = check_file(path)
    assert report.errors == 0 and report.warnings == 0, report.diagnostics
    built, files = _built(path)
    assert _definitions(built) == _definitions(_tree(PSMA14))
    config = "ma-data/private-configuration/MAConfig/extension-config/"
    assert built.findtext(config + "export-max-page-size") == "500"
    assert built.find(config + "supports-parameters-ex") is None
    assert built.find(".//parameter-definitions").attrib == _tree(PSMA14).find(".//parameter-definitions").attrib
    assert sorted(n for n in files if n.startswith("scripts/")) == ["scripts/Export.ps1", "scripts/Import.ps1", "scripts/Password.ps1", "scripts/Schema.ps1"]


# --------------------------------------------------------------------------- scripts on disk


def test_the_build_ships_every_script_psma_checks_for_and_says_where_they_go(tmp_path):
    path = _own_scripts_spec(tmp_path)
    _, files = _built(path)
    # PSMA refuses an MA whose Password Management Script does not resolve: a placeholder.
    placeholder = files["scripts/Password.ps1"]
    assert "throw" in placeholder and "passwordManagement" in placeholder
    readme = files["README.md"]
    folder = psma.DEFAULT_FOLDER_ROOT + "\\people"
    assert f"`{folder}`" in readme
    for parameter, file in (("Schema Script", "Schema.ps1"), ("Import Script", "Import.ps1"), ("Export Script", "Export.ps1"), ("Password Management Script", "Password.ps1")):
        assert f"| {parameter} | `scripts/{file}` | `{folder}\\{file}` |" in readme
    assert "Granfeldt.PowerShell.ManagementAgent.dll" in readme
    assert "Microsoft.IAM.Connector.PowerShell.dll" not in readme


def test_server_paths_override_the_folder(tmp_path):
    path = _own_scripts_spec(tmp_path, "psma:\n  scriptFolder: 'D:\\PSMA'\n  paths: {export: 'E:\\Shared\\export-people.ps1'}\n")
    built, files = _built(path)
    values = {p.get("name"): p.text or "" for p in built.iterfind(".//parameter-values/parameter")}
    assert values["Schema Script"] == "D:\\PSMA\\Schema.ps1"
    assert values["Export Script"] == "E:\\Shared\\export-people.ps1"
    assert "| Export Script | `scripts/Export.ps1` | `E:\\Shared\\export-people.ps1` |" in files["README.md"]


def test_secrets_are_typed_after_import_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("PEOPLE_AUX", "s3cret-aux-value")
    path = _own_scripts_spec(
        tmp_path,
        "connectivity: {user: svc-people}\npsma:\n  auxiliary: {user: aux-user, password: '${env:PEOPLE_AUX}'}\n  impersonate: {domain: CONTOSO, user: svc-run}\n",
    )
    built, files = _built(path)
    encrypted = [p.get("name") for p in built.iterfind(".//parameter-values/parameter[@encrypted='1']")]
    assert encrypted == ["Password", "Password (auxiliary)", "Password  (impersonate)"]
    assert all("s3cret" not in text for text in files.values())
    readme = files["README.md"]
    assert "`Password (auxiliary)`" in readme and "${env:PEOPLE_AUX}" in readme and "`Password  (impersonate)`" in readme


# --------------------------------------------------------------------------- import-ma and round trip


@pytest.mark.parametrize("export", [PSMA25, PSMA14], ids=lambda p: p.stem)
def test_a_psma_export_imports_into_a_psma_spec_and_round_trips(export, tmp_path):
    result = import_ma(export, tmp_path / "out")
    data = yaml.safe_load(result.spec_path.read_text(encoding="utf-8"))
    assert data["connector"] == "psma" and data["type"] == "powershell"
    real = _tree(export)
    values = {p.get("name"): (p.text or "") for p in real.iterfind(".//parameter-values/parameter")}
    assert data["psma"]["paths"]["schema"] == values["Schema Script"]
    assert data["psma"]["paths"]["import"] == values["Import Script"]
    assert data["psma"]["version"] == real.findtext(".//extension-config/assembly-version")
    carried = [item["path"] for item in data["mim"].get("preserve", [])]
    assert "subtype" not in carried and "ma-companyname" not in carried
    assert "private-configuration/MAConfig" not in carried, "PSMA's pages are modelled, not carried"
    spec, _ = load_spec(result.spec_path)
    rebuilt = etree.fromstring(render_outputs(spec, str(result.spec_path)).files[f"{spec.name}.xml"].encode("utf-8"))
    assert semantic_diff(real, rebuilt) == []


def test_the_2025_export_is_modelled_but_for_the_wizards_partition_entry(tmp_path):
    result = import_ma(PSMA25, tmp_path / "out")
    data = yaml.safe_load(result.spec_path.read_text(encoding="utf-8"))
    assert [item["path"] for item in data["mim"]["preserve"]] == ["private-configuration/MAConfig/ui-data"]
    assert data["psma"]["powershell"] == "7"
    assert data["connectivity"] == {"user": "appUserName"}


# --------------------------------------------------------------------------- both connectors


def test_one_spec_for_both_connectors_differs_only_in_connector_sections(tmp_path):
    microsoft, _ = _built(_psma_sample(tmp_path, connector="microsoft"))
    psma_ma, _ = _built(_psma_sample(tmp_path, connector="psma"))
    sections = {s.section for s in semantic_diff(microsoft, psma_ma)}
    assert sections and sections <= CONNECTOR_SECTIONS, sections - CONNECTOR_SECTIONS
    assert "connector" in sections
    assert connector_of(microsoft).startswith("PowerShell (Microsoft)")
    assert connector_of(psma_ma).startswith("Granfeldt PowerShell Management Agent (PSMA)")


def test_diff_says_which_connector_each_side_targets(cli, tmp_path):
    a = _psma_sample(tmp_path, connector="microsoft")
    b = _psma_sample(tmp_path, connector="psma")
    result = cli("diff", str(a), str(b))
    assert result.exit_code == 1
    assert f"{a} targets PowerShell (Microsoft) 1.0.419.911" in result.output
    assert f"{b} targets Granfeldt PowerShell Management Agent (PSMA) 6.0.0.0" in result.output
    data = json.loads(cli("diff", str(a), str(b), "--format", "json").output)
    assert data["connectors"][str(b)].startswith("Granfeldt")


def test_configuration_lines_are_read_as_psma_reads_them():
    text = "Environment=PROD\r\n\r\n  Region , eu west\nFlag\n=orphan\nEnvironment=TEST\nPath=C:\\a=b,c\n"
    lines = [(line.name, line.value) for line in psma.parse_configuration(text)]
    # Cut at the first '=' or ','; the name trimmed, the value as written; the first of a
    # repeated name wins; a line without a separator is a name with an empty value.
    assert lines == [("Environment", "PROD"), ("Region", " eu west"), ("Flag", ""), ("=orphan", ""), ("Path", "C:\\a=b,c")]
    assert psma.parse_configuration(psma.configuration_text(tuple(psma.ConfigurationLine(n, v) for n, v in lines[:3]))) == psma.parse_configuration(
        "Environment=PROD\nRegion= eu west\nFlag="
    )


def test_report_names_the_connector_an_ma_targets(cli, tmp_path):
    def text(source: Path) -> str:
        out = tmp_path / f"{source.stem}.html"
        assert cli("report", str(source), "--out", str(out)).exit_code == 0
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", out.read_text(encoding="utf-8")))

    psma_page = text(_psma_sample(tmp_path))
    assert "Target connector psma: PowerShell, by Soren Granfeldt (Granfeldt.PowerShell.ManagementAgent.dll)" in psma_page
    # PSMA's own pages: script paths, and the settings as Configuration parameters lines.
    assert "Connectivity (PSMA)" in psma_page and "Configuration parameters" in psma_page
    assert "Import Script " + psma.DEFAULT_FOLDER_ROOT + "\\spo-user-profiles\\Import.ps1" in psma_page
    assert "TenantName_Global" not in psma_page
    microsoft_page = text(_psma_sample(tmp_path, connector="microsoft"))
    assert "Target connector microsoft: PowerShell (Microsoft), by Microsoft (Microsoft.IAM.Connector.PowerShell.dll)" in microsoft_page
    assert "Target connector psma:" in text(PSMA14)
