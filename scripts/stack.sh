#!/usr/bin/env bash
# `make stack`: the full stack on this machine, without Docker: every line of the Procfile
# (gateway, worker pool, indexer, monitoring scheduler, dashboard, and `ready`, which prints
# the URLs once all answer) as its own process under honcho, logs prefixed by process name.
#
#   1. REDIS_URL / ELASTICSEARCH_URL unset (or pointing at 127.0.0.1:6379 / :9200): starts the
#      servers of `make services` when they are down (scripts/services.sh start, idempotent).
#   2. API_KEYS unset: generates a development key once (var/dev-api-key, mode 600; the same as `make run`), uses
#      it and prints it when the stack is ready. ALLOW_NO_API_KEY=true runs without a key.
#      DASHBOARD_USERS unset: the same with a development dashboard user (var/dev-dashboard-user),
#      printed as `Dashboard user: NAME PASSWORD`. ALLOW_OPEN_DASHBOARD=true serves it without a login.
#   3. Ctrl-C (SIGINT) or SIGTERM: honcho sends SIGTERM to each process group, SIGKILL after
#      5 s; then this script looks for any process still carrying this run's marker in its
#      environment (STACK_RUN_ID) and ends it, so that nothing is left behind.
#
# Environment: PORT (8000), DASH_PORT (8050), WEB_CONCURRENCY (2), WORKER_PROCESSES (2),
# STOP_TIMEOUT (20 s: then what honcho could not stop is ended here), GATEWAY_LOG (where the gateway's
# lines go: this script's own output when it is a terminal, a pipe or a file opened with >>), MODEL_DIR (models/default), REDIS_URL, ELASTICSEARCH_URL, ES_INDEX_PREFIX, API_KEYS, DASHBOARD_USERS,
# VENV (.venv), and every other setting of the services (shared/settings.py and each
# service's settings.py). A .env file is NOT read: that one is docker compose's (production).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { echo "[stack] $*"; }
warn() { echo "[stack] WARNING: $*" >&2; }
die() {
    echo "[stack] error: $*" >&2
    exit 1
}

