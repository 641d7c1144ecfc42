"""Server-side SVG charts: well-formed, escaped, accessible, with axes, ticks and a legend."""

import pytest
from django.utils.safestring import SafeString
from lxml import etree

from insights.charts import (
    FONT_FAMILY,
    bar_chart,
    clip_text,
    format_number,
    line_chart,
    nice_ticks,
    text_width,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script> & \"quotes\" ]]>"


def parse(markup: str) -> etree._Element:
    """Parse like a strict XML reader: any unescaped text fails here."""
    return etree.fromstring(markup.encode(), etree.XMLParser(resolve_entities=False))


def texts(svg) -> list[str]:
    return [t.text for t in svg.iter(f"{SVG}text") if t.text]


def tooltips(svg, tag: str) -> list[str]:
    found = (el.find(f"{SVG}title") for el in svg.iter(f"{SVG}{tag}"))
    return [title.text for title in found if title is not None]


DAYS = [("01-01", 3), ("01-02", 0), ("01-03", 12)]


def test_line_chart_is_well_formed_svg_with_title_desc_and_font():
    markup = line_chart({"text": DAYS, "image": DAYS}, title="每日消息", y_label="条数")
    assert isinstance(markup, SafeString)
    svg = parse(markup)
    assert svg.tag == f"{SVG}svg"
    assert svg.get("role") == "img"
    title, desc = svg[0], svg[1]
    assert title.tag == f"{SVG}title" and title.text == "每日消息"
    assert desc.tag == f"{SVG}desc" and "12" in desc.text
    assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "PingFang SC" in svg.get("font-family") and "Noto Sans CJK SC" in FONT_FAMILY
    assert "条数" in texts(svg)


def test_line_chart_has_a_line_per_series_a_legend_and_point_tooltips():
    svg = parse(line_chart({"text": DAYS, "image": DAYS}, title="t"))
    assert len(list(svg.iter(f"{SVG}polyline"))) == 2
    legend = svg.find(f".//{SVG}g[@class='legend']")
    assert [t.text for t in legend.iter(f"{SVG}text")] == ["text", "image"]
    assert "01-03 · text: 12" in tooltips(svg, "circle")
    assert {"01-01", "01-02", "01-03"} <= set(texts(svg))  # x labels


def test_line_chart_breaks_the_line_at_missing_values():
    points = [("a", 1.0), ("b", 2.0), ("c", None), ("d", 4.0), ("e", 5.0)]
    svg = parse(line_chart({"p50": points}, title="t"))
    assert len(list(svg.iter(f"{SVG}polyline"))) == 2
    assert len(list(svg.iter(f"{SVG}circle"))) == 4


def test_labels_and_names_are_escaped_not_markup():
    markup = bar_chart({HOSTILE: [(HOSTILE, 5)]}, title=HOSTILE, y_label=HOSTILE, horizontal=True)
    assert "<script>" not in markup
    svg = parse(markup)
    assert not list(svg.iter("script", f"{SVG}script"))
    assert svg[0].text == HOSTILE
    assert any(HOSTILE in tip for tip in tooltips(svg, "rect"))
    for chart in (line_chart, bar_chart):
        hostile = parse(chart({HOSTILE: [(HOSTILE, 1), ("b", 2)]}, title=HOSTILE))
        assert HOSTILE in texts(hostile)  # the legend
        assert not list(hostile.iter("script", f"{SVG}script"))


def test_characters_xml_cannot_carry_do_not_break_the_chart():
    svg = parse(bar_chart({"a\x00b\x0bc": [("x\x1f", 1)]}, title="t\x07"))
    assert svg[0].text == "t\ufffd"


def test_bar_chart_draws_a_bar_per_value_side_by_side():
    svg = parse(bar_chart({"follows": DAYS, "unfollows": DAYS}, title="t"))
    assert tooltips(svg, "rect") == [
        "01-01 · follows: 3",
        "01-02 · follows: 0",
        "01-03 · follows: 12",
        "01-01 · unfollows: 3",
        "01-02 · unfollows: 0",
        "01-03 · unfollows: 12",
    ]
    bars = [el for el in svg.iter(f"{SVG}rect") if el.find(f"{SVG}title") is not None]
    assert float(bars[3].get("x")) > float(bars[0].get("x"))  # side by side, not on top


def test_stacked_bars_stack_negative_values_downwards():
    series = {"follows": [("d1", 4), ("d2", 2)], "unfollows": [("d1", -3), ("d2", 0)]}
    svg = parse(bar_chart(series, title="t", stacked=True))
    bars = {
        bar.find(f"{SVG}title").text: bar
        for bar in svg.iter(f"{SVG}rect")
        if bar.find(f"{SVG}title") is not None
    }
    assert set(bars) == {"d1 · follows: 4", "d2 · follows: 2", "d1 · unfollows: -3"}
    up, down = bars["d1 · follows: 4"], bars["d1 · unfollows: -3"]
    # the unfollow bar starts where the follow bar ends: at zero
    assert float(up.get("y")) + float(up.get("height")) == pytest.approx(float(down.get("y")))
    assert min(float(t) for t in texts(svg) if t.lstrip("-").isdigit()) < 0  # a negative tick


def test_horizontal_bars_show_names_and_values():
    svg = parse(
        bar_chart({"hits": [("价格规则", 120), ("营业时间", 7)]}, title="t", horizontal=True)
    )
    assert {"价格规则", "营业时间", "120", "7"} <= set(texts(svg))


def test_an_empty_chart_says_so_and_stays_well_formed():
    for svg in (
        parse(line_chart({}, title="t")),
        parse(bar_chart({"a": [("x", None)]}, title="t")),
        parse(bar_chart({"a": []}, title="t", horizontal=True)),
    ):
        assert svg.tag == f"{SVG}svg"
        assert not list(svg.iter(f"{SVG}polyline"))
        assert len(texts(svg)) == 2  # the title and the "no data" line


@pytest.mark.parametrize(
    "low, high, integers, expected",
    [
        (0, 7, True, [0, 2, 4, 6, 8]),
        (0, 2, True, [0, 1, 2]),
        (0, 1, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0, 0, True, [0, 1]),
        (-21, 42, True, [-40, -20, 0, 20, 40, 60]),
        (3, 950, True, [0, 200, 400, 600, 800, 1000]),
    ],
)
def test_nice_ticks(low, high, integers, expected):
    assert nice_ticks(low, high, integers=integers) == expected


def test_format_number():
    assert format_number(12345) == "12,345"
    assert format_number(2.5, 0.5) == "2.5"
    assert format_number(0.25, 0.25) == "0.25"
    assert format_number(12.345, 5) == "12.3"


def test_text_width_counts_chinese_as_wider_and_clip_text_adds_an_ellipsis():
    assert text_width("价格") > text_width("ab")
    assert clip_text("short", 200) == "short"
    clipped = clip_text("很长的规则名称" * 10, 60)
    assert clipped.endswith("…") and text_width(clipped) <= 60
