#!/usr/bin/env bash
# Start, stop or describe the servers the integration tests and `make stack` use:
# Redis on 127.0.0.1:$REDIS_PORT (6379) and Elasticsearch 9.2.4 on 127.0.0.1:$ES_PORT (9200); installs
# Debian's redis-sentinel when missing (the failover test starts its own Sentinels).
#
#   scripts/services.sh start    start both (reusing servers that already answer there), wait until ready
#   scripts/services.sh stop     stop only what this script started (pid files in .services/)
#   scripts/services.sh status   say what runs where: pid, port, ours or not
#
# Everything it writes lives in .services/ (git-ignored): Redis data/log/pid, the Elasticsearch
# archive cache (.services/cache/), its unzipped distribution, data, logs and pid (.services/es/).
# Environment: REDIS_PORT, ES_PORT, ES_JAVA_HOME (a JDK 21+; default: newest under /usr/lib/jvm),
# ES_JAVA_OPTS ("-Xms512m -Xmx512m"), ES_USER (elasticsearch-dev, used when run as root),
# ES_START_TIMEOUT (120 s), SERVICES_DIR (.services).
set -euo pipefail

LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib
# shellcheck source=scripts/lib/common.sh
source "$LIB/common.sh"
# shellcheck source=scripts/lib/redis.sh
source "$LIB/redis.sh"
# shellcheck source=scripts/lib/elasticsearch.sh
source "$LIB/elasticsearch.sh"

# lock: one start/stop at a time per .services/ (several shells or CI may call `make services` together).
# The servers are started with fd 9 closed, so they never hold this lock.
lock() {
    mkdir -p "$SERVICES_DIR"
    exec 9>"$SERVICES_DIR/.lock"
    if command -v flock >/dev/null && ! flock -w 600 9; then
        die "another 'services.sh' holds $SERVICES_DIR/.lock for 10 minutes: giving up."
    fi
}

case ${1:-} in
    start)
        lock
        redis_start
        sentinel_install
        es_start
        ;;
    stop)
        lock
        es_stop
        redis_stop
        ;;
    status)
        redis_status
        es_status
        ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
