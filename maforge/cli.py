"""The ``maforge`` command line.

Each command is a thin shell over a pipeline stage: parse the options, call the stage,
print its result, exit with a code scripts can rely on. No command builds XML, parses
YAML or talks HTTP itself.
"""

from __future__ import annotations

import contextlib
import enum
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from maforge import __version__

app = typer.Typer(
    name="maforge",
    help=(
        "Connector-as-code for Microsoft Identity Manager and SharePoint Online user profiles.\n\n"
        "Describe a MIM \"PowerShell (Microsoft)\" connector in one reviewed YAML file, check it, "
        "build the MA export and its Python runtime, and plan and apply SharePoint profile changes.\n\n"
        "Examples:\n\n"
        "$ maforge init spo.yaml --tenant contoso\n\n"
        "$ maforge build spo.yaml --out out/spo\n\n"
        "$ maforge plan spo.yaml --connection connection.json --out plan.json\n\n"
        "Each command's --help shows its own examples."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


class AutoMode(str, enum.Enum):
    """auto / always / never: --bulk and --check-prior."""

    auto = "auto"
    always = "always"
    never = "never"


class YesNo(str, enum.Enum):
    true = "true"
    false = "false"


class ConnectorKind(str, enum.Enum):
    spo_user_profiles = "spo-user-profiles"
    powershell = "powershell"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"maforge {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", "-V", help="Print maforge's version and exit.", callback=_version, is_eager=True),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Log every HTTP request (method, URL, status, time, request id, retries and waits) to stderr, secrets redacted."),
    ] = False,
) -> None:
    """maforge: connector-as-code for MIM and SharePoint Online user profiles."""
    if verbose or "maforge.logs" in sys.modules:  # `build` stays free of logging's import time
        from maforge.logs import configure_logging

        configure_logging(verbose)


@app.command()
def validate(
    specs: Annotated[list[Path], typer.Argument(help="Spec files to check (YAML or JSON).", show_default=False, metavar="SPEC...")],
    env: Annotated[
        Optional[list[str]],
        typer.Option(
            "--env",
            "-e",
            metavar="NAME",
            help="Check only this environment's merged spec (repeatable). Default: the base spec and every environment.",
        ),
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="text for people, json for CI.")] = OutputFormat.text,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print problems only, no summary line.")] = False,
) -> None:
    """Check specs: JSON Schema, MIM's rules, every problem with its line.

    Examples:

    $ maforge validate samples/spo-user-profiles.yaml

    $ maforge validate specs/*.yaml --env prod --format json

    Every problem is printed as FILE:LINE:COL: error|warning: MESSAGE (at /json/pointer),
    all problems of a run at once, then a summary line.

    Exit status: 0 valid, 1 invalid, 2 usage error or unreadable file.
    """
    from maforge.compiler.diagnostics import Severity, reports_to_json, summary_line
    from maforge.compiler.validate import check_file

    reports = []
    for spec in specs:
        report = check_file(spec, str(spec), env)
        if strict:
            report.diagnostics = [
                d if d.is_error else type(d)(Severity.ERROR, d.code, d.message, d.file, d.position, d.pointer) for d in report.diagnostics
            ]
        reports.append(report)
    if output is OutputFormat.json:
        typer.echo(reports_to_json(reports))
    else:
        for report in reports:
            for diagnostic in sorted(report.diagnostics, key=lambda d: d.sort_key()):
                typer.echo(diagnostic.format())
        if not quiet:
            typer.echo(summary_line(reports))
    if any(not r.readable for r in reports):
        raise typer.Exit(2)
    if any(not r.valid for r in reports):
        raise typer.Exit(1)


@app.command()
def build(
    spec: Annotated[Path, typer.Argument(help="The connector spec (YAML or JSON).", show_default=False, metavar="SPEC")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder; replaced as a whole on success.", show_default=False, metavar="DIR")
    ],
    env: Annotated[
        Optional[str], typer.Option("--env", "-e", help="Merge this environment overlay from the spec first.", metavar="NAME")
    ] = None,
) -> None:
    """Compile a spec into the MA export MIM imports, with its scripts and notes.

    Examples:

    $ maforge build samples/spo-user-profiles.yaml --out out/spo

    $ maforge build spo.yaml --env prod --out out/prod

    Writes OUT/<ma-name>.xml (Synchronization Service Manager → Management Agents → Import
    Management Agent), OUT/scripts/ with every embedded script, and OUT/README.md with the
    steps after import. The same spec gives byte-identical output on any machine. Nothing is
    written unless everything succeeds.

    Exit status: 0 built, 1 invalid spec or build error, 2 usage error.
    """
    from maforge.atomic import OutputDirectoryError
    from maforge.compiler.build import render_outputs, write_build
    from maforge.compiler.powershell.scriptset import ScriptError

    model = _load_model(spec, env, "build")
    try:
        result = render_outputs(model, str(spec))
        write_build(result, out)
    except ScriptError as error:
        typer.echo(f"maforge build: {error}; nothing was written", err=True)
        raise typer.Exit(1) from None
    except (OutputDirectoryError, OSError, ValueError) as error:
        typer.echo(f"maforge build: {error}; nothing was written", err=True)
        raise typer.Exit(2 if isinstance(error, OutputDirectoryError) else 1) from None
    scripts = sum(1 for name in result.files if name.startswith("scripts/"))
    typer.echo(f"wrote {out / result.xml_name}, {scripts} scripts in {out / 'scripts'}, and {out / 'README.md'}")
    count = len(result.scripted_rules)
    if result.extension is not None:
        typer.echo(f"wrote the rules extension {result.extension.dll} for {count} flow rule{'s' if count != 1 else ''} in {out / result.extension.folder}; compile it on the MIM server with its build.ps1")
        if result.extension.by_hand:
            typer.echo(f"warning: {result.extension.by_hand} member{'s' if result.extension.by_hand != 1 else ''} of the rules extension must be written by hand (listed in {out / 'README.md'})", err=True)
    elif count:
        typer.echo(
            f"warning: {count} mapping{'s' if count != 1 else ''} need{'' if count != 1 else 's'} a MIM rules extension, "
            f"and mim.rulesExtension names none (listed in {out / 'README.md'})",
            err=True,
        )


