"""A drift run end to end on a SQLite store: sample, compare, HTML, stored summary, alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitoring.drift.run import DriftJob, WindowSpec
from monitoring.exceptions import ReferenceDataError, WindowError
from monitoring.settings import MonitoringSettings
from shared.store.base import TimeWindow
from shared.store.sqlite import SQLiteEventStore
from tests.monitoring.factories import make_applications, make_events


def _fill(store: SQLiteEventStore, n: int, hours_ago: float = 1.0, **drift) -> None:
    start = datetime.now(UTC) - timedelta(hours=hours_ago)
    events = make_events(make_applications(n, seed=21, **drift), start=start, spacing=timedelta(seconds=1))
    assert not store.index_events(events).failed


def test_run_writes_summary_html_and_alert(settings: MonitoringSettings, store: SQLiteEventStore,
        fitted_calculator) -> None:
    _fill(store, 800, income_factor=1.5)
    result = DriftJob(settings, store, fitted_calculator).run(WindowSpec(hours=2))
    assert result.status == "ok" and "AMT_INCOME_TOTAL" in result.drifted_features
    assert result.window["events"] == 800 and result.window["first_event"] < result.window["last_event"]
    html = Path(result.report_html or "")
    assert html.is_file() and html.parent == settings.reports_dir
    text = html.read_text()
    assert "AMT_INCOME_TOTAL" in text and "Wasserstein" in text
    stored = store.list_reports()
    assert [r["report_id"] for r in stored] == [result.report_id]
    assert stored[0]["share_drifted"] == result.share_drifted and "distributions" in stored[0]
    alerts = store.list_alerts()
    assert len(alerts) == 1 and alerts[0]["metric"] == "data_drift" and alerts[0]["source"] == "drift"
    assert "AMT_INCOME_TOTAL" in alerts[0]["message"] and alerts[0]["report_id"] == result.report_id


def test_last_n_takes_the_newest_events(settings: MonitoringSettings, store: SQLiteEventStore,
        fitted_calculator) -> None:
    _fill(store, 500, hours_ago=30)  # old, clean
    _fill(store, 400, hours_ago=1, income_factor=1.5)  # recent, inflated
    result = DriftJob(settings, store, fitted_calculator).run(WindowSpec(last=350), html=False)
    assert result.n_current == 350 and result.window["last"] == 350
    assert "AMT_INCOME_TOTAL" in result.drifted_features and result.report_html is None


def test_empty_store_gives_not_enough_data(settings: MonitoringSettings, store: SQLiteEventStore,
        fitted_calculator) -> None:
    result = DriftJob(settings, store, fitted_calculator).run()
    assert result.status == "not_enough_data" and result.report_html is None
    assert store.list_reports()[0]["status"] == "not_enough_data"
    assert store.list_alerts() == []


def test_window_spec_rejects_impossible_bounds(settings: MonitoringSettings) -> None:
    with pytest.raises(WindowError):
        WindowSpec(last=0).resolve(settings)
    with pytest.raises(WindowError):
        WindowSpec(hours=-1).resolve(settings)
    with pytest.raises(WindowError):
        WindowSpec(since=datetime.now(UTC) + timedelta(days=1)).resolve(settings)
    with pytest.raises(WindowError):
        WindowSpec(last=5, hours=1).resolve(settings)
    window, limit = WindowSpec(hours=3).resolve(settings)
    assert window is not None and window.until - window.since == timedelta(hours=3)
    assert limit == settings.drift_max_events
    end = datetime(2025, 1, 2, tzinfo=UTC)
    window, _ = WindowSpec(hours=24, until=end).resolve(settings)
    assert window == TimeWindow(end - timedelta(hours=24), end)
    with pytest.raises(WindowError, match="not before"):
        WindowSpec(since=end, until=end - timedelta(hours=1)).resolve(settings)


def test_past_window_with_until(settings: MonitoringSettings, store: SQLiteEventStore, fitted_calculator) -> None:
    _fill(store, 400, hours_ago=30, income_factor=1.5)  # yesterday: inflated
    _fill(store, 400, hours_ago=1)  # today: clean
    job = DriftJob(settings, store, fitted_calculator)
    past = job.run(WindowSpec(hours=12, until=datetime.now(UTC) - timedelta(hours=20)), html=False)
    assert past.n_current == 400 and "AMT_INCOME_TOTAL" in past.drifted_features
    today = job.run(WindowSpec(hours=12), html=False)
    assert today.n_current == 400 and today.drifted_features == []


def test_missing_bundle_is_a_clear_error(settings: MonitoringSettings, store: SQLiteEventStore,
                                        tmp_path: Path) -> None:
    job = DriftJob(settings.model_copy(update={"model_dir": tmp_path / "nowhere"}), store)  # no calculator given
    with pytest.raises(ReferenceDataError, match="make bundle"):
        job.run()


def test_a_client_id_never_reaches_the_html_report_in_clear(settings: MonitoringSettings, store: SQLiteEventStore,
                                                            fitted_calculator, monkeypatch: pytest.MonkeyPatch) -> None:
    import monitoring.drift.html as html_module
    from shared.pseudonym import pseudonymise

    render = html_module.render_page
    monkeypatch.setattr(html_module, "render_page",
                        lambda *args: render(*args) + '<script>{"SK_ID_CURR": 661204}</script>')
    _fill(store, 600)
    result = DriftJob(settings, store, fitted_calculator).run(WindowSpec(hours=2))
    text = Path(result.report_html or "").read_text()
    assert "661204" not in text and pseudonymise(661204, settings.pseudonymisation_key) in text


def test_the_first_run_fits_beside_the_read_and_keeps_the_fit(settings: MonitoringSettings,
                                                               store: SQLiteEventStore) -> None:
    _fill(store, 600, income_factor=1.5)
    first = DriftJob(settings, store)  # no calculator given: the bundle's reference, fitted
    assert first._fit_needed()
    fitted = first.run(WindowSpec(hours=2), html=False)
    assert not first._fit_needed() and list((settings.reports_dir / ".drift-fit").glob("*.pickle"))
    second = DriftJob(settings, store)  # another process: the kept fit
    assert not second._fit_needed()
    kept = second.run(WindowSpec(hours=2), html=False)
    assert "AMT_INCOME_TOTAL" in fitted.drifted_features
    assert [c.to_dict() for c in kept.checks] == [c.to_dict() for c in fitted.checks]
    assert kept.n_reference == fitted.n_reference > 1000
