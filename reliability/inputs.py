"""Bad input: hostile and broken files given to the real entry points.

Every kind of hostile input is tried in several variants through the command line
(`maforge validate`, `build`, `import-ma`, `diff`, `apply`, in-process through typer's test
runner) and through the library function behind it (`load_spec`, `read_ma_file`,
`load_plan`). A variant holds when it was refused: a non-zero exit, a message that names the
file (and its line, or the field, where there is one), no traceback, nothing written (no
output folder; for plans, no journal or results file and the emulator's write log unchanged),
no secret read and no network connection made.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from maforge.cli import app
from maforge.connectors.sync.plan import FORMAT_VERSION

from . import Trial

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SAMPLE_SPEC = SAMPLES / "spo-user-profiles.yaml"
# Real MA exports, when the shared reference folder sits beside this checkout (as in strategies.py,
# not imported from there: these trials do not need hypothesis).
REFERENCE_EXPORTS = ROOT.parent / "shared" / "reference" / "ma-exports"

CATEGORY = "bad input"
Outcome = tuple[str, "str | None"]  # (variant, None when it held or why it did not)

_RUNNER = CliRunner()
_MESSAGES: list[str] = []  # what the commands printed since the last trial, for its details
_SCRATCH: list[str] = []  # the scratch folder, left out of messages shown in the report


# --------------------------------------------------------------------------- helpers


def _invoke(*args: str) -> tuple[int, str, str | None]:
    """Run the command line in-process: (exit code, what it printed, the crash if any)."""
    result = _RUNNER.invoke(app, list(args), catch_exceptions=True)
    crash = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        frame = traceback.extract_tb(result.exc_info[2])[-1] if result.exc_info else None
        where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
        crash = f"{type(result.exception).__name__}: {str(result.exception)[:160]}{where}"
    shown = result.output.strip()
    for folder in _SCRATCH:
        shown = shown.replace(folder + "/", "")
    _MESSAGES.append(shown[:300])
    return result.exit_code, result.output, crash


def _judge(command: str, exit_code: int, output: str, crash: str | None, *, codes: Iterable[int], file: Path, where: str | None, secrets: Iterable[str] = ()) -> str | None:
    """Why a refusal was not clean, or None. ``where`` is a regular expression the message
    must match after the file name (its line, or the field)."""
    if crash:
        return f"{command}: traceback ({crash})"
    if "Traceback" in output:
        return f"{command}: printed a traceback"
    if exit_code not in tuple(codes):
        return f"{command}: exit {exit_code}: {output.strip()[-200:]}"
    if str(file) not in output:
        return f"{command}: the message does not name {file.name}: {output.strip()[-200:]}"
    if where is not None and not re.search(re.escape(str(file)) + where, output):
        return f"{command}: no location ({where}) in: {output.strip()[-200:]}"
    for secret in secrets:
        if secret in output:
            return f"{command}: printed the secret it should not have read"
    return None


def _trial(name: str, outcomes: list[Outcome], what: str, **details: Any) -> Trial:
    failures = [f"{label}: {why}" for label, why in outcomes if why]
    total = len(outcomes)
    messages = list(dict.fromkeys(m for m in _MESSAGES if m))
    _MESSAGES.clear()
    if failures:
        result = f"{total - len(failures)} of {total} {what}; not: " + "; ".join(failures[:3]) + (f" (+{len(failures) - 3} more)" if len(failures) > 3 else "")
    else:
        result = f"all {total} {what}"
        if messages:
            result += f"; e.g. `{messages[0].splitlines()[0][:160]}`"
    return Trial(CATEGORY, name, total, not failures, result, {"variants": [label for label, _ in outcomes], "failures": failures, "messages": messages[:20], **details})


def _crash_text(error: BaseException) -> str:
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    return f"{type(error).__name__}: {str(error)[:160]}" + (f" at {Path(frame.filename).name}:{frame.lineno}" if frame else "")


class _Canary:
    """A TCP listener on 127.0.0.1 that counts connections: any fetch of an external DTD or
    entity from it shows up here."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="reliability-canary", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/evil.dtd"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self._socket.close()


# --------------------------------------------------------------------------- MA XML


def _base_export(work: Path) -> Path:
    """A small, real MA export to wrap hostile parts around (and to diff against)."""
    real = REFERENCE_EXPORTS / "granfeldt-psma-ma-exported-2025.xml"
    if real.is_file():
        return real
    from maforge.compiler.build import render_outputs
    from maforge.compiler.validate import load_spec

    spec, _ = load_spec(SAMPLE_SPEC)
    result = render_outputs(spec, SAMPLE_SPEC.name)
    path = work / "base-export.xml"
    path.write_text(result.files[result.xml_name], encoding="utf-8")
    return path


_BODY = (
    "<export-ma server='X' export-date='2020-01-01 00:00:00.000'>\n"
    "<ma-data>\n <id>{00000000-0000-0000-0000-000000000001}</id>\n <name>NAME</name>\n</ma-data>\n"
    "<mv-data></mv-data>\n</export-ma>\n"
)


def _body(name: str = "Hostile", attribute: str | None = None) -> str:
    text = _BODY.replace("NAME", name)
    if attribute is not None:
        text = text.replace("server='X'", f"server='{attribute}'")
    return text


