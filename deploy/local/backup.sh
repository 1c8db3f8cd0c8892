#!/usr/bin/env bash
# Back up and restore the local stack's data: a pg_dump of each service's database and a copy of
# Kafka's log directory (topics, consumer groups' offsets, the cluster's metadata).
#
#   deploy/local/backup.sh create  <dir>   while the system runs; the broker is paused meanwhile
#   deploy/local/backup.sh restore <dir>   with the services stopped (Ctrl-C `make run` first)
#
# Consistency: the broker is stopped while the databases are dumped and its log directory is
# copied. Then no outbox row can be marked published without its event being in the copy (a row
# published and not yet marked is published again after a restore: a duplicate the consumers
# skip), and no consumer group's offset can be ahead of what its database has applied (a
# consumer commits after it applies: an event applied and not committed is delivered again and
# skipped). HTTP writes go on during the backup; their events wait in the outboxes.
#
# Env: CHUNGTAY_BACKUP_PREFIX (chungtay: the databases <prefix>_*), and stack.sh's
# CHUNGTAY_STATE_DIR, ports and the rest. See deploy/local/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
STATE=${CHUNGTAY_STATE_DIR:-$REPO/.local}
PREFIX=${CHUNGTAY_BACKUP_PREFIX:-chungtay}
STACK=(bash "$SCRIPT_DIR/stack.sh")

log() { printf '[backup] %s\n' "$*" >&2; }
die() { printf '[backup] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $PREFIX =~ ^[a-z][a-z0-9]*$ ]] || die "CHUNGTAY_BACKUP_PREFIX must be lower-case letters and digits"
[[ -f $STATE/stack.env ]] || die "no local stack in $STATE (run: make stack-up)"
# shellcheck disable=SC1091
. "$STATE/stack.env"
export PGHOST=$CHUNGTAY_PG_HOST PGPORT=$CHUNGTAY_PG_PORT PGUSER=$CHUNGTAY_PG_USER
export PGPASSWORD=$CHUNGTAY_PG_PASSWORD
PG_BIN=${CHUNGTAY_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)}
[[ -x $PG_BIN/pg_dump ]] || die "pg_dump not found (PostgreSQL binaries in $PG_BIN)"

kafka_running() { # (grep -q would end the pipe early: pipefail would call that a failure)
    local status
    status=$("${STACK[@]}" status 2>/dev/null || true)
    grep -q '^kafka *running' <<<"$status"
}
kafka_start() { # in the mode it ran in
    CHUNGTAY_STACK_DURABILITY=$(cat "$STATE/run/kafka.durability" 2>/dev/null || echo durable) \
        "${STACK[@]}" kafka-start
}
databases() {
    "$PG_BIN/psql" -d postgres -XAtc \
        "SELECT datname FROM pg_database WHERE datname LIKE '${PREFIX}\_%' ORDER BY datname"
}

create() {
    local dir=$1 was_running=0 db
    [[ -e $dir && -n $(ls -A "$dir" 2>/dev/null) ]] && die "$dir exists and is not empty"
    mkdir -p "$dir/pg"
    "$PG_BIN/psql" -d postgres -XAtc 'SELECT 1' >/dev/null || die "PostgreSQL does not answer"
    if kafka_running; then
        was_running=1
        log "pausing the broker while the databases are dumped"
        trap 'kafka_start' EXIT  # whatever happens next, the broker comes back
        "${STACK[@]}" kafka-stop
    fi
    for db in $(databases); do
        log "pg_dump $db"
        "$PG_BIN/pg_dump" -Fc -d "$db" -f "$dir/pg/$db.dump"
    done
    [[ -n $(ls "$dir/pg") ]] || die "no database named ${PREFIX}_* to back up"
    log "copying Kafka's log directory"
    tar -C "$STATE/kafka" -czf "$dir/kafka.tar.gz" data cluster_id
    if ((was_running)); then
        trap - EXIT
        kafka_start
    fi
    {
        echo "created_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "prefix=$PREFIX"
        echo "databases=$(cd "$dir/pg" && ls | sed 's/\.dump$//' | tr '\n' ' ')"
        (cd "$dir" && sha256sum pg/*.dump kafka.tar.gz)
    } >"$dir/MANIFEST"
    log "backup in $dir"
}

restore() {
    local dir=$1 was_running=0 dump db busy
    [[ -f $dir/MANIFEST && -f $dir/kafka.tar.gz ]] || die "$dir is not a backup (no MANIFEST or kafka.tar.gz)"
    (cd "$dir" && sed -n '/  /p' MANIFEST | sha256sum --quiet -c -) || die "$dir: checksums do not match"
    shopt -s nullglob
    local dumps=("$dir"/pg/*.dump)
    ((${#dumps[@]})) || die "$dir holds no database dump"
    for dump in "${dumps[@]}"; do
        db=$(basename "$dump" .dump)
        [[ $db =~ ^[a-z][a-z0-9_]*$ ]] || die "$dump: not a database name of this stack"
        busy=$("$PG_BIN/psql" -d postgres -XAtc \
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()")
        [[ $busy == 0 ]] || die "$db has $busy connections: stop the services first (Ctrl-C make run)"
    done
    if kafka_running; then
        was_running=1
        trap 'kafka_start' EXIT  # a failed restore still brings the broker back
        "${STACK[@]}" kafka-stop
    fi
    for dump in "${dumps[@]}"; do
        db=$(basename "$dump" .dump)
        log "restoring $db"
        "$PG_BIN/psql" -d postgres -Xqc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
        "$PG_BIN/pg_restore" --create --exit-on-error -d postgres "$dump"
    done
    log "restoring Kafka's log directory"
    rm -rf "$STATE/kafka/data.restoring"
    mkdir -p "$STATE/kafka/data.restoring"
    tar -C "$STATE/kafka/data.restoring" -xzf "$dir/kafka.tar.gz"
    rm -rf "$STATE/kafka/data"
    mv "$STATE/kafka/data.restoring/data" "$STATE/kafka/data"
    mv "$STATE/kafka/data.restoring/cluster_id" "$STATE/kafka/cluster_id"
    rm -rf "$STATE/kafka/data.restoring"
    if ((was_running)); then
        trap - EXIT
        kafka_start
    fi
    log "restored from $dir"
}

case ${1:-} in
    create) [[ -n ${2:-} ]] || die "usage: $0 create <dir>"; create "$2" ;;
    restore) [[ -n ${2:-} ]] || die "usage: $0 restore <dir>"; restore "$2" ;;
    *) echo "usage: $0 {create|restore} <dir>" >&2; exit 2 ;;
esac
