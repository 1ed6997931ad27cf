"""Small charts for the web app's pages, drawn on the server as inline SVG.

Why server-rendered SVG rather than a JavaScript charting library:
- it ships inside the package and needs no CDN, so the app works on a shop's network
  with no internet;
- it fits the page's Content-Security-Policy (`default-src 'self'`): no script, no inline
  `style` attribute, colours come from CSS classes in `static/charts.css`;
- it is accessible: each chart is one `<svg role="img">` with a `<title>` and a `<desc>`
  that says the data in words, for screen readers and for anyone who cannot read colours;
- it is plain text produced by pure functions, so tests can parse it and check geometry.

Every function returns `markupsafe.Markup` holding one `<svg>` element. All text that comes
from data (titles, labels, location codes) is XML-escaped here, so the output can be put
in a template as `{{ chart }}` and still parses as XML.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import secrets
from typing import Iterable, Mapping, Sequence

from markupsafe import Markup, escape

NO_DATA = "No data yet"
SVG_NS = "http://www.w3.org/2000/svg"

# Approximate advance of one character of the 12px chart font; used only to keep labels
# from overlapping or running off the drawing, so it errs on the wide side.
CHAR_WIDTH = 7.0
DATE_LABEL_WIDTH = 10 * CHAR_WIDTH + 10  # an ISO date plus a gap to the next one
MAX_DATE_LABELS = 6

_CLASS_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
_ID_SAFE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


# --- text and numbers -------------------------------------------------------------------

def _esc(text: object) -> str:
    # str() at once: adding a Markup to a str later would escape the str a second time.
    return str(escape(str(text)))


def _r(value: float) -> str:
    """A coordinate rounded to 1 decimal, without a useless '.0' (keeps the SVG small)."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _trim(number: float, decimals: int) -> str:
    text = f"{number:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def compact_number(value: float) -> str:
    """Axis-label form: 1200 -> '1.2k', 2500000 -> '2.5M', 40.0 -> '40', 0.25 -> '0.25'."""
    sign = "-" if value < 0 else ""
    size = abs(value)
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= factor:
            return f"{sign}{_trim(size / factor, 2)}{suffix}"
    if size == int(size):
        return f"{sign}{int(size)}"
    # Three significant digits are enough to read a small tick or value.
    decimals = max(2, 2 - math.floor(math.log10(size)))
    return f"{sign}{_trim(size, decimals)}"


