"""The standalone HTML drift report: one self-contained page, no script, no library to import.

The page holds a summary (counts, drifted features, the score's PSI), the table
of every check (test, value, threshold, verdict, reference and current figures),
then, for the score and the features that drifted or came closest to their
threshold, the test's verdict and the reference and current distributions as an
inline SVG bar chart. The distributions are the run's own (``DriftResult.distributions``:
shares per band of the reference's range, or per category), the ones the store
keeps and the dashboard plots, so the page needs nothing but the result and is
written in milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from monitoring.drift.result import DriftResult, FeatureCheck
from shared.pseudonym import Pseudonymiser

TEST_NAMES = {
    "wasserstein": "Wasserstein distance (normed)",
    "jensenshannon": "Jensen-Shannon distance",
    "psi": "PSI (population stability index)",
    "missing_share": "change of the share of missing values",
    "special_value_share": "change of the share of the special value",
}
DISTRIBUTION_TESTS = ("wasserstein", "jensenshannon")
REFERENCE_COLOUR, CURRENT_COLOUR = "#4c78a8", "#f58518"
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px} .sub{color:#666;margin-bottom:16px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:170px}
.card b{display:block;font-size:22px;margin-top:4px} table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:right} th{background:#f6f6f6;position:sticky;top:0}
td:first-child,th:first-child,td:nth-child(2),th:nth-child(2){text-align:left} tr.drift td{background:#fdecea}
.plots{display:flex;flex-wrap:wrap;gap:16px} .plot{border:1px solid #ddd;border-radius:6px;padding:8px 10px}
.plot h3{font-size:14px;margin:0 0 2px} .verdict{font-size:12px;color:#444;margin-bottom:4px}
.bad{color:#b3261e;font-weight:600} .key{font-size:12px}
.key i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
"""


def pick_features(result: DriftResult, limit: int) -> list[str]:
    """The features worth a plot: drifted first, then the closest to their threshold (``limit`` of them)."""
    ranked = sorted((c for c in result.checks if c.value is not None and c.test in DISTRIBUTION_TESTS),
                    key=lambda c: (not c.drifted, -(c.value or 0) / c.threshold))
    return [c.name for c in ranked[:limit]]


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _ordered(result: DriftResult) -> list[FeatureCheck]:
    """Drifted checks first, then the closest to their threshold."""
    return sorted(result.checks, key=lambda c: (not c.drifted, -((c.value or 0) / c.threshold)))


def _verdict(check: FeatureCheck) -> str:
    return "DRIFT" if check.drifted else ("-" if check.status == "ok" else check.status)


def _summary(result: DriftResult) -> str:
    window = result.window
    first = window.get("first_event") or window.get("since") or "?"
    span = f"{first} to {window.get('last_event') or window.get('until') or '?'}"
    score = result.score
    cards = [("Scored applications in the window", f"{result.n_current:,}"),
             ("Reference applications", f"{result.n_reference:,}"),
             ("Drifted features", f"{len(result.drifted_features)} of {result.n_features}"),
             ("Score PSI", _fmt(score.value if score else None, 3) or "n/a")]
    drifted = ", ".join(result.drifted_features) or "none"
    return (f"<h1>Drift report {escape(result.timestamp)}</h1><div class=sub>window {escape(span)} - model "
            f"{escape(result.model_version or '?')} - {escape(result.message)}</div><div class=cards>"
            + "".join(f"<div class=card>{escape(label)}<b>{escape(value)}</b></div>" for label, value in cards)
            + f"</div><p>Drifted features: {escape(drifted)}</p>")


