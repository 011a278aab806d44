"""The Decision page in a real headless Chromium: found by event id and by job id, waterfall and words.

Needs Debian's ``chromium`` and ``chromium-driver``; skipped with that reason when they are absent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitoring.dashboard.app import create_app
from monitoring.dashboard.data import DashboardData
from monitoring.dashboard.server import RunningServer, serve_in_thread
from monitoring.settings import MonitoringSettings
from shared.event import ScoringEvent
from shared.explain import Explainer
from shared.scorer import Scorer
from shared.store.sqlite import SQLiteEventStore
from tests.monitoring.browser import chromium_paths, start_chromium, wait_rendered
from tests.monitoring.factories import DASH_PASSWORD, DASH_USER, dashboard_users
from tests.utils.data import synthetic_applications

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(chromium_paths() is None,
                       reason="chromium and chromedriver not installed (apt-get install -y chromium chromium-driver)"),
]


def _events(bundle: Path) -> list[dict[str, Any]]:
    scorer = Scorer.load(bundle)
    explainer = Explainer.load(bundle, scorer.metadata)
    applications = [{k: v for k, v in a.items() if k != "SK_ID_CURR"} for a in synthetic_applications(60, seed=81)]
    results = scorer.score_batch(applications)
    # a refused sync decision with its stored explanation; the job's three events have none
    refused = next(i for i, r in enumerate(results) if r.decision == "refused" and i >= 3)
    events = []
    for i, (application, result) in enumerate(zip(applications, results, strict=True)):
        event = ScoringEvent(path="async" if i < 3 else "sync", status="ok", model_version=result.model_version,
                             job_id="job-browser" if i < 3 else None, features=application,
                             score=result.probability, decision=result.decision, threshold=result.threshold,
                             explanation=explainer.explain([application])[0] if i == refused else None,
                             timestamp=datetime.now(UTC).isoformat())
        event.event_id = "refused-explained" if i == refused else f"e{i}"
        events.append(event.to_dict())
    return events


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path) -> Iterator[RunningServer]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    folder = tmp_path_factory.mktemp("decision")
    settings = MonitoringSettings(model_dir=tiny_bundle, sqlite_path=folder / "events.sqlite3",
                                  reports_dir=folder / "reports", redis_url=None, elasticsearch_url=None,
                                  dashboard_users=dashboard_users())
    store = SQLiteEventStore(settings.sqlite_path)
    store.setup()
    assert not store.index_events(_events(tiny_bundle)).failed
    running = serve_in_thread(create_app(settings, DashboardData(settings, store)).server)
    yield running
    running.stop()
    store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = start_chromium(width=1440, height=1400, auth=(DASH_USER, DASH_PASSWORD))
    yield driver
    driver.quit()


def _wait_text(browser: Any, expected: str, timeout: float = 60.0) -> str:
    """The page text once it holds ``expected`` (the lookup callback has answered)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = str(browser.find_element("tag name", "body").text)
        if expected in text:
            return text
        time.sleep(0.25)
    raise TimeoutError(f"{expected!r} not shown after {timeout:.0f} s")


def _text(browser: Any) -> str:
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == [], severe
    return str(browser.find_element("tag name", "body").text)


def test_a_refused_decision_by_event_id(server: RunningServer, browser: Any) -> None:
    browser.get(server.url + "/decision?id=refused-explained")
    wait_rendered(browser, 1)
    text = _text(browser)
    assert "so this one was refused" in text and "What moved this application's estimate the most" in text
    assert "the risk." in text and "An average applicant starts at" in text
    assert "computed now" not in text  # the stored explanation is shown
    rows = browser.find_elements("css selector", "#decision-reasons tr")
    assert len(rows) == 1 + 5 + 1  # header, the 5 reasons, all other fields
    svg = browser.find_element("css selector", "#decision-waterfall .main-svg")
    assert svg.is_displayed()
    assert "threshold" in browser.find_element("id", "decision-waterfall").text


def test_a_job_id_and_a_decision_explained_now(server: RunningServer, browser: Any) -> None:
    browser.get(server.url + "/decision")
    wait_rendered(browser, 0)
    box = browser.find_element("id", "decision-id")
    box.send_keys("job-browser\n")
    _wait_text(browser, "This job scored 3 applications")
    wait_rendered(browser, 1)
    text = _text(browser)
    assert "This job scored 3 applications" in text and "computed now from the stored application" in text
    assert browser.find_element("id", "decision-waterfall").is_displayed()


def test_an_unknown_id(server: RunningServer, browser: Any) -> None:
    browser.get(server.url + "/decision?id=no-such-thing")
    _wait_text(browser, "no decision with the event id or job id 'no-such-thing'")
    _text(browser)
