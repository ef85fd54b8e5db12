"""End to end in a real browser: ``streamlit run app.py`` driven by Playwright on the
system Chromium (no browser download).

Needs ``/usr/bin/chromium`` (Debian: ``apt-get install -y chromium``) and the Python
package ``playwright`` (``pip install playwright``); skipped with the reason otherwise.
Run with ``pytest -m browser tests/test_browser.py``.

Setting ``SUPERDIFF_SCREENSHOTS=DIR`` also saves a screenshot of every page to DIR (the
ones in docs/screenshots/ are made this way).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPOSITORY = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("SUPERDIFF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_START_SECONDS = 90
RUN_TIMEOUT_MS = 180_000

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

if sync_playwright is None:
    pytest.skip("playwright is not installed (pip install playwright)", allow_module_level=True)
if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)



def wait_for_script(page, timeout_ms: int = 60_000) -> None:
    """Wait until the app's script has finished its run (Streamlit marks the app root
    ``data-test-script-state="notRunning"``), so what is on screen belongs to the
    latest inputs."""
    expect(page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')).to_be_attached(timeout=timeout_ms)


def click_generate(page) -> None:
    """Click Generate once the page shows the latest inputs, first ticking the cost
    confirmation when the estimate asks for one (a loaded machine measures a slow rate at
    start-up). The confirmation only appears after the rerun that the last input started."""
    wait_for_script(page)
    confirmation = page.get_by_text(re.compile(r"^Yes, run for about"))
    if confirmation.count():
        confirmation.first.click()
        wait_for_script(page)
    page.get_by_role("button", name=re.compile(r"^.*Generate$")).click()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    """``streamlit run app.py`` on localhost; returns once /_stcore/health answers."""
    env = {**os.environ, "SUPERDIFF_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
    ]
    log = open(log_path, "w", encoding="utf-8")
    server = subprocess.Popen(command, cwd=REPOSITORY, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError(f"streamlit did not answer within {SERVER_START_SECONDS} s: {log_path.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    port = free_port()
    server = start_server(port, log_path)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def set_number(page, label: str, value: int) -> None:
    field = page.get_by_role("spinbutton", name=label)
    field.fill(str(value))
    field.press("Enter")
    expect(field).to_have_value(str(value))


def test_generate_download_and_stop(app_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Generate candidate superconductors")).to_be_visible(timeout=60_000)

    references = page.get_by_role("textbox", name="Reference formulas, one per line")
    references.fill("Ba(Fe0.9Co0.1)₂As₂")
    references.press("Tab")  # commits the text; the class follows the reference
    expect(page.get_by_text("Suggested: pnictides")).to_be_visible(timeout=30_000)
    set_number(page, "Samples per N", 24)
    set_number(page, "Sampling steps", 20)
    expect(page.get_by_text(re.compile(r"run\(s\) of 24 samples: 72 samples at 20 steps"))).to_be_visible()
    click_generate(page)

    expect(page.get_by_role("heading", name=re.compile("^Results for"))).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Screening funnel")).to_be_visible()
    with page.expect_download() as download_info:
        # the results area re-renders while the map settles; the CSV is still checked below
        page.get_by_role("button", name=re.compile("Download all")).click(force=True)
    download = download_info.value
    assert download.suggested_filename == "superdiff_BaFe1.8Co0.2As2_pnictides_N2-4_24x20ancestral_seed0.csv"
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.splitlines()[0].split(",")
    assert header[:4] == ["formula", "model_class", "reference", "scale_factor"]
    assert rows, "the downloaded CSV has no candidate"
    assert {row["model_class"] for row in rows} == {"pnictides"}
    assert {row["reference"] for row in rows} == {"Ba(Fe0.9Co0.1)₂As₂"}
    page.screenshot(path=str(tmp_path / "generate.png"))

    # A long run shows live progress and stops on request; the earlier results stay.
    set_number(page, "Samples per N", 4000)
    expect(page.get_by_text(re.compile(r"run\(s\) of 4,000 samples"))).to_be_visible()  # the rerun of the new count began
    click_generate(page)
    expect(page.get_by_text(re.compile(r"Sampling: step \d+ of"))).to_be_visible(timeout=60_000)
    page.get_by_role("button", name=re.compile("Stop")).click()
    expect(page.get_by_text("The run was stopped").first).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", name=re.compile("^Results for"))).to_be_visible()


DRAWN_STATE = """() => [
    document.querySelectorAll('[data-testid="stSkeleton"]').length,
    document.querySelectorAll('[data-testid="stPlotlyChart"]').length,
    document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot').length,
    document.querySelectorAll('[data-testid="stDataFrame"]').length,
    document.querySelectorAll('[data-testid="stDataFrame"] canvas').length,
]"""


def wait_until_drawn(page, timeout_s: float = 90, settle_s: float = 3) -> None:
    """Wait until no element is a loading skeleton, every Plotly chart has drawn, and
    nothing changed for ``settle_s`` seconds (the page streams in as the script runs)."""
    deadline = time.monotonic() + timeout_s
    last, stable_since = None, time.monotonic()
    while time.monotonic() < deadline:
        state = page.evaluate(DRAWN_STATE)
        if state != last:
            last, stable_since = state, time.monotonic()
        elif state[0] == 0 and state[1] == state[2] and time.monotonic() - stable_since >= settle_s:
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"the page did not finish drawing: {last}")


@pytest.mark.skipif(not os.environ.get("SUPERDIFF_SCREENSHOTS"), reason="set SUPERDIFF_SCREENSHOTS=DIR to capture the pages")
def test_capture_screenshots(app_url, browser):
    """A screenshot of every page (with results where a page has them)."""
    folder = Path(os.environ["SUPERDIFF_SCREENSHOTS"])
    folder.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 2600})

    def shoot(name: str) -> None:
        wait_until_drawn(page)
        page.screenshot(path=str(folder / f"{name}.png"))

    page.goto(app_url)
    expect(page.get_by_role("heading", name="Generate candidate superconductors")).to_be_visible(timeout=60_000)
    references = page.get_by_role("textbox", name="Reference formulas, one per line")
    references.fill(os.environ.get("SUPERDIFF_SCREENSHOT_REFERENCE", "BaFe2As2"))
    references.press("Tab")
    page.wait_for_timeout(1000)
    click_generate(page)
    expect(page.get_by_role("heading", name=re.compile("^Results for"))).to_be_visible(timeout=RUN_TIMEOUT_MS)
    shoot("generate")
    page.get_by_role("heading", name="Map of SuperCon families").evaluate("heading => heading.scrollIntoView()")
    shoot("generate_results")
    page.get_by_role("heading", name="Candidates", exact=True).evaluate("heading => heading.scrollIntoView()")
    shoot("generate_candidates")

    for name, link, title, button in (
        ("explore", "Explore the model", "Explore a model", "Sample"),
        ("screen", "Screen formulas", "Screen formulas", None),
        ("elements", "Element heat map", "Element heat map", None),
        ("models", "Models", "Models", None),
        ("help", "Help", "Help", None),
    ):
        page.get_by_role("link", name=link).click()  # the sidebar keeps the session (and its results)
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=60_000)
        if name == "screen":
            box = page.get_by_role("textbox", name="Formulas, one per line")
            box.fill("YBa2Cu3O7\nLa1.85Sr0.15CuO4\nMgB2\nBaFe1.8Co0.2As2\nNb3Sn\nXx2O")
            box.press("Tab")
            page.wait_for_timeout(1000)
            page.get_by_role("button", name=re.compile(r"^.*Screen$")).click()
            expect(page.get_by_role("heading", name=re.compile("screened formulas"))).to_be_visible(timeout=RUN_TIMEOUT_MS)
        if button:
            set_number(page, "Samples", 300)
            page.get_by_role("button", name=re.compile(rf"^.*{button}$")).click()
            expect(page.get_by_role("heading", name=re.compile("^Unconditional samples"))).to_be_visible(timeout=RUN_TIMEOUT_MS)
        shoot(name)
        if name == "models":
            for tab, shot in (("Superconductor and Tc", "models_tc"), ("Formation energy", "models_formation")):
                page.get_by_role("tab", name=tab).click()
                shoot(shot)
        if name == "elements":
            page.get_by_role("combobox", name=re.compile("Compounds")).click()
            page.get_by_role("option", name="SuperCon (measured Tc)").click()
            expect(page.get_by_text(re.compile("^SuperCon everything"))).to_be_visible(timeout=60_000)
            shoot("elements_supercon")


def app_pages() -> list[tuple[str, str]]:
    """(URL path, page file) of every page of app.py's navigation, read from its source."""
    import ast

    pages = []
    for node in ast.walk(ast.parse((REPOSITORY / "app.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page":
            keywords = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("url_path", "default")}
            path = "" if keywords.get("default") else keywords.get("url_path", "")
            pages.append((path, ast.literal_eval(node.args[0])))
    return pages


UNMEANT_TEXT = {
    "a traceback": re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+"),
    "a Python None": re.compile(r"\bNone\b(?! of\b)"),
    "a Python nan or NaT": re.compile(r"(?<![\w-])(?:nan|NaN|NaT|<NA>)(?![\w-])"),
    "an internal issue number": re.compile(r"\bissues? #?\d+|\(#\d+\)"),
    "an absolute path of this machine": re.compile(r"(?<![\w.])/(?:work|tmp|root|home)/"),
    "a Python object": re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>|\bdataclass\b|DeltaGenerator"),
}
"""Text the app never means to show; the page's own module docstring is checked as well."""


TEXT_NODES = """element => {
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    const parts = [];
    while (walker.nextNode()) parts.push(walker.currentNode.textContent);
    return parts.join("\\n");
}"""
"""Every text of an element (hidden tabs included), one text node a line, so that a stray word is
not glued to its neighbours ("HelpNone")."""


def test_every_page_on_a_fresh_server_shows_only_what_it_means(browser, tmp_path):
    """Every page of the navigation, opened by its address on a fresh server (no session,
    no results), draws without an exception box and without stray text."""
    import ast

    port = free_port()
    server = start_server(port, tmp_path / "streamlit.log")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        pages = app_pages()
        assert len(pages) >= 7 and {"app_pages/generate.py", "app_pages/help.py"} <= {file for _, file in pages}
        for path, file in pages:
            page.goto(f"http://127.0.0.1:{port}/{path}")
            wait_for_script(page, 90_000)
            wait_until_drawn(page)
            assert page.locator('[data-testid="stException"]').count() == 0, file
            text = page.locator('[data-testid="stMain"]').evaluate(TEXT_NODES)
            assert page.get_by_role("heading", level=1).count() >= 1 and len(text) > 100, (file, text[:200])
            for what, pattern in UNMEANT_TEXT.items():
                found = pattern.search(text)
                assert found is None, f"{file} shows {what}: …{text[max(0, found.start() - 60):found.end() + 60]}…"
            docstring = ast.get_docstring(ast.parse((REPOSITORY / file).read_text(encoding="utf-8"))) or ""
            assert not docstring or docstring.split("\n")[0][:60] not in text, f"{file} shows its module docstring"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