@app.command("import-ma")
def import_ma(
    export: Annotated[Path, typer.Argument(help="An MA export (<export-ma>) or a server configuration file (<saved-ma-configuration>).", show_default=False, metavar="EXPORT.xml")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the spec and its scripts.", show_default=False, metavar="DIR")],
    mv: Annotated[
        Optional[Path],
        typer.Option("--mv", help="The server configuration's MV.xml, where a saved-ma-configuration MA's import flows live.", metavar="MV.xml"),
    ] = None,
    report: Annotated[bool, typer.Option("--report", help="List what the spec carries verbatim, and why.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a spec of the same name in DIR.")] = False,
) -> None:
    """Turn an existing MA into a spec you can review, version and build.

    Examples:

    $ maforge import-ma exports/HR.xml --out specs --report

    Writes DIR/<ma-name>.yaml and DIR/scripts/ with every embedded script. The spec builds
    back into the same MA: what it cannot model yet is carried verbatim in mim.preserve
    (see --report), so nothing is dropped. Only this MA's own import flows are kept.

    Exit status: 0 imported, 1 the file is not an MA export or is unsafe, 2 usage error.
    """
    from maforge.compiler.mim.decompile import ImportError_
    from maforge.compiler.mim.importma import import_ma as run_import, planned_spec_name

    if not export.is_file():
        typer.echo(f"maforge import-ma: {export}: no such file; check the path (an MA export is the XML that Synchronization Service Manager's Export Management Agent writes)", err=True)
        raise typer.Exit(2)
    try:
        target = planned_spec_name(export, mv)
        if target is not None and (out / target).exists() and not force:
            typer.echo(f"maforge import-ma: {out / target} already exists: choose another folder or add --force", err=True)
            raise typer.Exit(1)
        result = run_import(export, out, mv, str(export))
    except ImportError_ as error:
        typer.echo(f"maforge import-ma: {error}", err=True)
        raise typer.Exit(1) from None
    scripts = sum(1 for name in result.files if name.startswith("scripts/"))
    typer.echo(f"wrote {result.spec_path} and {scripts} script{'s' if scripts != 1 else ''}")
    if result.carried:
        typer.echo(f"{len(result.carried)} part{'s' if len(result.carried) != 1 else ''} of the MA {'are' if len(result.carried) != 1 else 'is'} carried verbatim in mim.preserve" + ("" if report else " (--report lists them)"))
    if report:
        for item in result.carried:
            typer.echo(f"  carried  {item.path}: {item.reason}")
        for note in result.notes:
            typer.echo(f"  note     {note}")


@app.command()
def diff(
    left: Annotated[Path, typer.Argument(help="An MA export or a spec.", show_default=False, metavar="A")],
    right: Annotated[Path, typer.Argument(help="An MA export or a spec.", show_default=False, metavar="B")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="text for people, json for CI.")] = OutputFormat.text,
    env: Annotated[Optional[str], typer.Option("--env", "-e", help="Environment overlay for specs.", metavar="NAME")] = None,
) -> None:
    """Compare two MAs by meaning: connector, schema, parameters, scripts, capabilities, rules, run profiles.

    Examples:

    $ maforge diff prod-exports/HR.xml specs/HR.yaml

    $ maforge diff old.xml new.xml --format json

    Either side may be an MA export or a spec (built in memory). Layout, attribute order
    and engine state such as export dates are ignored. The first line says which connector
    each side targets (PowerShell (Microsoft) or Granfeldt's PSMA, and its version).

    Exit status: 0 equal, 1 different, 2 error (like diff).
    """
    import json

    from maforge.compiler.mim.sources import SourceError, load_ma_tree
    from maforge.compiler.mim.semdiff import connector_of, semantic_diff

    try:
        a = load_ma_tree(left, env)
        b = load_ma_tree(right, env)
    except SourceError as error:
        typer.echo(f"maforge diff: {error}", err=True)
        raise typer.Exit(2) from None
    sections = semantic_diff(a, b, str(left), str(right))
    connectors = {str(left): connector_of(a), str(right): connector_of(b)}
    if output is OutputFormat.json:
        typer.echo(
            json.dumps(
                {"equal": not sections, "connectors": connectors, "sections": [{"section": s.section, "changes": s.lines} for s in sections]},
                indent=2,
            )
        )
    else:
        if connectors[str(left)] == connectors[str(right)]:
            typer.echo(f"both target {connectors[str(left)]}")
        else:
            for name, connector in connectors.items():
                typer.echo(f"{name} targets {connector}")
        for section in sections:
            typer.echo(f"## {section.section}")
            for line in section.lines:
                typer.echo(line)
        typer.echo(f"{left} and {right}: " + ("same MA" if not sections else f"differ in {len(sections)} section{'s' if len(sections) != 1 else ''}: {', '.join(s.section for s in sections)}"))
    raise typer.Exit(1 if sections else 0)


