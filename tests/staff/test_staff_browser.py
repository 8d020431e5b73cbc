"""The staff pages in Debian's Chromium: review and correct, export, retrain, reload; and a
live takeover where the customer's widget is on one server and the agent on the other."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from bot.cli import main as kefu
from tests.browser import chromium_browser
from tests.staff.conftest import ADMIN, AGENT, StaffCluster, run_async
from tests.staff.test_staff_http import XSS, chat
from tests.web.widget_page import MESSAGE, WidgetPage


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium_browser() as chromium:
        yield chromium


def new_page(browser: Browser, dialogs: list[str]) -> Page:
    """A page in a fresh context; any alert/confirm a page opens is recorded (and dismissed)."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    return page


def sign_in(page: Page, base_url: str, name: str, password: str) -> None:
    page.goto(base_url + "/staff/")
    expect(page).to_have_url(re.compile(r"/staff/login"))
    page.get_by_test_id("login-name").fill(name)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("whoami")).to_contain_text(name)


def wait_for_model(cluster: StaffCluster, name: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        models = {httpx.get(cluster.base_url(server) + "/healthz").json()["model"] for server in cluster.servers}
        if models == {name}:
            return
        time.sleep(0.25)
    raise AssertionError(f"servers still run {models}, not {name}")


def test_review_correct_export_retrain_and_reload(browser: Browser, staff_cluster: StaffCluster, tiny_model: Path,
                                                  tiny_project: Path, tmp_path: Path) -> None:
    conversation = run_async(chat(staff_cluster, "hello", "my xylophone parcel never arrived"))
    dialogs: list[str] = []
    page = new_page(browser, dialogs)
    base = staff_cluster.base_url()
    sign_in(page, base, *ADMIN)

    page.get_by_test_id("search-input").fill("xylophone")
    page.get_by_test_id("search-submit").click()
    expect(page.get_by_test_id("result-count")).to_have_text(re.compile(r"^1 "))
    page.get_by_test_id("conversation-link").click()
    expect(page).to_have_url(re.compile(f"/staff/conversations/{re.escape(conversation)}"))

    message = page.locator("[data-testid=message][data-role=user]").filter(has_text="xylophone")
    expect(message.get_by_test_id("intent")).to_be_visible()
    message.get_by_test_id("correct").locator("summary").click()
    message.get_by_test_id("correct-intent").fill("track_order")
    message.get_by_test_id("correct-submit").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Correction saved")
    corrected = page.locator("[data-testid=message][data-role=user]").filter(has_text="xylophone")
    expect(corrected.get_by_test_id("corrected")).to_contain_text("track_order")

    page.get_by_test_id("nav-training").click()
    expect(page.get_by_test_id("correction-row")).to_have_count(1)
    with page.expect_download() as download:
        page.get_by_test_id("training-download").click()
    project = tmp_path / "project"
    shutil.copytree(tiny_project, project)
    exported = project / "data" / "kefu_corrections.yml"
    download.value.save_as(exported)
    assert "- my xylophone parcel never arrived" in exported.read_text() and "intent: track_order" in exported.read_text()

    # Retrain on the project with the export merged in, into the folder the servers' model is in.
    retrained = tiny_model.parent / f"retrained-{int(time.time())}"
    assert kefu(["train", "--data", str(project), "--out", str(retrained), "--config", "tiny",
                 "--threads", "1", "--seed", "0"]) == 0
    sizes = [json.loads((m / "report.json").read_text())["data"] for m in (tiny_model, retrained)]
    assert sum(sizes[1][k] for k in ("train_examples", "validation_examples")) == \
        sum(sizes[0][k] for k in ("train_examples", "validation_examples")) + 1

    try:
        page.get_by_test_id("nav-model").click()
        page.get_by_test_id("model-select").select_option(str(retrained))
        page.get_by_test_id("reload-submit").click()
        expect(page.get_by_test_id("reload-sent")).to_contain_text("2 server(s)")
        wait_for_model(staff_cluster, retrained.name)
        page.reload()
        expect(page.get_by_test_id("current-model")).to_have_text(str(retrained))
    finally:
        staff_cluster.reload(tiny_model)
        wait_for_model(staff_cluster, tiny_model.name)
    assert dialogs == []
    page.context.close()


def test_live_takeover_across_two_servers(browser: Browser, staff_cluster: StaffCluster) -> None:
    dialogs: list[str] = []
    # The customer chats on server B ...
    customer_page = new_page(browser, dialogs)
    widget = WidgetPage(customer_page, staff_cluster.base_url(staff_cluster.b)).goto("/")
    widget.open()
    widget.say_and_wait(XSS)
    # ... the agent works on server A.
    agent_page = new_page(browser, dialogs)
    sign_in(agent_page, staff_cluster.base_url(staff_cluster.a), *AGENT)
    agent_page.get_by_test_id("nav-live").click()
    expect(agent_page.get_by_test_id("queue-connection")).to_have_attribute("data-state", "online")

    widget.part("human-button").click()
    expect(widget.part("handoff-banner")).to_have_attribute("data-state", "waiting")
    conversation = widget.conversation_id
    # The queue updates without a reload, and shows the customer's markup as text.
    item = agent_page.locator(f"[data-testid=queue-waiting] [data-conversation-id='{conversation}']")
    expect(item).to_be_visible()
    item.get_by_test_id("queue-open").click()

    log = agent_page.get_by_test_id("live-log")
    expect(log.locator("[data-kind=user]").first.get_by_test_id("live-text")).to_have_text(XSS)
    agent_page.get_by_test_id("take-over").click()
    expect(agent_page.get_by_test_id("live-state")).to_have_attribute("data-state", "human")
    expect(widget.part("handoff-banner")).to_have_attribute("data-state", "human")

    agent_page.get_by_test_id("reply-input").fill("Hi, I'm Bob. Let me check that for you.")
    agent_page.get_by_test_id("reply-send").click()
    human = customer_page.locator(MESSAGE + "[data-source=human]")
    expect(human.get_by_test_id("message-text")).to_have_text("Hi, I'm Bob. Let me check that for you.")
    expect(log.locator("[data-kind=bot][data-source=human]")).to_have_count(1)

    widget.say("thanks, that helps")  # while a person has the chat, the agent sees it live
    expect(log.locator("[data-kind=user]").filter(has_text="thanks, that helps")).to_have_count(1)

    agent_page.get_by_test_id("hand-back").click()
    expect(widget.part("handoff-banner")).to_be_hidden()
    expect(agent_page.get_by_test_id("live-state")).to_have_attribute("data-state", "bot")

    # Every staff page shows the customer's markup as text, never as markup.
    staff_cluster.wait_archived(conversation, kinds=2)
    for path in ("/staff/", "/staff/?q=alert", f"/staff/conversations/{conversation}", f"/staff/live/{conversation}"):
        agent_page.goto(staff_cluster.base_url() + path)
        expect(agent_page.get_by_text(XSS).first).to_be_visible()
        assert agent_page.locator("main script").count() == 0
    audit_page = new_page(browser, dialogs)
    sign_in(audit_page, staff_cluster.base_url(), *ADMIN)
    audit_page.goto(staff_cluster.base_url() + "/staff/admin/audit?user=bob")
    for action in ("take_over", "reply", "hand_back"):
        expect(audit_page.get_by_test_id("audit-row").filter(has_text=action).first).to_be_visible()
    assert dialogs == []
    for page in (customer_page, agent_page, audit_page):
        page.context.close()
