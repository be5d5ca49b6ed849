"""The node's plots, drawn from numbers only: a step line of a balance over time, and the histogram of
the members' balances.

How this works: each function takes numbers and a function that writes a number for people, and
returns what a template draws (coordinates, and SVG written here for the many points of a line);
nothing a member typed is written into the SVG but escaped. Times and a point's words are in the
request's language (language.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from markupsafe import Markup, escape

from .language import gettext as _
from .language import when

# Buckets of the balance histogram: enough to see a shape, few enough to label.
histogram_buckets = 24
# The plots over time: an SVG this wide and high (the histogram's width), and a margin for labels.
chart_width, chart_height = 480, 140


def histogram(balances: list[int], label: Callable[[int], str]) -> dict[str, Any] | None:
    """The distribution of `balances` in `histogram_buckets` bars of equal width, each labelled with
    the balances it holds (`label(minor)` writes one for people), and where zero is."""
    if not balances:
        return None
    low, high, count = min(balances), max(balances), len(balances)
    span = high - low + 1
    counts = [0] * histogram_buckets
    for balance in balances:
        counts[(balance - low) * histogram_buckets // span] += 1
    tallest = max(counts)
    width, height, bar = 480, 160, 480 / histogram_buckets
    bars = []
    for index, in_bucket in enumerate(counts):
        # Bucket b holds the balances v with (v - low) * buckets // span == b (integers, exact).
        start = low - (-index * span // histogram_buckets)
        end = low - (-(index + 1) * span // histogram_buckets) - 1
        bar_height = height * in_bucket / tallest
        bars.append({
            "x": index * bar, "y": height - bar_height, "width": bar - 1, "height": bar_height, "count": in_bucket,
            "from": label(start), "to": label(end), "negative": end < 0,
        })
    zero_x = width * (0 - low) / span if low <= 0 <= high else None
    return {"bars": bars, "width": width, "height": height, "zero_x": zero_x, "count": count,
            "low": label(low), "high": label(high)}


def line_chart(points: list[tuple[int, int, int]], start_ms: int, end_ms: int,
               label: Any, unit: str) -> dict[str, Any] | None:
    """A step line of values over time, drawn from numbers only: `points` are (seq, ts, value) in
    order, each value holding until the next point, the last one until `end_ms`. The y axis always
    includes zero, so a glance says above or below it. `label(value)` writes a value for people."""
    if not points:
        return None
    values = [value for _, _, value in points]
    low, high = min(0, *values), max(0, *values)
    span_value = (high - low) or 1
    span_ms = max(1, end_ms - start_ms)

    def x(ts: int) -> float:
        return chart_width * min(1.0, max(0.0, (ts - start_ms) / span_ms))

    def y(value: int) -> float:
        return chart_height * (high - value) / span_value

    markers = [{"x": f"{x(ts):.1f}", "y": f"{y(value):.1f}", "seq": seq, "value": value, "text": label(value),
                "when": when(ts)} for seq, ts, value in points]
    path = f"M {markers[0]['x']} {markers[0]['y']}" + "".join(f" H {m['x']} V {m['y']}" for m in markers[1:])
    path += f" H {chart_width:.1f}"
    # The points as SVG written here, not by a loop in the template: Jinja spends ~50 µs a point on
    # it (10 ms for a full plot). Numbers only, and every text part escaped.
    point_words = _("%(amount)s %(unit)s after event #%(seq)s, %(when)s")  # in the request's language
    points_svg = Markup("".join(
        f'<circle class="point" cx="{m["x"]}" cy="{m["y"]}" r="2" data-seq="{m["seq"]:d}" data-value="{m["value"]:d}">'
        f'<title>{escape(point_words % {"amount": m["text"], "unit": unit, "seq": m["seq"], "when": m["when"]})}</title></circle>'
        for m in markers))
    return {"width": chart_width, "height": chart_height, "path": path, "points_svg": points_svg, "zero_y": y(0),
            "low": label(low), "high": label(high), "start_ms": start_ms, "end_ms": end_ms,
            "last": markers[-1]}
