"""The Decision lookup: by event id or job id, stored or computed reasons, and the words shown."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitoring.dashboard.pages.decision import render, waterfall
from monitoring.decision import Decision, DecisionFinder, sentences, show_value
from monitoring.exceptions import DecisionNotFoundError
from shared.event import ScoringEvent
from shared.explain import Explainer, sigmoid
from shared.scorer import Scorer
from shared.store.sqlite import SQLiteEventStore
from tests.utils.data import synthetic_applications


@pytest.fixture(scope="module")
def scorer(tiny_bundle: Path) -> Scorer:
    return Scorer.load(tiny_bundle)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteEventStore:
    store = SQLiteEventStore(tmp_path / "events.sqlite3")
    store.setup()
    yield store
    store.close()


def _event(scorer: Scorer, application: dict, *, explanation: dict | None = None, job_id: str | None = None,
           model_version: str | None = None, event_id: str | None = None) -> dict:
    features = {k: v for k, v in application.items() if k != "SK_ID_CURR"}
    result = scorer.score(features)
    event = ScoringEvent(path="async" if job_id else "sync", status="ok",
                         model_version=model_version or result.model_version, job_id=job_id, features=features,
                         score=result.probability, decision=result.decision, threshold=result.threshold,
                         explanation=explanation, timestamp=datetime.now(UTC).isoformat())
    if event_id:
        event.event_id = event_id
    return event.to_dict()


def test_a_stored_explanation_is_shown_as_stored(store: SQLiteEventStore, scorer: Scorer, tiny_bundle: Path) -> None:
    application = synthetic_applications(1, seed=71)[0]
    explanation = Explainer.load(tiny_bundle, scorer.metadata).explain([application])[0]
    event = _event(scorer, application, explanation=explanation, event_id="e-stored")
    store.index_events([event])
    decision = DecisionFinder(store, tiny_bundle).find("e-stored")
    assert decision.explanation == explanation and not decision.computed
    assert math.isclose(sigmoid(decision.explanation["raw_score"]), event["score"], abs_tol=1e-4)


def test_without_a_stored_one_it_is_computed_from_the_features(store: SQLiteEventStore, scorer: Scorer,
                                                               tiny_bundle: Path) -> None:
    application = synthetic_applications(1, seed=72)[0]
    store.index_events([_event(scorer, application, event_id="e-plain")])
    decision = DecisionFinder(store, tiny_bundle).find(" e-plain ")
    assert decision.computed and decision.explanation is not None
    assert decision.explanation == Explainer.load(tiny_bundle, scorer.metadata).explain([application])[0]
    assert math.isclose(sigmoid(decision.explanation["raw_score"]), decision.event["score"], abs_tol=1e-4)


def test_a_job_id_finds_its_first_application(store: SQLiteEventStore, scorer: Scorer, tiny_bundle: Path) -> None:
    applications = synthetic_applications(3, seed=73)
    store.index_events([_event(scorer, a, job_id="job-1", event_id=f"j{i}") for i, a in enumerate(applications)])
    decision = DecisionFinder(store, tiny_bundle).find("job-1")
    assert decision.event["event_id"] == "j0" and decision.others == ["j1", "j2"]


def test_another_model_s_decision_is_not_explained_with_this_one(store: SQLiteEventStore, scorer: Scorer,
                                                                 tiny_bundle: Path) -> None:
    store.index_events([_event(scorer, synthetic_applications(1, seed=74)[0], model_version="older", event_id="o")])
    decision = DecisionFinder(store, tiny_bundle).find("o")
    assert decision.explanation is None and "older" in decision.note


def test_unknown_ids_are_said_so(store: SQLiteEventStore, tiny_bundle: Path) -> None:
    with pytest.raises(DecisionNotFoundError, match="nope"):
        DecisionFinder(store, tiny_bundle).find("nope")


def test_words_and_waterfall(scorer: Scorer, tiny_bundle: Path) -> None:
    explainer = Explainer.load(tiny_bundle, scorer.metadata)
    application = synthetic_applications(1, seed=75)[0]
    explanation = explainer.explain([application])[0]
    result = scorer.score(application)
    event = {"event_id": "x", "status": "ok", "score": result.probability, "threshold": result.threshold,
             "decision": result.decision, "model_version": result.model_version, "path": "sync", "timestamp": "t"}
    lines = sentences(Decision(event, explanation))
    assert result.decision in lines[0] and f"{result.probability:.1%}" in lines[0]
    assert len([line for line in lines if "the risk" in line]) == len(explanation["reasons"])
    fig = waterfall(explanation, result.threshold)
    steps = fig.data[0]
    assert list(steps.measure) == ["absolute", *["relative"] * 6, "total"]
    assert math.isclose(sum(steps.y[:-1]), steps.y[-1], abs_tol=1e-9)  # the bars add up to the score
    assert any(shape.line.dash == "dash" for shape in fig.layout.shapes)  # the threshold line
    json.dumps(render(Decision(event, explanation)).to_plotly_json(), default=str)


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("DAYS_BIRTH", -9131, "25.0 years"), ("DAYS_EMPLOYED", 365243, "not employed (pensioner or unemployed)"),
    ("AMT_CREDIT", 406597.5, "406,598"), ("FLAG_OWN_CAR", 1, "yes"), ("EXT_SOURCE_3", None, "not given"),
    ("NAME_EDUCATION_TYPE", "Higher education", "Higher education"), ("AGE_YEARS", 34.6, "35 years"),
])
def test_values_read_as_a_person_reads_them(name: str, value: object, shown: str) -> None:
    assert show_value(name, value) == shown
