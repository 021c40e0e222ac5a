"""`maforge report`: one self-contained HTML page per connector, from a spec or any MA export.

The unit tests read the page as text; the browser tests load it in Debian's chromium
(headless, driven over the DevTools protocol through --remote-debugging-pipe, so no
websocket library is needed) and check it renders without console errors, with and
without JavaScript, and that the flow filter works.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from maforge.compiler.mim.capabilities import capability_numbers
from maforge.compiler.validate import load_spec
from maforge.connectors.sync.plan import Plan, ProfileChange, PropertyChange, save_plan
from support import REPO, SAMPLES

SPEC = SAMPLES / "spo-user-profiles.yaml"
REFERENCE = REPO.parent / "shared" / "reference" / "ma-exports"
MV_FILE = REFERENCE / "serverconfig-contoso-MV.xml"
EXPORTS = sorted(p for p in REFERENCE.glob("*.xml") if p.name.startswith(("granfeldt", "lithnet", "mimps", "serverconfig-contoso-MA", "aadconnect")))
NOT_EXPORTS = sorted(p for p in REFERENCE.glob("*.xml") if p.name.startswith(("packaged", "related")))
LYNC = REFERENCE / "mimpsconnectors-lync-skype-powershell-ecma2-export-ma.xml"
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason="the shared reference folder is not beside this checkout")
PLANTED = "Pl@nted-Secret-4711"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- helpers


class _Page(HTMLParser):
    """The page's visible text (script and style left out) and every URL it could fetch."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.fetches: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag in ("script", "style"):
            self._skip += 1
        for name in ("src", "href", "srcset", "data", "poster", "action", "formaction", "background"):
            value = attributes.get(name)
            if value is not None and not value.startswith("#"):
                self.fetches.append(f"<{tag} {name}={value!r}>")
        if tag == "link":
            self.fetches.append(f"<link {attributes}>")
        if tag == "script" and "src" in attributes:
            self.fetches.append("<script src>")
        if tag == "meta" and (attributes.get("http-equiv") or "").lower() == "refresh":
            self.fetches.append("<meta refresh>")
        style = attributes.get("style") or ""
        self.fetches += [f"style url({u})" for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", style)]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def parse_page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def page_text(html: str) -> str:
    return re.sub(r"\s+", " ", " ".join(parse_page(html).text))


def assert_self_contained(html: str) -> None:
    page = parse_page(html)
    assert page.fetches == [], f"the page would fetch: {page.fetches}"
    lowered = html.lower()
    for pattern in (r"<link\b", r"<script[^>]*\bsrc\s*=", r"<img\b", r"<iframe\b", r"<object\b", r"<embed\b", r"@import", r"@font-face"):
        assert not re.search(pattern, lowered), pattern
    styles = "".join(re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.S | re.I))
    assert not re.findall(r"url\(", styles), "a stylesheet refers to a URL"
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, flags=re.I), "a src or href points outside"
    scripts = "".join(re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S | re.I))
    for needle in ("fetch(", "XMLHttpRequest", "import(", "WebSocket", "http://", "https://"):
        assert needle not in scripts, needle


def report(cli, source: Path, out: Path, *extra: str):
    result = cli("report", str(source), "--out", str(out), *extra)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def sample_facts() -> list[str]:
    """What anyone reading the SPO sample's page must find on it."""
    spec, _ = load_spec(SPEC)
    facts = [spec.name, spec.object_types[0].anchor[0], capability_numbers(spec.capabilities).mask_text]
    facts += [flow.target for flow_set in spec.export_flows for flow in flow_set.flows]
    facts += [profile.name for profile in spec.run_profiles]
    assert len(facts) > 20
    return facts


def saved_plan(path: Path) -> Path:
    plan = Plan("SPO User Profiles", "contoso", "0" * 64, "0.1.0", "2025-01-02T03:04:05Z", True, unchanged=21)
    plan.profiles = [
        ProfileChange(
            f"i:0#.f|membership|user{i}@contoso.onmicrosoft.com",
            f"hr row {i + 2} (EmployeeId=E10{i:02d})",
            (
                PropertyChange("Department", "change", "Unassigned", "Engineering"),
                PropertyChange("SPS-Skills", "set", [], ["Cloud platforms", "Hiring"]),
                PropertyChange("CellPhone", "clear", "+1 555 0100", None),
            ),
        )
        for i in range(60)
    ]
    plan.problems = [{"kind": "unjoined", "subject": "hr row 7 (EmployeeId=E1005)", "detail": "no profile has AccountName i:0#.f|membership|gone@contoso.onmicrosoft.com"}]
    plan.warnings = [{"kind": "synced", "subject": "Department", "detail": "Entra ID sync may undo this"}]
    plan.protected = ["SPS-Birthday"]
    save_plan(plan, path)
    return path


