#!/usr/bin/env bash
# Run a throwaway single-node Kafka (KRaft, combined broker+controller) on
# free loopback ports, without Docker. Jars come from Maven Central via mvn.
#
# Usage:
#   kafka.sh fetch        download kafka_2.13 + runtime deps into the cache
#   kafka.sh start DIR    start a broker with state in DIR; prints exactly one
#                         line on stdout: KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT
#   kafka.sh restart DIR  start again the broker of DIR after `stop DIR`: same
#                         port, cluster and records; prints the same line
#   kafka.sh stop DIR     stop the broker started in DIR (idempotent)
#
# Environment:
#   KAFKA_VERSION      Kafka release to use (default below)
#   SIGNPOST_CACHE     cache root (default $HOME/.cache/signpost)
#   KAFKA_HEAP_OPTS    JVM heap options (default "-Xmx512m -Xms128m")
#   KAFKA_LOG_LEVEL    root log level written to DIR/kafka.log (default INFO)
#   KAFKA_START_TIMEOUT seconds to wait for a working broker (default 90)
#   PYTHON             interpreter with aiokafka for the readiness check
#                      (default: repo .venv/bin/python if present, else python3)
#   JAVA, MVN          java / mvn executables (default: from PATH)
#
# All diagnostics go to stderr; stdout carries only the final KEY=VALUE line.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION="${LOG4J_VERSION:-2.24.3}"
CACHE_ROOT="${SIGNPOST_CACHE:-$HOME/.cache/signpost}"
KAFKA_HOME_DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME_DIR/libs"
MARKER="$KAFKA_HOME_DIR/.complete"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$SCRIPT_DIR/../.venv/bin/python" ]]; then
        PYTHON="$SCRIPT_DIR/../.venv/bin/python"
    else
        PYTHON=python3
    fi
fi

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

cmd_fetch() {
    if [[ -f "$MARKER" ]]; then
        return 0
    fi
    command -v "$MVN" >/dev/null || die "mvn not found"
    mkdir -p "$KAFKA_HOME_DIR"

    # Serialize concurrent fetches of the same version.
    exec 9>"$KAFKA_HOME_DIR/.lock"
    flock 9
    if [[ -f "$MARKER" ]]; then
        exec 9>&-
        return 0
    fi

    log "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION into $LIBS"
    local tmp
    tmp="$(mktemp -d)"
    # shellcheck disable=SC2064  # expand $tmp now, on purpose
    trap "rm -rf '$tmp'" EXIT
    cat >"$tmp/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>signpost.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- Kafka logs through slf4j 1.7; route it into log4j2 core. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-api</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
    rm -rf "$LIBS.partial"
    if ! "$MVN" -q -B -Dstyle.color=never -f "$tmp/pom.xml" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DincludeScope=runtime \
        -DoutputDirectory="$LIBS.partial" >"$tmp/mvn.log" 2>&1; then
        rm -rf "$LIBS.partial"
        grep -v '^\s*$' "$tmp/mvn.log" | tail -n 30 >&2 || true
        die "maven could not resolve kafka_2.13:$KAFKA_VERSION"
    fi
    [[ -f "$LIBS.partial/kafka_2.13-$KAFKA_VERSION.jar" ]] ||
        die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn copy-dependencies"
    rm -rf "$LIBS"
    mv "$LIBS.partial" "$LIBS"
    date -u +%FT%TZ >"$MARKER"
    rm -rf "$tmp"
    trap - EXIT
    exec 9>&-
    log "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars"
}

# Prints two distinct free TCP ports on 127.0.0.1, space separated.
free_ports() {
    python3 - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# Kafka cluster ids are 16 random bytes, base64url without padding (22 chars);
# Kafka never hands out ids that start with '-'.
cluster_id() {
    python3 - <<'EOF'
import base64, uuid
while True:
    cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not cid.startswith("-"):
        print(cid)
        break
EOF
}

# True if PID exists and is not a zombie (an exited child not yet reaped).
pid_alive() {
    local pid="$1" state=""
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/stat" ]]; then
        state="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)" || true
    fi
    [[ "$state" != Z ]]
}

# True if PID is (still) the Kafka JVM we started, not a recycled pid.
pid_is_kafka() {
    local pid="$1"
    pid_alive "$pid" || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka'
}

# Readiness probe: produce one record. Exit 0 = broker works,
# 1 = not yet, 3 = aiokafka unavailable in $PYTHON.
probe() {
    local bootstrap="$1"
    "$PYTHON" - "$bootstrap" <<'EOF' 2>/dev/null
import asyncio, sys
try:
    from aiokafka import AIOKafkaProducer
except ImportError:
    sys.exit(3)

async def main(bootstrap):
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await p.start()
    try:
        await p.send_and_wait("_signpost_ready", b"ping")
    finally:
        await p.stop()

try:
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), 15))
except Exception:
    sys.exit(1)
EOF
}

tcp_probe() {
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
socket.create_connection((host, int(port)), timeout=2).close()
EOF
}

