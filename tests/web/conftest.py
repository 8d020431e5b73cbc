"""Browser-test fixtures: Debian's Chromium driven by Playwright (sync API) against the real
`kefu serve` process, and failure artifacts.

One browser per session and a fresh context (own localStorage) per test. Tests that do not
stop the server share one (``shared_bot``); a test that restarts it takes ``restartable_bot``.
When a test fails, a screenshot and the page's console log are written to
``test-artifacts/<test name>.png`` / ``.console.log`` (gitignored).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.bot.conftest import KefuServer
from tests.browser import chromium_browser
from tests.redis_keys import delete_prefix
from tests.web.live_bot import LiveBot, LoopThread
from tests.web.widget_page import WidgetPage

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                               ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Keep each phase's report on the item, so fixtures can tell in teardown whether the test failed.
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_REPORTS, {})
    return any(report.failed for report in reports.values())


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium_browser() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh browser context. Uncaught page errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    console: list[str] = []
    errors: list[str] = []
    page.on("console", lambda message: console.append(f"[{message.type}] {message.text}"))
    page.on("pageerror", lambda error: (errors.append(str(error)), console.append(f"[pageerror] {error}")))
    yield page
    try:
        if _failed(request):
            _save_artifacts(request.node.name, page, console)
    finally:
        context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def _save_artifacts(test_name: str, page: Page, console: list[str]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    stem = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    try:
        page.screenshot(path=str(stem.with_suffix(".png")), full_page=True)
    except Exception as exc:  # a crashed page still gets its console log written
        console.append(f"[artifacts] screenshot failed: {exc}")
    stem.with_suffix(".console.log").write_text("\n".join(console) + "\n", encoding="utf-8")


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="session")
def shared_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix for the shared server; its keys are deleted at the end."""
    prefix = f"kefu-web:{uuid.uuid4().hex[:12]}:"
    yield prefix
    delete_prefix(redis_url, prefix)


def _live_bot(tiny_model: Path, tiny_project: Path, redis_url: str, prefix: str, action_server: str,
              var_dir: Path, loop: LoopThread) -> Iterator[LiveBot]:
    server = KefuServer(model=tiny_model, project=tiny_project, redis_url=redis_url, prefix=prefix,
                        action_endpoint=action_server, var_dir=var_dir).start()
    bot = LiveBot(server, project=tiny_project, redis_url=redis_url, prefix=prefix, loop=loop)
    try:
        yield bot
    finally:
        bot.close()
        server.stop()


@pytest.fixture(scope="session")
def shared_bot(tiny_model: Path, tiny_project: Path, redis_url: str, shared_prefix: str, action_server: str,
               tmp_path_factory: pytest.TempPathFactory, loop_thread: LoopThread) -> Iterator[LiveBot]:
    """One server for every browser test that leaves it running."""
    yield from _live_bot(tiny_model, tiny_project, redis_url, shared_prefix, action_server,
                         tmp_path_factory.mktemp("web-server"), loop_thread)


@pytest.fixture
def restartable_bot(tiny_model: Path, tiny_project: Path, redis_url: str, redis_prefix: str, action_server: str,
                    tmp_path: Path, loop_thread: LoopThread) -> Iterator[LiveBot]:
    """A server of this test's own, which it may stop, start and restart."""
    yield from _live_bot(tiny_model, tiny_project, redis_url, redis_prefix, action_server, tmp_path, loop_thread)


@pytest.fixture
def widget(page: Page, shared_bot: LiveBot) -> WidgetPage:
    """The widget on the shared server's pages (not loaded yet: call ``goto``)."""
    return WidgetPage(page, shared_bot.base_url)
