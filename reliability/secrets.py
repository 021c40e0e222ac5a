"""Secrets: planted secrets never reach a file or a stream of a run; sensitive files are owner-only.

One emulated tenant, a full run with `--verbose` everywhere (build; import, plan, apply and
apply again through `maforge`; the built package's import, plan and apply; `apply SPEC
--auto-approve`; an import while a third of the requests fail), signing in every way maforge offers (certificate, password by `${env:}` and
by `${file:}`, a federated CI token, device code). The secrets are the password, the client
secret in the environment, the certificate's private key, and every token, refresh token,
id token, device code and client assertion that crossed the emulated Entra ID (it records
them). Every file the run wrote and every stdout and stderr is searched for each of them.
Then sign-ins that fail (a wrong password, a wrong or damaged certificate, an expired
federated token, access tokens that expire at once) must end in one clean line holding no
secret, through both front ends. Last, the files that hold profile data or tokens (plans,
journals, apply results, snapshots, the token caches) must be readable by their owner only.

Inputs the run is given (connection files, the certificate, the CI token file) and the token
caches, whose job is to hold tokens, are not searched; the caches are checked for mode 0600.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import Trial

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "samples" / "spo-user-profiles.yaml"
PACKAGE = "spo_user_profiles_connector"
TIMEOUT = 300


@dataclass(slots=True)
class Secret:
    label: str
    needles: list[bytes]  # any of them found is a leak


@dataclass(slots=True)
class Ran:
    name: str
    args: list[str]
    code: int
    stdout: bytes
    stderr: bytes


@dataclass(slots=True)
class Setup:
    work: Path
    inputs: Path
    run: Path
    emulator: object
    env: dict[str, str]
    planted: list[Secret] = field(default_factory=list)
    ran: list[Ran] = field(default_factory=list)


# --------------------------------------------------------------------------- secrets


def _pem_body_lines(pem: bytes) -> list[bytes]:
    """The base64 lines of the private key block in ``pem``: any one of them found is a leak."""
    lines, inside = [], False
    for line in pem.splitlines():
        if b"PRIVATE KEY-----" in line:
            inside = b"BEGIN" in line
            continue
        if inside and len(line.strip()) >= 40:
            lines.append(line.strip())
    return lines


def _jwt_kind(token: str, emulator) -> str:
    from maforge.connectors.emulator.entra import entra_state
    from maforge.connectors.emulator.tokens import TokenError, parse_jwt

    try:
        claims = parse_jwt(token).claims
    except TokenError:
        entra = entra_state(emulator)
        if token in entra.refresh_tokens:
            return "refresh token"
        if token in entra.device_codes or len(token) >= 120:  # redeemed codes are forgotten; 128 characters
            return "device code"
        return "other secret sent to Entra"
    iss = str(claims.get("iss", ""))
    if iss == entra_state(emulator).issuer:
        return "federated CI token"
    if iss.lower() == emulator.state.client_id.lower():
        return "client assertion (certificate)"
    if claims.get("ver") == "2.0":
        return "id token"
    return "access token"


def seen_secrets(setup: Setup) -> list[Secret]:
    """The planted secrets, and every secret the emulated Entra ID saw or issued so far."""
    from maforge.connectors.emulator.entra import entra_state

    found: dict[str, Secret] = {}
    for secret in setup.planted:
        found.setdefault(secret.label, secret)
    known = {needle for secret in setup.planted for needle in secret.needles}
    for value in dict.fromkeys(entra_state(setup.emulator).secrets_seen):
        if value.encode() in known:
            continue  # a planted secret (the password) that reached Entra, as it should
        needles = [value.encode()]
        if value.count(".") == 2 and len(value.rsplit(".", 1)[1]) >= 40:
            needles.append(value.rsplit(".", 1)[1].encode())  # a JWT's signature alone
        kind = _jwt_kind(value, setup.emulator)
        label = f"{kind} …{value[-6:]}"
        found.setdefault(label, Secret(label, needles))
    return list(found.values())


def kinds(secrets: list[Secret]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for secret in secrets:
        kind = secret.label.split(" …", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def scan(artefacts: dict[str, bytes], secrets: list[Secret]) -> list[str]:
    """"SECRET in WHERE" for every secret found in an artefact."""
    return [f"{s.label} in {where}" for where, data in artefacts.items() for s in secrets if any(n in data for n in s.needles)]


# --------------------------------------------------------------------------- running


def _maforge(setup: Setup, name: str, *args: str, env: dict[str, str] | None = None, expect: int | None = 0) -> Ran:
    return _run(setup, name, [sys.executable, "-m", "maforge", *args], env, expect)


def _package(setup: Setup, name: str, *args: str, env: dict[str, str] | None = None, expect: int | None = 0) -> Ran:
    return _run(setup, name, [sys.executable, "-m", PACKAGE, *args], env, expect)


class RunFailed(Exception):
    pass


def _run(setup: Setup, name: str, command: list[str], env: dict[str, str] | None, expect: int | None) -> Ran:
    environment = dict(setup.env, **(env or {}))
    done = subprocess.run(command, cwd=setup.run, env=environment, capture_output=True, timeout=TIMEOUT)
    ran = Ran(name, command[3:], done.returncode, done.stdout, done.stderr)
    setup.ran.append(ran)
    if expect is not None and done.returncode != expect:
        from maforge.logs import redact

        tail = redact((done.stdout + done.stderr).decode("utf-8", "replace"))[-600:]
        raise RunFailed(f"{name} exited {done.returncode}, not {expect}: {tail}")
    return ran


def _connection(setup: Setup, name: str, **keys: str) -> Path:
    emulator = setup.emulator
    base = {k: v for k, v in emulator.connection().items() if k not in ("certificate", "username", "password")}
    path = setup.inputs / f"{name}.json"
    path.write_text(json.dumps({**base, **keys}), encoding="utf-8")
    return path


class _Scripted(random.Random):
    """The emulator's fault dice, loaded: the given faults for the first requests, then none."""

    def __init__(self, kinds: list[object]):
        super().__init__(0)
        self.kinds = list(kinds)

    def random(self) -> float:
        return 0.0 if self.kinds else 1.0

    def choice(self, seq):  # type: ignore[override]
        return self.kinds.pop(0) if self.kinds else seq[0]


