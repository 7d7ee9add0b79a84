"""A real browser on the real app: `streamlit run app.py` on a free port, Debian's headless Chromium driven by
Playwright (never Playwright's own browser download). Used by the browser tests and the benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


class BrowserMissing(RuntimeError):
    """Debian's chromium is not installed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def streamlit_server(env: dict[str, str], log_path: Path, health_timeout_s: float = 90):
    """`streamlit run app.py` with the given settings; yields its URL once healthy, stops it after."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + health_timeout_s
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                        if reply.read() == b"ok":
                            break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.1)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextmanager
def chromium_page(profile: Path, height: int = 1000, width: int = 1400):
    if not CHROMIUM.is_file():
        raise BrowserMissing(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`, "
                             "which `make test` does through scripts/ensure_services.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height})
        try:
            page = context.new_page()
            page.set_default_timeout(120_000)  # a shared 2-core CPU: the first inference can be slow
            page.steelscan_driver = driver  # for another_page: one sync Playwright per thread
            yield page
        finally:
            context.close()


@contextmanager
def another_page(page, profile: Path, height: int = 1000, width: int = 1400):
    """A second browser (own profile, own cookies: another person) beside `page`, from the same Playwright driver
    (a second sync_playwright() inside the first is refused)."""
    context = page.steelscan_driver.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": width, "height": height})
    try:
        other = context.new_page()
        other.set_default_timeout(120_000)
        yield other
    finally:
        context.close()
