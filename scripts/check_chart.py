"""Check the Helm chart offline: ``helm lint``, and ``helm template`` of each value set validated.

For each of ``values.yaml`` and ``values-production.yaml`` (``-f``): ``helm lint``;
``helm template`` piped into ``kubernetes-validate --strict`` (the Kubernetes
schemas it carries: Deployments, Services, HPAs, PDBs, Ingresses...); then the
kinds it has no schema for (KEDA's ScaledObject and TriggerAuthentication,
ECK's Elasticsearch) checked with ``check-jsonschema`` against the schemas in
``deploy/helm/schemas/``. Any such kind without a schema there is an error.

Usage:
    .venv/bin/python scripts/check_chart.py [--helm PATH]

Exit status 0 when everything passes, 1 otherwise (what failed is printed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "credit-scoring"
SCHEMAS = ROOT / "deploy" / "helm" / "schemas"
BIN = Path(sys.executable).parent
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCHEMAS / "keda-scaledobject.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): SCHEMAS / "keda-triggerauthentication.json",
    ("elasticsearch.k8s.elastic.co/v1", "Elasticsearch"): SCHEMAS / "eck-elasticsearch.json",
}
VALUE_SETS = {"values.yaml": [], "values-production.yaml": ["-f", str(CHART / "values-production.yaml")]}


def find_helm(given: str | None = None) -> str:
    """``--helm``, ``$HELM``, the Makefile's ``$TOOLS/bin/helm`` (``~/.cache/credit-scoring/tools``) or ``helm``."""
    tools = Path(os.environ.get("TOOLS", Path.home() / ".cache" / "credit-scoring" / "tools"))
    for candidate in (given, os.environ.get("HELM"), str(tools / "bin" / "helm"), str(ROOT / ".tools" / "bin" / "helm"),
                      shutil.which("helm")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("helm not found: `make helm` builds it into ~/.cache/credit-scoring/tools/bin")


def run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output."""
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=ROOT, check=False)


def custom_documents(rendered: str) -> list[dict]:
    """The rendered documents of the kinds kubernetes-validate has no schema for."""
    return [doc for doc in yaml.safe_load_all(rendered)
            if isinstance(doc, dict) and (doc.get("apiVersion"), doc.get("kind")) not in _core(doc)]


def _core(doc: dict) -> set[tuple[str, str]]:
    group = str(doc.get("apiVersion", "")).split("/")[0]
    # built-in API groups have no dot (v1, apps/v1) or end in .k8s.io (networking.k8s.io/v1)
    return set() if "." in group and not group.endswith(".k8s.io") else {(doc.get("apiVersion"), doc.get("kind"))}


def check_custom(documents: list[dict]) -> list[str]:
    """check-jsonschema on each custom resource; returns the failures."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for number, doc in enumerate(documents):
            key = (doc.get("apiVersion"), doc.get("kind"))
            schema = CUSTOM_KINDS.get(key)  # type: ignore[arg-type]
            if schema is None:
                failures.append(f"no schema in {SCHEMAS} for {key[1]} {key[0]}")
                continue
            path = Path(tmp) / f"{number}-{doc['kind']}.yaml"
            path.write_text(yaml.safe_dump(doc))
            result = run([str(BIN / "check-jsonschema"), "--schemafile", str(schema), str(path)])
            if result.returncode != 0:
                failures.append(f"{doc['kind']} {doc['metadata'].get('name')}: {result.stdout}{result.stderr}")
    return failures


def check(helm: str) -> list[str]:
    """Every check on both value sets; returns the failures (empty: all passed)."""
    failures: list[str] = []
    for name, extra in VALUE_SETS.items():
        lint = run([helm, "lint", str(CHART), *extra])
        if lint.returncode != 0:
            failures.append(f"helm lint ({name}):\n{lint.stdout}{lint.stderr}")
        template = run([helm, "template", "scoring", str(CHART), *extra])
        if template.returncode != 0:
            failures.append(f"helm template ({name}):\n{template.stderr}")
            continue
        validate = run([str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-"], stdin=template.stdout)
        if validate.returncode != 0 or "ERROR" in validate.stdout:
            failures.append(f"kubernetes-validate ({name}):\n{validate.stdout}{validate.stderr}")
        customs = custom_documents(template.stdout)
        failures += [f"{name}: {failure}" for failure in check_custom(customs)]
        print(f"{name}: helm lint ok, {template.stdout.count('kind:')} documents valid "
              f"(kubernetes-validate), custom resources {sorted({d['kind'] for d in customs}) or 'none'} "
              f"{'valid' if not failures else 'checked'} (check-jsonschema)")
    return failures


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--helm", help="the helm binary (default: $HELM, $TOOLS/bin/helm, PATH)")
    args = parser.parse_args(argv)
    failures = check(find_helm(args.helm))
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
