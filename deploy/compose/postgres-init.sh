#!/bin/bash
# Runs once, when the postgres container initialises an empty data directory
# (/docker-entrypoint-initdb.d). Creates one database per service, owned by $POSTGRES_USER.
# The list comes from CHUNGTAY_SERVICES ("registration reporting ..."), set in docker-compose.yml.
# `python -m chungtay_common.stack ready` (the `init` service) creates missing ones as well.
set -euo pipefail

for service in ${CHUNGTAY_SERVICES:?set CHUNGTAY_SERVICES}; do
    db="chungtay_${service}"
    exists=$(psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '${db}'")
    if [ "$exists" != 1 ]; then
        echo "creating database ${db}"
        psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres \
            -c "CREATE DATABASE \"${db}\" OWNER \"${POSTGRES_USER}\""
    fi
done
