"""Print the environment variables of every service as one markdown table.

The README's table is this script's output (``tests/test_readme.py`` checks
they agree), so the documentation cannot drift from the settings classes.

    python scripts/settings_table.py
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages, not an installed copy
from gateway.settings import GatewaySettings  # noqa: E402
from monitoring.settings import MonitoringSettings  # noqa: E402
from shared.settings import BaseServiceSettings  # noqa: E402
from worker.settings import WorkerSettings  # noqa: E402

SERVICES: list[tuple[str, type[BaseServiceSettings]]] = [
    ("all", BaseServiceSettings),
    ("gateway", GatewaySettings),
    ("worker", WorkerSettings),
    ("monitoring", MonitoringSettings),
]


def _env_names(name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return [str(c).upper() for c in choices]
    if isinstance(alias, str):
        return [alias.upper()]
    return [name.upper()]


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None or value == []:
        return "unset"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    text = str(value)
    if socket.gethostname() in text:
        return text.replace(socket.gethostname(), "<hostname>").replace(str(os.getpid()), "<pid>")
    return "dev-only value" if "dev-only" in text else text


def rows() -> list[tuple[str, str, str, str]]:
    """(variable, services, default, description) of every setting, base ones first."""
    base = set(BaseServiceSettings.model_fields)
    seen: dict[str, list[Any]] = {}
    for service, cls in SERVICES:
        for name, field in cls.model_fields.items():
            if service != "all" and name in base:
                continue
            env = " / ".join(f"`{n}`" for n in _env_names(name, field))
            if env in seen:
                seen[env][1].append(service)
                continue
            description = (field.description or "").replace("|", "/")
            seen[env] = [env, [service], _default(field), description]
    return [(env, ", ".join(services), f"`{default}`", desc) for env, services, default, desc in seen.values()]


def table() -> str:
    """The markdown table."""
    lines = ["| variable | used by | default | what it does |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(table())
