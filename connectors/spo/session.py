"""The one object that talks to SharePoint Online and Graph: `SpoSession`.

It owns what callers must never do by hand: connection pooling, the bearer token, the
User-Agent SharePoint asks for (`NONISV|Company|maforge/VERSION`), `$batch` (up to 100
requests), bounded concurrency, and retries. This is where a 429 is retried: throttling is
part of the job, so a 429 (or a 503 with Retry-After) is waited out with no attempt cap and,
unless the user sets `--max-wait`, no total cap; faults are retried a bounded number of times
and only where safe to repeat. The pacer (pacing.py) decides when each request may go.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from maforge import __version__

from .auth import AuthError, Credential, TrustingSession, credential_for, http_session
from .batch import BatchPart, BatchResult, build_batch, not_sent, oversized, parse_batch, take
from .connection import Connection
from .pacing import MAX_BATCH, BudgetStore, Pacer, ThrottleWaitLimit, Ticket, tenant_key

# Sign-in methods whose tokens are app-only: SharePoint sends them RateLimit headers.
APP_ONLY_METHODS = frozenset({"certificate", "federated", "managed-identity"})

LOG = logging.getLogger("maforge.http")  # `--verbose`: every request (maforge/logs.py redacts)
RETRYABLE_STATUS = {429, 503}  # throttling and "busy": refused before the work, safe to repeat any call
# Repeat only operations that are safe to repeat: the server may have done the work (a 504 is a
# gateway that stopped waiting for SharePoint, not SharePoint refusing the request).
TRANSIENT_STATUS = {500, 502, 504}


class SpoError(Exception):
    """A call that failed for good; carries the status, SharePoint's error code and text,
    and the request id to quote to Microsoft support."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None, request_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


class ThrottledTooLong(SpoError):
    """Throttling would make the run wait longer in total than `--max-wait` allows. The run
    stops cleanly (journal and snapshot intact) and the next one resumes. ``partial`` holds the
    answers a `$batch` had already received (None for parts never answered); ``unanswered``
    the indexes of parts that were sent but whose answer was lost (the stop came before the
    retry): SharePoint may have done them. ``unanswered`` on a single request: it was sent
    and its answer lost."""

    def __init__(self, message: str, partial: list[BatchResult | None] | None = None, unanswered: set[int] | bool = False):
        super().__init__(message, 429)
        self.partial = partial
        self.unanswered = unanswered


@dataclass(slots=True)
class RetryPolicy:
    """Retries of faults (5xx, resets, time-outs): bounded. Throttling (a 429 or 503 with
    Retry-After) is not a fault: it is waited out without an attempt cap, and in total only up
    to ``max_wait`` seconds when that is set (`--max-wait`)."""

    max_attempts: int = 8
    backoff_cap_seconds: float = 60.0
    timeout_seconds: float = 60.0
    max_wait: float | None = None