def _check_ma(path: Path, work: Path, right: Path, *, where: str | None, secrets: Iterable[str] = (), canary: _Canary | None = None) -> str | None:
    """import-ma, diff and read_ma_file must all refuse ``path`` cleanly."""
    from maforge.compiler.mim.decompile import ImportError_, read_ma_file
    from maforge.compiler.mim.sources import SourceError, load_ma_tree

    before = canary.connections if canary else 0
    out = work / "out"
    code, output, crash = _invoke("import-ma", str(path), "--out", str(out))
    why = _judge("import-ma", code, output, crash, codes=(1,), file=path, where=where, secrets=secrets)
    if why is None and out.exists():
        why = f"import-ma wrote {out}"
    shutil.rmtree(out, ignore_errors=True)  # so one failure does not spill into the next variant
    if why is None:
        code, output, crash = _invoke("diff", str(path), str(right))
        why = _judge("diff", code, output, crash, codes=(2,), file=path, where=where, secrets=secrets)
    if why is None:
        try:
            load_ma_tree(path)
            why = "load_ma_tree accepted it"
        except SourceError as error:
            if not str(error).startswith(str(path)):
                why = f"load_ma_tree: the message does not start with the file: {str(error)[:160]}"
        except Exception as error:  # noqa: BLE001 - a crash is what we look for
            why = f"load_ma_tree: traceback ({_crash_text(error)})"
    if why is None and path.stat().st_size < 1 << 28:
        try:
            read_ma_file(path.read_bytes(), str(path))
            why = "read_ma_file accepted it"
        except ImportError_ as error:
            if not str(error).startswith(str(path)):
                why = f"read_ma_file: the message does not start with the file: {str(error)[:160]}"
        except Exception as error:  # noqa: BLE001 - a crash is what we look for
            why = f"read_ma_file: traceback ({_crash_text(error)})"
    if why is None and canary is not None and canary.connections != before:
        why = f"{canary.connections - before} network connection(s) to the canary"
    return why


def _xml_variants(name: str, variants: dict[str, bytes], work: Path, right: Path, what: str, *, where: str | None, secrets: Iterable[str] = (), canary: _Canary | None = None) -> Trial:
    outcomes: list[Outcome] = []
    for index, (label, data) in enumerate(variants.items()):
        path = work / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())[:40]}-{index}.xml"
        path.write_bytes(data)
        outcomes.append((label, _check_ma(path, work, right, where=where, secrets=secrets, canary=canary)))
        path.unlink()
    return _trial(name, outcomes, what)


_DOCTYPE_REFUSAL = r"(:\d+)?: has a DOCTYPE or ENTITY declaration"
_LINE = r":\d+: "


