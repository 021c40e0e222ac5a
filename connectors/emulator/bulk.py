"""Endpoints: bulk (being written)."""