@app.command()
def report(
    source: Annotated[Path, typer.Argument(help="A spec (YAML or JSON) or an MA export (.xml).", show_default=False, metavar="SPEC|EXPORT.xml")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML page to write (replaced in one step).", show_default=False, metavar="FILE")],
    plan_file: Annotated[
        Optional[Path], typer.Option("--plan", help="Add the summary of a plan saved by `maforge plan --out`.", metavar="PLAN")
    ] = None,
    env: Annotated[Optional[str], typer.Option("--env", "-e", help="With a spec: merge this environment overlay first.", metavar="NAME")] = None,
    mv: Annotated[
        Optional[Path],
        typer.Option("--mv", help="With a server configuration file: its MV.xml, where the MA's import flows live.", metavar="MV.xml"),
    ] = None,
) -> None:
    """Write one self-contained HTML page that shows a connector at a glance.

    Examples:

    $ maforge report samples/spo-user-profiles.yaml --out report.html

    $ maforge report spo.yaml --env prod --plan plan.json --out prod.html

    $ maforge report prod-exports/HR.xml --out hr.html

    Identity, capabilities (the mask the build computes), schema with anchors
    and allowed operations, parameters with every secret masked, join and
    projection rules, the flows of each metaverse attribute (with a filter
    box), run profiles, the scripts highlighted, what the spec carries
    verbatim and, with --plan, the plan's summary. A spec is validated as
    `maforge build` does; an MA export is read as `maforge import-ma` reads it.
    The page fetches nothing (inline CSS and JS): it works offline and prints.

    Exit status: 0 written, 1 error.
    """
    from maforge.atomic import write_text_atomic
    from maforge.compiler.diagnostics import SpecError
    from maforge.compiler.loader import UnreadableFile
    from maforge.compiler.report import ReportError, plan_view, render_html, report_from_export, report_from_spec
    from maforge.compiler.mim.sources import is_ma_file
    from maforge.compiler.validate import UnknownEnvironment
    from maforge.connectors.sync.plan import PlanError

    def fail(message: str) -> typer.Exit:
        typer.echo(f"maforge report: {message}", err=True)
        return typer.Exit(1)

    if not source.is_file():
        raise fail(f"{source}: no such file — check the path: give a spec (.yaml) or an MA export (.xml)")
    if is_ma_file(source) and env is not None:
        raise fail("--env applies to specs, not to an MA export — leave it out")
    if mv is not None and not is_ma_file(source):
        raise fail("--mv applies to a server configuration file, not to a spec — leave it out")
    try:
        if is_ma_file(source):
            page = report_from_export(source, mv, str(source))
        else:
            page = report_from_spec(source, env, str(source))
        if plan_file is not None:
            page.plan = plan_view(plan_file, page.title, str(plan_file))
        html = render_html(page)
    except ReportError as error:
        raise fail(str(error)) from None
    except (UnreadableFile, UnknownEnvironment) as error:
        raise fail(f"{error} — check the file and the --env name") from None
    except SpecError as error:
        for diagnostic in error.diagnostics:
            typer.echo(diagnostic.format(), err=True)
        raise fail(f"{source} is invalid; nothing was written — fix the problems above (maforge validate {source} lists them), then run maforge report again") from None
    except PlanError as error:
        text = str(error)
        raise fail(text if "maforge plan --out" in text else f"{text} — give a plan saved by `maforge plan --out`") from None
    try:
        # A page with a plan holds profile data: the owner's only, like the plan itself.
        write_text_atomic(out, html, mode=0o600 if plan_file is not None else 0o644)
    except OSError as error:
        raise fail(f"cannot write {out}: {error.strerror or error} — choose another --out path") from None
    typer.echo(f"wrote {out}")


class ThrottleName(str, enum.Enum):
    realistic = "realistic"
    none = "none"


def _seconds_range(text: str) -> tuple[float, float]:
    """`70-250` or `120` (seconds) → (low, high)."""
    low, _, high = text.partition("-")
    try:
        pair = (float(low), float(high or low))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give seconds as N or MIN-MAX, e.g. 70-250") from None
    if pair[0] < 0 or pair[1] < pair[0]:
        raise typer.BadParameter(f"{text!r}: give seconds as N or MIN-MAX with 0 <= MIN <= MAX")
    return pair


@app.command()
def emulator(
    port: Annotated[int, typer.Option("--port", help="TCP port on 127.0.0.1; 0 picks a free one.")] = 0,
    profiles: Annotated[int, typer.Option("--profiles", help="How many users and profiles the tenant has (deterministic).", min=1)] = 25,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant name.", metavar="NAME")] = "contoso",
    state_dir: Annotated[
        Optional[Path], typer.Option("--state-dir", help="Keep certificates, profile changes and the write log here across restarts.", metavar="DIR")
    ] = None,
    seed: Annotated[
        Optional[Path], typer.Option("--seed", help="CSV of named users (the columns of samples/hr.csv) instead of the SPO sample's.", metavar="FILE")
    ] = None,
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="Added latency per request.", min=0)] = 0.0,
    throttle: Annotated[ThrottleName, typer.Option("--throttle", help="realistic: SharePoint's documented limits (the budget, the per-app resource units, the per-user limit; see docs/emulator.md); none: no limit at all.")] = ThrottleName.realistic,
    time_scale: Annotated[float, typer.Option("--time-scale", help="Run every throttling window and every Retry-After F times faster (the connection line tells maforge), so the real 5-minute windows and 2-minute waits take seconds.", min=1, metavar="F")] = 1.0,
    budget: Annotated[int, typer.Option("--budget", help="The tenant's PeopleManager calls per 5 minutes (SharePoint: 3,000 to 15,000 by licence count; 0: no limit). Nothing tells a client how much is left.", min=0, metavar="CALLS_PER_5_MIN")] = 3000,
    retry_after: Annotated[str, typer.Option("--retry-after", help="Seconds a PeopleManager 429 asks the client to wait, drawn from MIN-MAX (reported: 70-250), before --time-scale.", metavar="MIN-MAX")] = "70-250",
    app_ru_per_minute: Annotated[int, typer.Option("--app-ru-per-minute", help="Resource units per minute an app may spend (app-only tokens; RateLimit headers from 80 %; 0: no limit).", min=0, metavar="RU")] = 1200,
    user_requests: Annotated[int, typer.Option("--user-requests-per-5-min", help="Requests per user in 5 minutes (delegated tokens; 0: no limit).", min=0, metavar="N")] = 3000,
    allow_delegated_profile_writes: Annotated[bool, typer.Option("--allow-delegated-profile-writes", help="Let a delegated (password, device code) tenant admin write other users' profiles, which SharePoint is reported to refuse.")] = False,
    no_mfa: Annotated[bool, typer.Option("--no-mfa", help="The test user is not under MFA, so password sign-in (ROPC) works; by default it fails as it does for admins under security defaults.")] = False,
    allow_object_property_map: Annotated[bool, typer.Option("--allow-object-property-map", help="Accept a bulk import's REST propertyMap as a JSON object, which SharePoint's metadata does not document (it types it Collection(SP.KeyValue)).")] = False,
    max_request_bytes: Annotated[int, typer.Option("--max-request-bytes", help="The largest $batch or JSON request body accepted (SharePoint's OData reader: 1 MiB; one report saw 2 MiB for $batch). File uploads have their own documented 262,144,000.", min=1, metavar="BYTES")] = 1_048_576,
    fault_rate: Annotated[float, typer.Option("--fault-rate", help="Share of SharePoint and Graph requests that fail (5xx, resets, slow answers).", min=0, max=1)] = 0.0,
    bulk_job_seconds: Annotated[float, typer.Option("--bulk-job-seconds", help="How long a bulk import job waits in the queue before it runs.", min=0)] = 2.0,
) -> None:
    """Run a local SharePoint Online and Entra ID that speak the real wire protocols.

    Examples:

    $ maforge emulator --profiles 1000 --state-dir .emulator > connection.json

    $ maforge emulator --time-scale 60 --budget 6000 > connection.json

    Serves HTTPS on 127.0.0.1 with a CA it generates, prints one JSON line with everything a
    client needs (spo_url, admin_url, graph_url, authority, tenant, tenant_id, ca_bundle,
    client_id, certificate, public_client_id, username, password, and time_scale when not 1),
    then serves until interrupted. Save the line to a file and pass it to other commands as
    --connection FILE. By default it is as strict as SharePoint Online is known to be; each
    behaviour, its source and the switch that relaxes it are listed in docs/emulator.md.
    """
    from maforge.connectors.emulator.process import run_until_stopped

    config = emulator_config(locals())
    run_until_stopped(config, lambda line: (sys.stdout.write(line + "\n"), sys.stdout.flush()))