# is_local URL PORT: true when URL is this machine's server of `make services` on PORT
is_local() {
    [[ $1 =~ ^[a-z]+://(127\.0\.0\.1|localhost):$2(/.*)?$ ]]
}

servers() {
    if [[ -z ${REDIS_URL:-} || -z ${ELASTICSEARCH_URL:-} ]] ||
        is_local "$REDIS_URL" "${REDIS_PORT:-6379}" || is_local "$ELASTICSEARCH_URL" "${ES_PORT:-9200}"; then
        bash "$ROOT/scripts/services.sh" start
    fi
    export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:${REDIS_PORT:-6379}/0}
    export ELASTICSEARCH_URL=${ELASTICSEARCH_URL:-http://127.0.0.1:${ES_PORT:-9200}}
    "$VENV/bin/python" - <<'EOF' || warn "starting anyway: the processes wait and retry; /health/ready says what is down."
import os, sys, urllib.request
import redis
bad = []
try:
    redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=3).ping()
except redis.RedisError as exc:
    bad.append(f"Redis at {os.environ['REDIS_URL']} does not answer: {exc}")
import base64, ssl
url = os.environ["ELASTICSEARCH_URL"].rstrip("/") + "/_cluster/health"
headers = {}
if os.environ.get("ELASTICSEARCH_API_KEY"):
    headers["Authorization"] = "ApiKey " + os.environ["ELASTICSEARCH_API_KEY"]
elif os.environ.get("ELASTICSEARCH_USERNAME") and os.environ.get("ELASTICSEARCH_PASSWORD"):
    pair = f"{os.environ['ELASTICSEARCH_USERNAME']}:{os.environ['ELASTICSEARCH_PASSWORD']}"
    headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
context = ssl.create_default_context(cafile=os.environ.get("ELASTICSEARCH_CA_CERTS") or None)
try:
    urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5, context=context).close()
except OSError as exc:
    bad.append(f"Elasticsearch at {url} does not answer: {exc}")
for line in bad:
    print(f"[stack] WARNING: {line}", file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

api_keys() {
    [[ -z ${API_KEYS:-} ]] || return 0
    if [[ ${ALLOW_NO_API_KEY:-} =~ ^(1|true|yes|on)$ ]]; then
        warn "API_KEYS is not set and ALLOW_NO_API_KEY=true: the API accepts requests WITHOUT ANY KEY (development only)."
        return 0
    fi
    API_KEYS=$("$VENV/bin/python" "$ROOT/scripts/dev_api_key.py")
    export API_KEYS STACK_DEV_API_KEY=$API_KEYS
    say "API_KEYS is not set: using the development key of var/dev-api-key (printed once the stack is ready)."
}

dashboard_users() {
    [[ -z ${DASHBOARD_USERS:-} ]] || return 0
    if [[ ${ALLOW_OPEN_DASHBOARD:-} =~ ^(1|true|yes|on)$ ]]; then
        warn "DASHBOARD_USERS is not set and ALLOW_OPEN_DASHBOARD=true: the dashboard answers WITHOUT A LOGIN (development only)."
        return 0
    fi
    DASHBOARD_USERS=$("$VENV/bin/python" "$ROOT/scripts/dev_dashboard_user.py" --users)
    STACK_DEV_DASHBOARD_USER=$("$VENV/bin/python" "$ROOT/scripts/dev_dashboard_user.py")
    export DASHBOARD_USERS STACK_DEV_DASHBOARD_USER
    say "DASHBOARD_USERS is not set: using the development user of var/dev-dashboard-user (printed once the stack is ready)."
}

ports() {
    export API_PORT=${PORT:-8000} DASH_PORT=${DASH_PORT:-8050}
    local port
    for port in "$API_PORT" "$DASH_PORT"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            die "port $port is already in use (another 'make stack' or 'make run'?): stop it, or set PORT / DASH_PORT."
        fi
    done
}

# leftovers: pids of the processes that carry this run's marker (honcho and all it started)
# direct_log: true when the gateway may write to this script's output itself (GATEWAY_LOG, see
# the Procfile): a terminal, a pipe, or a file opened for appending (`>>`: a file opened with `>`
# would be written over, since the gateway opens it anew with its own offset)
direct_log() {
    local out=/proc/$$/fd/1 flags
    [[ -e $out ]] || return 1
    [[ -p $out || -c $out ]] && return 0
    flags=$(awk '/^flags:/ {print $2}' "/proc/$$/fdinfo/1" 2>/dev/null) || return 1
    [[ -n $flags ]] && (((8#$flags & 8#2000) != 0))  # O_APPEND
}

leftovers() {
    local environ pid
    for environ in /proc/[0-9]*/environ; do
        pid=${environ#/proc/}
        pid=${pid%/environ}
        if tr '\0' '\n' 2>/dev/null <"$environ" | grep -qx "STACK_RUN_ID=$run_id"; then
            echo "$pid"
        fi
    done
}

sweep() {
    [[ -d /proc ]] || return 0
    local pids pid
    pids=$(leftovers)
    [[ -n $pids ]] || return 0
    for pid in $pids; do
        warn "left behind: pid $pid ($(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-100)): stopping it"
        kill -TERM "$pid" 2>/dev/null || true
    done
    swept=1
    sleep 5
    for pid in $(leftovers); do
        warn "pid $pid did not stop on SIGTERM: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    done
    sleep 1
    pids=$(leftovers)
    [[ -z $pids ]] || warn "STILL RUNNING after SIGKILL: pid(s) $(echo "$pids" | tr '\n' ' ')"
}

main() {
    cd "$ROOT"
    VENV=${VENV:-.venv}
    [[ $VENV = /* ]] || VENV=$ROOT/$VENV
    [[ -x $VENV/bin/python && -x $VENV/bin/honcho ]] ||
        die "no $VENV/bin/honcho: run 'make venv' first (honcho comes with the dev extra)."
    export MODEL_DIR=${MODEL_DIR:-models/default}
    [[ -f $MODEL_DIR/metadata.json ]] ||
        die "no model bundle in $MODEL_DIR (no metadata.json): run 'make bundle', or set MODEL_DIR."
    ports
    servers
    api_keys
    dashboard_users
    export WEB_CONCURRENCY=${WEB_CONCURRENCY:-2} WORKER_PROCESSES=${WORKER_PROCESSES:-2}
    export PATH=$VENV/bin:$PATH PYTHONUNBUFFERED=1 DO_NOT_TRACK=1
    run_id=$(date +%s)-$$-$RANDOM
    # one Prometheus multi-process directory for every service: each process writes its own
    # CPU/memory/fds gauges there (liveall), the gateway's /metrics and the scheduler's
    # resource sampler read them all
    if [[ -z ${PROMETHEUS_MULTIPROC_DIR:-} ]]; then
        PROMETHEUS_MULTIPROC_DIR=$(mktemp -d "${TMPDIR:-/tmp}/stack-metrics-XXXXXX")
        export PROMETHEUS_MULTIPROC_DIR
        trap_dir=$PROMETHEUS_MULTIPROC_DIR
    fi
    # the indexer's name in the consumer group: `ready` waits for it to appear there
    export INDEXER_CONSUMER=${INDEXER_CONSUMER:-$(hostname)-stack-$run_id}
    # the gateway writes a line per request: honcho relays each line of its processes through a
    # multiprocessing queue, about 0.1 ms of CPU a line, as much as a quarter of a request's cost;
    # the gateway's lines go to this script's output directly instead (unprefixed JSON lines)
    if [[ -z ${GATEWAY_LOG:-} ]] && direct_log; then
        export GATEWAY_LOG=/proc/$$/fd/1
    fi
    local colour=()
    [[ -t 1 ]] || colour=(--no-colour)
    say "starting gateway ($WEB_CONCURRENCY processes), worker pool ($WORKER_PROCESSES), indexer, monitoring-scheduler, dashboard"
    say "Redis $REDIS_URL, Elasticsearch $ELASTICSEARCH_URL (index prefix ${ES_INDEX_PREFIX:-scoring}), model $MODEL_DIR"

    # honcho's own output written one whole line per write (its print() writes the line and the
    # line break apart when PYTHONUNBUFFERED is set), so that the gateway's lines, written to the
    # same output directly, never land inside one of them
    STACK_RUN_ID=$run_id "$VENV/bin/python" -c 'import sys
sys.stdout.reconfigure(write_through=False)
from honcho.command import main
main()' start --env /dev/null --procfile "$ROOT/Procfile" "${colour[@]}" &
    honcho_pid=$!
    # honcho stops every process on SIGINT/SIGTERM: forward ours to it (a background job of a
    # non-interactive shell ignores the terminal's SIGINT, and a SIGTERM to this script would
    # not reach it otherwise)
    stopping=0 swept=0
    trap 'stopping=1; kill -TERM "$honcho_pid" 2>/dev/null || true' INT TERM
    # honcho waits for each process's output to close: a process that left its group while
    # holding that pipe would keep it waiting forever, so give it STOP_TIMEOUT s, then sweep
    local rc=0 deadline=0
    while kill -0 "$honcho_pid" 2>/dev/null; do
        if [[ $stopping -eq 1 ]]; then
            ((deadline > 0)) || deadline=$((SECONDS + ${STOP_TIMEOUT:-20}))
            if ((SECONDS >= deadline)); then
                warn "honcho has not stopped ${STOP_TIMEOUT:-20} s after the stop request: ending what is left"
                break
            fi
        fi
        sleep 0.5 || true  # the terminal's SIGINT ends the sleep too
    done
    trap - INT TERM
    sweep
    [[ -z ${trap_dir:-} ]] || rm -rf -- "$trap_dir"
    wait "$honcho_pid" 2>/dev/null || rc=$?
    if [[ $swept -eq 1 ]]; then
        say "stopped, but honcho left processes behind that this script had to end (see the warnings above)."
        return $((rc == 0 ? 1 : rc))
    fi
    # honcho exits 130 / 143 when it was told to stop (SIGINT / SIGTERM), with the status of
    # the first process that ended otherwise
    if [[ $rc -eq 0 || $rc -eq 130 || $rc -eq 143 ]]; then
        say "stopped: no process of the stack is left."
        return 0
    fi
    say "stopped (exit status $rc: a process ended, see its last lines above); no process of the stack is left."
    return "$rc"
}

# everything runs from main, parsed in full before it starts: editing this file while a stack
# runs cannot break the stop sequence
main "$@"
