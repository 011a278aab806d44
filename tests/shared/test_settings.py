"""Settings: read from the environment once, unsafe secrets refused in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import BaseServiceSettings


def test_defaults_mean_embedded_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_URL", "ELASTICSEARCH_URL", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    settings = BaseServiceSettings()
    assert settings.embedded and settings.elasticsearch_url is None


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("RETENTION_DAYS", "30")
    settings = BaseServiceSettings()
    assert not settings.embedded and settings.retention_days == 30


def test_production_refuses_the_development_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("PSEUDONYMISATION_KEY", raising=False)
    with pytest.raises(ValidationError, match="PSEUDONYMISATION_KEY"):
        BaseServiceSettings()
    monkeypatch.setenv("PSEUDONYMISATION_KEY", "changeme")
    with pytest.raises(ValidationError):
        BaseServiceSettings()
    monkeypatch.setenv("PSEUDONYMISATION_KEY", "a-real-secret-from-the-vault")
    assert BaseServiceSettings().environment == "production"


@pytest.mark.parametrize("value", ["-1", "many"])
def test_events_stream_maxlen_refuses_a_negative_or_non_integer_cap(monkeypatch: pytest.MonkeyPatch,
                                                                    value: str) -> None:
    monkeypatch.setenv("EVENTS_STREAM_MAXLEN", value)
    with pytest.raises(ValidationError, match="events_stream_maxlen"):
        BaseServiceSettings()


def test_every_setting_is_declared_in_one_class_only() -> None:
    from gateway.settings import GatewaySettings
    from monitoring.settings import (
        AnomalySettings,
        DashboardSettings,
        DriftSettings,
        MonitoringSettings,
        PerformanceSettings,
    )
    from worker.settings import WorkerSettings

    declared: dict[str, str] = {name: "BaseServiceSettings" for name in BaseServiceSettings.model_fields}
    for cls in (GatewaySettings, WorkerSettings, DriftSettings, AnomalySettings, PerformanceSettings,
                DashboardSettings, MonitoringSettings):
        for name in vars(cls).get("__annotations__", {}):
            assert name not in declared, f"{cls.__name__}.{name} repeats {declared.get(name)}.{name}"
            declared[name] = cls.__name__
