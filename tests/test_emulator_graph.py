"""The emulator's Microsoft Graph users: paging, $select/$filter/$top, and delta with
nextLink then deltaLink, including changed, disabled and deleted users; delta tracks only
what it selects, ignores $top, filters by id only; custom attributes (directory extensions,
onPremisesExtensionAttributes) are served, changed and tracked."""

from __future__ import annotations

import pytest
import requests

from maforge.connectors.emulator.graph import directory

PATTI = "patti.fernandez@contoso.onmicrosoft.com"


class Graph:
    def __init__(self, emulator, roles=("User.Read.All",), appidacr="1"):
        self.emulator = emulator
        claims = {"tid": emulator.state.tenant_id, "appid": emulator.state.client_id, "appidacr": appidacr, "roles": list(roles)}
        self.token, _ = emulator.minter.mint(audience="https://graph.microsoft.com", claims=claims)
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(emulator.certs.ca_pem)
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def get(self, url: str, **params):
        if not url.startswith("https://"):
            url = self.emulator.graph_url + url
        return self.session.get(url, params=params or None, timeout=30)

    def all_pages(self, url: str, **params) -> tuple[list[dict], dict]:
        values, answer = [], self.get(url, **params)
        while True:
            assert answer.status_code == 200, answer.text
            body = answer.json()
            values += body["value"]
            if "@odata.nextLink" not in body:
                return values, body
            assert "$skiptoken=" in body["@odata.nextLink"]
            answer = self.get(body["@odata.nextLink"])


@pytest.fixture
def graph(emulator_factory):
    return Graph(emulator_factory(profiles=120))


def test_users_pages_with_next_links(graph):
    users, last = graph.all_pages("/v1.0/users", **{"$select": "id,userPrincipalName,accountEnabled,department", "$top": "50"})
    assert len(users) == 120
    assert users[0]["userPrincipalName"] == PATTI and users[0]["accountEnabled"] is True
    assert set(users[0]) == {"id", "userPrincipalName", "accountEnabled", "department"}
    assert [u["userPrincipalName"] for u in users if not u["accountEnabled"]] == ["user000050@contoso.onmicrosoft.com", "user000100@contoso.onmicrosoft.com"]
    assert len({u["id"] for u in users}) == 120
    assert last["@odata.context"].endswith("$metadata#users(id,userPrincipalName,accountEnabled,department)")


