"""Champion against shadow: agreement figures on a small example computed by hand."""

from __future__ import annotations

import pytest

from monitoring.models_compare import compare_shadow


def _event(score: float, decision: str, shadow_p: float | None, shadow_d: str | None) -> dict[str, object]:
    shadow = None if shadow_p is None else {"model_version": "v2", "probability": shadow_p, "decision": shadow_d}
    return {"model_version": "v1", "score": score, "decision": decision, "shadow": shadow}


def test_compare_shadow_by_hand() -> None:
    events = [
        _event(0.05, "approved", 0.06, "approved"),
        _event(0.20, "refused", 0.08, "approved"),   # the challenger would approve
        _event(0.09, "approved", 0.15, "refused"),   # the challenger would refuse
        _event(0.30, "refused", 0.35, "refused"),
        _event(0.01, "approved", None, None),        # not shadowed: left out
    ]
    result = compare_shadow(events)
    assert result["n"] == 4
    assert result["decision_agreement"] == pytest.approx(0.5)
    assert result["disagreements"] == {"champion refuses, challenger approves": 1,
                                       "champion approves, challenger refuses": 1}
    assert result["score_mean_abs_diff"] == pytest.approx((0.01 + 0.12 + 0.06 + 0.05) / 4)
    assert result["approval_rate"] == {"champion": 0.5, "challenger": 0.5}
    assert sum(result["histogram"]["champion"]) == sum(result["histogram"]["challenger"]) == 4
    assert result["champion_versions"] == ["v1"] and result["challenger_versions"] == ["v2"]


def test_compare_shadow_without_pairs() -> None:
    result = compare_shadow([_event(0.1, "approved", None, None)])
    assert result["n"] == 0 and result["decision_agreement"] is None


def test_performance_rows_per_model_version() -> None:
    from monitoring.dashboard.pages.models import performance_rows

    report = {"per_model_version": {
        "v1": {"n_scored": 10, "n_outcomes": 4, "realised": {"cost_per_application": 0.5, "auc": 0.7},
               "estimated": {"cost_per_application": 0.52, "auc": 0.71},
               "fairness": {"disparate_impact": {"CODE_GENDER": 0.9, "age_band": None}}},
        "v2": {"n_scored": 5, "n_outcomes": 0, "realised": None, "estimated": {"cost_per_application": 0.6}}}}
    rows = performance_rows(report)
    assert [r["version"] for r in rows] == ["v1", "v2"]
    assert rows[0]["cost_realised"] == "0.5000" and rows[0]["di_gender"] == "0.900" and rows[0]["di_age"] == "n/a"
    assert rows[1]["cost_realised"] == "n/a" and rows[1]["cost_estimated"] == "0.6000"
    assert performance_rows(None) == []