fail_start() {
    local dir="$1" msg="$2"
    log "error: $msg"
    if [[ -f "$dir/kafka.log" ]]; then
        log "---- last 60 lines of $dir/kafka.log ----"
        tail -n 60 "$dir/kafka.log" >&2 || true
    fi
    cmd_stop "$dir" || true
    exit 1
}

cmd_start() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || usage
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"

    if [[ -f "$dir/kafka.pid" ]] && pid_is_kafka "$(cat "$dir/kafka.pid")"; then
        die "a broker is already running from $dir (pid $(cat "$dir/kafka.pid"))"
    fi
    command -v "$JAVA" >/dev/null || die "java not found"
    cmd_fetch

    local ports port cport cid started
    started=$SECONDS
    ports="$(free_ports)"
    port="${ports% *}"
    cport="${ports#* }"
    cid="$(cluster_id)"

    rm -rf "$dir/logs"
    mkdir -p "$dir/logs"
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/logs
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
num.network.threads=2
num.io.threads=4
EOF

    local level="${KAFKA_LOG_LEVEL:-INFO}"
    cat >"$dir/log4j2.properties" <<EOF
status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = $level
rootLogger.appenderRef.out.ref = OUT
logger.req.name = kafka.request.logger
logger.req.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
EOF

    jvm_options "$dir"
    log "formatting storage in $dir/logs (cluster id $cid)"
    if ! "$JAVA" "${JVM_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
        --standalone -t "$cid" -c "$dir/server.properties" \
        >"$dir/kafka.log" 2>&1; then
        fail_start "$dir" "kafka storage format failed"
    fi

    log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$port (controller $cport)"
    echo "$port" >"$dir/kafka.port"
    launch "$dir" "$started"
}

# The JVM options for a broker whose state is in DIR.
jvm_options() {
    local dir="$1"
    # shellcheck disable=SC2206  # intentional word splitting of JVM options
    JVM_OPTS=(${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m})
    JVM_OPTS+=(
        -XX:+UseG1GC
        -Djava.awt.headless=true
        "-Dlog4j2.configurationFile=$dir/log4j2.properties"
        "-Dkafka.logs.dir=$dir"
    )
}

# Start the broker configured in DIR (formatted already) and wait until it works;
# prints the KAFKA_BOOTSTRAP_SERVERS line.
launch() {
    local dir="$1" started="$2" port
    port="$(cat "$dir/kafka.port")"
    jvm_options "$dir"
    # Fully detach: own session, no inherited stdio, so that callers using
    # $(kafka.sh start DIR) do not wait on the broker's file descriptors.
    setsid "$JAVA" "${JVM_OPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
        </dev/null >>"$dir/kafka.log" 2>&1 &
    local pid=$!
    echo "$pid" >"$dir/kafka.pid"

    local bootstrap="127.0.0.1:$port" deadline=$((SECONDS + START_TIMEOUT))
    local use_aiokafka=1 rc
    while :; do
        pid_alive "$pid" || fail_start "$dir" "broker exited during startup"
        ((SECONDS < deadline)) ||
            fail_start "$dir" "broker not ready after ${START_TIMEOUT}s"
        if tcp_probe "$bootstrap"; then
            if ((use_aiokafka)); then
                rc=0
                probe "$bootstrap" || rc=$?
                if ((rc == 0)); then
                    break
                elif ((rc == 3)); then
                    log "warning: aiokafka not importable by $PYTHON;" \
                        "readiness is a TCP check only"
                    use_aiokafka=0
                    break
                fi
            else
                break
            fi
        fi
        sleep 0.5
    done
    log "broker ready in $((SECONDS - started))s (pid $pid, log $dir/kafka.log)"
    echo "KAFKA_BOOTSTRAP_SERVERS=$bootstrap"
}

# Start again a broker that `start DIR` created and `stop DIR` stopped: same port,
# same cluster, the records it had (a broker coming back after an outage).
cmd_restart() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || usage
    dir="$(cd "$dir" && pwd)"
    [[ -f "$dir/server.properties" && -f "$dir/kafka.port" ]] ||
        die "no broker was started from $dir"
    if [[ -f "$dir/kafka.pid" ]] && pid_is_kafka "$(cat "$dir/kafka.pid")"; then
        die "a broker is already running from $dir (pid $(cat "$dir/kafka.pid"))"
    fi
    command -v "$JAVA" >/dev/null || die "java not found"
    log "restarting Kafka $KAFKA_VERSION on 127.0.0.1:$(cat "$dir/kafka.port")"
    launch "$dir" "$SECONDS"
}

cmd_stop() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || usage
    local pidfile="$dir/kafka.pid" pid
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    if pid_is_kafka "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for ((i = 0; i < 300; i++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
        if pid_alive "$pid"; then
            log "broker pid $pid ignored TERM for 30s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                pid_alive "$pid" || break
                sleep 0.1
            done
        fi
    fi
    rm -f "$pidfile"
}

main() {
    local sub="${1:-}"
    shift || true
    case "$sub" in
    fetch) cmd_fetch ;;
    start) cmd_start "$@" ;;
    restart) cmd_restart "$@" ;;
    stop) cmd_stop "$@" ;;
    *) usage ;;
    esac
}

main "$@"
