"""The Billing grid's charts as inline SVG, drawn on the server: no JavaScript
library, no CDN, nothing to load (the page's CSP allows neither inline
scripts nor inline styles; SVG presentation attributes are neither).

Each chart is a `<svg role="img">` with a `<title>` and a `<desc>` that
summarise it for screen readers, a `<title>` on every bar (its value on
hover), a legend in HTML beside it and the same numbers as a table on the
page (templates/billing/_grid_chart.html). The drawing uses a small viewBox
(360 units wide) and scales to its container: at 390 px wide the text is
drawn at about its nominal size, so it stays readable on a phone.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from markupsafe import Markup, escape

from rerate.billing.grid import Ranked, Stacked

# Colour-blind-safe palette (Okabe-Ito), then grey for "Other".
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
OTHER_COLOUR = "#8a8f98"

WIDTH = 360
HEIGHT = 200
LEFT = 48  # room for the y-axis labels
RIGHT = 6
TOP = 10
BOTTOM = 30  # room for the x-axis labels
FONT = 11


def colour(index: int, name: str) -> str:
    return OTHER_COLOUR if name == "Other" else PALETTE[index % len(PALETTE)]


def short_amount(value: Decimal) -> str:
    """Axis labels: 1.2k, 35k, 1.5M (the exact amounts are in the table)."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    for limit, suffix in (
        (Decimal(1_000_000_000), "G"),
        (Decimal(1_000_000), "M"),
        (Decimal(1000), "k"),
    ):
        if v >= limit:
            scaled = v / limit
            places = Decimal("1") if scaled >= 10 else Decimal("0.1")
            return f"{sign}{scaled.quantize(places, rounding=ROUND_HALF_UP).normalize():f}{suffix}"
    places = Decimal("1") if v >= 10 else Decimal("0.01")
    return f"{sign}{v.quantize(places, rounding=ROUND_HALF_UP).normalize():f}"


def nice_max(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        candidate = step.scaleb(exponent)
        if candidate >= value:
            return candidate
    return Decimal(10).scaleb(exponent)  # pragma: no cover - 10 always suffices


def _bucket_label(bucket: str) -> str:
    # "2026-08-03" -> "08-03"; "2026-08" -> "2026-08"
    return bucket[5:] if len(bucket) == 10 else bucket


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def stacked_bars(chart_id: str, title: str, data: Stacked, currency: str) -> Markup:
    """Stacked columns: one per bucket, a segment per series (negative amounts,
    credits, are drawn from zero downwards)."""
    buckets = data.buckets
    positive = [
        sum((max(data.value(b, s), Decimal(0)) for s in data.series), Decimal(0)) for b in buckets
    ]
    negative = [
        sum((min(data.value(b, s), Decimal(0)) for s in data.series), Decimal(0)) for b in buckets
    ]
    top = nice_max(max(positive, default=Decimal(0)))
    bottom = -nice_max(-min(negative)) if negative and min(negative) < 0 else Decimal(0)
    span = top - bottom
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def y(v: Decimal) -> float:
        return TOP + float((top - v) / span) * plot_h

    total = sum((data.bucket_total(b) for b in buckets), Decimal(0))
    desc = (
        f"{len(data.series)} series over {len(buckets)} periods from "
        f"{buckets[0] if buckets else ''} to {buckets[-1] if buckets else ''}; total "
        f"{total.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f} {currency}. "
        "The table below the chart has every value."
    )
    out = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" '
        'preserveAspectRatio="xMidYMid meet" font-family="inherit" '
        f'font-size="{FONT}">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(desc)}</desc>',
    ]
    # Grid lines and y labels: four steps between bottom and top.
    for i in range(5):
        v = bottom + span * i / 4
        yy = y(v)
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(yy)}" y2="{_num(yy)}" '
            f'stroke="{"#667085" if v == 0 else "#e4e7ec"}" stroke-width="{1 if v == 0 else 0.6}"/>'
        )
        out.append(
            f'<text x="{LEFT - 4}" y="{_num(yy + 3)}" text-anchor="end" fill="#475467">'
            f"{escape(short_amount(v))}</text>"
        )
    n = max(len(buckets), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.72, 0.8)
    label_every = max(1, -(-n // 6))  # at most ~6 x labels: they never overlap at 390 px
    for i, b in enumerate(buckets):
        x = LEFT + i * slot + (slot - bar_w) / 2
        up, down = Decimal(0), Decimal(0)
        for k, s in enumerate(data.series):
            v = data.value(b, s)
            if v == 0:
                continue
            if v > 0:
                y0, y1 = y(up + v), y(up)
                up += v
            else:
                y0, y1 = y(down), y(down + v)
                down += v
            out.append(
                f'<rect x="{_num(x)}" y="{_num(y0)}" width="{_num(bar_w)}" '
                f'height="{_num(max(y1 - y0, 0.5))}" fill="{colour(k, s)}">'
                f"<title>{escape(b)} · {escape(s)}: {v:f} {escape(currency)}</title></rect>"
            )
        if i % label_every == 0:
            out.append(
                f'<text x="{_num(LEFT + i * slot + slot / 2)}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle" fill="#475467">{escape(_bucket_label(b))}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


BAR_H = 18
GAP = 6
LABEL_W = 120


def ranked_bars(chart_id: str, title: str, items: list[Ranked], currency: str) -> Markup:
    """Horizontal bars, largest first, the name left and the amount on the bar."""
    height = TOP + len(items) * (BAR_H + GAP) + 4
    largest = max((i.amount for i in items), default=Decimal(0))
    scale_max = largest if largest > 0 else Decimal(1)
    plot_w = WIDTH - LABEL_W - RIGHT - 44
    desc = "; ".join(
        f"{i.label}: {i.amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f} {currency}"
        for i in items
    )
    out = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {max(height, 30)}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" '
        f'font-family="inherit" font-size="{FONT}">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(desc or "No spend.")}</desc>',
    ]
    for n, item in enumerate(items):
        yy = TOP + n * (BAR_H + GAP)
        w = max(float(max(item.amount, Decimal(0)) / scale_max) * plot_w, 1.0)
        label = item.label if len(item.label) <= 20 else item.label[:19] + "…"
        out.append(
            f'<text x="{LABEL_W - 4}" y="{_num(yy + BAR_H * 0.7)}" text-anchor="end" '
            f'fill="#344054">{escape(label)}</text>'
        )
        out.append(
            f'<rect x="{LABEL_W}" y="{yy}" width="{_num(w)}" height="{BAR_H}" '
            f'fill="{PALETTE[0]}"><title>{escape(item.label)}: {item.amount:f} '
            f"{escape(currency)}</title></rect>"
        )
        out.append(
            f'<text x="{_num(LABEL_W + w + 3)}" y="{_num(yy + BAR_H * 0.7)}" '
            f'fill="#344054">{escape(short_amount(item.amount))}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))
