"""`maforge build`: the MA export MIM imports, checked against Microsoft's own export."""

from __future__ import annotations

import re

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from maforge.compiler.build import render_outputs, write_build
from maforge.compiler.mim.canonical import canonicalize, facts
from maforge.compiler.mim.decompile import own_import_flows
from maforge.compiler.mim.mimxml import parse_untrusted
from maforge.compiler.validate import load_spec
from support import FIXTURES, REPO, SAMPLES, powershell_syntax_errors

REFERENCE = REPO.parent / "shared" / "reference" / "ma-exports"
LYNC_EXPORT = REFERENCE / "mimpsconnectors-lync-skype-powershell-ecma2-export-ma.xml"
LYNC_ID = "{46E3F078-5D69-4A51-8731-AC0483F19B6F}"
LYNC_SCRIPTS = {
    "Common Module Script": "common.psm1",
    "Validation Script": "validation.ps1",
    "Schema Script": "schema.ps1",
    "Partition Script": "partition.ps1",
    "Hierarchy Script": "hierarchy.ps1",
    "Begin Import Script": "begin-import.ps1",
    "Import Script": "import.ps1",
    "End Import Script": "end-import.ps1",
    "Begin Export Script": "begin-export.ps1",
    "Export Script": "export.ps1",
    "End Export Script": "end-export.ps1",
}

# What the spec of the Lync template cannot reproduce, and why. Anything else that differs
# after canonical normalisation fails the test.
KNOWN_LYNC_DIFFERENCES = {
    # Microsoft's export lists every User attribute on the wizard's object_classes page but
    # ArchivingPolicy, although the attribute is selected everywhere else (schema, inclusion,
    # primary_class_mappings). maforge writes the page from the schema, so it lists it.
    "+/export-ma/ma-data/private-configuration/MAConfig/ui-data/xmlwizard/object_classes/object_class/attribute"
    '[mandatory="0"] ArchivingPolicy',
    # The admin typed the additional parameter names with stray spaces after some commas;
    # the connector trims them (the defined parameter is OrganizationalUnitPages_Global).
    # maforge writes the list from the spec's parameter names, without spaces.
    "-/export-ma/ma-data/private-configuration/MAConfig/parameter-values/parameter"
    '[name="Additional Config Parameter Names" type="string" use="connectivity"] '
    "SipAddressType,SipDomain,ForceMove,UserPages, OrganizationalUnitPages,PreferredDomainControllerFQDN, LastRunDateTimeOffsetMinute",
    "+/export-ma/ma-data/private-configuration/MAConfig/parameter-values/parameter"
    '[name="Additional Config Parameter Names" type="string" use="connectivity"] '
    "SipAddressType,SipDomain,ForceMove,UserPages,OrganizationalUnitPages,PreferredDomainControllerFQDN,LastRunDateTimeOffsetMinute",
}

needs_reference = pytest.mark.skipif(not LYNC_EXPORT.is_file(), reason="the shared reference folder is not beside this checkout")


@pytest.fixture(scope="module")
def lync(tmp_path_factory):
    """The Lync spec fixture with its scripts taken from Microsoft's export, built."""
    golden = parse_untrusted(LYNC_EXPORT.read_bytes(), str(LYNC_EXPORT))
    work = tmp_path_factory.mktemp("lync")
    shutil.copy(FIXTURES / "lync" / "skype.yaml", work)
    (work / "scripts").mkdir()
    for parameter in golden.find("ma-data/private-configuration/MAConfig/parameter-values"):
        if parameter.get("name") in LYNC_SCRIPTS:
            (work / "scripts" / LYNC_SCRIPTS[parameter.get("name")]).write_text(parameter.text or "", encoding="utf-8", newline="")
    spec, warnings = load_spec(work / "skype.yaml")
    assert warnings == []
    result = render_outputs(spec, "skype.yaml")
    built = parse_untrusted(result.files[result.xml_name].encode(), "built")
    return golden, built, result


