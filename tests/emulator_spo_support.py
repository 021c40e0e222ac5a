"""Helpers for the SharePoint/Graph emulator tests: tokens minted directly by the emulator
and a requests session that trusts its CA (and ignores REQUESTS_CA_BUNDLE)."""

from __future__ import annotations

import requests

PATTI = "patti.fernandez@contoso.onmicrosoft.com"
LYNNE = "lynne.robbins@contoso.onmicrosoft.com"
CLAIMS = "i:0#.f|membership|"
VERBOSE = "application/json;odata=verbose"
NOMETA = "application/json;odata=nometadata"
APP_ROLES = ["Sites.FullControl.All", "User.ReadWrite.All", "TermStore.ReadWrite.All"]


class Spo:
    """One emulator, seen by a client with a chosen token."""

    def __init__(self, emulator, roles=None, upn=None, appidacr="2", audience="https://contoso.sharepoint.com", claims=None):
        self.emulator = emulator
        base = {"tid": emulator.state.tenant_id, "appid": emulator.state.client_id, "appidacr": appidacr}
        if upn:
            base.update({"upn": upn, "scp": "AllSites.Manage User.ReadWrite.All"})
        else:
            base["roles"] = APP_ROLES if roles is None else roles
        base.update(claims or {})
        self.token, _ = emulator.minter.mint(audience=audience, claims=base)
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(emulator.certs.ca_pem)

    def url(self, path: str, admin: bool = True) -> str:
        return (self.emulator.admin_url if admin else self.emulator.spo_url) + path

    def headers(self, accept: str = NOMETA, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": accept, **extra}

    def get(self, path: str, accept: str = NOMETA, admin: bool = True, **kw):
        return self.session.get(self.url(path, admin), headers=self.headers(accept), timeout=30, **kw)

    def post(self, path: str, body=None, accept: str = NOMETA, admin: bool = True, data=None, headers=None, **kw):
        head = self.headers(accept, **(headers or {}))
        if body is not None:
            head.setdefault("Content-Type", "application/json;odata=verbose")
            return self.session.post(self.url(path, admin), json=body, headers=head, timeout=30, **kw)
        return self.session.post(self.url(path, admin), data=data if data is not None else b"", headers=head, timeout=30, **kw)

    def set_single(self, account: str, name: str, value, accept: str = NOMETA, admin: bool = True):
        return self.post("/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty", {"accountName": account, "propertyName": name, "propertyValue": value}, accept, admin)

    def set_multi(self, account: str, name: str, values, accept: str = NOMETA, admin: bool = True):
        return self.post("/_api/SP.UserProfiles.PeopleManager/SetMultiValuedProfileProperty", {"accountName": account, "propertyName": name, "propertyValues": values}, accept, admin)

    def property(self, upn: str, name: str) -> str:
        answer = self.get(f"/_api/SP.UserProfiles.PeopleManager/GetUserProfilePropertyFor(accountName=@v,propertyName='{name}')?@v='{CLAIMS.replace('#', '%23')}{upn}'")
        assert answer.status_code == 200, answer.text
        return answer.json()["value"]


def odata_error(answer, key: str = "odata.error") -> tuple[str, str]:
    body = answer.json()[key]
    return body["code"], body["message"]["value"]
