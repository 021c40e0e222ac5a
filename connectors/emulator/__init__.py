"""A local stand-in for SharePoint Online and Entra ID that speaks their wire protocols.

It is a separate implementation on purpose: it follows the protocol notes (spo-profiles-api.md),
imports none of maforge's client code, and so catches the client's mistakes instead of
sharing them. One HTTPS listener on 127.0.0.1 serves every "host" under its own path:

    /{tenant-id}/...            Entra ID (discovery, token endpoint, device code)
    /common/...                 Entra ID instance discovery and user realm
    /spo/{tenant}/...           the root site  (https://{tenant}.sharepoint.com)
    /spo/{tenant}-admin/...     the admin site (https://{tenant}-admin.sharepoint.com)
    /graph/v1.0/...             Microsoft Graph
"""
