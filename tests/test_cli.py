"""The command line behaves like a tool people script against: exit codes, formats, help."""

from __future__ import annotations

import json

import pytest

from maforge import __version__
from support import FIXTURES

VALID = FIXTURES / "valid" / "minimal.yaml"
INVALID = FIXTURES / "rules" / "MF214-export-into-import-only.yaml"


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"maforge {__version__}"


@pytest.mark.parametrize("command", [[], ["validate"], ["init"]])
def test_help_reads_like_a_tool(cli, command):
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output
    if command:
        assert "Exit status" in result.output or "--force" in result.output


def test_valid_spec_exits_zero_with_a_summary(cli):
    result = cli("validate", str(VALID))
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("valid (0 errors, 0 warnings)")


def test_invalid_spec_exits_one_and_names_file_line_col(cli):
    result = cli("validate", str(INVALID))
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith(f"{INVALID}:24:7: error: export flow into 'CostCenter', which is ImportOnly")
    assert first.endswith("(at /exportFlows/0/attributes/CostCenter)")
    assert result.output.splitlines()[-1] == f"{INVALID}: invalid (1 error, 0 warnings)"


def test_all_problems_of_all_files_in_one_run(cli):
    other = FIXTURES / "rules" / "MF220-capabilities.yaml"
    result = cli("validate", str(VALID), str(INVALID), str(other))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert sum(1 for line in lines if ": error: " in line) == 1 + 7
    assert lines[-1] == "3 files checked: 1 valid, 2 invalid (8 errors, 0 warnings)"


