"""The emulator's HTTPS server: one listener on 127.0.0.1, a router, and the behaviour every
endpoint shares (latency, injected faults, throttling, the access-token check).

Endpoint modules (entra.py, sharepoint.py, graph.py, ...) register their routes with
:func:`route`; they never touch sockets. Run it with `maforge emulator`, or in-process with
:class:`Emulator` (the pytest fixture does).
"""

from __future__ import annotations

import json
import random
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from .certs import CertFiles, ensure_certificates
from .seed import read_seed_file
from .state import TenantState
from .throttle import Throttle
from .tokens import TokenError, TokenMinter

SHAREPOINT_RESOURCE_ID = "00000003-0000-0ff1-ce00-000000000000"
GRAPH_RESOURCE_ID = "00000003-0000-0000-c000-000000000000"


class CaseInsensitiveHeaders(dict):
    """Request headers, looked up without regard to case."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(str(key).lower())


@dataclass(slots=True)
class Request:
    method: str
    target: str  # path and query exactly as received
    path: str  # percent-decoded path
    raw_path: str  # path as received (still encoded)
    query: dict[str, str]  # percent-decoded
    headers: CaseInsensitiveHeaders
    body: bytes
    emulator: Emulator
    match: re.Match[str] | None = None
    site: str | None = None  # "root" or "admin" for SharePoint routes
    claims: dict | None = None  # the validated access token
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def state(self) -> TenantState:
        return self.emulator.state

    def json(self) -> object:
        text = self.body.decode("utf-8-sig").strip()
        return json.loads(text) if text else {}


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: object, content_type: str = "application/json; charset=utf-8", headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), {"Content-Type": content_type, **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": content_type})


Handler = Callable[[Request], Response]


@dataclass(frozen=True, slots=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler
    kind: str  # "entra", "spo", "graph", "health": decides auth and throttling
    counts: bool  # counts against the PeopleManager budget


ROUTES: list[Route] = []


def route(methods: str, pattern: str, kind: str, *, counts: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler for a path regex (matched case-insensitively, as SharePoint does)."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(frozenset(methods.upper().split()), re.compile(pattern, re.IGNORECASE), handler, kind, counts))
        return handler

    return register


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    tenant: str = "contoso"
    port: int = 0
    profiles: int = 25
    state_dir: Path | None = None
    latency_ms: float = 0.0
    # Throttling (throttle.py, docs/emulator.md): "realistic" models SharePoint's documented
    # limits; "none" switches every limit off (the permissive case, for functional tests).
    throttle: str = "realistic"
    time_scale: float = 1.0  # every window and every Retry-After runs this many times faster
    budget: int = 3000  # PeopleManager calls per 5 minutes, tenant-wide (0: no limit)
    retry_after: tuple[float, float] = (70.0, 250.0)  # seconds a PeopleManager 429 asks for (drawn)
    app_ru_per_minute: int = 1200  # resource units per minute per app (app-only tokens; 0: no limit)
    user_requests_per_5_minutes: int = 3000  # requests per user in 5 minutes (delegated; 0: no limit)
    # Sign-in and rights (sharepoint.py, entra.py)
    allow_delegated_profile_writes: bool = False  # the permissive case: a delegated admin may write others' profiles
    mfa_required: bool = True  # the test user is under MFA: the password grant (ROPC) fails
    # Bulk import (bulk.py)
    allow_object_property_map: bool = False  # the permissive case: REST propertyMap as a JSON object
    # Request limits (limits.py): SharePoint's OData reader reads at most 1 MiB of a REST body
    max_request_bytes: int = 1_048_576  # a $batch or JSON body over this is refused (one report: 2 MiB)
    fault_rate: float = 0.0
    fault_seed: int | None = None
    slow_seconds: float = 40.0  # a "slow" fault answers after this long (past client time-outs)
    bulk_job_seconds: float = 2.0
    seed_file: Path | None = None


class Emulator:
    """The emulated tenant behind one HTTPS listener."""

    def __init__(self, config: EmulatorConfig, workdir: Path):
        self.config = config
        self.workdir = workdir
        rows = read_seed_file(str(config.seed_file)) if config.seed_file else None
        self.state = TenantState(config.tenant, config.profiles, config.state_dir, rows)
        self.certs: CertFiles = ensure_certificates((config.state_dir or workdir) / "certs")
        self.throttle = Throttle(config)
        self.faults = random.Random(config.fault_seed)
        self.requests_served = 0  # SharePoint and Graph requests, whatever their answer (stats)
        self._count_lock = threading.Lock()
        self.job_seconds: dict[str, float] = {}  # bulk job id → queued-to-finished time (stats)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.minter: TokenMinter | None = None
        _load_endpoints()

    # ------------------------------------------------------------------ addresses

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def spo_url(self) -> str:
        return f"{self.base_url}/spo/{self.config.tenant}"

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}/spo/{self.config.tenant}-admin"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/graph"

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.state.tenant_id}"

    @property
    def sharepoint_audiences(self) -> set[str]:
        """What an SPO token's `aud` may be: the resource id, the canonical host, or the
        emulator's own site URLs (whichever a client asked a scope for)."""
        tenant = self.config.tenant
        return {
            SHAREPOINT_RESOURCE_ID,
            f"https://{tenant}.sharepoint.com",
            f"https://{tenant}-admin.sharepoint.com",
            self.spo_url,
            self.admin_url,
            self.base_url,
        }

    @property
    def graph_audiences(self) -> set[str]:
        return {GRAPH_RESOURCE_ID, "https://graph.microsoft.com", self.graph_url}

    def connection(self) -> dict[str, str]:
        """The one JSON line `maforge emulator` prints: everything a client needs."""
        line: dict[str, object] = {
            "spo_url": self.spo_url,
            "admin_url": self.admin_url,
            "graph_url": self.graph_url,
            "authority": self.authority,
            "tenant": self.config.tenant,
            "tenant_id": self.state.tenant_id,
            "ca_bundle": str(Path(self.certs.ca_pem).resolve()),  # absolute: the line is used from any folder
            "client_id": self.state.client_id,
            "certificate": str(Path(self.certs.app_pem).resolve()),
            "public_client_id": self.state.public_client_id,  # password and device-code sign-in
            "username": self.state.username,
            "password": self.state.password,
        }
        if self.config.time_scale != 1:
            line["time_scale"] = self.config.time_scale
        return line

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Emulator:
        server = _Server(("127.0.0.1", self.config.port), _Handler)
        server.emulator = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.certs.server_pem))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.port = server.server_address[1]
        self.minter = TokenMinter(issuer=f"https://sts.windows.net/{self.state.tenant_id}/")
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="maforge-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.state.save()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ dispatch

    def dispatch(self, request: Request) -> Response:
        for candidate in ROUTES:
            match = candidate.pattern.fullmatch(request.path)
            if match is None:
                continue
            if request.method not in candidate.methods:
                return Response.json(405, {"error": {"code": "-1, System.NotSupportedException", "message": {"lang": "en-US", "value": f"{request.method} is not supported here."}}})
            request.match = match
            if candidate.kind in ("spo", "graph"):
                with self._count_lock:
                    self.requests_served += 1
                denied = self._authenticate(request, candidate.kind)
                if denied is not None:
                    return denied
            if candidate.kind == "spo":  # Graph's own limits are not modelled (docs/emulator.md)
                throttled = self.throttle.check(request, candidate.counts)
                if throttled is not None:
                    return throttled
            from .limits import too_large  # here: limits.py imports this module

            response = too_large(request) or candidate.handler(request)
            if candidate.kind == "spo":
                self.throttle.decorate(response, request.claims)
            return response
        return Response.json(404, {"error": {"code": "-1, System.IO.FileNotFoundException", "message": {"lang": "en-US", "value": "File Not Found."}}})

    def _authenticate(self, request: Request, kind: str) -> Response | None:
        header = request.headers.get("authorization") or ""
        if not header.lower().startswith("bearer "):
            return _auth_error(kind, "Unsupported security token.")
        audiences = self.sharepoint_audiences if kind == "spo" else self.graph_audiences
        try:
            claims = self.minter.validate(header[7:].strip(), audiences)  # type: ignore[union-attr]
        except TokenError as error:
            message = "Invalid issuer or signature." if "audience" in str(error) or "signature" in str(error) or "issued" in str(error) else "The token has expired." if "expired" in str(error) else "Unsupported security token."
            return _auth_error(kind, message)
        if kind == "spo" and claims.get("appidacr") == "1" and "upn" not in claims:
            return _auth_error(kind, "Unsupported app only token.")
        request.claims = claims
        return None


