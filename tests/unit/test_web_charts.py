"""The web app's server-rendered SVG charts: geometry, accessibility, escaping, CSP-safety."""
from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from promo.web import charts
from promo.web.charts import compact_number, interval_chart, nice_ceiling, stacked_bars, time_series

NS = "{http://www.w3.org/2000/svg}"
DAY = dt.date(2026, 11, 1)
HOSTILE = "<script>alert(1)</script> \"&'"
NICE_MANTISSAS = (1.0, 2.0, 2.5, 5.0)


def days(*values: float, start: dt.date = DAY) -> list[tuple[dt.date, float]]:
    return [(start + dt.timedelta(days=i), v) for i, v in enumerate(values)]


def parse(svg: Markup) -> ET.Element:
    assert isinstance(svg, Markup)
    root = ET.fromstring(str(svg))
    assert root.tag == NS + "svg"
    return root


def by_class(root: ET.Element, cls: str, tag: str = "*") -> list[ET.Element]:
    return [el for el in root.iter(NS + tag if tag != "*" else tag) if cls in el.get("class", "").split()]


def num(el: ET.Element, attr: str) -> float:
    return float(el.get(attr))


def all_text(root: ET.Element) -> str:
    return " ".join("".join(el.itertext()) for el in root)


def y_tick_values(root: ET.Element) -> list[tuple[str, float]]:
    """(label, y) of each y-axis tick: the tick labels anchored at the end, left of the plot."""
    return [(el.text, num(el, "y")) for el in by_class(root, "chart-tick", "text") if el.get("text-anchor") == "end"]


def plot_box(root: ET.Element) -> tuple[float, float, float, float]:
    """left, right, top, bottom of a time series' drawing, from its gridlines."""
    grid = by_class(root, "chart-grid", "line")
    ys = [num(line, "y1") for line in grid]
    return num(grid[0], "x1"), num(grid[0], "x2"), min(ys), max(ys)


# --- every chart, the common rules ------------------------------------------------------

def every_case() -> list[Markup]:
    rows = [{"label": "Treated", "value": 0.012, "low": -0.003, "high": 0.027}]
    bars = [("S001", {"ok": 5, "at_risk": 2, "short": 3})]
    return [
        time_series(days(3, 10, 22, 40, 8), title="Redemptions", y_label="per day"),
        time_series(days(100, 250, 900), title="Burn", y_label="spent", step=True, limit=1000, limit_label="Budget"),
        time_series([], title="Empty", y_label="n"),
        time_series(days(0, 0, 0), title="Zeros", y_label="n"),
        time_series(days(7), title="One", y_label="n"),
        time_series(days(-5, 3, -12), title="Negative", y_label="n"),
        time_series(days(1, 2), title=HOSTILE, y_label=HOSTILE, limit=1, limit_label=HOSTILE),
        interval_chart(rows, title="Uplift"),
        interval_chart(rows, title="Plain", unit=""),
        interval_chart([], title="Empty"),
        interval_chart([{"label": HOSTILE, "value": -1, "low": -2, "high": -0.5}], title=HOSTILE),
        stacked_bars(bars, title="Coverage"),
        stacked_bars([], title="Empty"),
        stacked_bars([(HOSTILE, {"short": 1})], title=HOSTILE, key_labels={"short": HOSTILE}),
        stacked_bars([(f"S{i:03}", {"ok": i}) for i in range(40)], title="Many"),
        stacked_bars([("S001", {})], title="Nothing counted"),
    ]


CASES = every_case()


@pytest.mark.parametrize("svg", CASES)
def test_every_chart_parses_and_is_csp_safe(svg: Markup) -> None:
    parse(svg)
    assert "style=" not in svg
    assert "<script" not in svg.lower()


@pytest.mark.parametrize("svg", CASES)
def test_every_chart_is_accessible_and_scales(svg: Markup) -> None:
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox"))
    title, desc = root.find(NS + "title"), root.find(NS + "desc")
    assert title is not None and title.text
    assert desc is not None and desc.text
    assert root.get("aria-labelledby") == title.get("id")
    assert root.get("aria-describedby") == desc.get("id")


@pytest.mark.parametrize("svg", CASES)
def test_coordinates_have_at_most_one_decimal(svg: Markup) -> None:
    root = parse(svg)
    for el in root.iter():
        for name in ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "width", "height"):
            value = el.get(name)
            if value is not None and value != "100%":  # the root's width="100%" is no coordinate
                assert re.fullmatch(r"-?\d+(\.\d)?", value), (name, value)
        for number in re.findall(r"-?\d+\.\d+", el.get("d", "")):
            assert len(number.split(".")[1]) == 1, number


