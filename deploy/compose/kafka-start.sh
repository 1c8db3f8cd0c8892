#!/usr/bin/env bash
# The `kafka` service of docker-compose.yml (official apache/kafka image, one KRaft node):
# writes server.properties, formats the storage on first start, starts the broker and sets the
# SCRAM-SHA-512 credentials of the admin and of every service (again at every start, so a
# changed password takes effect), then marks itself ready for the healthcheck.
#
# Listeners:
#   SASL_PLAINTEXT  :9092            the services and `init`: SCRAM users, ACLs enforced
#   INTERNAL        127.0.0.1:9094   PLAINTEXT, inside this container only (healthcheck, users)
#   CONTROLLER      127.0.0.1:9093   KRaft, inside this container only
# Both loopback listeners authenticate nobody (User:ANONYMOUS), so ANONYMOUS is a super user;
# no other container can reach them. ACLs: chungtay_common/kafka_acls.py, applied by `init`.
#
# In a cluster (docker-compose.cluster.yml) each node sets CHUNGTAY_KAFKA_NODE_ID, the voters
# CHUNGTAY_KAFKA_VOTERS, CHUNGTAY_KAFKA_REPLICATION (3) and CHUNGTAY_KAFKA_MIN_ISR (2), and
# CHUNGTAY_KAFKA_PEER_HOST, its name on the network only the brokers join: the controller
# (:9093) and the brokers' replication (INTERNAL, :9095) listen there, PLAINTEXT, for the
# other nodes alone; the loopback listener moves to LOCAL 127.0.0.1:9094.
set -euo pipefail

KAFKA_HOME=${KAFKA_HOME:-/opt/kafka}
DATA=${CHUNGTAY_KAFKA_DATA:-/var/lib/kafka/data}
HOSTNAME_ADVERTISED=${CHUNGTAY_KAFKA_ADVERTISED_HOST:-kafka}
WORK=${CHUNGTAY_KAFKA_WORK:-/tmp/chungtay-kafka}
USERS=(admin registration indicators awards reporting)
: "${CLUSTER_ID:?set CLUSTER_ID}"

password() { # user -> its password, from CHUNGTAY_KAFKA_<USER>_PASSWORD
    local var="CHUNGTAY_KAFKA_${1^^}_PASSWORD"
    [[ -n ${!var:-} ]] || { echo "kafka-start: set $var" >&2; exit 1; }
    printf '%s' "${!var}"
}
for u in "${USERS[@]}"; do password "$u" >/dev/null; done

umask 077
mkdir -p "$WORK"
rm -f "$WORK/ready"
NODE_ID=${CHUNGTAY_KAFKA_NODE_ID:-1}
REPLICATION=${CHUNGTAY_KAFKA_REPLICATION:-1}
MIN_ISR=${CHUNGTAY_KAFKA_MIN_ISR:-1}
PEER=${CHUNGTAY_KAFKA_PEER_HOST:-}
if [[ -z $PEER ]]; then  # one node: everything but the services' listener on loopback
    VOTERS=${CHUNGTAY_KAFKA_VOTERS:-1@127.0.0.1:9093}
    LISTENERS="SASL_PLAINTEXT://:9092,INTERNAL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093"
    ADVERTISED="SASL_PLAINTEXT://${HOSTNAME_ADVERTISED}:9092,INTERNAL://127.0.0.1:9094"
    PROTOCOLS="SASL_PLAINTEXT:SASL_PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
else
    : "${CHUNGTAY_KAFKA_VOTERS:?set CHUNGTAY_KAFKA_VOTERS (id@host:9093,...) in a cluster}"
    VOTERS=$CHUNGTAY_KAFKA_VOTERS
    LISTENERS="SASL_PLAINTEXT://:9092,LOCAL://127.0.0.1:9094,INTERNAL://${PEER}:9095,CONTROLLER://${PEER}:9093"
    ADVERTISED="SASL_PLAINTEXT://${HOSTNAME_ADVERTISED}:9092,LOCAL://127.0.0.1:9094,INTERNAL://${PEER}:9095"
    PROTOCOLS="SASL_PLAINTEXT:SASL_PLAINTEXT,LOCAL:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
fi
cat >"$WORK/server.properties" <<EOF
process.roles=broker,controller
node.id=${NODE_ID}
controller.quorum.voters=${VOTERS}
listeners=${LISTENERS}
advertised.listeners=${ADVERTISED}
listener.security.protocol.map=${PROTOCOLS}
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER

sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false

log.dirs=${DATA}
num.partitions=3
default.replication.factor=${REPLICATION}
min.insync.replicas=${MIN_ISR}
offsets.topic.replication.factor=${REPLICATION}
transaction.state.log.replication.factor=${REPLICATION}
transaction.state.log.min.isr=${MIN_ISR}
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
# \`init\` creates the topics (as admin) and faust its own (ACL CREATE on its prefix); with the
# ACLs nobody else may create one, automatically or not
auto.create.topics.enable=true
EOF

"$KAFKA_HOME/bin/kafka-storage.sh" format --ignore-formatted -t "$CLUSTER_ID" \
    -c "$WORK/server.properties"

"$KAFKA_HOME/bin/kafka-server-start.sh" "$WORK/server.properties" &
broker=$!
trap 'kill -TERM "$broker" 2>/dev/null; wait "$broker"; exit $?' TERM INT

# Upsert every user's credentials through the loopback listener, once the broker answers.
for u in "${USERS[@]}"; do
    for attempt in $(seq 1 60); do
        kill -0 "$broker" 2>/dev/null || { echo "kafka-start: the broker exited" >&2; exit 1; }
        if "$KAFKA_HOME/bin/kafka-configs.sh" --bootstrap-server 127.0.0.1:9094 --alter \
            --add-config "SCRAM-SHA-512=[password=$(password "$u")]" \
            --entity-type users --entity-name "$u" >/dev/null; then
            break
        fi
        ((attempt < 60)) || { echo "kafka-start: could not set the credentials of $u" >&2; exit 1; }
        sleep 2
    done
done
touch "$WORK/ready"
echo "kafka-start: SCRAM users ${USERS[*]} ready"
wait "$broker"