def emulator_config(options: dict):  # -> EmulatorConfig
    """`maforge emulator`'s options (as the command receives them) as an EmulatorConfig: the
    one mapping, also used by tests that start the emulator from a guide's command line."""
    from maforge.connectors.emulator.server import EmulatorConfig

    throttle = options["throttle"]
    return EmulatorConfig(
        tenant=options["tenant"],
        port=options["port"],
        profiles=options["profiles"],
        state_dir=Path(options["state_dir"]) if options["state_dir"] else None,
        latency_ms=options["latency_ms"],
        throttle=getattr(throttle, "value", throttle),
        time_scale=options["time_scale"],
        budget=options["budget"],
        retry_after=_seconds_range(options["retry_after"]),
        app_ru_per_minute=options["app_ru_per_minute"],
        user_requests_per_5_minutes=options["user_requests"],
        allow_delegated_profile_writes=options["allow_delegated_profile_writes"],
        mfa_required=not options["no_mfa"],
        allow_object_property_map=options["allow_object_property_map"],
        max_request_bytes=options["max_request_bytes"],
        fault_rate=options["fault_rate"],
        bulk_job_seconds=options["bulk_job_seconds"],
        seed_file=Path(options["seed"]) if options["seed"] else None,
    )


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter spec, e.g. spo.yaml.", show_default=False, metavar="PATH")],
    kind: Annotated[ConnectorKind, typer.Option("--type", "-t", help="What the connector talks to.")] = ConnectorKind.spo_user_profiles,
    name: Annotated[Optional[str], typer.Option("--name", help="The MA's name in MIM. Default: from the file name.", metavar="TEXT")] = None,
    tenant: Annotated[
        str, typer.Option("--tenant", help="For spo-user-profiles: the tenant name (contoso for contoso.sharepoint.com).", metavar="NAME")
    ] = "contoso",
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that already exist.")] = False,
) -> None:
    """Write a commented starter spec that validates.

    Examples:

    $ maforge init spo.yaml --tenant contoso

    $ maforge init flatfile.yaml --type powershell

    With --type powershell it also writes starter script files beside the spec.
    Existing files are never overwritten without --force.
    """
    from maforge.compiler.starter import StarterExists, write_starter

    try:
        written = write_starter(path, kind.value, name=name, tenant=tenant, force=force)
    except StarterExists as error:
        typer.echo(f"maforge init: {error}", err=True)
        raise typer.Exit(1) from None
    except ValueError as error:
        typer.echo(f"maforge init: {error}", err=True)
        raise typer.Exit(2) from None
    for item in written:
        typer.echo(f"wrote {item}")
    typer.echo(f"next: edit {path}, then run: maforge validate {path}")


# --------------------------------------------------------------------------- import, plan, apply

ConnectionOption = Annotated[
    Optional[Path],
    typer.Option(
        "--connection",
        "-c",
        help=(
            "Connection file: the line `maforge emulator` prints, or the same keys for a real tenant (secrets by reference). "
            "Writing other users' profiles needs app-only sign-in with a certificate (SharePoint application permission User.ReadWrite.All); "
            "SharePoint refuses those writes to password and device-code (delegated) sign-in, and the password grant fails under MFA. "
            "See docs/import-into-mim.md#the-app-registration."
        ),
        metavar="FILE",
    ),
]
EnvOption = Annotated[Optional[str], typer.Option("--env", "-e", help="Merge this environment overlay from the spec first.", metavar="NAME")]
EmulatorOption = Annotated[
    bool,
    typer.Option(
        "--emulator",
        help=(
            "Use the bundled emulator as the tenant, started inside this command (HTTPS on 127.0.0.1) and seeded for the spec; "
            "its profiles are kept in the state folder (STATE/emulator/TENANT), so import, plan, apply and the next plan see the same tenant. "
            "Not with --connection."
        ),
    ),
]
MaxWaitOption = Annotated[
    Optional[str],
    typer.Option(
        "--max-wait",
        help="Stop cleanly once SharePoint's throttling (429 Retry-After) has made the run wait this long in total, e.g. 30m or 2h; the next run resumes. Default: wait as long as SharePoint asks (a large tenant takes hours).",
        metavar="DURATION",
    ),
]


def _max_wait(value: str | None, command: str) -> float | None:
    """--max-wait's seconds, or a usage error (exit 2) that says what is accepted."""
    return _duration(value, "--max-wait", command)


