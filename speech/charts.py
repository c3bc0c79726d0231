"""Geometry for small server-rendered SVG bar charts (no JavaScript, nothing to load), with their axes."""

WIDTH, HEIGHT, GAP = 600, 120, 2
# Room around the bars for the axes: the count's ticks on the left, the time's labels and title below.
LEFT, TOP, BOTTOM, RIGHT = 40, 8, 34, 24


def _y_ticks(peak):
    """0, half the peak (for counts, when it is a whole number) and the peak, from the bottom."""
    half = peak / 2
    values = sorted({0, peak} | ({half} if not isinstance(peak, int) or peak % 2 == 0 else set()))
    return [{"y": round(TOP + HEIGHT - HEIGHT * value / peak, 1), "label": f"{value:g}"} for value in values]


def _chart(starts, values, *, label_format, y_title, x_title):
    """One bar per period (`starts`, each with its value) and the chart's axes: `y_title` up the left, time
    (`x_title`, e.g. "hour") along the bottom, the first, middle and last periods labelled under their bars."""
    peak = max(values, default=0) or 1
    step = WIDTH / max(len(values), 1)
    bars = []
    for index, (start, value) in enumerate(zip(starts, values, strict=True)):
        height = HEIGHT * value / peak
        bars.append({
            "x": round(LEFT + index * step + GAP / 2, 1), "width": round(step - GAP, 1),
            "y": round(TOP + HEIGHT - height, 1), "height": round(height, 1),
            "label": start.strftime(label_format), "value": value,
        })  # fmt: skip
    labelled = sorted({0, len(bars) // 2, len(bars) - 1}) if bars else []
    return {
        "width": LEFT + WIDTH + RIGHT,
        "height": TOP + HEIGHT + BOTTOM,
        "plot": {"left": LEFT, "right": LEFT + WIDTH, "top": TOP, "bottom": TOP + HEIGHT},
        "bars": bars,
        "y_ticks": _y_ticks(peak),
        "x_ticks": [{"x": round(bars[i]["x"] + bars[i]["width"] / 2, 1), "label": bars[i]["label"]} for i in labelled],
        "y_title": y_title,
        "x_title": x_title,
        "peak": peak,
        "total": sum(values),
    }


def bar_chart(buckets, *, label_format, x_title):
    """Sessions per UsageBucket, with the failures among them drawn over each bar."""
    chart = _chart([b.start for b in buckets], [b.sessions for b in buckets], label_format=label_format,
                   y_title="sessions", x_title=x_title)  # fmt: skip
    for bar, bucket in zip(chart["bars"], buckets, strict=True):
        failure_height = HEIGHT * bucket.failures / chart["peak"]
        bar.update(
            sessions=bucket.sessions,
            failures=bucket.failures,
            failure_y=round(TOP + HEIGHT - failure_height, 1),
            failure_height=round(failure_height, 1),
        )
    return chart | {"sessions": chart["total"], "failures": sum(b.failures for b in buckets)}


def series_chart(points, *, label_format, unit, x_title):
    """One quantity in `unit` per period: (start, value) points."""
    return _chart([start for start, _ in points], [float(value) for _, value in points], label_format=label_format,
                  y_title=unit, x_title=x_title) | {"unit": unit}  # fmt: skip