def test_ids_are_unique_per_call_and_chart_id_makes_output_deterministic() -> None:
    first = parse(time_series(days(1, 2), title="t", y_label="y"))
    second = parse(time_series(days(1, 2), title="t", y_label="y"))
    assert first.find(NS + "title").get("id") != second.find(NS + "title").get("id")
    fixed = [time_series(days(1, 2), title="t", y_label="y", chart_id="burn") for _ in range(2)]
    assert fixed[0] == fixed[1]
    assert parse(fixed[0]).find(NS + "title").get("id") == "burn-title"
    with pytest.raises(ValueError):
        time_series(days(1), title="t", y_label="y", chart_id='x" onload="alert(1)')


@pytest.mark.parametrize("svg", [CASES[6], CASES[10], CASES[13]], ids=["time_series", "interval", "stacked"])
def test_hostile_text_comes_out_as_text_not_as_elements(svg: Markup) -> None:
    root = parse(svg)
    assert not [el for el in root.iter() if "script" in el.tag]
    assert HOSTILE in root.find(NS + "title").text
    assert "<script>alert(1)</script>" in all_text(root)
    assert "&lt;script&gt;" in svg


@pytest.mark.parametrize("make", [
    lambda: time_series([], title="t", y_label="y"),
    lambda: interval_chart([], title="t"),
    lambda: stacked_bars([], title="t"),
])
def test_empty_data_says_no_data_yet_at_the_same_size(make) -> None:
    root = parse(make())
    assert charts.NO_DATA in all_text(root)
    assert charts.NO_DATA in root.find(NS + "desc").text
    assert not root.findall(f".//{NS}circle") and not root.findall(f".//{NS}path")


def test_empty_time_series_keeps_the_size_asked_for() -> None:
    root = parse(time_series([], title="t", y_label="y", width=500, height=180))
    assert root.get("viewBox") == "0 0 500 180"


@pytest.mark.parametrize("make", [
    lambda bad: time_series(days(1, bad), title="t", y_label="y"),
    lambda bad: time_series(days(1, 2), title="t", y_label="y", limit=bad),
    lambda bad: interval_chart([{"label": "a", "value": bad, "low": 0, "high": 1}], title="t"),
    lambda bad: interval_chart([{"label": "a", "value": 0, "low": 0, "high": bad}], title="t"),
    lambda bad: stacked_bars([("S1", {"ok": bad})], title="t"),
])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_rejected(make, bad: float) -> None:
    with pytest.raises(ValueError):
        make(bad)


def test_other_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="sorted"):
        time_series(list(reversed(days(1, 2))), title="t", y_label="y")
    with pytest.raises(ValueError, match="low"):
        interval_chart([{"label": "a", "value": 0, "low": 1, "high": -1}], title="t")
    with pytest.raises(ValueError, match="negative"):
        stacked_bars([("S1", {"ok": -1})], title="t")
    with pytest.raises(ValueError, match="not drawn"):
        stacked_bars([("S1", {"ok": 1, "gone": 2})], title="t")
    with pytest.raises(ValueError, match="class"):
        stacked_bars([("S1", {})], title="t", keys=('x" onclick="y',))


# --- numbers ----------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (0, (1, 0.25)), (-3, (1, 0.25)), (0.7, (1, 0.25)), (1, (1, 0.25)), (1.2, (2, 0.5)), (2.2, (2.5, 0.5)),
    (3, (5, 1)), (40, (50, 10)), (300, (500, 100)), (500, (500, 100)), (501, (1000, 250)), (0.013, (0.02, 0.005)),
])
def test_nice_ceiling(value: float, expected: tuple[float, float]) -> None:
    top, step = nice_ceiling(value)
    assert top == pytest.approx(expected[0]) and step == pytest.approx(expected[1])


@pytest.mark.parametrize("value, expected", [
    (1200, "1.2k"), (1000, "1k"), (1250, "1.25k"), (40.0, "40"), (7, "7"), (0, "0"), (0.25, "0.25"),
    (12.5, "12.5"), (2_500_000, "2.5M"), (-1500, "-1.5k"), (3_000_000_000, "3B"), (0.0125, "0.0125"),
])
def test_compact_number(value: float, expected: str) -> None:
    assert compact_number(value) == expected


# --- time series ------------------------------------------------------------------------

