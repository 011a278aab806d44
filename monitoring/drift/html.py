"""The standalone HTML drift report, rendered by Evidently.

One page: a summary counter, the table of every check, then Evidently's
``ValueDrift`` widgets (distribution plots) for the score and the features
that drifted or came closest to their threshold. ``ValueDrift`` recomputes its
test on exactly the prepared columns the calculator compared, so the plotted
verdicts match the stored ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.metric_types import render_widgets
from evidently.legacy.renderers.html_widgets import CounterData, counter, group_widget, table_data
from evidently.metrics import ValueDrift

from monitoring.drift import prepare
from monitoring.drift.calculator import DriftCalculator
from monitoring.drift.plan import PSI
from monitoring.drift.render import pick_features
from monitoring.drift.result import DriftResult
from shared.pseudonym import Pseudonymiser


def _value_drift_widgets(calc: DriftCalculator, frame: pd.DataFrame | prepare.Columns, result: DriftResult,
                         limit: int) -> list:
    plans = {p.name: p for p in calc.plans}
    thresholds = {c.name: c.threshold for c in result.checks if c.test == plans[c.name].test}
    names = pick_features(result, limit)
    current: dict[str, pd.Series] = {}
    reference: dict[str, pd.Series] = {}
    numerical: list[str] = []
    categorical: list[str] = []
    metrics: list[ValueDrift] = []
    for name in names:
        plan = plans[name]
        ref, cur = calc.prepared(plan, frame[name])
        reference[name], current[name] = ref, cur
        (categorical if plan.discrete else numerical).append(name)
        metrics.append(ValueDrift(column=name, method=plan.test, threshold=thresholds[name]))
    if result.score is not None and result.score.value is not None and calc.score_reference is not None:
        reference[prepare.SCORE] = pd.Series(calc.score_reference)
        current[prepare.SCORE] = frame[prepare.SCORE].dropna()
        numerical.insert(0, prepare.SCORE)
        metrics.insert(0, ValueDrift(column=prepare.SCORE, method=PSI, threshold=result.score.threshold))
    if not metrics:
        return []
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    snapshot = Report(metrics).run(
        Dataset.from_pandas(pd.DataFrame(current), data_definition=definition),
        Dataset.from_pandas(pd.DataFrame(reference), data_definition=definition),
    )
    widgets: list = []
    for metric_result in snapshot.metric_results.values():
        widgets.extend(metric_result.widget or [])
    return widgets


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _ordered(result: DriftResult) -> list:
    """Drifted checks first, then the closest to their threshold."""
    return sorted(result.checks, key=lambda c: (not c.drifted, -((c.value or 0) / c.threshold)))


def _summary_widgets(result: DriftResult) -> list:
    window = result.window
    first = window.get("first_event") or window.get("since") or "?"
    span = f"{first} to {window.get('last_event') or window.get('until') or '?'}"
    score = result.score
    counters = [
        CounterData("Scored applications in the window", f"{result.n_current:,}"),
        CounterData("Reference applications", f"{result.n_reference:,}"),
        CounterData("Drifted features", f"{len(result.drifted_features)} of {result.n_features}"),
        CounterData("Score PSI", _fmt(score.value if score else None, 3) or "n/a"),
    ]
    rows = [[c.name, c.test, _fmt(c.value), _fmt(c.threshold), "DRIFT" if c.drifted else ("-" if c.status == "ok"
             else c.status), _fmt(c.reference_value), _fmt(c.current_value), c.n_current]
            for c in ([score] if score else []) + _ordered(result)]
    return [
        counter(counters=counters, title=f"Drift report {result.timestamp} - window {span} - model "
                f"{result.model_version or '?'}"),
        table_data(title="Every check (value >= threshold means drift; shares are fractions, means in the "
                         "feature's unit)",
                   column_names=["feature", "test", "value", "threshold", "verdict", "reference", "current",
                                 "current values"], data=rows),
    ]


def write_html(calc: DriftCalculator, frame: pd.DataFrame | prepare.Columns | None, result: DriftResult,
               reports_dir: Path, max_features: int, pseudonymiser: Pseudonymiser | None = None) -> Path:
    """Render the report to ``reports_dir/drift-<time>-<id>.html`` and return its path.

    The page passes through ``pseudonymiser`` (a redacting one when None): a client id
    never reaches a report file in clear.
    """
    reports_dir.mkdir(parents=True, exist_ok=True)
    widgets = _summary_widgets(result)
    if frame is not None and result.status == "ok":
        widgets.append(group_widget(title="Distributions: reference vs current",
                                    widgets=_value_drift_widgets(calc, frame, result, max_features)))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = reports_dir / f"drift-{stamp}-{result.report_id[:8]}.html"
    tmp = path.with_suffix(".tmp")
    page = (pseudonymiser or Pseudonymiser(None)).text(render_widgets(widgets))
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
