"""Every command and example in docs/ is run, and its output compared with what the page shows.

How a guide (docs/*.md) is read
===============================

Fenced blocks are classified by their info string (the text after the opening fence):

``console``
    A shell session. A line starting with ``$ `` is a command; a following line starting with
    ``> `` continues it (as bash's second prompt shows a continued line). The lines after a
    command, up to the next ``$ ``, are its expected output: stdout and stderr together, as a
    terminal shows them. In expected output a line that is just ``...`` matches any number of
    lines (none included), and ``...`` inside a line matches any text within that line.
    Trailing spaces and trailing blank lines do not count.

    Each command runs with ``bash -c`` in the guide's working folder and must exit 0: show a
    command that fails with ``; echo "exit $?"`` after it, which also documents its exit
    status. ``export`` and ``cd`` carry over to later commands of the same guide, as in one
    terminal. ``maforge`` (and ``python``) on the PATH run this checkout's interpreter.

    ``maforge emulator [OPTIONS] > FILE &`` is not given to bash: the test starts the emulator
    in this process with the same options, writes its connection line to FILE, and stops it
    when the guide ends.

any block with ``title="PATH"`` (``yaml title="spec.yaml"``, ``json title="..."``, ...)
    A file a later command uses: it is written to PATH (relative to the working folder) at
    that point of the guide.

``yaml expression`` (docs/expressions.md)
    One expression example: a YAML mapping with ``expression``, ``row`` (the attribute values
    the expression reads, JSON style) and either ``result`` (the value it gives) or
    ``effect: ignore`` (IgnoreThisFlow: the target keeps its value) / ``effect: clear``
    (AuthoritativeNull). ``now`` optionally fixes the run's clock. The expression is compiled
    with the code generator the runtime uses and evaluated with the runtime's functions.

anything else (``powershell``, ``text``, ``sh``, ``xml``, ``json`` or ``yaml`` without a title)
    Shown, not run: for what needs a MIM server, the Synchronization Service Manager UI, or a
    real tenant.

Each guide runs in its own temporary working folder that starts with a copy of ``samples/``
(so ``maforge validate samples/spo-user-profiles.yaml`` works as it does in a clone), its blocks
in page order.

Also checked: every relative link in docs/ points at an existing file, and a ``#fragment``
at an existing heading; every function of the expression catalogue has an example; the GitHub
Actions workflow docs/examples/maforge-plan.yml parses and its jobs run, step by step as a
runner would, against the emulator (see ``test_the_github_workflow_runs``).

After a change of maforge's output, ``python tests/test_docs.py docs/GUIDE.md`` runs a guide
and writes the outputs that no longer match into the page (outputs that still match, wildcards
included, are left as they are); review the change before committing it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SAMPLES = REPO / "samples"
WORKFLOW = DOCS / "examples" / "maforge-plan.yml"
GUIDES = (
    "index.md",
    "from-the-wizard.md",
    "import-into-mim.md",
    "version-control.md",
    "environments.md",
    "ci.md",
    "expressions.md",
    "troubleshooting.md",
    "psma.md",
)
COMMAND_TIMEOUT = 300

# --------------------------------------------------------------------------- reading pages

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")


@dataclass
class Block:
    info: str
    text: str
    line: int  # 1-based line of the opening fence
    end_line: int  # 1-based line of the closing fence
    indent: int = 0  # the fence's indentation (a block inside a list item)

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def title(self) -> str | None:
        match = re.search(r'title="([^"]+)"', self.info)
        return match.group(1) if match else None


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown page, in order."""
    found: list[Block] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match.group("fence"), len(match.group("indent"))
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[j]):
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j])
            j += 1
        found.append(Block(match.group("info").strip(), "\n".join(body) + "\n", i + 1, j + 1, indent))
        i = j + 1
    return found


@dataclass
class Command:
    text: str
    expected: list[str]
    line: int
    indent: int = 0


def commands(block: Block) -> list[Command]:
    """The commands of a console block, each with its expected output lines."""
    result: list[Command] = []
    for offset, line in enumerate(block.text.rstrip("\n").split("\n")):
        if line.startswith("$ ") or line == "$":
            result.append(Command(line[2:], [], block.line + 1 + offset, block.indent))
        elif line.startswith("> ") and result and not result[-1].expected:
            result[-1].text += "\n" + line[2:]
        elif result:
            result[-1].expected.append(line)
        elif line.strip():
            raise AssertionError(f"line {block.line + 1 + offset}: console block output before any command: {line!r}")
    return result


