"""The dashboard in a real headless Chromium: every page renders, with data and with an empty store.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium chromium-driver``);
skipped with that reason when they are absent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitoring.anomalies import AnomalyDetector
from monitoring.dashboard.app import create_app
from monitoring.dashboard.data import DashboardData
from monitoring.dashboard.server import RunningServer, serve_in_thread
from monitoring.drift.run import DriftJob, WindowSpec
from monitoring.performance.run import PerformanceJob, PerformanceWindow
from monitoring.settings import MonitoringSettings
from shared.outcomes import OutcomeService
from shared.store.sqlite import SQLiteEventStore
from tests.monitoring.browser import chromium_paths, start_chromium, wait_rendered
from tests.monitoring.factories import (
    DASH_PASSWORD,
    DASH_USER,
    dashboard_users,
    make_applications,
    make_events,
    write_bundle,
)
from tests.monitoring.resource_factories import resource_samples
from tests.utils.outcomes import KEY, population

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(chromium_paths() is None,
                       reason="chromium and chromedriver not installed (apt-get install -y chromium chromium-driver)"),
]
# page path -> graphs it draws
PAGES = {"/": 5, "/scores": 2, "/drift": 2, "/performance": 4, "/alerts": 0, "/events": 0, "/models": 1,
         "/resources": 4}


def _settings(folder: Path, bundle: Path) -> MonitoringSettings:
    return MonitoringSettings(model_dir=bundle, sqlite_path=folder / "events.sqlite3", reports_dir=folder / "reports",
                              drift_min_rows=300, drift_min_feature_rows=50, drift_html_max_features=2,
                              redis_url=None, elasticsearch_url=None, dashboard_users=dashboard_users())


def _fill(settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    now = datetime.now(UTC)
    clean = make_events(make_applications(900, seed=61), start=now - timedelta(hours=5), spacing=timedelta(seconds=12),
                        error_every=40)
    inflated = make_events(make_applications(600, seed=62, income_factor=1.5), start=now - timedelta(minutes=52),
                           spacing=timedelta(seconds=5), error_every=8, latency_ms=30.0)
    for k, event in enumerate(clean):  # the challenger shadowed every fifth application
        if k % 5 == 0 and event.get("score") is not None:
            p = min(1.0, event["score"] * (1.3 if k % 10 == 0 else 0.9))
            event["shadow"] = {"model_version": "challenger-b", "probability": p,
                               "decision": "refused" if p >= 0.5 else "approved"}
    assert not store.index_events(clean + inflated).failed
    store.save_model_event({"model_event_id": "m1", "timestamp": (now - timedelta(hours=6)).isoformat(),
                            "action": "promote", "from_version": "1", "to_version": "2", "forced": False,
                            "gate": {"passed": True, "checks": [{"name": "AUC", "champion": 0.761, "candidate": 0.768,
                                                                 "limit": "", "passed": True}]}})
    DriftJob(settings, store).run(WindowSpec(hours=1))
    AnomalyDetector(settings, store).run()
    # scored three days ago (outside the 24 h window of the other pages), outcomes for two in three
    people = population(1_200, start=now - timedelta(days=3), versions=("model-1", "model-2"), men_refused_more=0.1)
    assert not store.index_events(people.events).failed
    assert OutcomeService(store, KEY).ingest({"outcomes": people.outcome_items()[:800]}).accepted == 800
    PerformanceJob(settings, store).run(PerformanceWindow(days=7))
    store.save_resources(resource_samples(now, hours=5))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningServer]]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    bundle = write_bundle(tmp_path_factory.mktemp("bundle"), make_applications(3000, seed=60))
    running: dict[str, RunningServer] = {}
    stores = []
    for kind in ("data", "empty"):
        settings = _settings(tmp_path_factory.mktemp(kind), bundle)
        store = SQLiteEventStore(settings.sqlite_path)
        store.setup()
        stores.append(store)
        if kind == "data":
            _fill(settings, store)
        running[kind] = serve_in_thread(create_app(settings, DashboardData(settings, store)).server)
    yield running
    for server in running.values():
        server.stop()
    for store in stores:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = start_chromium(width=1440, height=1400, auth=(DASH_USER, DASH_PASSWORD))
    yield driver
    driver.quit()


def _open(browser: Any, url: str, graphs: int) -> str:
    browser.get(url)
    wait_rendered(browser, graphs)
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == [], severe
    return str(browser.find_element("tag name", "body").text)


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_with_data(servers: dict[str, RunningServer], browser: Any, path: str) -> None:
    text = _open(browser, servers["data"].url + path, PAGES[path])
    assert "Credit Express - scoring monitor" in text
    if path == "/":
        assert "Throughput (applications per minute)" in text and "No data in this window" not in text
        assert "1,500" in text  # requests in the 24 h window
    elif path == "/scores":
        # the card labels are upper-cased by the style sheet
        assert "APPROVAL RATE" in text and "reference:" in text and "No data in this window" not in text
        assert "Score percentiles and approval rate over time" in text and "score p10-p90" in text
    elif path == "/drift":
        assert "AMT_INCOME_TOTAL" in text and "DRIFT: wasserstein" in text
        assert "AMT_INCOME_TOTAL: reference vs current" in text  # the most drifted feature is plotted
        assert "open the full HTML report" in text
    elif path == "/performance":
        assert "Cost per application" in text and "model-1 realised" in text and "model-2 estimated" in text
        assert "Reliability (latest run" in text and "No outcome known yet" not in text
        assert "CODE_GENDER" in text and "25-34" in text and "Disparate impact" in text
        assert "800 with an outcome" in text
    elif path == "/events":
        assert "client_ref" in text and "AMT_INCOME_TOTAL" in text and "No data in this window" not in text
        assert "ok" in text.split() and "error" in text.split()  # status values of stored documents
        assert "-events-" not in text and "SQLite file" in text  # says where the documents are stored
    elif path == "/models":
        assert "DECISION AGREEMENT" in text and "challenger-b" in text and "Promotion history" in text
        assert "0.7610 / 0.7680" in text and "v2" in text  # the gate's AUC and the champion from the history
    elif path == "/resources":
        assert "Resident memory per process (MiB)" in text and "Host CPU and memory (%)" in text
        assert "gateway 101" in text and "worker 202" in text and "dashboard 501" in text  # one line each
        assert "node-1 heap %" in text and "No resource sample" not in text
        assert "GPU" in text and "gpu %" not in text.lower()  # said absent, never drawn as zero
    else:
        assert "data_drift" in text and "error_rate" in text and "critical" in text


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_with_an_empty_store(servers: dict[str, RunningServer], browser: Any, path: str) -> None:
    text = _open(browser, servers["empty"].url + path, PAGES[path])
    expected = {"/": "No data in this window", "/scores": "No data in this window",
                "/drift": "no drift run in this window yet", "/alerts": "No alert in this window.",
                "/performance": "no performance run in this window yet",
                "/events": "No data in this window.",
                "/models": "no shadowed application in this window",
                "/resources": "No resource sample in this window"}[path]
    assert expected in text


def test_navigation_window_selector_and_report_link(servers: dict[str, RunningServer], browser: Any) -> None:
    _open(browser, servers["data"].url + "/", PAGES["/"])
    browser.find_element("id", "nav-drift").click()
    wait_rendered(browser, PAGES["/drift"])
    assert browser.current_url.endswith("/drift")
    link = browser.find_element("link text", "open the full HTML report").get_attribute("href")
    for radio in browser.find_elements("css selector", "#window input"):
        if radio.get_attribute("value") == "1h":
            radio.click()
    wait_rendered(browser, PAGES["/drift"])
    assert "AMT_INCOME_TOTAL" in browser.find_element("tag name", "body").text
    browser.get(link)
    assert "Drift report" in browser.page_source and "AMT_INCOME_TOTAL" in browser.page_source