def _duration(value: str | None, option: str, command: str) -> float | None:
    """A duration option's seconds (None when not given), or a usage error (exit 2) naming
    the option and what is accepted."""
    if value is None:
        return None
    from maforge.durations import DurationError, parse_duration

    try:
        return parse_duration(value)
    except DurationError as error:
        typer.echo(f"maforge {command}: {option}: {error}", err=True)
        raise typer.Exit(2) from None


def _load_model(spec: Path, env: str | None, command: str):  # -> ConnectorSpec
    """The model of a valid spec, or a printed error and exit 1 (2 for an unreadable file)."""
    from maforge.compiler.diagnostics import SpecError
    from maforge.compiler.loader import UnreadableFile
    from maforge.compiler.validate import UnknownEnvironment, load_spec

    try:
        model, warnings = load_spec(spec, env, str(spec))
    except (UnreadableFile, UnknownEnvironment) as error:
        typer.echo(f"maforge {command}: {error}", err=True)
        raise typer.Exit(usage_error_status(command)) from None
    except SpecError as error:
        for diagnostic in error.diagnostics:
            typer.echo(diagnostic.format(), err=True)
        typer.echo(f"maforge {command}: {spec} is invalid; nothing was written; fix the problems above (`maforge validate {spec}` lists them all)", err=True)
        raise typer.Exit(1) from None
    for warning in warnings:
        typer.echo(warning.format(), err=True)
    return model


def _rule_book(spec: Path, env: str | None, command: str):  # -> RuleBook
    from maforge.connectors.sync.rulebook import RuleBook

    return RuleBook.from_spec(_load_model(spec, env, command))


def usage_error_status(command: str) -> int:
    """Usage errors (a missing option, a file named that is not there) exit 2, as the docs
    promise; but `plan` exits 2 for "changes" with --detailed-exitcode (Terraform's
    convention), so a usage error must not look like changes to a CI script: plan exits 1."""
    return 1 if command == "plan" else 2


def _need(connection: Path | None, command: str) -> Path:
    if connection is None:
        typer.echo(f"maforge {command}: give --connection FILE, or --emulator for the bundled local tenant", err=True)
        raise typer.Exit(usage_error_status(command))
    if not connection.exists():
        typer.echo(f"maforge {command}: {connection}: no such file; give the connection file `maforge emulator` prints, or one for your tenant", err=True)
        raise typer.Exit(usage_error_status(command))
    return connection


def _one_tenant(connection: Path | None, use_emulator: bool, command: str) -> None:
    """--emulator and --connection name two different tenants: a usage error rather than a
    guess at which one the user meant to write to (exit 2; plan's usage errors exit 1, as
    its 2 means "changes")."""
    if use_emulator and connection is not None:
        typer.echo(f"maforge {command}: --emulator and --connection name two tenants; give one: --emulator for the local emulator, --connection FILE for a real tenant", err=True)
        raise typer.Exit(usage_error_status(command))


def _spec_seed(book, spec: Path) -> Path | None:  # book: RuleBook
    """The spec's HR file the embedded emulator is first seeded from (None: the sample's people)."""
    from maforge.connectors.emulator.embedded import spec_seed

    return spec_seed(book.manifest.get("sources") or [], spec.parent)


@contextlib.contextmanager
def _reach(connection: Path | None, use_emulator: bool, command: str, state_dir: Path, tenant: str | None, seed: Path | None = None, *, required: bool = True, quiet: bool = False):
    """What the command talks to, for the length of the block: the connection file (checked
    by _need when ``required``; else None when not given), or with --emulator a Connection to
    the emulator started for the command, its tenant kept in ``state_dir`` (said on stderr
    once per command: ``quiet`` for a command's second start)."""
    if not use_emulator:
        yield _need(connection, command) if required else connection
        return
    from maforge.connectors.emulator.embedded import embedded_tenant, tenant_folder

    if not tenant:
        typer.echo(f"maforge {command}: --emulator needs the tenant's name: the spec has no sharepoint.tenant", err=True)
        raise typer.Exit(usage_error_status(command))
    if not quiet:
        typer.echo(f"maforge {command}: tenant {tenant} is the bundled emulator, kept in {tenant_folder(state_dir, tenant)} (for a real tenant: --connection FILE)", err=True)
    with embedded_tenant(state_dir, tenant, seed) as reached:
        yield reached


