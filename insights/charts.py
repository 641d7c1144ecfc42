"""Draw line and bar charts as inline SVG, on the server: no JavaScript, no CDN, nothing to load.

`line_chart` and `bar_chart` take the series as plain values — {series name: [(label, value),
…]} — and return SVG markup marked safe for a template. The SVG is built with lxml like every
other XML in wxsite, so a follower's text or a rule name in a label is escaped by construction
and the markup is always well-formed. Each chart carries a visible title, a <title> and a <desc>
(what a screen reader says), axes with ticks, a legend, and a tooltip (<title>) on every bar and
point. Text uses `currentColor`, so the charts follow the admin's light and dark themes; the font
stack has Chinese faces first on every platform.
"""

import itertools
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from lxml import etree

SVG_NS = "http://www.w3.org/2000/svg"
FONT_FAMILY = (
    "'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', 'Source Han Sans SC', sans-serif"
)
# Colour-blind-safe (Okabe–Ito, then Tableau), readable on white and on the dark theme.
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#d55e00",
    "#cc79a7",
    "#56b4e9",
    "#8c6d31",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
FONT_SIZE = 12
TITLE_SIZE = 14
MAX_X_LABELS = 12
MAX_POINT_MARKERS = 62  # above this (two months of days), a line shows no dots: they would merge

Label = str
Value = float | int | None
Series = Mapping[str, Sequence[tuple[Label, Value]]]

_ids = itertools.count(1)
# Characters XML 1.0 cannot carry at all; lxml refuses them, a follower's text may have them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def line_chart(
    series: Series,
    *,
    title: str,
    y_label: str = "",
    desc: str = "",
    width: int = 760,
    height: int = 300,
) -> SafeString:
    """Return an SVG line chart: one line per series over the shared labels (None: a gap)."""
    chart = _Chart(series, title=title, y_label=y_label, desc=desc, width=width, height=height)
    return chart.render(chart.draw_lines)


