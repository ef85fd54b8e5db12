"""Speed of the web app, measured in a real browser against ``streamlit run app.py``.

Three measurements (results go to stdout as a table and, with ``--json``, to a file):

1. **Page load**: with the models already cached by the server, how long a new browser
   session takes until the Generate page is usable (its heading and Generate button).
2. **Default Generate run**: a reference typed (``--reference``, default
   HgBa2Ca2Cu3O8.27: the issue's default run, cuprates, N = 2–4, 150 samples per N),
   Generate clicked with the default settings; time from the click to the results, and
   how often the live progress line changed. ``--repeats`` runs it several times (median).
3. **Concurrent sessions**: N browser sessions (default 10) each generate for a different
   reference at the same time; every one must finish without an error, and its table
   and CSV must hold only its own reference (no cross-talk).

Needs Chromium (``apt-get install -y chromium``) and ``pip install playwright``.
Usage: ``python benchmarks/bench_app.py [--sessions 10] [--repeats 3] [--json out.json]``
(``--app-dir`` benchmarks another copy of the app, e.g. a checkout of an older commit).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = "HgBa2Ca2Cu3O8.27"
CHROMIUM = os.environ.get("SUPERDIFF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HEADING = "Generate candidate superconductors"
GENERATE = re.compile(r"^.*Generate$")
RESULTS = re.compile(r"^Results for")
CONCURRENT_REFERENCES = (
    ("BaFe2As2", "pnictides"), ("SrFe2As2", "pnictides"), ("CaFe2As2", "pnictides"), ("LaFeAsO0.9F0.1", "pnictides"),
    ("FeSe", "pnictides"), ("YBa2Cu3O7", "cuprates"), ("La1.85Sr0.15CuO4", "cuprates"), ("HgBa2Ca2Cu3O8", "cuprates"),
    ("MgB2", "others"), ("Nb3Sn", "others"), ("NbTi", "others"), ("V3Si", "others"),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def app_server(threads: str | None, app_dir: Path = REPOSITORY):
    """``streamlit run app.py`` (of ``app_dir``) on a free localhost port, stopped on exit."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads:
        env["SUPERDIFF_TORCH_THREADS"] = threads
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log.name}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        print(f"(server log: {log.name})", file=sys.stderr)


# ---------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------


