"""Endpoints: soap (being written)."""
