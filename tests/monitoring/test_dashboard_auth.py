"""The dashboard's login: HTTP basic authentication on every page, asset, callback and report route."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from monitoring.dashboard.app import create_app
from monitoring.dashboard.auth import BasicAuth, UsersError, hash_password, parse_users
from monitoring.dashboard.data import DashboardData
from monitoring.settings import MonitoringSettings
from shared.store.sqlite import SQLiteEventStore
from tests.monitoring.factories import DASH_PASSWORD, DASH_USER, basic

# the callback that draws a page: what the browser posts when the URL changes
_ROUTE_CALLBACK = {"output": "page.children", "outputs": {"id": "page", "property": "children"},
                   "inputs": [{"id": "url", "property": "pathname", "value": "/alerts"}],
                   "changedPropIds": ["url.pathname"]}


@pytest.fixture
def client(settings: MonitoringSettings, store: SQLiteEventStore) -> Any:
    return create_app(settings, DashboardData(settings, store)).server.test_client()


def _routes(client: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """A page, a JavaScript asset (found in the page), Dash's layout and a callback: method and arguments."""
    page = client.get("/", headers={"Authorization": basic(DASH_USER, DASH_PASSWORD)})
    assert page.status_code == 200
    script = re.search(r'src="(/_dash-component-suites/[^"]+\.js[^"]*)"', page.get_data(as_text=True))
    assert script, "no component-suite script in the page"
    return {"page": ("GET", {"path": "/alerts"}), "asset": ("GET", {"path": script.group(1)}),
            "layout": ("GET", {"path": "/_dash-layout"}),
            "callback": ("POST", {"path": "/_dash-update-component", "data": orjson.dumps(_ROUTE_CALLBACK),
                                  "content_type": "application/json"}),
            "report": ("GET", {"path": "/reports/drift-missing.html"})}


@pytest.mark.parametrize("credentials", [None, (DASH_USER, "wrong-password"), ("nobody", DASH_PASSWORD),
                                         (DASH_USER, "")])
def test_every_route_is_401_without_the_right_credentials(client: Any, credentials: tuple[str, str] | None) -> None:
    headers = {} if credentials is None else {"Authorization": basic(*credentials)}
    for name, (method, kwargs) in _routes(client).items():
        answer = client.open(method=method, headers=headers, **kwargs)
        assert answer.status_code == 401, name
        assert answer.headers["WWW-Authenticate"].startswith("Basic realm="), name
        assert b"Credit Express - scoring monitor" not in answer.data and b"alerts" not in answer.data, name


def test_every_route_answers_with_the_right_credentials(client: Any) -> None:
    headers = {"Authorization": basic(DASH_USER, DASH_PASSWORD)}
    statuses = {name: client.open(method=method, headers=headers, **kwargs).status_code
                for name, (method, kwargs) in _routes(client).items()}
    assert statuses == {"page": 200, "asset": 200, "layout": 200, "callback": 200, "report": 404}
    answer = client.post("/_dash-update-component", headers=headers, data=orjson.dumps(_ROUTE_CALLBACK),
                         content_type="application/json")
    assert b"\"Alerts\"" in answer.data  # the page the callback drew


def test_malformed_authorization_headers_are_401(client: Any) -> None:
    for header in ("Bearer abc", "Basic", "Basic !!!not-base64!!!", "Basic " + "dGVzdGVy"):  # the last: no ':'
        assert client.get("/", headers={"Authorization": header}).status_code == 401


def test_no_users_means_nobody_gets_in(settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    closed = settings.model_copy(update={"dashboard_users": ""})
    client = create_app(closed, DashboardData(closed, store)).server.test_client()
    assert client.get("/", headers={"Authorization": basic(DASH_USER, DASH_PASSWORD)}).status_code == 401


def test_open_only_when_allowed_in_development(settings: MonitoringSettings, store: SQLiteEventStore,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    opened = settings.model_copy(update={"allow_open_dashboard": True})
    client = create_app(opened, DashboardData(opened, store)).server.test_client()
    assert client.get("/").status_code == 200
    monkeypatch.setenv("ALLOW_OPEN_DASHBOARD", "true")
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("PSEUDONYMISATION_KEY", "a-real-production-secret-0123456789")
    with pytest.raises(ValidationError, match="ALLOW_OPEN_DASHBOARD"):
        MonitoringSettings()


def test_users_are_parsed_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = hash_password("one", rounds=4), hash_password("two", rounds=4)
    monkeypatch.setenv("DASHBOARD_USERS", f" alice:{first} , bob:{second} ")
    assert MonitoringSettings().users() == {"alice": first.encode(), "bob": second.encode()}
    assert first not in repr(MonitoringSettings())
    for bad in ("alice", f":{first}", "alice:plain-text-password", f"alice:{first},alice:{second}"):
        with pytest.raises(UsersError):
            parse_users(bad)
        monkeypatch.setenv("DASHBOARD_USERS", bad)
        with pytest.raises(ValidationError, match="DASHBOARD_USERS"):
            MonitoringSettings()


def test_a_good_login_is_checked_once_then_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    import monitoring.dashboard.auth as auth

    calls = []
    real = auth.bcrypt.checkpw
    monkeypatch.setattr(auth.bcrypt, "checkpw", lambda pw, hashed: calls.append(pw) or real(pw, hashed))
    middleware = BasicAuth(lambda env, start: [b"ok"], parse_users(f"u:{hash_password('pw', rounds=4)}"))
    header = basic("u", "pw")
    assert middleware.authenticate(header) == "u" and middleware.authenticate(header) == "u"
    assert middleware.authenticate(basic("u", "other")) is None
    assert calls == [b"pw", b"other"]
