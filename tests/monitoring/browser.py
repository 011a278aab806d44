"""Headless Chromium for the dashboard browser tests and scripts/screenshots.py (Debian chromium + chromium-driver)."""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars")


def chromium_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver) executables, or None when one is missing.

    Debian's chromium here; GitHub's Ubuntu runners carry Google Chrome and its
    driver instead (the driver's folder in CHROMEWEBDRIVER).
    """
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    folder = os.environ.get("CHROMEWEBDRIVER")
    driver = shutil.which("chromedriver") or (shutil.which("chromedriver", path=folder) if folder else None)
    return (browser, driver) if browser and driver else None


def start_chromium(width: int = 1440, height: int = 1000, auth: tuple[str, str] | None = None) -> Any:
    """A Selenium driver on a fresh headless Chromium profile (caller quits it).

    Args:
        width: window width (px).
        height: window height (px).
        auth: (user, password) sent as HTTP basic credentials with every request (the dashboard's login):
            an ``Authorization`` header set through the DevTools protocol, so that pages, scripts and
            callbacks all carry it (Chromium refuses credentials in the URL of subresources).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        raise RuntimeError("chromium and chromedriver are needed: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-profile-')}")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    driver.set_page_load_timeout(60)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
    return driver


def wait_rendered(driver: Any, graphs: int, timeout: float = 60.0) -> None:
    """Wait until the page shows ``graphs`` plotly graphs with their SVG drawn and no callback is pending."""
    deadline = time.monotonic() + timeout
    script = """
        const plots = document.querySelectorAll('.js-plotly-plot .main-svg');
        const loading = document.querySelector('[data-dash-is-loading="true"]');
        const title = document.querySelector('.page h2');
        return {plots: plots.length, loading: !!loading, title: title ? title.textContent : null};
    """
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = driver.execute_script(script)
        if state["title"] and state["plots"] >= graphs and not state["loading"]:
            time.sleep(0.8)  # let plotly finish its transitions
            return
        time.sleep(0.25)
    raise TimeoutError(f"page not rendered after {timeout:.0f} s: {state}")


def full_page_png(driver: Any, path: Path, width: int = 1440) -> None:
    """Resize the window to the page's height and save a PNG."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(width, min(int(height) + 40, 6000))
    time.sleep(0.8)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
