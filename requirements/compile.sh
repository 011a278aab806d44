#!/usr/bin/env bash
# Regenerate the per-image lock files from pyproject.toml's extras, pinned to the versions of
# constraints.txt (the versions the test suite runs with), with sha256 hashes for pip's
# --require-hashes mode. Needs uv (`pip install uv`) and PyPI.
#
#   requirements/compile.sh            rewrite requirements/{gateway,worker,monitoring,space}.txt
#
# tests/test_containers_config.py fails when a lock file pins a version that constraints.txt
# does not: rerun this script after changing pyproject.toml or constraints.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v uv >/dev/null || { echo "uv is not installed: pip install uv" >&2; exit 1; }

compile() {  # compile OUTPUT SOURCES... -- EXTRAS... [-- PACKAGES LEFT OUT]
    local out=$1; shift
    local sources=() extras=() omit=()
    while [ "$1" != -- ]; do sources+=("$1"); shift; done; shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do extras+=(--extra "$1"); shift; done
    [ $# -gt 0 ] && shift
    for p in "$@"; do omit+=(--no-emit-package "$p"); done
    uv pip compile "${sources[@]}" "${extras[@]}" "${omit[@]}" -c constraints.txt \
        --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
        --native-tls --quiet --custom-compile-command "requirements/compile.sh" -o "requirements/$out"
    echo "requirements/$out: $(grep -c '==' "requirements/$out") packages"
}

# The gateway and the worker use LightGBM's C library only (shared/treeshap.py, the exact
# explanations), never its Python package: its SciPy and narwhals stay out of those images.
compile gateway.txt pyproject.toml -- gateway -- scipy narwhals
compile worker.txt pyproject.toml -- worker -- scipy narwhals
compile monitoring.txt pyproject.toml -- monitoring
# the Hugging Face Space: gateway (with the worker package's embedded worker and indexer),
# dashboard and scheduler in one container, run by honcho
compile space.txt pyproject.toml requirements/space.in -- gateway worker monitoring
