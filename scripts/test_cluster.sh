#!/usr/bin/env bash
# `make test-cluster`: the indexer against the three-node Elasticsearch cluster of scripts/es_cluster.sh,
# one node stopped under load and started again (tests/cluster/). Needs the Redis of `make services`.
# Starts the cluster, runs the test, stops the cluster (also on failure or Ctrl-C); the last line
# is the test's summary: `cluster test: N events, 0 lost, 0 duplicated, node down S s`.
# Environment: VENV (.venv), CLUSTER_TEST_RATE (events/s, 300), ES_CLUSTER_HEAP (512m).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
SUMMARY=$(mktemp)

stop_cluster() {
    local rc=$?
    bash "$ROOT/scripts/es_cluster.sh" stop || true
    rm -f "$SUMMARY"
    exit "$rc"
}
trap stop_cluster EXIT

bash "$ROOT/scripts/es_cluster.sh" start
ES_CLUSTER_URL=http://127.0.0.1:9201,http://127.0.0.1:9202,http://127.0.0.1:9203 CLUSTER_TEST_SUMMARY=$SUMMARY \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/cluster" </dev/null
trap - EXIT
bash "$ROOT/scripts/es_cluster.sh" stop
line=$(cat "$SUMMARY")
rm -f "$SUMMARY"
echo "$line"