@needs_reference
def test_lync_spec_builds_microsofts_export(lync):
    golden, built, _ = lync
    golden_flows = golden.find("mv-data/import-attribute-flow")
    golden_flows.getparent().replace(golden_flows, own_import_flows(golden_flows, LYNC_ID))
    expected = list(facts(canonicalize(golden)))
    actual = list(facts(canonicalize(built)))
    differences = {
        line for line in difflib.unified_diff(expected, actual, n=0, lineterm="") if line[:1] in "+-" and not line.startswith(("+++", "---"))
    }
    assert differences == KNOWN_LYNC_DIFFERENCES


@needs_reference
def test_lync_layout_matches_microsofts_line_for_line_outside_the_scripts(lync):
    """Beyond meaning: the built file has MIM's physical layout (section lines, indentation,
    empty-element spelling) wherever the content is the same."""
    _, _, result = lync
    built_lines = result.files[result.xml_name].splitlines()
    golden_lines = LYNC_EXPORT.read_text(encoding="utf-8").splitlines()
    structural = [
        " <stay-disconnector />",
        " <join />",
        " <projection />",
        " <export-attribute-flow />",
        " <provisioning-cleanup type=\"declared\"><action>delete-object</action></provisioning-cleanup>",
        " <extension />",
        " <controller-configuration>",
        "</controller-configuration>",
        " <description></description>",
        " <dn-construction/>",
        " <capabilities-mask>a4079671</capabilities-mask>",
        " <export-type>1</export-type>",
        "</ma-partition-data>",
        "</ma-run-data>",
        "</ma-data>",
        "</export-ma>",
    ]
    for line in structural:
        assert line in golden_lines and line in built_lines, line
    assert built_lines[1:10] == golden_lines[1:10]  # the WARNING comment and <ma-data>


def test_every_embedded_script_parses_as_powershell(tmp_path):
    for spec_path in (SAMPLES / "powershell" / "flatfile-hr.yaml", SAMPLES / "spo-user-profiles.yaml"):
        spec, _ = load_spec(spec_path)
        result = render_outputs(spec, spec_path.name)
        root = etree.fromstring(result.files[result.xml_name].encode())
        scripts = [p for p in root.iter("parameter") if p.get("type") == "text" and (p.text or "").strip()]
        assert scripts, spec_path
        for parameter in scripts:
            assert powershell_syntax_errors(parameter.text) == [], f"{spec_path.name}: {parameter.get('name')}"
        # The review copies in scripts/ are the embedded text, byte for byte.
        embedded = sorted(p.text for p in scripts)
        copies = sorted(text for name, text in result.files.items() if name.startswith("scripts/"))
        assert embedded == copies


def _build_bytes(spec: Path, out: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, bytes]:
    command = [sys.executable, "-m", "maforge", "build", str(spec), "--out", str(out)]
    environment = {**os.environ, **(env or {})}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=cwd or REPO)
    assert result.returncode == 0, result.stderr
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_build_is_byte_identical_wherever_and_whenever_it_runs(tmp_path):
    spec = SAMPLES / "powershell" / "flatfile-hr.yaml"
    first = _build_bytes(spec, tmp_path / "a", {"TZ": "Pacific/Auckland", "LANG": "C"}, cwd=tmp_path)
    second = _build_bytes(spec.relative_to(REPO), tmp_path / "b", {"TZ": "UTC", "PYTHONHASHSEED": "7"})
    assert first == second
    assert b"/work/" not in b"".join(first.values()) and str(REPO).encode() not in b"".join(first.values())