# --------------------------------------------------------------------------- comparing output


def _line_pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expected.split("...")), re.DOTALL)


def _clean(lines: list[str]) -> list[str]:
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def output_matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` fits ``expected``, with "..." lines and "..." inside lines as wildcards."""
    expected, actual = _clean(expected), _clean(actual)

    @functools.lru_cache(maxsize=None)
    def match(i: int, j: int) -> bool:
        if i == len(expected):
            return j == len(actual)
        if expected[i].strip() == "...":
            return match(i + 1, j) or (j < len(actual) and match(i, j + 1))
        if j == len(actual):
            return False
        line_ok = expected[i] == actual[j] or ("..." in expected[i] and _line_pattern(expected[i]).fullmatch(actual[j]) is not None)
        return line_ok and match(i + 1, j + 1)

    return match(0, 0)


# --------------------------------------------------------------------------- running a guide

_EMULATOR = re.compile(r"^maforge\s+emulator(?P<args>(?:\s+[^>&]+?)?)\s*>\s*(?P<file>\S+)\s*&\s*$")


def _tools(folder: Path) -> Path:
    """A bin folder whose `maforge` and `python` run this checkout's interpreter."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in (("maforge", f'exec "{sys.executable}" -m maforge "$@"'), ("python", f'exec "{sys.executable}" "$@"')):
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{target}\n", encoding="utf-8")
        path.chmod(0o755)
    return bin_dir


def base_environment(tools: Path, home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAFORGE_", "AZURE_", "GITHUB_", "ACTIONS_", "PYTEST_"))}
    env.update(
        PATH=f"{tools}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        PYTHONUNBUFFERED="1",  # stdout and stderr interleave as on a terminal
        PYTHONIOENCODING="utf-8",
        PYTHONWARNINGS="ignore",
        LC_ALL="C.UTF-8",
        COLUMNS="100",
        NO_COLOR="1",
        TERM="dumb",
        XDG_CACHE_HOME=str(home / "cache"),
        HOME=str(home),
    )
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.pop("CURL_CA_BUNDLE", None)
    return env


def start_emulator(args: list[str], workdir: Path):
    """An in-process emulator started with `maforge emulator`'s own options."""
    import typer.main

    from maforge.cli import app, emulator_config
    from maforge.connectors.emulator.server import Emulator

    command = typer.main.get_command(app).commands["emulator"]  # type: ignore[attr-defined]
    params = command.make_context("emulator", list(args)).params
    workdir.mkdir(parents=True, exist_ok=True)
    return Emulator(emulator_config(params), workdir).start()


@dataclass
class Session:
    """One terminal: a working folder, its environment, and the emulators it started."""

    folder: Path
    env: dict[str, str]
    emulators: list = field(default_factory=list)

    @classmethod
    def create(cls, root: Path) -> Session:
        folder = root / "work"
        folder.mkdir(parents=True)
        shutil.copytree(SAMPLES, folder / "samples")
        home = root / "home"
        home.mkdir()
        return cls(folder, base_environment(_tools(root / "tools"), home) | {"PWD": str(folder)})

    def close(self) -> None:
        for emulator in self.emulators:
            emulator.stop()

    def write(self, block: Block) -> None:
        path = Path(self.env["PWD"]) / block.title  # type: ignore[operator]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text, encoding="utf-8")

    def run(self, command: str) -> tuple[int, list[str]]:
        """Run one command; returns its exit status and output lines."""
        emulator = _EMULATOR.match(command.strip())
        if emulator:
            running = start_emulator(shlex.split(emulator.group("args") or ""), self.folder.parent / f"emulator{len(self.emulators)}")
            self.emulators.append(running)
            (Path(self.env["PWD"]) / emulator.group("file")).write_text(json.dumps(running.connection()) + "\n", encoding="utf-8")
            return 0, []
        state = self.folder.parent / "state.json"
        keep = f"import json, os; json.dump({{'env': dict(os.environ), 'cwd': os.getcwd()}}, open({str(state)!r}, 'w'))"
        script = (
            f"cd {shlex.quote(self.env['PWD'])} || exit 99\n{command}\n__docs_status=$?\n"
            f"{shlex.quote(sys.executable)} -c {shlex.quote(keep)}\nexit $__docs_status\n"
        )
        finished = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if state.exists():  # export and cd carry over, as in one terminal
            kept = json.loads(state.read_text(encoding="utf-8"))
            self.env = kept["env"] | {"PWD": kept["cwd"]}
            state.unlink()
        return finished.returncode, finished.stdout.decode("utf-8", "replace").split("\n")


@dataclass
class Mismatch:
    page: str
    command: Command
    status: int
    actual: list[str]

    def report(self) -> str:
        return (
            f"{self.page}:{self.command.line}: $ {self.command.text}\n"
            f"exit status {self.status}\n--- expected\n" + "\n".join(self.command.expected) + "\n--- actual\n" + "\n".join(_clean(self.actual))
        )


def run_page(page: Path, root: Path) -> list[Mismatch]:
    """Run every file and console block of a page in order; the commands whose output (or
    exit status) does not match."""
    session = Session.create(root)
    problems: list[Mismatch] = []
    try:
        for block in blocks(page.read_text(encoding="utf-8")):
            if block.title and block.language != "console":
                session.write(block)
            elif block.language == "console":
                for command in commands(block):
                    status, actual = session.run(command.text)
                    if status != 0 or not output_matches(command.expected, actual):
                        problems.append(Mismatch(page.name, command, status, actual))
    finally:
        session.close()
    return problems


def runnable(page: Path) -> bool:
    return any(b.language == "console" for b in blocks(page.read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- the guides


def test_every_guide_exists_and_the_index_links_them():
    missing = [name for name in GUIDES if not (DOCS / name).is_file()]
    assert not missing, f"guides missing: {missing}"
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    unlinked = [name for name in GUIDES[1:] if f"]({name}" not in index]
    assert not unlinked, f"docs/index.md does not link {unlinked}"
    assert "](reference/spec.md)" in index, "docs/index.md must link the spec reference"
    assert "](examples/maforge-plan.yml)" in (DOCS / "ci.md").read_text(encoding="utf-8")


_SHELL_TOOLS = ("bash", "sed", "grep", "head", "tail", "diff")
needs_shell = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in _SHELL_TOOLS), reason=f"the guides' sessions need {', '.join(_SHELL_TOOLS)}"
)


@needs_shell
@pytest.mark.parametrize("name", [name for name in GUIDES if (DOCS / name).is_file() and runnable(DOCS / name)])
def test_guide_commands_give_the_output_shown(name, tmp_path):
    problems = run_page(DOCS / name, tmp_path)
    assert not problems, "\n\n".join(p.report() for p in problems)


def test_console_blocks_are_well_formed():
    """A console block holds commands; a fence such as ```console that starts with output is a mistake."""
    for page in sorted(DOCS.glob("*.md")):
        for block in blocks(page.read_text(encoding="utf-8")):
            if block.language == "console":
                assert commands(block), f"{page.name}:{block.line}: console block without a command"


# --------------------------------------------------------------------------- expressions

NOW = "2026-11-26T05:00:00Z"


def expression_examples() -> list[tuple[int, dict]]:
    page = DOCS / "expressions.md"
    found = []
    for block in blocks(page.read_text(encoding="utf-8")):
        if block.language == "yaml" and "expression" in block.info.split()[1:]:
            found.append((block.line, yaml.safe_load(block.text)))
    return found


def _evaluate(text: str, row: dict, now: str) -> object:
    from maforge.compiler.expressions import parse_expression
    from maforge.compiler.python.expressions import to_python
    from maforge.connectors.sync import functions as F

    code = compile(to_python(parse_expression(text)), "<expression>", "eval")
    return eval(code, {"F": F, "now": now, "__builtins__": {}}, {"row": row})  # noqa: S307 - our own generated code


def _plain(value: object) -> bool:
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def test_expression_examples_give_the_result_shown():
    from maforge.connectors.sync.values import CLEAR, IGNORE

    examples = expression_examples()
    assert examples, "docs/expressions.md has no ```yaml expression blocks"
    wrong = []
    for line, example in examples:
        assert isinstance(example, dict) and "expression" in example and "row" in example, f"expressions.md:{line}: needs expression and row"
        assert ("result" in example) != ("effect" in example), f"expressions.md:{line}: give result or effect"
        row = example["row"] or {}
        assert all(_plain(v) for v in row.values()), f"expressions.md:{line}: row values must be text, numbers, booleans, null or lists (quote dates)"
        expected = {"ignore": IGNORE, "clear": CLEAR}[example["effect"]] if "effect" in example else example["result"]
        actual = _evaluate(example["expression"], dict(row), example.get("now", NOW))
        if actual != expected or type(actual) is not type(expected):
            wrong.append(f"expressions.md:{line}: {example['expression']} with {row}: shown {expected!r}, gives {actual!r}")
    assert not wrong, "\n".join(wrong)


def test_every_catalogue_function_has_an_example():
    from maforge.compiler.expressions import FUNCTIONS, parse_expression

    shown: set[str] = set()
    for _, example in expression_examples():
        shown.update(call.name for call in parse_expression(example["expression"]).calls())
    missing = sorted(set(FUNCTIONS) - shown)
    assert not missing, f"docs/expressions.md has no example for {missing}"
    text = (DOCS / "expressions.md").read_text(encoding="utf-8")
    unheaded = [name for name in FUNCTIONS if not re.search(rf"^#+ .*\b{name}\b", text, re.MULTILINE)]
    assert not unheaded, f"docs/expressions.md has no heading for {unheaded}"


# --------------------------------------------------------------------------- links


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    fenced = {n for b in blocks(page.read_text(encoding="utf-8")) for n in range(b.line, b.end_line + 1)}
    for number, line in enumerate(page.read_text(encoding="utf-8").split("\n"), 1):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match and number not in fenced:
            slug = github_anchor(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


_LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def links(page: Path) -> list[tuple[int, str]]:
    text = page.read_text(encoding="utf-8")
    fenced = {n for b in blocks(text) for n in range(b.line, b.end_line + 1)}
    found = []
    for number, line in enumerate(text.split("\n"), 1):
        if number in fenced:
            continue
        for match in _LINK.finditer(re.sub(r"`([^`]*)`", r"\1", line)):
            found.append((number, match.group(1)))
    return found


def test_links_point_at_existing_files_and_headings():
    broken = []
    for page in sorted(DOCS.rglob("*.md")):
        if "reference" in page.relative_to(DOCS).parts:
            continue  # generated by `maforge schema-docs`, checked by its own test
        for number, target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto:
            path_part, _, fragment = target.partition("#")
            resolved = (page.parent / path_part).resolve() if path_part else page
            where = f"{page.relative_to(DOCS)}:{number}: {target}"
            if not resolved.exists():
                broken.append(f"{where}: no such file")
            elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
                broken.append(f"{where}: no heading #{fragment} in {resolved.name}")
    assert not broken, "\n".join(broken)


# --------------------------------------------------------------------------- the GitHub workflow


def test_the_workflow_parses_and_names_only_real_maforge_options():
    """Every `maforge ...` line of the workflow parses with the command line's own parser."""
    import click
    import typer.main

    from maforge.cli import app

    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert {"name", "jobs"} <= set(workflow) and (True in workflow or "on" in workflow)
    group = typer.main.get_command(app)
    checked = 0
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            script = re.sub(r"\\\n\s*", " ", step.get("run", ""))
            for line in script.split("\n"):
                line = line.strip()
                if not line.startswith("maforge "):
                    continue
                words = shlex.split(line.split(" > ")[0].split(" && ")[0].split(" || ")[0])[1:]
                global_options = [w for w in words[: next(i for i, w in enumerate(words) if not w.startswith("-"))]]
                name = words[len(global_options)]
                assert set(global_options) <= {"--verbose", "-v"}, f"{WORKFLOW.name}: {line}: unknown global option"
                assert name in group.commands, f"{WORKFLOW.name}: {line}: no command {name!r}"  # type: ignore[attr-defined]
                try:
                    group.commands[name].make_context(name, words[len(global_options) + 1 :])  # type: ignore[attr-defined]
                except click.UsageError as error:
                    pytest.fail(f"{WORKFLOW.name}: {line}: {error.format_message()}")
                checked += 1
    assert checked >= 4


