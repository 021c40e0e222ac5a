"""Compile and run C# in tests: Mono's mcs and mono, JSON lines in and out.

MIM runs maforge's generated C# on the .NET Framework; the tests run it under Mono, which
compiles and runs the same C# 5. Usage::

    from csharp_support import RUNTIME_CS, JSON_CS, compile_csharp, run_json_lines

    exe = compile_csharp([RUNTIME_CS, JSON_CS, "tests/csharp/ExpressionHarness.cs"], extra={"Cases.cs": source})
    replies = run_json_lines(exe, [{"case": 0, "row": {}, "now": "..."}])

Without mcs or mono a test skips with the reason, except under CI (CI=true), where a missing
compiler must fail the run instead of passing it quietly. Compiled programs are cached for
the test session by the hash of their sources, so many tests share one mcs run.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSHARP_TESTS = Path(__file__).resolve().parent / "csharp"
RUNTIME_CS = ROOT / "templates" / "csharp" / "MaforgeRuntime.cs"
JSON_CS = CSHARP_TESTS / "Json.cs"
LANGUAGE_VERSION = "5"  # what the csc of every .NET Framework 4.x compiles

_CACHE: dict[str, Path] = {}
_WORKDIR: Path | None = None


class CSharpCompileError(AssertionError):
    """mcs refused the sources; the message holds its diagnostics."""


@dataclass(frozen=True)
class Toolchain:
    mcs: str
    mono: str


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def toolchain() -> Toolchain:
    """mcs and mono, or skip (locally) / fail (under CI) with the reason."""
    mcs, mono = shutil.which("mcs"), shutil.which("mono")
    if mcs and mono:
        return Toolchain(mcs, mono)
    missing = " and ".join(name for name, path in (("mcs", mcs), ("mono", mono)) if not path)
    reason = f"{missing} not found on PATH: install mono-mcs and mono-runtime to run the C# tests"
    if under_ci():
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def _workdir() -> Path:
    global _WORKDIR
    if _WORKDIR is None:
        _WORKDIR = Path(tempfile.mkdtemp(prefix="maforge-csharp-"))
        atexit.register(shutil.rmtree, _WORKDIR, True)
    return _WORKDIR


def compile_csharp(
    sources: Sequence[str | Path],
    *,
    extra: Mapping[str, str] | None = None,
    references: Sequence[str] = ("System.dll", "System.Core.dll"),
    name: str = "program",
    language_version: str = LANGUAGE_VERSION,
) -> Path:
    """Compile ``sources`` (files) plus ``extra`` ({file name: C# text}) to an exe; the same
    inputs give the cached exe of an earlier call in this session."""
    toolchain()
    texts = {str(Path(p)): Path(p).read_text(encoding="utf-8") for p in sources}
    texts.update({f"<extra>/{k}": v for k, v in (extra or {}).items()})
    digest = hashlib.sha256()
    for key in sorted(texts):
        digest.update(key.encode() + b"\0" + texts[key].encode("utf-8", "surrogatepass") + b"\0")
    digest.update(repr((tuple(references), language_version)).encode())
    key = digest.hexdigest()[:16]
    if key in _CACHE:
        return _CACHE[key]
    folder = _workdir() / key
    folder.mkdir(exist_ok=True)
    files = []
    for index, (label, text) in enumerate(sorted(texts.items())):
        path = folder / f"{index:02d}_{Path(label).name}"
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    exe = folder / f"{name}.exe"
    run_mcs(folder, ["-optimize+", f"-langversion:{language_version}", "-codepage:65001", f"-out:{exe}", *(f"-r:{r}" for r in references), *files])
    if not exe.exists():
        raise CSharpCompileError(f"mcs wrote no {exe.name}")
    _CACHE[key] = exe
    return exe


def run_mcs(folder: Path, arguments: Sequence[str]) -> None:
    """One mcs run in ``folder`` (where it writes what -out: names); CSharpCompileError with
    its diagnostics when it refuses the sources."""
    done = subprocess.run([toolchain().mcs, "-nologo", *arguments], cwd=folder, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise CSharpCompileError(f"mcs failed ({done.returncode}):\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}")


def run_json_lines(exe: Path, records: Iterable[Any], *, arguments: Sequence[str] = (), timeout: float = 300) -> list[Any]:
    """Run ``exe`` (with ``arguments``) under mono with one JSON line per record on stdin; its
    JSON lines back. Non-ASCII is escaped both ways, so the console encoding does not matter."""
    tools = toolchain()
    payload = "".join(json.dumps(r, ensure_ascii=True) + "\n" for r in records)
    done = subprocess.run([tools.mono, "--debug", str(exe), *arguments], input=payload.encode("ascii"), capture_output=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"mono {exe.name} exited with {done.returncode}:\n{done.stderr.decode('utf-8', 'replace')[-4000:]}")
    return [json.loads(line) for line in done.stdout.decode("ascii").splitlines() if line.strip()]
