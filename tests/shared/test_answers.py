"""The answers the scoring core builds have exactly the fields of their documented models."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from shared.columns import CLIENT_ID
from shared.event import ScoringEvent, Timings
from shared.exceptions import ExplanationUnavailableError, InputRefusedError
from shared.schema import example_application
from shared.scorer import Scorer
from shared.serving.answers import BatchResponse, JobBatch, JobScore, ScoreResponse
from shared.serving.core import ScoringCore
from shared.serving.events import EventBuilder


class ListPublisher:
    """Keeps the published events."""

    def __init__(self) -> None:
        self.events: list[ScoringEvent] = []

    def publish(self, event: Any) -> bool:
        self.events.append(event)
        return True


@pytest.fixture
def core(tiny_bundle: Path) -> ScoringCore:
    return ScoringCore(Scorer.load(tiny_bundle), EventBuilder(ListPublisher(), "answers-test-key"), max_batch_size=5)


# Present only when asked for (explain=true), or only on a derived column's reason.
ON_REQUEST = {"explanation", "derived_from"}


def _same_fields(answer: Any, model: type[BaseModel]) -> None:
    """``answer`` validates as ``model`` and has no field more or less (but ON_REQUEST ones), recursively."""
    parsed = model.model_validate(answer)
    fields = set(type(parsed).model_fields)
    assert set(answer) <= fields and fields - set(answer) <= ON_REQUEST, model.__name__
    for name, value in answer.items():
        child = getattr(parsed, name)
        if isinstance(child, BaseModel):
            _same_fields(value, type(child))
        elif isinstance(child, list) and child and isinstance(child[0], BaseModel):
            for item, parsed_item in zip(value, child, strict=True):
                _same_fields(item, type(parsed_item))


def _published(core: ScoringCore) -> list[ScoringEvent]:
    return core.events.publisher.events  # type: ignore[attr-defined, no-any-return]


def test_the_sync_answer_is_a_score_response_with_the_event_id(core: ScoringCore) -> None:
    answer = core.score_one(orjson.dumps(example_application()), "req-1")
    _same_fields(answer, ScoreResponse)
    [event] = _published(core)
    assert answer["event_id"] == event.event_id and event.status == "ok"


def test_the_batch_answer_is_a_batch_response_each_result_with_its_event_id(core: ScoringCore) -> None:
    bad = {**example_application(), "CODE_GENDER": "Q"}
    body = orjson.dumps({"applications": [example_application(), bad, example_application()]})
    answer = core.score_batch(core.parse(body, "sync", "req-2"), "req-2")
    _same_fields(answer, BatchResponse)
    ok = [e.event_id for e in _published(core) if e.status == "ok"]
    assert [r["event_id"] for r in answer["results"]] == ok and [r["index"] for r in answer["results"]] == [0, 2]


@pytest.mark.parametrize("single", [True, False])
def test_a_job_result_is_a_job_score_or_a_job_batch(core: ScoringCore, single: bool) -> None:
    applications = [example_application()] if single else [example_application(), example_application()]
    valid = core.validate_job(applications, list(range(len(applications))))
    results = core.scorer.score_batch([features for _, features, _ in valid])
    answer = core.job_answer(valid, results, single, Timings(validation_ms=0.1, queue_wait_ms=1.0), "r", "job-1")
    _same_fields(answer, JobScore if single else JobBatch)
    events = _published(core)
    assert all(e.job_id == "job-1" and e.path == "async" for e in events)
    ids = [answer["event_id"]] if single else [r["event_id"] for r in answer["results"]]
    assert ids == [e.event_id for e in events]


def test_a_refused_batch_item_emits_its_event_and_an_oversized_batch_is_refused(core: ScoringCore) -> None:
    body = orjson.dumps({"applications": [example_application()] * 6})
    with pytest.raises(InputRefusedError) as refused:
        core.parse(body, "sync", "req-3")
    assert refused.value.reason == "too_large" and refused.value.details == {"limit": 5}
    [event] = _published(core)
    assert event.status == "invalid" and event.error_type == "batch_too_large"


def test_a_job_with_an_invalid_application_names_its_index(core: ScoringCore) -> None:
    bad = {k: v for k, v in example_application().items() if k != CLIENT_ID}
    with pytest.raises(InputRefusedError, match="application 4 is invalid: SK_ID_CURR"):
        core.validate_job([example_application(), bad], [3, 4])
    assert _published(core) == []


def test_with_explain_every_answer_and_event_carries_the_same_reasons(core: ScoringCore) -> None:
    application = example_application()
    one = core.score_one(orjson.dumps(application), "req-e", explain=True)
    _same_fields(one, ScoreResponse)
    assert "explanation" not in core.score_one(orjson.dumps(application), "req-f")  # only when asked for
    body = orjson.dumps({"applications": [application, application]})
    batch = core.score_batch(core.parse(body, "sync", "req-g"), "req-g", explain=True)
    _same_fields(batch, BatchResponse)
    valid = core.validate_job([application], [0])
    results = core.scorer.score_batch([features for _, features, _ in valid])
    job = core.job_answer(valid, results, True, Timings(), "r", "job-e", core.explain([valid[0][1]]))
    _same_fields(job, JobScore)
    explanation = one["explanation"]
    assert batch["results"][0]["explanation"] == batch["results"][1]["explanation"] == explanation
    assert job["explanation"] == explanation
    stored = [e.explanation for e in _published(core)]
    assert stored == [explanation, None, explanation, explanation, explanation]


def test_explain_without_the_lightgbm_model_fails_with_error_events(tiny_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    (copy / "model.txt").unlink()  # a bundle built before explanations
    core = ScoringCore(Scorer.load(copy), EventBuilder(ListPublisher(), "answers-test-key"))
    assert "explanation" not in core.score_one(orjson.dumps(example_application()), "req-h")
    with pytest.raises(ExplanationUnavailableError):
        core.score_one(orjson.dumps(example_application()), "req-i", explain=True)
    events = _published(core)
    assert [e.status for e in events] == ["ok", "error"] and events[1].error_type == "explanation_unavailable"


def test_a_model_swapped_during_the_request_is_not_explained_with_the_new_one(core: ScoringCore,
                                                                               tiny_bundle: Path) -> None:
    with pytest.raises(ExplanationUnavailableError, match="retry"):
        core.explain([example_application()], model_version="another-version")
    swapped = Scorer.load(tiny_bundle)
    core.scorer = swapped  # what a champion swap does
    assert core.explain([example_application()], swapped.model_version)  # the new scorer's own explainer
