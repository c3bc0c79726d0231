"""Geometry for small server-rendered SVG bar charts (no JavaScript, nothing to load)."""

WIDTH, HEIGHT, GAP = 600, 120, 2


def bar_chart(buckets, *, label_format):
    """Bars for UsageBuckets: the sessions bar, and the failures part drawn over it."""
    peak = max((bucket.sessions for bucket in buckets), default=0) or 1
    step = WIDTH / max(len(buckets), 1)
    bars = []
    for index, bucket in enumerate(buckets):
        total_height = HEIGHT * bucket.sessions / peak
        failure_height = HEIGHT * bucket.failures / peak
        bars.append(
            {
                "x": round(index * step + GAP / 2, 1),
                "width": round(step - GAP, 1),
                "y": round(HEIGHT - total_height, 1),
                "height": round(total_height, 1),
                "failure_y": round(HEIGHT - failure_height, 1),
                "failure_height": round(failure_height, 1),
                "label": bucket.start.strftime(label_format),
                "sessions": bucket.sessions,
                "failures": bucket.failures,
            }
        )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "peak": peak,
        "sessions": sum(b.sessions for b in buckets),
        "failures": sum(b.failures for b in buckets),
    }
