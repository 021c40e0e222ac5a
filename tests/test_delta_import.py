"""`maforge import --delta` against the emulator's Graph, which reports only changes to the
properties a delta round selects: the import selects the Entra properties the spec depends on,
sees Entra changes to them, never sees edits made in SharePoint itself (a full import does),
and turns into a full import when its watermark tracks the wrong properties or the last full
import is older than --full-after. Graph sources read custom attributes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from maforge.compiler.build import render_outputs, write_build
from maforge.compiler.validate import load_spec
from maforge.connectors.emulator.graph import directory
from maforge.connectors.sync import runner

from emulator_spo_support import CLAIMS, PATTI, Spo

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SAMPLE = SAMPLES / "spo-user-profiles.yaml"


def _connection(emulator, folder: Path) -> str:
    path = folder / "connection.json"
    path.write_text(json.dumps(emulator.connection()), encoding="utf-8")
    return str(path)


def _header(state: Path) -> dict:
    with open(state / "snapshot.jsonl", encoding="utf-8") as handle:
        return json.loads(handle.readline())


def _values(state: Path, upn: str) -> dict:
    with open(state / "snapshot.jsonl", encoding="utf-8") as handle:
        handle.readline()
        for line in handle:
            entry = json.loads(line)
            if entry["upn"] == upn:
                return entry["values"]
    raise AssertionError(f"{upn} is not in the snapshot")


def _with_sources(folder: Path, sources: str) -> Path:
    """The SPO sample with its `sources:` section replaced."""
    text = SAMPLE.read_text(encoding="utf-8")
    start, end = text.index("\nsources:\n") + 1, text.index("\nenvironments:\n") + 1
    path = folder / "entra.yaml"
    path.write_text(text[:start] + sources + text[end:], encoding="utf-8")
    return path


def test_delta_sees_entra_changes_the_spec_depends_on_but_never_sharepoint_edits(cli, emulator_factory, tmp_path):
    emu = emulator_factory(profiles=60, throttle="none")
    connection, state = _connection(emu, tmp_path), tmp_path / "state"
    assert cli("import", str(SAMPLE), "--connection", connection, "--out", str(state)).exit_code == 0
    tracked = _header(state)["full_import"]["select"]
    assert tracked[:3] == ["id", "userPrincipalName", "accountEnabled"]
    assert {"jobTitle", "department", "officeLocation", "displayName", "businessPhones", "manager"} <= set(tracked)

    graph, admin = directory(emu.state), Spo(emu)
    seen, unseen = "user000040@contoso.onmicrosoft.com", "user000041@contoso.onmicrosoft.com"
    graph.update_user(seen, jobTitle="Chair")  # feeds SPS-JobTitle through SharePoint's own sync
    graph.update_user(unseen, employeeId="E9999")  # feeds nothing the spec manages: not tracked
    for upn in (seen, unseen):
        assert admin.set_single(CLAIMS + upn, "CostCenter", "CC-NEW").status_code == 200
    assert Spo(emu, upn=PATTI).set_single(CLAIMS + PATTI, "AboutMe", "Written in SharePoint", admin=False).status_code == 200
    about_before = _values(state, PATTI)["AboutMe"]

    delta = cli("import", str(SAMPLE), "--connection", connection, "--out", str(state), "--delta")
    assert delta.exit_code == 0, delta.output
    assert _values(state, seen)["CostCenter"] == "CC-NEW"  # re-read: Graph reported the job title
    assert _values(state, unseen)["CostCenter"] != "CC-NEW"
    assert _values(state, PATTI)["AboutMe"] == about_before  # SharePoint edits reach no Graph feed

    full = cli("import", str(SAMPLE), "--connection", connection, "--out", str(state))
    assert full.exit_code == 0, full.output
    assert _values(state, PATTI)["AboutMe"] == "Written in SharePoint"
    assert _values(state, unseen)["CostCenter"] == "CC-NEW"


def test_a_delta_becomes_a_full_import_when_its_watermark_cannot_serve(cli, emulator_factory, tmp_path):
    emu = emulator_factory(profiles=30, throttle="none")
    connection, state = _connection(emu, tmp_path), tmp_path / "state"

    def run(spec: Path, *options: str):
        return cli("import", str(spec), "--connection", connection, "--out", str(state), *options)

    assert run(SAMPLE).exit_code == 0
    first = _header(state)["full_import"]
    quiet = run(SAMPLE, "--delta", "--full-after", "1h")
    assert quiet.exit_code == 0 and "full import" not in quiet.output
    assert _header(state)["full_import"] == first  # a delta keeps the full import's time and select

    # The spec now reads a Graph field the last full import did not select.
    cost = directory(emu.state).extension("costCenter")
    graph_spec = _with_sources(tmp_path, GRAPH_SOURCE.format(cost=cost))
    changed = run(graph_spec, "--delta")
    assert changed.exit_code == 0
    assert "running a full import instead of --delta" in changed.output and f"now also {cost}" in changed.output
    assert cost in _header(state)["full_import"]["select"]

    # The last full import is two days old.
    lines = (state / "snapshot.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    header["full_import"]["at"] = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (state / "snapshot.jsonl").write_text(json.dumps(header) + "\n" + "".join(lines[1:]), encoding="utf-8")
    aged = run(graph_spec, "--delta", "--full-after", "1d")
    assert aged.exit_code == 0 and "longer than --full-after 24 h" in aged.output
    assert _header(state)["full_import"]["at"] != header["full_import"]["at"]

    # A snapshot from before maforge recorded what its delta link tracks.
    lines = (state / "snapshot.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    del header["full_import"]
    (state / "snapshot.jsonl").write_text(json.dumps(header) + "\n" + "".join(lines[1:]), encoding="utf-8")
    legacy = run(graph_spec, "--delta")
    assert legacy.exit_code == 0 and "does not record what its delta link tracks" in legacy.output

    bad = run(graph_spec, "--delta", "--full-after", "soon")
    assert bad.exit_code == 2 and "--full-after" in bad.output and "not a duration" in bad.output


def test_the_built_package_takes_full_after(emulator_factory, tmp_path, capsys):
    emu = emulator_factory(profiles=30, throttle="none")
    spec, _ = load_spec(SAMPLE)
    write_build(render_outputs(spec, str(SAMPLE)), tmp_path / "build")
    package = tmp_path / "build" / "python" / "spo_user_profiles_connector"
    connection, state = _connection(emu, tmp_path), str(tmp_path / "state")
    runner.main(package, ["import", "--connection", connection, "--out", state])
    runner.main(package, ["import", "--connection", connection, "--out", state, "--delta", "--full-after", "0"])
    assert "running a full import instead of --delta: the last full import ran" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        runner.main(package, ["import", "--connection", connection, "--out", state, "--delta", "--full-after", "1x"])
    assert usage.value.code == 2 and "argument --full-after" in capsys.readouterr().err


GRAPH_SOURCE = """sources:
  entra:
    type: graph-users
    fields: [userPrincipalName, {cost}, onPremisesExtensionAttributes.extensionAttribute3]
    mvObjectType: person
    key: userPrincipalName
    join:
      - criteria:
          - mv: accountName
            expression: '"i:0#.f|membership|" & [userPrincipalName]'
    project: true
    attributes:
      accountName:
        expression: '"i:0#.f|membership|" & [userPrincipalName]'
      upn:
        from: userPrincipalName
      costCenter:
        from: {cost}
      aboutMe:
        expression: 'Coalesce([onPremisesExtensionAttributes.extensionAttribute3], "No worker type")'