def _auth_error(kind: str, message: str) -> Response:
    if kind == "graph":
        return Response.json(401, {"error": {"code": "InvalidAuthenticationToken", "message": message}}, headers={"WWW-Authenticate": 'Bearer realm=""'})
    return Response.json(401, {"error_description": message}, headers={"WWW-Authenticate": 'Bearer realm="", client_id="00000003-0000-0ff1-ce00-000000000000"'})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    emulator: Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without TCP_NODELAY, Nagle plus the client's
        # delayed ACK holds every keep-alive response back ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        return  # quiet: the write log and tests are the record

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True

    def _serve(self) -> None:
        emulator = self.server.emulator
        config = emulator.config
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        headers = CaseInsensitiveHeaders({k.lower(): v for k, v in self.headers.items()})
        request = Request(
            method=self.command.upper(),
            target=self.path,
            path=unquote(split.path),
            raw_path=split.path,
            query={unquote(k): v for k, v in parse_qsl(split.query, keep_blank_values=True)},
            headers=headers,
            body=body,
            emulator=emulator,
        )
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000.0)
        fault = self._fault(emulator, request)
        if fault == "reset":
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            self.connection.close()
            return
        if fault == "slow":
            time.sleep(config.slow_seconds)
        if isinstance(fault, int):
            response = Response.json(fault, {"error": {"code": "-1, Microsoft.SharePoint.Client.ServiceUnavailableException", "message": {"lang": "en-US", "value": "Injected fault."}}})
        else:
            try:
                response = emulator.dispatch(request)
            except Exception as error:  # a bug in an endpoint must show as a 500, not kill the thread
                response = Response.json(500, {"error": {"code": "-1, System.InvalidOperationException", "message": {"lang": "en-US", "value": f"emulator error: {type(error).__name__}: {error}"}}})
        self.send_response(response.status)
        response.headers.setdefault("Content-Type", "application/json; charset=utf-8")
        response.headers.setdefault("SPRequestGuid", request.request_id)
        response.headers.setdefault("request-id", request.request_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if request.method != "HEAD":
            self.wfile.write(response.body)

    def _fault(self, emulator: Emulator, request: Request) -> str | int | None:
        """An injected failure for SharePoint and Graph calls (never the token endpoint:
        msal caches token-endpoint failures, which would turn one fault into many)."""
        rate = emulator.config.fault_rate
        if rate <= 0 or not (request.path.startswith("/spo/") or request.path.startswith("/graph/")):
            return None
        with emulator.state.lock:
            roll = emulator.faults.random()
            kind = emulator.faults.choice([500, 502, 503, 504, 503, "reset", "slow"])
        if roll >= rate:
            return None
        if kind == "slow" and emulator.config.slow_seconds <= 0:
            return 503
        return kind

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_MERGE = _serve  # type: ignore[assignment]


_LOADED = False


def _load_endpoints() -> None:
    """Import the endpoint modules once; each registers its routes on import."""
    global _LOADED
    if _LOADED:
        return
    from . import endpoints  # noqa: F401  (registers every route)

    _LOADED = True


def serve(config: EmulatorConfig, workdir: Path, announce: Callable[[str], None]) -> None:
    """Run until interrupted, printing the connection line once the listener is up."""
    emulator = Emulator(config, workdir).start()
    announce(json.dumps(emulator.connection()))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
