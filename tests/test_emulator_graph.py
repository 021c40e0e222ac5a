"""The emulator's Microsoft Graph users: paging, $select/$filter/$top, and delta with
nextLink then deltaLink, including changed, disabled and deleted users."""

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
    users, last = graph.all_pages("/v1.0/users/delta", **{"$select": "id,userPrincipalName,department,accountEnabled", "$top": "40"})
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