def test_default_properties_and_a_single_user(graph):
    first = graph.get("/v1.0/users", **{"$top": "1"}).json()["value"][0]
    assert set(first) == {"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}
    assert first["displayName"] == "Patti Fernandez" and first["businessPhones"] == ["+1 425 555 0101"]
    by_id = graph.get(f"/v1.0/users/{first['id']}", **{"$select": "userType,mail"}).json()
    assert by_id["userType"] == "Member" and by_id["mail"] == PATTI
    assert graph.get(f"/v1.0/users/{PATTI}").json()["id"] == first["id"]
    missing = graph.get("/v1.0/users/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_filters_and_limits(graph):
    enabled, _ = graph.all_pages("/v1.0/users", **{"$filter": "accountEnabled eq true", "$select": "accountEnabled", "$top": "999"})
    assert len(enabled) == 118 and all(u["accountEnabled"] for u in enabled)
    starts, _ = graph.all_pages("/v1.0/users", **{"$filter": "startswith(userPrincipalName,'USER0001')"})
    assert [u["userPrincipalName"] for u in starts] == [f"user{i:06d}@contoso.onmicrosoft.com" for i in range(100, 121)]
    both, _ = graph.all_pages("/v1.0/users", **{"$filter": "startswith(userPrincipalName,'user0001') and accountEnabled eq false"})
    assert [u["userPrincipalName"] for u in both] == ["user000100@contoso.onmicrosoft.com"]
    assert graph.get("/v1.0/users", **{"$top": "1000"}).status_code == 400
    assert graph.get("/v1.0/users", **{"$filter": "endswith(mail,'x')"}).json()["error"]["code"] == "Request_UnsupportedQuery"
    assert graph.get("/v1.0/users", **{"$skiptoken": "garbage!"}).status_code == 400


def test_delta_rounds_return_only_changes(graph):
    users, last = graph.all_pages("/v1.0/users/delta", **{"$select": "id,userPrincipalName,department,accountEnabled"})
    assert len(users) == 120 and "@odata.deltaLink" in last
    delta_link = last["@odata.deltaLink"]
    assert "$deltatoken=" in delta_link

    nothing, again = graph.all_pages(delta_link)
    assert nothing == [] and "@odata.deltaLink" in again

    book = directory(graph.emulator.state)
    book.update_user(PATTI, department="Board", jobTitle="Chair")
    book.disable_user("user000030@contoso.onmicrosoft.com")
    gone = users[40]
    book.delete_user(gone["userPrincipalName"])
    changes, after = graph.all_pages(delta_link)
    assert [c.get("userPrincipalName") for c in changes] == [PATTI, "user000030@contoso.onmicrosoft.com", None]
    assert changes[0]["department"] == "Board" and set(changes[0]) == {"id", "userPrincipalName", "department", "accountEnabled"}
    assert changes[1]["accountEnabled"] is False
    assert changes[2] == {"id": gone["id"], "@removed": {"reason": "changed"}}

    later, _ = graph.all_pages(after["@odata.deltaLink"])
    assert later == []
    listed, _ = graph.all_pages("/v1.0/users", **{"$top": "999", "$select": "id"})
    assert gone["id"] not in {u["id"] for u in listed} and len(listed) == 119


def test_graph_needs_a_graph_token_with_a_directory_role(emulator):
    no_role = Graph(emulator, roles=["Mail.Read"])
    answer = no_role.get("/v1.0/users")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "Authorization_RequestDenied"
    spo_token, _ = emulator.minter.mint(audience="https://contoso.sharepoint.com", claims={"roles": ["User.Read.All"]})
    wrong = requests.get(emulator.graph_url + "/v1.0/users", headers={"Authorization": f"Bearer {spo_token}"}, verify=str(emulator.certs.ca_pem), timeout=10)
    assert wrong.status_code == 401


def test_count_needs_eventual_consistency_and_follows_deletions(graph):
    refused = graph.get("/v1.0/users/$count")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "Request_BadRequest"
    counted = graph.session.get(graph.emulator.graph_url + "/v1.0/users/$count", headers={"ConsistencyLevel": "eventual"}, timeout=30)
    assert counted.status_code == 200 and counted.headers["Content-Type"].startswith("text/plain") and counted.text == "120"
    directory(graph.emulator.state).delete_user(PATTI)
    again = graph.session.get(graph.emulator.graph_url + "/v1.0/users/$count", headers={"ConsistencyLevel": "eventual"}, timeout=30)
    assert again.text == "119"


def test_delta_reports_only_changes_to_the_selected_properties(graph):
    book = directory(graph.emulator.state)
    _, narrow = graph.all_pages("/v1.0/users/delta", **{"$select": "id,userPrincipalName,accountEnabled"})
    _, wide = graph.all_pages("/v1.0/users/delta", **{"$select": "id,department"})
    _, default = graph.all_pages("/v1.0/users/delta")  # no $select: Graph's default set is tracked
    book.update_user(PATTI, department="Board")  # selected by `wide` only
    book.update_user("user000040@contoso.onmicrosoft.com", jobTitle="Chair")  # a default property
    book.disable_user("user000041@contoso.onmicrosoft.com")  # selected by `narrow` only
    gone = book.user(book.index("user000042@contoso.onmicrosoft.com"))["id"]
    book.delete_user("user000042@contoso.onmicrosoft.com")  # reported whatever is selected

    seen_narrow, _ = graph.all_pages(narrow["@odata.deltaLink"])
    assert [u.get("userPrincipalName") for u in seen_narrow] == ["user000041@contoso.onmicrosoft.com", None]
    assert seen_narrow[1] == {"id": gone, "@removed": {"reason": "changed"}}
    seen_wide, _ = graph.all_pages(wide["@odata.deltaLink"])
    assert [set(u) for u in seen_wide][0] == {"id", "department"} and seen_wide[0]["department"] == "Board"
    assert [u["id"] for u in seen_wide][1:] == [gone]
    seen_default, _ = graph.all_pages(default["@odata.deltaLink"])
    assert [u.get("jobTitle") for u in seen_default] == ["Chair", None]


def test_delta_ignores_top_and_pages_by_two_hundred(emulator_factory):
    graph = Graph(emulator_factory(profiles=450, throttle="none"))
    first = graph.get("/v1.0/users/delta", **{"$select": "id", "$top": "10"})
    assert first.status_code == 200 and len(first.json()["value"]) == 200
    users, last = graph.all_pages("/v1.0/users/delta", **{"$select": "id", "$top": "999"})
    assert len(users) == 450 and len({u["id"] for u in users}) == 450 and "@odata.deltaLink" in last


def test_delta_filters_by_object_id_only_and_carries_the_filter(graph):
    book = directory(graph.emulator.state)
    ids = [book.user(i)["id"] for i in (3, 7)]
    scoped = " or ".join(f"id eq '{i}'" for i in ids)
    users, last = graph.all_pages("/v1.0/users/delta", **{"$select": "id,department", "$filter": scoped})
    assert sorted(u["id"] for u in users) == sorted(ids)
    book.update_user(7, department="Scoped")
    book.update_user(8, department="Outside")
    changes, _ = graph.all_pages(last["@odata.deltaLink"])
    assert changes == [{"id": ids[1], "department": "Scoped"}]

    def refused(**params) -> str:
        answer = graph.get("/v1.0/users/delta", **params)
        assert answer.status_code == 400, answer.text
        return answer.json()["error"]["code"]

    many = " or ".join(f"id eq '{book.user(i)['id']}'" for i in range(1, 52))
    assert refused(**{"$filter": many}) == "Request_UnsupportedQuery"
    assert refused(**{"$filter": "department eq 'Sales'"}) == "Request_UnsupportedQuery"
    assert refused(**{"$filter": f"id eq '{ids[0]}' and accountEnabled eq true"}) == "Request_UnsupportedQuery"
    assert refused(**{"$orderby": "displayName"}) == "Request_UnsupportedQuery"
    assert refused(**{"$expand": "manager"}) == "Request_UnsupportedQuery"
    # Query options belong to the first request; the links carry them.
    token = last["@odata.deltaLink"].split("$deltatoken=")[1]
    assert refused(**{"$deltatoken": token, "$select": "id,jobTitle"}) == "Request_UnsupportedQuery"
    assert refused(**{"$deltatoken": token, "$filter": scoped}) == "Request_UnsupportedQuery"
    assert refused(**{"$deltatoken": "garbage!"}) == "Request_BadRequest"


def test_custom_attributes_are_selected_changed_and_tracked(graph):
    book = directory(graph.emulator.state)
    cost, division = book.extension("costCenter"), book.extension("division")
    assert cost == "extension_" + graph.emulator.state.client_id.replace("-", "") + "_costCenter"
    users, _ = graph.all_pages("/v1.0/users", **{"$select": f"id,{cost},{division},onPremisesExtensionAttributes", "$top": "999"})
    first, fourth = users[0], users[3]
    assert first[cost] == "CC-1037" and first[division] == "South" and cost not in fourth  # unset: left out
    assert set(first["onPremisesExtensionAttributes"]) == {f"extensionAttribute{n}" for n in range(1, 16)}
    assert first["onPremisesExtensionAttributes"]["extensionAttribute3"] == "Employee" and fourth["onPremisesExtensionAttributes"]["extensionAttribute3"] is None
    assert cost not in graph.get(f"/v1.0/users/{PATTI}").json()  # only on $select
    by_filter, _ = graph.all_pages("/v1.0/users", **{"$filter": f"{cost} eq 'cc-1037'", "$select": "id"})
    assert [u["id"] for u in by_filter] == [first["id"]]

    missing = graph.get("/v1.0/users", **{"$select": cost.replace("costCenter", "shoeSize")})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "Request_UnsupportedQuery"
    assert "does not exist as a declared property or extension property" in missing.json()["error"]["message"]
    assert graph.get("/v1.0/users", **{"$select": "onPremisesExtensionAttributes/extensionAttribute3"}).status_code == 400
    assert graph.get("/v1.0/users/delta", **{"$select": f"id,{cost}x"}).status_code == 400

    _, tracking = graph.all_pages("/v1.0/users/delta", **{"$select": f"id,{cost},onPremisesExtensionAttributes"})
    _, not_tracking = graph.all_pages("/v1.0/users/delta", **{"$select": "id,department"})
    book.update_user(PATTI, **{cost: "CC-9999"})
    book.update_user(2, onPremisesExtensionAttributes={"extensionAttribute3": "Contractor"})
    changes, _ = graph.all_pages(tracking["@odata.deltaLink"])
    assert [c[cost] for c in changes[:1]] == ["CC-9999"]
    attributes = changes[1]["onPremisesExtensionAttributes"]
    assert attributes["extensionAttribute3"] == "Contractor" and attributes["extensionAttribute1"] == "B000002"  # a PATCH changes only what it names
    assert graph.all_pages(not_tracking["@odata.deltaLink"])[0] == []


def test_delta_tracks_the_manager_when_selected(graph):
    book = directory(graph.emulator.state)
    patti, isaiah = book.user(1)["id"], book.user(3)["id"]
    users, last = graph.all_pages("/v1.0/users/delta", **{"$select": "id,manager"})
    assert users[1] == {"id": book.user(2)["id"], "manager@delta": [{"@odata.type": "#microsoft.graph.user", "id": patti}]}
    assert users[0]["manager@delta"] == []  # the CEO has none
    assert graph.get("/v1.0/users", **{"$select": "manager"}).status_code == 400  # /users expands it instead
    book.update_user(2, manager="isaiah.langer@contoso.onmicrosoft.com")
    changes, _ = graph.all_pages(last["@odata.deltaLink"])
    assert changes == [{"id": book.user(2)["id"], "manager@delta": [{"@odata.type": "#microsoft.graph.user", "id": isaiah}]}]
