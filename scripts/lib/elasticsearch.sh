# shellcheck shell=bash
# Elasticsearch for scripts/services.sh: the 9.2.4 core distribution from Maven Central,
# unzipped and run from .services/es/ by a dedicated system user (ES refuses to run as root).
# Sourced after common.sh.

ES_VERSION=9.2.4
# Maven Central artifacts never change: the archive must match this digest.
ES_SHA256=af7b81fe31627c7523b2546351cd4e47310faa6a72c8db8dc8f7a191e871cfaf
ES_ARTIFACT=org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip
ES_USER=${ES_USER:-elasticsearch-dev}
ES_JAVA_OPTS=${ES_JAVA_OPTS:--Xms512m -Xmx512m}
ES_START_TIMEOUT=${ES_START_TIMEOUT:-120}
ES_CACHE=$SERVICES_DIR/cache
ES_ZIP=$ES_CACHE/elasticsearch-$ES_VERSION.zip
ES_DIR=$SERVICES_DIR/es
ES_HOME=$ES_DIR/elasticsearch-$ES_VERSION
ES_PIDFILE=$ES_DIR/run/es.pid
ES_PATTERN=org.elasticsearch.bootstrap.Elasticsearch

# es_health PORT [WAIT]: the HTTP code of /_cluster/health?wait_for_status=yellow
# (200 ready, 408 not yellow yet, 503 starting, 000 nothing listens).
es_health() {
    local wait=${2:-1s}
    curl -s -o /dev/null -w '%{http_code}' --max-time 30 \
        "http://$HOST:$1/_cluster/health?wait_for_status=yellow&timeout=$wait" 2>/dev/null || true
}

es_pid() { pid_of "$ES_PIDFILE" "$ES_PATTERN"; }