def _xml_trials(quick: bool, work: Path) -> list[Trial]:
    right = _base_export(work)
    secret_value = f"MAFORGE-CANARY-{random.randrange(10**12):012d}"
    secret = work / "secret.txt"
    secret.write_text(secret_value, encoding="utf-8")
    secret_url = secret.resolve().as_uri()
    evil_dtd = work / "evil.dtd"
    evil_dtd.write_text(f'<!ENTITY secret SYSTEM "{secret_url}">\n', encoding="utf-8")
    padding = "<!--" + "x" * 5000 + "-->\n"  # pushes the DOCTYPE past the first 4 KB
    canary = _Canary()
    trials: list[Trial] = []
    try:
        def utf16(text: str) -> bytes:
            return text.replace("<?xml version=\"1.0\"?>", "<?xml version=\"1.0\" encoding=\"UTF-16\"?>").encode("utf-16")

        xxe = f'<?xml version="1.0"?>\n<!DOCTYPE export-ma [\n <!ENTITY secret SYSTEM "{secret_url}">\n]>\n' + _body("&secret;")
        trials.append(_xml_variants(
            "XML: external entity reading a local file (XXE)",
            {
                "entity in element text": xxe.encode(),
                "entity in an attribute": xxe.replace("<name>&secret;</name>", "<name>n</name>").replace("server='X'", "server='&secret;'").encode(),
                "no XML declaration": xxe.split("\n", 1)[1].encode(),
                "PUBLIC identifier": xxe.replace("SYSTEM", 'PUBLIC "-//maforge//x//EN"').encode(),
                "standalone='no'": xxe.replace('<?xml version="1.0"?>', '<?xml version="1.0" standalone="no"?>').encode(),
                "DOCTYPE after a 5 KB comment": (padding + xxe.split("\n", 1)[1]).encode(),
                "UTF-16 encoded": utf16(xxe),
            },
            work, right, "refused (DOCTYPE/ENTITY), exit 1 (diff 2), the file read by nobody, nothing written",
            where=_DOCTYPE_REFUSAL, secrets=[secret_value], canary=canary,
        ))

        param = f'<?xml version="1.0"?>\n<!DOCTYPE export-ma [\n <!ENTITY % p SYSTEM "{secret_url}">\n %p;\n]>\n' + _body()
        oob = f'<?xml version="1.0"?>\n<!DOCTYPE export-ma [\n <!ENTITY % dtd SYSTEM "{canary.url}">\n %dtd;\n]>\n' + _body("&send;")
        nested = '<?xml version="1.0"?>\n<!DOCTYPE export-ma [\n <!ENTITY % a "<!ENTITY b SYSTEM \'' + secret_url + '\'>">\n %a;\n]>\n' + _body("&b;")
        trials.append(_xml_variants(
            "XML: parameter entities (XXE via %entity;)",
            {
                "local file as a parameter entity": param.encode(),
                "external DTD fetched over HTTP (out of band)": oob.encode(),
                "parameter entity that declares an entity": nested.encode(),
                "after a 5 KB comment": (padding + oob.split("\n", 1)[1]).encode(),
                "UTF-16 encoded": utf16(oob),
            },
            work, right, "refused (DOCTYPE/ENTITY), no file read, no connection, nothing written",
            where=_DOCTYPE_REFUSAL, secrets=[secret_value], canary=canary,
        ))

        levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, 10)]
        laughs = '<?xml version="1.0"?>\n<!DOCTYPE export-ma [\n ' + "\n ".join(levels) + "\n]>\n" + _body("&lol9;")
        trials.append(_xml_variants(
            "XML: billion laughs (nested entity expansion)",
            {
                "10 levels of 10 in element text": laughs.encode(),
                "in an attribute value": laughs.replace("<name>&lol9;</name>", "<name>n</name>").replace("server='X'", "server='&lol9;'").encode(),
                "after a 5 KB comment": (padding + laughs.split("\n", 1)[1]).encode(),
                "UTF-16 encoded": utf16(laughs),
            },
            work, right, "refused before any expansion, exit 1 (diff 2), nothing written",
            where=_DOCTYPE_REFUSAL,
        ))

        big = "A" * 50_000
        quadratic = f'<?xml version="1.0"?>\n<!DOCTYPE export-ma [\n <!ENTITY a "{big}">\n]>\n' + _body("&a;" * 50_000)
        trials.append(_xml_variants(
            "XML: quadratic blow-up (one large entity used 50,000 times)",
            {
                "in element text": quadratic.encode(),
                "in an attribute value": (f'<?xml version="1.0"?>\n<!DOCTYPE export-ma [\n <!ENTITY a "{big}">\n]>\n' + _body(attribute="&a;" * 50_000)).encode(),
                "after a 5 KB comment": (padding + quadratic.split("\n", 1)[1]).encode(),
                "UTF-16 encoded": utf16(quadratic),
            },
            work, right, "refused before any expansion, exit 1 (diff 2), nothing written",
            where=_DOCTYPE_REFUSAL,
        ))

        trials.append(_xml_variants(
            "XML: external DTD",
            {
                "SYSTEM over HTTP": (f'<!DOCTYPE export-ma SYSTEM "{canary.url}">\n' + _body("&secret;")).encode(),
                "SYSTEM local file declaring an entity": (f'<!DOCTYPE export-ma SYSTEM "{evil_dtd.resolve().as_uri()}">\n' + _body("&secret;")).encode(),
                "PUBLIC over HTTP": (f'<!DOCTYPE export-ma PUBLIC "-//maforge//evil//EN" "{canary.url}">\n' + _body()).encode(),
                "after a 5 KB comment": (padding + f'<!DOCTYPE export-ma SYSTEM "{canary.url}">\n' + _body()).encode(),
                "UTF-16 encoded": utf16(f'<?xml version="1.0"?>\n<!DOCTYPE export-ma SYSTEM "{canary.url}">\n' + _body()),
            },
            work, right, "refused, no DTD fetched (0 connections to a listening canary), nothing written",
            where=_DOCTYPE_REFUSAL, secrets=[secret_value], canary=canary,
        ))

        huge = "A" * 11_000_000  # libxml2's limit for one value without huge_tree is 10,000,000
        trials.append(_xml_variants(
            "XML: huge attribute value (11 MB), huge text, deep nesting",
            {
                "11 MB attribute on the root": _body(attribute=huge).encode(),
                "11 MB attribute deep inside": _body().replace("<mv-data></mv-data>", f"<mv-data><x v='{huge}'/></mv-data>").encode(),
                "11 MB text value": _body(huge).encode(),
                "10,000 nested elements": _body().replace("<mv-data></mv-data>", "<mv-data>" + "<x>" * 10_000 + "</x>" * 10_000 + "</mv-data>").encode(),
            },
            work, right, "refused with the file's line, exit 1 (diff 2), nothing written",
            where=_LINE,
        ))
        del huge
    finally:
        canary.close()

    # Over-size files: sparse, so the test costs no disk; refused from their size alone.
    from maforge.compiler.loader import MAX_SPEC_BYTES
    from maforge.compiler.mim.mimxml import MAX_MA_FILE_BYTES

    outcomes: list[Outcome] = []
    for label, size in (("MA export one byte over the limit", MAX_MA_FILE_BYTES + 1), ("MA export of 1 TB (sparse)", 1 << 40)):
        path = work / "oversize.xml"
        with open(path, "wb") as handle:
            handle.truncate(size)
        outcomes.append((label, _check_ma(path, work, right, where=r": \d+ bytes is larger than the \d+-byte limit")))
        path.unlink()
    spec = work / "oversize.yaml"
    with open(spec, "wb") as handle:
        handle.truncate(MAX_SPEC_BYTES + 1)
    code, output, crash = _invoke("validate", str(spec))
    outcomes.append(("spec one byte over the limit (validate)", _judge("validate", code, output, crash, codes=(2,), file=spec, where=r": error: \d+ bytes is larger than")))
    code, output, crash = _invoke("build", str(spec), "--out", str(work / "out"))
    why = _judge("build", code, output, crash, codes=(2,), file=spec, where=r": \d+ bytes is larger than")
    outcomes.append(("spec one byte over the limit (build)", why or (f"build wrote {work / 'out'}" if (work / "out").exists() else None)))
    shutil.rmtree(work / "out", ignore_errors=True)
    spec.unlink()
    trials.append(_trial("Over-size file (MA export, spec)", outcomes, "refused from their size before reading, naming the limit"))

    # Malformed and truncated XML.
    data = right.read_bytes()
    end = data.rstrip().rfind(b">")
    rng = random.Random(20261126)
    offsets = sorted(rng.sample(range(1, end), 12 if quick else 150))
    variants: dict[str, bytes] = {f"cut at byte {o:,} of {len(data):,}": data[:o] for o in offsets}
    variants.update({
        "empty file": b"",
        "only white space": b"  \n\n",
        "plain text": b"this is not xml at all\n",
        "binary junk": bytes(rng.randrange(256) for _ in range(2000)),
        "NUL byte inside": data[:200] + b"\x00" + data[200:],
        "not UTF-8 though declared so": b'<?xml version="1.0" encoding="utf-8"?>\n<export-ma>\n<ma-data><name>\xff\xfe</name></ma-data></export-ma>\n',
        "mismatched end tag": _body().replace("</ma-data>", "</ma-date>").encode(),
        "two root elements": (_body() + _body()).encode(),
        "unclosed CDATA": _body().replace("<name>", "<name><![CDATA[x").encode(),
        "undefined entity without a DTD": _body("&undefined;").encode(),
    })
    trials.append(_xml_variants(
        "XML: malformed or truncated",
        variants, work, right, "refused as not well-formed XML with the line, exit 1 (diff 2), nothing written",
        where=_LINE,
    ))

    trials.append(_xml_variants(
        "XML: wrong root element",
        {
            "<saved-mv-configuration> (MV.xml)": b"<saved-mv-configuration>\n <mv-data></mv-data>\n</saved-mv-configuration>\n",
            "<html>": b"<html><body>not an MA</body></html>",
            "namespaced <x:export-ma>": b"<x:export-ma xmlns:x='urn:x'><ma-data><id>1</id><name>n</name></ma-data></x:export-ma>",
            "<export-ma> without <ma-data>": b"<export-ma server='X'></export-ma>",
            "<ma-data> without <id> or <name> (a packaged template)": b"<export-ma><ma-data><format-version>1</format-version></ma-data></export-ma>",
            "an XSLT stylesheet": b"<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'/>",
        },
        work, right, "refused naming what an MA file starts with, exit 1 (diff 2), nothing written",
        where=r": ",
    ))
    return trials


