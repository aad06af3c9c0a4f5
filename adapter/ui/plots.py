"""Bar charts as SVG, rendered here (no script, nothing from the internet; the CSP allows no inline style).

Each chart is an `<svg role="img">` with a `<title>` and a `<desc>` listing every value, so a
screen reader reads the figures, and every bar carries its value as text, not only its height.
"""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, PAD, LABEL = 560, 220, 28, 34
COLOUR = "#1f5fa6"  # contrast 6.6:1 on white


def bar_chart(values: list[tuple[str, float | None]], *, title: str, maximum: float | None = None, percent: bool = False) -> str:
    """One bar per (label, value); None draws no bar and says "–"."""
    known = [v for _, v in values if v is not None]
    top = maximum if maximum is not None else max(known + [1.0])
    step = (WIDTH - 2 * PAD) / max(len(values), 1)
    usable = HEIGHT - PAD - LABEL
    shown = [(label, "–" if v is None else (f"{v:.0%}" if percent else f"{v:g}")) for label, v in values]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'aria-labelledby="t d"><title id="t">{escape(title)}</title>'
             f'<desc id="d">{escape("; ".join(f"{label}: {text}" for label, text in shown))}</desc>',
             f'<line x1="{PAD}" y1="{HEIGHT - LABEL}" x2="{WIDTH - PAD}" y2="{HEIGHT - LABEL}" stroke="#333" />']
    for n, ((label, value), (_, text)) in enumerate(zip(values, shown)):
        x = PAD + n * step + step * 0.15
        width = step * 0.7
        height = 0 if value is None or top <= 0 else usable * min(value, top) / top
        y = HEIGHT - LABEL - height
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{COLOUR}" />')
        parts.append(f'<text x="{x + width / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="12">{escape(text)}</text>')
        parts.append(f'<text x="{x + width / 2:.1f}" y="{HEIGHT - LABEL + 16:.1f}" text-anchor="middle" font-size="12">'
                     f'{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
