"""A job's events keep their ids when the job runs again (RQ runs a job at least once)."""

from __future__ import annotations

from typing import Any

from shared.event import job_event_id


def test_the_id_depends_on_the_job_and_the_position_only() -> None:
    assert job_event_id("job-1", 0) == job_event_id("job-1", 0)
    assert len({job_event_id("job-1", 0), job_event_id("job-1", 1), job_event_id("job-2", 0)}) == 3
    assert len(job_event_id("job-1", 0)) == 32 and int(job_event_id("job-1", 0), 16) >= 0


def test_a_job_scored_twice_publishes_the_same_event_ids() -> None:
    from shared.scorer import ScoreResult
    from shared.serving.events import EventBuilder

    published: list[Any] = []

    class Collect:
        def publish(self, event: Any) -> bool:
            published.append(event)
            return True

    emitter = EventBuilder(Collect(), "test-key")  # type: ignore[arg-type]
    from shared.event import Timings

    result = ScoreResult(probability=0.2, decision="approved", threshold=0.5, model_version="m1", inference_ms=1.0)

    for _ in range(2):
        emitter.scored("async", {}, 100002, result, Timings(), "req-1", job_id="job-9", index=3)
    emitter.scored("sync", {}, 100002, result, Timings(), "req-2")
    ids = [event.event_id for event in published]
    assert ids[0] == ids[1] == job_event_id("job-9", 3)
    assert ids[2] != ids[0]