def test_time_series_draws_one_dot_per_point_left_to_right_higher_for_larger() -> None:
    values = (3, 10, 22, 15, 40, 8, 0, 12, 30, 25, 5, 18)
    root = parse(time_series(days(*values), title="Redemptions per day", y_label="redemptions", chart_id="r"))
    dots = by_class(root, "chart-dot", "circle")
    assert len(dots) == len(values)
    xs, ys = [num(d, "cx") for d in dots], [num(d, "cy") for d in dots]
    assert xs[0] < xs[-1]
    assert xs == sorted(xs)
    assert ys[values.index(40)] == min(ys)  # the largest value is drawn highest
    assert ys[values.index(0)] == max(ys)
    assert ys[1] < ys[0]  # 10 above 3
    desc = root.find(NS + "desc").text
    assert "12 days from 2026-11-01 to 2026-11-12" in desc
    assert "highest 40 on 2026-11-05" in desc


def test_time_series_x_axis_is_proportional_to_time() -> None:
    points = [(DAY, 1), (DAY + dt.timedelta(days=1), 2), (DAY + dt.timedelta(days=10), 3)]
    dots = by_class(parse(time_series(points, title="t", y_label="y")), "chart-dot", "circle")
    gap_short = num(dots[1], "cx") - num(dots[0], "cx")
    gap_long = num(dots[2], "cx") - num(dots[1], "cx")
    assert gap_long == pytest.approx(9 * gap_short, abs=0.3)


@pytest.mark.parametrize("values", [(3, 10, 22), (0.2, 0.9), (1200, 4800, 260), (40,), (1, 1, 1), (999, 1001)])
def test_y_max_is_a_nice_number_at_least_the_data_max(values: tuple[float, ...]) -> None:
    root = parse(time_series(days(*values), title="t", y_label="y"))
    ticks = y_tick_values(root)
    top_label, top_y = min(ticks, key=lambda t: t[1])
    top = nice_ceiling(max(values))[0]
    assert top_label == compact_number(top)
    mantissa = top / 10 ** math.floor(math.log10(top))
    assert any(mantissa == pytest.approx(m) for m in NICE_MANTISSAS)
    assert top >= max(values)
    assert ticks[0][0] == "0"
    assert 4 <= len(ticks) <= 6  # 3-5 gridlines above the baseline
    left, right, plot_top, _ = plot_box(root)
    assert top_y - 4 == pytest.approx(plot_top)  # the label sits on the top gridline
    for dot in by_class(root, "chart-dot", "circle"):
        assert num(dot, "cy") >= plot_top - 0.05


def test_all_zeros_still_have_a_y_axis_up_to_1() -> None:
    root = parse(time_series(days(0, 0, 0), title="t", y_label="y"))
    labels = [label for label, _ in y_tick_values(root)]
    assert labels[0] == "0" and labels[-1] == "1"
    _, _, top, bottom = plot_box(root)
    assert all(num(d, "cy") == pytest.approx(bottom) for d in by_class(root, "chart-dot", "circle"))
    assert top < bottom


def test_a_single_point_is_drawn_as_one_dot_without_a_line() -> None:
    root = parse(time_series(days(7), title="t", y_label="y"))
    assert len(by_class(root, "chart-dot", "circle")) == 1
    assert not by_class(root, "chart-line")
    left, right, _, _ = plot_box(root)
    assert left < num(by_class(root, "chart-dot", "circle")[0], "cx") < right
    assert "1 day, 2026-11-01: 7" in root.find(NS + "desc").text


def test_negative_values_extend_the_y_axis_below_0() -> None:
    root = parse(time_series(days(-5, 3, -12), title="t", y_label="y"))
    ticks = y_tick_values(root)
    assert float(min(ticks, key=lambda t: -t[1])[0]) <= -12  # the lowest tick
    _, _, top, bottom = plot_box(root)
    for dot in by_class(root, "chart-dot", "circle"):
        assert top - 0.05 <= num(dot, "cy") <= bottom + 0.05


@pytest.mark.parametrize("limit, values", [(1000, (100, 250, 900)), (5000, (100, 250, 900)), (300, (100, 250, 900))])
def test_the_limit_line_is_at_its_height_inside_the_drawing(limit: float, values: tuple[float, ...]) -> None:
    root = parse(time_series(days(*values), title="Budget burn", y_label="discount spent", step=True,
                             limit=limit, limit_label="Budget"))
    left, right, top, bottom = plot_box(root)
    (line,) = by_class(root, "chart-limit", "line")
    y_max = nice_ceiling(max(limit, *values))[0]
    expected = bottom - limit / y_max * (bottom - top)
    assert num(line, "y1") == num(line, "y2") == pytest.approx(expected, abs=0.1)
    assert top <= num(line, "y1") <= bottom
    assert (num(line, "x1"), num(line, "x2")) == (left, right)
    (label,) = by_class(root, "chart-limit-label", "text")
    assert label.text.startswith("Budget")
    assert "Budget" in root.find(NS + "desc").text
    if limit > max(values):
        assert all(num(d, "cy") > num(line, "y1") for d in by_class(root, "chart-dot", "circle"))