@dataclass(slots=True)
class SessionStats:
    calls: int = 0  # requests sent (a batch counts its parts)
    http_requests: int = 0
    throttled: int = 0  # 429/503 answers (batch parts included)
    retries: int = 0
    waited_seconds: float = 0.0  # fault back-off and throttling holds
    faults: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **values: float) -> None:
        with self.lock:
            for name, value in values.items():
                setattr(self, name, getattr(self, name) + value)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: requests.structures.CaseInsensitiveDict
    body: bytes
    request_id: str | None
    ticket: Any = None  # the pacer's ticket for the calls this answer carried

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
        budget: int | None = None,
        state_dir: Path | None = None,
        report: Callable[[str], None] | None = None,
    ):
        """``budget``: the spec's PeopleManager calls per 5 minutes (a connection file's
        `calls_per_5_minutes` wins); ``state_dir``: where the learnt budget of the tenant is
        kept between runs; ``report``: told about every throttling wait (the progress line)."""
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
        self._sleep = sleep
        self._jitter = random.Random()
        self._report_to = report
        self._store = BudgetStore(state_dir, tenant_key(connection.tenant, connection.tenant_id, connection.spo_url, connection.time_scale)) if state_dir is not None else None
        self.pacer = Pacer(
            time_scale=connection.time_scale,
            stated=connection.calls_per_5_minutes or budget,
            app_only=getattr(self.credential, "method", "certificate") in APP_ONLY_METHODS,
            memory=self._store.load() if self._store is not None else None,
            concurrency=self.concurrency,
            max_wait=self.retry.max_wait,
            report=self._report,
            sleep=sleep,
        )

    # ------------------------------------------------------------------ low level

    def _report(self, message: str) -> None:
        LOG.info("%s", message)
        if self._report_to is not None:
            self._report_to(message)

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
        """Back off after a fault (bounded by the attempts, not by --max-wait)."""
        self.stats.add(waited_seconds=seconds)
        self._sleep(seconds)

    def _graph_wait(self, seconds: float) -> None:
        """Wait out a Graph 429 (Graph's limits are its own: SharePoint traffic goes on)."""
        try:
            self.pacer.account_wait(seconds)
        except ThrottleWaitLimit as stop:
            raise ThrottledTooLong(str(stop)) from None
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
        ticket: Ticket | None = None,
    ) -> Answer:
        """Send one request with retries. A 429 (or 503) with Retry-After is throttling: the
        server did not do the work, so any call is sent again once the wait is over, with no
        attempt cap. 500/502/504, resets and time-outs are faults, retried (a bounded number
        of times) only when ``safe_to_repeat``: the server may have done the work."""
        attempt = 0
        graph = url.startswith(self.connection.graph_url)
        paced = not graph
        counted = budgeted(url)
        granted = ticket  # the pacer's admission for the first attempt, when the caller has it
        answer_lost = False  # the last attempt reached SharePoint but its answer did not come back
        while True:
            attempt += 1
            ticket, granted = granted, None
            if paced and ticket is None:
                try:
                    ticket = self.pacer.acquire(calls, counted, envelope=url.endswith("/$batch"))
                except ThrottleWaitLimit as stop:
                    # After a lost answer (a fault), the work may have been done: say so.
                    raise ThrottledTooLong(str(stop), unanswered=answer_lost) from None
            answer_lost = False
            self.stats.add(calls=calls, http_requests=1)
            try:
                response = self.http.request(
                    method,
                    url,
                    json=json_body,
                    data=data,
                    headers=self._headers(url, headers),
                    timeout=self.retry.timeout_seconds,
                )
            except BaseException as error:
                if ticket is not None:
                    self.pacer.answered(ticket, 0, {}, None)  # never leave calls "in flight" for ever
                if not isinstance(error, (requests.ConnectionError, requests.Timeout)):
                    raise
                self.stats.add(faults=1)
                LOG.info("%s %s: no answer (%s), attempt %d of %d", method, url, type(error).__name__, attempt, self.retry.max_attempts)
                if not safe_to_repeat or attempt >= self.retry.max_attempts:
                    raise SpoError(f"{method} {url}: no answer ({type(error).__name__}); not retried" if not safe_to_repeat else f"{method} {url}: no answer after {attempt} attempts") from None
                answer_lost = True
                self.stats.add(retries=1)
                backoff = self._backoff(attempt)
                LOG.info("%s %s: retry %d of %d in %.0f ms (back-off)", method, url, attempt, self.retry.max_attempts - 1, backoff * 1000)
                self._spend(backoff)
                continue
            request_id = response.headers.get("SPRequestGuid") or response.headers.get("request-id")
            told = self._retry_after(response) if response.status_code in RETRYABLE_STATUS else None
            throttled = response.status_code == 429 or (response.status_code == 503 and told is not None)
            if ticket is not None:
                try:
                    self.pacer.answered(ticket, response.status_code, response.headers, told)
                except ThrottleWaitLimit as stop:
                    raise ThrottledTooLong(str(stop)) from None
            if throttled:
                self.stats.add(throttled=calls, retries=1)
                LOG.info("%s %s: %d, Retry-After %s; sent again when the wait is over", method, url, response.status_code, response.headers.get("Retry-After"))
                if graph:
                    self._graph_wait(told if told is not None else self._backoff(attempt))
                continue  # the pacer holds every thread until Retry-After has passed
            if response.status_code in RETRYABLE_STATUS or (response.status_code in TRANSIENT_STATUS and safe_to_repeat):
                self.stats.add(faults=1)
                if attempt >= self.retry.max_attempts:
                    raise _error(method, url, response, request_id, f"still {response.status_code} after {attempt} attempts")
                wait = self._backoff(attempt)
                answer_lost = response.status_code in TRANSIENT_STATUS  # a 5xx may come after the work (a gateway time-out)
                LOG.info("%s %s: %d, retry %d of %d in %.0f ms (back-off)", method, url, response.status_code, attempt, self.retry.max_attempts - 1, wait * 1000)
                self.stats.add(retries=1)
                self._spend(wait)
                continue
            if response.status_code == 401 and attempt == 1 and "expired" in response.text.lower():
                LOG.info("%s %s: the token expired; signing in again", method, url)
                continue  # msal renews an expired token on the next token() call
            return Answer(response.status_code, response.headers, response.content, request_id, ticket)

    def _retry_after(self, response: requests.Response) -> float | None:
        return retry_after_of(response.headers)

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
        """Send ``parts`` in `$batch` requests (at most 100 parts each, fewer while the pacer
        allows fewer calls in flight); parts answered 429 are sent again once the wait is over,
        with no attempt cap. When --max-wait stops the run, ThrottledTooLong carries the
        answers received so far."""
        results: list[BatchResult | None] = [None] * len(parts)
        too_large = oversized(parts)  # over SharePoint's 1 MiB even alone: failed, never sent
        for index, size in too_large.items():
            results[index] = not_sent(size)
        pending = [index for index in range(len(parts)) if index not in too_large]
        unanswered: set[int] = set()
        while pending:
            retry_later: list[int] = []
            position = 0
            try:
                while position < len(pending):
                    chunk = take(parts, pending[position:], MAX_BATCH)  # the 100-request and 1 MiB body limits
                    try:
                        ticket = self.pacer.acquire(len(chunk), True, shrink=True, envelope=True)  # as many as may go now
                    except ThrottleWaitLimit as stop:
                        raise ThrottledTooLong(str(stop)) from None
                    chunk = chunk[: ticket.calls]
                    position += len(chunk)
                    try:
                        retry_later.extend(self._send_batch(site_url, parts, chunk, results, ticket))
                    except ThrottledTooLong as stop:
                        if stop.unanswered is True:  # this chunk was sent and its answer lost
                            unanswered.update(chunk)
                        raise
            except ThrottledTooLong as stop:
                raise ThrottledTooLong(str(stop), results, unanswered) from None
            pending = retry_later
            if pending:
                LOG.info("POST %s/_api/$batch: %d part%s throttled, sent again when the wait is over", site_url, len(pending), "s" if len(pending) != 1 else "")
                self.stats.add(retries=len(pending))
        return [r for r in results if r is not None]

    def _send_batch(self, site_url: str, parts: Sequence[BatchPart], chunk: list[int], results: list[BatchResult | None], ticket: Ticket) -> list[int]:
        """One `$batch` request, admitted by ``ticket``; the indexes of its parts to send
        again (throttled)."""
        boundary = f"batch_{uuid.uuid4()}"
        body = build_batch(boundary, site_url, [parts[i] for i in chunk])
        answer = self.request(
            "POST",
            f"{site_url}/_api/$batch",
            data=body,
            headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
            calls=len(chunk),
            ticket=ticket,
        )
        if not 200 <= answer.status < 300:
            raise _error_from_answer("POST", f"{site_url}/_api/$batch", answer)
        answers = parse_batch(answer.body, answer.headers.get("Content-Type", ""))
        if len(answers) != len(chunk):
            raise SpoError(f"$batch answered {len(answers)} parts for {len(chunk)} requests", answer.status, None, answer.request_id)
        again: list[int] = []
        wait, part_headers = None, None
        for index, result in zip(chunk, answers):
            told = retry_after_of(result.headers) if result.status in RETRYABLE_STATUS else None
            if result.status == 429 or (result.status == 503 and told is not None):
                again.append(index)
                wait = max(wait or 0.0, told or 0.0) if told is not None or wait is not None else None
                part_headers = part_headers or result.headers
            else:
                results[index] = result
        if again:
            self.stats.add(throttled=len(again))
            if answer.ticket is not None:
                try:
                    self.pacer.parts_throttled(answer.ticket, len(again), wait, part_headers or {})
                except ThrottleWaitLimit as stop:
                    raise ThrottledTooLong(str(stop)) from None
        return again

    # ------------------------------------------------------------------ concurrency

    def map(self, function: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Run ``function`` over ``items`` on at most `concurrency` threads, in order."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(function, items))

    def close(self) -> None:
        if self._store is not None:
            self._store.save(self.pacer.memory())
        self.http.close()

    def __enter__(self) -> SpoSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def retry_after_of(headers: Any) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date) and RateLimit-Reset: the
    larger of the two, as SharePoint asks."""
    values = []
    text = headers.get("Retry-After") if headers is not None else None
    if text:
        try:
            values.append(max(float(text), 0.0))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(text)
                values.append(max((when - dt.datetime.now(dt.timezone.utc)).total_seconds(), 0.0))
            except (TypeError, ValueError):
                pass
    reset = headers.get("RateLimit-Reset") if headers is not None else None
    if reset and values:
        try:
            values.append(float(reset))
        except ValueError:
            pass
    return max(values) if values else None


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


__all__ = ["Answer", "AuthError", "BatchPart", "BatchResult", "RetryPolicy", "SpoError", "SpoSession", "ThrottledTooLong", "retry_after_of", "user_agent"]
