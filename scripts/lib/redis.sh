# shellcheck shell=bash
# Redis for scripts/services.sh: Debian's redis-server, daemonized by us, files in .services/redis/.
# Sourced after common.sh.

REDIS_DIR=$SERVICES_DIR/redis
REDIS_PIDFILE=$REDIS_DIR/redis.pid
REDIS_LOG=$REDIS_DIR/redis.log

# redis_ping PORT: print PONG when a Redis answers PING there, "closed" when nothing
# listens, otherwise the reply (or "no reply") of whatever listens.
redis_ping() {
    local reply
    reply=$(
        exec 2>/dev/null
        exec 3<>"/dev/tcp/$HOST/$1" || { echo closed; exit 0; }
        printf 'PING\r\n' >&3
        if read -r -t 3 line <&3; then echo "${line%$'\r'}"; else echo "no reply"; fi
    )
    [[ $reply == "+PONG" ]] && echo PONG || echo "$reply"
}

redis_pid() { pid_of "$REDIS_PIDFILE" redis-server; }

# redis_find_binary: set REDIS_BIN, installing Debian's redis-server when missing and we are root.
redis_find_binary() {
    REDIS_BIN=$(command -v redis-server || true)
    [[ -z $REDIS_BIN && -x /usr/bin/redis-server ]] && REDIS_BIN=/usr/bin/redis-server
    [[ -n $REDIS_BIN ]] && return 0
    is_root || die "redis-server is not installed and only root can install it: run 'sudo apt-get install -y redis-server' (or start a Redis on $HOST:$REDIS_PORT yourself)."
    apt_install redis-server || die "could not install redis-server with apt-get (see $SERVICES_DIR/apt.log)."
    REDIS_BIN=/usr/bin/redis-server
    [[ -x $REDIS_BIN ]] || die "apt-get installed redis-server but /usr/bin/redis-server is missing."
}

redis_start() {
    local port=$REDIS_PORT reply pid i
    reply=$(redis_ping "$port")
    if [[ $reply == PONG ]]; then
        if pid=$(redis_pid); then
            say "Redis already running on $HOST:$port (ours, pid $pid)"
        else
            say "Redis: reusing the server already answering on $HOST:$port (reused, not ours)"
        fi
        return 0
    fi
    [[ $reply == closed ]] || die "port $port is taken by something that does not answer Redis PING (it said: $reply); free it or set REDIS_PORT."
    redis_find_binary
    mkdir -p "$REDIS_DIR/data"
    rm -f "$REDIS_PIDFILE"
    : >"$REDIS_LOG"
    # No persistence: a dev/test server, and a failed snapshot (full disk) would make Redis refuse writes.
    "$REDIS_BIN" --bind "$HOST" --port "$port" --daemonize yes --pidfile "$REDIS_PIDFILE" \
        --logfile "$REDIS_LOG" --dir "$REDIS_DIR/data" --save '' --appendonly no 9>&- \
        || { show_tail "$REDIS_LOG"; die "redis-server did not start (log: $REDIS_LOG)."; }
    for ((i = 0; i < 40; i++)); do
        if [[ $(redis_ping "$port") == PONG ]]; then
            echo "$port" >"$REDIS_DIR/port"
            say "Redis started on $HOST:$port (ours, pid $(redis_pid || echo '?'))"
            return 0
        fi
        sleep 0.25
    done
    show_tail "$REDIS_LOG"
    die "Redis did not answer PING on $HOST:$port within 10 s (log: $REDIS_LOG)."
}

redis_stop() {
    stop_pid Redis "$REDIS_PIDFILE" redis-server && return 0
    if [[ $(redis_ping "$REDIS_PORT") == PONG ]]; then
        say "Redis on $HOST:$REDIS_PORT was not started by this script: left running"
    else
        say "Redis: nothing of ours to stop"
    fi
}

redis_status() {
    local pid port=$REDIS_PORT
    if pid=$(redis_pid); then
        port=$(cat "$REDIS_DIR/port" 2>/dev/null || echo "$REDIS_PORT")
        if [[ $(redis_ping "$port") == PONG ]]; then
            say "Redis:         running on $HOST:$port, pid $pid, ours (log: $REDIS_LOG)"
        else
            say "Redis:         pid $pid is ours but does not answer PING on $HOST:$port"
        fi
    elif [[ $(redis_ping "$port") == PONG ]]; then
        say "Redis:         running on $HOST:$port, reused, not ours"
    else
        say "Redis:         not running on $HOST:$port"
    fi
}

# sentinel_install: Debian's redis-sentinel, which the Redis failover test (`make test-failover`) runs
# beside its own primary and replica (on free ports, never 6379); installed when missing and we are root.
sentinel_install() {
    command -v redis-sentinel >/dev/null || [[ -x /usr/bin/redis-sentinel ]] && return 0
    if ! is_root; then
        warn "redis-sentinel is not installed (the failover test needs it): run 'sudo apt-get install -y redis-sentinel'"
        return 0
    fi
    apt_install redis-sentinel || warn "could not install redis-sentinel (see $SERVICES_DIR/apt.log): the failover test will fail"
}