def test_compiled_templates_are_kept_between_builds_and_change_nothing(tmp_path):
    """The template cache (templates/__init__.py) makes a second build faster, never
    different: an empty cache, a warm one and an unusable one give the same bytes."""
    spec = SAMPLES / "spo-user-profiles.yaml"
    cache = tmp_path / "cache"
    cold = _build_bytes(spec, tmp_path / "a", {"XDG_CACHE_HOME": str(cache)})
    kept = list(cache.rglob("*.cache"))
    assert len(kept) >= 10 and all(p.stat().st_mode & 0o077 == 0 for p in [p.parent for p in kept])
    warm = _build_bytes(spec, tmp_path / "b", {"XDG_CACHE_HOME": str(cache)})
    (tmp_path / "not-a-folder").write_text("x", encoding="utf-8")
    unusable = _build_bytes(spec, tmp_path / "c", {"XDG_CACHE_HOME": str(tmp_path / "not-a-folder")})
    for kept_file in kept:  # a damaged entry is compiled again
        kept_file.write_bytes(b"garbage")
    damaged = _build_bytes(spec, tmp_path / "d", {"XDG_CACHE_HOME": str(cache)})
    assert cold == warm == unusable == damaged


def test_source_date_epoch_sets_the_timestamps(tmp_path):
    files = _build_bytes(SAMPLES / "powershell" / "flatfile-hr.yaml", tmp_path / "out", {"SOURCE_DATE_EPOCH": "1700000000"})
    xml = files["HR Flat File.xml"].decode()
    assert "export-date='2023-11-14 22:13:20.000'" in xml
    assert "<creation-time>2023-11-14 22:13:20.000</creation-time>" in xml


def test_failed_build_leaves_the_previous_output_untouched(tmp_path, cli):
    spec_dir = tmp_path / "spec"
    shutil.copytree(SAMPLES / "powershell", spec_dir)
    out = tmp_path / "out"
    assert cli("build", str(spec_dir / "flatfile-hr.yaml"), "--out", str(out)).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (spec_dir / "scripts" / "export.ps1").write_bytes(b"\xff\xfe not utf-8")
    result = cli("build", str(spec_dir / "flatfile-hr.yaml"), "--out", str(out))
    assert result.exit_code == 1
    assert "not UTF-8" in result.output and "nothing was written" in result.output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], "no staging folder is left behind"


