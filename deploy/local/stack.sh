#!/usr/bin/env bash
# Local development stack for chungtay without Docker:
#   - PostgreSQL (Debian packages, cluster in $STATE)
#   - single-node KRaft Apache Kafka (jars fetched from Maven Central by Maven)
# See deploy/local/README.md. Usage: stack.sh {install|up|down|status|kafka-start|kafka-stop|pg-start|pg-stop|env}
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)

STATE=${CHUNGTAY_STATE_DIR:-$REPO/.local}
KAFKA_VERSION=${CHUNGTAY_KAFKA_VERSION:-3.9.1}
KAFKA_SCALA=${CHUNGTAY_KAFKA_SCALA:-2.13}
KAFKA_PORT=${CHUNGTAY_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${CHUNGTAY_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_SASL_PORT=${CHUNGTAY_KAFKA_SASL_PORT:-19094}
# SCRAM-SHA-512 users of the SASL listener: the admin (a super user) and one per service; their
# passwords are in $STATE/secrets/kafka_<user>, their ACLs in chungtay_common/kafka_acls.py
KAFKA_USERS=(admin registration indicators awards reporting)
KAFKA_HEAP=${CHUNGTAY_KAFKA_HEAP:--Xms256m -Xmx768m}
PG_PORT=${CHUNGTAY_PG_PORT:-15432}
PG_DB_USER=chungtay
# durable (default, what `make run` runs): PostgreSQL fsyncs every commit and Kafka flushes every
# append to disk, so a power cut loses no acknowledged write. fast: both off, for test runs and
# benchmarks on a disposable cluster (`make test` starts the stack so). A running stack keeps the
# mode it was started in; `status` says which.
DURABILITY=${CHUNGTAY_STACK_DURABILITY:-durable}
[[ $DURABILITY == durable || $DURABILITY == fast ]] || { printf '[stack] ERROR: CHUNGTAY_STACK_DURABILITY must be durable or fast (got %s)\n' "$DURABILITY" >&2; exit 2; }
HOST=127.0.0.1
PYTHON_BIN=${PYTHON:-$REPO/.venv/bin/python}

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# ---------------------------------------------------------------- state dirs
init_state() {
    mkdir -p "$STATE"
    STATE=$(cd "$STATE" && pwd -P)
    mkdir -p "$STATE/logs" "$STATE/run" "$STATE/kafka"
    mkdir -p -m 700 "$STATE/secrets"
    chmod 700 "$STATE/secrets"
    # another stack (a test's, in a state dir of its own) may use jars fetched already
    KAFKA_LIBS=${CHUNGTAY_KAFKA_LIBS:-$STATE/kafka/libs}
    KAFKA_DATA=$STATE/kafka/data
    KAFKA_PROPS=$STATE/kafka/server.properties
    KAFKA_PID=$STATE/run/kafka.pid
    KAFKA_LOG=$STATE/logs/kafka.log
    KAFKA_OUT=$STATE/logs/kafka.out
    KAFKA_MAJOR=${KAFKA_VERSION%%.*}
}

# Serialise mutating subcommands (parallel test sessions). fd 9 is closed for
# every long-running child so the daemons never inherit the lock.
take_lock() {
    exec 9>"$STATE/.lock"
    flock -w 600 9 || die "could not lock $STATE/.lock (another stack.sh running?)"
}

port_open() { # port -> 0 if something accepts TCP connections on 127.0.0.1:port
    timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# -------------------------------------------------------------------- install
apt_install() {
    is_root || die "missing packages ($*) and not root: install them yourself (apt-get install $*)"
    command -v apt-get >/dev/null || die "missing packages ($*) and no apt-get available"
    log "apt-get install $*"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

find_pg_bin() {
    if [[ -n ${CHUNGTAY_PG_BIN:-} ]]; then PG_BIN=$CHUNGTAY_PG_BIN; return 0; fi
    local p
    p=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
    if [[ -n $p && -x $p/postgres ]]; then PG_BIN=$p; return 0; fi
    PG_BIN=
    return 1
}

install_system() {
    local pkgs=()
    find_pg_bin || pkgs+=(postgresql)
    command -v java >/dev/null || pkgs+=(default-jre-headless)
    command -v mvn >/dev/null || pkgs+=(maven)
    if ((${#pkgs[@]})); then
        apt_install "${pkgs[@]}"
        # Debian auto-creates and starts a "main" cluster on 5432; we do not use it.
    fi
    find_pg_bin || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (set CHUNGTAY_PG_BIN)"
}

kafka_logging_profile() {
    if ((KAFKA_MAJOR >= 4)); then echo logging-log4j2; else echo logging-reload4j; fi
}

kafka_libs_hash() {
    { cat "$SCRIPT_DIR/kafka/pom.xml"; echo "$KAFKA_VERSION $KAFKA_SCALA $(kafka_logging_profile)"; } \
        | sha256sum | cut -d' ' -f1
}

install_kafka() {
    local want have=
    want=$(kafka_libs_hash)
    [[ -f $KAFKA_LIBS/.complete ]] && have=$(cat "$KAFKA_LIBS/.complete")
    if [[ $have == "$want" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (run: stack.sh install as root, or apt-get install maven)"
    log "fetching Kafka $KAFKA_VERSION (scala $KAFKA_SCALA) jars with Maven into $KAFKA_LIBS ..."
    local tmp=$STATE/kafka/libs.tmp
    rm -rf "$tmp"
    mkdir -p "$tmp"
    mvn -q -B -Dstyle.color=never -f "$SCRIPT_DIR/kafka/pom.xml" \
        -Dkafka.version="$KAFKA_VERSION" -Dscala.binary.version="$KAFKA_SCALA" \
        -P "$(kafka_logging_profile)" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
        </dev/null >"$STATE/logs/maven.log" 2>&1 9>&- \
        || { tail -n 30 "$STATE/logs/maven.log" >&2; die "maven could not fetch the Kafka jars (network to Maven Central needed once; see $STATE/logs/maven.log)"; }
    ls "$tmp"/kafka_"$KAFKA_SCALA"-"$KAFKA_VERSION".jar >/dev/null 2>&1 \
        || die "maven finished but kafka_$KAFKA_SCALA-$KAFKA_VERSION.jar is missing in $tmp"
    echo "$want" >"$tmp/.complete"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    log "Kafka jars ready ($(ls "$KAFKA_LIBS"/*.jar | wc -l) jars)"
}

cmd_install() {
    install_system
    install_kafka
}

# --------------------------------------------------------------------- kafka
kafka_pid_alive() { # -> sets KPID; 0 if our broker is running. Cleans stale pid files.
    KPID=
    [[ -f $KAFKA_PID ]] || return 1
    local pid
    pid=$(cat "$KAFKA_PID" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $KAFKA_PROPS"; then
        KPID=$pid
        return 0
    fi
    log "removing stale kafka pid file ($pid)"
    rm -f "$KAFKA_PID"
    return 1
}

java_cmd() { # runs a Kafka main class (CLI tool) in the foreground, WARN logs to stderr
    write_tools_log_config
    java -Xmx512m -cp "$KAFKA_LIBS/*" "$(kafka_log_opt tools-)" "$@"
}

kafka_log_opt() { # [prefix] -> JVM option selecting the generated logging config
    if ((KAFKA_MAJOR >= 4)); then
        echo "-Dlog4j2.configurationFile=$STATE/kafka/${1:-}log4j2.properties"
    else
        echo "-Dlog4j.configuration=file:$STATE/kafka/${1:-}log4j.properties"
    fi
}

write_tools_log_config() {
    [[ -f $STATE/kafka/tools-log4j.properties ]] || cat >"$STATE/kafka/tools-log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
    [[ -f $STATE/kafka/tools-log4j2.properties ]] || cat >"$STATE/kafka/tools-log4j2.properties" <<'EOF'
appender.stderr.type=Console
appender.stderr.name=stderr
appender.stderr.target=SYSTEM_ERR
appender.stderr.layout.type=PatternLayout
appender.stderr.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.stderr.ref=stderr
EOF
}

write_kafka_config() {
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@SASL_PORT@|$KAFKA_SASL_PORT|g" \
        -e "s|@DATA_DIR@|$KAFKA_DATA|g" \
        "$SCRIPT_DIR/kafka/server.properties.in" >"$KAFKA_PROPS.tmp"
    if [[ $DURABILITY == durable ]]; then
        # one broker has no replica to recover from: an append is on disk before it is acked
        printf '\n# durable (stack.sh, CHUNGTAY_STACK_DURABILITY)\nlog.flush.interval.messages=1\n' >>"$KAFKA_PROPS.tmp"
    fi
    mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"
    echo "$DURABILITY" >"$STATE/run/kafka.durability"
    write_log_config "$STATE/kafka" "$KAFKA_LOG"
}

write_log_config() { # dir logfile -> a broker's logging configs (3.x reload4j, 4.x log4j2) in dir
    cat >"$1/log4j.properties" <<EOF
# generated by stack.sh (Kafka 3.x, reload4j)
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$2
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel\$=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
    cat >"$1/log4j2.properties" <<EOF
# generated by stack.sh (Kafka 4.x, log4j2)
appender.file.type=RollingFile
appender.file.name=file
appender.file.fileName=$2
appender.file.filePattern=$2.%i
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
appender.file.policies.type=Policies
appender.file.policies.size.type=SizeBasedTriggeringPolicy
appender.file.policies.size.size=50MB
appender.file.strategy.type=DefaultRolloverStrategy
appender.file.strategy.max=2
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
logger.req.name=kafka.request.logger
logger.req.level=WARN
logger.state.name=state.change.logger
logger.state.level=WARN
logger.clients.name=org.apache.kafka.clients
logger.clients.level=WARN
EOF
}

kafka_format() {
    local cid_file=$STATE/kafka/cluster_id cid
    if [[ ! -s $cid_file ]]; then
        cid=$(java_cmd kafka.tools.StorageTool random-uuid 9>&- | tail -n1 | tr -d '[:space:]')
        [[ $cid =~ ^[A-Za-z0-9_-]{22}$ ]] || die "could not generate a Kafka cluster id (got '$cid')"
        echo "$cid" >"$cid_file"
    fi
    cid=$(cat "$cid_file")
    if [[ ! -f $KAFKA_DATA/meta.properties ]]; then
        log "formatting Kafka storage (cluster id $cid)"
        rm -f "$STATE/kafka/scram-users"
        mkdir -p "$KAFKA_DATA"
        java_cmd kafka.tools.StorageTool format --ignore-formatted -t "$cid" -c "$KAFKA_PROPS" \
            >>"$KAFKA_OUT" 2>&1 9>&- || { tail -n 20 "$KAFKA_OUT" >&2; die "kafka storage format failed"; }
    fi
}

wait_port() { # port seconds pid-check-fn label
    local port=$1 secs=$2 check=$3 label=$4 i
    for ((i = 0; i < secs * 2; i++)); do
        port_open "$port" && return 0
        $check || return 1
        sleep 0.5
    done
    return 1
}

cmd_kafka_start() {
    if kafka_pid_alive; then
        log "kafka already running (pid $KPID, $HOST:$KAFKA_PORT)"
        return 0
    fi
    install_kafka
    command -v java >/dev/null || die "java not found"
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_PORT"; do
        port_open "$p" && die "port $HOST:$p is already in use by another process (not ours); set CHUNGTAY_KAFKA_PORT / CHUNGTAY_KAFKA_CONTROLLER_PORT / CHUNGTAY_KAFKA_SASL_PORT"
    done
    write_kafka_config
    kafka_format
    local t0=$SECONDS
    log "starting kafka $KAFKA_VERSION on $HOST:$KAFKA_PORT (log: $KAFKA_LOG)"
    # the wrapper writes its own pid (== the java pid after exec) before exec'ing java
    # shellcheck disable=SC2086,SC2016
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID" \
        java $KAFKA_HEAP -XX:+UseG1GC -Djava.awt.headless=true \
        -Dkafka.logs.dir="$STATE/logs" "$(kafka_log_opt)" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" \
        </dev/null >>"$KAFKA_OUT" 2>&1 9>&- &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $KAFKA_PID ]] && break
        sleep 0.1
    done
    if ! wait_port "$KAFKA_PORT" 120 kafka_pid_alive kafka; then
        log "kafka did not come up; last log lines:"
        tail -n 30 "$KAFKA_OUT" "$KAFKA_LOG" >&2 2>/dev/null || true
        kafka_pid_alive && cmd_kafka_stop
        die "kafka failed to start"
    fi
    log "kafka up (pid $(cat "$KAFKA_PID"), $((SECONDS - t0))s)"
}

secret() { # name -> prints the secret in $STATE/secrets/<name>, made (random) on first use
    local f=$STATE/secrets/$1
    if [[ ! -s $f ]]; then
        (umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$f.tmp" && mv "$f.tmp" "$f")
    fi
    chmod 600 "$f"
    cat "$f"
}

kafka_users() { # SCRAM credentials of KAFKA_USERS, set (upserted) once per storage and password
    local marker=$STATE/kafka/scram-users want u
    want=$({ cat "$STATE/kafka/cluster_id"; for u in "${KAFKA_USERS[@]}"; do
        echo "$u $(secret "kafka_$u")"; done; } | sha256sum | cut -d' ' -f1)
    [[ -f $marker && $(cat "$marker") == "$want" ]] && return 0
    log "setting the SCRAM-SHA-512 credentials of ${KAFKA_USERS[*]}"
    for u in "${KAFKA_USERS[@]}"; do
        java_cmd kafka.admin.ConfigCommand --bootstrap-server "$HOST:$KAFKA_PORT" --alter \
            --add-config "SCRAM-SHA-512=[password=$(secret "kafka_$u")]" \
            --entity-type users --entity-name "$u" >>"$KAFKA_OUT" 2>&1 9>&- \
            || { tail -n 20 "$KAFKA_OUT" >&2; die "could not set the SCRAM credentials of $u"; }
    done
    echo "$want" >"$marker"
}

cmd_kafka_stop() {
    if ! kafka_pid_alive; then
        log "kafka not running"
        return 0
    fi
    local pid=$KPID i
    log "stopping kafka (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "kafka did not exit after 30s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
    fi
    rm -f "$KAFKA_PID"
    log "kafka stopped"
}

# ------------------------------------------------------------- kafka cluster
# Three KRaft nodes (broker and controller each) on loopback ports, replication factor 3 and
# min.insync.replicas 2: the layout of docker-compose.cluster.yml, run here without Docker
# (docs/scaling.md). PLAINTEXT on 127.0.0.1, like the single broker's client listener. Node i
# listens on CLUSTER_PORT + 10*(i-1), its controller on that + 1. It runs beside the single
# broker, with its state in $STATE/kafka-cluster.
CLUSTER_PORT=${CHUNGTAY_KAFKA_CLUSTER_PORT:-19192}
CLUSTER_NODES=(1 2 3)
CLUSTER_HEAP=${CHUNGTAY_KAFKA_CLUSTER_HEAP:--Xms128m -Xmx384m}

node_vars() { # i -> NODE_DIR NODE_PROPS NODE_PID NODE_PORT NODE_CTRL NODE_LOG NODE_OUT
    NODE_DIR=$STATE/kafka-cluster/n$1
    NODE_PROPS=$NODE_DIR/server.properties
    NODE_PID=$STATE/run/kafka-n$1.pid
    NODE_PORT=$((CLUSTER_PORT + 10 * ($1 - 1)))
    NODE_CTRL=$((NODE_PORT + 1))
    NODE_LOG=$STATE/logs/kafka-n$1.log
    NODE_OUT=$STATE/logs/kafka-n$1.out
}

cluster_bootstrap() {
    local i out=()
    for i in "${CLUSTER_NODES[@]}"; do out+=("$HOST:$((CLUSTER_PORT + 10 * (i - 1)))"); done
    (IFS=,; echo "${out[*]}")
}

node_alive() { # i -> 0 if node i runs (its pid's command line is ours)
    node_vars "$1"
    local pid
    pid=$(cat "$NODE_PID" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -F "kafka.Kafka $NODE_PROPS" >/dev/null
}

write_node_config() { # i
    local i voters=()
    for i in "${CLUSTER_NODES[@]}"; do voters+=("$i@$HOST:$((CLUSTER_PORT + 10 * (i - 1) + 1))"); done
    node_vars "$1"
    mkdir -p "$NODE_DIR/data"
    cat >"$NODE_PROPS" <<PROPS
# generated by stack.sh cluster-up (node $1 of ${#CLUSTER_NODES[@]})
process.roles=broker,controller
node.id=$1
controller.quorum.voters=$(IFS=,; echo "${voters[*]}")
listeners=PLAINTEXT://$HOST:$NODE_PORT,CONTROLLER://$HOST:$NODE_CTRL
advertised.listeners=PLAINTEXT://$HOST:$NODE_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$NODE_DIR/data
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
unclean.leader.election.enable=false
auto.create.topics.enable=true
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=3000
log.retention.hours=24
log.segment.bytes=67108864
num.network.threads=2
num.io.threads=2
PROPS
    write_log_config "$NODE_DIR" "$NODE_LOG"
}

node_launch() { # i: format once, start in the background (no wait: a node needs a quorum)
    if node_alive "$1"; then
        log "kafka node $1 already running ($HOST:$NODE_PORT)"
        return 0
    fi
    local p cid_file=$STATE/kafka-cluster/cluster_id
    for p in "$NODE_PORT" "$NODE_CTRL"; do
        port_open "$p" && die "port $HOST:$p is already in use (set CHUNGTAY_KAFKA_CLUSTER_PORT)"
    done
    write_node_config "$1"
    if [[ ! -s $cid_file ]]; then
        java_cmd kafka.tools.StorageTool random-uuid 9>&- | tail -n1 | tr -d '[:space:]' >"$cid_file"
    fi
    if [[ ! -f $NODE_DIR/data/meta.properties ]]; then
        java_cmd kafka.tools.StorageTool format --ignore-formatted -t "$(cat "$cid_file")" \
            -c "$NODE_PROPS" >>"$NODE_OUT" 2>&1 9>&- \
            || { tail -n 20 "$NODE_OUT" >&2; die "formatting kafka node $1 failed"; }
    fi
    local logopt="-Dlog4j.configuration=file:$NODE_DIR/log4j.properties"
    ((KAFKA_MAJOR >= 4)) && logopt="-Dlog4j2.configurationFile=$NODE_DIR/log4j2.properties"
    log "starting kafka node $1 on $HOST:$NODE_PORT (controller $NODE_CTRL)"
    rm -f "$NODE_PID"
    # shellcheck disable=SC2086,SC2016
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$NODE_PID" \
        java $CLUSTER_HEAP -XX:+UseG1GC -Djava.awt.headless=true \
        -Dkafka.logs.dir="$STATE/logs" "$logopt" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$NODE_PROPS" \
        </dev/null >>"$NODE_OUT" 2>&1 9>&- &
    for _ in $(seq 1 50); do
        [[ -s $NODE_PID ]] && break
        sleep 0.1
    done
}

node_wait() { # i
    node_vars "$1"
    local port=$NODE_PORT
    # shellcheck disable=SC2317
    alive() { node_alive "$WAITING_NODE"; }
    WAITING_NODE=$1
    if ! wait_port "$port" 120 alive "kafka node $1"; then
        node_vars "$1"
        tail -n 30 "$NODE_OUT" "$NODE_LOG" >&2 2>/dev/null || true
        die "kafka node $1 did not come up"
    fi
}

node_stop() { # i [KILL]
    if ! node_alive "$1"; then
        log "kafka node $1 not running"
        return 0
    fi
    local pid
    pid=$(cat "$NODE_PID")
    log "stopping kafka node $1 (pid $pid${2:+, SIG$2})"
    kill -"${2:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    rm -f "$NODE_PID"
}

cmd_cluster_up() {
    install_kafka
    command -v java >/dev/null || die "java not found"
    mkdir -p "$STATE/kafka-cluster"
    local i t0=$SECONDS
    for i in "${CLUSTER_NODES[@]}"; do node_launch "$i"; done
    for i in "${CLUSTER_NODES[@]}"; do node_wait "$i"; done
    log "kafka cluster up in $((SECONDS - t0))s: $(cluster_bootstrap)"
}

cmd_cluster_status() {
    local i
    for i in "${CLUSTER_NODES[@]}"; do
        if node_alive "$i"; then
            echo "kafka-n$i  running  $HOST:$NODE_PORT"
        else
            echo "kafka-n$i  stopped  $HOST:$NODE_PORT"
        fi
    done
    echo "bootstrap $(cluster_bootstrap)"
}

# ------------------------------------------------------------------ postgres
# When root, PostgreSQL runs as the system user "chungtay" (it refuses root).
# If that user cannot traverse $STATE (e.g. repo under /root, mode 0700), the
# cluster lives in /var/tmp/chungtay-pg-<hash of $STATE>/ instead.
pg_setup_paths() { # [nocreate] -> returns 1 (nocreate only) if the pg OS user does not exist yet
    find_pg_bin || die "PostgreSQL binaries missing: run 'stack.sh install'"
    if is_root; then
        PG_OS_USER=chungtay
        if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
            [[ ${1:-} == nocreate ]] && return 1
            log "creating system user $PG_OS_USER"
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin --user-group "$PG_OS_USER"
        fi
    else
        PG_OS_USER=$(id -un)
    fi
    if as_pg test -x "$STATE" -a -r "$STATE"; then
        PG_BASE=$STATE/pg
        PG_FALLBACK=0
    else
        PG_BASE=/var/tmp/chungtay-pg-$(printf '%s' "$STATE" | sha256sum | cut -c1-10)
        PG_FALLBACK=1
    fi
    PG_DATA=$PG_BASE/data
    PG_RUN=$PG_BASE/run
    if ((PG_FALLBACK)); then PG_LOG=$PG_BASE/postgres.log; else PG_LOG=$STATE/logs/postgres.log; fi
}

as_pg() { # run a command as the PostgreSQL OS user, from a neutral cwd
    if is_root; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

pg_chown() { is_root && chown "$PG_OS_USER:" "$@"; return 0; }

pg_password() {
    local f=$STATE/secrets/pg_password
    if [[ ! -s $f ]]; then
        (umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$f.tmp" && mv "$f.tmp" "$f")
    fi
    chmod 600 "$f"
    cat "$f"
}

pg_running() { [[ -d $PG_DATA ]] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1 9>&-; }

pg_init() {
    mkdir -p "$PG_BASE" "$PG_RUN"
    chmod 700 "$PG_BASE"
    pg_chown "$PG_BASE" "$PG_RUN"
    if ((PG_FALLBACK)); then
        ln -sfn "$PG_LOG" "$STATE/logs/postgres.log"
        [[ -e $STATE/pg ]] || ln -sfn "$PG_BASE" "$STATE/pg"
    else
        touch "$PG_LOG"
        pg_chown "$PG_LOG"
    fi
    if [[ -f $PG_DATA/PG_VERSION ]]; then
        return 0
    fi
    local pw locale=C
    pw=$(pg_password)
    if locale -a 2>/dev/null | grep -Eqi '^c\.utf-?8$'; then locale=C.UTF-8; fi
    log "initdb $PG_DATA (user $PG_DB_USER, locale $locale, os user $PG_OS_USER)"
    rm -rf "$PG_DATA"
    local pwfile=$PG_BASE/.pwfile
    (umask 077 && printf '%s\n' "$pw" >"$pwfile")
    pg_chown "$pwfile"
    if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_DB_USER" --pwfile="$pwfile" \
        -E UTF8 --locale="$locale" --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
        >>"$STATE/logs/initdb.log" 2>&1 9>&-; then
        rm -f "$pwfile"
        tail -n 20 "$STATE/logs/initdb.log" >&2
        die "initdb failed (see $STATE/logs/initdb.log)"
    fi
    rm -f "$pwfile"
    cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# generated by deploy/local/stack.sh: password auth, loopback + socket only
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
EOF
    printf "\n# chungtay local stack\ninclude_if_exists = 'chungtay.conf'\n" >>"$PG_DATA/postgresql.conf"
    pg_chown "$PG_DATA/pg_hba.conf"
}

cmd_pg_start() {
    install_system_pg_only
    pg_setup_paths
    if pg_running; then
        log "postgres already running ($HOST:$PG_PORT, data $PG_DATA)"
        return 0
    fi
    port_open "$PG_PORT" && die "port $HOST:$PG_PORT is already in use by another process (not ours); set CHUNGTAY_PG_PORT"
    pg_init
    cp "$SCRIPT_DIR/postgres/chungtay.conf" "$PG_DATA/chungtay.conf"
    pg_chown "$PG_DATA/chungtay.conf"
    local fast=
    [[ $DURABILITY == fast ]] && fast=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    log "starting postgres on $HOST:$PG_PORT ($DURABILITY, data $PG_DATA, log $PG_LOG)"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
        -o "-c listen_addresses=$HOST -p $PG_PORT -k $PG_RUN$fast" start </dev/null >/dev/null 9>&-; then
        tail -n 30 "$PG_LOG" >&2 || true
        die "postgres failed to start"
    fi
    wait_port "$PG_PORT" 30 pg_running postgres || die "postgres started but $HOST:$PG_PORT does not accept connections"
    echo "$DURABILITY" >"$STATE/run/pg.durability"
    log "postgres up"
}

install_system_pg_only() {
    find_pg_bin || install_system
}

cmd_pg_stop() {
    find_pg_bin && pg_setup_paths nocreate || { log "postgres not running"; return 0; }
    if ! pg_running; then
        log "postgres not running"
        return 0
    fi
    log "stopping postgres"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 9>&-
    log "postgres stopped"
}

# ----------------------------------------------------------------- env/ready
write_env() {
    local pw f=$STATE/stack.env
    pw=$(pg_password)
    (
        umask 077
        {
            echo "# generated by deploy/local/stack.sh; source it: . $f"
            printf 'export CHUNGTAY_KAFKA_BOOTSTRAP=%q\n' "$HOST:$KAFKA_PORT"
            # not a service setting: where the SASL listener is (tests/deploy/test_kafka_acls.py)
            printf 'export CHUNGTAY_KAFKA_SASL_BOOTSTRAP=%q\n' "$HOST:$KAFKA_SASL_PORT"
            printf 'export CHUNGTAY_PG_HOST=%q\n' "$HOST"
            printf 'export CHUNGTAY_PG_PORT=%q\n' "$PG_PORT"
            printf 'export CHUNGTAY_PG_USER=%q\n' "$PG_DB_USER"
            printf 'export CHUNGTAY_PG_PASSWORD=%q\n' "$pw"
        } >"$f.tmp"
        mv "$f.tmp" "$f"
    )
    log "wrote $f"
}

run_ready() {
    if [[ ! -f $REPO/chungtay_common/stack.py ]]; then
        log "chungtay_common/stack.py not present yet: skipping the readiness/bootstrap step"
        return 0
    fi
    [[ -x $PYTHON_BIN ]] || command -v "$PYTHON_BIN" >/dev/null || die "python not found: $PYTHON_BIN (set PYTHON=...)"
    log "running $PYTHON_BIN -m chungtay_common.stack ready"
    (
        cd "$REPO"
        # shellcheck disable=SC1091
        . "$STATE/stack.env"
        exec 9>&-
        "$PYTHON_BIN" -m chungtay_common.stack ready --acls
    )
}

# -------------------------------------------------------------------- status
cmd_status() {
    local rc=0
    if kafka_pid_alive; then
        echo "kafka     running  $HOST:$KAFKA_PORT (pid $KPID, controller $KAFKA_CONTROLLER_PORT, SASL $KAFKA_SASL_PORT, $(cat "$STATE/run/kafka.durability" 2>/dev/null || echo fast))"
    else
        echo "kafka     stopped  $HOST:$KAFKA_PORT"
        rc=3
    fi
    if find_pg_bin && pg_setup_paths nocreate; then
        if pg_running; then
            echo "postgres  running  $HOST:$PG_PORT (data $PG_DATA, $(cat "$STATE/run/pg.durability" 2>/dev/null || echo fast))"
        else
            echo "postgres  stopped  $HOST:$PG_PORT"
            rc=3
        fi
    else
        echo "postgres  stopped  $HOST:$PG_PORT (not installed)"
        rc=3
    fi
    return $rc
}

usage() {
    cat >&2 <<EOF
usage: $0 {install|up|down|status|env|kafka-start|kafka-stop|pg-start|pg-stop}
       $0 {cluster-up|cluster-down [--purge]|cluster-status|broker-stop N|broker-kill N|broker-start N}
          three KRaft brokers on CHUNGTAY_KAFKA_CLUSTER_PORT ($CLUSTER_PORT) + 0, 10, 20
       $0 kafka-cli <main class> [args]  e.g. org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:19092 --list
env: CHUNGTAY_STATE_DIR ($STATE) CHUNGTAY_KAFKA_PORT ($KAFKA_PORT)
     CHUNGTAY_KAFKA_CONTROLLER_PORT ($KAFKA_CONTROLLER_PORT) CHUNGTAY_KAFKA_SASL_PORT ($KAFKA_SASL_PORT)
     CHUNGTAY_PG_PORT ($PG_PORT) CHUNGTAY_STACK_DURABILITY ($DURABILITY: durable or fast)
     CHUNGTAY_KAFKA_VERSION ($KAFKA_VERSION) CHUNGTAY_KAFKA_SCALA ($KAFKA_SCALA)
     CHUNGTAY_KAFKA_HEAP ($KAFKA_HEAP) CHUNGTAY_KAFKA_LIBS ($KAFKA_LIBS) CHUNGTAY_PG_BIN PYTHON ($PYTHON_BIN)
EOF
    exit 2
}

main() {
    local cmd=${1:-}
    [[ -n $cmd ]] || usage
    init_state
    case $cmd in
        status)
            cmd_status
            return
            ;;
        kafka-cli) # stack.sh kafka-cli <main class> [args...]
            shift
            [[ -f $KAFKA_LIBS/.complete ]] || die "kafka jars not installed: run 'stack.sh install'"
            (($#)) || usage
            java_cmd "$@"
            return
            ;;
        cluster-status)
            cmd_cluster_status
            return
            ;;
        install | up | down | env | kafka-start | kafka-stop | pg-start | pg-stop) take_lock ;;
        cluster-up | cluster-down | broker-start | broker-stop | broker-kill) take_lock ;;
        *) usage ;;
    esac
    local t0=$SECONDS
    case $cmd in
        install) cmd_install ;;
        up)
            cmd_install
            cmd_pg_start
            cmd_kafka_start
            kafka_users
            write_env
            flock -u 9
            run_ready
            log "stack up in $((SECONDS - t0))s; use: . $STATE/stack.env"
            ;;
        down)
            cmd_kafka_stop
            cmd_pg_stop
            ;;
        env) write_env ;;
        kafka-start)
            cmd_kafka_start
            kafka_users
            ;;
        kafka-stop) cmd_kafka_stop ;;
        pg-start) cmd_pg_start ;;
        pg-stop) cmd_pg_stop ;;
        cluster-up) cmd_cluster_up ;;
        cluster-down)
            local i
            for i in "${CLUSTER_NODES[@]}"; do node_stop "$i"; done
            if [[ ${2:-} == --purge ]]; then rm -rf "$STATE/kafka-cluster"; fi
            ;;
        broker-start)
            [[ ${2:-} =~ ^[123]$ ]] || usage
            node_launch "$2"
            node_wait "$2"
            ;;
        broker-stop) [[ ${2:-} =~ ^[123]$ ]] || usage; node_stop "$2" ;;
        broker-kill) [[ ${2:-} =~ ^[123]$ ]] || usage; node_stop "$2" KILL ;;
    esac
}

main "$@"
