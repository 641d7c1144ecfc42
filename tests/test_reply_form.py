"""The reply form shows the fields of the chosen type only, and edits news articles as rows."""

import re
from pathlib import Path

import pytest

from replies.models import RuleReply
from replies.protocol import reply_field_names
from replies.protocol.replies import REPLY_TYPES
from tests.browser import logged_in_page, make_operator, require_browser
from tests.test_admin_rules import ADD_URL, rule_form

CSS = Path(__file__).resolve().parent.parent / "replies" / "static" / "replies" / "admin.css"
# The form's optional rows, named by their first field (replies/admin/rules.py fieldsets).
ROWS = {
    "content": {"content"},
    "media_id": {"media_id"},
    "title": {"title", "description"},
    "music_url": {"music_url", "hq_music_url"},
    "thumb_media_id": {"thumb_media_id"},
    "articles": {"articles"},
    "kf_account": {"kf_account"},
}


def hidden_rows(css: str, reply_type: str) -> set[str]:
    pattern = re.escape(f"option[value='{reply_type}']:checked) .form-row.field-") + r"(\w+)"
    return set(re.findall(pattern, css))


@pytest.mark.parametrize("reply_type", REPLY_TYPES)
def test_the_stylesheet_hides_exactly_the_fields_a_type_does_not_have(reply_type):
    fields = set(reply_field_names(reply_type))
    expected = {row for row, names in ROWS.items() if not names & fields}
    assert hidden_rows(CSS.read_text(encoding="utf-8"), reply_type) == expected


@pytest.mark.django_db
def test_news_articles_are_saved_from_rows_and_empty_rows_are_ignored(admin_client):
    articles = [
        {"title": "新品上市", "url": "https://e.com/new", "pic_url": "", "description": "看看"},
        {"title": "", "url": "", "pic_url": "", "description": ""},
        {"title": "门店地址", "url": "https://e.com/shops", "pic_url": "https://e.com/p.jpg"},
    ]
    response = admin_client.post(
        ADD_URL, rule_form(replies=[{"reply_type": "news", "articles": articles}])
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    saved = RuleReply.objects.get().articles
    assert [article["title"] for article in saved] == ["新品上市", "门店地址"]
    assert saved[1]["pic_url"] == "https://e.com/p.jpg" and saved[0]["description"] == "看看"


@pytest.mark.django_db
def test_the_change_form_offers_eight_article_rows_with_the_saved_ones_filled(admin_client):
    articles = [{"title": "门店地址", "url": "https://e.com/shops"}]
    admin_client.post(ADD_URL, rule_form(replies=[{"reply_type": "news", "articles": articles}]))
    rule_id = RuleReply.objects.get().rule_id
    page = admin_client.get(f"/admin/replies/replyrule/{rule_id}/change/").content.decode()
    assert page.count('name="replies-0-articles-') == 8 * 4
    assert 'value="门店地址"' in page and "replies/admin.css" in page


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_only_the_chosen_types_fields_show(live_server):
    require_browser()
    with logged_in_page(live_server, make_operator()) as page:
        page.goto(f"{live_server.url}{ADD_URL}")
        page.select_option("#id_replies-0-reply_type", "text")
        assert page.is_visible("#id_replies-0-content")
        assert not page.is_visible("#id_replies-0-media_id")
        assert not page.is_visible("#id_replies-0-articles-0-title")
        page.select_option("#id_replies-0-reply_type", "news")
        assert page.is_visible("#id_replies-0-articles-0-title")
        assert not page.is_visible("#id_replies-0-content")
        page.select_option("#id_replies-0-reply_type", "music")
        assert page.is_visible("#id_replies-0-music_url")
        assert page.is_visible("#id_replies-0-thumb_media_id")
        assert not page.is_visible("#id_replies-0-media_id")