# --------------------------------------------------------------------------- from a spec


def test_report_of_the_spo_sample_holds_its_key_facts_and_nothing_external(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MAFORGE_SPO_PASSWORD", PLANTED)
    monkeypatch.setenv("MAFORGE_SPO_CERTIFICATE", PLANTED)
    result = cli("report", str(SPEC), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "r.html") in result.output
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert_self_contained(html)
    assert PLANTED not in html
    text = page_text(html)
    for fact in sample_facts():
        assert fact in text, fact
    assert "${env:MAFORGE_SPO_PASSWORD}" in text and "${env:MAFORGE_SPO_CERTIFICATE}" in text
    assert 'Join(" ", Coalesce([preferredName], [firstName]), [lastName])' in text
    assert "import only" in text and "import and export" in text
    assert "Export Script" in text and "common.psm1" not in text and "FIMPowerShellConnectorModule.psm1" in text
    # PowerShell highlighted by Pygments, its stylesheet inline
    assert 'class="hl"' in html and ".hl .nv" in html
    assert "Nothing: the spec models the whole MA." in text


def test_an_environment_overlay_is_reported(cli, tmp_path):
    text = page_text(report(cli, SPEC, tmp_path / "dev.html", "--env", "dev"))
    assert "contosodev" in text and "MIMSYNC-DEV01" in text
    failed = cli("report", str(SPEC), "--out", str(tmp_path / "x.html"), "--env", "nope")
    assert failed.exit_code == 1 and "maforge report:" in failed.output and "—" in failed.output
    assert not (tmp_path / "x.html").exists()


def test_planted_secrets_in_the_spec_and_environment_never_appear(cli, tmp_path, monkeypatch):
    secret_file = tmp_path / "api-key.txt"
    secret_file.write_text(PLANTED + "-file", encoding="utf-8")
    scripts = tmp_path / "scripts"
    shutil.copytree(SAMPLES / "powershell" / "scripts", scripts)
    spec = (SAMPLES / "powershell" / "flatfile-hr.yaml").read_text(encoding="utf-8")
    assert "\nparameters:" in spec
    spec = spec.replace(
        "\nparameters:",
        "\nparameters:\n  ApiKey:\n    encrypted: true\n    value: ${file:api-key.txt}\n  ServicePassword:\n    encrypted: true\n    value: ${env:PLANTED_SERVICE_PASSWORD}\n  NoValueSecret:\n    encrypted: true",
        1,
    )
    path = tmp_path / "flatfile-hr.yaml"
    path.write_text(spec, encoding="utf-8")
    monkeypatch.setenv("PLANTED_SERVICE_PASSWORD", PLANTED + "-env")
    for name in os.environ:
        if name.startswith("MAFORGE_"):
            monkeypatch.setenv(name, PLANTED + "-" + name)
    html = report(cli, path, tmp_path / "r.html")
    assert PLANTED not in html
    text = page_text(html)
    assert "${file:api-key.txt}" in text and "${env:PLANTED_SERVICE_PASSWORD}" in text
    assert "•••• (set in MIM)" in text


def test_a_saved_plan_is_summarised(cli, tmp_path):
    plan = saved_plan(tmp_path / "plan.json")
    html = report(cli, SPEC, tmp_path / "r.html", "--plan", str(plan))
    assert_self_contained(html)
    text = page_text(html)
    assert "+60" in text and "~60" in text and "-60" in text
    assert "The first 100 of 180 changes" in text
    assert "Unassigned → Engineering" in text and "Cloud platforms; Hiring" in text
    assert "unjoined" in text and "no profile has AccountName" in text and "SPS-Birthday" in text
    assert "Entra ID sync may undo this" in text
    assert (tmp_path / "r.html").stat().st_mode & 0o077 == 0, "a page with profile data is the owner's only"
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"format_version": 1, "profiles": 3}', encoding="utf-8")
    failed = cli("report", str(SPEC), "--out", str(tmp_path / "x.html"), "--plan", str(damaged))
    assert failed.exit_code == 1 and failed.output.startswith("maforge report: ")
    assert not (tmp_path / "x.html").exists()


