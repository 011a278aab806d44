"""orjson-rendered JSON responses (no response-model validation on the hot path)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class OrjsonResponse(Response):
    """A JSON response rendered by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content`` (dicts, lists, numbers, numpy scalars)."""
        return orjson.dumps(content, option=_OPTIONS)
