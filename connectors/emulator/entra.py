"""Endpoints: entra (being written)."""