def test_errors_name_the_next_step(cli, tmp_path):
    missing = cli("report", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "r.html"))
    assert missing.exit_code == 1 and missing.output.startswith("maforge report: ") and "—" in missing.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: maforge/v1\nkind: Connector\nname: X\ntype: nonsense\n", encoding="utf-8")
    invalid = cli("report", str(broken), "--out", str(tmp_path / "r.html"))
    assert invalid.exit_code == 1 and "maforge report:" in invalid.output and "maforge validate" in invalid.output
    not_ma = tmp_path / "not-an-ma.xml"
    not_ma.write_text("<Configuration/>", encoding="utf-8")
    wrong = cli("report", str(not_ma), "--out", str(tmp_path / "r.html"))
    assert wrong.exit_code == 1 and "maforge report:" in wrong.output and "—" in wrong.output
    assert not (tmp_path / "r.html").exists()


def test_help_shows_an_example(cli):
    shown = cli("report", "--help").output
    assert "Examples:" in shown and "$ maforge report samples/spo-user-profiles.yaml --out report.html" in shown


# --------------------------------------------------------------------------- from MA exports


@needs_reference
@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: p.stem)
def test_report_of_every_reference_export(cli, tmp_path, export):
    extra = ("--mv", str(MV_FILE)) if export.name.startswith("serverconfig") else ()
    html = report(cli, export, tmp_path / "r.html", *extra)
    assert_self_contained(html)
    text = page_text(html)
    from lxml import etree

    root = etree.parse(str(export)).getroot()
    ma = root if root.tag == "ma-data" else root.find("ma-data")
    assert ma.findtext("name") in text and ma.findtext("id") in text
    if export.name.startswith(("serverconfig", "granfeldt", "lithnet", "aadconnect")):
        assert "carried verbatim" in text and ma.findtext("subtype") in text
    for encrypted in ma.iter("parameter"):
        if encrypted.get("encrypted") == "1" and (encrypted.text or "").strip():
            assert encrypted.text.strip() not in html


@needs_reference
def test_report_of_the_lync_export_shows_its_scripts_and_carried_parts(cli, tmp_path):
    html = report(cli, LYNC, tmp_path / "r.html")
    text = page_text(html)
    assert "Skype" in text and "{46E3F078-5D69-4A51-8731-AC0483F19B6F}" in text
    assert text.count("Export Script") >= 1 and "export.ps1" in text
    assert "private-configuration/MAConfig/ui-data" in text
    assert "Full Synchronisation" in text


@needs_reference
def test_a_planted_password_in_a_carried_connection_string_is_masked(cli, tmp_path):
    original = (REFERENCE / "granfeldt-sqlma-ma-exported-2015.xml").read_text(encoding="utf-8")
    assert "password={password}" in original
    planted = original.replace("password={password}", f"password={PLANTED}", 1)
    encrypted = '<parameter name="Password" type="encrypted-string" use="connectivity" encrypted="1"></parameter>'
    assert encrypted in planted
    planted = planted.replace(encrypted, encrypted.replace("></", f">{PLANTED}-encrypted</"), 1)
    export = tmp_path / "sql.xml"
    export.write_text(planted, encoding="utf-8")
    html = report(cli, export, tmp_path / "r.html")
    assert PLANTED not in html
    assert "password=••••" in page_text(html)


