"""The monthly report as one self-contained HTML page (inline CSS and SVG, no scripts).

One page that can be mailed, printed or attached to a reply to IMY without a web server:
the summary figures, requests per week by type, and each answered request's days to answer
against its legal deadline, then the case list (references and dates only).
"""

from __future__ import annotations

from html import escape

from dsr_bot.reports.report import MonthReport

# Colour-blind-safe palette (Okabe & Ito), one colour per request type.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000")
LATE = "#D55E00"
ON_TIME = "#0072B2"


def _weeks_chart(report: MonthReport) -> str:
    weeks = report.per_week()
    types = list(report.by_type())
    colour = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(types)}
    peak = max([sum(w.values()) for w in weeks.values()] + [1])
    width, height, left, bottom, bar = 560, 220, 40, 30, 48
    scale = (height - bottom - 20) / peak
    gap = (width - left) / max(len(weeks), 1)
    parts = [
        f'<svg viewBox="0 0 {width} {height + 20 * len(types)}" role="img" '
        'aria-label="Requests received per week by type">'
    ]
    parts.append(
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" '
        f'y2="{height - bottom}" stroke="#999"/>'
    )
    for tick in range(0, peak + 1, max(1, peak // 4)):
        y = height - bottom - tick * scale
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    for i, (week, counts) in enumerate(weeks.items()):
        x = left + i * gap + (gap - bar) / 2
        y = height - bottom
        for t in types:
            n = counts.get(t, 0)
            if n:
                h = n * scale
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                    f'fill="{colour[t]}"><title>{escape(week)}: {n} {escape(t)}</title></rect>'
                )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" '
            f'text-anchor="middle">{escape(week)}</text>'
        )
    for i, t in enumerate(types):
        y = height + 20 * i
        parts.append(f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{colour[t]}"/>')
        parts.append(f'<text x="{left + 18}" y="{y}">{escape(t.replace("_", " "))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _answer_chart(report: MonthReport) -> str:
    answered = report.answered
    if not answered:
        return "<p>No request received this month has been answered yet.</p>"
    longest = max(max(c.days_to_answer or 0, c.deadline_days) for c in answered)
    width, left, row = 560, 110, 18
    height = row * len(answered) + 40
    scale = (width - left - 20) / max(longest, 1)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Days to answer against the legal deadline">'
    ]
    for i, c in enumerate(answered):
        y = 10 + i * row
        days = c.days_to_answer or 0
        fill = ON_TIME if c.on_time else LATE
        deadline_x = left + c.deadline_days * scale
        parts.append(f'<text x="{left - 6}" y="{y + 11}" text-anchor="end">{escape(c.ref)}</text>')
        parts.append(
            f'<rect x="{left}" y="{y}" width="{max(days * scale, 1):.1f}" height="{row - 5}" '
            f'fill="{fill}"><title>{escape(c.ref)}: {days} days, deadline '
            f"{c.deadline_days} days</title></rect>"
        )
        parts.append(
            f'<line x1="{deadline_x:.1f}" y1="{y - 2}" x2="{deadline_x:.1f}" '
            f'y2="{y + row - 3}" stroke="#000" stroke-width="2"/>'
        )
    axis_y = height - 14
    parts.append(
        f'<text x="{left}" y="{axis_y + 10}">days from receipt; black mark = legal '
        "deadline (Art. 12(3), extended where recorded)</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _summary_rows(report: MonthReport) -> str:
    rows = []
    for metric, key, value in report.summary():
        name = metric.replace("_", " ") + (f": {key}" if key else "")
        rows.append(f"<tr><th>{escape(name)}</th><td>{escape(value or '-')}</td></tr>")
    return "".join(rows)


def _case_rows(report: MonthReport) -> str:
    rows = []
    for c in report.cases:
        cells = [
            c.ref,
            ", ".join(c.types),
            c.language,
            c.received_on.isoformat(),
            c.due_on.isoformat() + (" (extended)" if c.extended else ""),
            c.answered_on.isoformat() if c.answered_on else "open" if c.open else "closed",
            c.outcome or "",
            "" if c.on_time is None else "yes" if c.on_time else "LATE",
        ]
        rows.append("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in cells) + "</tr>")
    return "".join(rows)


CSS = """
body{font:14px/1.4 system-ui,sans-serif;max-width:820px;margin:2em auto;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse}th,td{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}
svg{width:100%;height:auto;font-size:11px}
@media print{body{margin:0}}
"""


def as_html(report: MonthReport, controller: str = "") -> str:
    title = f"Data-subject requests, {report.label}"
    who = f"<p>{escape(controller)}</p>" if controller else ""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>{who}"
        f"<p>Requests received {escape(report.label)}, figures as of "
        f"{report.as_of.isoformat()}. A request of several types counts once per type.</p>"
        f"<table>{_summary_rows(report)}</table>"
        f"<h2>Requests per week, by type</h2>{_weeks_chart(report)}"
        f"<h2>Days to answer against the legal deadline</h2>{_answer_chart(report)}"
        "<h2>Cases</h2><table><tr><th>Ref</th><th>Types</th><th>Lang</th><th>Received</th>"
        "<th>Due</th><th>Answered</th><th>Outcome</th><th>On time</th></tr>"
        f"{_case_rows(report)}</table>"
        "</body></html>\n"
    )
