"""A large synthetic sample through POST /v1/score: every answer equals the scorer's offline score.

Against a real Redis (the events go to a real stream): 2,000 applications, one
request each, compared with the same bundle scored offline, row by row and as
one matrix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from gateway.app import create_app
from shared.scorer import Scorer
from tests.integration.redis_support import HEADERS, gateway_settings, redis_database, wait_for
from tests.utils.data import synthetic_applications

pytestmark = pytest.mark.integration
SAMPLE = 2_000


@pytest.fixture
def sample_db() -> Iterator[str]:
    with redis_database("sample") as url:
        yield url


def test_every_score_of_a_large_sample_equals_the_offline_score(sample_db: str, tiny_bundle: Path,
                                                                tmp_path: Path) -> None:
    applications = synthetic_applications(SAMPLE, seed=2024)
    scorer = Scorer.load(tiny_bundle)
    offline_rows = [scorer.score(a) for a in applications]
    offline_matrix = scorer.score_batch(applications)
    settings = gateway_settings(sample_db, tiny_bundle, tmp_path, embedded_worker=False)
    answers = []
    with TestClient(create_app(settings)) as client:
        for application in applications:
            response = client.post("/v1/score", content=orjson.dumps(application), headers=HEADERS)
            assert response.status_code == 200, response.text
            answers.append(response.json())
        publisher = client.app.state.resources.publisher  # type: ignore[attr-defined]
        assert publisher.flush(30)
    mismatches = [i for i, (answer, row) in enumerate(zip(answers, offline_rows, strict=True))
                  if answer["probability"] != row.probability or answer["decision"] != row.decision]
    assert mismatches == [], f"{len(mismatches)} of {SAMPLE} differ, first at {mismatches[:5]}"
    assert [a["probability"] for a in answers] == pytest.approx([r.probability for r in offline_matrix], abs=1e-6)
    assert {a["decision"] for a in answers} == {"approved", "refused"}  # the sample exercises both sides
    stream = redis.Redis.from_url(sample_db)
    wait_for(lambda: stream.xlen(settings.events_stream) == SAMPLE, 30, what="one event per scored application")
