"""`python -m <package> import|plan|apply`: a built connector run without its spec.

The rules come from the package (rules.py, manifest.json); everything else is the same code
`maforge import|plan|apply SPEC` runs (commands.py). Exit status: 0 done (plan: no changes),
1 error, 2 plan with --detailed-exitcode found changes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from .commands import DEFAULT_STATE_DIR, SNAPSHOT_FILE, open_session, plan_exit_code, run_apply, run_import, run_plan
from .errors import RUN_ERRORS
from .plan import save_plan
from .planrender import render_text
from .rulebook import RuleBook, RuleBookError
from .signin import warning_lines


def _parser(prog: str) -> argparse.ArgumentParser:
    max_wait_help = "Stop cleanly once throttling (429 Retry-After) has made the run wait this long in total, e.g. 30m; the next run resumes. Default: wait as long as SharePoint asks."
    verbose_help = "Log every HTTP request (method, URL, status, time, request id, retries and waits) to stderr, secrets redacted."
    examples = (
        "examples:\n"
        f"  {prog} import --connection connection.json\n"
        f"  {prog} plan --connection connection.json --sources-dir data --out plan.json\n"
        f"  {prog} apply plan.json --connection connection.json"
    )
    parser = argparse.ArgumentParser(
        prog=prog, description="Run this maforge connector: import SharePoint profiles, plan changes, apply a plan.", epilog=examples, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", "-v", action="store_true", help=verbose_help)
    # Also accepted after the command (`import --verbose`); SUPPRESS keeps the global value.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS, help=verbose_help)
    commands = parser.add_subparsers(dest="command", required=True)
    def command(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=help_text, description=help_text, epilog=f"example:\n  {prog} {example}", formatter_class=argparse.RawDescriptionHelpFormatter)

    imp = command("import", "Read the managed properties of every profile into a local snapshot.", "import --connection connection.json --out .maforge")
    connection_help = (
        "Connection file (as `maforge emulator` prints, or for a real tenant). apply needs app-only sign-in with a certificate "
        "(SharePoint application permission User.ReadWrite.All): SharePoint refuses writes to other users' profiles made with "
        "password or device-code (delegated) sign-in, and the password grant fails under MFA."
    )
    imp.add_argument("--connection", type=Path, required=True, metavar="FILE", help=connection_help)
    imp.add_argument("--delta", action="store_true", help="Re-read only the users Graph reports changed in Entra ID since the last import. Edits made in SharePoint itself (About me, skills, custom properties) reach no Graph feed: only a full import sees them.")
    imp.add_argument("--max-wait", type=_duration, metavar="DURATION", help=max_wait_help)
    imp.add_argument("--full-after", type=_duration, metavar="DURATION", help="With --delta: run a full import instead when the last full import is older than this (e.g. 7d).")
    imp.add_argument("--out", type=Path, default=DEFAULT_STATE_DIR, metavar="DIR", help=f"Folder of the snapshot ({SNAPSHOT_FILE}) and the tenant's learnt budget; default .maforge.")
    plan = command("plan", "Show what apply would change; --out saves the plan.", "plan --refresh=false --sources-dir data --detailed-exitcode")
    plan.add_argument("--connection", type=Path, metavar="FILE", help=connection_help)
    plan.add_argument("--refresh", choices=("true", "false"), default="true", help="false: plan against the last import snapshot instead of reading SharePoint.")
    plan.add_argument("--snapshot", type=Path, default=DEFAULT_STATE_DIR, metavar="DIR", help="Folder of the import snapshot (with --refresh=false).")
    plan.add_argument("--sources-dir", type=Path, default=Path("."), metavar="DIR", help="Folder the spec's source paths are relative to; default: the current folder.")
    plan.add_argument("--out", type=Path, metavar="PLAN", help="Save the plan (JSON) for apply.")
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.add_argument("--detailed-exitcode", action="store_true", help="Exit 2 when there are changes.")
    plan.add_argument("--expect-no-changes", action="store_true", help="Any change is an error (exit 1): a drift gate for CI.")
    plan.add_argument("--max-wait", type=_duration, metavar="DURATION", help=max_wait_help)
    apply = command("apply", "Apply a saved plan, and nothing else.", "apply plan.json --connection connection.json --check-prior always")
    apply.add_argument("plan", type=Path, metavar="PLAN")
    apply.add_argument("--connection", type=Path, required=True, metavar="FILE", help=connection_help)
    apply.add_argument("--max-changes", type=int, metavar="N", help="Refuse a plan with more property changes than N.")
    apply.add_argument("--journal", type=Path, metavar="FILE", help="Journal of writes done (default PLAN.journal); makes a re-run resume.")
    apply.add_argument("--results", type=Path, metavar="FILE", help="Per-profile results (default PLAN.results.json).")
    apply.add_argument("--state", type=Path, default=DEFAULT_STATE_DIR, metavar="DIR", help="Folder of the import snapshot, updated with what apply wrote.")
    apply.add_argument("--refresh", action="store_true", help="Re-plan a property changed since the plan instead of reporting it stale.")
    apply.add_argument("--bulk", choices=("auto", "always", "never"), default="auto", help="Bulk import for eligible custom properties (auto: from 1,000 writes).")
    apply.add_argument("--check-prior", choices=("auto", "always", "never"), default="auto", help="Read each profile first to check the plan's prior values (auto: not for bulk-only profiles; never: trust the plan).")
    apply.add_argument("--max-wait", type=_duration, metavar="DURATION", help=max_wait_help)
    return parser


def _duration(text: str) -> float:
    """--full-after and --max-wait: seconds; argparse reports a bad value as a usage error (exit 2) naming the option."""
    from maforge.durations import DurationError, parse_duration

    try:
        return parse_duration(text)
    except DurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _fail(prog: str, message: object) -> NoReturn:
    from .errors import describe_failure

    print(f"{prog}: {describe_failure(message) if isinstance(message, Exception) else message}", file=sys.stderr)
    raise SystemExit(1)


def main(package_dir: Path, argv: list[str] | None = None) -> None:
    prog = f"python -m {package_dir.name}"
    args = _parser(prog).parse_args(argv)
    if args.verbose:
        from maforge.logs import configure_logging

        configure_logging(True)
    try:
        book = RuleBook.from_package(package_dir)
    except RuleBookError as error:
        _fail(prog, error)
    try:
        if args.command == "import":
            with open_session(book, args.connection, state_dir=args.out, max_wait=args.max_wait) as session:
                snapshot = run_import(book, session, args.out, delta=args.delta, full_after=args.full_after)
            print(f"imported {len(snapshot.profiles)} profiles into {args.out / SNAPSHOT_FILE}")
            return
        if args.command == "plan":
            refresh = args.refresh == "true"
            session = open_session(book, args.connection, state_dir=args.snapshot, max_wait=args.max_wait) if args.connection else None
            try:
                plan = run_plan(book, args.sources_dir, session, refresh=refresh, state_dir=args.snapshot)
            finally:
                if session is not None:
                    session.close()
            if args.out:
                save_plan(plan, args.out)
            sys.stdout.write(json.dumps(plan.to_json(), indent=1, ensure_ascii=False) + "\n" if args.format == "json" else render_text(plan))
            for line in warning_lines(plan.warnings):
                print(f"{prog}: {line}", file=sys.stderr)
            raise SystemExit(plan_exit_code(plan, args.detailed_exitcode, args.expect_no_changes))
        with open_session(book, args.connection, state_dir=args.state, max_wait=args.max_wait) as session:
            result = run_apply(args.plan, session, max_changes=args.max_changes, journal=args.journal, results=args.results, replan_stale=args.refresh, bulk=args.bulk, check_prior=args.check_prior, state_dir=args.state, spec_hash=book.spec_hash or None)
        print(result.summary())
        for line in result.trouble_lines(args.results or args.plan.with_name(args.plan.name + ".results.json")):
            print(line)
        if result.stopped:
            print(f"{prog}: {result.stopped}", file=sys.stderr)
        raise SystemExit(0 if result.ok else 1)
    except RUN_ERRORS as error:
        _fail(prog, error)