def test_build_refuses_a_folder_it_did_not_write(tmp_path, cli):
    (tmp_path / "notes.txt").write_text("mine")
    result = cli("build", str(SAMPLES / "powershell" / "flatfile-hr.yaml"), "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "holds files maforge did not write" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_invalid_spec_builds_nothing(tmp_path, cli):
    result = cli("build", str(FIXTURES / "rules" / "MF214-export-into-import-only.yaml"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "export flow into 'CostCenter', which is ImportOnly" in result.output
    assert not (tmp_path / "out").exists()


def test_build_writes_the_export_scripts_and_notes(tmp_path, cli):
    out = tmp_path / "out"
    result = cli("build", str(SAMPLES / "powershell" / "flatfile-hr.yaml"), "--out", str(out))
    assert result.exit_code == 0, result.output
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert "HR Flat File.xml" in names and "README.md" in names
    assert {"scripts/schema.ps1", "scripts/import.ps1", "scripts/export.ps1"} <= set(names)
    text = (out / "HR Flat File.xml").read_text()
    assert text.startswith("<export-ma server='")
    assert "<?xml" not in text and "<!DOCTYPE" not in text
    root = etree.fromstring(text.encode())
    assert root.findtext("ma-data/category") == "Extensible2"
    assert root.findtext("ma-data/subtype") == "PowerShell (Microsoft)"


def test_environment_overlay_changes_the_build(tmp_path):
    dev, _ = load_spec(SAMPLES / "spo-user-profiles.yaml", "dev")
    prod, _ = load_spec(SAMPLES / "spo-user-profiles.yaml", "prod")
    dev_xml = render_outputs(dev, "spo").files["SPO User Profiles.xml"]
    prod_xml = render_outputs(prod, "spo").files["SPO User Profiles.xml"]
    assert "<id>{5C0E8F21-9A3B-4D6E-8F12-7B4A2C9D0E63}</id>" in prod_xml and "{5C0E8F21" not in dev_xml
    assert "https://contosodev-admin.sharepoint.com" in dev_xml and "contosodev" not in prod_xml
    assert "server='MIMSYNC-DEV01'" in dev_xml


def test_expression_flows_become_scripted_mappings_listed_for_the_admin(tmp_path, cli):
    spec, _ = load_spec(SAMPLES / "spo-user-profiles.yaml")
    result = render_outputs(spec, "spo-user-profiles.yaml")
    root = etree.fromstring(result.files["SPO User Profiles.xml"].encode())
    flow = root.find("ma-data/export-attribute-flow/export-flow-set/export-flow[@cd-attribute='PreferredName']")
    scripted = flow.find("scripted-mapping")
    assert [e.text for e in scripted.findall("src-attribute")] == ["preferredName", "firstName", "lastName"]
    assert scripted.findtext("script-context") == "export:user.PreferredName"
    notes = result.files["README.md"]
    assert "| `export:user.PreferredName` |" in notes
    assert 'Join(" ", Coalesce([preferredName], [firstName]), [lastName])' in notes
    out = cli("build", str(SAMPLES / "spo-user-profiles.yaml"), "--out", str(tmp_path / "o"))
    assert out.exit_code == 0, out.output
    assert "wrote the rules extension Contoso.SpoUserProfiles.RulesExtension.dll for 2 flow rules" in out.output
    # a spec that names no rules extension gets the warning instead, and no C#
    text = (SAMPLES / "spo-user-profiles.yaml").read_text(encoding="utf-8")
    unnamed = re.sub(r"\n  rulesExtension:\n    assembly: [^\n]+", "", text)
    assert unnamed != text
    (tmp_path / "hr.csv").write_bytes((SAMPLES / "hr.csv").read_bytes())
    (tmp_path / "unnamed.yaml").write_text(unnamed, encoding="utf-8")
    warned = cli("build", str(tmp_path / "unnamed.yaml"), "--out", str(tmp_path / "u"))
    assert warned.exit_code == 0 and "2 mappings need a MIM rules extension, and mim.rulesExtension names none" in warned.output
    assert not (tmp_path / "u" / "rules-extension").exists()


def test_secrets_never_reach_the_build(tmp_path):
    planted = "Pl@nted-Secret-4711"
    files = _build_bytes(
        SAMPLES / "spo-user-profiles.yaml", tmp_path / "out", {"MAFORGE_SPO_PASSWORD": planted, "MAFORGE_SPO_CERTIFICATE": planted}
    )
    assert all(planted.encode() not in data for data in files.values())
    xml = files["SPO User Profiles.xml"].decode()
    assert '<parameter name="Password" type="encrypted-string" use="connectivity" encrypted="1"></parameter>' in xml


def _path_sequence(element: etree._Element, prefix: str = "") -> list[str]:
    """Distinct element paths in order of first appearance."""
    seen: dict[str, None] = {}
    for node in element.iter():
        if isinstance(node.tag, str):
            path = "/".join(etree.QName(n).localname for n in reversed([node, *node.iterancestors()]) if n is not element.getparent())
            seen.setdefault(path, None)
    return list(seen)


@needs_reference
def test_spo_sample_has_the_golden_files_element_paths_and_parameter_definitions():
    spec, _ = load_spec(SAMPLES / "spo-user-profiles.yaml")
    result = render_outputs(spec, "spo-user-profiles.yaml")
    built = etree.fromstring(result.files[result.xml_name].encode())
    golden = parse_untrusted(LYNC_EXPORT.read_bytes(), str(LYNC_EXPORT))
    built_ma, golden_ma = built.find("ma-data"), golden.find("ma-data")
    assert [c.tag for c in built_ma] == [c.tag for c in golden_ma]
    for golden_section in golden_ma:
        built_section = built_ma.find(golden_section.tag)
        if len(golden_section) == 0 or len(built_section) == 0:
            continue  # e.g. the golden file has no join rules, the SPO MA has no hierarchy
        golden_paths = _path_sequence(golden_section)
        built_paths = _path_sequence(built_section)
        common = [p for p in golden_paths if p in built_paths]
        assert [p for p in built_paths if p in common] == common, golden_section.tag
    def definitions(root):
        result = []
        for parameter in root.iterfind("ma-data/private-configuration/MAConfig/parameter-definitions/parameter"):
            name = parameter.findtext("name")
            if name.endswith(("_Global", "_Partition", "_RunStep")) or parameter.findtext("use") == "partition":
                continue  # the spec's own names, and the partition page (the SPO MA has no partitions)
            result.append((name, parameter.findtext("use"), parameter.findtext("type"), parameter.findtext("validation"),
                           parameter.findtext("text"), parameter.findtext("default-value")))
        return result
    assert definitions(built) == definitions(golden)


def _readme_table(notes: str) -> set[str]:
    """The names in the first column of the README's file table (`| \\`name\\` | … |`)."""
    table = notes.split("| File | What it is |", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.M))


@pytest.mark.parametrize("spec", ["spo-user-profiles.yaml", "powershell/flatfile-hr.yaml"])
def test_the_readme_table_lists_everything_the_build_writes(tmp_path, cli, spec):
    out = tmp_path / "out"
    assert cli("build", str(SAMPLES / spec), "--out", str(out)).exit_code == 0
    written = {p.name + ("/" if p.is_dir() else "") for p in out.iterdir()}
    assert "python/" in written
    assert _readme_table((out / "README.md").read_text(encoding="utf-8")) == written


def _spo_readme(tmp_path, method: str = "certificate", impersonate: bool = False) -> str:
    """The README of the SPO sample signed in with ``method``, optionally impersonating."""
    text = (SAMPLES / "spo-user-profiles.yaml").read_text(encoding="utf-8")
    changed = text.replace("    method: certificate\n", f"    method: {method}\n", 1).replace(
        "  impersonate: false\n", f"  impersonate: {str(impersonate).lower()}\n", 1
    )
    assert changed.count(f"method: {method}") and changed.count(f"impersonate: {str(impersonate).lower()}")
    (tmp_path / "hr.csv").write_bytes((SAMPLES / "hr.csv").read_bytes())
    (tmp_path / "spo.yaml").write_text(changed, encoding="utf-8")
    spec, _ = load_spec(tmp_path / "spo.yaml")
    return render_outputs(spec, "spo.yaml").files["README.md"]


def _password_lines(notes: str) -> list[str]:
    return [line for line in notes.splitlines() if re.search(r"\bpassword\b", line, flags=re.I) and ("Connectivity" in line or "type" in line.lower())]


def test_the_readme_says_one_thing_about_the_connectivity_password(tmp_path):
    """Certificate sign-in without impersonation never reads the Connectivity password, so no
    step may tell the admin to type it; every mention says when it is needed."""
    notes = _spo_readme(tmp_path)
    assert "type the password" not in notes.lower()
    assert "only used if" not in notes
    listed = [line for line in notes.splitlines() if line.strip().startswith("- `Password` (Connectivity page)")]
    assert len(listed) == 1
    assert "only needed if `AuthMode` is switched to `Password` or Impersonate Connector Account is turned on" in listed[0]
    assert all("only needed if" in line for line in _password_lines(notes)), _password_lines(notes)


@pytest.mark.parametrize("method, impersonate", [("password", False), ("certificate", True)])
def test_the_readme_asks_for_the_password_when_the_ma_uses_it(tmp_path, method, impersonate):
    notes = _spo_readme(tmp_path, method, impersonate)
    listed = [line for line in notes.splitlines() if line.strip().startswith("- `Password` (Connectivity page)")]
    assert listed == ["   - `Password` (Connectivity page) of `svc-mim-spo@contoso.onmicrosoft.com`: the value of `${env:MAFORGE_SPO_PASSWORD}`"]
    assert "only needed if" not in notes and "leave it empty" not in notes
