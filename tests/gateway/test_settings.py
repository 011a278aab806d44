"""GatewaySettings: API keys from the environment, refusals, aliases."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEYS", "ALLOW_NO_API_KEY", "ENVIRONMENT", "WEB_CONCURRENCY", "WORKERS", "REDIS_URL",
                 "PSEUDONYMISATION_KEY", "JOB_RETRY_INTERVALS"):
        monkeypatch.delenv(name, raising=False)


def test_api_keys_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", " first-key , second-key,,")
    assert GatewaySettings().api_keys == ["first-key", "second-key"]


def test_no_key_is_refused_unless_explicitly_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="no API key configured"):
        GatewaySettings()
    monkeypatch.setenv("ALLOW_NO_API_KEY", "true")
    settings = GatewaySettings()
    assert settings.api_keys == [] and settings.allow_no_api_key


def test_production_refuses_open_access_and_weak_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("PSEUDONYMISATION_KEY", "a-real-secret-of-some-length")
    monkeypatch.setenv("ALLOW_NO_API_KEY", "true")
    with pytest.raises(ValidationError, match="refused when ENVIRONMENT=production"):
        GatewaySettings()
    monkeypatch.setenv("ALLOW_NO_API_KEY", "false")
    monkeypatch.setenv("API_KEYS", "changeme")
    with pytest.raises(ValidationError, match="placeholder or short"):
        GatewaySettings()
    monkeypatch.setenv("API_KEYS", "k" * 32)
    assert GatewaySettings().api_keys == ["k" * 32]


def test_web_concurrency_sets_the_workers_and_retry_intervals_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", "key")
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    monkeypatch.setenv("JOB_RETRY_INTERVALS", "2,10")
    settings = GatewaySettings()
    assert settings.workers == 2 and settings.job_retry_intervals == [2, 10]
    assert (settings.host, settings.port, settings.max_batch_size, settings.embedded) == ("127.0.0.1", 8000, 1000, True)


def test_there_is_no_score_fast_path_setting() -> None:
    """POST /v1/score has one code path: nothing to switch."""
    assert "score_fast_path" not in GatewaySettings.model_fields


def test_a_job_holds_the_clear_client_id_at_most_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", "k")
    settings = GatewaySettings()
    # 1 h in the queue, 4 attempts of 30 s with 1 + 5 + 15 s between them, 1 h for the result
    assert settings.job_clear_id_max_s == 3600 + 4 * 30 + 21 + 3600 <= 86_400
    monkeypatch.setenv("JOB_RESULT_TTL", "86000")
    with pytest.raises(ValidationError, match="JOB_QUEUE_TTL or JOB_RESULT_TTL"):
        GatewaySettings()


def test_http_server_is_uvicorn_or_granian(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", "a-long-enough-key")
    monkeypatch.delenv("HTTP_SERVER", raising=False)
    assert GatewaySettings().http_server == "uvicorn"
    monkeypatch.setenv("HTTP_SERVER", "granian")
    assert GatewaySettings().http_server == "granian"
    monkeypatch.setenv("HTTP_SERVER", "gunicorn")
    with pytest.raises(ValidationError, match="http_server"):
        GatewaySettings()


@pytest.mark.parametrize(("name", "value", "message"), [
    ("JOB_LINGER_MS", "-1", "greater than or equal to 0"),
    ("JOB_LINGER_MS", "5000", "less than or equal to 1000"),
    ("JOB_LINGER_MS", "soon", "valid number"),
    ("JOB_LINGER_MAX_MS", "-5", "greater than or equal to 0"),
    ("JOB_GROUP_MAX", "0", "greater than or equal to 1"),
    ("JOB_GROUP_MAX", "many", "valid integer"),
])
def test_coalescing_settings_out_of_range_or_of_the_wrong_type_are_refused_at_start(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    monkeypatch.setenv("ALLOW_NO_API_KEY", "true")
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        GatewaySettings()


def test_coalescing_settings_have_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JOB_LINGER_MS", "JOB_LINGER_MAX_MS", "JOB_GROUP_MAX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALLOW_NO_API_KEY", "true")
    settings = GatewaySettings()
    assert (settings.job_linger_ms, settings.job_linger_max_ms, settings.job_group_max) == (5.0, 20.0, 64)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ACCESS_LOG_SAMPLE", "-0.1", "greater than or equal to 0"),
    ("ACCESS_LOG_SAMPLE", "1.5", "less than or equal to 1"),
    ("ACCESS_LOG_SAMPLE", "a tenth", "valid number"),
    ("ACCESS_LOG_SLOW_MS", "-1", "greater than or equal to 0"),
    ("ACCESS_LOG_SLOW_MS", "slow", "valid number"),
])
def test_access_log_sampling_out_of_range_or_of_the_wrong_type_is_refused_at_start(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    monkeypatch.setenv("ALLOW_NO_API_KEY", "true")
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        GatewaySettings()


def test_access_log_sampling_has_its_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ACCESS_LOG", "ACCESS_LOG_SAMPLE", "ACCESS_LOG_SLOW_MS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALLOW_NO_API_KEY", "true")
    settings = GatewaySettings()
    assert (settings.access_log, settings.access_log_sample, settings.access_log_slow_ms) == (True, 0.1, 25.0)


def test_python_m_gateway_names_a_bad_sampling_setting_and_stops(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.__main__ import main

    monkeypatch.setenv("ALLOW_NO_API_KEY", "true")
    monkeypatch.setenv("ACCESS_LOG_SAMPLE", "2")
    assert main([]) == 2
    error = capsys.readouterr().err
    assert "invalid settings" in error and "access_log_sample" in error and "Traceback" not in error
