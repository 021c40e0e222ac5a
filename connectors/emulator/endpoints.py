"""Importing this module registers every endpoint of the emulator (each module registers its
routes with server.route when imported)."""

from . import batch, bulk, entra, graph, search, sharepoint, soap, stats  # noqa: F401
