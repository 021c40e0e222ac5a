"""Every command's help shows examples, and every option an example uses exists."""

from __future__ import annotations

import re

import pytest

from maforge.cli import app


def _commands() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_the_top_level_help_shows_examples(cli):
    shown = cli("--help").output
    assert "Examples:" in shown and "$ maforge build" in shown


@pytest.mark.parametrize("command", _commands())
def test_each_command_shows_examples_that_use_only_its_own_options(cli, command):
    shown = cli(command, "--help").output
    assert "Examples:" in shown, f"maforge {command} --help shows no example"
    examples = [line.strip()[2:] for line in shown.splitlines() if line.strip().startswith("$ maforge ")]
    assert examples, command
    for example in examples:
        words = example.split()
        assert words[1] == command, example
        for option in re.findall(r"(?<!\S)(--?[a-zA-Z][\w-]*)", example):
            assert re.search(rf"(?<![\w-]){re.escape(option.split('=')[0])}(?![\w-])", shown), f"{example}: {option} is not an option of maforge {command}"


def _last_line(result) -> str:
    lines = [line for line in (result.stderr if hasattr(result, "stderr") and result.stderr else result.output).splitlines() if line.strip()]
    return lines[-1]


STEP = re.compile(r"\b(run|make|give|pass|fix|use|check|start|choose|confirm|raise|review|build|write)\b", re.IGNORECASE)


def test_errors_end_with_the_next_step_to_take(cli, emulator, tmp_path):
    import json

    from support import SAMPLES

    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps(emulator.connection()), encoding="utf-8")
    broken_connection = tmp_path / "broken.json"
    broken_connection.write_text('{"spo_url": 3}', encoding="utf-8")
    bad_spec = tmp_path / "bad.yaml"
    bad_spec.write_text("apiVersion: maforge/v1\nkind: Connector\nname: X\ntype: nonsense\n", encoding="utf-8")
    foreign = tmp_path / "plan.json"
    spec = str(SAMPLES / "spo-user-profiles.yaml")
    assert cli("plan", spec, "--connection", str(connection), "--out", str(foreign)).exit_code in (0, 2)
    data = json.loads(foreign.read_text(encoding="utf-8"))
    data["tenant"] = "fabrikam"
    foreign.write_text(json.dumps(data), encoding="utf-8")
    failures = {
        "no connection": cli("plan", spec),
        "a broken connection file": cli("plan", spec, "--connection", str(broken_connection)),
        "an invalid spec": cli("build", str(bad_spec), "--out", str(tmp_path / "out")),
        "a missing MA export": cli("import-ma", str(tmp_path / "missing.xml"), "--out", str(tmp_path)),
        "a plan for another tenant": cli("apply", str(foreign), "--connection", str(connection)),
        "no snapshot": cli("plan", spec, "--refresh=false", "--snapshot", str(tmp_path / "none")),
        "a stale reference": cli("schema-docs", "--check", str(tmp_path / "missing.md")),
    }
    for what, result in failures.items():
        assert result.exit_code != 0, what
        assert STEP.search(_last_line(result)), f"{what}: {_last_line(result)!r} names no next step"


@pytest.mark.parametrize("command", ["import", "plan", "apply"])
def test_the_built_package_shows_an_example_for_each_command(command, capsys):
    from maforge.connectors.sync.runner import _parser

    parser = _parser("python -m spo_connector")
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--help"])
    shown = capsys.readouterr().out
    assert f"example:\n  python -m spo_connector {command} " in shown