def _plain_number(value: float) -> str:
    """The form used in sentences (desc, tooltips): exact enough, with thousands separators."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _finite(value: object, what: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    # A NaN or an infinity would silently turn every coordinate into 'nan'.
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


def _truncate(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "\u2026"


def _chart_id(chart_id: str | None) -> str:
    if chart_id is None:
        return "chart-" + secrets.token_hex(4)
    if not _ID_SAFE.match(chart_id):
        raise ValueError(f"chart_id must be a plain identifier, got {chart_id!r}")
    return chart_id


# --- SVG building -----------------------------------------------------------------------

def _attrs(attrs: Mapping[str, object]) -> str:
    parts = []
    for name, value in attrs.items():
        if value is None:
            continue
        text = _r(value) if isinstance(value, float) else str(value)
        parts.append(f' {name.replace("_", "-")}="{_esc(text)}"')
    return "".join(parts)


def _el(tag: str, content: str = "", **attrs: object) -> str:
    """One element; `content` must already be SVG (escaped text or child elements).

    Attribute names use '_' for '-' (text_anchor -> text-anchor); `cls` becomes `class`.
    """
    if "cls" in attrs:
        attrs["class"] = attrs.pop("cls")
    return f"<{tag}{_attrs(attrs)}>{content}</{tag}>" if content else f"<{tag}{_attrs(attrs)}/>"


def _text(x: float, y: float, text: str, cls: str, anchor: str = "start", tooltip: str | None = None) -> str:
    inner = _esc(text)
    if tooltip is not None and tooltip != text:
        inner = _el("title", _esc(tooltip)) + inner
    return _el("text", inner, x=float(x), y=float(y), cls=cls, text_anchor=anchor)


def _svg(chart_id: str, kind: str, width: int, height: int, title: str, desc: str, body: Iterable[str]) -> Markup:
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    head = _el("title", _esc(title), id=title_id) + _el("desc", _esc(desc), id=desc_id)
    # width="100%" with a viewBox lets the chart scale down on a tablet and keep its shape.
    opening = (f'<svg xmlns="{SVG_NS}" class="chart chart-{kind}" id="{_esc(chart_id)}" role="img" '
               f'aria-labelledby="{title_id}" aria-describedby="{desc_id}" '
               f'viewBox="0 0 {width} {height}" width="100%">')
    return Markup(opening + head + "".join(body) + "</svg>")


def _heading(title: str, width: int) -> str:
    return _text(0, 16, _truncate(title, int(width / CHAR_WIDTH)), "chart-title", tooltip=title)


def _no_data(chart_id: str, kind: str, width: int, height: int, title: str) -> Markup:
    # Same size as a chart with data, so the page does not jump when the first data arrives.
    body = [_heading(title, width),
            _text(width / 2, height / 2 + 8, NO_DATA, "chart-label chart-empty", anchor="middle")]
    return _svg(chart_id, kind, width, height, title, f"{NO_DATA}.", body)


# --- scales -----------------------------------------------------------------------------

# For each "nice" mantissa of the axis maximum, the tick step that gives 4 or 5 gridlines.
_NICE_STEPS = ((1.0, 0.25), (2.0, 0.5), (2.5, 0.5), (5.0, 1.0), (10.0, 2.5))


def nice_ceiling(value: float) -> tuple[float, float]:
    """The smallest number of the form (1, 2, 2.5, 5) x 10^k that is >= value, and its tick step.

    A value of 0 or less gives (1, 0.25): an axis of zeros still needs a height.
    """
    if value <= 0:
        return 1.0, 0.25
    power = 10.0 ** math.floor(math.log10(value))
    for mantissa, step in _NICE_STEPS:
        # The small tolerance keeps 300 from becoming 500 through 2.9999999 x 10^2.
        if value <= mantissa * power * (1 + 1e-9):
            return mantissa * power, step * power
    raise AssertionError("unreachable: 10 x 10^k always fits")


def _y_range(low: float, high: float) -> tuple[float, float, list[float]]:
    """Axis bounds and tick values: from 0 (or below, for negatives) to a nice maximum."""
    top, step = nice_ceiling(high)
    if low >= 0:
        bottom = 0.0
    else:
        if high <= 0:
            top = 0.0
            _, step = nice_ceiling(-low)
        bottom = -step * math.ceil(-low / step - 1e-9)
        while (top - bottom) / step > 6:  # keep the gridlines readable when both signs are present
            step *= 2
            bottom = -step * math.ceil(-low / step - 1e-9)
            top = step * math.ceil(top / step - 1e-9)
    count = round((top - bottom) / step)
    return bottom, top, [bottom + i * step for i in range(count + 1)]


def _date_ticks(first: int, last: int, plot_width: float) -> list[int]:
    """Ordinals of the dates to label: at most ~6, spaced so that ISO labels never overlap."""
    span = last - first
    if span == 0:
        return [first]
    max_labels = max(1, min(MAX_DATE_LABELS, int(plot_width // DATE_LABEL_WIDTH) + 1))
    step = 1
    for candidate in (1, 2, 3, 7, 14, 30, 61, 91, 182, 365):
        step = candidate
        fits = span // step + 1 <= max_labels and step * plot_width / span >= DATE_LABEL_WIDTH
        if fits:
            break
    else:
        while span // step + 1 > max_labels or step * plot_width / span < DATE_LABEL_WIDTH:
            step *= 2
    return list(range(first, last + 1, step))


# --- time series ------------------------------------------------------------------------

def time_series(points: Sequence[tuple[dt.date, float]], *, title: str, y_label: str, step: bool = False,
                limit: float | None = None, limit_label: str | None = None, width: int = 640,
                height: int = 220, chart_id: str | None = None) -> Markup:
    """A line over time (a step line with `step=True`, for cumulative figures such as budget burn).

    `points` are (date, value) sorted by date; gaps between dates are drawn to scale. A `limit`
    (a budget, a cap) is drawn as a dashed line labelled `limit_label`, and the y axis always
    reaches it. Raises ValueError for NaN/inf values or dates out of order.
    """
    chart_id = _chart_id(chart_id)
    data = [(day, _finite(value, f"value on {day}")) for day, value in points]
    limit_value = None if limit is None else _finite(limit, "limit")
    for (before, _), (after, _) in zip(data, data[1:]):
        if after < before:
            raise ValueError(f"points must be sorted by date: {after} comes after {before}")
    if not data:
        return _no_data(chart_id, "time-series", width, height, title)

    left, right, top, bottom = 52.0, width - 40.0, 44.0, height - 28.0
    values = [value for _, value in data] + ([limit_value] if limit_value is not None else [])
    y_min, y_max, y_ticks = _y_range(min(values), max(values))

    def y_of(value: float) -> float:
        return bottom - (value - y_min) / (y_max - y_min) * (bottom - top)

    first, last = data[0][0].toordinal(), data[-1][0].toordinal()

    def x_of(ordinal: int) -> float:
        if last == first:  # a single day: put it in the middle rather than on the axis
            return (left + right) / 2
        return left + (ordinal - first) / (last - first) * (right - left)

    body = [_heading(title, width), _text(left, 34, y_label, "chart-label chart-y-label")]
    for tick in y_ticks:
        y = y_of(tick)
        body.append(_el("line", cls="chart-grid", x1=left, x2=right, y1=y, y2=y))
        body.append(_text(left - 6, y + 4, compact_number(tick), "chart-label chart-tick", anchor="end"))
    body.append(_el("line", cls="chart-axis", x1=left, x2=right, y1=y_of(max(y_min, 0.0)), y2=y_of(max(y_min, 0.0))))
    body.append(_el("line", cls="chart-axis", x1=left, x2=left, y1=top, y2=bottom))
    for ordinal in _date_ticks(first, last, right - left):
        x = x_of(ordinal)
        body.append(_el("line", cls="chart-axis", x1=x, x2=x, y1=bottom, y2=bottom + 4))
        body.append(_text(x, bottom + 17, dt.date.fromordinal(ordinal).isoformat(), "chart-label chart-tick",
                          anchor="middle"))

    if limit_value is not None:
        y = y_of(limit_value)
        body.append(_el("line", cls="chart-limit", x1=left, x2=right, y1=y, y2=y))
        label = f"{limit_label}: {compact_number(limit_value)}" if limit_label else compact_number(limit_value)
        body.append(_text(right, y - 5, label, "chart-label chart-limit-label", anchor="end"))

    coords = [(x_of(day.toordinal()), y_of(value)) for day, value in data]
    if len(coords) > 1:
        body.append(_el("path", cls="chart-line chart-step" if step else "chart-line", d=_line_path(coords, step)))
    for (day, value), (x, y) in zip(data, coords):
        body.append(_el("circle", _el("title", _esc(f"{day.isoformat()}: {_plain_number(value)}")),
                        cls="chart-dot", cx=x, cy=y, r=3))
    desc = _time_series_desc(data, limit_value, limit_label)
    return _svg(chart_id, "time-series", width, height, title, desc, body)


def _line_path(coords: list[tuple[float, float]], step: bool) -> str:
    x0, y0 = coords[0]
    parts = [f"M{_r(x0)} {_r(y0)}"]
    for x, y in coords[1:]:
        # A cumulative figure holds its value until the next day with data, then jumps.
        parts.append(f"H{_r(x)}V{_r(y)}" if step else f"L{_r(x)} {_r(y)}")
    return "".join(parts)


def _time_series_desc(data: list[tuple[dt.date, float]], limit: float | None, limit_label: str | None) -> str:
    first_day, last_day = data[0][0], data[-1][0]
    peak_day, peak = max(data, key=lambda point: point[1])  # the first day of the highest value
    if len(data) == 1:
        text = f"1 day, {first_day.isoformat()}: {_plain_number(peak)}"
    else:
        text = (f"{len(data)} days from {first_day.isoformat()} to {last_day.isoformat()}; "
                f"highest {_plain_number(peak)} on {peak_day.isoformat()}; latest {_plain_number(data[-1][1])}")
    if limit is not None:
        name = limit_label or "limit"
        text += f"; {name} {_plain_number(limit)}"
        over = next((day for day, value in data if value > limit), None)
        text += f", first above it on {over.isoformat()}" if over else ", never above it"
    return text + "."


# --- intervals --------------------------------------------------------------------------

ROW_HEIGHT = 28


def _signed(value: float, unit: str) -> str:
    if unit == "pp":
        return f"{value * 100:+.1f}"
    text = compact_number(value)
    return text if text.startswith("-") or value == 0 else "+" + text


def interval_chart(rows: Sequence[Mapping[str, object]], *, title: str, unit: str = "pp", width: int = 640,
                   height: int | None = None, chart_id: str | None = None) -> Markup:
    """One row per item: a point at `value` and a whisker from `low` to `high`, against a zero line.

    Each row is {"label", "value", "low", "high"}. With unit="pp" the numbers are differences
    of rates (0.012 shown as "+1.2 pp"); with unit="" they are shown as they are; any other
    unit is shown after the plain number. Height grows with the rows when `height` is None.
    Raises ValueError for NaN/inf numbers or low > high.
    """
    chart_id = _chart_id(chart_id)
    items = [_interval_row(row, index) for index, row in enumerate(rows)]
    top, row_h = 32.0, float(ROW_HEIGHT)
    if height is None:
        height = int(top + max(len(items), 2) * row_h + 24)
    if not items:
        return _no_data(chart_id, "interval", width, height, title)

    left, right = 170.0, width - 180.0
    lowest = min(0.0, *(low for _, _, low, _ in items), *(value for _, value, _, _ in items))
    highest = max(0.0, *(high for _, _, _, high in items), *(value for _, value, _, _ in items))
    if highest == lowest:  # every number is 0: any symmetric range shows that
        lowest, highest = -1.0, 1.0
    pad = (highest - lowest) * 0.05

    def x_of(value: float) -> float:
        return left + (value - lowest + pad) / (highest - lowest + 2 * pad) * (right - left)

    suffix = f" {unit}" if unit else ""
    rows_bottom = top + len(items) * row_h
    zero = x_of(0.0)
    body = [_heading(title, width),
            _el("line", cls="chart-zero", x1=zero, x2=zero, y1=top, y2=rows_bottom),
            _text(zero, rows_bottom + 14, "0", "chart-label chart-tick", anchor="middle")]
    lines = []
    for label, value, low, high in items:
        y = top + (len(lines) + 0.5) * row_h
        summary = f"{_signed(value, unit)}{suffix} [{_signed(low, unit)}, {_signed(high, unit)}]"
        lines.append(f"{label}: {summary}")
        x_low, x_high = x_of(low), x_of(high)
        row = [
            _el("title", _esc(f"{label}: {summary}")),
            _text(left - 10, y + 4, _truncate(label, int((left - 14) / CHAR_WIDTH)), "chart-label", anchor="end"),
            _el("line", cls="chart-whisker", x1=x_low, x2=x_high, y1=y, y2=y),
            _el("line", cls="chart-whisker chart-cap", x1=x_low, x2=x_low, y1=y - 5, y2=y + 5),
            _el("line", cls="chart-whisker chart-cap", x1=x_high, x2=x_high, y1=y - 5, y2=y + 5),
            _el("circle", cls="chart-dot", cx=x_of(value), cy=y, r=4),
            _text(right + 12, y + 4, summary, "chart-label chart-value"),
        ]
        body.append(_el("g", "".join(row), cls="chart-row"))
    count = f"{len(items)} row" + ("" if len(items) == 1 else "s")
    return _svg(chart_id, "interval", width, height, title, f"{count}: " + "; ".join(lines) + ".", body)


def _interval_row(row: Mapping[str, object], index: int) -> tuple[str, float, float, float]:
    label = str(row["label"])
    value = _finite(row["value"], f"value of {label!r}")
    low = _finite(row["low"], f"low of {label!r}")
    high = _finite(row["high"], f"high of {label!r}")
    if low > high:
        raise ValueError(f"row {index} ({label!r}): low {low} is above high {high}")
    return label, value, low, high


# --- stacked bars -----------------------------------------------------------------------

BAR_ROW_HEIGHT = 24


def _key_label(key: str, key_labels: Mapping[str, str] | None) -> str:
    if key_labels and key in key_labels:
        return key_labels[key]
    return key.replace("_", " ")


def stacked_bars(rows: Sequence[tuple[str, Mapping[str, float]]], *, title: str,
                 keys: Sequence[str] = ("ok", "at_risk", "short"), key_labels: Mapping[str, str] | None = None,
                 width: int = 640, height: int | None = None, max_rows: int = 30,
                 chart_id: str | None = None) -> Markup:
    """One 100%-stacked horizontal bar per row, a segment per key coloured by class `chart-<key>`.

    `rows` are (label, {key: count}); a key missing from a row counts 0, a key not in `keys`
    is an error (it would silently fall out of the 100%). Only the first `max_rows` rows are
    drawn, with a note "and N more". Raises ValueError for NaN/inf or negative counts.
    """
    chart_id = _chart_id(chart_id)
    for key in keys:
        if not _CLASS_SAFE.match(key):
            raise ValueError(f"keys become CSS class names and must be plain words, got {key!r}")
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    items = [_bar_row(label, counts, keys) for label, counts in rows]
    shown, hidden = items[:max_rows], len(items) - min(len(items), max_rows)
    top, row_h = 52.0, float(BAR_ROW_HEIGHT)
    if height is None:
        height = int(top + max(len(shown), 2) * row_h + (24 if hidden else 8))
    if not items:
        return _no_data(chart_id, "stacked-bars", width, height, title)

    left, right = 120.0, width - 60.0
    body = [_heading(title, width), _legend(keys, key_labels)]
    for index, (label, counts) in enumerate(shown):
        body.append(_bar(label, counts, keys, key_labels, top + index * row_h, left, right, row_h))
    if hidden:
        body.append(_text(left, top + len(shown) * row_h + 14, f"and {hidden} more", "chart-label chart-note"))
    desc = _stacked_desc(items, keys, key_labels, len(shown))
    return _svg(chart_id, "stacked-bars", width, height, title, desc, body)


def _bar_row(label: str, counts: Mapping[str, float], keys: Sequence[str]) -> tuple[str, dict[str, float]]:
    unknown = set(counts) - set(keys)
    if unknown:
        raise ValueError(f"{label!r} has counts for keys not drawn: {sorted(unknown)}")
    checked = {}
    for key in keys:
        count = _finite(counts.get(key, 0), f"{key} count of {label!r}")
        if count < 0:
            raise ValueError(f"{key} count of {label!r} is negative: {count}")
        checked[key] = count
    return str(label), checked


def _legend(keys: Sequence[str], key_labels: Mapping[str, str] | None) -> str:
    parts, x = [], 0.0
    for key in keys:
        name = _key_label(key, key_labels)
        parts.append(_el("rect", cls=f"chart-swatch chart-{key}", x=x, y=26.0, width=10, height=10))
        parts.append(_text(x + 14, 35, name, "chart-label"))
        x += 14 + len(name) * CHAR_WIDTH + 18
    return _el("g", "".join(parts), cls="chart-legend")


def _bar(label: str, counts: dict[str, float], keys: Sequence[str], key_labels: Mapping[str, str] | None,
         y: float, left: float, right: float, row_h: float) -> str:
    total = sum(counts.values())
    bar_y, bar_h = y + 3, row_h - 6
    parts = [_text(left - 8, y + row_h / 2 + 4, _truncate(label, int((left - 12) / CHAR_WIDTH)), "chart-label",
                   anchor="end", tooltip=label)]
    if total == 0:
        parts.append(_el("rect", _el("title", _esc(f"{label}: nothing counted")), cls="chart-track",
                         x=left, y=bar_y, width=right - left, height=bar_h))
    else:
        # Segment edges are rounded, and widths taken between rounded edges, so the
        # segments always add up to the whole bar.
        edges, running = [round(left, 1)], 0.0
        for key in keys:
            running += counts[key]
            edges.append(round(left + (right - left) * running / total, 1))
        for key, start, end in zip(keys, edges, edges[1:]):
            if counts[key] == 0:
                continue
            tip = f"{label}: {_plain_number(counts[key])} {_key_label(key, key_labels)} of {_plain_number(total)}"
            parts.append(_el("rect", _el("title", _esc(tip)), cls=f"chart-segment chart-{key}",
                             x=start, y=bar_y, width=round(end - start, 1), height=bar_h))
            number = _plain_number(counts[key])
            if end - start >= len(number) * CHAR_WIDTH + 6:  # only where the count fits inside
                parts.append(_text((start + end) / 2, y + row_h / 2 + 4, number, "chart-bar-value", anchor="middle"))
    parts.append(_text(right + 8, y + row_h / 2 + 4, _plain_number(total), "chart-label chart-total"))
    return _el("g", "".join(parts), cls="chart-row")


def _stacked_desc(items: list[tuple[str, dict[str, float]]], keys: Sequence[str],
                  key_labels: Mapping[str, str] | None, shown: int) -> str:
    totals = {key: sum(counts[key] for _, counts in items) for key in keys}
    in_all = ", ".join(f"{_plain_number(totals[key])} {_key_label(key, key_labels)}" for key in keys)
    text = f"{len(items)} row" + ("" if len(items) == 1 else "s") + f"; in all {in_all}"
    last = keys[-1]
    worst_label, worst = max(items, key=lambda item: item[1][last])
    if worst[last] > 0:
        text += (f"; most {_key_label(last, key_labels)}: {worst_label} "
                 f"({_plain_number(worst[last])} of {_plain_number(sum(worst.values()))})")
    if shown < len(items):
        text += f"; the first {shown} are drawn"
    return text + "."