def _reset_tenant(emulator) -> None:
    """Back to the seeded values, so the next cycle has changes to plan and apply."""
    with emulator.state.lock:
        emulator.state.overrides.clear()


def _start(work: Path, profiles: int, budget: int, time_scale: float = 300.0) -> Setup:
    from maforge.connectors.emulator.entra import entra_state, mint_federated_token
    from maforge.connectors.emulator.server import Emulator, EmulatorConfig

    from .faults import realistic

    inputs, run = work / "inputs", work / "run"
    inputs.mkdir()
    run.mkdir()
    # This trial is about secrets, so it signs in every way maforge offers, password included,
    # and applies with a cached password sign-in: the tenant must let the test user use the
    # password grant (no MFA) and let a delegated admin write others' profiles, which real
    # SharePoint refuses (docs/emulator.md, "Who may read and write profiles"). Throttling is
    # the emulator's own (the realistic profile, 300 times faster: a window of 1 s, Retry-After
    # 1 s), with a budget the commands spend, so the traces also hold throttling's lines: the
    # waits and what was sent again.
    emulator = Emulator(
        EmulatorConfig(profiles=profiles, bulk_job_seconds=0.2, mfa_required=False, allow_delegated_profile_writes=True, **realistic(budget, time_scale)),
        work / "emulator",
    ).start()
    entra_state(emulator).device_code_interval = 1  # msal polls every second, not every five
    state = emulator.state
    (inputs / "password.txt").write_text(state.password + "\n", encoding="utf-8")
    (inputs / "oidc.jwt").write_text(mint_federated_token(emulator, lifetime=900), encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MAFORGE_", "XDG_CACHE_HOME", "REQUESTS_CA_BUNDLE", "SSL_CERT"))
    }
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in (str(run / "build" / "python"), os.environ.get("PYTHONPATH", "")) if p),
        XDG_CACHE_HOME=str(work / "cache-password"),
        MAFORGE_SECRETS_PASSWORD=state.password,
        # Not used by any sign-in: a secret in the environment must not be echoed either.
        AZURE_CLIENT_SECRET=state.client_secret,
        # What the sample spec references; the build must leave both out.
        MAFORGE_SPO_PASSWORD=state.password,
        MAFORGE_SPO_CERTIFICATE=str(emulator.certs.app_pem),
    )
    setup = Setup(work, inputs, run, emulator, env)
    setup.planted = [
        Secret("password", [state.password.encode(), base64.b64encode(state.password.encode())]),
        Secret("client secret", [state.client_secret.encode()]),
        Secret("certificate private key", _pem_body_lines(emulator.certs.app_pem.read_bytes())),
    ]
    return setup