# --------------------------------------------------------------------------- specs (YAML and JSON)


def _check_spec(path: Path, work: Path, *, line: int | None, codes: Iterable[str], readable: bool = True, sentinel: Path | None = None) -> str | None:
    """validate, build and load_spec must all refuse ``path`` with a located error."""
    from maforge.compiler.diagnostics import SpecError
    from maforge.compiler.loader import UnreadableFile
    from maforge.compiler.validate import load_spec

    where = rf":{line}:\d+: error: " if line is not None else r"(:\d+:\d+)?: error: "
    code, output, crash = _invoke("validate", str(path))
    why = _judge("validate", code, output, crash, codes=(1,) if readable else (2,), file=path, where=where)
    if why is None:
        out = work / "out"
        code, output, crash = _invoke("build", str(path), "--out", str(out))
        why = _judge("build", code, output, crash, codes=(1, 2), file=path, where=where)
        if why is None and out.exists():
            why = f"build wrote {out}"
        shutil.rmtree(out, ignore_errors=True)
    if why is None:
        try:
            load_spec(path)
            why = "load_spec accepted it"
        except SpecError as error:
            wanted = set(codes)
            found = [d for d in error.diagnostics if d.code in wanted]
            if not found:
                why = f"load_spec: expected {'/'.join(sorted(wanted))}, got {[d.format() for d in error.diagnostics][:2]}"
            elif any(d.file != str(path) for d in error.diagnostics):
                why = "load_spec: a diagnostic names another file"
            elif line is not None and not any(d.position is not None and d.position.line == line for d in found):
                why = f"load_spec: expected line {line}, got {[d.format() for d in found][:2]}"
        except UnreadableFile as error:
            if readable or not str(error).startswith(str(path)):
                why = f"load_spec: unreadable: {error}"
        except Exception as error:  # noqa: BLE001
            why = f"load_spec: traceback ({_crash_text(error)})"
    if why is None and sentinel is not None and sentinel.exists():
        why = f"a tag ran code: {sentinel} was created"
    return why


def _validate_in_child(path: Path, line: int) -> str | None:
    """`maforge validate` in its own process (a crash there cannot take this run down)."""
    result = subprocess.run([sys.executable, "-m", "maforge", "validate", str(path)], capture_output=True, text=True, timeout=300, cwd=path.parent)
    output = result.stdout + result.stderr
    _MESSAGES.append(output.strip()[:300])
    if result.returncode < 0:
        return f"validate was killed by signal {-result.returncode}"
    return _judge("validate (child process)", result.returncode, output, None, codes=(1,), file=path, where=rf":{line}:\d+: error: nesting deeper than")