def test_step_line_moves_only_horizontally_then_vertically() -> None:
    root = parse(time_series(days(1, 5, 9), title="t", y_label="y", step=True))
    (path,) = by_class(root, "chart-line", "path")
    assert re.fullmatch(r"M[\d.]+ [\d.]+(H[\d.]+V[\d.]+){2}", path.get("d"))
    plain = by_class(parse(time_series(days(1, 5, 9), title="t", y_label="y")), "chart-line", "path")[0]
    assert plain.get("d").count("L") == 2


@pytest.mark.parametrize("n_days", [1, 2, 6, 12, 45, 200, 1500])
def test_date_labels_are_few_iso_dates_that_never_overlap(n_days: int) -> None:
    root = parse(time_series(days(*range(n_days)), title="t", y_label="y"))
    labels = [el for el in by_class(root, "chart-tick", "text") if el.get("text-anchor") == "middle"]
    assert 1 <= len(labels) <= 6
    for el in labels:
        dt.date.fromisoformat(el.text)
    xs = [num(el, "x") for el in labels]
    assert all(b - a >= charts.DATE_LABEL_WIDTH - 0.1 for a, b in zip(xs, xs[1:]))
    width = float(root.get("viewBox").split()[2])
    assert all(x - 40 >= 0 and x + 40 <= width for x in xs)


# --- interval chart ---------------------------------------------------------------------

UPLIFT = [
    {"label": "Treated vs holdout", "value": 0.012, "low": -0.003, "high": 0.027},
    {"label": "Loyal shoppers", "value": 0.030, "low": 0.010, "high": 0.050},
    {"label": "Lapsed", "value": -0.020, "low": -0.040, "high": -0.005},
]


def interval_rows(root: ET.Element) -> list[dict[str, float]]:
    out = []
    for group in by_class(root, "chart-row", "g"):
        (whisker,) = [el for el in by_class(group, "chart-whisker", "line") if "chart-cap" not in el.get("class")]
        (dot,) = by_class(group, "chart-dot", "circle")
        out.append({"low": num(whisker, "x1"), "high": num(whisker, "x2"), "value": num(dot, "cx"),
                    "y": num(dot, "cy"), "text": by_class(group, "chart-value", "text")[0].text})
    return out


def test_interval_whiskers_span_low_to_high_around_the_zero_line() -> None:
    root = parse(interval_chart(UPLIFT, title="Uplift", chart_id="u"))
    (zero,) = by_class(root, "chart-zero", "line")
    zero_x = num(zero, "x1")
    drawn = interval_rows(root)
    assert len(drawn) == len(UPLIFT)
    for row, geometry in zip(UPLIFT, drawn):
        assert geometry["low"] <= geometry["value"] <= geometry["high"]
        if row["low"] < 0 < row["high"]:
            assert geometry["low"] < zero_x < geometry["high"]
        elif row["high"] < 0:
            assert geometry["high"] < zero_x
        else:
            assert geometry["low"] > zero_x
    # one scale for every row: x is linear in the value
    scale = (drawn[1]["high"] - drawn[1]["low"]) / (UPLIFT[1]["high"] - UPLIFT[1]["low"])
    assert drawn[0]["value"] - zero_x == pytest.approx(UPLIFT[0]["value"] * scale, abs=0.2)
    assert [g["y"] for g in drawn] == sorted(g["y"] for g in drawn)
    assert drawn[0]["text"] == "+1.2 pp [-0.3, +2.7]"
    assert drawn[2]["text"] == "-2.0 pp [-4.0, -0.5]"
    labels = [el.text for el in root.iter(NS + "text") if el.get("text-anchor") == "end"]
    assert labels == [row["label"] for row in UPLIFT]
    assert "Treated vs holdout: +1.2 pp [-0.3, +2.7]" in root.find(NS + "desc").text


