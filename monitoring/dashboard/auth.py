"""HTTP basic authentication in front of the whole dashboard: pages, assets, callbacks and reports.

A WSGI middleware wraps the Flask application, so nothing Dash or Flask
serves (``/_dash-component-suites/...``, ``/_dash-update-component``,
``/assets/...``, ``/reports/...``) answers before the credentials are checked.
Users come from ``DASHBOARD_USERS``: comma-separated ``name:bcrypt-hash``
entries. bcrypt is slow on purpose (about 0.1-0.3 s per check), and a page
load makes dozens of requests, so a successful check is remembered for the
process's life under a SHA-256 digest of the credentials (the password itself
is never kept).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import bcrypt

logger = logging.getLogger("monitoring.dashboard.auth")

REALM = "Credit Express monitoring"
_MAX_REMEMBERED = 1024  # distinct good credentials remembered (beyond that, the memory starts over)


class UsersError(ValueError):
    """``DASHBOARD_USERS`` is malformed."""


def parse_users(text: str) -> dict[str, bytes]:
    """``name:bcrypt-hash,name2:hash2`` as {name: hash}.

    Raises:
        UsersError: an entry has no name, no ``:``, a hash bcrypt does not know, or a name appears twice.
    """
    users: dict[str, bytes] = {}
    for position, entry in enumerate(filter(None, (e.strip() for e in text.split(","))), start=1):
        name, sep, hashed = entry.partition(":")
        name, hashed = name.strip(), hashed.strip()
        if not sep or not name or not hashed:
            raise UsersError(f"DASHBOARD_USERS entry {position} is not 'name:bcrypt-hash'")
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")) or len(hashed) != 60:
            raise UsersError(f"DASHBOARD_USERS entry {position} ({name}): the hash is not a bcrypt hash "
                             "(see the README: how to make one)")
        if name in users:
            raise UsersError(f"DASHBOARD_USERS names {name!r} twice")
        users[name] = hashed.encode()
    return users


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash of ``password`` for ``DASHBOARD_USERS`` (``rounds``: bcrypt's cost factor)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


class BasicAuth:
    """WSGI middleware: 401 with ``WWW-Authenticate: Basic`` unless the request carries a known user's password.

    Args:
        app: the WSGI application to protect (``flask_app.wsgi_app``).
        users: {name: bcrypt hash}; empty: nobody gets in.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], users: Mapping[str, bytes]) -> None:
        self.app = app
        self.users = dict(users)
        self._good: set[bytes] = set()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        user = self.authenticate(environ.get("HTTP_AUTHORIZATION", ""))
        if user is None:
            body = b"Authentication required.\n"
            start_response("401 Unauthorized", [("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"'),
                                                ("Content-Type", "text/plain; charset=utf-8"),
                                                ("Content-Length", str(len(body))),
                                                ("Cache-Control", "no-store")])
            return [body]
        environ["REMOTE_USER"] = user
        return self.app(environ, start_response)

    def authenticate(self, header: str) -> str | None:
        """The user name when ``header`` (an Authorization value) holds good credentials, else None."""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        name_bytes, sep, password = decoded.partition(b":")
        name = name_bytes.decode("utf-8", "replace")
        hashed = self.users.get(name)
        if not sep or hashed is None:
            return None
        digest = hashlib.sha256(hashed + b"\0" + password).digest()
        with self._lock:
            known = digest in self._good
        if known:
            return name
        if not bcrypt.checkpw(password, hashed):
            logger.info("dashboard login refused", extra={"event": "dashboard_login_refused"})
            return None
        with self._lock:
            if len(self._good) >= _MAX_REMEMBERED:
                self._good.clear()
            self._good.add(digest)
        return name


def protect(flask_app: Any, users: Mapping[str, bytes]) -> None:
    """Put :class:`BasicAuth` in front of every route of ``flask_app`` (Dash's ``app.server``)."""
    flask_app.wsgi_app = BasicAuth(flask_app.wsgi_app, users)