def _spec_outcomes(variants: dict[str, tuple[bytes, int | None]], work: Path, *, codes: Iterable[str], sentinel: Path | None = None) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for index, (label, (data, line)) in enumerate(variants.items()):
        path = work / f"spec-{index}{'.json' if label.startswith('JSON') else '.yaml'}"
        path.write_bytes(data)
        outcomes.append((label, _check_spec(path, work, line=line, codes=codes, sentinel=sentinel)))
        path.unlink()
    return outcomes


def _spec_variants(name: str, variants: dict[str, tuple[bytes, int | None]], work: Path, what: str, *, codes: Iterable[str], sentinel: Path | None = None) -> Trial:
    return _trial(name, _spec_outcomes(variants, work, codes=codes, sentinel=sentinel), what)


def _sample_with(line_text: str, replacement: str) -> tuple[bytes, int]:
    """The sample spec with the first line equal to ``line_text`` (stripped) replaced."""
    lines = SAMPLE_SPEC.read_text(encoding="utf-8").split("\n")
    index = next(i for i, text in enumerate(lines) if text.strip() == line_text)
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines[index] = indent + replacement
    return "\n".join(lines).encode("utf-8"), index + 1


def _spec_trials(work: Path) -> list[Trial]:
    head = "apiVersion: maforge/v1\nkind: Connector\nname: Hostile\ntype: spo-user-profiles\n"
    trials: list[Trial] = []

    bomb = head + 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10)
    )
    trials.append(_spec_variants(
        "YAML: alias bomb (billion laughs with anchors)",
        {
            "9 levels of 9 aliases": (bomb.encode(), 6),
            "merge key <<: *base": ((head + "base: &base {x: 1}\nother:\n  <<: *base\n  y: 2\n").encode(), 7),
            "alias as a mapping key": ((head + "k: &k key\nmapping:\n  *k : value\n").encode(), 7),
            "alias of a scalar": ((head + "description: &d text\nother: *d\n").encode(), 6),
            "anchors and aliases in flow style": ((head + "x: {a: &a [1, 2], b: *a}\n").encode(), 5),
        },
        work, "refused at the first alias without expanding it (MF003, file:line:col), nothing built",
        codes={"MF003"},
    ))

    sentinel = work / "pwned"
    trials.append(_spec_variants(
        "YAML: !!python/object tags (object construction)",
        {
            "!!python/object/apply:os.system": ((head + f'description: !!python/object/apply:os.system ["touch {sentinel}"]\n').encode(), 5),
            "!!python/object/new:subprocess.Popen": ((head + f"description: !!python/object/new:subprocess.Popen [[touch, {sentinel}]]\n").encode(), 5),
            "!!python/object:__main__.X": ((head + "description: !!python/object:__main__.X {a: 1}\n").encode(), 5),
            "!!python/name:os.system": ((head + "description: !!python/name:os.system ''\n").encode(), 5),
            "!!python/module:os": ((head + "description: !!python/module:os ''\n").encode(), 5),
            "verbatim !<tag:yaml.org,2002:python/object/apply:os.system>": ((head + f'description: !<tag:yaml.org,2002:python/object/apply:os.system> ["touch {sentinel}"]\n').encode(), 5),
            "as a mapping key's value deep inside": ((head + f'schema:\n  objectTypes:\n    user: !!python/object/apply:os.system ["touch {sentinel}"]\n').encode(), 7),
        },
        work, "refused (MF005, file:line:col), nothing constructed or run, nothing built",
        codes={"MF005"}, sentinel=sentinel,
    ))

    trials.append(_spec_variants(
        "YAML: other unknown tags",
        {
            "!custom": ((head + "description: !custom x\n").encode(), 5),
            "!!binary": ((head + "description: !!binary aGVsbG8=\n").encode(), 5),
            "!!set": ((head + "description: !!set {a, b}\n").encode(), 5),
            "!!omap": ((head + "description: !!omap [a: 1]\n").encode(), 5),
            "!!timestamp": ((head + "description: !!timestamp 2001-12-14\n").encode(), 5),
            "%TAG directive with a local tag": (("%TAG !e! tag:example.com,2000:\n---\n" + head + "description: !e!thing x\n").encode(), 7),
        },
        work, "refused (MF005, file:line:col), nothing built",
        codes={"MF005"},
    ))

    outcomes = _spec_outcomes(
        {
            "100 nested flow lists": ((head + "description: " + "[" * 100 + "]" * 100 + "\n").encode(), 5),
            "10,000 nested flow lists": ((head + "description: " + "[" * 10_000 + "]" * 10_000 + "\n").encode(), 5),
            "100 nested block mappings": ((head + "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v: 1\n").encode(), 70),
            "JSON: 10,000 nested arrays": (("{\"description\": " + "[" * 10_000 + "]" * 10_000 + "}").encode(), 1),
            "JSON: 100 nested objects": (("{\"description\": " + '{"a": ' * 100 + "1" + "}" * 100 + "}").encode(), 1),
        },
        work,
        codes={"MF004", "MF002"},
    )
    # Nesting that once overflowed libyaml's C stack and killed the process: tried in a
    # child process, so a crash shows up as a failed variant and not as a dead run.
    for label, text, line in (
        ("100,000 nested flow lists (child process)", head + "description: " + "[" * 100_000 + "]" * 100_000 + "\n", 5),
        ("100,000 nested block lists on one line (child process)", head + "description:\n" + "- " * 100_000 + "x\n", 6),
        ("1,000,000 nested flow mappings (child process)", head + "d: " + "{a: " * 1_000_000 + "1" + "}" * 1_000_000 + "\n", 5),
    ):
        path = work / "deep.yaml"
        path.write_text(text, encoding="utf-8")
        outcomes.append((label, _validate_in_child(path, line)))
        path.unlink()
    trials.append(_trial("YAML/JSON: deep nesting", outcomes, "refused as nesting deeper than 64 levels with the place, no recursion crash, no process killed"))

    trials.append(_spec_variants(
        "YAML/JSON: huge numbers",
        {
            "5,000-digit integer": _sample_with("pageSize: 500", "pageSize: " + "9" * 5000),
            "1e999 (infinite)": _sample_with("pageSize: 500", "pageSize: 1e999"),
            "-1e999": _sample_with("pageSize: 500", "pageSize: -1e999"),
            ".nan": _sample_with("pageSize: 500", "pageSize: .nan"),
            "30-digit integer": _sample_with("pageSize: 500", "pageSize: " + "9" * 30),
            "0x and 200 hex digits": _sample_with("pageSize: 500", "pageSize: 0x" + "f" * 200),
            "JSON: 5,000-digit number": (('{"apiVersion": "maforge/v1", "kind": "Connector", "name": "x", "type": "spo-user-profiles",\n "description": ' + "9" * 5000 + "}").encode(), 2),
        },
        work, "refused at the number's line (MF009 for over 100 digits, else out of range or not an integer)",
        codes={"MF009", "MF002", *(f"MF1{n:02d}" for n in range(100))},
    ))

    trials.append(_spec_variants(
        "YAML/JSON: duplicate keys",
        {
            "top-level key": ((head + "name: Twice\n").encode(), 5),
            "nested key": ((head + "sharepoint:\n  tenant: a\n  tenant: b\n").encode(), 7),
            "flow mapping": ((head + "sharepoint: {tenant: a, tenant: b}\n").encode(), 5),
            "quoted and plain spelling of one key": ((head + '"name": Twice\n').encode(), 5),
            "JSON: duplicate key": (b'{"apiVersion": "maforge/v1",\n "kind": "Connector",\n "kind": "Connector"}', 3),
        },
        work, "refused naming both lines (MF007), never silently overridden",
        codes={"MF007"},
    ))

    text = SAMPLE_SPEC.read_text(encoding="utf-8")
    trials.append(_spec_variants(
        "YAML: not UTF-8",
        {
            "Latin-1 byte in a comment": ((head + "# caf\xe9\n").encode("latin-1"), 5),
            "Windows-1252 quotes in a value": ((head + "description: \u201cquoted\u201d\n").encode("cp1252"), 5),
            "UTF-16 LE with BOM": (text.encode("utf-16-le").join([b"\xff\xfe", b""]), 1),
            "UTF-16 BE with BOM": (b"\xfe\xff" + text.encode("utf-16-be"), 1),
            "UTF-16 LE without BOM": (text.encode("utf-16-le"), 1),
            "UTF-32 LE with BOM": (text.encode("utf-32"), 1),
            "overlong encoding (0xC0 0xAF)": ((head + "description: a").encode() + b"\xc0\xaf\n", 5),
            "encoded surrogate (0xED 0xA0 0x80)": ((head + "description: a").encode() + b"\xed\xa0\x80\n", 5),
        },
        work, "refused saying the file is not UTF-8 (or UTF-16) with the line (MF008)",
        codes={"MF008"},
    ))
    return trials


