"""The staff pages over HTTP against real `kefu serve` processes: sign-in, CSRF, roles,
rate limits, headers, escaping, exports and model reload."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import os
from pathlib import Path

import httpx
import pytest

from tests.chat_client import ChatClient
from tests.processes import REPO_ROOT
from tests.staff.conftest import ADMIN, AGENT, StaffClient, StaffCluster

XSS = "<script>alert(1)</script>"

ADMIN_PAGES = ["/staff/reports", "/staff/reports/summary.csv", "/staff/training", "/staff/training/kefu_corrections.yml",
               "/staff/admin/model", "/staff/admin/users", "/staff/admin/audit", "/staff/export/transcripts.csv",
               "/staff/export/transcripts.jsonl"]


async def chat(cluster: StaffCluster, *lines: str, server=None) -> str:  # type: ignore[no-untyped-def]
    """A customer conversation on the widget socket; returns its id once it is archived."""
    async with ChatClient((server or cluster.a).ws_url) as client:
        await client.hello()
        for line in lines:
            await client.say(line)
        conversation_id = client.conversation_id
    assert conversation_id
    cluster.wait_archived(conversation_id, kinds=len(lines))
    return conversation_id


def test_pages_need_a_signed_in_user(staff_cluster: StaffCluster) -> None:
    client = staff_cluster.client()
    page = client.get("/staff/reports?date_from=2026-01-01")
    assert page.status_code == 303
    assert page.headers["location"] == "/staff/login?next=/staff/reports%3Fdate_from%3D2026-01-01"
    api = httpx.get(staff_cluster.base_url() + "/staff/export/transcripts.csv")
    assert api.status_code == 401
    wrong = client.login(ADMIN[0], "not the password")
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    client.close()


def test_session_cookie_flags_and_security_headers(staff_cluster: StaffCluster) -> None:
    client = staff_cluster.client()
    response = client.login(*AGENT)
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("kefu_staff="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/staff"} <= flags
    page = client.get("/staff/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    client.close()


async def test_a_post_without_the_csrf_token_is_refused(staff_cluster: StaffCluster, admin_client: StaffClient) -> None:
    conversation = await chat(staff_cluster, "hello")
    path = f"/staff/conversations/{conversation}/tags"
    assert admin_client.post(path, {"tag": "vip"}, csrf=False).status_code == 403
    assert admin_client.post(path, {"tag": "vip", "csrf_token": "forged"}).status_code == 403
    cross_site = admin_client.post(path, {"tag": "vip"}, headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    assert admin_client.post("/staff/logout", csrf=False).status_code == 403
    accepted = admin_client.post(path, {"tag": "vip"})
    assert accepted.status_code == 303
    assert 'data-testid="tag">vip<' in admin_client.get(f"/staff/conversations/{conversation}").text
    # The sign-in form has its own token (there is no session yet).
    anonymous = staff_cluster.client()
    refused = anonymous.post("/staff/login", {"name": ADMIN[0], "password": ADMIN[1]}, csrf=False)
    assert refused.status_code == 403
    anonymous.close()


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_an_agent_gets_403_on_admin_pages_and_exports(agent_client: StaffClient, path: str) -> None:
    assert agent_client.get(path).status_code == 403


def test_an_agent_cannot_post_to_admin_endpoints(agent_client: StaffClient) -> None:
    for path, form in (("/staff/admin/users/add", {"name": "mallory", "role": "admin", "password": "x" * 12}),
                       ("/staff/admin/model/reload", {"model": "/tmp"}), ("/staff/training/write", {})):
        assert agent_client.post(path, form).status_code == 403
    assert agent_client.get("/staff/").status_code == 200


def test_login_attempts_are_rate_limited(staff_cluster: StaffCluster) -> None:
    address = {"X-Forwarded-For": "10.20.30.40"}
    client = staff_cluster.client()
    for _ in range(5):  # KEFU_STAFF_LOGIN_ATTEMPTS=5 in the fixture
        assert client.login("mallory", "guess", headers=address).status_code == 401
    blocked = client.login(ADMIN[0], ADMIN[1], headers=address)  # even the right password, from there
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.text
    assert staff_cluster.client().login(*ADMIN).status_code == 303  # other addresses are unaffected
    client.close()


async def test_customer_markup_renders_as_text_on_every_staff_page(staff_cluster: StaffCluster,
                                                                  admin_client: StaffClient) -> None:
    conversation = await chat(staff_cluster, XSS)
    pages = ["/staff/", "/staff/?q=alert", f"/staff/conversations/{conversation}", f"/staff/live/{conversation}",
             "/staff/?status=bot"]
    for path in pages:
        html = admin_client.get(path).text
        assert XSS not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    intent = "greet"
    event_id = next(line.split('data-event-id="')[1].split('"')[0]
                    for line in admin_client.get(f"/staff/conversations/{conversation}").text.splitlines()
                    if 'data-role="user"' in line)
    admin_client.post(f"/staff/conversations/{conversation}/messages/{event_id}/correct",
                      {"intent": intent, "markup": XSS})
    training = admin_client.get("/staff/training").text
    assert XSS not in training and "&lt;script&gt;" in training


async def test_transcript_and_report_exports(staff_cluster: StaffCluster, admin_client: StaffClient) -> None:
    conversation = await chat(staff_cluster, "hello there", "my email is ann@example.com")
    exported = admin_client.get("/staff/export/transcripts.csv?q=there")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(exported.text)))
    mine = [row for row in table if row["conversation_id"] == conversation]
    assert [row["text"] for row in mine if row["kind"] == "user"] == ["hello there", "my email is <EMAIL>"]
    assert all(row["source"] for row in mine if row["kind"] == "bot")
    lines = admin_client.get("/staff/export/transcripts.jsonl?q=there").text.splitlines()
    records = {r["id"]: r for r in map(json.loads, lines)}
    assert records[conversation]["messages"][0]["text"] == "hello there"
    assert "ann@example.com" not in exported.text + "".join(lines)
    summary = admin_client.get("/staff/reports/summary.csv")
    assert summary.status_code == 200 and summary.text.startswith("metric,value\n")
    assert "containment_rate," in summary.text
    audit = admin_client.get("/staff/admin/audit?action=export").text
    assert "transcripts.csv" in audit and "report/summary.csv" in audit


async def test_kefu_reload_swaps_the_model_on_every_server_mid_conversation(
        staff_cluster: StaffCluster, tiny_model: Path, tmp_path: Path) -> None:
    twin = tmp_path / "tiny-twin"
    shutil.copytree(tiny_model, twin)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KEFU_REDIS_PREFIX": staff_cluster.prefix}

    def reload(model: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", "reload", "--model", str(model), "--redis-url",
                               staff_cluster.redis_url, "--wait", "60"], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)

    async with ChatClient(staff_cluster.b.ws_url) as customer:
        await customer.hello()
        _, before = await customer.say("hello")
        try:
            done = reload(twin)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "sent to 2 server(s)" in done.stdout
            for server in staff_cluster.servers:
                assert httpx.get(f"http://127.0.0.1:{server.port}/healthz").json()["model"] == "tiny-twin"
            _, after = await customer.say("hello")  # the same socket, answered by the new model
            assert before and after and after[0]["text"]
            missing = reload(tmp_path / "nope")
            assert missing.returncode == 2 and "not a model folder" in missing.stderr
        finally:
            assert reload(tiny_model).returncode == 0