# --------------------------------------------------------------------------- the full run


def full_run(setup: Setup) -> None:
    """Every command with --verbose, every sign-in method; raises RunFailed on a surprise."""
    cert = _connection(setup, "certificate", certificate=str(setup.emulator.certs.app_pem))
    password_env = _connection(setup, "password-env", auth_method="password", public_client_id=setup.emulator.state.public_client_id,
                               username=setup.emulator.state.username, password="${env:MAFORGE_SECRETS_PASSWORD}")
    password_file = _connection(setup, "password-file", auth_method="password", public_client_id=setup.emulator.state.public_client_id,
                                username=setup.emulator.state.username, password="${file:password.txt}")
    federated = _connection(setup, "federated", auth_method="federated", federated_token_file=str(setup.inputs / "oidc.jwt"))
    device = _connection(setup, "device", auth_method="device-code", public_client_id=setup.emulator.state.public_client_id)
    spec, samples, run = str(SPEC), str(SPEC.parent), setup.run

    _maforge(setup, "maforge build", "--verbose", "build", spec, "--out", str(run / "build"))
    _maforge(setup, "maforge import (certificate)", "--verbose", "import", spec, "-c", str(cert), "--out", str(run / "state"))
    _maforge(setup, "maforge plan (password, ${env:})", "--verbose", "plan", spec, "-c", str(password_env), "--snapshot", str(run / "state"), "--out", str(run / "plan.json"))
    applied = _maforge(setup, "maforge apply (federated)", "--verbose", "apply", str(run / "plan.json"), "-c", str(federated), "--state", str(run / "state"))
    again = _maforge(setup, "maforge apply again (certificate)", "-v", "apply", str(run / "plan.json"), "-c", str(cert), "--state", str(run / "state"))
    if b"Apply: 0 applied" in applied.stdout or b"Apply: 0 applied" not in again.stdout:
        raise RunFailed(f"apply wrote nothing or apply again wrote something: {applied.stdout!r} / {again.stdout!r}")

    _reset_tenant(setup.emulator)
    device_cache = {"XDG_CACHE_HOME": str(setup.work / "cache-device")}
    _package(setup, "package import (device code)", "-v", "import", "--connection", str(device), "--out", str(run / "package-state"), env=device_cache)
    _package(setup, "package plan (password, ${file:})", "plan", "--verbose", "--connection", str(password_file), "--sources-dir", samples,
             "--out", str(run / "package-plan.json"), "--detailed-exitcode", env={"XDG_CACHE_HOME": str(setup.work / "cache-file")}, expect=2)
    _package(setup, "package apply (certificate, bulk)", "--verbose", "apply", str(run / "package-plan.json"), "--connection", str(cert),
             "--state", str(run / "package-state"), "--bulk", "always")

    _reset_tenant(setup.emulator)
    _maforge(setup, "maforge apply SPEC --auto-approve (cached password sign-in)", "--verbose", "apply", spec, "-c", str(password_env),
             "--auto-approve", "--state", str(run / "spec-apply"))

    # Faults and retries: their trace lines name the URL and the wait, never a credential.
    emulator = setup.emulator
    calm = emulator.config
    emulator.config = dataclasses.replace(calm, fault_rate=0.5, slow_seconds=0)
    emulator.faults = _Scripted([503, "reset"])  # two faults, then none: two back-offs, about 2 s
    try:
        _maforge(setup, "maforge import with faults (certificate)", "--verbose", "import", spec, "-c", str(cert), "--out", str(run / "state-faults"))
    finally:
        emulator.config = calm


