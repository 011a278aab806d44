"""The Procfile of `make stack` runs the application services of compose.yaml, with the same commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from honcho.environ import parse_procfile

REPO = Path(__file__).resolve().parents[2]
# compose runs them; `make stack` gets them from `make services` (kibana-setup: Kibana's one-shot helper)
SERVERS = {"redis", "elasticsearch", "kibana", "kibana-setup"}
STACK_ONLY = {"ready"}  # prints the URLs once everything answers
DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")


def _argv(command: str | list[str]) -> list[str]:
    """A command as argv, ``${VAR:-default}`` replaced by its default, a leading ``exec`` dropped."""
    words = command if isinstance(command, list) else shlex.split(command)
    words = [DEFAULT.sub(lambda m: m.group(2), word) for word in words]
    return words[1:] if words and words[0] == "exec" else words


def _procfile() -> dict[str, list[str]]:
    processes = parse_procfile((REPO / "Procfile").read_text()).processes
    return {name: _argv(command) for name, command in processes.items()}


def _compose() -> dict[str, dict]:
    services = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    return {name: spec for name, spec in services.items() if name not in SERVERS}


def test_the_procfile_has_one_line_per_application_service_of_compose() -> None:
    assert set(_procfile()) - STACK_ONLY == set(_compose())


def test_each_line_runs_the_command_of_its_compose_service() -> None:
    procfile = _procfile()
    for name, spec in _compose().items():
        if "command" in spec:
            assert procfile[name] == _argv(spec["command"]), name
        else:  # the image's CMD, ports and workers from the environment (PORT, WEB_CONCURRENCY)
            assert procfile[name][:3] == ["python", "-m", name], name


def test_the_gateway_and_the_pool_default_to_two_processes_each() -> None:
    procfile = _procfile()
    gateway, pool = procfile["gateway"], procfile["worker"]
    assert gateway[gateway.index("--workers") + 1] == "2"
    assert pool[pool.index("--processes") + 1] == "2"