@app.command("import")
def import_(
    spec: Annotated[Path, typer.Argument(help="The connector spec.", show_default=False, metavar="SPEC")],
    connection: ConnectionOption = None,
    use_emulator: EmulatorOption = False,
    delta: Annotated[bool, typer.Option("--delta", help="Re-read only the users Graph reports changed in Entra ID since the last import. Edits made in SharePoint itself (About me, skills, custom properties) are in no Graph feed: only a full import sees them.")] = False,
    full_after: Annotated[Optional[str], typer.Option("--full-after", help="With --delta: run a full import instead when the last full import is older than this, e.g. 7d, so SharePoint-side edits are picked up on a schedule.", metavar="DURATION")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder of the snapshot (snapshot.jsonl) and the tenant's learnt budget.", metavar="DIR")] = Path(".maforge"),
    max_wait: MaxWaitOption = None,
    env: EnvOption = None,
) -> None:
    """Read the managed properties of every SharePoint profile into a local snapshot.

    Examples:

    $ maforge import spo.yaml --connection connection.json --out .maforge

    $ maforge import spo.yaml --connection connection.json --delta --full-after 7d

    A --delta import re-reads only the users Microsoft Graph reports changed in Entra ID, in
    the Entra properties the spec's flows depend on. Edits made in SharePoint itself (a user
    writing About me, an admin or another tool setting a property) never reach Graph, so only
    a full import sees them: run one regularly, or let --full-after do it. A --delta also
    runs a full import, and says why, when the spec now needs Graph to track other
    properties than the last full import did.

    The snapshot (OUT/snapshot.jsonl, format in connectors/sync/snapshot.py) is what
    `maforge plan --refresh=false` diffs against. It replaces the old one only after a
    complete run, so a delta watermark is never saved for a partial import. A full import
    that stops (--max-wait, a fault, a kill) keeps what it read in OUT/import.partial.jsonl,
    and the next full import resumes from there.

    SharePoint allows each tenant 3,000 to 15,000 profile calls per 5 minutes and answers
    more with a wait of minutes: reading 100,000 profiles takes from half an hour to hours.
    maforge keeps to the budget (sharepoint.budget, or the rate it learns and keeps in OUT),
    shows each wait, and goes on.
    """
    from maforge.connectors.sync.commands import open_session, run_import
    from maforge.connectors.sync.errors import RUN_ERRORS, describe_failure

    _one_tenant(connection, use_emulator, "import")
    book = _rule_book(spec, env, "import")
    wait_cap = _max_wait(max_wait, "import")
    full_age = _duration(full_after, "--full-after", "import")
    try:
        with _reach(connection, use_emulator, "import", out, book.tenant, _spec_seed(book, spec)) as reach, open_session(book, reach, state_dir=out, max_wait=wait_cap) as session:
            snapshot = run_import(book, session, out, delta=delta, full_after=full_age)
    except RUN_ERRORS as error:
        typer.echo(f"maforge import: {describe_failure(error)}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"imported {len(snapshot.profiles)} profiles into {out / 'snapshot.jsonl'}")


@app.command()
def plan(
    spec: Annotated[Path, typer.Argument(help="The connector spec.", show_default=False, metavar="SPEC")],
    connection: ConnectionOption = None,
    use_emulator: EmulatorOption = False,
    refresh: Annotated[YesNo, typer.Option("--refresh", help="true: read current values from SharePoint; false: plan against the last `maforge import` snapshot.")] = YesNo.true,
    snapshot: Annotated[Path, typer.Option("--snapshot", help="Folder of the import snapshot.", metavar="DIR")] = Path(".maforge"),
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Save the plan (JSON) for `maforge apply`.", metavar="PLAN")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", help="text for people, json for programs.")] = OutputFormat.text,
    detailed_exitcode: Annotated[bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes.")] = False,
    expect_no_changes: Annotated[bool, typer.Option("--expect-no-changes", help="Any change is an error (exit 1): a drift gate for CI.")] = False,
    targets: Annotated[
        Optional[list[str]],
        typer.Option("--target", help="Plan only this user (UPN or claims login), or USER:PROPERTY; repeatable. As Terraform's -target: the rest of the drift is left for later.", metavar="USER[:PROPERTY]"),
    ] = None,
    max_wait: MaxWaitOption = None,
    env: EnvOption = None,
) -> None:
    """Show what apply would change in SharePoint profiles, per profile and property.

    Examples:

    $ maforge plan spo.yaml --connection connection.json --out plan.json

    $ maforge plan spo.yaml --refresh=false --detailed-exitcode

    $ maforge plan spo.yaml --emulator --out plan.json

    Exit status: 0 no changes (or changes without --detailed-exitcode), 2 changes with
    --detailed-exitcode, 1 error or, with --expect-no-changes, any change.
    """
    import json

    from maforge.connectors.sync.commands import open_session, plan_exit_code, run_plan
    from maforge.connectors.sync.errors import RUN_ERRORS, describe_failure
    from maforge.connectors.sync.plan import save_plan, select_targets
    from maforge.connectors.sync.planrender import render_text
    from maforge.connectors.sync.signin import warning_lines

    _one_tenant(connection, use_emulator, "plan")
    book = _rule_book(spec, env, "plan")
    wait_cap = _max_wait(max_wait, "plan")
    try:
        with _reach(connection, use_emulator, "plan", snapshot, book.tenant, _spec_seed(book, spec), required=False) as reach:
            session = open_session(book, reach, state_dir=snapshot, max_wait=wait_cap) if reach is not None else None
            try:
                result = run_plan(book, spec.parent, session, refresh=refresh is YesNo.true, state_dir=snapshot, tenant=session.connection.tenant if session is not None else book.tenant)
            finally:
                if session is not None:
                    session.close()
        result = select_targets(result, targets or [])
        if out is not None:
            save_plan(result, out)
    except RUN_ERRORS as error:
        typer.echo(f"maforge plan: {describe_failure(error)}", err=True)
        raise typer.Exit(1) from None
    if output_format is OutputFormat.json:
        typer.echo(json.dumps(result.to_json(), indent=1, ensure_ascii=False))
    else:
        typer.echo(render_text(result, color=sys.stdout.isatty()), nl=False)
    for line in warning_lines(result.warnings):
        typer.echo(f"maforge plan: {line}", err=True)
    if out is not None:
        typer.echo(f"saved the plan to {out}; apply it with: maforge apply {out} {'--emulator' if use_emulator else '--connection FILE'}", err=True)
    raise typer.Exit(plan_exit_code(result, detailed_exitcode, expect_no_changes))


@app.command()
def apply(
    target: Annotated[Path, typer.Argument(help="A plan saved by `maforge plan --out`, or a spec (plan now, show it, ask).", show_default=False, metavar="PLAN|SPEC")],
    connection: ConnectionOption = None,
    use_emulator: EmulatorOption = False,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="With a spec: apply the fresh plan without asking.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Re-plan a property changed since the plan against its value now, instead of reporting it stale.")] = False,
    max_changes: Annotated[Optional[int], typer.Option("--max-changes", help="Refuse a plan that changes more properties than N.", metavar="N", min=0)] = None,
    journal: Annotated[Optional[Path], typer.Option("--journal", help="Journal of writes done; default PLAN.journal. Run again to resume.", metavar="FILE")] = None,
    results: Annotated[Optional[Path], typer.Option("--results", help="Per-profile results; default PLAN.results.json.", metavar="FILE")] = None,
    bulk: Annotated[AutoMode, typer.Option("--bulk", help="Bulk import for eligible custom properties: auto (from 1,000 writes), always, never.")] = AutoMode.auto,
    check_prior: Annotated[
        AutoMode,
        typer.Option(
            "--check-prior",
            help="Read each profile first and leave a property alone if it no longer holds the plan's prior value. auto: not for profiles whose changes all go through a bulk job; always; never: trust the plan (one budgeted call less per profile).",
        ),
    ] = AutoMode.auto,
    snapshot: Annotated[Path, typer.Option("--state", help="Where the import snapshot is (updated with what apply wrote) and, with a spec, the plan, its journal and results.", metavar="DIR")] = Path(".maforge"),
    targets: Annotated[
        Optional[list[str]],
        typer.Option("--target", help="Apply only this user's changes (UPN or claims login), or USER:PROPERTY; repeatable.", metavar="USER[:PROPERTY]"),
    ] = None,
    spec: Annotated[
        Optional[Path],
        typer.Option("--spec", help="With a saved plan: refuse it unless it was made from this spec (and --env) and every value it writes is what the spec and its sources give. CI should always pass it.", metavar="SPEC"),
    ] = None,
    max_wait: MaxWaitOption = None,
    env: EnvOption = None,
) -> None:
    """Apply exactly a saved plan (or, given a spec, a plan made now and approved).

    Examples:

    $ maforge apply plan.json --connection connection.json

    $ maforge apply spo.yaml --connection connection.json --auto-approve

    A property whose value changed since the plan is reported stale and left alone (unless
    --refresh). Killed and run again, apply finishes the plan without writing anything twice.
    Exit status: 0 all applied (or nothing to do), 1 anything failed, stale, refused or declined.
    """
    from maforge.connectors.sync.commands import open_session, run_apply, run_plan
    from maforge.connectors.sync.errors import RUN_ERRORS, describe_failure
    from maforge.connectors.sync.plan import load_plan, looks_like_plan, save_plan, select_targets
    from maforge.connectors.sync.planrender import render_text

    _one_tenant(connection, use_emulator, "apply")
    plan_file = target
    expected_spec = None
    book = None
    wait_cap = _max_wait(max_wait, "apply")
    try:
        derive = None
        if spec is not None and looks_like_plan(target):
            book = _rule_book(spec, env, "apply")
            expected_spec = book.spec_hash
            derive = (book, spec.parent)
        if not looks_like_plan(target) and _damaged_plan(target):
            if b"format_version" in target.read_bytes()[: 1024 * 1024]:
                load_plan(target)  # a plan in another shape (YAML, a JSON prefix lost): its reader names the place
            typer.echo(
                f"maforge apply: {target}: neither a plan saved by `maforge plan --out` (no \"format_version\" at its start) nor a spec (no \"apiVersion\"): "
                "if it was a plan, it is damaged or cut short; make a new one with `maforge plan --out`",
                err=True,
            )
            raise typer.Exit(1)
        if not looks_like_plan(target):
            book = _rule_book(target, env, "apply")
            expected_spec = book.spec_hash
            with _reach(connection, use_emulator, "apply", snapshot, book.tenant, _spec_seed(book, target)) as reach, open_session(book, reach, state_dir=snapshot, max_wait=wait_cap) as session:
                fresh = select_targets(run_plan(book, target.parent, session, refresh=True, state_dir=snapshot), targets or [])
            typer.echo(render_text(fresh, color=sys.stdout.isatty()), nl=False)
            if not fresh.profiles and not fresh.joins:
                return
            if not auto_approve:
                if not sys.stdin.isatty():
                    typer.echo("maforge apply: not applied: confirm at a terminal, or pass --auto-approve (or save the plan with `maforge plan --out` and apply that)", err=True)
                    raise typer.Exit(1)
                if not typer.confirm("Apply these changes?", default=False):
                    typer.echo("not applied", err=True)
                    raise typer.Exit(1)
            plan_file = snapshot / "apply-plan.json"
            save_plan(fresh, plan_file)
            journal = journal or snapshot / f"apply-plan.{fresh.created_at.replace(':', '')}.journal"
        loaded = load_plan(plan_file)  # a damaged plan is refused before anything signs in
        with _reach(connection, use_emulator, "apply", snapshot, loaded.tenant, quiet=plan_file != target) as reach, open_session(book, reach, state_dir=snapshot, max_wait=wait_cap) as session:
            outcome = run_apply(plan_file, session, loaded=loaded, max_changes=max_changes, journal=journal, results=results, replan_stale=refresh, bulk=bulk.value, check_prior=check_prior.value, state_dir=snapshot, spec_hash=expected_spec, derive=derive, targets=None if plan_file != target else targets)
    except RUN_ERRORS as error:
        typer.echo(f"maforge apply: {describe_failure(error)}", err=True)
        raise typer.Exit(1) from None
    typer.echo(outcome.summary())
    for line in outcome.trouble_lines(results or plan_file.with_name(plan_file.name + ".results.json")):
        typer.echo(line)
    if outcome.stopped:
        typer.echo(f"maforge apply: {outcome.stopped}", err=True)
    raise typer.Exit(0 if outcome.ok else 1)


