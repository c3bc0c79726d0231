"""Geometry for small server-rendered SVG bar charts (no JavaScript, nothing to load), with their axes."""

WIDTH, HEIGHT, GAP = 600, 120, 2
# Room around the bars for the axes: the count's ticks on the left, the time's labels and title below.
LEFT, TOP, BOTTOM, RIGHT = 40, 8, 34, 24


def _y_ticks(peak):
    """0, half the peak (when it is a whole number of sessions) and the peak, from the bottom."""
    values = sorted({0, peak // 2 if peak % 2 == 0 else None, peak} - {None})
    return [{"y": round(TOP + HEIGHT - HEIGHT * value / peak, 1), "label": str(value)} for value in values]


def bar_chart(buckets, *, label_format, x_title):
    """Bars for UsageBuckets (the sessions bar, and the failures part drawn over it) and the chart's axes:
    the number of sessions up the left, time (`x_title`, e.g. "hour") along the bottom."""
    peak = max((bucket.sessions for bucket in buckets), default=0) or 1
    step = WIDTH / max(len(buckets), 1)
    bars = []
    for index, bucket in enumerate(buckets):
        total_height = HEIGHT * bucket.sessions / peak
        failure_height = HEIGHT * bucket.failures / peak
        bars.append(
            {
                "x": round(LEFT + index * step + GAP / 2, 1),
                "width": round(step - GAP, 1),
                "y": round(TOP + HEIGHT - total_height, 1),
                "height": round(total_height, 1),
                "failure_y": round(TOP + HEIGHT - failure_height, 1),
                "failure_height": round(failure_height, 1),
                "label": bucket.start.strftime(label_format),
                "sessions": bucket.sessions,
                "failures": bucket.failures,
            }
        )
    # The first, middle and last bucket's labels under their bars.
    labelled = sorted({0, len(bars) // 2, len(bars) - 1}) if bars else []
    x_ticks = [{"x": round(bars[i]["x"] + bars[i]["width"] / 2, 1), "label": bars[i]["label"]} for i in labelled]
    return {
        "width": LEFT + WIDTH + RIGHT,
        "height": TOP + HEIGHT + BOTTOM,
        "plot": {"left": LEFT, "right": LEFT + WIDTH, "top": TOP, "bottom": TOP + HEIGHT},
        "bars": bars,
        "y_ticks": _y_ticks(peak),
        "x_ticks": x_ticks,
        "y_title": "sessions",
        "x_title": x_title,
        "peak": peak,
        "sessions": sum(b.sessions for b in buckets),
        "failures": sum(b.failures for b in buckets),
    }


def series_chart(points, *, label_format, unit):
    """Bars for (start, value) points of one quantity in `unit`, with what labels its axes: the peak (y) and
    the first, middle and last periods (x)."""
    values = [float(value) for _, value in points]
    peak = max(values, default=0) or 1
    step = WIDTH / max(len(points), 1)
    bars = []
    for index, ((start, value), number) in enumerate(zip(points, values, strict=True)):
        height = HEIGHT * number / peak
        bars.append(
            {
                "x": round(index * step + GAP / 2, 1),
                "width": round(step - GAP, 1),
                "y": round(HEIGHT - height, 1),
                "height": round(height, 1),
                "label": start.strftime(label_format),
                "value": value,
            }
        )
    ticks = [bars[i] | {"center": round(bars[i]["x"] + bars[i]["width"] / 2, 1)} for i in
             sorted({0, len(bars) // 2, len(bars) - 1})] if bars else []  # fmt: skip
    return {"width": WIDTH, "height": HEIGHT, "bars": bars, "peak": peak, "total": sum(values), "unit": unit,
            "ticks": ticks}  # fmt: skip