async def open_generate_page(browser, url: str):
    """A fresh browser session on the Generate page; returns (page, seconds to usable)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page = await context.new_page()
    start = time.perf_counter()
    await page.goto(url, timeout=600_000)
    await page.get_by_role("heading", name=HEADING).wait_for(timeout=600_000)
    await page.get_by_role("button", name=GENERATE).wait_for(timeout=600_000)
    return page, time.perf_counter() - start


async def set_number(page, label: str, value: int) -> None:
    field = page.get_by_role("spinbutton", name=label)
    await field.fill(str(value))
    await field.press("Enter")


async def generate(page, reference: str, samples: int | None = None, steps: int | None = None, watch_progress: bool = False):
    """Type a reference, click Generate and wait for the results. Returns (seconds, progress
    changes as (seconds since the click, progress text))."""
    box = page.get_by_role("textbox", name="Reference formulas, one per line")
    await box.fill(reference)
    await box.press("Tab")
    await page.get_by_text("Suggested:").wait_for(timeout=60_000)
    if samples is not None:
        await set_number(page, "Samples per N", samples)
    if steps is not None:
        await set_number(page, "Sampling steps", steps)
    await page.wait_for_timeout(500)
    start = time.perf_counter()
    await page.get_by_role("button", name=GENERATE).click()
    changes: list[tuple[float, str]] = []
    results = page.get_by_role("heading", name=RESULTS)
    if watch_progress:
        last = None
        while not await results.count():
            texts = await page.locator('[data-testid="stProgress"]').all_inner_texts()
            if texts and texts[0] != last:
                last = texts[0]
                changes.append((time.perf_counter() - start, last))
            await page.wait_for_timeout(100)
    await results.wait_for(timeout=900_000)
    return time.perf_counter() - start, changes


async def check_session(page, reference: str) -> dict:
    """The session's own results: heading, no error, CSV rows only of its reference."""
    heading = await page.get_by_role("heading", name=RESULTS).inner_text()
    exceptions = await page.locator('[data-testid="stException"]').count()
    errors = await page.locator('[data-testid="stAlertContentError"]').count()
    async with page.expect_download() as info:
        await page.get_by_role("button", name=re.compile("Download all")).click()
    download = await info.value
    text = Path(await download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    references = {row["reference"] for row in rows}
    return {
        "reference": reference,
        "heading_ok": heading == f"Results for {reference}",
        "errors": exceptions + errors,
        "candidates": len(rows),
        "cross_talk": bool(references - {reference}),
    }


async def measure(url: str, args: argparse.Namespace) -> dict:
    from playwright.async_api import async_playwright

    report: dict = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Warm the server: load the page and the models once (not measured).
        page, cold = await open_generate_page(browser, url)
        await generate(page, "BaFe2As2", samples=8, steps=5)
        await page.context.close()
        report["cold_first_load_s"] = round(cold, 2)

        if not args.skip_load:
            loads = []
            for _ in range(args.loads):
                page, seconds = await open_generate_page(browser, url)
                loads.append(seconds)
                await page.context.close()
            report["page_load_s"] = {"median": round(statistics.median(loads), 2), "max": round(max(loads), 2), "runs": len(loads)}
            print(f"page load with models cached: median {statistics.median(loads):.2f} s, max {max(loads):.2f} s")

        if not args.skip_generate:
            runs = []
            for _ in range(args.repeats):  # each in a fresh session, the models already loaded by the warm-up
                page, _ = await open_generate_page(browser, url)
                seconds, changes = await generate(page, args.reference, watch_progress=True)
                runs.append((seconds, changes, await page.get_by_text(re.compile(r"^Took")).inner_text()))
                await page.context.close()
            seconds, changes, caption = sorted(runs, key=lambda run: run[0])[len(runs) // 2]  # the median run
            times = [t for t, _ in changes]
            sampling = [t for t, text in changes if text.startswith("Sampling")]
            gaps = [b - a for a, b in zip(times, times[1:])]
            sampling_gaps = [b - a for a, b in zip(sampling, sampling[1:])]
            report["default_generate"] = {
                "reference": args.reference,
                "seconds": round(seconds, 2),
                "all_seconds": [round(run[0], 2) for run in runs],
                "progress_updates": len(changes),
                "first_update_s": round(times[0], 2) if times else None,
                "max_gap_between_updates_s": round(max(gaps), 2) if gaps else None,
                "max_gap_while_sampling_s": round(max(sampling_gaps), 2) if sampling_gaps else None,
                "median_gap_s": round(statistics.median(gaps), 2) if gaps else None,
                "first_progress_line": changes[0][1] if changes else None,
                "timings_caption": caption,
            }
            print(f"default Generate run ({args.reference}): median {seconds:.1f} s of {report['default_generate']['all_seconds']}, "
                  f"{len(changes)} progress updates, max gap {report['default_generate']['max_gap_between_updates_s']} s")

        if args.sessions:
            references = [CONCURRENT_REFERENCES[i % len(CONCURRENT_REFERENCES)][0] for i in range(args.sessions)]
            pages = [page for page, _ in await asyncio.gather(*(open_generate_page(browser, url) for _ in references))]
            start = time.perf_counter()
            durations = await asyncio.gather(*(
                generate(page, reference, samples=args.concurrent_samples, steps=args.concurrent_steps)
                for page, reference in zip(pages, references)
            ))
            wall = time.perf_counter() - start
            checks = [await check_session(page, reference) for page, reference in zip(pages, references)]
            report["concurrent"] = {
                "sessions": len(references),
                "samples_per_n": args.concurrent_samples,
                "steps": args.concurrent_steps,
                "wall_s": round(wall, 1),
                "slowest_session_s": round(max(d for d, _ in durations), 1),
                "all_ok": all(c["heading_ok"] and not c["errors"] and not c["cross_talk"] for c in checks),
                "sessions_detail": checks,
            }
            print(f"{len(references)} concurrent sessions: {wall:.1f} s wall, all ok: {report['concurrent']['all_ok']}")
            for check in checks:
                print(f"  {check}")
        await browser.close()
    return report


def apptest_load_times(runs: int) -> dict:
    """Server-side time of the Generate page (the script run), cold and with the models
    cached, through Streamlit's AppTest in this process (no browser)."""
    from streamlit.testing.v1 import AppTest

    def one() -> float:
        start = time.perf_counter()
        AppTest.from_file(str(REPOSITORY / "app.py"), default_timeout=300).run()
        return time.perf_counter() - start

    cold = one()
    warm = [one() for _ in range(runs)]
    return {"cold_s": round(cold, 2), "warm_median_s": round(statistics.median(warm), 2), "warm_max_s": round(max(warm), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent sessions (0 skips)")
    parser.add_argument("--concurrent-samples", type=int, default=100, help="samples per N in each concurrent session")
    parser.add_argument("--concurrent-steps", type=int, default=50)
    parser.add_argument("--loads", type=int, default=5, help="page loads to time")
    parser.add_argument("--threads", default=None, help="SUPERDIFF_TORCH_THREADS for the server")
    parser.add_argument("--reference", default=DEFAULT_REFERENCE, help="reference of the default Generate run")
    parser.add_argument("--repeats", type=int, default=3, help="default Generate runs to time (median)")
    parser.add_argument("--app-dir", type=Path, default=REPOSITORY, help="folder of the app.py to serve")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    report: dict = {}
    if not args.skip_load:
        report["apptest_page_run"] = apptest_load_times(args.loads)
        print(f"Generate page script run (AppTest): {report['apptest_page_run']}")
    with app_server(args.threads, args.app_dir) as url:
        report.update(asyncio.run(measure(url, args)))
    report["machine"] = {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "threads_setting": args.threads,
                         "app_dir": str(args.app_dir)}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if report.get("concurrent", {}).get("all_ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
