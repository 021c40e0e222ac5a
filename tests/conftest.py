"""Fixtures shared by maforge's tests."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from maforge.cli import app


@pytest.fixture
def cli():
    """Run the maforge command line in-process: cli("validate", "x.yaml") → Result."""
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run
