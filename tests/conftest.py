"""Fixtures shared by maforge's tests."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from maforge.cli import app


@pytest.fixture(autouse=True)
def _in_a_folder_of_its_own(tmp_path_factory, monkeypatch):
    """Every test runs in its own working folder: the commands' default state folder
    (`.maforge/`: snapshot, join state) is relative to it, and must never be the checkout's.
    Not inside tmp_path, whose listing some tests check."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def cli():
    """Run the maforge command line in-process: cli("validate", "x.yaml") → Result."""
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


# Tests run the emulator's realistic limits (docs/emulator.md) on a fast clock: the 5-minute
# budget window lasts half a second and a 70-250 s Retry-After one second, so a test meets
# SharePoint's behaviour without its waits. A test that needs real time passes time_scale.
TEST_TIME_SCALE = 600.0


@pytest.fixture
def emulator(tmp_path):
    """A fresh emulated tenant (25 profiles, realistic limits on a fast clock) on a free port,
    in this process."""
    from maforge.connectors.emulator.server import Emulator, EmulatorConfig

    with Emulator(EmulatorConfig(time_scale=TEST_TIME_SCALE), tmp_path) as running:
        yield running


@pytest.fixture
def emulator_factory(tmp_path):
    """Start emulators with a given configuration; all are stopped after the test."""
    from maforge.connectors.emulator.server import Emulator, EmulatorConfig

    started = []

    def start(**options):
        folder = tmp_path / f"emulator{len(started)}"
        folder.mkdir()
        options.setdefault("time_scale", TEST_TIME_SCALE)
        running = Emulator(EmulatorConfig(**options), folder).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
