"""The model every back-end reads: defaults, immutability, one source of truth."""

from __future__ import annotations

import dataclasses

import pytest

from maforge.compiler import psconnector
from maforge.compiler.model import CAPABILITY_FIELDS
from maforge.compiler.validate import load_spec
from support import FIXTURES

MINIMAL = FIXTURES / "valid" / "minimal.yaml"


def test_capability_defaults_are_the_connectors_own():
    """The schema's documented defaults equal the defaults the connector itself declares,
    so an unset capability means the same in maforge as in the MIM wizard."""
    spec, _ = load_spec(MINIMAL)
    defaults = {d.name: d.default for d in psconnector.CAPABILITIES if d.name}
    for parameter, field in psconnector.CAPABILITY_PARAMETERS:
        value = spec.capabilities.spec_value(field)
        as_mim = ("1" if value else "0") if isinstance(value, bool) else value
        assert as_mim == defaults[parameter], parameter
    assert {f for _, f in psconnector.CAPABILITY_PARAMETERS} == set(CAPABILITY_FIELDS)


def test_model_is_immutable():
    spec, _ = load_spec(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.partitions[0].parameters["x"] = "y"  # type: ignore[index]


def test_defaults_for_a_minimal_spo_connector():
    spec, _ = load_spec(MINIMAL)
    assert spec.connectivity.server == "https://contoso-admin.sharepoint.com"
    assert spec.connectivity.common_module == "maforge-Minimal.psm1"
    assert spec.sharepoint.tenant_id == "contoso.onmicrosoft.com"
    assert [(p.key, p.name, p.object_types) for p in spec.partitions] == [("default", "default", ("user",))]
    assert spec.mim.connector_version == "1.0.419.911"
    assert spec.deprovisioning.action.value == "make-normal-disconnector"
    user = spec.object_type("user")
    assert user.attribute("AccountName").immutable is True


def test_every_element_knows_where_it_was_written():
    spec, _ = load_spec(FIXTURES / "valid" / "environments.yaml")
    flow = spec.export_flows[0].flows[0]
    assert str(flow.loc).endswith("environments.yaml:26:7")
    assert flow.loc.pointer == "/exportFlows/0/attributes/CostCenter"


def test_parameter_catalogue_matches_the_connector():
    names = [d.name for d in psconnector.CONNECTIVITY if d.name]
    assert names[:4] == ["Server", "Domain", "User", "Password"]
    assert len([d for d in psconnector.CAPABILITIES if d.name]) == 17
    assert set(psconnector.SCRIPT_PARAMETERS.values()) <= psconnector.BUILTIN_PARAMETER_NAMES


def test_connector_schema_is_a_valid_draft_2020_12_schema():
    import jsonschema

    from maforge.schemas import load_schema

    schema = load_schema("connector")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_schema_property_has_a_description():
    """The reference docs are generated from the schema: nothing may be undocumented."""
    from maforge.schemas import load_schema

    schema = load_schema("connector")
    missing = []

    def documented(sub):
        if "description" in sub:
            return True
        ref = sub.get("$ref", "")
        return ref.startswith("#/$defs/") and "description" in schema["$defs"][ref.rsplit("/", 1)[-1]]

    def walk(node, path):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if isinstance(sub, dict) and not documented(sub):
                    missing.append(f"{path}/properties/{name}")
            for key, value in node.items():
                if key != "if":  # conditions, not documented fields
                    walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}/{i}")

    walk(schema, "")
    assert missing == []
