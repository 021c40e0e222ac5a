"""The runtime side of maforge: SharePoint Online knowledge, clients and sync logic."""