def test_missing_file_is_a_usage_error(cli, tmp_path):
    result = cli("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert f"{tmp_path / 'nope.yaml'}: error: no such file" in result.output


def test_directory_is_a_usage_error(cli, tmp_path):
    result = cli("validate", str(tmp_path))
    assert result.exit_code == 2
    assert "is a directory" in result.output


def test_no_arguments_is_a_usage_error(cli):
    assert cli("validate").exit_code == 2


def test_json_format_for_ci(cli):
    result = cli("validate", "--format", "json", str(VALID), str(INVALID))
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["valid"] is False
    assert data["summary"] == {"files": 2, "invalid": 1, "errors": 1, "warnings": 0}
    problem = data["files"][1]["diagnostics"][0]
    assert problem == {
        "severity": "error",
        "code": "MF214",
        "message": "export flow into 'CostCenter', which is ImportOnly: the connector never exports it",
        "file": str(INVALID),
        "line": 24,
        "column": 7,
        "pointer": "/exportFlows/0/attributes/CostCenter",
    }


def test_strict_turns_warnings_into_errors(cli):
    warned = FIXTURES / "valid" / "with-warning.yaml"
    assert cli("validate", str(warned)).exit_code == 0
    result = cli("validate", "--strict", str(warned))
    assert result.exit_code == 1
    assert ": error: parameter 'ApiToken' looks like a secret" in result.output


def test_quiet_prints_problems_only(cli):
    assert cli("validate", "-q", str(VALID)).output == ""


def test_unknown_environment_is_a_usage_error(cli):
    result = cli("validate", "--env", "staging", str(FIXTURES / "valid" / "environments.yaml"))
    assert result.exit_code == 2
    assert "no environment 'staging' (defined: dev, prod)" in result.output


@pytest.mark.parametrize("command", ["validate", "init", "build"])
def test_help_shows_readable_names_not_python_types(cli, command):
    text = cli(command, "--help").output
    for leak in ("Optional", "{specs}", "PosixPath", "NoneType"):
        assert leak not in text, f"{leak!r} in `maforge {command} --help`"
    assert "Usage: maforge" in text or "Usage: root" in text


def test_readme_spec_example_is_valid(tmp_path):
    import re

    from maforge.compiler.validate import check_file
    from support import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (example,) = [block for block in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "apiVersion: maforge/v1" in block]
    spec = tmp_path / "example.yaml"
    spec.write_text(example, encoding="utf-8")
    report = check_file(spec)
    assert [d.format() for d in report.diagnostics if d.is_error] == []


@pytest.mark.parametrize(
    ("command", "status"),
    [
        (["validate", "{missing}.yaml"], 2),
        (["build", "{missing}.yaml", "--out", "{tmp}/o"], 2),
        (["import-ma", "{missing}.xml", "--out", "{tmp}/o"], 2),
        (["diff", "{missing}.xml", "{missing}2.xml"], 2),
        (["apply", "{missing}.json", "--connection", "{connection}"], 2),
        (["import", "{missing}.yaml", "--connection", "{connection}"], 2),
        (["preview", "{missing}.yaml", "--user", "a@contoso.com", "--connection", "{connection}"], 2),
        (["import", "{sample}", "--connection", "{missing}.json"], 2),
        # plan exits 2 for "changes" under --detailed-exitcode (Terraform's convention): a usage
        # error there must not read as changes to a CI script, so plan exits 1 (docs/index.md)
        (["plan", "{missing}.yaml", "--detailed-exitcode"], 1),
    ],
    ids=lambda value: value if isinstance(value, int) else value[0] + (" connection" if "{missing}.json" in value and value[0] == "import" else ""),
)
def test_a_missing_file_is_a_usage_error_for_every_command(cli, tmp_path, command, status):
    """Issue 19: a missing file exited 2 for validate and build but 1 for apply; the docs say
    usage errors exit 2. Every command now names the file and exits as the table says."""
    connection = tmp_path / "connection.json"
    connection.write_text("{}", encoding="utf-8")
    sample = FIXTURES.parents[1] / "samples" / "spo-user-profiles.yaml"
    args = [a.format(missing=tmp_path / "nothere", tmp=tmp_path, connection=connection, sample=sample) for a in command]
    result = cli(*args)
    assert result.exit_code == status, result.output
    assert "nothere" in result.output and "no such file" in result.output


def test_a_damaged_or_foreign_plan_is_named_as_such(cli, tmp_path):
    """Issue 19: a garbage plan was validated as a spec (a pointer to `maforge validate`),
    and a truncated one gave half a sentence ("Unterminated string starting at;")."""
    connection = tmp_path / "connection.json"
    connection.write_text("{}", encoding="utf-8")
    (tmp_path / "garbage.json").write_text("this is no plan\n", encoding="utf-8")
    garbage = cli("apply", str(tmp_path / "garbage.json"), "--connection", str(connection))
    assert garbage.exit_code == 1
    assert "neither a plan saved by `maforge plan --out`" in garbage.output and "maforge validate" not in garbage.output
    (tmp_path / "cut.json").write_text('{\n "format_version": 2,\n "maforge": "0.1.0",\n "connector": "SPO Us', encoding="utf-8")
    cut = cli("apply", str(tmp_path / "cut.json"), "--connection", str(connection))
    assert cut.exit_code == 1
    assert "cut.json:4:15: the plan breaks off here: it was cut short (JSON: unterminated string); make a new one with `maforge plan --out`" in cut.output


def test_an_unreachable_tenant_says_what_to_check(cli, emulator_factory, tmp_path):
    """Issue 19: a stopped emulator gave urllib3's "HTTPSConnectionPool(...): Max retries
    exceeded ... Connection refused" and advice about paths and permissions."""
    emulator = emulator_factory()
    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps(emulator.connection()), encoding="utf-8")
    port = emulator.connection()["admin_url"].split(":")[2].split("/")[0]
    emulator.stop()
    sample = FIXTURES.parents[1] / "samples" / "spo-user-profiles.yaml"
    result = cli("plan", str(sample), "--connection", str(connection))
    assert result.exit_code == 1
    assert f"maforge plan: cannot reach https://127.0.0.1:{port} (connection refused); is the emulator running (`maforge emulator`), and is admin_url in the connection file right?" in result.output
    assert "HTTPSConnectionPool" not in result.output and "permissions" not in result.output
