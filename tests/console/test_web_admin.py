"""The console's admin seam over HTTP (console/web/admin.py): who may open which admin page,
and the one API that runs admin operations as the signed-in account, with CSRF, JSON-only
bodies, a size bound and typed refusals. A real relay, a real ConsoleNode, uvicorn."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from loading import load

harness = load("quietline_console_web_harness", "console/web_harness.py")
STAFF = [("Sam", "worker"), ("Kim", "supervisor"), ("Ada", "admin")]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with harness.console_stack(tmp_path_factory.mktemp("console-admin"), STAFF) as s:
        yield s


def client_for(stack: Any, name: str) -> httpx.Client:
    client = httpx.Client(base_url=stack.url, follow_redirects=False, timeout=20)
    page = client.get("/signin")
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    answer = client.post(
        "/signin", data={"token": token.group(1), "name": name, "password": harness.PASSWORD}
    )
    assert answer.status_code == 303
    return client


def csrf(client: httpx.Client, path: str = "/") -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_who_opens_the_admin_pages(stack: Any) -> None:
    with httpx.Client(base_url=stack.url, follow_redirects=False) as anonymous:
        assert anonymous.get("/admin").status_code == 303
    with contextlib.closing(client_for(stack, "Sam")) as sam:
        assert sam.get("/admin").status_code == 403
        assert 'href="/admin"' not in sam.get("/").text
    with contextlib.closing(client_for(stack, "Ada")) as ada:
        page = ada.get("/admin")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert 'href="/admin"' in ada.get("/").text
        assert ada.get("/admin/no-such-section").status_code == 404


def test_the_api_runs_operations_as_the_account(stack: Any) -> None:
    with contextlib.closing(client_for(stack, "Kim")) as kim:
        token = csrf(kim)
        answer = kim.post("/admin/api/node.info", json={}, headers={"x-csrf-token": token})
        assert answer.status_code == 200, answer.text
        assert answer.json()["ok"] and answer.json()["result"]["running"] is True
        unknown = kim.post("/admin/api/no.such", json={}, headers={"x-csrf-token": token})
        assert unknown.status_code == 400 and unknown.json()["kind"] == "NotAllowed"
    with contextlib.closing(client_for(stack, "Sam")) as sam:
        token = csrf(sam)
        answer = sam.post("/admin/api/node.info", json={}, headers={"x-csrf-token": token})
        assert answer.status_code == 403 and answer.json()["kind"] == "Forbidden"


def test_the_api_refuses_bad_requests(stack: Any) -> None:
    with contextlib.closing(client_for(stack, "Ada")) as ada:
        token = csrf(ada)
        assert ada.post("/admin/api/node.info", json={}).status_code == 403  # no CSRF
        wrong = ada.post("/admin/api/node.info", json={}, headers={"x-csrf-token": "x" * 40})
        assert wrong.status_code == 403 and wrong.json()["kind"] == "Expired"
        form = ada.post("/admin/api/node.info", data={"a": "b"}, headers={"x-csrf-token": token})
        assert form.status_code == 400 and form.json()["kind"] == "BadRequest"
        listed = ada.post("/admin/api/node.info", json=[1], headers={"x-csrf-token": token})
        assert listed.status_code == 400
        big = ada.post(
            "/admin/api/node.info",
            json={"x": "y" * 300_000},
            headers={"x-csrf-token": token},
        )
        assert big.status_code == 413 and big.json()["kind"] == "TooLarge"
    with httpx.Client(base_url=stack.url) as anonymous:
        answer = anonymous.post("/admin/api/node.info", json={})
        assert answer.status_code == 401 and answer.json()["kind"] == "SignedOut"


def _shows(page: str, name: str, zone: str) -> bool:
    return f"{name} console</title>" in page and f'data-timezone="{zone}"' in page


def test_a_published_name_and_time_zone_show_on_the_next_page(stack: Any) -> None:
    """The console reads the program's name and time zone when it renders a page, not
    once at start: after ``profile.set`` every page (signed in or not) shows the new."""
    with (
        contextlib.closing(client_for(stack, "Ada")) as ada,
        contextlib.closing(client_for(stack, "Sam")) as sam,
        httpx.Client(base_url=stack.url) as anonymous,
    ):
        token = csrf(ada)
        api = {"headers": {"x-csrf-token": token}}
        before = ada.post("/admin/api/profile.show", json={}, **api).json()["result"]["content"]
        assert _shows(sam.get("/").text, "Harbour Support Line", "UTC")
        changed = {
            **before,
            "name": "Harbour Night Line",
            "hours": {**before["hours"], "timezone": "Europe/Paris"},
        }
        answer = ada.post("/admin/api/profile.set", json={"content": changed}, **api)
        assert answer.status_code == 200 and answer.json()["ok"], answer.text
        try:
            for page in (
                sam.get("/").text,
                ada.get("/admin").text,
                ada.get("/admin/profile").text,
                anonymous.get("/signin").text,
            ):
                assert _shows(page, "Harbour Night Line", "Europe/Paris")
            assert '<h1 class="topbar-name">Harbour Night Line' in sam.get("/").text
            assert "Harbour Night Line · staff console" in anonymous.get("/signin").text
        finally:
            back = ada.post("/admin/api/profile.set", json={"content": before}, **api)
            assert back.json()["ok"], back.text
        assert _shows(sam.get("/").text, "Harbour Support Line", "UTC")
