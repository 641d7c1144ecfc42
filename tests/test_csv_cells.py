"""CSV export cells: whatever a follower wrote stays text when an operator opens the file.

A spreadsheet reads a cell as a formula when its first meaningful character is = + - @ (or a
tab or carriage return), and some skip leading spaces, invisible characters and quotes first;
full-width ＝＋－＠ become formulas too once an input method normalises them. Such a cell gets a
leading apostrophe. Numbers the model stores as numbers (handling time, latitude, longitude)
are data we produce and stay numbers, negative ones included.
"""

import csv
import io
from datetime import UTC, datetime

import pytest

from replies.admin.messages import _csv_cell

NEUTRALISED = [
    "=1+1",
    '=HYPERLINK("http://evil","x")',
    "+1",
    "-1",
    "-inf",
    "+inf",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "\tplain",
    "\rplain",
    " =1+1",
    "   -2",
    "\u00a0=1+1",  # no-break space
    "\u3000=1+1",  # ideographic space
    "\u200b=1+1",  # zero-width space
    "\u200c=1+1",  # zero-width non-joiner
    "\u200d=1+1",  # zero-width joiner
    "\u2060=1+1",  # word joiner
    "\ufeff=1+1",  # byte-order mark
    "\ufeff\u200b \u3000=cmd",
    '"=1+1',
    "'=1+1",
    "\"'  =1+1",
    "\u201c=1+1",  # a typographic quote
    "\n=1+1",
    "\u202e=1+1",  # right-to-left override
    "＝1+1",  # full-width equals
    "＋1",
    "－1",
    "＠SUM(A1)",
    " ＝1+1",
    "\u3000＠x",
    "﹦1+1",  # small equals, NFKC "="
]

KEPT = [
    "hello",
    "价格",
    "a=1",
    "1+1",
    "e-mail",
    "user@example.com",
    "",
    "   ",
    "\u200b",
    "'quoted'",
    "o_a-b",
    "123",
]


@pytest.mark.parametrize("value", NEUTRALISED)
def test_a_text_a_spreadsheet_would_read_as_a_formula_gets_an_apostrophe(value):
    assert _csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", KEPT)
def test_other_text_is_kept_as_it_is(value):
    assert _csv_cell(value) == value


@pytest.mark.parametrize(
    "value, expected",
    [
        (-73.9, "-73.9"),
        (40.7, "40.7"),
        (-0.5, "-0.5"),
        (12.25, "12.25"),
        (0, "0"),
        (-3, "-3"),
        (None, ""),
    ],
)
def test_numbers_we_store_stay_numbers(value, expected):
    assert _csv_cell(value) == expected


def test_times_are_local_iso_8601():
    assert _csv_cell(datetime(2025, 1, 1, 0, 0, tzinfo=UTC)) == "2025-01-01T08:00:00+08:00"


@pytest.mark.django_db
def test_the_export_neutralises_hidden_formulas_and_keeps_negative_longitudes(admin_client, wechat):
    wechat.post(wechat.xml("text", Content='\u200b=HYPERLINK("http://evil")'))
    wechat.post(wechat.xml("text", Content="＝1+1"))
    wechat.post(
        wechat.xml("location", Location_X="40.7", Location_Y="-73.9", Scale="15", Label="NYC")
    )
    response = admin_client.get("/admin/replies/message/export.csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(body)))
    contents = {row["content"] for row in table}
    assert '\'\u200b=HYPERLINK("http://evil")' in contents
    assert "'＝1+1" in contents
    (place,) = [row for row in table if row["label"] == "NYC"]
    assert (place["latitude"], place["longitude"]) == ("40.7", "-73.9")
