"""Every screen as people see it (issue 16 item 9): screenshots at two phone sizes and a
desktop size, in English, Arabic (right to left) and Chinese, against the real relay and
program node, with a check that fails when any character renders as a missing-glyph box.

The screenshots are kept for review under ``artifacts/screenshots/`` (gitignored), one
PNG per language, size and screen. The fonts come from Debian's fonts-noto-core,
fonts-noto-cjk and fonts-noto-color-emoji, installed by ``scripts/test``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loading import load
from playwright.sync_api import Browser, Page, Route, ViewportSize

harness = load("quietline_widget_harness", "widget/widget_harness.py")
chat = load("quietline_widget_chat_module", "widget/test_widget_chat.py")
from client_sdk import events as ev  # noqa: E402

live = chat.live  # the module-scoped live pieces (a fixture, re-used by name)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SIZES = {"320x568": (320, 568), "390x844": (390, 844), "1280x800": (1280, 800)}
# A codepoint no font has (supplementary private use area): what a missing glyph draws.
MISSING = "\U000f0000"

# The program's own texts in each language (a program writes its profile in its own
# language; the widget's own words stay in the languages it ships).
LANGS: dict[str, dict[str, Any]] = {
    "en": {
        "dir": "ltr",
        "name": "Harbour Support Line",
        "check_in": "Is it safe for you to chat right now? Could someone see this device?",
        "messages": ["Hello, I need to talk to someone. 💜", "We are here. Take your time."],
        "question": "What is your age range?",
        "why": "It helps us know which services to suggest.",
        "alt": ("Phone, 24 hours", "1-800-555-0199"),
        "more": "We keep no transcript.\n\nOur staff see your messages only during the chat.",
    },
    "ar": {
        "dir": "rtl",
        "name": "خط الدعم في الميناء",
        "check_in": "هل من الآمن لك أن تتحدث الآن؟ هل يمكن لأحد أن يرى هذا الجهاز؟",
        "messages": ["مرحبا، هل يمكنني التحدث مع أحد؟ 🙏🏽", "نحن هنا. خذ وقتك."],
        "question": "ما هي فئتك العمرية؟",
        "why": "يساعدنا ذلك على اقتراح الخدمات المناسبة.",
        "alt": ("الهاتف، على مدار الساعة", "1-800-555-0199"),
        "more": "لا نحتفظ بأي نص للمحادثة.\n\nيرى فريقنا رسائلك فقط أثناء المحادثة.",
    },
    "zh": {
        "dir": "ltr",
        "name": "港湾支持热线",
        "check_in": "你现在聊天安全吗？会有人看到这台设备吗？",
        "messages": ["你好，我需要帮助。😔", "我们在这里。慢慢来。"],
        "question": "你的年龄段是？",
        "why": "这有助于我们推荐合适的服务。",
        "alt": ("电话，24小时", "1-800-555-0199"),
        "more": "我们不保留聊天记录。\n\n我们的工作人员只在聊天期间看到你的消息。",
    },
}

GLYPHS = """(missing) => {
  const root = document.querySelector('[data-quietline]');
  const values = [...root.querySelectorAll('input, textarea')].map((e) => e.value);
  const text = [root.innerText, ...values].join(' ');
  const graphemes = [...new Intl.Segmenter().segment(text)].map((s) => s.segment);
  const chars = [...new Set(graphemes)].filter((c) => /[^\\x00-\\x7F]/u.test(c) && c.trim());
  const font = getComputedStyle(root).fontFamily;
  const draw = (c) => {
    const canvas = document.createElement('canvas');
    canvas.width = 96; canvas.height = 64;
    const ctx = canvas.getContext('2d');
    ctx.font = `32px ${font}`;
    ctx.textBaseline = 'top';
    ctx.fillStyle = '#000';
    ctx.fillText(c, 8, 8);
    return {w: ctx.measureText(c).width, px: ctx.getImageData(0, 0, 96, 64).data};
  };
  const box = draw(missing);
  const same = (a) => a.w === box.w && a.px.every((v, i) => v === box.px[i]);
  const empty = (a) => a.px.every((v) => v === 0);
  const bad = chars.filter((c) => { const d = draw(c); return same(d) || empty(d); });
  return {checked: chars.length, bad,
          control: same(draw(missing)) && same(draw('\\u{F0001}')) && !same(draw('a'))};
}"""


def assert_every_glyph_drawn(page: Page, where: str) -> int:
    """Fail when any character on the widget draws as the missing-glyph box (or as
    nothing). Returns how many distinct non-ASCII characters were checked."""
    result = page.evaluate(GLYPHS, MISSING)
    assert result["control"], "the missing-glyph check cannot tell a box from a letter"
    assert result["bad"] == [], f"{where}: drawn as missing glyphs: {result['bad']}"
    return int(result["checked"])


def profile_in(live: Any, lang: str) -> dict[str, Any]:
    t = LANGS[lang]
    # The rights notice's "more": the program's longer text and its page's address.
    more = {"more_text": t["more"], "more_url": live.site + "/neutral.html?rights"}
    if lang == "en":
        return dict(live.profile, notice=dict(live.profile["notice"], **more))
    return dict(
        live.profile,
        name=t["name"],
        safety_check_in=t["check_in"],
        questions=[{"id": "age_range", "text": t["question"], "why": t["why"]}],
        alternatives=[{"label": t["alt"][0], "value": t["alt"][1]}],
        notice={**{k: f"{t['why']} ({k})" for k in live.profile["notice"]}, **more},
    )


@pytest.fixture(params=list(LANGS), scope="module")
def language(request: pytest.FixtureRequest, live: Any) -> Iterator[str]:
    lang = str(request.param)
    live.program.call(live.program.client.publish_profile, profile_in(live, lang))
    try:
        yield lang
    finally:
        live.program.call(live.program.client.publish_profile, live.profile)


@pytest.fixture(params=list(SIZES))
def shot_tab(browser: Browser, live: Any, language: str, request: pytest.FixtureRequest
             ) -> Iterator[tuple[Page, str]]:  # fmt: skip
    width, height = SIZES[str(request.param)]
    with chat._open_tab(browser, live, ViewportSize(width=width, height=height)) as page:
        t = LANGS[language]
        page.add_init_script(
            "new MutationObserver((_, o) => { const h = document.documentElement;"
            f" if (h) {{ h.lang = '{language}'; h.dir = '{t['dir']}'; o.disconnect(); }} }})"
            ".observe(document, {childList: true});"
        )
        yield page, f"{language}-{request.param}"


def snap(page: Page, prefix: str, screen: str, seen: list[str]) -> None:
    """Screenshot the page as it is, check its glyphs and its accessibility."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # What is on screen, as the person sees it (a full-page capture would paint the
    # fixed quick exit bar in the middle of the page).
    page.screenshot(path=str(ARTIFACTS / f"{prefix}-{screen}.png"))
    assert_every_glyph_drawn(page, f"{prefix} {screen}")
    harness.assert_accessible(page, f"{prefix} {screen}")
    seen.append(screen)


