"""The message log in the admin: read-only list, filters, search, detail and CSV export."""

import csv
import io

import pytest

from replies.models import Message
from tests.factories import make_rule

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/replies/message/"


@pytest.fixture
def log(wechat):
    from replies.rules import ruleset as matching

    matching.forget_rule_index()
    make_rule("价格", keywords=["价格"], text="99 元")
    wechat.post(wechat.xml("text", Content="价格"))
    wechat.post(wechat.xml("text", Content='=HYPERLINK("http://evil")', openid="o_other"))
    wechat.post(wechat.xml("event", Event="CLICK", EventKey="MENU_1"))
    wechat.post(wechat.xml("image", PicUrl="http://p/x.jpg", MediaId="m1"))
    return Message.objects.all()


def rows(response):
    return list(response.context["cl"].result_list)


def test_list_shows_every_message_newest_first(admin_client, log):
    response = admin_client.get(LIST_URL)
    assert response.status_code == 200
    assert [m.msg_type for m in rows(response)] == ["image", "event", "text", "text"]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"msg_type__exact": "event"}, 1),
        ({"event__exact": "click"}, 1),
        ({"answered": "rule"}, 1),
        ({"answered": "none"}, 3),
        ({"received": "24h"}, 4),
        ({"q": "价格"}, 1),
        ({"q": "o_other"}, 1),
    ],
)
def test_filters_and_search(admin_client, log, params, expected):
    response = admin_client.get(LIST_URL, params)
    assert len(rows(response)) == expected


def test_log_is_read_only(admin_client, log):
    message = log.first()
    assert admin_client.get(f"{LIST_URL}add/").status_code == 403
    assert admin_client.post(f"{LIST_URL}{message.pk}/delete/").status_code == 403
    detail = admin_client.get(f"{LIST_URL}{message.pk}/change/")
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content


def test_detail_pretty_prints_the_raw_xml_and_links_the_rule(admin_client, log):
    message = log.get(content="价格")
    text = admin_client.get(f"{LIST_URL}{message.pk}/change/").content.decode()
    assert "&lt;xml&gt;\n  &lt;ToUserName&gt;" in text
    assert f"/admin/replies/replyrule/{message.rule_id}/change/" in text


def test_csv_export_follows_the_filters_and_neutralises_formulas(admin_client, log):
    response = admin_client.get(f"{LIST_URL}export.csv", {"msg_type__exact": "text"})
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(body)))
    assert len(table) == 2
    contents = {row["content"] for row in table}
    assert "价格" in contents and '\'=HYPERLINK("http://evil")' in contents
    assert {row["rule_name"] for row in table} == {"价格", ""}


def test_list_does_not_count_the_whole_table(admin_client, log, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        admin_client.get(LIST_URL, {"type": "text"})