def test_interval_chart_plain_unit_and_height_growing_with_rows() -> None:
    one = parse(interval_chart(UPLIFT[:1] * 3, title="t", unit=""))
    many = parse(interval_chart(UPLIFT[:1] * 9, title="t", unit=""))
    height = lambda root: float(root.get("viewBox").split()[3])  # noqa: E731
    assert height(many) - height(one) == pytest.approx(6 * charts.ROW_HEIGHT)
    assert interval_rows(one)[0]["text"] == "+0.012 [-0.003, +0.027]"
    fixed = parse(interval_chart(UPLIFT, title="t", height=300))
    assert fixed.get("viewBox") == "0 0 640 300"


def test_interval_chart_of_zeros_still_draws() -> None:
    root = parse(interval_chart([{"label": "a", "value": 0, "low": 0, "high": 0}], title="t"))
    (geometry,) = interval_rows(root)
    assert geometry["low"] == geometry["value"] == geometry["high"] == num(by_class(root, "chart-zero")[0], "x1")


# --- stacked bars -----------------------------------------------------------------------

def segments(group: ET.Element) -> dict[str, ET.Element]:
    return {next(c for c in el.get("class").split() if c.startswith("chart-") and c != "chart-segment"): el
            for el in by_class(group, "chart-segment", "rect")}


@pytest.mark.parametrize("counts", [{"ok": 5, "at_risk": 2, "short": 3}, {"ok": 1, "at_risk": 1, "short": 1},
                                    {"ok": 7}, {"short": 4, "ok": 1}, {"ok": 997, "at_risk": 2, "short": 1}])
def test_stacked_segments_are_proportional_and_fill_the_bar(counts: dict[str, int]) -> None:
    # A row with nothing counted draws the whole bar as an empty track: the width to fill.
    root = parse(stacked_bars([("S001", counts), ("S002", {})], title="Stock coverage"))
    groups = by_class(root, "chart-row", "g")
    (track,) = by_class(groups[1], "chart-track", "rect")
    full = num(track, "width")
    drawn = segments(groups[0])
    assert num(next(iter(drawn.values())), "x") == num(track, "x")
    assert set(drawn) == {f"chart-{k}" for k, v in counts.items() if v}
    assert sum(num(el, "width") for el in drawn.values()) == pytest.approx(full, abs=0.01)
    total = sum(counts.values())
    for key, count in counts.items():
        if count:
            assert num(drawn[f"chart-{key}"], "width") == pytest.approx(full * count / total, abs=0.11)
    xs = [num(el, "x") for el in drawn.values()]
    assert xs == sorted(xs)  # in the order of keys: ok, at risk, short
    order = [k for k in ("ok", "at_risk", "short") if counts.get(k)]
    assert list(drawn) == [f"chart-{k}" for k in order]


def test_stacked_segments_have_count_tooltips_and_a_legend() -> None:
    root = parse(stacked_bars([("S001", {"ok": 5, "at_risk": 2, "short": 3})], title="t",
                              key_labels={"at_risk": "at risk soon"}))
    tips = [el.find(NS + "title").text for el in by_class(root, "chart-segment", "rect")]
    assert tips == ["S001: 5 ok of 10", "S001: 2 at risk soon of 10", "S001: 3 short of 10"]
    (legend,) = by_class(root, "chart-legend", "g")
    assert [el.text for el in legend.iter(NS + "text")] == ["ok", "at risk soon", "short"]
    assert len(by_class(legend, "chart-short", "rect")) == 1
    assert "most short: S001 (3 of 10)" in root.find(NS + "desc").text


def test_a_row_with_nothing_counted_draws_an_empty_track() -> None:
    root = parse(stacked_bars([("S001", {})], title="t"))
    assert not by_class(root, "chart-segment") and len(by_class(root, "chart-track", "rect")) == 1


@pytest.mark.parametrize("n_rows, max_rows, hidden", [(40, 30, 10), (30, 30, 0), (5, 3, 2), (1, 30, 0)])
def test_only_max_rows_bars_with_and_n_more(n_rows: int, max_rows: int, hidden: int) -> None:
    rows = [(f"S{i:03}", {"ok": i + 1, "short": 1}) for i in range(n_rows)]
    root = parse(stacked_bars(rows, title="t", max_rows=max_rows))
    assert len(by_class(root, "chart-row", "g")) == min(n_rows, max_rows)
    notes = by_class(root, "chart-note", "text")
    if hidden:
        assert [n.text for n in notes] == [f"and {hidden} more"]
        assert f"{n_rows} rows" in root.find(NS + "desc").text
    else:
        assert not notes
    height = float(root.get("viewBox").split()[3])
    assert all(num(el, "y") < height for el in root.iter(NS + "text"))
