"""Endpoints: sharepoint (being written)."""
