#!/usr/bin/env bash
# A three-node Elasticsearch cluster on this machine, for the cluster test (`make test-cluster`):
# three processes of the distribution `make services` downloads (.services/es/), on 127.0.0.1,
# HTTP 9201-9203, transport 9301-9303, one cluster formed through discovery.seed_hosts and
# cluster.initial_master_nodes. Apart from `make services`' single node on 9200.
#
#   scripts/es_cluster.sh start          start the three nodes (those already up are kept), wait for green
#   scripts/es_cluster.sh stop           stop the nodes this script started
#   scripts/es_cluster.sh status         each node's pid and the cluster's health
#   scripts/es_cluster.sh start-node N   start node N (1-3) again, e.g. after stop-node
#   scripts/es_cluster.sh stop-node N    stop node N only (the cluster test's outage)
#
# Each node: heap ES_CLUSTER_HEAP (512m), data, logs and pid in .services/es/cluster/node-N/.
# The data is wiped at `start` when no node runs (a test cluster: every run starts empty).
# Environment: ES_CLUSTER_HEAP, ES_CLUSTER_JIT_OPTS (-XX:TieredStopAtLevel=1), ES_START_TIMEOUT (120 s), ES_JAVA_HOME, SERVICES_DIR (.services).
set -euo pipefail

LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib
# shellcheck source=scripts/lib/common.sh
source "$LIB/common.sh"
# shellcheck source=scripts/lib/elasticsearch.sh
source "$LIB/elasticsearch.sh"

NODES=(1 2 3)
HEAP=${ES_CLUSTER_HEAP:-512m}
CLUSTER_DIR=$ES_DIR/cluster
CLUSTER_NAME=scoring-test-cluster
SEEDS=127.0.0.1:9301,127.0.0.1:9302,127.0.0.1:9303
MASTERS=node-1,node-2,node-3
# The client compiler only: a node starts in about half the CPU time (start-up is mostly JIT
# work), at some cost in peak throughput, which a test cluster does not need.
JIT_OPTS=${ES_CLUSTER_JIT_OPTS:--XX:TieredStopAtLevel=1}

say() { echo "[es-cluster] $*"; }

node_dir() { echo "$CLUSTER_DIR/node-$1"; }
node_pid() { pid_of "$(node_dir "$1")/es.pid" "$ES_PATTERN"; }
http_port() { echo $((9200 + $1)); }

# cluster_health [QUERY]: the JSON of /_cluster/health from the first node that answers.
cluster_health() {
    local n body
    for n in "${NODES[@]}"; do
        body=$(curl -s --max-time 35 "http://$HOST:$(http_port "$n")/_cluster/health${1:+?$1}" 2>/dev/null || true)
        [[ $body == *'"status"'* ]] && { echo "$body"; return 0; }
    done
    echo '{}'
}

start_node() {
    local n=$1 dir port
    dir=$(node_dir "$n")
    port=$(http_port "$n")
    if node_pid "$n" >/dev/null; then
        say "node-$n already running (pid $(node_pid "$n"))"
        return 0
    fi
    port_open "$port" && die "port $port is taken by a process that is not node-$n of this cluster."
    mkdir -p "$dir/data" "$dir/logs" "$dir/tmp"
    # a config folder per node: each bootstraps its own keystore there (a shared one races at start)
    [[ -d $dir/config ]] || cp -r "$ES_HOME/config" "$dir/config"
    [[ -n ${ES_RUN[*]:-} ]] && chown -R "$ES_RUN_AS:" "$dir"
    # -d: returns once the node runs (before the cluster has formed); health is polled after.
    (cd "$ES_HOME" && "${ES_RUN[@]}" env ES_JAVA_HOME="$ES_JAVA_HOME" ES_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP $JIT_OPTS" \
        ES_TMPDIR="$dir/tmp" ES_PATH_CONF="$dir/config" "$ES_HOME/bin/elasticsearch" -d -p "$dir/es.pid" \
        -E cluster.name="$CLUSTER_NAME" -E node.name="node-$n" \
        -E network.host="$HOST" -E http.port="$port" -E transport.port=$((9300 + n)) \
        -E discovery.seed_hosts="$SEEDS" -E cluster.initial_master_nodes="$MASTERS" \
        -E xpack.security.enabled=false -E path.data="$dir/data" -E path.logs="$dir/logs" \
        -E cluster.routing.allocation.disk.threshold_enabled=false \
        </dev/null >"$dir/logs/startup.out" 2>&1 9>&-) || {
        show_tail "$dir/logs/$CLUSTER_NAME.log" "$dir/logs/startup.out"
        die "node-$n did not start (logs: $dir/logs/)."
    }
    say "node-$n started on $HOST:$port (pid $(node_pid "$n" || echo '?'))"
}

# wait_for STATUS NODES: until the cluster has NODES nodes and is at least STATUS.
wait_for() {
    local status=$1 nodes=$2 deadline=$((SECONDS + ES_START_TIMEOUT)) body
    while ((SECONDS < deadline)); do
        body=$(cluster_health "wait_for_status=$status&wait_for_nodes=$nodes&timeout=5s")
        if [[ $body == *'"timed_out":false'* ]]; then
            say "cluster $CLUSTER_NAME: $nodes nodes, $(es_status_of "$body")"
            return 0
        fi
        sleep 1
    done
    die "the cluster did not reach $status with $nodes nodes within ${ES_START_TIMEOUT} s (logs: $CLUSTER_DIR/node-*/logs/)."
}

es_status_of() { [[ $1 =~ \"status\":\"([a-z]+)\" ]] && echo "${BASH_REMATCH[1]}" || echo unknown; }

prepare() {
    command -v curl >/dev/null || die "curl is needed: install it ('apt-get install -y curl')."
    es_find_java
    es_unpack
    es_prepare_user
}

any_running() {
    local n
    for n in "${NODES[@]}"; do node_pid "$n" >/dev/null && return 0; done
    return 1
}

check_node() { [[ ${1:-} =~ ^[123]$ ]] || die "node number 1, 2 or 3 expected, got '${1:-}'"; }

case ${1:-} in
    start)
        prepare
        any_running || rm -rf "$CLUSTER_DIR"
        pids=()
        for n in "${NODES[@]}"; do start_node "$n" & pids+=($!); done
        for pid in "${pids[@]}"; do wait "$pid"; done
        wait_for green 3
        ;;
    start-node)
        check_node "${2:-}"
        prepare
        start_node "$2"
        ;;
    stop-node)
        check_node "${2:-}"
        stop_pid "node-$2" "$(node_dir "$2")/es.pid" "$ES_PATTERN" || say "node-$2 was not running"
        ;;
    stop)
        for n in "${NODES[@]}"; do
            stop_pid "node-$n" "$(node_dir "$n")/es.pid" "$ES_PATTERN" &
        done
        wait
        ;;
    status)
        for n in "${NODES[@]}"; do
            if pid=$(node_pid "$n"); then
                say "node-$n: running, pid $pid, http $HOST:$(http_port "$n"), transport $HOST:$((9300 + n))"
            else
                say "node-$n: not running"
            fi
        done
        body=$(cluster_health)
        [[ $body == '{}' ]] && say "cluster: no node answers" ||
            say "cluster: $(es_status_of "$body"), $([[ $body =~ \"number_of_nodes\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}") nodes"
        ;;
    *)
        echo "usage: $0 start|stop|status|start-node N|stop-node N" >&2
        exit 2
        ;;
esac
