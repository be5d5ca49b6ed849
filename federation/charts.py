"""The federation's pictures, drawn from numbers only: the federation with its members around it
(and, in a confederation, their own members further out) with the trade flows between them as
edges, and the settled payments between communities over time as stacked bars.

How this works: each function takes rows the report and /api/payments give and returns what
node/templates' macros draw (coordinates, sizes, colours); names are written by the template, as
escaped text.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tallystick.node.pages.charts import chart_height, chart_width

# Buckets of the trade plot: the smallest of these sizes that gives at most `trade_buckets_max`.
trade_bucket_sizes_ms = (("minute", 60_000), ("hour", 3_600_000), ("day", 86_400_000), ("week", 604_800_000))
trade_buckets_max = 48
# Colours of the trade plot's pairs of communities, in turn (the rest share the last one).
pair_colours = ("#3a8a50", "#557", "#c80", "#a33", "#2a7ab0", "#888")

# The federation picture: a square SVG, the federation at its centre, its members on a circle around
# it and, in a confederation, each member federation's own communities on an outer circle, in the
# member's own sector, so that no two labels meet (each written outward from its node).
picture_radius = 150  # the members' circle, when none has members of its own
inner_radius = 110  # a confederation's member federations
outer_radius_min = 200  # a confederation's communities
# Room along the outer circle for each community's label, in pixels: labels as wide as
# `label_chars_max` characters stay clear of their neighbours at this spacing.
label_spacing_px = 100.0
label_chars_max = 22  # longer names are cut with "…" (the whole name is the node's title)
label_char_px = 7.0  # an upper bound of the 11 px system-ui font's average advance
label_gap_px = 5.0  # between a node's circle and its label
member_node_radius, child_node_radius, centre_node_radius = 18, 11, 30
picture_margin_px = 8.0
# Widest edge (the largest settled flow), in pixels; every other edge scales by its share of it.
edge_width_max = 12.0


def trade_buckets(start_ms: int, end_ms: int) -> tuple[str, int, int, int]:
    """(name, size in ms, first bucket's start, count): whole minutes, hours, days or weeks (UTC),
    the smallest size that covers start..end in at most `trade_buckets_max` buckets."""
    for name, size in trade_bucket_sizes_ms:
        first = start_ms - start_ms % size
        count = (end_ms - first) // size + 1
        if count <= trade_buckets_max or size == trade_bucket_sizes_ms[-1][1]:
            return name, size, first, min(count, trade_buckets_max)
    raise AssertionError("unreachable")


def trade_chart(settled: list[dict[str, Any]], end_ms: int, names: dict[str, str | None],
                money: Callable[[str, int], str] | None = None) -> dict[str, Any] | None:
    """Settled payments between communities per time bucket (by the time they were sent), stacked
    by pair of communities (from, to): a bar's height is the number of payments; each part's title
    says the pair, the count and the amount sent (in the sender's unit, so amounts of different
    units are never added; `money(community, minor)` writes it in that community's unit). The oldest
    buckets are dropped past `trade_buckets_max`."""
    if not settled:
        return None
    start_ms = min(row["sent_ms"] for row in settled)
    end_ms = max(end_ms, start_ms)
    unit, size, first, count = trade_buckets(start_ms, end_ms)
    first = max(first, end_ms - end_ms % size - (count - 1) * size)  # past 48 weeks, the last 48
    pairs: list[tuple[str, str]] = sorted({(row["from_community"], row["to_community"]) for row in settled})
    colour = {pair: pair_colours[min(index, len(pair_colours) - 1)] for index, pair in enumerate(pairs)}
    cells: dict[tuple[int, tuple[str, str]], dict[str, int]] = {}
    for row in settled:
        bucket = (row["sent_ms"] - first) // size
        if 0 <= bucket < count:
            cell = cells.setdefault((bucket, (row["from_community"], row["to_community"])), {"payments": 0, "sent": 0})
            cell["payments"] += 1
            cell["sent"] += row["amount"]
    totals = [sum(c["payments"] for (b, _), c in cells.items() if b == bucket) for bucket in range(count)]
    tallest = max(totals) or 1
    bar = chart_width / count
    bars = []
    for bucket in range(count):
        bottom = float(chart_height)
        parts = []
        for pair in pairs:
            cell = cells.get((bucket, pair))
            if cell is None:
                continue
            height = chart_height * cell["payments"] / tallest
            bottom -= height
            parts.append({"y": bottom, "height": height, "colour": colour[pair], "from": pair[0], "to": pair[1], **cell,
                          "sent_text": money(pair[0], cell["sent"]) if money is not None else str(cell["sent"]),
                          "from_name": names.get(pair[0]) or pair[0], "to_name": names.get(pair[1]) or pair[1]})
        bars.append({"x": bucket * bar, "width": max(1.0, bar - 1), "start_ms": first + bucket * size,
                     "payments": totals[bucket], "parts": parts})
    legend = [{"colour": colour[pair], "from_name": names.get(pair[0]) or pair[0], "to_name": names.get(pair[1]) or pair[1]}
              for pair in pairs]
    return {"width": chart_width, "height": chart_height, "bars": bars, "unit": unit, "tallest": tallest,
            "start_ms": first, "end_ms": first + count * size, "legend": legend,
            "payments": sum(totals)}


def _label(name: str) -> str:
    return name if len(name) <= label_chars_max else name[: label_chars_max - 1] + "…"


def _outward_label(node: dict[str, Any], angle: float, radius: float) -> None:
    """Write `node`'s label beyond its circle in the direction `angle` (from the picture's centre):
    to the right of a node on the right, to the left on the left, above or below at the top and the
    bottom, so labels point away from everything else drawn."""
    cos, sin = math.cos(angle), math.sin(angle)
    distance = radius + label_gap_px
    node["label_x"] = node["x"] + distance * cos
    node["label_y"] = node["y"] + distance * sin + 4  # the baseline sits a third of the font below centre
    if cos > 0.35:
        node["anchor"] = "start"
    elif cos < -0.35:
        node["anchor"] = "end"
    else:
        node["anchor"] = "middle"
        node["label_y"] += 8 if sin > 0 else -4


def federation_picture(name: str, members: list[dict[str, Any]], flows: list[dict[str, Any]],
                       children: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The federation as a node in the middle with its members on a circle around it, each member
    federation's own members (`children`) on an outer circle within its member's sector, and the
    settled trade flows between any two drawn as edges whose width is their share of the largest
    flow. Each label is written outward from its node (`label_x`, `label_y`, `anchor`), cut to
    `label_chars_max` characters; the picture is as large as its labels need. Numbers only: the
    template writes the names into the SVG as escaped text."""
    children = children or {}
    nested = any(children.get(member["member"]) for member in members)
    # Each member's share of the turn: its own members' count (at least one), so every community on
    # the outer circle has the same room.
    weights = [max(1, len(children.get(member["member"], []))) if nested else 1 for member in members]
    slots = max(1, sum(weights))
    outer = max(outer_radius_min if nested else picture_radius, label_spacing_px * slots / (2 * math.pi))
    inner = inner_radius if nested else outer
    label_px = label_char_px * max([len(_label(n["name"] or "")) for n in members]
                                   + [len(_label(c["name"] or "")) for below in children.values() for c in below]
                                   + [12])
    half = outer + member_node_radius + label_gap_px + label_px + picture_margin_px
    size = 2 * half
    centre = half
    nodes = []
    where: dict[str, tuple[float, float]] = {}
    start = -math.pi / 2 - math.pi * weights[0] / slots if members else 0.0  # the first member at the top
    turned = 0
    for index, member in enumerate(members):
        span = 2 * math.pi * weights[index] / slots
        angle = start + 2 * math.pi * turned / slots + span / 2
        turned += weights[index]
        below = children.get(member["member"], [])
        radius = inner if below else outer
        x, y = centre + radius * math.cos(angle), centre + radius * math.sin(angle)
        where[member["member"]] = (x, y)
        shown = member["name"] or member["member"][:10] + "…"
        node = {"id": member["member"], "name": shown, "label": _label(shown), "x": x, "y": y, "kind": member["kind"],
                "angle": angle}
        if below:  # inside the outer circle: its label goes below it, clear of its own members' labels
            node.update(label_x=x, label_y=y + member_node_radius + 14, anchor="middle")
        else:
            _outward_label(node, angle, member_node_radius)
        nodes.append(node)
        for place, child in enumerate(below):
            child_angle = angle - span / 2 + span * (place + 0.5) / len(below)
            cx, cy = centre + outer * math.cos(child_angle), centre + outer * math.sin(child_angle)
            where[child["member"]] = (cx, cy)
            child_shown = child["name"] or child["member"][:10] + "…"
            child_node = {"id": child["member"], "name": child_shown, "label": _label(child_shown), "x": cx, "y": cy,
                          "kind": child["kind"], "parent_x": x, "parent_y": y, "angle": child_angle}
            _outward_label(child_node, child_angle, child_node_radius)
            nodes.append(child_node)
    # A flow between communities drawn nowhere here (deeper than one level below) is not drawn.
    drawn = [flow for flow in flows if flow["from"] in where and flow["to"] in where and flow["from"] != flow["to"]]
    heaviest = max((flow["sent"] for flow in drawn), default=0) or 1
    edges = []
    for flow in drawn:
        (x1, y1), (x2, y2) = where[flow["from"]], where[flow["to"]]
        edges.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "from": flow["from"], "to": flow["to"],
                      "sent": flow["sent"], "sent_text": flow.get("sent_text", str(flow["sent"])),
                      "payments": flow["payments"],
                      "width": max(1.0, edge_width_max * flow["sent"] / heaviest)})
    # The drawing's box: every circle and every label's estimated box, and a margin; the SVG's view
    # is cut to it, so a picture wide for its labels is not as tall.
    boxes = [(centre - centre_node_radius, centre - centre_node_radius, centre + centre_node_radius,
              centre + centre_node_radius + 18)]
    centre_label = label_char_px * len(_label(name)) / 2
    boxes.append((centre - centre_label, centre, centre + centre_label, centre + centre_node_radius + 18))
    for node in nodes:
        radius = child_node_radius if "parent_x" in node else member_node_radius
        boxes.append((node["x"] - radius, node["y"] - radius, node["x"] + radius, node["y"] + radius))
        width = label_char_px * len(node["label"])
        left = {"start": node["label_x"], "end": node["label_x"] - width}.get(node["anchor"], node["label_x"] - width / 2)
        boxes.append((left, node["label_y"] - 12, left + width, node["label_y"] + 4))
    x0 = max(0.0, min(box[0] for box in boxes) - picture_margin_px)
    y0 = max(0.0, min(box[1] for box in boxes) - picture_margin_px)
    x1 = min(size, max(box[2] for box in boxes) + picture_margin_px)
    y1 = min(size, max(box[3] for box in boxes) + picture_margin_px)
    return {"size": size, "view": {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}, "centre": centre,
            "name": name, "label": _label(name), "nodes": nodes, "edges": edges, "centre_radius": centre_node_radius}