def _damaged_plan(target: Path) -> bool:
    """A file that is neither a plan (no format_version at its start) nor a spec (no
    apiVersion anywhere, which every spec has): a plan cut short, edited by hand, or not a
    maforge file at all. Validating it as a spec would only confuse."""
    try:
        with open(target, "rb") as handle:
            content = handle.read(16 * 1024 * 1024).strip()
    except OSError:
        return False
    return b"apiVersion" not in content


@app.command()
def preview(
    spec: Annotated[Path, typer.Argument(help="The connector spec.", show_default=False, metavar="SPEC")],
    user: Annotated[str, typer.Option("--user", "-u", help="The user's UPN (or claims login).", metavar="UPN")],
    connection: ConnectionOption = None,
    refresh: Annotated[YesNo, typer.Option("--refresh", help="true: compare with SharePoint now; false: with the last import snapshot.")] = YesNo.true,
    snapshot: Annotated[Path, typer.Option("--snapshot", help="Folder of the import snapshot.", metavar="DIR")] = Path(".maforge"),
    env: EnvOption = None,
) -> None:
    """What one user would get, flow by flow, without writing anything.

    Examples:

    $ maforge preview spo.yaml --user adele.vance@contoso.onmicrosoft.com --connection connection.json

    Shows the source rows, the metaverse values they give, and per export flow its result
    and what it would do to the profile. Exit status: 0 shown, 1 error or unknown user.
    """
    from maforge.connectors.sync.commands import open_session, run_preview
    from maforge.connectors.sync.errors import RUN_ERRORS, describe_failure
    from maforge.connectors.sync.planrender import render_preview

    book = _rule_book(spec, env, "preview")
    try:
        session = open_session(book, connection, state_dir=snapshot) if connection is not None else None
        try:
            shown = run_preview(book, spec.parent, session, user, refresh=refresh is YesNo.true, state_dir=snapshot, tenant=session.connection.tenant if session is not None else book.tenant)
        finally:
            if session is not None:
                session.close()
    except RUN_ERRORS as error:
        typer.echo(f"maforge preview: {describe_failure(error)}", err=True)
        raise typer.Exit(1) from None
    typer.echo(render_preview(shown), nl=False)
    if shown.account is None:
        raise typer.Exit(1)