def artefacts(setup: Setup, ran: list[Ran]) -> dict[str, bytes]:
    """Every file under the run folder, and every command's stdout and stderr."""
    found: dict[str, bytes] = {}
    for path in sorted(setup.run.rglob("*")):
        if path.is_file():
            found[str(path.relative_to(setup.work))] = path.read_bytes()
    for entry in ran:
        found[f"stdout of {entry.name}"] = entry.stdout
        found[f"stderr of {entry.name}"] = entry.stderr
    return found


def _traced(ran: list[Ran]) -> list[str]:
    """Networked commands whose --verbose trace shows no HTTP request (a vacuous scan)."""
    quiet = []
    for entry in ran:
        if "build" in entry.name:
            continue
        if b"maforge.http: " not in entry.stderr or b" -> 200 in " not in entry.stderr:
            quiet.append(entry.name)
    return quiet


def trial_full_run(setup: Setup) -> Trial:
    name = "every file and stream of a full run with --verbose (build, import, plan, apply, apply again, the built package's import/plan/apply, apply SPEC, an import under faults) holds no planted or issued secret"
    try:
        full_run(setup)
    except (RunFailed, subprocess.TimeoutExpired) as error:
        return Trial("secrets", name, max(1, len(setup.ran)), False, f"the run did not complete: {error}")
    secrets = seen_secrets(setup)
    found = artefacts(setup, setup.ran)
    leaks = scan(found, secrets)
    quiet = _traced(setup.ran)
    # The control: the search must find secrets where they belong (the token caches, the
    # certificate, the password file), or it proves nothing.
    holders = {str(p.relative_to(setup.work)): p.read_bytes() for p in [*setup.work.glob("cache-*/maforge/msal-*.json"), setup.emulator.certs.app_pem, setup.inputs / "password.txt"]}
    control = {hit.split(" …", 1)[0].split(" in ", 1)[0] for hit in scan(holders, secrets)}
    blind = sorted({"certificate private key", "password", "access token", "refresh token"} - control)
    files = sum(1 for k in found if not k.startswith(("stdout of", "stderr of")))
    streams = len(found) - files
    token_lines = sum(e.stderr.count(b"/oauth2/v2.0/token -> ") for e in setup.ran)
    retry_lines = sum(e.stderr.count(b", retry ") + e.stderr.count(b": no answer (") for e in setup.ran)
    http_lines = sum(e.stderr.count(b"maforge.http: ") for e in setup.ran)
    throttle_lines = sum(e.stderr.count(b"SharePoint asked us to wait") for e in setup.ran)
    throttled = setup.emulator.throttle.stats()["throttled"]
    held = not leaks and not quiet and token_lines > 0 and retry_lines > 0 and not blind
    result = (
        f"{files} files and {streams} streams of {len(setup.ran)} commands searched for {len(secrets)} secrets "
        f"({', '.join(f'{n} {k}' for k, n in kinds(secrets).items())}); "
        + (f"found: {'; '.join(leaks[:5])}" if leaks else "none found")
        + f"; the --verbose traces hold {http_lines} lines: {token_lines} sign-ins, {retry_lines} retries, {throttle_lines} throttling waits ({throttled} answers 429 under the realistic profile, budget {setup.emulator.config.budget} calls per 5 minutes at time scale {setup.emulator.config.time_scale:g})"
        + (f"; no HTTP trace from: {', '.join(quiet)}" if quiet else "")
        + ("; the same search finds them in the token caches and the certificate" if not blind else f"; the search cannot find {', '.join(blind)} even where it is")
    )
    return Trial("secrets", name, len(found) * len(secrets), held, result,
                 {"files": files, "streams": streams, "secrets": len(secrets), "kinds": kinds(secrets), "commands": len(setup.ran),
                  "trace_lines": http_lines, "sign_in_lines": token_lines, "retry_lines": retry_lines, "throttling_lines": throttle_lines, "throttled_429": throttled, "leaks": leaks, "control_found": sorted(control)})


# --------------------------------------------------------------------------- failed sign-ins


def _wrong_certificate(path: Path, damaged: bool = False) -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the registered app")])
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if damaged:
        key_pem = key_pem[: len(key_pem) // 2] + b"\n-----END PRIVATE KEY-----\n"  # cut short
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM) + key_pem)
    path.chmod(0o600)
    return key_pem


