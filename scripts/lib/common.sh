# shellcheck shell=bash
# Shared helpers for scripts/services.sh: paths, messages, pid files, probes.
# Sourced, never run. Callers run under `set -euo pipefail`.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SERVICES_DIR=${SERVICES_DIR:-$ROOT/.services}
REDIS_PORT=${REDIS_PORT:-6379}
ES_PORT=${ES_PORT:-9200}
HOST=127.0.0.1

say() { echo "[services] $*"; }
warn() { echo "[services] $*" >&2; }
die() {
    echo "[services] error: $*" >&2
    exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# apt_install PKG...: install Debian packages (root only), updating the lists once if needed.
apt_install() {
    is_root || return 1
    command -v apt-get >/dev/null || return 1
    say "installing $* with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q "$@" >"$SERVICES_DIR/apt.log" 2>&1; then
        apt-get update -q >>"$SERVICES_DIR/apt.log" 2>&1 || true
        apt-get install -y -q "$@" >>"$SERVICES_DIR/apt.log" 2>&1 || {
            tail -n 5 "$SERVICES_DIR/apt.log" >&2
            return 1
        }
    fi
}

# pid_of PIDFILE PATTERN: print the pid recorded in PIDFILE if that process is alive
# and its command line contains PATTERN (so a recycled pid is never taken for ours).
pid_of() {
    local pidfile=$1 pattern=$2 pid
    [[ -r $pidfile ]] || return 1
    pid=$(tr -dc '0-9' <"$pidfile")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern" || return 1
    echo "$pid"
}

# stop_pid NAME PIDFILE PATTERN: end the process of PIDFILE (TERM, then KILL after 30 s).
stop_pid() {
    local name=$1 pidfile=$2 pattern=$3 pid i
    if ! pid=$(pid_of "$pidfile" "$pattern"); then
        rm -f "$pidfile"
        return 1
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "$name (pid $pid) did not stop in 30 s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    say "$name stopped (pid $pid)"
}

# port_open PORT: true when something accepts TCP connections on HOST:PORT.
port_open() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# show_tail FILE...: the last lines of the first existing, non-empty file, on stderr.
show_tail() {
    local f
    for f in "$@"; do
        if [[ -s $f ]]; then
            warn "last lines of $f:"
            tail -n 25 "$f" >&2
            return 0
        fi
    done
}
