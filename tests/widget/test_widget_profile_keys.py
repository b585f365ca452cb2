"""A profile from a newer program, in the real widget (docs/protocol.md, forward
compatibility): keys this widget does not know are ignored, not refused.

The program's own SDK publishes only the keys it knows, so the test plays the newer
program: it takes the profile the node published, adds keys at several levels, signs
the body with the program's identity key and puts it on the real relay (which checks it
like any verifier). The real widget in Chromium then shows the profile, not its
verification warning; the node's own profile is published again afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from client_sdk import store
from e2ee.identity import LABEL_PROFILE, SignedObject
from e2ee.profile import canonical_json


def _load(name: str, file: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file))
    assert spec is not None and spec.loader is not None
    if name not in sys.modules:
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


harness = _load("quietline_widget_harness", "widget_harness.py")
chat = _load("quietline_widget_chat_module", "test_widget_chat.py")
live = chat.live  # the module-scoped live pieces (a fixture, re-used by name)
desktop_tab = chat.desktop_tab

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def _publish_as_a_newer_program(client: Any) -> None:
    published = store.get_json(client.keystore, store.PUBLISHED_PROFILE)
    body = json.loads(SignedObject.from_json(published).body)
    body["crisis_lines"] = [{"label": "Police", "value": "911"}]
    body["notice"]["summary"] = "In short: your choice, your pace."
    body["hours"]["note"] = {"text": "Closed on public holidays"}
    body["questions"][0]["required"] = False
    body["alternatives"][0]["kind"] = "phone"
    raw = canonical_json(body)
    signed = SignedObject(raw, client._identity.sign(LABEL_PROFILE, raw))
    token = await client._session_token()
    await client._http.put_profile(client.program_id, token, signed.to_json())


def test_a_profile_with_keys_this_widget_does_not_know_is_shown(
    desktop_tab: Page, live: Any
) -> None:
    program = live.program
    program.call(_publish_as_a_newer_program, program.client)
    try:
        tab = desktop_tab
        tab.goto(live.site + "/")
        harness.screen(tab, "start")
        start = tab.locator("[data-screen=start]")
        expect(start).to_contain_text(live.profile["name"])
        expect(start).not_to_contain_text("911")
        start.locator(".quietline-primary").click()
        harness.screen(tab, "notice")
        notice = tab.locator("[data-screen=notice]")
        expect(notice).to_contain_text(live.profile["notice"]["voluntary"])
        expect(notice).not_to_contain_text("In short")
        notice.locator(".quietline-primary").click()
        harness.screen(tab, "questions")
        expect(tab.locator("[data-screen=questions]")).to_contain_text(
            live.profile["questions"][0]["text"]
        )
    finally:
        program.call(program.client.publish_profile, live.profile)
