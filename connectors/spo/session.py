"""The one object that talks to SharePoint Online and Graph: `SpoSession`.

It owns what callers must never do by hand: connection pooling, the bearer token, the
User-Agent SharePoint asks for (`NONISV|Company|maforge/VERSION`), retries that honour
Retry-After within a total time budget, pacing on the RateLimit headers so calls stay under
the tenant's budget instead of bouncing off 429s, `$batch` (up to 100 requests), and bounded
concurrency. This is where a 429 is retried.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from maforge import __version__

from .auth import AuthError, Credential, TrustingSession, credential_for, http_session
from .batch import BatchPart, BatchResult, build_batch, parse_batch
from .connection import Connection

LOG = logging.getLogger("maforge.http")  # `--verbose`: every request (maforge/logs.py redacts)
RETRYABLE_STATUS = {429, 503}  # throttling and "busy": refused before the work, safe to repeat any call
# Repeat only operations that are safe to repeat: the server may have done the work (a 504 is a
# gateway that stopped waiting for SharePoint, not SharePoint refusing the request).
TRANSIENT_STATUS = {500, 502, 504}
MAX_BATCH = 100


class SpoError(Exception):
    """A call that failed for good; carries the status, SharePoint's error code and text,
    and the request id to quote to Microsoft support."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None, request_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


class RetryBudgetExhausted(SpoError):
    """Throttling or faults lasted longer than the session's total retry budget."""


@dataclass(slots=True)
class RetryPolicy:
    max_attempts: int = 8
    total_wait_seconds: float = 300.0  # across the whole session
    backoff_cap_seconds: float = 60.0
    timeout_seconds: float = 60.0


@dataclass(slots=True)
class SessionStats:
    calls: int = 0  # requests sent (a batch counts its parts)
    http_requests: int = 0
    throttled: int = 0  # 429/503 answers
    retries: int = 0
    waited_seconds: float = 0.0
    faults: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **values: float) -> None:
        with self.lock:
            for name, value in values.items():
                setattr(self, name, getattr(self, name) + value)