"""


def test_plan_reads_directory_extensions_and_on_premises_extension_attributes(cli, emulator_factory, tmp_path):
    emu = emulator_factory(profiles=12, throttle="none")
    graph = directory(emu.state)
    cost = graph.extension("costCenter")
    spec = _with_sources(tmp_path, GRAPH_SOURCE.format(cost=cost))
    connection = _connection(emu, tmp_path)
    assert cli("validate", str(spec)).exit_code == 0

    def planned() -> dict[str, dict[str, object]]:
        result = cli("plan", str(spec), "--connection", connection, "--format", "json")
        assert result.exit_code == 0, result.output
        plan = json.loads(result.stdout)
        return {p["account"].removeprefix(CLAIMS): {c["property"]: c["after"] for c in p["changes"]} for p in plan["profiles"]}

    before = planned()
    assert before[PATTI]["CostCenter"] == "CC-1037" and before[PATTI]["AboutMe"] == "Employee"
    assert before[emu.state.user(4).upn]["AboutMe"] == "No worker type"  # extensionAttribute3 unset
    lynne = "lynne.robbins@contoso.onmicrosoft.com"
    graph.update_user(lynne, **{cost: "CC-4242"}, onPremisesExtensionAttributes={"extensionAttribute3": "Contractor"})
    after = planned()
    assert after[lynne]["CostCenter"] == "CC-4242" and after[lynne]["AboutMe"] == "Contractor"

    missing = _with_sources(tmp_path, GRAPH_SOURCE.format(cost=cost.replace("costCenter", "shoeSize")))
    refused = cli("plan", str(missing), "--connection", connection)
    assert refused.exit_code == 1 and "does not exist as a declared property or extension property" in refused.output
