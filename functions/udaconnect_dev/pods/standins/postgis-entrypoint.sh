#!/bin/sh
# The official postgres image's contract, reduced: first start initialises PGDATA (superuser POSTGRES_USER with
# POSTGRES_PASSWORD, database POSTGRES_DB with PostGIS), every start runs postgres listening on all addresses.
set -eu
if [ "${1:-postgres}" != postgres ]; then exec "$@"; fi
[ "$#" -gt 0 ] && shift
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
    pwfile="$(mktemp)"
    printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    if [ "$db" != postgres ]; then createdb -U "$user" -h /var/run/postgresql "$db"; fi
    psql -q -v ON_ERROR_STOP=1 -U "$user" -h /var/run/postgresql -d "$db" -c "CREATE EXTENSION IF NOT EXISTS postgis"
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "database initialised: $db"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
