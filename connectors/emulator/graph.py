"""Endpoints: graph (being written)."""
