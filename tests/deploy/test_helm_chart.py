"""The Helm chart, checked offline: helm lint, helm template into kubernetes-validate, the KEDA and ECK schemas."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import check_chart  # noqa: E402


@pytest.fixture(scope="module")
def helm() -> str:
    try:
        return check_chart.find_helm()
    except SystemExit as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{exc}: CI must not skip the chart checks", pytrace=False)
        pytest.skip(str(exc))


def _render(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return check_chart.run([helm, "template", "scoring", str(check_chart.CHART), *args])


def test_both_value_sets_lint_render_and_validate(helm: str) -> None:
    assert check_chart.check(helm) == []


def test_production_values_render_the_keda_and_eck_resources(helm: str) -> None:
    rendered = _render(helm, "-f", str(check_chart.CHART / "values-production.yaml")).stdout
    kinds = {doc["kind"] for doc in yaml.safe_load_all(rendered) if doc}
    assert {"ScaledObject", "TriggerAuthentication", "Elasticsearch"} <= kinds
    assert "HorizontalPodAutoscaler" in kinds  # the gateway's; the workers' is replaced by KEDA
    workers = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "HorizontalPodAutoscaler"]
    assert [d["metadata"]["name"] for d in workers] == ["scoring-credit-scoring-gateway"]
    default = _render(helm).stdout
    assert "ScaledObject" not in default and "kind: Elasticsearch" not in default


def test_every_container_runs_as_non_root_with_probes_and_resources(helm: str) -> None:
    for args in ([], ["-f", str(check_chart.CHART / "values-production.yaml")]):
        for doc in yaml.safe_load_all(_render(helm, *args).stdout):
            if not doc or doc["kind"] != "Deployment":
                continue
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            for container in pod["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
                assert {"requests", "limits"} <= container["resources"].keys()
                assert "livenessProbe" in container or "readinessProbe" in container, doc["metadata"]["name"]


def test_production_without_secrets_is_refused(helm: str) -> None:
    result = _render(helm, "--set", "environment=production")
    assert result.returncode != 0 and "secrets.apiKeys" in result.stderr


def _production_custom(helm: str) -> list[dict]:
    rendered = _render(helm, "-f", str(check_chart.CHART / "values-production.yaml")).stdout
    return check_chart.custom_documents(rendered)


def test_the_schemas_refuse_fields_the_projects_do_not_document(helm: str) -> None:
    documents = _production_custom(helm)
    assert check_chart.check_custom(documents) == []
    scaled = copy.deepcopy(next(d for d in documents if d["kind"] == "ScaledObject"))
    scaled["spec"]["minReplicas"] = 1  # KEDA's field is minReplicaCount
    del scaled["spec"]["triggers"][0]["metadata"]["listName"]
    elastic = copy.deepcopy(next(d for d in documents if d["kind"] == "Elasticsearch"))
    del elastic["spec"]["nodeSets"][0]["count"]
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    failures = check_chart.check_custom([scaled, elastic, unknown])
    assert len(failures) == 3
    assert "ScaledObject" in failures[0] and "Elasticsearch" in failures[1] and "no schema" in failures[2]
