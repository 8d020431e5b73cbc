"""Debian's Chromium, driven by Playwright, for the browser tests (never a downloaded browser)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium in a container: no sandbox (no user namespaces), no GPU, /dev/shm is
# small, and nothing that phones home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextlib.contextmanager
def chromium_browser() -> Iterator[Browser]:
    """A headless Chromium for a fixture's lifetime; skips the test when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: `make chromium` (or `make test`) installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