class Pacer:
    """Keeps this client inside the tenant's PeopleManager budget instead of bouncing off 429s.

    SharePoint reports RateLimit-Limit / -Remaining / -Reset (spo-profiles-api.md §6). Once the
    limit is known, every request reserves its calls (a `$batch` reserves one per inner
    request) in a sliding window of the same length as the server's, and waits until they fit:
    sending 100 reads and 100 writes at a 200-per-second limit takes one second, not a 429
    and a Retry-After. The window length is learnt as the largest RateLimit-Reset seen (at
    least one second). A request's calls count from its answer, by when the server has charged
them all, so our window never ends before the server's and needs no stretch. Other
    clients of the same tenant are accounted for through the headers: when the server says
    fewer calls remain than this client expects, the rest are spread until the reset; at zero
    everyone waits for the reset."""

    SLACK = 0.005  # seconds added to the window for timer granularity
    MAX_LOOKS = 400  # re-checks of the window before a request goes anyway (0.25 s each at most)

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._lock = threading.Lock()
        self._next = 0.0
        self._sleep = sleep
        self.limit: int | None = None
        self.window = 1.0
        self._sent: deque[list] = deque()  # [when, calls, in flight] sent within the window
        self._last_ticket = threading.local()  # the reservation of this thread's request in flight
        self._probe = threading.Condition()
        self._probed = False
        self._probing = False

    def wait(self, calls: int = 1) -> float:
        """Block until ``calls`` more fit the budget; returns the seconds waited.

        Until the first answer has come back, one request is in flight at a time: eight
        threads each sending a batch of 100 before anyone has seen RateLimit-Limit would spend
        a 200-call budget four times over."""
        waited = 0.0
        with self._probe:
            while not self._probed and self._probing:
                started = time.monotonic()
                self._probe.wait(timeout=30)
                waited += time.monotonic() - started
            if not self._probed:
                self._probing = True
        with self._lock:
            now = time.monotonic()
            hold = max(0.0, self._next - now)
            if hold:
                self._next = now  # this thread takes the shared wait; it is not waited twice
        if hold:
            self._sleep(hold)
            waited += hold
        for _look in range(self.MAX_LOOKS):
            with self._lock:
                now = time.monotonic()
                start, uncertain = self._fits(now, min(calls, self.limit)) if self.limit is not None else (now, False)
                if start <= now:
                    return waited + self._take(calls)  # checked and counted under one lock
            # A wait that depends on requests still in flight is taken in short steps and
            # looked at again: they may be charged later than they were sent.
            pause = min(start - now, 0.25) if uncertain else start - now
            self._sleep(pause)
            waited += pause
            if time.monotonic() - now < pause / 2:
                break  # the sleep did not pass (a test's recorded sleep): do not spin
        with self._lock:
            return waited + self._take(calls)

    def _take(self, calls: int) -> float:
        """Count ``calls`` as sent now (the caller holds the lock)."""
        ticket = [time.monotonic(), calls, True]  # [when, calls, in flight]
        self._sent.append(ticket)  # counted from the first call, as the server counts
        if len(self._sent) > 100_000:
            self._sent.popleft()  # keep the log bounded
        self._last_ticket.ticket = ticket
        return 0.0

    def answered(self) -> None:
        """A request came back (answered or failed). Its calls count from now on: the server
        charged them somewhere between sending and answering (a `$batch` charges its inner
        requests one by one as it runs them), so the answer's time is the safe one. The
        first answer also ends the probe."""
        ticket = getattr(self._last_ticket, "ticket", None)
        if ticket is not None:
            with self._lock:
                ticket[0] = max(ticket[0], time.monotonic())
                ticket[2] = False
            self._last_ticket.ticket = None
        with self._probe:
            if not self._probed:
                self._probed = True
                self._probing = False
                self._probe.notify_all()

    def _fits(self, now: float, calls: int) -> tuple[float, bool]:
        """The earliest time at which ``calls`` more stay within the limit, as far as is known
        now (a request still in flight counts as charged now), and whether that time depends
        on a request in flight."""
        span = self.window + self.SLACK
        live = sorted(((max(t[0], now) if t[2] else t[0]), t[1], t) for t in self._sent if t[2] or t[0] > now - span)
        self._sent = deque(entry for _when, _n, entry in live)
        used = sum(n for _when, n, _entry in live)
        start, uncertain = now, False
        for when, count, entry in live:
            if used + calls <= self.limit:  # type: ignore[operator]
                break
            start = max(start, when + span)
            uncertain = uncertain or bool(entry[2])
            used -= count
        return start, uncertain

    def observe(self, headers: requests.structures.CaseInsensitiveDict, calls: int = 1) -> None:
        try:
            limit = int(headers["RateLimit-Limit"])
            remaining = int(headers["RateLimit-Remaining"])
            reset = float(headers["RateLimit-Reset"])
        except (KeyError, ValueError):
            return
        if limit <= 0:
            return
        now = time.monotonic()
        with self._lock:
            self.limit = limit
            self.window = max(self.window, reset)
            # The server counts every client of the tenant. What it counts beyond this client's
            # own calls in the window (in flight included) is other clients' use: only that
            # calls for spreading. A low Remaining that is all ours is already kept to by the
            # window, and slowing down for it again stalled full-speed runs by whole seconds.
            span = self.window + self.SLACK
            ours = sum(t[1] for t in self._sent if t[2] or t[0] > now - span)
            if limit - remaining <= ours:
                return
            if remaining <= 0:
                spacing = reset
            elif remaining < limit / 4:
                spacing = reset / remaining * calls
            else:
                return
            self._next = max(self._next, now + spacing)

    def hold(self, seconds: float) -> None:
        """Everyone waits (a 429 means the budget is spent for all threads)."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: requests.structures.CaseInsensitiveDict
    body: bytes
    request_id: str | None

    def json(self) -> Any:
        import json

        return json.loads(self.body.decode("utf-8-sig")) if self.body.strip() else None


def budgeted(url: str) -> bool:
    """Whether a request spends the tenant's PeopleManager budget, which the pacer keeps to:
    PeopleManager calls, and `$batch` requests (charged per inner request). Graph, files and
    the tenant admin API are throttled separately and never wait for that budget; their 429s
    are still retried after Retry-After."""
    path = url.split("?", 1)[0].lower()
    return "sp.userprofiles.peoplemanager" in path or path.endswith("/$batch")


def user_agent(company: str | None) -> str:
    return f"NONISV|{company or 'maforge'}|maforge/{__version__}"


class SpoSession:
    """Requests to one tenant. Thread-safe; share one per run."""

    def __init__(
        self,
        connection: Connection,
        credential: Credential | None = None,
        *,
        company: str | None = None,
        retry: RetryPolicy | None = None,
        concurrency: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.connection = connection
        self.http: TrustingSession = http_session(connection)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(concurrency, 4), max_retries=0)
        self.http.mount("https://", adapter)
        self.http.headers["User-Agent"] = user_agent(company)
        self.http.hooks["response"].append(_log_exchange)  # msal's token requests too: same session
        self.credential = credential or credential_for(connection, http=self.http)
        self.retry = retry or RetryPolicy()
        self.concurrency = max(1, concurrency)
        self.stats = SessionStats()
        self.pacer = Pacer(sleep)
        self._sleep = sleep
        self._waited = 0.0
        self._budget_lock = threading.Lock()
        self._jitter = random.Random()

    # ------------------------------------------------------------------ low level

    def _scope_for(self, url: str) -> str:
        return self.connection.graph_scope if url.startswith(self.connection.graph_url) else self.connection.sharepoint_scope

    def _headers(self, url: str, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.credential.token(self._scope_for(url))}",
            "Accept": "application/json;odata=nometadata",
            "client-request-id": str(uuid.uuid4()),
        }
        headers.update(extra or {})
        return headers

    def _spend(self, seconds: float) -> None:
        with self._budget_lock:
            if self._waited + seconds > self.retry.total_wait_seconds:
                raise RetryBudgetExhausted(
                    f"throttling and faults would make this run wait more than {self.retry.total_wait_seconds:.0f} s in total; giving up"
                )
            self._waited += seconds
        self.stats.add(waited_seconds=seconds)
        self._sleep(seconds)

    def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        safe_to_repeat: bool = True,
        calls: int = 1,
    ) -> Answer:
        """Send one request with retries. 429/503 are always retried after Retry-After
        (the server did not do the work); 500/502/504, resets and time-outs only when
        ``safe_to_repeat`` (the server may have done it)."""
        attempt = 0
        paced = budgeted(url)
        while True:
            attempt += 1
            if paced:
                paced_for = self.pacer.wait(calls)
                if paced_for >= 0.01 and LOG.isEnabledFor(logging.INFO):
                    LOG.info("%s %s: waited %.0f ms for the tenant's call budget (%d call%s)", method, url, paced_for * 1000, calls, "s" if calls != 1 else "")
            self.stats.add(calls=calls, http_requests=1)
            try:
                try:
                    response = self.http.request(
                        method,
                        url,
                        json=json_body,
                        data=data,
                        headers=self._headers(url, headers),
                        timeout=self.retry.timeout_seconds,
                    )
                    if paced:
                        self.pacer.observe(response.headers, calls)  # before `answered` wakes the others
                finally:
                    if paced:
                        self.pacer.answered()
            except (requests.ConnectionError, requests.Timeout) as error:
                self.stats.add(faults=1)
                LOG.info("%s %s: no answer (%s), attempt %d of %d", method, url, type(error).__name__, attempt, self.retry.max_attempts)
                if not safe_to_repeat or attempt >= self.retry.max_attempts:
                    raise SpoError(f"{method} {url}: no answer ({type(error).__name__}); not retried" if not safe_to_repeat else f"{method} {url}: no answer after {attempt} attempts") from None
                self.stats.add(retries=1)
                backoff = self._backoff(attempt)
                LOG.info("%s %s: retry %d of %d in %.0f ms (back-off)", method, url, attempt, self.retry.max_attempts - 1, backoff * 1000)
                self._spend(backoff)
                continue
            request_id = response.headers.get("SPRequestGuid") or response.headers.get("request-id")
            if response.status_code in RETRYABLE_STATUS or (response.status_code in TRANSIENT_STATUS and safe_to_repeat):
                if response.status_code in (429, 503):
                    self.stats.add(throttled=1)
                else:
                    self.stats.add(faults=1)
                if attempt >= self.retry.max_attempts:
                    raise _error(method, url, response, request_id, f"still {response.status_code} after {attempt} attempts")
                told = self._retry_after(response) if response.status_code in (429, 503) else None
                wait = told if told is not None else self._backoff(attempt)
                if response.status_code == 429 and paced:
                    self.pacer.hold(wait)
                LOG.info("%s %s: %d, retry %d of %d in %.0f ms (%s)", method, url, response.status_code, attempt, self.retry.max_attempts - 1, wait * 1000, "back-off" if told is None else "Retry-After")
                self.stats.add(retries=1)
                self._spend(wait)
                continue
            if response.status_code == 401 and attempt == 1 and "expired" in response.text.lower():
                LOG.info("%s %s: the token expired; signing in again", method, url)
                continue  # msal renews an expired token on the next token() call
            return Answer(response.status_code, response.headers, response.content, request_id)

    def _retry_after(self, response: requests.Response) -> float | None:
        values = []
        for name in ("Retry-After", "RateLimit-Reset"):
            try:
                values.append(float(response.headers[name]))
            except (KeyError, ValueError):
                pass
        return max(values) if values else None  # SharePoint: wait the larger of the two

    def _backoff(self, attempt: int) -> float:
        base = min(self.retry.backoff_cap_seconds, 2 ** (attempt - 1))
        return base * (0.5 + self._jitter.random() / 2)

    # ------------------------------------------------------------------ JSON calls

    def call(self, method: str, url: str, *, json_body: Any = None, safe_to_repeat: bool = True) -> Any:
        """A REST call whose success is a 2xx JSON (or empty) answer; anything else raises."""
        headers = {"Content-Type": "application/json;odata=nometadata"} if json_body is not None else None
        answer = self.request(method, url, json_body=json_body, headers=headers, safe_to_repeat=safe_to_repeat)
        if 200 <= answer.status < 300:
            return answer.json()
        raise _error_from_answer(method, url, answer)

    # ------------------------------------------------------------------ batches

    def batch(self, site_url: str, parts: Sequence[BatchPart]) -> list[BatchResult]:
        """Send ``parts`` in `$batch` requests of at most 100; parts answered 429/503 are
        sent again (after Retry-After) until they succeed or the budget runs out."""
        results: list[BatchResult | None] = [None] * len(parts)
        pending = list(range(len(parts)))
        attempt = 0
        while pending:
            attempt += 1
            retry_later: list[int] = []
            wait = 0.0
            for chunk_start in range(0, len(pending), MAX_BATCH):
                chunk = pending[chunk_start : chunk_start + MAX_BATCH]
                boundary = f"batch_{uuid.uuid4()}"
                body = build_batch(boundary, site_url, [parts[i] for i in chunk])
                answer = self.request(
                    "POST",
                    f"{site_url}/_api/$batch",
                    data=body,
                    headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
                    calls=len(chunk),
                )
                if not 200 <= answer.status < 300:
                    raise _error_from_answer("POST", f"{site_url}/_api/$batch", answer)
                answers = parse_batch(answer.body, answer.headers.get("Content-Type", ""))
                if len(answers) != len(chunk):
                    raise SpoError(f"$batch answered {len(answers)} parts for {len(chunk)} requests", answer.status, None, answer.request_id)
                for index, result in zip(chunk, answers):
                    if result.status in (429, 503) and attempt < self.retry.max_attempts:
                        retry_later.append(index)
                        wait = max(wait, float(result.headers.get("retry-after", "0") or 0) or self._backoff(attempt))
                        self.stats.add(throttled=1)
                    else:
                        results[index] = result
            pending = retry_later
            if pending:
                LOG.info("POST %s/_api/$batch: %d part%s throttled, sent again in %.0f ms", site_url, len(pending), "s" if len(pending) != 1 else "", wait * 1000)
                self.pacer.hold(wait)
                self.stats.add(retries=len(pending))
                self._spend(wait)
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------ concurrency

    def map(self, function: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Run ``function`` over ``items`` on at most `concurrency` threads, in order."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(function, items))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SpoSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _log_exchange(response: requests.Response, *args: object, **kwargs: object) -> None:
    """A requests response hook: one line per HTTP exchange, sign-in included. Method, URL,
    status, time to the answer's headers, and the ids to quote to Microsoft; never a body or
    a header value (the formatter in maforge/logs.py redacts what a URL may carry)."""
    if not LOG.isEnabledFor(logging.INFO):
        return
    request = response.request
    sent = request.headers.get("client-request-id") if request is not None else None
    answered = response.headers.get("SPRequestGuid") or response.headers.get("request-id") or response.headers.get("x-ms-request-id")
    ids = "; ".join(f"{name} {value}" for name, value in (("request id", answered), ("client-request-id", sent)) if value)
    LOG.info(
        "%s %s -> %d in %.0f ms%s",
        request.method if request is not None else "?",
        request.url if request is not None else response.url,
        response.status_code,
        response.elapsed.total_seconds() * 1000,
        f" ({ids})" if ids else "",
    )


def _error(method: str, url: str, response: requests.Response, request_id: str | None, prefix: str) -> SpoError:
    answer = Answer(response.status_code, response.headers, response.content, request_id)
    error = _error_from_answer(method, url, answer)
    return type(error)(f"{prefix}: {error}", error.status, error.code, error.request_id)


def _error_from_answer(method: str, url: str, answer: Answer) -> SpoError:
    code, text = None, answer.body.decode("utf-8", "replace")[:300]
    try:
        payload = answer.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        inner = payload.get("odata.error") or payload.get("error")
        if isinstance(inner, dict):
            code = inner.get("code")
            message = inner.get("message")
            text = message.get("value") if isinstance(message, dict) else str(message or text)
        elif isinstance(payload.get("error_description"), str):
            text = payload["error_description"]
        elif isinstance(inner, str):
            text = inner
    where = f" (request id {answer.request_id})" if answer.request_id else ""
    return SpoError(f"{method} {url.split('?')[0]} answered {answer.status}: {text}{where}", answer.status, code, answer.request_id)


__all__ = ["Answer", "AuthError", "BatchPart", "BatchResult", "RetryBudgetExhausted", "RetryPolicy", "SpoError", "SpoSession", "user_agent"]