# es_color PORT: the cluster status (green, yellow, red), or "unknown".
es_color() {
    local body
    body=$(curl -s --max-time 5 "http://$HOST:$1/_cluster/health" 2>/dev/null || true)
    [[ $body =~ \"status\":\"([a-z]+)\" ]] && echo "${BASH_REMATCH[1]}" || echo unknown
}

# java_major DIR: the feature version of the JDK in DIR (17, 21, 25, ...), empty if unknown.
java_major() {
    local v
    v=$(sed -n 's/^JAVA_VERSION="\([0-9.]*\).*/\1/p' "$1/release" 2>/dev/null)
    [[ -n $v ]] || v=$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9.]*\).*/\1/p' | head -n 1)
    [[ $v == 1.* ]] && v=${v#1.}
    echo "${v%%.*}"
}

# es_find_java: set ES_JAVA_HOME to a JDK 21+ (the given one, else the newest of /usr/lib/jvm/*, JAVA_HOME
# and the java on PATH).
es_find_java() {
    local d v best="" best_v=0
    if [[ -n ${ES_JAVA_HOME:-} ]]; then
        v=$(java_major "$ES_JAVA_HOME")
        [[ -n $v && $v -ge 21 ]] || die "ES_JAVA_HOME=$ES_JAVA_HOME is not a JDK 21 or newer (found '${v:-none}'); Elasticsearch $ES_VERSION needs Java 21+."
        return 0
    fi
    local candidates=(/usr/lib/jvm/*/)
    [[ -n ${JAVA_HOME:-} ]] && candidates+=("$JAVA_HOME")
    command -v java >/dev/null && candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
    for d in "${candidates[@]}"; do
        [[ -d $d ]] || continue
        d=$(realpath "$d")
        [[ -x $d/bin/java ]] || continue
        v=$(java_major "$d")
        [[ -n $v && $v -ge 21 && $v -gt $best_v ]] && { best=$d; best_v=$v; }
    done
    [[ -n $best ]] || die "Elasticsearch $ES_VERSION needs Java 21 or newer and no such JDK is under /usr/lib/jvm, in JAVA_HOME or on PATH (Java 17 is refused): install a JDK 21+ (e.g. Temurin 21) or set ES_JAVA_HOME to one."
    export ES_JAVA_HOME=$best
}

# es_fetch: the distribution archive in .services/cache/, downloaded once with Maven and checked.
es_fetch() {
    local tmp size
    if [[ -f $ES_ZIP ]] && [[ $(sha256sum "$ES_ZIP" | cut -d' ' -f1) == "$ES_SHA256" ]]; then
        return 0
    fi
    rm -f "$ES_ZIP"
    mkdir -p "$ES_CACHE"
    if ! command -v mvn >/dev/null; then
        is_root || die "Maven (mvn) is needed once to download Elasticsearch $ES_VERSION: install it ('sudo apt-get install -y maven')."
        apt_install maven || die "could not install maven with apt-get (see $SERVICES_DIR/apt.log)."
    fi
    say "downloading Elasticsearch $ES_VERSION (about 100 MB, once) with Maven ..."
    tmp=$(mktemp -d)
    # From an empty folder, so that no pom.xml around us is picked up.
    if ! (cd "$tmp" && mvn -q -B dependency:copy -Dartifact="$ES_ARTIFACT" -DoutputDirectory="$ES_CACHE" \
        </dev/null >"$ES_CACHE/mvn.log" 2>&1); then
        rm -rf "$tmp"
        show_tail "$ES_CACHE/mvn.log"
        die "Maven could not download $ES_ARTIFACT (log: $ES_CACHE/mvn.log)."
    fi
    rm -rf "$tmp"
    [[ -f $ES_ZIP ]] || die "Maven ran but $ES_ZIP is missing (log: $ES_CACHE/mvn.log)."
    size=$(stat -c %s "$ES_ZIP")
    [[ $(sha256sum "$ES_ZIP" | cut -d' ' -f1) == "$ES_SHA256" ]] || {
        rm -f "$ES_ZIP"
        die "the downloaded Elasticsearch archive ($size bytes) does not match its known sha256: removed, try again."
    }
    unzip -tq "$ES_ZIP" >/dev/null || { rm -f "$ES_ZIP"; die "the downloaded Elasticsearch archive is corrupt: removed, try again."; }
    say "Elasticsearch $ES_VERSION archive checked ($size bytes, sha256 $ES_SHA256)"
}

# es_unpack: the distribution unzipped once into .services/es/elasticsearch-VERSION.
es_unpack() {
    [[ -f $ES_HOME/.unpacked ]] && return 0
    command -v unzip >/dev/null || { is_root && apt_install unzip; } || die "unzip is needed: install it ('sudo apt-get install -y unzip')."
    es_fetch
    rm -rf "$ES_HOME" "$ES_DIR/unpack.tmp"
    mkdir -p "$ES_DIR/unpack.tmp"
    unzip -q "$ES_ZIP" -d "$ES_DIR/unpack.tmp"
    mv "$ES_DIR/unpack.tmp/elasticsearch-$ES_VERSION" "$ES_HOME"
    rm -rf "$ES_DIR/unpack.tmp"
    touch "$ES_HOME/.unpacked"
}

# es_prepare_user: as root, run Elasticsearch as $ES_USER (created once, a system user owning
# .services/es/) and make sure it can traverse the path down to .services/; otherwise run as ourselves.
es_prepare_user() {
    local d dirs=() fixed=() i
    ES_RUN=()
    ES_RUN_AS=$(id -un)
    is_root || return 0
    if ! id -u "$ES_USER" >/dev/null 2>&1; then
        command -v useradd >/dev/null || die "useradd is missing: cannot create the user $ES_USER that runs Elasticsearch (it refuses root)."
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$ES_USER" \
            || die "could not create the system user $ES_USER that runs Elasticsearch (it refuses root)."
        say "created system user $ES_USER to run Elasticsearch (it refuses to run as root)"
    fi
    command -v runuser >/dev/null || die "runuser (util-linux) is missing: cannot run Elasticsearch as $ES_USER."
    d=$SERVICES_DIR
    while [[ $d != / ]]; do dirs+=("$d"); d=$(dirname "$d"); done
    for ((i = ${#dirs[@]} - 1; i >= 0; i--)); do  # top-down, so each test sees only its own folder's bits
        if ! runuser -u "$ES_USER" -- test -x "${dirs[i]}" 2>/dev/null; then
            chmod o+x "${dirs[i]}"
            fixed+=("${dirs[i]}")
        fi
    done
    if ((${#fixed[@]})); then
        say "made ${fixed[*]} traversable by others (chmod o+x, no listing) so that $ES_USER reaches $ES_DIR"
    fi
    chown -R "$ES_USER:" "$ES_DIR"
    ES_RUN=(runuser -u "$ES_USER" --)
    ES_RUN_AS=$ES_USER
}

# es_wait_ready PORT WHO: poll the cluster health until yellow; on timeout show the log and fail.
es_wait_ready() {
    local port=$1 who=$2 deadline=$((SECONDS + ES_START_TIMEOUT)) code pid
    while ((SECONDS < deadline)); do
        code=$(es_health "$port" 5s)
        if [[ $code == 200 ]]; then
            pid=$(es_pid || echo '')
            if [[ $who == started ]]; then
                echo "$port" >"$ES_DIR/run/port"
                say "Elasticsearch started on $HOST:$port (ours, pid ${pid:-?}, user $ES_RUN_AS)"
            elif [[ -n $pid ]]; then
                say "Elasticsearch already running on $HOST:$port (ours, pid $pid)"
            else
                say "Elasticsearch: reusing the server already answering on $HOST:$port (reused, not ours)"
            fi
            return 0
        fi
        if [[ $who != reused ]] && ! es_pid >/dev/null; then
            show_tail "$ES_DIR/logs/elasticsearch.log" "$ES_DIR/logs/startup.out"
            die "Elasticsearch exited while starting (logs: $ES_DIR/logs/)."
        fi
        [[ $code == 000 ]] && sleep 1
    done
    show_tail "$ES_DIR/logs/elasticsearch.log" "$ES_DIR/logs/startup.out"
    if [[ $who != reused ]]; then
        stop_pid Elasticsearch "$ES_PIDFILE" "$ES_PATTERN" || true
    fi
    die "Elasticsearch on $HOST:$port was not yellow within ${ES_START_TIMEOUT} s (logs: $ES_DIR/logs/)."
}

es_start() {
    local port=$ES_PORT code
    if es_pid >/dev/null; then
        es_wait_ready "$(cat "$ES_DIR/run/port" 2>/dev/null || echo "$port")" ours
        return 0
    fi
    code=$(es_health "$port")
    case $code in
        200 | 408 | 503) es_wait_ready "$port" reused; return 0 ;;
        000) port_open "$port" && die "port $port is taken by something that does not speak HTTP; free it or set ES_PORT." ;;
        *) die "port $port is taken by something that is not Elasticsearch (/_cluster/health answered HTTP $code); free it or set ES_PORT." ;;
    esac
    command -v curl >/dev/null || die "curl is needed to check Elasticsearch: install it ('apt-get install -y curl')."
    es_find_java
    es_unpack
    mkdir -p "$ES_DIR/data" "$ES_DIR/logs" "$ES_DIR/run" "$ES_DIR/tmp"
    rm -f "$ES_PIDFILE"
    es_prepare_user
    say "starting Elasticsearch $ES_VERSION on $HOST:$port (Java: $ES_JAVA_HOME) ..."
    # -d: the launcher returns once the node runs; health is then polled below.
    if ! (cd "$ES_HOME" && "${ES_RUN[@]}" env ES_JAVA_HOME="$ES_JAVA_HOME" ES_JAVA_OPTS="$ES_JAVA_OPTS" \
        ES_TMPDIR="$ES_DIR/tmp" "$ES_HOME/bin/elasticsearch" -d -p "$ES_PIDFILE" \
        -E discovery.type=single-node -E xpack.security.enabled=false \
        -E network.host="$HOST" -E http.port="$port" \
        -E path.data="$ES_DIR/data" -E path.logs="$ES_DIR/logs" \
        -E cluster.routing.allocation.disk.threshold_enabled=false \
        </dev/null >"$ES_DIR/logs/startup.out" 2>&1 9>&-); then
        show_tail "$ES_DIR/logs/elasticsearch.log" "$ES_DIR/logs/startup.out"
        die "Elasticsearch did not start (logs: $ES_DIR/logs/)."
    fi
    es_wait_ready "$port" started
}

es_stop() {
    stop_pid Elasticsearch "$ES_PIDFILE" "$ES_PATTERN" && return 0
    if [[ $(es_health "$ES_PORT") != 000 ]]; then
        say "Elasticsearch on $HOST:$ES_PORT was not started by this script: left running"
    else
        say "Elasticsearch: nothing of ours to stop"
    fi
}

es_status() {
    local pid port=$ES_PORT code
    if pid=$(es_pid); then
        port=$(cat "$ES_DIR/run/port" 2>/dev/null || echo "$ES_PORT")
        say "Elasticsearch: running on $HOST:$port, pid $pid, ours, cluster $(es_color "$port") (logs: $ES_DIR/logs/)"
    else
        code=$(es_health "$port")
        if [[ $code == 000 ]]; then
            say "Elasticsearch: not running on $HOST:$port"
        else
            say "Elasticsearch: running on $HOST:$port, reused, not ours, cluster $(es_color "$port")"
        fi
    fi
}
