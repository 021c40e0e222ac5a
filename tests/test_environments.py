"""One spec, several environments: overlays merge like JSON Merge Patch and are checked too."""

from __future__ import annotations

import dataclasses

from maforge.compiler.validate import check_file, load_spec
from support import FIXTURES

SPEC = FIXTURES / "valid" / "environments.yaml"


def test_overlay_changes_only_what_it_names():
    base, _ = load_spec(SPEC)
    prod, _ = load_spec(SPEC, "prod")
    assert (base.name, prod.name) == ("Profiles", "Profiles (prod)")
    assert (base.mim.server, prod.mim.server) == ("MIM-DEV", "MIM-PROD")
    assert (base.sharepoint.tenant, prod.sharepoint.tenant) == ("contosodev", "contoso")
    assert prod.sharepoint.admin_url == "https://contoso-admin.sharepoint.com"
    assert prod.parameter("AdminUrl").value == "https://contoso-admin.sharepoint.com"
    # Lists are replaced whole, mappings merge: the schema is untouched.
    assert prod.run_profiles[0].steps[0].page_size == 100
    assert prod.run_profiles[0].steps[0].thresholds.objects == 5000
    assert prod.object_types == base.object_types
    assert prod.environment == "prod" and base.environment is None


def test_empty_overlay_is_the_base():
    base, _ = load_spec(SPEC)
    dev, _ = load_spec(SPEC, "dev")
    assert dataclasses.replace(dev, environment=None) == base


def test_null_in_an_overlay_removes_a_key(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text().replace("  dev: {}", "  dev:\n    mim: {server: null}"))
    dev, _ = load_spec(spec, "dev")
    assert dev.mim.server is None


def test_problem_in_an_overlay_is_reported_at_the_overlay_line(tmp_path):
    spec = tmp_path / "spec.yaml"
    text = SPEC.read_text().replace(
        "        - {type: export, pageSize: 100, thresholds: {objects: 5000}}",
        "        - {type: delta-import, pageSize: 100}",
    )
    spec.write_text(text)
    report = check_file(spec, "spec.yaml")
    assert [d.format() for d in report.diagnostics] == [
        "spec.yaml:40:11: error: in environment 'prod': 'Export' runs a delta import, but capabilities.deltaImport is false "
        "(at /environments/prod/runProfiles/Export/0)"
    ]


def test_schema_error_in_an_overlay_names_the_environment(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text().replace("    sharepoint: {tenant: contoso}", "    sharepoint: {tenant: Contoso}"))
    report = check_file(spec, "spec.yaml", ["prod"])
    assert [d.format() for d in report.diagnostics] == [
        "spec.yaml:35:26: error: in environment 'prod': 'Contoso' is not a valid value for 'tenant': tenant name in lower case, "
        "as in the host names: `contoso` for contoso.sharepoint.com and contoso-admin.sharepoint.com (at /environments/prod/sharepoint/tenant)"
    ]


def test_only_the_named_environment_is_checked_and_the_base_may_be_incomplete(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text().replace("sharepoint: {tenant: contosodev}\n", "").replace("  dev: {}", "  dev: {sharepoint: {tenant: contosodev}}"))
    assert not check_file(spec).valid  # the base alone has no tenant
    assert check_file(spec, environments=["dev"]).valid
    assert load_spec(spec, "dev")[0].sharepoint.tenant == "contosodev"


def test_overlay_may_not_change_the_spec_language(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text().replace("  dev: {}", "  dev: {apiVersion: maforge/v2}"))
    report = check_file(spec, "spec.yaml")
    assert [d.format() for d in report.diagnostics] == [
        "spec.yaml:31:9: error: an environment overlay cannot change 'apiVersion': it is the same in every environment "
        "(at /environments/dev/apiVersion)"
    ]
