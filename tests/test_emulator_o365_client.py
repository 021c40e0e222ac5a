"""Proof of fidelity: Office365-REST-Python-Client 3.3.0, an independent implementation of the
SPO wire protocol, reads and sets profile properties against the emulator unchanged
(spo-profiles-api.md §9.3: an access-token callback and the emulator's CA)."""

from __future__ import annotations

import pytest

from emulator_spo_support import APP_ROLES, CLAIMS, LYNNE, PATTI

pytest.importorskip("office365")

from office365.runtime.client_request_exception import ClientRequestException  # noqa: E402
from office365.sharepoint.client_context import ClientContext  # noqa: E402


@pytest.fixture
def ctx(emulator):
    def token():
        access, expires = emulator.minter.mint(
            audience="https://contoso.sharepoint.com",
            claims={"tid": emulator.state.tenant_id, "appid": emulator.state.client_id, "appidacr": "2", "roles": APP_ROLES},
        )
        return {"access_token": access, "token_type": "Bearer", "expires_in": expires}

    return ClientContext(emulator.admin_url).with_access_token(token).with_transport(verify=str(emulator.certs.ca_pem))


def test_reads_a_profile_and_one_property(ctx):
    props = ctx.people_manager.get_properties_for(CLAIMS + PATTI).execute_query()
    assert props.account_name == CLAIMS + PATTI
    assert props.user_profile_properties["PreferredName"] == "Patti Fernandez"
    assert props.user_profile_properties["SPS-Skills"] == "Leadership|Strategy|Public speaking"
    assert props.email == PATTI
    value = ctx.people_manager.get_user_profile_property_for(CLAIMS + PATTI, "Department").execute_query().value
    assert value == "Unassigned"


def test_sets_single_and_multi_valued_properties(ctx, emulator):
    ctx.people_manager.set_single_value_profile_property(CLAIMS + PATTI, "CostCenter", "CC-7777").execute_query()
    ctx.people_manager.set_multi_valued_profile_property(CLAIMS + PATTI, "SPS-Skills", ["Python", "C#"]).execute_query()
    assert ctx.people_manager.get_user_profile_property_for(CLAIMS + PATTI, "CostCenter").execute_query().value == "CC-7777"
    assert ctx.people_manager.get_user_profile_property_for(CLAIMS + PATTI, "SPS-Skills").execute_query().value == "Python|C#"
    assert [(w.property, w.value, w.via) for w in emulator.state.writes] == [("CostCenter", "CC-7777", "rest"), ("SPS-Skills", ["Python", "C#"], "rest")]


def test_errors_surface_as_client_request_exceptions(ctx, emulator):
    with pytest.raises(ClientRequestException) as caught:
        ctx.people_manager.set_single_value_profile_property(CLAIMS + PATTI, "AccountName", "x").execute_query()
    assert "PropertyNotEditableException" in str(caught.value.code)
    assert emulator.state.writes == []


def test_a_batch_of_reads_and_single_value_writes(ctx, emulator):
    write = ctx.people_manager.set_single_value_profile_property(CLAIMS + LYNNE, "CostCenter", "CC-1234")
    first = ctx.people_manager.get_properties_for(CLAIMS + PATTI)
    second = ctx.people_manager.get_properties_for(CLAIMS + LYNNE)
    department = ctx.people_manager.get_user_profile_property_for(CLAIMS + LYNNE, "Department")
    ctx.execute_batch()
    assert write is not None
    assert first.account_name == CLAIMS + PATTI
    assert second.user_profile_properties["CostCenter"] == "CC-1234"  # the write came first in the changeset
    assert department.value == lynne_department(emulator)
    assert [(w.property, w.via) for w in emulator.state.writes] == [("CostCenter", "batch")]


def lynne_department(emulator) -> str:
    index = emulator.state.index_for_account(LYNNE)
    return emulator.state.profile(index)["Department"]
