#!/usr/bin/env bash
# A throw-away single Elasticsearch node with path.repo set, for the snapshot archive test:
#   scripts/es_archive_node.sh start PORT DIR   data, logs and the snapshot repository under DIR
#   scripts/es_archive_node.sh stop DIR
# It runs the distribution that `make services` unpacked (.services/es/), never downloads one,
# and leaves the shared node on 9200 alone. path.repo is a node setting: a running server
# cannot get one, hence a node of its own.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/elasticsearch.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/elasticsearch.sh"

start() {
    local port=$1 dir=$2 deadline run=()
    [[ -f $ES_HOME/.unpacked ]] || die "no Elasticsearch under $ES_HOME: run 'make services' first."
    [[ $(es_health "$port") == 000 ]] || die "port $port is taken."
    es_find_java
    mkdir -p "$dir/data" "$dir/logs" "$dir/repo" "$dir/tmp"
    if is_root; then
        chown -R "$ES_USER:" "$dir"
        chmod o+x "$dir"
        run=(runuser -u "$ES_USER" --)
    fi
    (cd "$ES_HOME" && "${run[@]}" env ES_JAVA_HOME="$ES_JAVA_HOME" ES_JAVA_OPTS="-Xms256m -Xmx256m" \
        ES_TMPDIR="$dir/tmp" "$ES_HOME/bin/elasticsearch" -d -p "$dir/es.pid" \
        -E cluster.name=archive-test -E node.name=archive-test -E discovery.type=single-node \
        -E xpack.security.enabled=false -E network.host="$HOST" -E http.port="$port" \
        -E path.data="$dir/data" -E path.logs="$dir/logs" -E path.repo="$dir/repo" \
        -E cluster.routing.allocation.disk.threshold_enabled=false \
        </dev/null >"$dir/logs/startup.out" 2>&1) || { show_tail "$dir/logs/startup.out"; die "the node did not start."; }
    deadline=$((SECONDS + ES_START_TIMEOUT))
    until [[ $(es_health "$port" 5s) == 200 ]]; do
        ((SECONDS < deadline)) || { show_tail "$dir/logs/archive-test.log"; die "the node was not ready in time."; }
        sleep 1
    done
    say "archive test node on $HOST:$port, path.repo=$dir/repo"
}

stop() {
    local dir=$1 pid
    [[ -f $dir/es.pid ]] || return 0
    pid=$(cat "$dir/es.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
}

case ${1:-} in
    start) start "$2" "$3" ;;
    stop) stop "$2" ;;
    *) echo "usage: $0 start PORT DIR | stop DIR" >&2; exit 2 ;;
esac
