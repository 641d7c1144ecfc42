"""Invisible and direction-changing characters a follower sends are shown, not obeyed.

A text holding U+202E (right-to-left override) would display reversed in the admin; a zero-width
space would hide inside a word. Wherever follower text is shown — the message log's list and
detail, the conversation, the unanswered queries, a draft rule's name — each such character is
shown as a marker, e.g. ⟨U+202E⟩, in a styled span. The stored text is never changed.
"""

import pytest
from lxml import html

from replies.admin.display import mark_invisible, reveal_invisible
from replies.models import Message, ReplyRule, Trigger
from tests.factories import make_rule

RLO = "\u202e"
FOLLOWER_TEXT = f"price {RLO}gnp.exe"
MARKER = "⟨U+202E⟩"

REVEALED = [
    *(chr(c) for c in range(0x202A, 0x202F)),  # embeddings and overrides
    *(chr(c) for c in range(0x2066, 0x206A)),  # isolates
    *(chr(c) for c in range(0x200B, 0x2010)),  # zero-width, LRM, RLM
    "\u2028",  # line separator
    "\u2029",  # paragraph separator
    "\ufeff",  # BOM / zero-width no-break space
    "\u2060",  # word joiner
    "\u00ad",  # soft hyphen (Cf)
    "\u061c",  # Arabic letter mark (Cf)
    "\U000e0041",  # a tag character (Cf): invisible ASCII
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",  # C1
    "\x9b",  # C1 CSI
]


@pytest.mark.parametrize("char", REVEALED)
def test_each_invisible_or_bidi_character_becomes_a_visible_marker(char):
    shown = str(reveal_invisible(f"a{char}b"))
    assert char not in shown
    marker = f"⟨U+{ord(char):04X}⟩"
    assert marker in shown
    assert shown.startswith('a<span class="wx-invisible"') and shown.endswith("</span>b")
    assert mark_invisible(f"a{char}b") == f"a{marker}b"


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "价格 多少",
        "line one\nline two",
        "tab\tseparated\r\n",
        "emoji 👍🏽",
        "family 👨\u200d👩\u200d👧",  # zero-width joiners inside an emoji sequence draw one emoji
        "עברית and العربية",  # right-to-left letters are text, not controls
    ],
)
def test_ordinary_text_is_left_as_it_is(text):
    assert str(reveal_invisible(text)) == text
    assert mark_invisible(text) == text


def test_the_text_is_escaped_around_the_markers():
    shown = str(reveal_invisible(f"<b>{RLO}</b>"))
    assert shown.startswith("&lt;b&gt;<span") and shown.endswith("</span>&lt;/b&gt;")


def test_linebreaks_can_be_shown_as_breaks():
    assert str(reveal_invisible("a\nb", linebreaks=True)) == "a<br>b"


# --- the admin pages ------------------------------------------------------------------------


@pytest.fixture
def reversed_text(wechat):
    from replies.rules import ruleset

    ruleset.forget_rule_index()
    make_rule("价格", keywords=["价格"], text="99 元")
    wechat.post(wechat.xml("text", Content=FOLLOWER_TEXT))
    return Message.objects.get()


def _page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _assert_revealed(page: str) -> None:
    """The page shows no RLO (a hidden form field may carry it, to post the text back)."""
    tree = html.fromstring(page)
    shown = "".join(tree.itertext())
    assert RLO not in shown
    assert MARKER in shown
    assert tree.xpath(f'//span[@class="wx-invisible"][text()="{MARKER}"]')
    for element in tree.iter():
        for name, value in element.attrib.items():
            if RLO in value:
                assert (element.tag, element.get("type"), name) == ("input", "hidden", "value")


@pytest.mark.django_db
def test_the_message_list_shows_the_marker(admin_client, reversed_text):
    _assert_revealed(_page(admin_client.get("/admin/replies/message/")))


@pytest.mark.django_db
def test_the_message_detail_shows_the_marker_in_the_text_and_the_xml(admin_client, reversed_text):
    page = _page(admin_client.get(f"/admin/replies/message/{reversed_text.pk}/change/"))
    _assert_revealed(page)
    tree = html.fromstring(page)
    (raw,) = tree.xpath('//div[contains(@class, "field-raw_xml_pretty")]//pre')
    assert MARKER in raw.text_content()
    assert raw.get("class") == "wx-pre-wrap"  # a class, no inline style (CSP)


@pytest.mark.django_db
def test_the_conversation_shows_the_marker(admin_client, reversed_text):
    page = _page(
        admin_client.get("/admin/replies/message/conversation/", {"openid": reversed_text.openid})
    )
    _assert_revealed(page)


@pytest.mark.django_db
def test_the_unanswered_queries_show_the_marker(admin_client, reversed_text):
    from insights.management.commands.rollup_insights import roll_up

    roll_up()  # the insight pages read the rollups, as `manage.py rollup_insights` keeps them
    _assert_revealed(_page(admin_client.get("/admin/insights/report/unanswered/?days=7")))


@pytest.mark.django_db
def test_the_stored_text_is_unchanged(admin_client, reversed_text):
    admin_client.get("/admin/replies/message/")
    reversed_text.refresh_from_db()
    assert reversed_text.content == FOLLOWER_TEXT


@pytest.mark.django_db
def test_a_draft_rule_made_from_a_query_names_it_with_markers_but_matches_it_exactly(
    admin_client, reversed_text
):
    from insights.reports import normalize_query

    keyword = normalize_query(FOLLOWER_TEXT)
    response = admin_client.post(
        "/admin/insights/report/unanswered/make-rule/",
        {"text": keyword, "period": "days=7"},
        follow=True,
    )
    assert response.status_code == 200
    rule = ReplyRule.objects.exclude(name="价格").get()
    assert RLO not in rule.name and MARKER in rule.name
    assert Trigger.objects.filter(rule=rule, value=keyword).exists()  # matches what was sent


@pytest.mark.django_db
def test_a_refused_draft_says_so_with_markers(admin_client, reversed_text):
    response = admin_client.post(
        "/admin/insights/report/unanswered/make-rule/",
        {"text": RLO + "x" * 40, "period": "days=7"},
        follow=True,
    )
    notes = [str(message) for message in response.context["messages"]]
    assert notes and all(RLO not in note for note in notes)
    assert any(MARKER in note for note in notes)


@pytest.mark.django_db
def test_a_refused_requests_user_agent_and_query_show_bidi_controls_as_markers(admin_client):
    from replies.models import SecurityEvent

    event = SecurityEvent.objects.create(
        code="invalid_signature",
        status=403,
        reason="The signature does not match.",
        method="POST",
        user_agent="curl\u202egpj.exe",
        query="signature=x\u2066&nonce=1",
        body_excerpt="<xml>\u202e</xml>",
    )
    page = admin_client.get(f"/admin/replies/securityevent/{event.pk}/change/").content.decode()
    assert "\u202e" not in page and "\u2066" not in page
    assert "U+202E" in page and "U+2066" in page
    listing = admin_client.get("/admin/replies/securityevent/").content.decode()
    assert "\u202e" not in listing


@pytest.mark.django_db
def test_a_spool_conflicts_xml_shows_bidi_controls_as_markers(admin_client):
    from replies.models import SpoolConflict

    conflict = SpoolConflict.objects.create(
        kind="dedup_key",
        file_name="x.json",
        dedup_key="d" * 40,
        spooled_xml="<xml><Content>\u202egpj.exe</Content></xml>",
    )
    page = admin_client.get(f"/admin/replies/spoolconflict/{conflict.pk}/change/").content.decode()
    assert "\u202e" not in page and "U+202E" in page