class _Expressions:
    """Just enough of GitHub's `${{ }}` expression language for the example workflow:
    contexts (github, env, vars, secrets, steps, needs, job), ==, !=, &&, ||, !, parentheses,
    strings, and always()/success()/failure()."""

    TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(\d+(?:\.\d+)?)|([A-Za-z_][\w.-]*)(\(\))?|(==|!=|&&|\|\||!|\(|\)))")

    def __init__(self, context: dict, status: str = "success"):
        self.context = context
        self.status = status

    def lookup(self, name: str) -> object:
        value: object = self.context
        parts = name.split(".")
        for index, part in enumerate(parts):
            if isinstance(value, dict) and part not in value and index > 0 and parts[index - 1] == "outputs":
                return None  # an output nobody set reads as null, as on GitHub
            if not isinstance(value, dict) or part not in value:
                raise KeyError(f"the workflow uses {name}, which the test's runner does not provide")
            value = value[part]
        return value

    def evaluate(self, text: str) -> object:
        python: list[str] = []
        values: list[object] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = self.TOKEN.match(text, position)
            if not match or match.end() == position:
                raise ValueError(f"cannot read the expression {text!r} at {position}")
            position = match.end()
            string, number, name, call, operator = match.groups()
            if string is not None:
                values.append(string[1:-1].replace("''", "'"))
                python.append(f"_v[{len(values) - 1}]")
            elif number is not None:
                python.append(number)
            elif name is not None and call:
                python.append({"always": "True", "success": repr(self.status == "success"), "failure": repr(self.status == "failure"), "cancelled": "False"}[name])
            elif name is not None:
                if name in ("true", "false", "null"):
                    python.append({"true": "True", "false": "False", "null": "None"}[name])
                else:
                    values.append(self.lookup(name))
                    python.append(f"_v[{len(values) - 1}]")
            else:
                python.append({"&&": " and ", "||": " or ", "!": " not ", "==": "==", "!=": "!=", "(": "(", ")": ")"}[operator])
        return eval("".join(python), {"__builtins__": {}}, {"_v": values})  # noqa: S307 - built from tokens above

    def substitute(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            value = self.evaluate(match.group(1))
            return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

        return re.sub(r"\$\{\{(.*?)\}\}", one, text)


@dataclass
class JobRun:
    result: str  # success, failure, skipped
    outputs: dict[str, str]
    log: str


class Runner:
    """Runs the workflow's jobs for one event as a GitHub-hosted runner would: `run:` steps in
    bash -eo pipefail, GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STEP_SUMMARY, job outputs and
    `needs`, artifacts between jobs, and the OIDC token request (answered by the emulator,
    which trusts it as Entra ID trusts GitHub). `gh` and `pip` are stubs that log their
    arguments; actions/checkout gives each job a fresh copy of the repository."""

    def __init__(self, workflow: dict, root: Path, repository: Path, emulator, tools: Path):
        self.workflow = workflow
        self.root = root
        self.repository = repository
        self.emulator = emulator
        self.tools = tools
        self.gh_log = root / "gh.log"
        self.pip_log = root / "pip.log"

    def run(self, event: str) -> dict[str, JobRun]:
        artifacts = self.root / f"artifacts-{event}-{len(list(self.root.glob('artifacts-*')))}"
        artifacts.mkdir()
        results: dict[str, JobRun] = {}
        for name, job in self.workflow["jobs"].items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            context = self._context(event, {n: {"result": results[n].result, "outputs": results[n].outputs} for n in needs})
            failed_needs = any(results[n].result != "success" for n in needs)
            condition = str(job.get("if", "success()")).replace("${{", "").replace("}}", "")
            if not re.search(r"\b(always|success|failure|cancelled)\(\)", condition):
                condition = f"success() && ({condition})"  # GitHub's implicit status check
            ok = _Expressions(context, "failure" if failed_needs else "success").evaluate(condition)
            if not ok:
                results[name] = JobRun("skipped", {}, "")
                continue
            results[name] = self._job(name, job, context, artifacts)
        return results

    def _context(self, event: str, needs: dict) -> dict:
        return {
            "github": {
                "event_name": event,
                "token": "ghs_test-token",
                "repository": "contoso/identity",
                "ref": "refs/heads/main" if event != "pull_request" else "refs/pull/7/merge",
                "event": {"pull_request": {"number": 7}} if event == "pull_request" else {},
                "run_id": "1001",
            },
            "vars": {"MAFORGE_READ_CLIENT_ID": self.emulator.state.client_id, "MAFORGE_WRITE_CLIENT_ID": self.emulator.state.client_id},
            "secrets": {"GITHUB_TOKEN": "ghs_test-token"},
            "needs": needs,
            "steps": {},
            "env": {},
        }

    def _job(self, name: str, job: dict, context: dict, artifacts: Path) -> JobRun:
        workspace = self.root / f"job-{name}-{len(list(self.root.glob('job-*')))}"
        shutil.copytree(self.repository, workspace)
        runner_temp = workspace.parent / (workspace.name + "-temp")
        runner_temp.mkdir()
        expressions = _Expressions(context)
        env = dict(base_environment(self.tools, self.root))
        for scope in (self.workflow.get("env") or {}, job.get("env") or {}):
            for key, value in scope.items():
                env[key] = expressions.substitute(str(value))
                context["env"][key] = env[key]
        files = {kind: runner_temp / kind for kind in ("env", "output", "summary")}
        for path in files.values():
            path.write_text("", encoding="utf-8")
        env.update(
            GITHUB_ACTIONS="true",
            GITHUB_WORKSPACE=str(workspace),
            GITHUB_EVENT_NAME=context["github"]["event_name"],
            GITHUB_REPOSITORY=context["github"]["repository"],
            GITHUB_RUN_ID=context["github"]["run_id"],
            GITHUB_ENV=str(files["env"]),
            GITHUB_STEP_SUMMARY=str(files["summary"]),
            RUNNER_TEMP=str(runner_temp),
            GH_LOG=str(self.gh_log),
            PIP_LOG=str(self.pip_log),
            # The runner's trust store knows GitHub's and Microsoft's CAs; here the emulator's.
            CURL_CA_BUNDLE=str(self.emulator.certs.ca_pem),
        )
        if (job.get("permissions") or {}).get("id-token") == "write":
            env.update(
                ACTIONS_ID_TOKEN_REQUEST_URL=f"{self.emulator.base_url}/_emulator/federated-token?api-version=2.0",
                ACTIONS_ID_TOKEN_REQUEST_TOKEN="runtime-request-token",
            )
        status = "success"
        log: list[str] = []
        for index, step in enumerate(job["steps"]):
            step_id = step.get("id", f"step{index}")
            context["steps"][step_id] = {"outputs": {}, "outcome": "skipped"}
            condition = str(step.get("if", "success()")).replace("${{", "").replace("}}", "")
            if not re.search(r"\b(always|success|failure|cancelled)\(\)", condition):
                condition = f"success() && ({condition})"
            if not _Expressions(context, status).evaluate(condition):
                continue
            with_ = {k: expressions.substitute(str(v)) for k, v in (step.get("with") or {}).items()}
            if "uses" in step:
                self._action(step["uses"], with_, workspace, artifacts)
                context["steps"][step_id]["outcome"] = "success"
                continue
            files["output"].write_text("", encoding="utf-8")
            step_env = dict(env)
            step_env.update(_read_env_file(files["env"]))
            step_env["GITHUB_OUTPUT"] = str(files["output"])
            for key, value in (step.get("env") or {}).items():
                step_env[key] = _Expressions(context, status).substitute(str(value))
            script = runner_temp / f"step{index}.sh"
            script.write_text(expressions.substitute(step["run"]), encoding="utf-8")
            finished = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=workspace,
                env=step_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
            log.append(f"--- {name} / {step.get('name', step_id)} (exit {finished.returncode})\n" + finished.stdout.decode("utf-8", "replace"))
            context["steps"][step_id]["outputs"] = _read_env_file(files["output"])
            context["steps"][step_id]["outcome"] = "success" if finished.returncode == 0 else "failure"
            if finished.returncode != 0:
                status = "failure"
        outputs = {key: _Expressions(context, status).substitute(str(value)) for key, value in (job.get("outputs") or {}).items()}
        return JobRun(status, outputs, "\n".join(log) + "\n--- step summary\n" + files["summary"].read_text(encoding="utf-8"))

    def _action(self, uses: str, with_: dict[str, str], workspace: Path, artifacts: Path) -> None:
        action = uses.split("@")[0]
        if action in ("actions/checkout", "actions/setup-python"):
            return  # a fresh copy of the repository per job; the test's Python
        if action == "actions/upload-artifact":
            target = artifacts / with_["name"]
            target.mkdir(parents=True, exist_ok=with_.get("overwrite") == "true")
            for pattern in with_["path"].split("\n"):
                for found in workspace.glob(pattern.strip()) if pattern.strip() else ():
                    shutil.copy2(found, target / found.name)
            return
        if action == "actions/download-artifact":
            source = artifacts / with_["name"]
            assert source.is_dir(), f"download-artifact: no artifact {with_['name']!r} uploaded earlier in this run"
            destination = workspace / with_.get("path", ".")
            destination.mkdir(parents=True, exist_ok=True)
            for found in source.iterdir():
                shutil.copy2(found, destination / found.name)
            return
        raise AssertionError(f"the test's runner does not know the action {uses}")


def _read_env_file(path: Path) -> dict[str, str]:
    """GITHUB_ENV / GITHUB_OUTPUT: NAME=value lines and NAME<<DELIMITER blocks."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            body = []
            i += 1
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            values[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
        i += 1
    return values


def _stub(path: Path, log_variable: str, body: str = "") -> None:
    path.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "${log_variable}"\n{body}exit 0\n', encoding="utf-8")
    path.chmod(0o755)


@needs_shell
@pytest.mark.skipif(shutil.which("curl") is None, reason="the workflow fetches its OIDC token with curl")
def test_the_github_workflow_runs(tmp_path):
    """The example workflow, run for a pull request, a nightly drift check, a merge and the
    next nightly check, against the emulator signed in with the federated (OIDC) token."""
    from maforge.connectors.emulator.server import Emulator, EmulatorConfig

    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    tools = _tools(tmp_path / "tools")
    _stub(tools / "gh", "GH_LOG", 'if [ -z "$GH_TOKEN" ]; then echo "gh: GH_TOKEN is not set" >&2; exit 4; fi\n'
          'while [ $# -gt 0 ]; do if [ "$1" = "--body-file" ]; then cat "$2" >> "$GH_LOG"; fi; shift; done\n')
    _stub(tools / "pip", "PIP_LOG")
    with Emulator(EmulatorConfig(), tmp_path / "emulator") as emulator:
        repository = tmp_path / "repository"
        shutil.copytree(SAMPLES, repository / "connectors")
        connection = {k: v for k, v in emulator.connection().items() if k not in ("client_id", "certificate", "username", "password")}
        connection["auth_method"] = "federated"
        (repository / "connections").mkdir()
        (repository / "connections" / "prod.json").write_text(json.dumps(connection, indent=2) + "\n", encoding="utf-8")
        runner = Runner(workflow, tmp_path, repository, emulator, tools)

        pull_request = runner.run("pull_request")
        logs = "\n".join(job.log for job in pull_request.values())
        assert pull_request["plan"].result == "success", logs
        assert pull_request["plan"].outputs["changes"] == "true", logs
        assert {pull_request[n].result for n in workflow["jobs"] if n != "plan"} == {"skipped"}, logs
        comment = runner.gh_log.read_text(encoding="utf-8")
        assert "pr comment 7 --body-file" in comment and "Plan: 11 to set, 19 to change, 2 to clear" in comment, comment
        assert "Plan: 11 to set" in pull_request["plan"].log  # the step summary holds it too
        assert (runner.pip_log.read_text(encoding="utf-8").split("\n")[0]).startswith("install "), "maforge is installed first"

        drifted = runner.run("schedule")
        assert drifted["drift"].result == "failure", "the drift gate fails while SharePoint differs from the spec"
        assert "Plan: 11 to set" in drifted["drift"].log

        merged = runner.run("push")
        logs = "\n".join(job.log for job in merged.values())
        assert merged["plan"].result == "success" and merged["apply"].result == "success", logs
        assert "Apply: 32 applied, 0 already applied, 0 stale, 0 failed" in merged["apply"].log, logs
        assert "Plan: 0 to set, 0 to change, 0 to clear; 25 profiles unchanged" in merged["apply"].log, logs

        clean = runner.run("schedule")
        assert clean["drift"].result == "success", clean["drift"].log


# --------------------------------------------------------------------------- updating a page


def _update(page: Path) -> int:
    """Run a page; write the actual output of every command that does not match into it."""
    with tempfile.TemporaryDirectory() as root:
        problems = run_page(page, Path(root))
    if not problems:
        print(f"{page}: every command gives the output shown")
        return 0
    lines = page.read_text(encoding="utf-8").split("\n")
    for problem in sorted(problems, key=lambda p: p.command.line, reverse=True):
        start = problem.command.line - 1 + problem.command.text.count("\n") + 1
        end = start + len(problem.command.expected)
        lines[start:end] = [" " * problem.command.indent + line if line else line for line in _clean(problem.actual)]
        print(f"{page}:{problem.command.line}: $ {problem.command.text}: output replaced (exit status {problem.status})")
    page.write_text("\n".join(lines), encoding="utf-8")
    return 1


if __name__ == "__main__":
    sys.exit(max([_update(Path(arg).resolve()) for arg in sys.argv[1:]] or [0]))
