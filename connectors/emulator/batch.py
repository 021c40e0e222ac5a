"""Endpoints: batch (being written)."""