def test_every_screen(shot_tab: tuple[Page, str], live: Any, language: str) -> None:
    page, prefix = shot_tab
    t = LANGS[language]
    seen: list[str] = []
    page.goto(live.site + "/")
    harness.screen(page, "start")
    assert t["name"] in page.inner_text("[data-screen=start]")
    snap(page, prefix, "start", seen)
    page.click("[data-screen=start] button.quietline-primary")
    harness.screen(page, "notice")
    snap(page, prefix, "notice", seen)
    page.click("[data-quietline-more]")
    page.wait_for_selector("[role=dialog]")
    assert t["more"].split("\n")[0] in page.inner_text("[role=dialog]")
    snap(page, prefix, "notice-more", seen)
    page.keyboard.press("Escape")
    page.click("[data-screen=notice] button.quietline-primary")
    harness.screen(page, "questions")
    page.fill("[data-question=age_range] input", t["messages"][0][:6])
    snap(page, prefix, "questions", seen)
    held: list[Route] = []
    page.route("**/v1/programs/*/bundle", lambda route: held.append(route))
    page.click("[data-screen=questions] button.quietline-primary")
    harness.screen(page, "connecting")
    snap(page, prefix, "connecting", seen)
    page.wait_for_function("() => true")  # the held request is in `held` by now
    assert len(held) == 1
    held[0].continue_()
    harness.screen(page, "chat")
    page.unroute("**/v1/programs/*/bundle")
    cid = live.program.wait(lambda e: isinstance(e, ev.NewConversation)).conversation_id
    mine, theirs = t["messages"]
    chat.send_from_widget(page, mine)
    live.program.call(live.program.client.send, cid, theirs)
    chat.wait_log_text(page, theirs)
    page.fill("textarea", mine)  # a draft in the box too
    snap(page, prefix, "chat", seen)
    if t["dir"] == "rtl":
        # Right to left: the program's bubble sits at the right of the log, the text at
        # the right of its bubble, read right to left.
        place = page.evaluate("""(t) => {
          const log = document.querySelector('.quietline-log').getBoundingClientRect();
          const text = [...document.querySelectorAll('.quietline-from-program .quietline-text')]
            .find((n) => n.textContent === t);
          const bubble = text.closest('.quietline-msg').getBoundingClientRect();
          const range = document.createRange(); range.selectNodeContents(text);
          const line = range.getBoundingClientRect();
          return {dir: getComputedStyle(text).direction,
                  bubbleRight: log.right - bubble.right,
                  textRight: bubble.right - line.right};
        }""", theirs)  # fmt: skip
        assert place["dir"] == "rtl"
        assert place["bubbleRight"] < 24, place
        assert place["textRight"] < 24, place
    page.click("button.quietline-end")
    snap(page, prefix, "chat-end-confirm", seen)
    page.click("button.quietline-end")  # closes the question again
    live.program.call(live.program.client.close, cid, "done")
    harness.screen(page, "ended")
    snap(page, prefix, "ended", seen)

    live.program.call(live.program.client.set_status, "closed", "Chat is closed right now.")
    try:
        page.goto(live.site + "/")
        harness.screen(page, "unavailable")
        snap(page, prefix, "unavailable", seen)
    finally:
        live.program.call(live.program.client.set_status, None)
    live.hostile.arm("break_signature")
    page.goto(live.hostile_site + "/")
    harness.screen(page, "warning")
    snap(page, prefix, "warning", seen)
    live.hostile.arm(None)
    for screen in seen:
        assert (ARTIFACTS / f"{prefix}-{screen}.png").stat().st_size > 1000


def test_missing_glyph_check_catches_a_box(page: Page, widget_static_server: str) -> None:
    """The check itself: a character no font has is reported; Noto draws the rest."""
    page.goto(f"{widget_static_server}/pages/protocol.html")
    page.evaluate("""(missing) => {
      const s = document.createElement('section');
      s.setAttribute('data-quietline', '');
      s.textContent = 'ok 你好 مرحبا नमस्ते 💜 ' + missing;
      document.body.append(s);
    }""", MISSING)  # fmt: skip
    result = page.evaluate(GLYPHS, MISSING)
    assert result["control"]
    assert result["bad"] == [MISSING]
    assert result["checked"] >= 10