@needs_reference
@pytest.mark.parametrize("export", NOT_EXPORTS, ids=lambda p: p.stem)
def test_files_that_are_not_ma_exports_are_refused_with_the_next_step(cli, tmp_path, export):
    result = cli("report", str(export), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 1
    assert result.output.startswith("maforge report: ") and "—" in result.output
    assert not (tmp_path / "r.html").exists()


# --------------------------------------------------------------------------- in a real browser


class Chromium:
    """Headless chromium driven over the DevTools protocol on --remote-debugging-pipe
    (fd 3 in, fd 4 out, messages ending in NUL)."""

    def __init__(self, executable: str, workdir: Path):
        self.workdir = workdir
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Move the child's ends above any fd the shell redirections below could touch.
        low_r, low_w = to_browser_r, from_browser_w
        to_browser_r = os.dup(low_r) if low_r >= 10 else _dup_high(low_r)
        from_browser_w = os.dup(low_w) if low_w >= 10 else _dup_high(low_w)
        os.close(low_r)
        os.close(low_w)
        profile = workdir / "profile"
        arguments = [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--mute-audio",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        command = 'exec "$@" 3<&' + str(to_browser_r) + " 4>&" + str(from_browser_w)
        self._log = open(workdir / "chromium.log", "wb")
        self.process = subprocess.Popen(
            [shutil.which("bash") or "/bin/bash", "-c", command, "chromium", *arguments],  # dash takes one-digit fds only
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            pass_fds=(to_browser_r, from_browser_w),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def close(self) -> None:
        try:
            self.call("Browser.close", browser=True, timeout=10)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time; see chromium.log")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe; see chromium.log")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, *, browser: bool = False, timeout: float = 30, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if not browser and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event["method"] == method:
                self.events.remove(event)
                return event
        while True:
            event = self._read(deadline)
            if event.get("method") == method:
                return event
            if "method" in event:
                self.events.append(event)

    def open(self, url: str, *, javascript: bool = True, width: int = 1400, height: int = 1000) -> None:
        target = self.call("Target.createTarget", browser=True, url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", browser=True, targetId=target, flatten=True)["sessionId"]
        self.events.clear()
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        if not javascript:
            self.call("Emulation.setScriptExecutionDisabled", value=True)
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and blocked loads seen so far."""
        self.call("Runtime.evaluate", expression="0")  # drain what is queued
        problems = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                problems.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                problems.append(f"console.{params['type']}: " + " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                problems.append(f"log: {params['entry'].get('text')} ({params['entry'].get('url', '')})")
        return problems

    def screenshot(self, path: Path, *, full_page: bool = False) -> None:
        params = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 16000), "scale": 1})
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", timeout=60, **params)["data"]))


def _dup_high(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD, 10)


@pytest.fixture
def chromium(tmp_path):
    executable = shutil.which("chromium")
    if executable is None:
        reason = "install chromium (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    browser = Chromium(executable, tmp_path)
    try:
        yield browser
    finally:
        browser.close()


def test_the_page_renders_in_chromium_without_errors(cli, chromium, tmp_path):
    page = tmp_path / "report.html"
    report(cli, SPEC, page, "--plan", str(saved_plan(tmp_path / "plan.json")))
    chromium.open(page.as_uri())
    assert chromium.errors() == []
    assert chromium.evaluate("document.documentElement.className") == "js"
    text = chromium.evaluate("document.body.innerText")
    for fact in sample_facts():
        assert fact in text, fact
    assert PLANTED not in text
    shot = tmp_path / "report.png"
    chromium.screenshot(shot)
    data = shot.read_bytes()
    assert len(data) > 10_000 and data.startswith(PNG_MAGIC)

    # The flow filter keeps the rows that match every word, and says how many.
    total = chromium.evaluate("document.querySelectorAll('#flows-table tr.flow').length")
    assert total >= 37
    shown = chromium.evaluate(
        "(() => { const i = document.getElementById('flow-filter'); i.value = 'export clear'; i.dispatchEvent(new Event('input'));"
        " return [...document.querySelectorAll('#flows-table tr.flow')].filter(r => r.offsetParent !== null).map(r => r.innerText); })()"
    )
    assert shown and len(shown) < total and all("export" in row and "clear" in row for row in shown)
    assert "of %d rows" % total in chromium.evaluate("document.getElementById('flow-count').textContent")
    # Collapsed scripts open with one click, and everything opens for printing.
    assert chromium.evaluate("document.querySelectorAll('details.script[open]').length") == 0
    chromium.evaluate("document.querySelector('button[data-toggle=\"details.script\"][data-open=\"1\"]').click()")
    assert chromium.evaluate("document.querySelectorAll('details.script[open]').length") == 9
    chromium.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert chromium.evaluate("document.querySelectorAll('details:not([open])').length") == 0
    assert chromium.errors() == []


def test_the_page_is_readable_without_javascript(cli, chromium, tmp_path):
    page = tmp_path / "report.html"
    report(cli, SPEC, page)
    chromium.open(page.as_uri(), javascript=False)
    assert chromium.evaluate("document.documentElement.className") == "no-js"
    text = chromium.evaluate("document.body.innerText")
    for fact in sample_facts():
        assert fact in text, fact
    assert chromium.evaluate("document.getElementById('flow-filter').offsetParent") is None, "the filter needs JS: hidden without it"
    shot = tmp_path / "no-js.png"
    chromium.screenshot(shot)
    assert shot.read_bytes().startswith(PNG_MAGIC)
    assert chromium.errors() == []


@needs_reference
def test_an_export_report_renders_in_chromium(cli, chromium, tmp_path):
    page = tmp_path / "lync.html"
    report(cli, LYNC, page)
    chromium.open(page.as_uri())
    assert chromium.errors() == []
    text = chromium.evaluate("document.body.innerText")
    assert "Skype" in text and "Carried verbatim" in text
    shot = tmp_path / "lync.png"
    chromium.screenshot(shot)
    assert shot.read_bytes().startswith(PNG_MAGIC)
