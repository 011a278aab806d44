"""Client ids are stored, logged and shown only as their keyed pseudonym.

``pseudonymise`` is the keyed hash (HMAC-SHA256, first 32 hex digits) that an
event's ``client_ref`` holds. :class:`Pseudonymiser` applies it to free text:
it finds the ``SK_ID_CURR`` key with a pattern, not a JSON parser, so a
malformed body, a Python ``repr``, a ``key=value`` log line or a body quoted
inside another JSON string are all covered, and replaces the value after the
key by its pseudonym. :class:`ClientMatcher` answers "is this document about
that client?" for erasure and access, without keeping the clear id where a
log line or a traceback could show it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from shared.columns import CLIENT_ID

# Replaces the value when no key is known (a log formatter built without one): nothing to link, nothing clear.
REDACTED = "redacted"

# The key, quoted or not (", ', or a quote escaped inside another JSON string), the separator (':' or '=',
# any spaces or escaped newlines around it), then the value: a quoted string or a bare token. The work is
# linear in the text: the bounded escapes keep each start position's attempt short, and what follows the
# key is only tried where the key is.
_ESCAPED_QUOTE = r"""\\{0,7}["']"""  # a quote, escaped up to three levels deep (bounded: no quadratic scan)
_KEY = re.compile(
    rf"""(?P<q>(?:{_ESCAPED_QUOTE})?){CLIENT_ID}(?P<q2>(?:{_ESCAPED_QUOTE})?)"""
    r"""(?P<sep>(?:\s|\\[nrt])*+[:=](?:\s|\\[nrt])*+(?:\[\s*+)?)"""
    rf"""(?:(?P<vq>{_ESCAPED_QUOTE})(?P<quoted>[^"'\\\r\n]{{0,100}})(?:{_ESCAPED_QUOTE})?"""
    r"""|(?P<bare>[^\s,;:}\])"'\\]{1,100}))"""
)
_INTEGRAL = re.compile(r"[+-]?\d+(?:\.0*)?(?:[eE]\+?\d+)?")
_HEX_REF = re.compile(r"[0-9a-f]{32}")


def pseudonymise(client_id: int | str | None, key: str) -> str | None:
    """Keyed hash (HMAC-SHA256) of a client reference.

    The key comes from the environment and is never stored with the data, so
    the reference cannot be recovered from the index, yet one client keeps the
    same pseudonym across events.

    Args:
        client_id: the clear ``SK_ID_CURR`` (an int, or its text); None gives None.
        key: the ``PSEUDONYMISATION_KEY``.

    Returns:
        32 hex digits, or None.
    """
    if client_id is None:
        return None
    digest = hmac.new(key.encode(), str(client_id).encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def normalise_id(value: Any) -> str | None:
    """The text a client id is hashed from, whatever form it came in.

    ``100002``, ``"100002"``, ``" 100002 "`` and ``100002.0`` are the same
    client (pydantic reads all of them as the integer), so they get the same
    pseudonym. None, booleans and empty text are no id.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    if not text or text.lower() in ("null", "none", "true", "false"):
        return None
    if _INTEGRAL.fullmatch(text):
        try:
            number = float(text)
        except ValueError:  # pragma: no cover - the pattern only lets numbers through
            return text
        if number.is_integer() and abs(number) < 2**63:
            return str(int(number))
    return text


class Pseudonymiser:
    """Replaces every client id in a text, a document or a log payload by its pseudonym.

    Args:
        key: the ``PSEUDONYMISATION_KEY``; None replaces ids by ``"redacted"`` instead
            (no link between two texts, and still nothing in clear).
    """

    __slots__ = ("_inner", "_key", "_outer")

    def __init__(self, key: str | None) -> None:
        self._key = key
        states: tuple[Any, Any] = _hmac_states(key.encode()) if key is not None else (None, None)
        self._inner, self._outer = states

    def __repr__(self) -> str:
        return "Pseudonymiser(<key>)" if self._key is not None else "Pseudonymiser(None)"

    def ref(self, client_id: Any) -> str | None:
        """The pseudonym of one id (any form :func:`normalise_id` reads), or None."""
        text = normalise_id(client_id)
        if text is None:
            return None
        if self._inner is None or self._outer is None:
            return REDACTED
        # pseudonymise(text, key), from the key's two hash states computed once (HMAC's own construction)
        inner = self._inner.copy()
        inner.update(text.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:32]

    def text(self, text: str) -> str:
        """``text`` with the value after every ``SK_ID_CURR`` key replaced by its pseudonym."""
        return self.text_and_refs(text)[0]

    def text_and_refs(self, text: str) -> tuple[str, list[str]]:
        """Like :meth:`text`, and the pseudonyms put in, in order of appearance, without repeats.

        The fast case (no ``SK_ID_CURR`` in the text) is a substring test.
        """
        if CLIENT_ID not in text:
            return text, []
        refs: list[str] = []

        def replace(match: re.Match[str]) -> str:
            value = match.group("quoted") if match.group("vq") is not None else match.group("bare")
            if match.group("bare") is not None and value.lower() in ("null", "none"):
                return match.group(0)
            ref = value if _is_ref(value) else self.ref(value)  # already a pseudonym: kept, never hashed twice
            if ref is None:
                return match.group(0)
            if ref not in refs:
                refs.append(ref)
            # quoted like the value, or like the key: a bare value after a bare key stays bare (a quote there
            # could close the JSON string the text sits in)
            quote = match.group("vq") or match.group("q2")
            return f"{match.group('q')}{CLIENT_ID}{match.group('q2')}{match.group('sep')}{quote}{ref}{quote}"

        return _KEY.sub(replace, text), refs

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string scrubbed (:meth:`text`) and every ``SK_ID_CURR`` entry hashed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: (self.ref(v) if k == CLIENT_ID and not _is_ref(v) else self.value(v)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value


def _hmac_states(key: bytes) -> tuple[Any, Any]:
    """The SHA-256 states of HMAC's inner and outer padded keys (RFC 2104): each pseudonym then costs two copies.

    ``hmac.new`` derives them again for every message.
    """
    block = 64  # SHA-256's block size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key)))


def _is_ref(value: Any) -> bool:
    return isinstance(value, str) and (value == REDACTED or _HEX_REF.fullmatch(value) is not None)


@dataclass(frozen=True, slots=True)
class ClientMatcher:
    """What erasure and access look for: one client's pseudonym, and its clear id in stored text.

    Stored text (a refused input, an error message) holds the pseudonym; text
    stored before it was pseudonymised may still hold the clear id after the
    ``SK_ID_CURR`` key. The clear id stays in this object only: ``repr`` shows
    the pseudonym, never the id.

    Attributes:
        ref: the client's pseudonym (``client_ref``).
    """

    ref: str
    _clear: str

    @classmethod
    def for_client(cls, client_id: Any, key: str) -> ClientMatcher:
        """The matcher of one client id (as given on a command line).

        Raises:
            ValueError: when ``client_id`` is no id (empty, null); the message does not repeat it.
        """
        clear = normalise_id(client_id)
        if clear is None:
            raise ValueError("the client id is empty")
        ref = pseudonymise(clear, key)
        assert ref is not None
        return cls(ref, clear)

    def __repr__(self) -> str:
        return f"ClientMatcher(ref={self.ref!r})"

    def in_text(self, text: Any) -> bool:
        """True when a text holds this client's pseudonym, or its clear id after an ``SK_ID_CURR`` key."""
        if not isinstance(text, str) or not text:
            return False
        if self.ref in text:
            return True
        if CLIENT_ID not in text:
            return False
        for match in _KEY.finditer(text):
            value = match.group("quoted") if match.group("vq") is not None else match.group("bare")
            if normalise_id(value) == self._clear:
                return True
        return False

    def matches(self, doc: Mapping[str, Any], ref_fields: Iterable[str] = ("client_ref",),
                text_fields: Iterable[str] = ()) -> bool:
        """True when a stored document is about this client (a reference field, or a text field, names it).

        Args:
            doc: the stored document.
            ref_fields: fields (dotted for nested ones) that hold a pseudonym, or a list of them.
            text_fields: free-text fields read for the pseudonym or the clear id; ``"*"``: the whole document.
        """
        for name in ref_fields:
            value = _get(doc, name)
            if value == self.ref or (isinstance(value, list) and self.ref in value):
                return True
        for name in text_fields:
            text = _whole(doc) if name == "*" else _get(doc, name)
            if self.in_text(text):
                return True
        return False


def _whole(doc: Mapping[str, Any]) -> str:
    """The document as JSON text (``"*"``: every field is read)."""
    return orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _get(doc: Mapping[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