def _both_front_ends(setup: Setup, label: str, connection: Path, env: dict[str, str]) -> list[Ran]:
    """The same failing import through `maforge` and through the built package."""
    return [
        _maforge(setup, f"maforge import, {label}", "--verbose", "import", str(SPEC), "-c", str(connection), "--out", str(setup.run / "failed"), env=env, expect=None),
        _package(setup, f"package import, {label}", "--verbose", "import", "--connection", str(connection), "--out", str(setup.run / "failed"), env=env, expect=None),
    ]


def _judge_failures(setup: Setup, category_name: str, ran: list[Ran], wanted: dict[str, str]) -> Trial:
    """Each run must exit 1 with its one-line error (holding ``wanted[label]``), no traceback,
    and no secret in stdout, stderr or any file."""
    secrets = seen_secrets(setup)
    streams = {f"{kind} of {r.name}": data for r in ran for kind, data in (("stdout", r.stdout), ("stderr", r.stderr))}
    failed = setup.run / "failed"  # what a failed import may have left behind
    streams.update({str(p.relative_to(setup.work)): p.read_bytes() for p in sorted(failed.rglob("*")) if p.is_file()} if failed.exists() else {})
    leaks = scan(streams, secrets)
    problems = []
    for entry in ran:
        text = entry.stderr.decode("utf-8", "replace")
        errors = [line for line in text.splitlines() if not line.startswith("maforge.http: ") and line.strip()]
        label = entry.name.split(", ", 1)[1]
        if entry.code != 1 or "Traceback" in text or len(errors) != 1 or wanted[label] not in errors[0]:
            problems.append(f"{entry.name}: exit {entry.code}, {errors[-3:]}")
    from maforge.logs import redact

    messages = sorted({redact(e.stderr.decode("utf-8", "replace").strip().splitlines()[-1])[:160] for e in ran if e.stderr.strip()})
    held = not leaks and not problems
    result = (
        f"{len(ran)} failed sign-ins, each one line and exit 1, searched for {len(secrets)} secrets: "
        + (f"found: {'; '.join(leaks[:5])}" if leaks else "none found")
        + (f"; unexpected: {'; '.join(problems[:3])}" if problems else "")
        + f"; e.g. \"{messages[0] if messages else ''}\""
    )
    return Trial("secrets", category_name, len(ran) * len(secrets), held, result, {"runs": len(ran), "secrets": len(secrets), "leaks": leaks, "problems": problems, "messages": messages})


def trial_wrong_password(setup: Setup) -> Trial:
    wrong = "Wr0ng-" + base64.urlsafe_b64encode(os.urandom(12)).decode()
    setup.planted.append(Secret("wrong password", [wrong.encode()]))
    connection = _connection(setup, "wrong-password", auth_method="password", public_client_id=setup.emulator.state.public_client_id,
                             username=setup.emulator.state.username, password="${env:MAFORGE_WRONG_PASSWORD}")
    ran = _both_front_ends(setup, "wrong password", connection, {"MAFORGE_WRONG_PASSWORD": wrong, "XDG_CACHE_HOME": str(setup.work / "cache-wrong")})
    return _judge_failures(setup, "error messages for a wrong password hold no secret", ran, {"wrong password": "password sign-in failed"})


def trial_wrong_certificate(setup: Setup) -> Trial:
    ran = []
    for label, damaged, wanted in (("unregistered certificate", False, "certificate sign-in failed"), ("damaged certificate", True, "must hold a PEM certificate")):
        pem = setup.inputs / f"{label.replace(' ', '-')}.pem"
        key = _wrong_certificate(pem, damaged)
        setup.planted.append(Secret(f"{label} private key", _pem_body_lines(key)))
        connection = _connection(setup, label.replace(" ", "-"), certificate=str(pem))
        ran += _both_front_ends(setup, label, connection, {})
    return _judge_failures(setup, "error messages for a wrong or damaged certificate hold no secret", ran,
                           {"unregistered certificate": "certificate sign-in failed", "damaged certificate": "must hold a PEM certificate"})


