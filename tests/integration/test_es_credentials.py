"""The Elasticsearch client's credentials and CA settings, against an HTTPS proxy that requires them.

The test server is the core distribution, without the security module: the
proxy (tests/utils/tls_proxy.py) plays a secured server in front of it.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings import BaseServiceSettings
from shared.store.base import EventStore
from shared.store.exceptions import StoreError, StoreUnavailableError
from shared.store.factory import make_store
from tests.utils.events import make_event
from tests.utils.servers import require_elasticsearch
from tests.utils.tls_proxy import Pki, SecuredProxy, make_pki

pytestmark = pytest.mark.integration

USER, PASSWORD = "scoring-app", "s3cret-elastic-password-for-tests"
API_KEY = base64.b64encode(b"key-id:key-secret-for-tests").decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def proxy(pki: Pki) -> Iterator[SecuredProxy]:
    with SecuredProxy(require_elasticsearch(), pki, users={USER: PASSWORD}, api_keys={API_KEY}) as running:
        yield running


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"test-sec-{uuid.uuid4().hex[:8]}"
    yield name
    from shared.store.elastic import ElasticsearchEventStore

    cleaner = ElasticsearchEventStore(require_elasticsearch(), name)
    cleaner.drop_all()
    cleaner.close()


def _settings(proxy: SecuredProxy, prefix: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> BaseServiceSettings:
    for name in ("ELASTICSEARCH_USERNAME", "ELASTICSEARCH_PASSWORD", "ELASTICSEARCH_API_KEY", "ELASTICSEARCH_CA_CERTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"ELASTICSEARCH_URL": proxy.url, "ES_INDEX_PREFIX": prefix, **env}.items():
        monkeypatch.setenv(name, value)
    return BaseServiceSettings()


def _round_trip(store: EventStore) -> None:
    store.setup()
    event = make_event()
    assert not store.index_events([event]).failed
    store.refresh()  # type: ignore[attr-defined]
    assert store.get_event(event["event_id"]) is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize("credentials", ["user", "api_key"])
def test_the_right_credentials_and_ca_work(proxy: SecuredProxy, pki: Pki, prefix: str, credentials: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    auth = ({"ELASTICSEARCH_USERNAME": USER, "ELASTICSEARCH_PASSWORD": PASSWORD} if credentials == "user"
            else {"ELASTICSEARCH_API_KEY": API_KEY})
    store = make_store(_settings(proxy, prefix, monkeypatch, ELASTICSEARCH_CA_CERTS=str(pki.ca_cert), **auth))
    try:
        _round_trip(store)
        assert store.healthy()
    finally:
        store.close()
    assert proxy.forwarded > 0 and proxy.refused == 0


@pytest.mark.parametrize("auth", [{}, {"ELASTICSEARCH_USERNAME": USER, "ELASTICSEARCH_PASSWORD": "wrong"},
                                  {"ELASTICSEARCH_API_KEY": base64.b64encode(b"key-id:wrong").decode()}])
def test_missing_or_wrong_credentials_fail_with_a_clear_error(proxy: SecuredProxy, pki: Pki, prefix: str,
                                                              auth: dict[str, str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(_settings(proxy, prefix, monkeypatch, ELASTICSEARCH_CA_CERTS=str(pki.ca_cert), **auth))
    try:
        with pytest.raises(StoreError, match="Elasticsearch 401.*ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD"):
            store.setup()
        assert not store.healthy()
    finally:
        store.close()
    assert proxy.refused > 0 and proxy.forwarded == 0


def test_the_ca_is_honoured(proxy: SecuredProxy, prefix: str, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    other_ca = make_pki(tmp_path / "other", common_name="other-ca").ca_cert
    store = make_store(_settings(proxy, prefix, monkeypatch, ELASTICSEARCH_USERNAME=USER,
                                 ELASTICSEARCH_PASSWORD=PASSWORD, ELASTICSEARCH_CA_CERTS=str(other_ca)))
    try:
        with pytest.raises(StoreUnavailableError, match="TLS handshake failed.*ELASTICSEARCH_CA_CERTS"):
            store.setup()
    finally:
        store.close()
    assert proxy.forwarded == 0  # nothing was sent to a server the client could not trust


def test_secrets_are_never_shown(proxy: SecuredProxy, pki: Pki, prefix: str, monkeypatch: pytest.MonkeyPatch,
                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = _settings(proxy, prefix, monkeypatch, ELASTICSEARCH_USERNAME=USER, ELASTICSEARCH_PASSWORD=PASSWORD,
                         ELASTICSEARCH_CA_CERTS=str(pki.ca_cert))
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())
    wrong = _settings(proxy, prefix, monkeypatch, ELASTICSEARCH_USERNAME=USER, ELASTICSEARCH_PASSWORD=PASSWORD + "x",
                      ELASTICSEARCH_CA_CERTS=str(pki.ca_cert))
    store = make_store(wrong)
    try:
        with pytest.raises(StoreError) as refused:
            store.setup()
    finally:
        store.close()
    assert PASSWORD not in str(refused.value) and PASSWORD not in caplog.text and API_KEY not in caplog.text


def test_credentials_settings_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ELASTICSEARCH_USERNAME", "ELASTICSEARCH_PASSWORD", "ELASTICSEARCH_API_KEY", "ELASTICSEARCH_CA_CERTS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="go together"):
        BaseServiceSettings(elasticsearch_username=USER)
    with pytest.raises(ValidationError, match="not both"):
        BaseServiceSettings(elasticsearch_username=USER, elasticsearch_password=PASSWORD, elasticsearch_api_key=API_KEY)
    with pytest.raises(ValidationError, match="ELASTICSEARCH_CA_CERTS"):
        BaseServiceSettings(elasticsearch_ca_certs=tmp_path / "missing.pem")
    assert BaseServiceSettings().elasticsearch_options() == {}
