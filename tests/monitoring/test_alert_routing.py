"""Alert routing to a Slack-compatible webhook, against a local HTTP receiver: retries, cooldown, resolved."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitoring.alerts import make_alert
from monitoring.anomalies import AnomalyDetector
from monitoring.notify import AlertRouter, Webhook, WebhookError
from monitoring.settings import MonitoringSettings
from shared.store.sqlite import SQLiteEventStore
from tests.monitoring.factories import make_applications, make_events
from tests.utils.webhook_receiver import WebhookReceiver

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
WINDOW = {"since": "2025-03-03T11:55:00.000Z", "until": "2025-03-03T12:00:00.000Z", "seconds": 300}


def _alert(metric: str = "error_rate", severity: str = "critical", path: str | None = None) -> dict[str, Any]:
    return make_alert(metric=metric, severity=severity, value=0.2, threshold=0.02, window=WINDOW,
                      message=f"{metric} is 0.2, above the limit 0.02", path=path, now=NOW)


def _router(url: str, cooldown: float = 600.0, retries: int = 2) -> AlertRouter:
    return AlertRouter(Webhook(url, retries=retries, timeout=5, backoff=0.0), cooldown_seconds=cooldown)


def test_a_new_condition_is_sent_once_as_slack_json_then_resolved() -> None:
    with WebhookReceiver() as hook:
        router = _router(hook.url)
        router.update("anomaly", [_alert()], NOW)
        router.update("anomaly", [_alert()], NOW + timedelta(minutes=1))  # still holding, within the cooldown
        router.update("anomaly", [], NOW + timedelta(minutes=2))  # cleared
        router.update("anomaly", [], NOW + timedelta(minutes=3))  # nothing more to say
    texts = hook.texts()
    assert len(texts) == 2 and hook.content_types == ["application/json"] * 2
    assert texts[0].startswith("[CRITICAL] error_rate: error_rate is 0.2, above the limit 0.02")
    assert texts[1].startswith("[RESOLVED] error_rate: back to normal at 2025-03-03 12:02:00 UTC")
    assert all(set(m) == {"text"} for m in hook.messages)


def test_a_condition_that_holds_is_repeated_after_the_cooldown_and_at_once_when_it_rises() -> None:
    with WebhookReceiver() as hook:
        router = _router(hook.url, cooldown=600)
        router.update("anomaly", [_alert(severity="warning")], NOW)
        router.update("anomaly", [_alert(severity="warning")], NOW + timedelta(minutes=9))
        router.update("anomaly", [_alert(severity="warning")], NOW + timedelta(minutes=10))  # cooldown over
        router.update("anomaly", [_alert(severity="critical")], NOW + timedelta(minutes=11))  # rises: at once
        router.update("anomaly", [_alert(severity="warning")], NOW + timedelta(minutes=12))  # falls: not news
    assert [t.split("]")[0] + "]" for t in hook.texts()] == ["[WARNING]", "[WARNING]", "[CRITICAL]"]


def test_conditions_are_kept_apart_by_metric_path_and_source() -> None:
    with WebhookReceiver() as hook:
        router = _router(hook.url)
        router.update("anomaly", [_alert("latency_p95", path="sync"), _alert("latency_p95", path="async")], NOW)
        router.update("drift", [_alert("data_drift")], NOW)
        # the anomaly check no longer sees the async path: only that one resolves; drift is another source
        router.update("anomaly", [_alert("latency_p95", path="sync")], NOW + timedelta(minutes=1))
    texts = hook.texts()
    assert len(texts) == 4
    assert texts[-1].startswith("[RESOLVED] latency_p95 (async)")


def test_failed_posts_are_retried_then_delivered() -> None:
    with WebhookReceiver(statuses=[503, 429]) as hook:
        attempts = Webhook(hook.url, retries=3, backoff=0.0).send("hello")
    assert attempts == 3 and hook.requests == 3 and hook.texts() == ["hello"]


def test_retries_wait_longer_each_time_and_then_give_up() -> None:
    waits: list[float] = []
    with WebhookReceiver(statuses=[500] * 10) as hook:
        with pytest.raises(WebhookError, match="after 4 attempts: HTTP 500"):
            Webhook(hook.url, retries=3, backoff=0.5, sleep=waits.append).send("hello")
    assert waits == [0.5, 1.0, 2.0] and hook.requests == 4


def test_a_refused_message_is_not_retried() -> None:
    with WebhookReceiver(statuses=[400]) as hook:
        with pytest.raises(WebhookError, match="HTTP 400"):
            Webhook(hook.url, retries=3, backoff=0.0).send("hello")
    assert hook.requests == 1


def test_an_undelivered_alert_is_tried_again_at_the_next_check_and_the_url_never_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with WebhookReceiver(statuses=[500, 500]) as hook:
        router = _router(hook.url, retries=1)
        assert router.update("anomaly", [_alert()], NOW) == []  # two attempts refused: logged, not raised
        assert len(router.update("anomaly", [_alert()], NOW + timedelta(minutes=1))) == 1
    assert hook.texts()[0].startswith("[CRITICAL]")
    assert "alert not delivered" in caplog.text and hook.url not in caplog.text
    assert hook.url not in repr(router.webhook)


def test_an_unreachable_webhook_never_stops_a_check() -> None:
    router = _router("http://127.0.0.1:9/hook", retries=1)  # nothing listens on port 9
    assert router.update("anomaly", [_alert()], NOW) == []


def test_routing_is_off_without_a_url_and_a_secret_setting(settings: MonitoringSettings,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert AlertRouter.from_settings(settings) is None
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "https://hooks.example.com/services/T000/B000/secret-token")
    configured = MonitoringSettings()
    assert "secret-token" not in repr(configured)
    assert AlertRouter.from_settings(configured) is not None


def _events(store: SQLiteEventStore, windows_ago: int, error_every: int | None = None) -> None:
    apps = make_applications(60, seed=41)
    start = NOW - timedelta(minutes=5 * (windows_ago + 1)) + timedelta(seconds=1)
    kwargs = {"error_every": error_every} if error_every else {}
    events = make_events(apps, start=start, spacing=timedelta(seconds=4), seed=windows_ago, **kwargs)
    assert not store.index_events(events).failed


def test_the_detector_routes_what_holds_and_says_when_it_clears(settings: MonitoringSettings,
                                                                  store: SQLiteEventStore) -> None:
    tuned = settings.model_copy(update={"anomaly_window_seconds": 300, "anomaly_baseline_windows": 6,
                                        "anomaly_min_events": 20, "anomaly_cooldown_seconds": 900})
    for ago in range(2, 8):
        _events(store, ago)
    _events(store, 1, error_every=5)  # 12 errors of 60 in the window ending 5 minutes before NOW
    _events(store, 0)  # then a clean window
    with WebhookReceiver() as hook:
        detector = AnomalyDetector(tuned, store, router=_router(hook.url))
        raised = detector.run(NOW - timedelta(minutes=5))
        assert [a["metric"] for a in raised] == ["error_rate"]
        detector.run(NOW - timedelta(minutes=4))  # still in the bad window, within the cooldown: stored once
        detector.run(NOW)
    texts = hook.texts()
    assert len(texts) == 2 and texts[0].startswith("[CRITICAL] error_rate") and texts[1].startswith("[RESOLVED]")
    assert len(store.list_alerts()) == 1
