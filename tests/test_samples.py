"""The bundled samples are what new users copy: they must be valid and mean what they say."""

from __future__ import annotations

import csv
import re

import pytest

from maforge.compiler import psconnector
from maforge.compiler.model import Access, ConnectorType, MappingKind, WhenNull
from maforge.compiler.validate import check_file, load_spec
from support import SAMPLES

SAMPLE_SPECS = sorted(p for p in SAMPLES.rglob("*.yaml"))


def test_samples_exist():
    names = {p.relative_to(SAMPLES).as_posix() for p in SAMPLE_SPECS}
    assert {"spo-user-profiles.yaml", "powershell/flatfile-hr.yaml"} <= names


@pytest.mark.parametrize("spec", SAMPLE_SPECS, ids=lambda p: p.relative_to(SAMPLES).as_posix())
def test_sample_is_valid_without_warnings_in_every_environment(spec):
    report = check_file(spec)
    assert [d.format() for d in report.diagnostics] == []


def test_spo_sample_is_the_connector_admins_build_by_hand():
    spec, warnings = load_spec(SAMPLES / "spo-user-profiles.yaml")
    assert warnings == []
    assert spec.type is ConnectorType.SPO_USER_PROFILES
    assert spec.connectivity.common_module == "FIMPowerShellConnectorModule.psm1"
    assert spec.connectivity.password == "${env:MAFORGE_SPO_PASSWORD}"
    assert spec.parameter("AdminUrl").value == "https://contoso-admin.sharepoint.com"
    user = spec.object_type("user")
    assert user.anchor == ("AccountName",)
    assert user.attribute("AccountName").access is Access.IMPORT_ONLY
    assert user.attribute("SPS-Skills").multi_valued
    managed = {f.target for s in spec.export_flows for f in s.flows}
    assert {"FirstName", "LastName", "PreferredName", "WorkEmail", "Department", "SPS-JobTitle", "Office",
            "WorkPhone", "CellPhone", "Manager", "AboutMe", "SPS-Skills"} <= managed
    kinds = {f.mapping.kind for s in spec.export_flows for f in s.flows}
    assert {MappingKind.DIRECT, MappingKind.CONSTANT, MappingKind.EXPRESSION} <= kinds
    assert any(f.when_null is WhenNull.CLEAR for s in spec.export_flows for f in s.flows)
    assert [(c.mv_attribute, c.mapping.source) for c in spec.join[0].criteria] == [("accountName", "AccountName")]
    assert [p.name for p in spec.run_profiles] == [
        "Full Import", "Delta Import", "Full Synchronization", "Delta Synchronization", "Export"]


def test_spo_sample_source_is_the_bundled_hr_file():
    spec, _ = load_spec(SAMPLES / "spo-user-profiles.yaml")
    (hr,) = spec.sources
    assert hr.path == (SAMPLES / "hr.csv").resolve()
    with open(hr.path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 25
    assert len({r["UPN"] for r in rows}) == 25
    assert any(not r["PreferredName"] for r in rows), "Coalesce needs a user without a preferred name"
    assert any(r["FirstName"] != r["FirstName"].encode("ascii", "ignore").decode() for r in rows), "a name with diacritics"
    assert any(";" in r["Skills"] for r in rows), "multi-valued skills"


def test_environment_overlays_of_the_spo_sample():
    dev, _ = load_spec(SAMPLES / "spo-user-profiles.yaml", "dev")
    prod, _ = load_spec(SAMPLES / "spo-user-profiles.yaml", "prod")
    assert dev.sharepoint.tenant == "contosodev"
    assert dev.parameter("AdminUrl").value == "https://contosodev-admin.sharepoint.com"
    assert prod.mim.id == "{5C0E8F21-9A3B-4D6E-8F12-7B4A2C9D0E63}"


_READS = re.compile(r"""\$ConfigParameters\[\s*["']([^"']+)["']\s*\]""")


def test_powershell_sample_scripts_only_read_declared_parameters():
    spec, _ = load_spec(SAMPLES / "powershell" / "flatfile-hr.yaml")
    allowed = set(psconnector.BUILTIN_PARAMETER_NAMES)
    for parameter in spec.parameters:
        allowed |= {psconnector.scoped_name(parameter.name, page) for page in ("global", "partition", "run-step")}
    reads = set()
    for script in spec.scripts:
        reads |= set(_READS.findall(script.path.read_text(encoding="utf-8")))
    assert reads, "the sample scripts read their parameters"
    assert reads <= allowed, f"read but never declared: {sorted(reads - allowed)}"