def trial_expired(setup: Setup) -> Trial:
    from maforge.connectors.emulator.entra import mint_federated_token

    expired_file = setup.inputs / "expired-oidc.jwt"
    expired_file.write_text(mint_federated_token(setup.emulator, lifetime=-3600), encoding="utf-8")
    federated = _connection(setup, "expired-federated", auth_method="federated", federated_token_file=str(expired_file))
    ran = _both_front_ends(setup, "expired CI token", federated, {})
    cert = _connection(setup, "expiring", certificate=str(setup.emulator.certs.app_pem))
    minter = setup.emulator.minter
    lifetime = minter.lifetime
    minter.lifetime = 0  # every access token is expired by the time SharePoint sees it
    try:
        ran += _both_front_ends(setup, "expired access token", cert, {})
    finally:
        minter.lifetime = lifetime
    return _judge_failures(setup, "error messages for an expired CI token or access token hold no secret", ran,
                           {"expired CI token": "federated sign-in failed", "expired access token": "answered 401"})


# --------------------------------------------------------------------------- permissions


def trial_permissions(setup: Setup) -> Trial:
    run = setup.run
    expected = [
        run / "plan.json", run / "plan.json.journal", run / "plan.json.results.json", run / "state" / "snapshot.jsonl",
        run / "package-plan.json", run / "package-plan.json.journal", run / "package-plan.json.results.json", run / "package-state" / "snapshot.jsonl",
        run / "spec-apply" / "apply-plan.json", run / "spec-apply" / "apply-plan.json.results.json",
    ]
    expected += sorted((run / "spec-apply").glob("apply-plan.*.journal"))
    caches = [p for folder in ("cache-password", "cache-device", "cache-file") for p in sorted((setup.work / folder / "maforge").glob("msal-*.json"))]
    missing = [str(p.relative_to(setup.work)) for p in expected if not p.exists()]
    if len(caches) < 3:
        missing.append(f"token caches ({len(caches)} of 3 found)")
    checked = [p for p in expected + caches if p.exists()]
    loose = [f"{p.relative_to(setup.work)} {stat.S_IMODE(p.stat().st_mode):o}" for p in checked if stat.S_IMODE(p.stat().st_mode) & 0o077]
    cache_dirs = [p.parent for p in caches]
    loose += [f"{d.relative_to(setup.work)}/ {stat.S_IMODE(d.stat().st_mode):o}" for d in dict.fromkeys(cache_dirs) if stat.S_IMODE(d.stat().st_mode) & 0o077]
    build_xml = sorted((run / "build").glob("*.xml"))
    build_modes = sorted({f"{stat.S_IMODE(p.stat().st_mode):o}" for p in build_xml})
    held = not loose and not missing
    result = (
        f"{len(checked)} files (plans, journals, apply results, snapshots, {len(caches)} token caches) and {len(set(cache_dirs))} cache folders: "
        + ("all owner-only (0600, folders 0700)" if not loose else f"readable by others: {', '.join(loose)}")
        + (f"; missing: {', '.join(missing)}" if missing else "")
        + f"; build outputs keep mode {', '.join(build_modes) or '?'} (no secret by design)"
    )
    return Trial("permissions", "files holding profile data or tokens are owner-only", len(checked) + len(set(cache_dirs)), held, result,
                 {"checked": [str(p.relative_to(setup.work)) for p in checked], "loose": loose, "missing": missing})


# --------------------------------------------------------------------------- entry point


def run(quick: bool) -> list[Trial]:
    if os.name != "posix":  # modes mean nothing elsewhere; the secret scans would still hold
        return [Trial("permissions", "files holding profile data or tokens are owner-only", 1, True, "skipped: not a POSIX system")]
    work = Path(tempfile.mkdtemp(prefix="maforge-secrets-"))
    setup = None
    try:
        # a budget (calls per 5 minutes, a 1 s window here) that a command of the run spends
        setup = _start(work, 25 if quick else 200, 60 if quick else 200)
        started = time.perf_counter()
        trials = [trial_full_run(setup)]
        completed = "did not complete" not in trials[0].result
        trials += [trial_wrong_password(setup), trial_wrong_certificate(setup), trial_expired(setup)]
        trials.append(trial_permissions(setup) if completed else Trial("permissions", "files holding profile data or tokens are owner-only", 1, False, "not checked: the full run did not complete"))
        trials[0].details["seconds"] = round(time.perf_counter() - started, 1)
        return trials
    finally:
        if setup is not None:
            setup.emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
