"""An HTTPS front for the test Elasticsearch that requires credentials, as a secured server does.

The core server the tests run against has no security module, so the client's
credential and CA settings are tested against this proxy: TLS with a certificate
signed by a throw-away CA (made here with ``cryptography``), HTTP basic or
``ApiKey`` authentication checked like Elasticsearch does (401
``security_exception`` otherwise), then the request forwarded as is to the real
server over plain HTTP.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
               "proxy-authenticate", "content-length"}


@dataclass(frozen=True)
class Pki:
    """PEM files of a test CA and of a server certificate it signed for 127.0.0.1 / localhost."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_pki(folder: Path, common_name: str = "test-ca") -> Pki:
    """A new CA and server certificate (valid one day) in ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(folder / f"{common_name}.pem", folder / "server.pem", folder / "server-key.pem")
    pki.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.server_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return pki


class SecuredProxy:
    """``https://127.0.0.1:<port>`` in front of ``target`` (an ``http://`` Elasticsearch URL).

    Args:
        target: the real server.
        pki: the certificate the proxy presents.
        users: accepted {user: password}.
        api_keys: accepted encoded API keys (``base64(id:key)``, the ``ApiKey`` header's value).
    """

    def __init__(self, target: str, pki: Pki, users: dict[str, str] | None = None,
                 api_keys: set[str] | None = None) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.users, self.api_keys = dict(users or {}), set(api_keys or ())
        self.refused = 0
        self.forwarded = 0
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="tls-proxy", daemon=True)

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> SecuredProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def allowed(self, header: str | None) -> bool:
        """Whether an ``Authorization`` value holds accepted credentials."""
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() == "apikey":
            return value.strip() in self.api_keys
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except ValueError:
            return False
        return user in self.users and self.users[user] == password

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:  # no access lines in the test output
                pass

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not proxy.allowed(self.headers.get("Authorization")):
                    proxy.refused += 1
                    error = {"error": {"type": "security_exception",
                                       "reason": f"unable to authenticate user for REST request [{self.path}]"},
                             "status": 401}
                    self._answer(401, [("WWW-Authenticate", 'Basic realm="security", charset="UTF-8"'),
                                       ("WWW-Authenticate", "ApiKey"), ("X-elastic-product", "Elasticsearch"),
                                       ("Content-Type", "application/json")], json.dumps(error).encode())
                    return
                proxy.forwarded += 1
                upstream = http.client.HTTPConnection(*proxy.target, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in _HOP_BY_HOP and k.lower() not in ("authorization", "host")}
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    response = upstream.getresponse()
                    self._answer(response.status, response.getheaders(), response.read())
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        return Handler