# --------------------------------------------------------------------------- plans


class _PlanBench:
    """A fresh emulated tenant, a connection file and a real plan of the sample spec."""

    def __init__(self, work: Path):
        from maforge.compiler.validate import load_spec
        from maforge.connectors.emulator.server import Emulator, EmulatorConfig
        from maforge.connectors.sync.commands import open_session, run_plan
        from maforge.connectors.sync.plan import save_plan
        from maforge.connectors.sync.rulebook import RuleBook

        self.work = work
        (work / "emulator").mkdir()
        self.emulator = Emulator(EmulatorConfig(), work / "emulator").start()
        self.connection = work / "connection.json"
        self.connection.write_text(json.dumps(self.emulator.connection()), encoding="utf-8")
        self.book = RuleBook.from_spec(load_spec(SAMPLE_SPEC)[0])
        with open_session(self.book, self.connection) as session:
            self.plan = run_plan(self.book, SAMPLES, session)
        self.path = work / "good-plan.json"
        save_plan(self.plan, self.path)
        self.data = json.loads(self.path.read_text(encoding="utf-8"))
        self.text = self.path.read_bytes()
        self.count = 0

    def close(self) -> None:
        self.emulator.stop()

    def writes(self) -> int:
        return len(self.emulator.state.writes)

    def refuse(self, content: bytes, *, where: str | None, extra: tuple[str, ...] = (), load: bool = True) -> str | None:
        """`maforge apply PLAN` must refuse ``content``: exit 1, the file named (with its line or
        field), no traceback, no journal or results file, no write in the tenant."""
        from maforge.connectors.sync.plan import PlanError, load_plan

        self.count += 1
        folder = self.work / f"plan{self.count}"
        folder.mkdir()
        path = folder / "plan.json"
        path.write_bytes(content)
        state = self.work / f"state{self.count}"
        before = self.writes()
        code, output, crash = _invoke("apply", str(path), "--connection", str(self.connection), "--state", str(state), *extra)
        why = _judge("apply", code, output, crash, codes=(1,), file=path, where=where)
        if why is None and self.writes() != before:
            why = f"apply wrote {self.writes() - before} values to the tenant"
        if why is None and sorted(p.name for p in folder.iterdir()) != ["plan.json"]:
            why = f"apply left files beside the plan: {sorted(p.name for p in folder.iterdir())}"
        if why is None and state.exists() and any(state.iterdir()):
            why = f"apply wrote into {state}"
        if why is None and load:
            try:
                load_plan(path)
                why = "load_plan accepted it"
            except PlanError as error:
                if not str(error).startswith(str(path)):
                    why = f"load_plan: the message does not start with the file: {str(error)[:160]}"
            except Exception as error:  # noqa: BLE001
                why = f"load_plan: traceback ({_crash_text(error)})"
        return why

    def edited(self, change: Callable[[dict[str, Any]], None], *, seal: bool = True) -> bytes:
        """The plan with ``change`` made. Sealed (the default) with a digest that matches the
        edit, as a forger would, so the trial meets the guard behind the digest; unsealed, the
        digest must refuse it."""
        data = json.loads(json.dumps(self.data))
        data.pop("digest", None)
        change(data)
        body = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        if not seal:
            return json.dumps({**data, "digest": self.data.get("digest", "")}, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"
        digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
        return (json.dumps({**data, "digest": f"sha256:{digest}"}, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _set(pointer: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = [int(t) if t.isdigit() else t for t in pointer.strip("/").split("/")]
        node: Any = data
        for token in parents:
            node = node[token]
        node[last] = value

    return change


def _drop(pointer: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = [int(t) if t.isdigit() else t for t in pointer.strip("/").split("/")]
        node: Any = data
        for token in parents:
            node = node[token]
        del node[last]

    return change


_AT_FIELD = r": not a valid plan at [^:]+: "
_JSON_AT = r":\d+:\d+: (error: )?"


def _plan_trials(quick: bool, work: Path) -> list[Trial]:
    bench = _PlanBench(work)
    trials: list[Trial] = []
    try:
        text = bench.text
        rng = random.Random(1126)
        offsets = sorted(rng.sample(range(0, len(text) - 2), 15 if quick else 200))
        outcomes = [(f"cut at byte {o:,} of {len(text):,}", bench.refuse(text[:o], where=r"(:\d+:\d+: |: neither a plan)")) for o in offsets]
        trials.append(_trial("Plan: truncated at random byte offsets", outcomes, "refused naming the plan and the line where it ends (or as a damaged plan when cut before its format_version), exit 1, nothing written to the tenant"))

        wrong_types = {
            "tenant is a number": _set("tenant", 5),
            "profiles is an object": _set("profiles", {}),
            "changes is text": _set("profiles/0/changes", "all of them"),
            "before is a number": _set("profiles/0/changes/0/before", 3),
            "after is an object": _set("profiles/0/changes/0/after", {"x": 1}),
            "refreshed is text": _set("refreshed", "yes"),
            "summary count is negative": _set("summary/set", -1),
            "account is null": _set("profiles/0/account", None),
            "format_version is text": _set("format_version", "1"),
            "format_version is true": _set("format_version", True),
            "created_at is not a date": _set("created_at", "yesterday"),
            "spec_hash is not a hash": _set("spec_hash", "not-a-hash"),
            "a required key removed (tenant)": _drop("tenant"),
            "a change without its prior value": _drop("profiles/0/changes/0/before"),
        }
        outcomes = []
        for label, change in wrong_types.items():
            where = r"(: plan format| ?: not a maforge plan|" + _AT_FIELD + ")"
            outcomes.append((label, bench.refuse(bench.edited(change), where=where)))
        trials.append(_trial("Plan: hand-edited, wrong types or missing keys", outcomes, "refused naming the plan and the field, exit 1, nothing written"))

        unknown = {
            "top level": _set("approved_by", "me"),
            "in a profile": _set("profiles/0/note", "x"),
            "in a change": _set("profiles/0/changes/0/force", True),
            "in the summary": _set("summary/renamed", 0),
        }
        trials.append(_trial("Plan: hand-edited, unknown keys", [(label, bench.refuse(bench.edited(c), where=_AT_FIELD)) for label, c in unknown.items()], "refused naming the plan and the field, exit 1, nothing written"))

        actions = {repr(a): _set("profiles/0/changes/0/action", a) for a in ("rename", "", "SET", "delete", None, 1)}
        trials.append(_trial("Plan: hand-edited, bad action", [(label, bench.refuse(bench.edited(c), where=_AT_FIELD)) for label, c in actions.items()], "refused naming the plan and the field, exit 1, nothing written"))

        others = (0, FORMAT_VERSION - 1, FORMAT_VERSION + 1, 99, -1, None, 1.5)
        versions = {**{f"format_version {v!r}": _set("format_version", v) for v in dict.fromkeys(others)}, "format_version removed": _drop("format_version")}
        trials.append(_trial(
            "Plan: changed format_version",
            [(label, bench.refuse(bench.edited(c), where=rf"(: plan format .* this maforge reads {FORMAT_VERSION}|: not a maforge plan|" + _AT_FIELD + r"|: neither a plan)")) for label, c in versions.items()],
            "refused naming the plan and the version this maforge reads, exit 1, nothing written",
        ))

        good = text.decode("utf-8")
        non_json = {
            "empty file": (b"", r"(:\d+:\d+)?: "),
            "YAML instead of JSON": (("format_version: 1\ntenant: contoso\n").encode(), r":\d+:\d+: "),
            "trailing garbage": (text + b"\n}\n", _JSON_AT),
            "a comment": (text.replace(b"{", b"{ // approved\n", 1), _JSON_AT),
            "NaN as a value": (text.replace(b'"refreshed": true', b'"refreshed": NaN', 1), _AT_FIELD),
            "Latin-1 byte inside a string": (good.replace('"connector": "', '"connector": "caf\xe9 ', 1).encode("latin-1", "replace"), r":\d+:\d+: "),
            "10,000 nested arrays": (text.replace(b'"problems": [', b'"problems": [' + b"[" * 10_000 + b"]" * 10_000 + b",", 1), r"(:\d+:\d+)?: "),
            "UTF-16": (good.encode("utf-16"), r"(:\d+:\d+)?: "),
            "binary junk after the header": (text[:40] + bytes(rng.randrange(256) for _ in range(500)), r"(:\d+:\d+)?: "),
            "single quotes": (text.replace(b'"', b"'"), r"(:\d+:\d+)?: "),
        }
        trials.append(_trial("Plan: not JSON", [(label, bench.refuse(content, where=where)) for label, (content, where) in non_json.items()], "refused naming the plan and the line, exit 1, nothing written"))

        unsealed = {
            "an after value changed": _set("profiles/0/changes/0/after", "edited by hand"),
            "a prior value changed": _set("profiles/0/changes/0/before", "edited by hand"),
            "the tenant changed": _set("tenant", "fabrikam"),
        }
        outcomes = [(label, bench.refuse(bench.edited(c, seal=False), where=r": this plan was changed after `maforge plan` wrote it")) for label, c in unsealed.items()]
        trials.append(_trial("Plan: edited after plan wrote it", outcomes, "refused by its digest before any write, naming the plan, exit 1"))

        tenants = {f"tenant {t!r}": _set("tenant", t) for t in ("fabrikam", "contoso-dev", "")}
        outcomes = [(label, bench.refuse(bench.edited(c), where=r": the plan is for tenant .*, the connection is to 'contoso'", load=False)) for label, c in tenants.items()]
        trials.append(_trial("Plan: made for another tenant", outcomes, "refused by the tenant guard before any write, naming the plan, exit 1"))

        edited_spec = work / "edited" / SAMPLE_SPEC.name
        edited_spec.parent.mkdir()
        edited_spec.write_text(SAMPLE_SPEC.read_text(encoding="utf-8") + "\n# reviewed again\n", encoding="utf-8")
        (edited_spec.parent / "hr.csv").write_bytes((SAMPLES / "hr.csv").read_bytes())
        other = {
            "the spec edited since the plan (--spec)": (text, ("--spec", str(edited_spec))),
            "the spec's dev environment (--spec --env dev)": (text, ("--spec", str(SAMPLE_SPEC), "--env", "dev")),
            "another connector's spec (--spec)": (text, ("--spec", str(SAMPLES / "powershell" / "flatfile-hr.yaml"))),
            "a plan without a recorded spec (--spec)": (bench.edited(_set("spec_hash", "")), ("--spec", str(SAMPLE_SPEC))),
            "a plan whose spec_hash was edited (--spec)": (bench.edited(_set("spec_hash", "0" * 64)), ("--spec", str(SAMPLE_SPEC))),
        }
        outcomes = [(label, bench.refuse(content, where=r": the plan was made from .*make a new plan", extra=extra, load=False)) for label, (content, extra) in other.items()]
        # The control: the same plan with the spec it was made from is applied, so the
        # refusals above came from the guard and not from a broken set-up.
        before = bench.writes()
        control = work / "control" / "plan.json"
        control.parent.mkdir()
        control.write_bytes(text)
        code, output, crash = _invoke("apply", str(control), "--connection", str(bench.connection), "--spec", str(SAMPLE_SPEC), "--state", str(work / "control-state"))
        applied = bench.writes() - before
        control_ok = code == 0 and crash is None and applied == bench.plan.change_count
        outcomes.append(("control: the plan with its own spec", None if control_ok else f"exit {code}, {applied} of {bench.plan.change_count} written: {crash or output.strip()[-200:]}"))
        trials.append(_trial("Plan: made from another spec", outcomes, "refused by the spec guard before any write, naming the plan; the control with its own spec applied", control_writes=applied))
    finally:
        bench.close()
    return trials


# --------------------------------------------------------------------------- entry point


def run(quick: bool) -> list[Trial]:
    with tempfile.TemporaryDirectory(prefix="maforge-inputs-") as scratch:
        work = Path(scratch)
        _SCRATCH[:] = [scratch, str(work.resolve())]
        _MESSAGES.clear()
        trials: list[Trial] = []
        for part, runner in (("xml", lambda w: _xml_trials(quick, w)), ("spec", _spec_trials), ("plan", lambda w: _plan_trials(quick, w))):
            folder = work / part
            folder.mkdir()
            trials.extend(runner(folder))
        return trials
