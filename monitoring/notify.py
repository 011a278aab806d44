"""Alert routing: a Slack-compatible webhook told when a condition starts, holds on, and clears.

Every check (anomaly or drift) hands the router the alerts that hold *now*,
stored or not. One condition is a (source, metric, path) key:

- new: one message, ``[CRITICAL] ...`` (or WARNING / INFO);
- still holding: repeated only after ``ALERT_WEBHOOK_COOLDOWN_SECONDS``, or at once when its
  severity rises;
- gone from a later check of the same source: one ``[RESOLVED] ...`` message.

A message is one POST of ``{"text": "..."}`` (what Slack, Mattermost, Rocket.Chat
and Teams' incoming-webhook adapters accept), retried on a network error, a 429
or a 5xx with doubling waits; a message still refused is logged and dropped:
the alert itself is already stored. The router's memory lives in the scheduler
process: after a restart a condition that still holds is announced once more.
The webhook URL is a secret (it carries the channel's token) and is never logged.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

logger = logging.getLogger("monitoring.notify")

_RANK = {"info": 0, "warning": 1, "critical": 2}
Key = tuple[str, str, str]


def alert_key(source: str, alert: Mapping[str, Any]) -> Key:
    """The condition an alert of ``source`` (the check that saw it) is about: (source, metric, path)."""
    return source, str(alert.get("metric")), str(alert.get("path") or "")


def alert_text(alert: Mapping[str, Any]) -> str:
    """The message of a raised alert."""
    severity = str(alert.get("severity", "warning")).upper()
    return f"[{severity}] {alert.get('metric')}: {alert.get('message')} (at {alert.get('timestamp')})"


def resolved_text(alert: Mapping[str, Any], now: datetime) -> str:
    """The message of a condition that cleared (``alert``: its last announced alert)."""
    where = f" ({alert['path']})" if alert.get("path") else ""
    return (f"[RESOLVED] {alert.get('metric')}{where}: back to normal at {now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC "
            f"(was {alert.get('severity')}: {alert.get('message')})")


class WebhookError(Exception):
    """The webhook refused a message, or did not answer, after every retry."""


class Webhook:
    """POSTs ``{"text": ...}`` to one URL, with retries.

    Args:
        url: the incoming-webhook URL (secret).
        retries: further attempts after a failed one.
        timeout: seconds per attempt.
        backoff: seconds before the first retry, doubled at each next one.
        sleep: the waiting function (tests pass a fake).
    """

    def __init__(self, url: str, retries: int = 3, timeout: float = 5.0, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._url = url
        self.retries, self.timeout, self.backoff, self.sleep = retries, timeout, backoff, sleep

    def __repr__(self) -> str:
        return f"Webhook(retries={self.retries})"  # never the URL

    def send(self, text: str) -> int:
        """Deliver one message; returns the attempts it took.

        Raises:
            WebhookError: still refused (or unreachable) after the retries, or refused for good (4xx but 429).
        """
        body = orjson.dumps({"text": text})
        last = ""
        for attempt in range(1, self.retries + 2):
            request = urllib.request.Request(self._url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    answer.read()
                return attempt
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code != 429 and exc.code < 500:
                    raise WebhookError(f"webhook refused the message: {last}") from None
            except OSError as exc:  # refused, reset, timeout, DNS
                last = type(exc).__name__ + (f": {exc.reason}" if isinstance(exc, urllib.error.URLError) else "")
            if attempt <= self.retries:
                self.sleep(self.backoff * 2 ** (attempt - 1))
        raise WebhookError(f"webhook failed after {self.retries + 1} attempts: {last}")


@dataclass
class _Sent:
    alert: dict[str, Any]
    at: datetime


class AlertRouter:
    """Tells a webhook about alert conditions: new, repeated after the cooldown, resolved.

    Args:
        webhook: where messages go.
        cooldown_seconds: a condition that holds is announced again after this long.
    """

    def __init__(self, webhook: Webhook, cooldown_seconds: float = 3600.0) -> None:
        self.webhook = webhook
        self.cooldown_seconds = cooldown_seconds
        self.active: dict[Key, _Sent] = {}
        self._lock = threading.Lock()  # the anomaly and drift jobs may report from different threads

    @classmethod
    def from_settings(cls, settings: Any) -> AlertRouter | None:
        """The router of ``ALERT_WEBHOOK_URL``, or None when it is unset."""
        secret = settings.alert_webhook_url
        if secret is None or not secret.get_secret_value():
            return None
        webhook = Webhook(secret.get_secret_value(), retries=settings.alert_webhook_retries,
                          timeout=settings.alert_webhook_timeout_seconds,
                          backoff=settings.alert_webhook_backoff_seconds)
        return cls(webhook, settings.alert_webhook_cooldown_seconds)

    def update(self, source: str, firing: Iterable[Mapping[str, Any]], now: datetime | None = None) -> list[str]:
        """Report what holds now for one source (``anomaly`` or ``drift``); returns the messages sent.

        Conditions of ``source`` that were announced and are not in ``firing`` are resolved.
        """
        now = now or datetime.now(UTC)
        sent: list[str] = []
        with self._lock:
            holding = {alert_key(source, a): dict(a) for a in firing}
            for key, alert in holding.items():
                previous = self.active.get(key)
                rises = previous is not None and _RANK.get(str(alert.get("severity")), 1) > _RANK.get(
                    str(previous.alert.get("severity")), 1)
                due = previous is None or rises or (now - previous.at).total_seconds() >= self.cooldown_seconds
                if due and self._deliver(alert_text(alert), alert):
                    self.active[key] = _Sent(alert, now)
                    sent.append(alert_text(alert))
            for key in [k for k in self.active if k[0] == source and k not in holding]:
                text = resolved_text(self.active[key].alert, now)
                if self._deliver(text, self.active[key].alert):
                    del self.active[key]
                    sent.append(text)
        return sent

    def _deliver(self, text: str, alert: Mapping[str, Any]) -> bool:
        try:
            attempts = self.webhook.send(text)
        except WebhookError as exc:
            logger.warning("alert not delivered to the webhook: %s", exc,
                           extra={"event": "alert_webhook_failed", "metric": alert.get("metric")})
            return False
        logger.info("alert delivered to the webhook", extra={"event": "alert_webhook_sent", "attempts": attempts,
                                                             "metric": alert.get("metric")})
        return True
