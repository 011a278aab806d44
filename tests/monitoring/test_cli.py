"""``python -m monitoring``: exit codes and the one-object JSON output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from monitoring.__main__ import main
from monitoring.settings import MonitoringSettings
from shared.store.sqlite import SQLiteEventStore
from tests.monitoring.factories import make_applications, make_events


@pytest.fixture
def env(settings: MonitoringSettings, monkeypatch: pytest.MonkeyPatch) -> MonitoringSettings:
    monkeypatch.setenv("MODEL_DIR", str(settings.model_dir))
    monkeypatch.setenv("SQLITE_PATH", str(settings.sqlite_path))
    monkeypatch.setenv("REPORTS_DIR", str(settings.reports_dir))
    monkeypatch.setenv("DRIFT_MIN_ROWS", "300")
    # a few features keep the reference fit of each CLI run short
    monkeypatch.setenv("DRIFT_FEATURES", "AMT_INCOME_TOTAL,NAME_CONTRACT_TYPE,EXT_SOURCE_2,DAYS_EMPLOYED")
    return settings


@pytest.mark.parametrize("argv", [
    ["drift", "--last", "0"], ["drift", "--last", "ten"], ["drift", "--since", "yesterday"],
    ["drift", "--hours", "-2"], ["drift", "--last", "5", "--hours", "1"], ["nonsense"], [],
])
def test_bad_arguments_exit_2(argv: list[str], env: MonitoringSettings, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_since_in_the_future_exits_2(env: MonitoringSettings, capsys: pytest.CaptureFixture) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert main(["drift", "--since", future]) == 2
    assert "not in the past" in capsys.readouterr().err


def test_drift_json_prints_one_object(env: MonitoringSettings, store: SQLiteEventStore,
                                      capsys: pytest.CaptureFixture) -> None:
    events = make_events(make_applications(400, seed=31), start=datetime.now(UTC) - timedelta(minutes=30))
    store.index_events(events)
    assert main(["drift", "--last", "400", "--json", "--no-html"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    summary = orjson.loads(out)
    assert {"window", "features", "share_drifted", "report_html"} <= set(summary)
    assert set(summary["features"][0]) >= {"name", "test", "value", "threshold", "drifted"}
    assert summary["window"]["last"] == 400 and summary["status"] == "ok"


def test_drift_text_summary_and_missing_bundle(env: MonitoringSettings, capsys: pytest.CaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    assert main(["drift", "--hours", "1"]) == 0
    assert "not enough data" in capsys.readouterr().out
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "none"))
    assert main(["drift"]) == 1
    assert "ReferenceDataError" in capsys.readouterr().err