def bar_chart(
    series: Series,
    *,
    title: str,
    y_label: str = "",
    desc: str = "",
    stacked: bool = False,
    horizontal: bool = False,
    width: int = 760,
    height: int = 300,
) -> SafeString:
    """Return an SVG bar chart: bars side by side per label, or `stacked` (negative values stack
    downwards), or `horizontal` with one row per label (for long names, e.g. rules)."""
    chart = _Chart(series, title=title, y_label=y_label, desc=desc, width=width, height=height)
    if horizontal:
        return chart.render(chart.draw_horizontal_bars)
    return chart.render(chart.draw_stacked_bars if stacked else chart.draw_bars)


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Estimate the rendered width of `text`: CJK characters are one em, others about 0.6."""
    return sum(size if unicodedata.east_asian_width(c) in "WF" else size * 0.6 for c in text)


def clip_text(text: str, max_width: float, size: float = FONT_SIZE) -> str:
    """Return `text`, cut with an ellipsis to fit `max_width`."""
    if text_width(text, size) <= max_width:
        return text
    while text and text_width(text + "…", size) > max_width:
        text = text[:-1]
    return text + "…"


def nice_ticks(low: float, high: float, count: int = 5, *, integers: bool = False) -> list[float]:
    """Return round tick values (steps of 1, 2, 2.5 or 5 × 10ⁿ) covering low..high, 0 included.

    With `integers` (counts), the step is a whole number: no "0.5 messages".
    """
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        return [low, low + 1]
    raw_step = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    multipliers = (1, 2, 5, 10) if integers else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in multipliers if m * magnitude >= raw_step)
    if integers:
        step = max(1, round(step))
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    return [round(first + n * step, 10) for n in range(round((last - first) / step) + 1)]


def format_number(value: float, step: float = 1) -> str:
    """Return `value` grouped by thousands, with the decimals the tick `step` needs (at most 3);
    a fraction gets one decimal even when the step is whole."""
    if float(value).is_integer() and float(step).is_integer():
        return f"{value:,.0f}"
    decimals = len(f"{step:.3f}".rstrip("0").split(".")[1]) or 1
    return f"{value:,.{decimals}f}"


def _clean(text) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _el(parent, tag: str, text: str | None = None, **attrs):
    element = etree.SubElement(parent, f"{{{SVG_NS}}}{tag}")
    for name, value in attrs.items():
        element.set(name.rstrip("_").replace("_", "-"), _clean(value))
    if text is not None:
        element.text = _clean(text)
    return element


def _px(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


class _Chart:
    """One chart being drawn: the data aligned on shared labels, the layout, the SVG tree."""

    def __init__(self, series: Series, *, title, y_label, desc, width, height):
        self.title, self.y_label = str(title), str(y_label)
        self.width, self.height = width, height
        self.labels: list[str] = []
        seen: dict[str, int] = {}
        for points in series.values():
            for label, _value in points:
                if str(label) not in seen:
                    seen[str(label)] = len(self.labels)
                    self.labels.append(str(label))
        self.names = [str(name) for name in series]
        self.values: list[list[Value]] = []
        for points in series.values():
            row: list[Value] = [None] * len(self.labels)
            for label, value in points:
                row[seen[str(label)]] = value
            self.values.append(row)
        self.colors = [PALETTE[n % len(PALETTE)] for n in range(len(self.names))]
        self.desc = str(desc) or self._describe()
        self.uid = f"chart-{next(_ids)}"

    # --- the frame -----------------------------------------------------------------------

    def _describe(self) -> str:
        known = [
            (value, name, label)
            for name, row in zip(self.names, self.values, strict=True)
            for label, value in zip(self.labels, row, strict=True)
            if value is not None
        ]
        if not known:
            return gettext("No data.")
        value, name, label = max(known, key=lambda item: item[0])
        return gettext(
            "%(series)d series over %(points)d points, from “%(first)s” to “%(last)s”; "
            "highest: %(value)s (%(name)s, %(label)s)."
        ) % {
            "series": len(self.names),
            "points": len(self.labels),
            "first": self.labels[0],
            "last": self.labels[-1],
            "value": format_number(value, 0.1 if value != int(value) else 1),
            "name": name,
            "label": label,
        }

    def render(self, draw) -> SafeString:
        svg = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})
        svg.set("class", "insights-chart")
        svg.set("role", "img")
        svg.set("aria-labelledby", f"{self.uid}-title {self.uid}-desc")
        svg.set("font-family", FONT_FAMILY)
        svg.set("font-size", str(FONT_SIZE))
        svg.set("fill", "currentColor")
        _el(svg, "title", self.title, id=f"{self.uid}-title")
        _el(svg, "desc", self.desc, id=f"{self.uid}-desc")
        _el(
            svg, "text", self.title, x=0, y=TITLE_SIZE + 2, font_size=TITLE_SIZE, font_weight="bold"
        )
        top = self._legend(svg, TITLE_SIZE + 14)
        height = draw(svg, top)
        svg.set("width", str(self.width))
        svg.set("height", str(height))
        svg.set("viewBox", f"0 0 {self.width} {height}")
        return mark_safe(etree.tostring(svg, encoding="unicode"))  # noqa: S308 - built by lxml

    def _legend(self, svg, top: float) -> float:
        """Draw the legend as rows of swatches under the title; return where the plot starts."""
        if len(self.names) < 2:
            return top + 6
        group = _el(svg, "g", class_="legend")
        x, y = 0.0, top + 4
        for name, color in zip(self.names, self.colors, strict=True):
            label = clip_text(name, 220)
            item_width = 18 + text_width(label) + 16
            if x and x + item_width > self.width:
                x, y = 0.0, y + 18
            _el(group, "rect", x=_px(x), y=_px(y), width=12, height=12, rx=2, fill=color)
            _el(group, "text", label, x=_px(x + 17), y=_px(y + 11))
            x += item_width
        return y + 24

    def _empty(self, svg, top: float) -> float:
        _el(
            svg,
            "text",
            gettext("No data for this period."),
            x=_px(self.width / 2),
            y=_px(top + 40),
            text_anchor="middle",
            opacity="0.7",
        )
        return top + 70

    def _has_data(self) -> bool:
        return any(value is not None for row in self.values for value in row)

    def _plot_box(self, top: float, ticks: list[float], step: float):
        tick_width = max(text_width(format_number(t, step)) for t in ticks)
        left = tick_width + 10 + (FONT_SIZE + 6 if self.y_label else 0)
        right = self.width - 10
        bottom = top + self.height - 40
        return left, right, top + 6, bottom

    def _y_axis(self, svg, ticks, step, left, right, top, bottom):
        low, high = ticks[0], ticks[-1]

        def y_of(value: float) -> float:
            return bottom - (value - low) / (high - low) * (bottom - top)

        axis = _el(svg, "g", class_="y-axis")
        for tick in ticks:
            y = y_of(tick)
            _el(
                axis,
                "line",
                x1=_px(left),
                x2=_px(right),
                y1=_px(y),
                y2=_px(y),
                stroke="currentColor",
                stroke_opacity="0.35" if tick == 0 else "0.12",
            )
            _el(
                axis,
                "text",
                format_number(tick, step),
                x=_px(left - 6),
                y=_px(y + 4),
                text_anchor="end",
            )
        if self.y_label:
            middle = (top + bottom) / 2
            _el(
                axis,
                "text",
                self.y_label,
                x=_px(FONT_SIZE),
                y=_px(middle),
                text_anchor="middle",
                transform=f"rotate(-90 {_px(FONT_SIZE)} {_px(middle)})",
            )
        return y_of

    def _x_labels(self, svg, x_of, bottom):
        axis = _el(svg, "g", class_="x-axis")
        every = max(1, math.ceil(len(self.labels) / MAX_X_LABELS))
        for n, label in enumerate(self.labels):
            x = x_of(n)
            _el(
                axis,
                "line",
                x1=_px(x),
                x2=_px(x),
                y1=_px(bottom),
                y2=_px(bottom + (5 if n % every == 0 else 2)),
                stroke="currentColor",
                stroke_opacity="0.5",
            )
            if n % every == 0:
                _el(
                    axis,
                    "text",
                    clip_text(label, 70),
                    x=_px(x),
                    y=_px(bottom + 18),
                    text_anchor="middle",
                )

    def _scale(self, low: float, high: float):
        integers = all(
            float(value).is_integer() for row in self.values for value in row if value is not None
        )
        ticks = nice_ticks(low, high, integers=integers)
        return ticks, ticks[1] - ticks[0]

    # --- lines -----------------------------------------------------------------------------

    def draw_lines(self, svg, top: float) -> float:
        if not self._has_data():
            return self._empty(svg, top)
        known = [v for row in self.values for v in row if v is not None]
        ticks, step = self._scale(min(known), max(known))
        left, right, plot_top, bottom = self._plot_box(top, ticks, step)
        y_of = self._y_axis(svg, ticks, step, left, right, plot_top, bottom)
        count = len(self.labels)
        inner = right - left - 20

        def x_of(n: int) -> float:
            return left + 10 + (inner * n / (count - 1) if count > 1 else inner / 2)

        self._x_labels(svg, x_of, bottom)
        for name, row, color in zip(self.names, self.values, self.colors, strict=True):
            group = _el(svg, "g", class_="series")
            _el(group, "title", name)
            segment: list[str] = []
            segments = [segment]
            for n, value in enumerate(row):
                if value is None:
                    segment = []
                    segments.append(segment)
                    continue
                segment.append(f"{_px(x_of(n))},{_px(y_of(value))}")
            for points in segments:
                if len(points) > 1:
                    _el(
                        group,
                        "polyline",
                        points=" ".join(points),
                        fill="none",
                        stroke=color,
                        stroke_width="2",
                        stroke_linejoin="round",
                    )
            for n, value in enumerate(row):
                if value is None:
                    continue
                single = (n == 0 or row[n - 1] is None) and (n == count - 1 or row[n + 1] is None)
                if count <= MAX_POINT_MARKERS or single:
                    dot = _el(
                        group, "circle", cx=_px(x_of(n)), cy=_px(y_of(value)), r="3", fill=color
                    )
                    _el(dot, "title", f"{self.labels[n]} · {name}: {format_number(value, step)}")
        return bottom + 26

    # --- vertical bars ---------------------------------------------------------------------

    def _bar_frame(self, svg, top, low, high):
        ticks, step = self._scale(low, high)
        left, right, plot_top, bottom_axis = self._plot_box(top, ticks, step)
        y_of = self._y_axis(svg, ticks, step, left, right, plot_top, bottom_axis)
        slot = (right - left) / max(1, len(self.labels))

        def x_of(n: int) -> float:
            return left + slot * (n + 0.5)

        self._x_labels(svg, x_of, bottom_axis)
        return step, y_of, slot, x_of, bottom_axis

    def _bar(self, parent, *, x, width, y0, y1, color, tooltip):
        bar = _el(
            parent,
            "rect",
            x=_px(x),
            y=_px(min(y0, y1)),
            width=_px(max(width, 1)),
            height=_px(max(abs(y1 - y0), 0)),
            fill=color,
        )
        _el(bar, "title", tooltip)

    def draw_bars(self, svg, top: float) -> float:
        if not self._has_data():
            return self._empty(svg, top)
        known = [v for row in self.values for v in row if v is not None]
        step, y_of, slot, x_of, bottom = self._bar_frame(svg, top, min(known), max(known))
        bar_width = slot * 0.8 / len(self.names)
        for index, (name, row, color) in enumerate(
            zip(self.names, self.values, self.colors, strict=True)
        ):
            group = _el(svg, "g", class_="series")
            for n, value in enumerate(row):
                if value is None:
                    continue
                x = x_of(n) - slot * 0.4 + index * bar_width
                self._bar(
                    group,
                    x=x,
                    width=bar_width - (1 if bar_width > 3 else 0),
                    y0=y_of(0),
                    y1=y_of(value),
                    color=color,
                    tooltip=f"{self.labels[n]} · {name}: {format_number(value, step)}",
                )
        return bottom + 26

    def draw_stacked_bars(self, svg, top: float) -> float:
        if not self._has_data():
            return self._empty(svg, top)
        highs = [sum(max(row[n] or 0, 0) for row in self.values) for n in range(len(self.labels))]
        lows = [sum(min(row[n] or 0, 0) for row in self.values) for n in range(len(self.labels))]
        step, y_of, slot, x_of, bottom = self._bar_frame(svg, top, min(lows), max(highs))
        bar_width = slot * 0.8
        up = [0.0] * len(self.labels)
        down = [0.0] * len(self.labels)
        for name, row, color in zip(self.names, self.values, self.colors, strict=True):
            group = _el(svg, "g", class_="series")
            for n, value in enumerate(row):
                if not value:
                    continue
                stack = up if value > 0 else down
                base = stack[n]
                stack[n] += value
                self._bar(
                    group,
                    x=x_of(n) - bar_width / 2,
                    width=bar_width - (1 if bar_width > 3 else 0),
                    y0=y_of(base),
                    y1=y_of(stack[n]),
                    color=color,
                    tooltip=f"{self.labels[n]} · {name}: {format_number(value, step)}",
                )
        return bottom + 26

    # --- horizontal bars -------------------------------------------------------------------

    def draw_horizontal_bars(self, svg, top: float) -> float:
        if not self._has_data():
            return self._empty(svg, top)
        known = [v for row in self.values for v in row if v is not None]
        ticks, step = self._scale(min(known), max(known))
        label_width = min(240, max(text_width(label) for label in self.labels) + 8)
        left = label_width + 8
        right = self.width - 50  # room for the value after the longest bar
        row_height = max(20, 8 + 14 * len(self.names))
        plot_top = top + 4
        bottom = plot_top + row_height * len(self.labels)
        low, high = ticks[0], ticks[-1]

        def x_of(value: float) -> float:
            return left + (value - low) / (high - low) * (right - left)

        axis = _el(svg, "g", class_="x-axis")
        for tick in ticks:
            _el(
                axis,
                "line",
                x1=_px(x_of(tick)),
                x2=_px(x_of(tick)),
                y1=_px(plot_top),
                y2=_px(bottom),
                stroke="currentColor",
                stroke_opacity="0.35" if tick == 0 else "0.12",
            )
            _el(
                axis,
                "text",
                format_number(tick, step),
                x=_px(x_of(tick)),
                y=_px(bottom + 16),
                text_anchor="middle",
            )
        if self.y_label:
            _el(
                axis,
                "text",
                self.y_label,
                x=_px((left + right) / 2),
                y=_px(bottom + 34),
                text_anchor="middle",
            )
        labels = _el(svg, "g", class_="y-axis")
        for n, label in enumerate(self.labels):
            y = plot_top + row_height * (n + 0.5)
            text = _el(
                labels, "text", clip_text(label, label_width), x=_px(label_width), y=_px(y + 4)
            )
            text.set("text-anchor", "end")
            _el(text, "title", label)
        bar_height = (row_height - 6) / len(self.names)
        for index, (name, row, color) in enumerate(
            zip(self.names, self.values, self.colors, strict=True)
        ):
            group = _el(svg, "g", class_="series")
            for n, value in enumerate(row):
                if value is None:
                    continue
                y = plot_top + row_height * n + 3 + index * bar_height
                bar = _el(
                    group,
                    "rect",
                    x=_px(min(x_of(0), x_of(value))),
                    y=_px(y),
                    width=_px(max(abs(x_of(value) - x_of(0)), 1)),
                    height=_px(bar_height - 1),
                    fill=color,
                )
                _el(bar, "title", f"{self.labels[n]} · {name}: {format_number(value, step)}")
                _el(
                    group,
                    "text",
                    format_number(value, step),
                    x=_px(max(x_of(0), x_of(value)) + 4),
                    y=_px(y + bar_height / 2 + 3),
                    font_size=FONT_SIZE - 1,
                )
        return bottom + (44 if self.y_label else 28)
