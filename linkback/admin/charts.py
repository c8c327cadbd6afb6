"""Traffic charts drawn on the server as inline SVG, and the sentences that explain them.

No JavaScript and no chart library: a linkback's days become two sets of bars, raw hits
behind and compensated value in front, so the gap between them is what fraud compensation
discarded. Every number placed in the SVG is formatted here; every text is escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape

from .. import counting

#: Past this many days the chart shows weeks instead of days.
MAX_DAILY_BARS = 120

WIDTH = 760
HEIGHT = 240
LEFT = 48
RIGHT = 12
TOP = 14
BOTTOM = 34

HITS_COLOUR = "#c9d3e3"
VALUE_COLOUR = "#2f5fb3"
GRID_COLOUR = "#e6e9ef"
TEXT_COLOUR = "#5b6475"


def _buckets(days: Iterable[Mapping[str, Any]], today: dt.date) -> tuple[list[tuple[dt.date, int, float]], str]:
    """Fill the gaps between the first day and today with zeros; weeks when the span is long."""
    by_day = {dt.date.fromisoformat(d["day"]): (int(d["hits"]), float(d["value"])) for d in days}
    if not by_day:
        return [], "day"
    first = min(by_day)
    last = max(max(by_day), today)
    span = (last - first).days + 1
    if span <= MAX_DAILY_BARS:
        return [
            (first + dt.timedelta(n), *by_day.get(first + dt.timedelta(n), (0, 0.0))) for n in range(span)
        ], "day"
    weeks: dict[dt.date, list[float]] = {}
    start = first - dt.timedelta(first.weekday())
    monday = start
    while monday <= last:
        weeks[monday] = [0, 0.0]
        monday += dt.timedelta(7)
    for day, (hits, value) in by_day.items():
        bucket = weeks[day - dt.timedelta(day.weekday())]
        bucket[0] += hits
        bucket[1] += value
    return [(day, int(h), v) for day, (h, v) in sorted(weeks.items())], "week"


def _nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 × 10ⁿ at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)


def _number(value: float) -> str:
    return "%d" % value if value == int(value) else "%.1f" % value


def traffic_chart(days: Iterable[Mapping[str, Any]], *, today: dt.date | None = None) -> Markup:
    """An inline SVG of daily raw hits against compensated value.

    :param days: ``Store.daily(id)`` rows: ``day`` (YYYY-MM-DD), ``hits``, ``value``.
    :param today: the last day drawn (default: today, UTC).
    """
    today = today or dt.datetime.now(dt.UTC).date()
    buckets, unit = _buckets(days, today)
    if not buckets:
        return Markup('<p class="muted">No traffic recorded yet.</p>')
    top = _nice_max(max(max(h, v) for _, h, v in buckets))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    step = plot_w / len(buckets)
    bar = max(1.0, step * 0.78)
    parts = [
        '<svg class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="chart-title"'
        ' xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">'
        % (WIDTH, HEIGHT),
        '<title id="chart-title">Raw hits and compensated value per %s, %s to %s</title>'
        % (unit, buckets[0][0].isoformat(), buckets[-1][0].isoformat()),
    ]
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            '<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>' % (LEFT, WIDTH - RIGHT, y, y, GRID_COLOUR)
        )
        parts.append(
            '<text x="%d" y="%.1f" text-anchor="end" fill="%s">%s</text>'
            % (LEFT - 6, y + 4, TEXT_COLOUR, _number(top * fraction))
        )
    for index, (day, hits, value) in enumerate(buckets):
        x = LEFT + index * step + (step - bar) / 2
        label = "%s %s: %d hits, value %.1f" % (unit.capitalize(), day.isoformat(), hits, value)
        for amount, colour in ((hits, HITS_COLOUR), (value, VALUE_COLOUR)):
            if amount <= 0:
                continue
            h = max(1.0, plot_h * amount / top)
            parts.append(
                '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>'
                % (x, TOP + plot_h - h, bar, h, colour, escape(label))
            )
    ticks = sorted({0, len(buckets) // 3, 2 * len(buckets) // 3, len(buckets) - 1})
    for index in ticks:
        x = LEFT + index * step + step / 2
        anchor = "start" if index == 0 else "end" if index == len(buckets) - 1 else "middle"
        if index == 0:
            x = LEFT
        elif index == len(buckets) - 1:
            x = WIDTH - RIGHT
        parts.append(
            '<text x="%.1f" y="%d" text-anchor="%s" fill="%s">%s</text>'
            % (x, HEIGHT - 12, anchor, TEXT_COLOUR, buckets[index][0].strftime("%d %b %Y"))
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def explain_recency(bias: float) -> str:
    """One plain sentence on what a recency bias figure says."""
    if bias >= 3:
        trend = "most of its traffic came recently: this linkback is growing"
    elif bias <= -3:
        trend = "most of its traffic came early on: this linkback is fading"
    else:
        trend = "its traffic is spread evenly over its life: it is holding steady"
    return (
        "Recency bias %+.1f: %s. The figure runs from −10 (all traffic on the first day seen)"
        " to +10 (all traffic today) and is 20 × (c − 0.5), where c is where the middle of the"
        " traffic falls between the first day and today." % (bias, trend)
    )


def explain_fraud(hits: int, value: float, pct: float) -> str:
    """One plain sentence on what fraud compensation did to a linkback's hits."""
    sentence = (
        "Fraud compensation kept a value of %s from %s raw hits (%s%% discarded). Each day,"
        " visitors fall into %s bins by a keyed hash of their address and browser whose key"
        " changes daily; no bin may count more than %s times the median of the others, so one"
        " client replaying a link a thousand times counts like an ordinary visitor."
        % (_number(round(value, 1)), f"{hits:,}", _number(pct), f"{counting.BINS:,}",
           _number(counting.CAP_FACTOR))
    )
    if pct >= 50:
        sentence += " More than half of the hits looked like replays: treat this one with suspicion."
    return sentence