state_app = typer.Typer(
    help=(
        "The join state: which SharePoint profile each person is joined to (as `terraform state`).\n\n"
        "Joins are sticky, as in MIM: once joined, a profile stays joined to its person until it is "
        "disconnected. `maforge apply` records the joins of the plan it applies in the state folder "
        "(.maforge/links.json); these commands show and remove them.\n\n"
        "Examples:\n\n"
        "$ maforge state list\n\n"
        "$ maforge state show adele.vance@contoso.onmicrosoft.com\n\n"
        "$ maforge state rm hr/E1010"
    ),
    no_args_is_help=True,
)
app.add_typer(state_app, name="state")
StateDirOption = Annotated[Path, typer.Option("--state", help="The state folder that holds links.json.", metavar="DIR")]


def _join_state(state: Path, command: str):
    from maforge.connectors.sync.links import LinkStateError, read_links

    try:
        return read_links(state, None, None)
    except LinkStateError as error:
        typer.echo(f"maforge state {command}: {error}", err=True)
        raise typer.Exit(1) from None


@state_app.command("list")
def state_list(state: StateDirOption = Path(".maforge")) -> None:
    """Every link: the person (the source row that projected it) and its profile."""
    links = _join_state(state, "list")
    typer.echo(f"join state of {links.connector} on tenant {links.tenant}: serial {links.serial}, {len(links.links):,} joined profiles")
    for person, link in sorted(links.links.items()):
        typer.echo(f"{person}  {link.account}")


@state_app.command("show")
def state_show(
    who: Annotated[str, typer.Argument(help="A person (source/key, as `state list` shows it), or a profile's UPN or claims login.", metavar="PERSON|UPN")],
    state: StateDirOption = Path(".maforge"),
) -> None:
    """One link: the person, its profile and the source rows that made it at the last apply."""
    from maforge.connectors.sync.links import find_links

    links = _join_state(state, "show")
    found = find_links(links, who)
    if not found:
        typer.echo(f"maforge state show: {who!r} is not in the join state in {state}; `maforge state list` shows who is", err=True)
        raise typer.Exit(1)
    for person in found:
        link = links.links[person]
        typer.echo(f"person:  {person}\nprofile: {link.account}\nrows:    {', '.join(link.rows)}")


@state_app.command("rm")
def state_rm(
    who: Annotated[list[str], typer.Argument(help="People (source/key) or profiles (UPN or claims login) to remove.", metavar="PERSON|UPN...")],
    state: StateDirOption = Path(".maforge"),
) -> None:
    """Remove links: the next plan joins these people again by the join rules.

    Nothing is written to SharePoint. A plan made before this, that relied on a removed link,
    is refused by apply as stale.
    """
    from maforge.connectors.sync.links import find_links, write_links

    links = _join_state(state, "rm")
    people: list[str] = []
    for wanted in who:
        found = find_links(links, wanted)
        if not found:
            typer.echo(f"maforge state rm: {wanted!r} is not in the join state in {state}; nothing was removed (`maforge state list` shows who is)", err=True)
            raise typer.Exit(1)
        people += [p for p in found if p not in people]
    after = links.apply([{"action": "disconnect", "person": person} for person in people], "maforge state rm")
    write_links(state, after)
    for person in people:
        typer.echo(f"removed {person}  {links.links[person].account}")
    typer.echo(f"join state serial {after.serial}: the next plan joins {'them' if len(people) > 1 else 'it'} by the join rules")


@app.command("schema-docs")
def schema_docs(
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the reference here instead of printing it.", metavar="FILE")] = None,
    check: Annotated[
        Optional[Path], typer.Option("--check", help="Write nothing; exit 1 if FILE differs from what the schema gives now.", metavar="FILE")
    ] = None,
) -> None:
    """The spec reference, generated from schemas/connector.schema.json.

    Examples:

    $ maforge schema-docs --out docs/reference/spec.md

    $ maforge schema-docs --check docs/reference/spec.md

    The schema is the single source of truth, so the reference is rendered from it and never
    written by hand; --check is the CI guard that the committed page is current.
    Exit status: 0 written or current, 1 stale or unwritable.
    """
    from maforge.compiler.schemadocs import render
    from maforge.schemas import load_schema

    text = render(load_schema("connector"))
    if check is not None:
        try:
            current = check.read_text(encoding="utf-8")
        except OSError as error:
            typer.echo(f"maforge schema-docs: cannot read {check} ({error.strerror or error}); write it with: maforge schema-docs --out {check}", err=True)
            raise typer.Exit(1) from None
        if current.replace("\r\n", "\n") != text:
            typer.echo(f"maforge schema-docs: {check} is stale: the schema changed since it was written; run: maforge schema-docs --out {check}", err=True)
            raise typer.Exit(1)
        typer.echo(f"{check} is current")
        return
    if out is None:
        typer.echo(text, nl=False)
        return
    from maforge.atomic import write_text_atomic

    try:
        write_text_atomic(out, text)
    except OSError as error:
        typer.echo(f"maforge schema-docs: cannot write {out} ({error.strerror or error}); choose another --out", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