def _table(result: DriftResult) -> str:
    head = ["feature", "test", "value", "threshold", "verdict", "reference", "current", "current values"]
    rows = []
    for c in ([result.score] if result.score else []) + _ordered(result):
        cells = [c.name, TEST_NAMES.get(c.test, c.test), _fmt(c.value), _fmt(c.threshold), _verdict(c),
                 _fmt(c.reference_value), _fmt(c.current_value), f"{c.n_current:,}"]
        rows.append(f"<tr{' class=drift' if c.drifted else ''}>"
                    + "".join(f"<td>{escape(str(cell))}</td>" for cell in cells) + "</tr>")
    return ("<h2>Every check</h2><p class=sub>Value at or above the threshold means drift; shares are fractions, "
            "means in the feature's unit.</p><table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _labels(distribution: dict[str, Any]) -> list[str]:
    if distribution.get("type") == "categorical":
        return [str(label) for label in distribution.get("labels", [])]
    edges = distribution.get("edges", [])
    return [f"{low:.4g} to {high:.4g}" for low, high in zip(edges[:-1], edges[1:], strict=False)]


def _chart(distribution: dict[str, Any], width: int = 540) -> str:
    """Reference and current shares side by side per band or category, as inline SVG."""
    reference, current = distribution.get("reference", []), distribution.get("current", [])
    labels = _labels(distribution)
    bands = min(len(reference), len(current), len(labels))
    if not bands:
        return "<p>no distribution</p>"
    top = max(max(reference[:bands]), max(current[:bands]), 1e-12)
    left, plot_h = 36, 120
    height = plot_h + (100 if distribution.get("type") == "categorical" else 30)
    step = (width - left - 6) / bands
    bar = max(step * 0.42, 1.0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<line x1="{left}" y1="{10 + plot_h}" x2="{width - 4}" y2="{10 + plot_h}" stroke="#999"/>',
             f'<text x="{left - 4}" y="16" font-size="10" text-anchor="end">{top:.0%}</text>',
             f'<text x="{left - 4}" y="{10 + plot_h}" font-size="10" text-anchor="end">0</text>']
    for i in range(bands):
        x = left + i * step
        for offset, share, colour, side in ((0.0, reference[i], REFERENCE_COLOUR, "reference"),
                                            (bar, current[i], CURRENT_COLOUR, "current")):
            h = plot_h * share / top
            parts.append(f'<rect x="{x + offset + step * 0.08:.1f}" y="{10 + plot_h - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{escape(labels[i])}: {side} '
                         f'{share:.2%}</title></rect>')
    if distribution.get("type") == "categorical":  # every category, its name slanted under its bars
        for i in range(bands):
            text = labels[i] if len(labels[i]) <= 22 else labels[i][:21] + "..."
            x, y = left + (i + 0.5) * step, 10 + plot_h + 10
            parts.append(f'<text x="{x:.1f}" y="{y}" font-size="9" text-anchor="end" '
                         f'transform="rotate(-35 {x:.1f} {y})">{escape(text)}</text>')
    else:  # the first, middle and last bands' ranges
        for i, anchor, x in ((0, "start", left), (bands // 2, "middle", left + (bands // 2 + 0.5) * step),
                             (bands - 1, "end", width - 4)):
            parts.append(f'<text x="{x:.1f}" y="{10 + plot_h + 14}" font-size="9" text-anchor="{anchor}">'
                         f'{escape(labels[i])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _plot(check: FeatureCheck, distribution: dict[str, Any] | None) -> str:
    verdict = "drift detected" if check.drifted else "no drift detected"
    return (f"<div class=plot><h3>{escape(check.name)}</h3><div class=verdict>"
            f"<span class={'bad' if check.drifted else 'ok'}>{verdict}</span> - "
            f"{escape(TEST_NAMES.get(check.test, check.test))}: {_fmt(check.value, 3)} "
            f"(threshold {_fmt(check.threshold, 3)})</div>"
            + (_chart(distribution) if distribution else "<p>no distribution</p>") + "</div>")


def _plots(result: DriftResult, limit: int) -> str:
    by_name = {c.name: c for c in result.checks if c.test in DISTRIBUTION_TESTS}
    checks = [by_name[name] for name in pick_features(result, limit)]
    if result.score is not None and result.score.value is not None:
        checks.insert(0, result.score)
    if not checks:
        return ""
    key = (f'<span class=key><i style="background:{REFERENCE_COLOUR}"></i>reference'
           f'<i style="background:{CURRENT_COLOUR}"></i>current (share of values)</span>')
    return ("<h2>Distributions: reference vs current</h2>" + key + "<div class=plots>"
            + "".join(_plot(c, result.distributions.get(c.name)) for c in checks) + "</div>")


def render_page(result: DriftResult, max_features: int) -> str:
    """The report page of ``result`` (``max_features`` feature plots besides the score's)."""
    body = _summary(result) + _table(result)
    if result.status == "ok":
        body += _plots(result, max_features)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Drift report '
            f"{escape(result.timestamp)}</title><style>{STYLE}</style></head><body>{body}</body></html>\n")


def write_html(result: DriftResult, reports_dir: Path, max_features: int,
               pseudonymiser: Pseudonymiser | None = None) -> Path:
    """Write the report to ``reports_dir/drift-<time>-<id>.html`` and return its path.

    The page passes through ``pseudonymiser`` (a redacting one when None): a client id
    never reaches a report file in clear.
    """
    reports_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = reports_dir / f"drift-{stamp}-{result.report_id[:8]}.html"
    tmp = path.with_suffix(".tmp")
    page = (pseudonymiser or Pseudonymiser(None)).text(render_page(result, max_features))
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
