#!/usr/bin/env bash
# Services the tests need, on loopback: `start` (idempotent, quick when already running), `stop`,
# `env` (prints the variables the tests read). One function per service; CI (.ci/run) and
# `make test` call `start` first. Runs as root (through sudo otherwise).
#
# PostgreSQL: Debian's cluster `15 main` on 127.0.0.1:5432 (created when the package left none),
# a role ivpack_test with CREATEDB and a password for the tests' own databases. The password is
# a test fixture, not a secret: the cluster listens on loopback only.
set -euo pipefail

# The cluster tools need root (they switch to the postgres user); env needs nothing.
if [ "$(id -u)" -ne 0 ] && [ "${1:-}" != env ]; then
    command -v sudo >/dev/null || { echo "test-services: run as root (or install sudo)" >&2; exit 3; }
    exec sudo bash "$0" "$@"
fi

PG_VERSION="${IVPACK_TEST_POSTGRES_VERSION:-15}"
PG_CLUSTER=main
PG_PORT="${IVPACK_TEST_POSTGRES_PORT:-5432}"
PG_ROLE=ivpack_test
PG_PASSWORD=ivpack-test-password

postgres_running() {
    runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null
}

postgres_start() {
    if ! command -v pg_ctlcluster >/dev/null; then
        echo "test-services: PostgreSQL is not installed: apt-get install postgresql" >&2
        return 3
    fi
    if ! postgres_running; then
        if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$PG_VERSION $PG_CLUSTER"; then
            pg_createcluster "$PG_VERSION" "$PG_CLUSTER" -p "$PG_PORT" -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null
        fi
        pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start \
            || { tail -20 "/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log" >&2; return 3; }
        for _ in $(seq 1 50); do postgres_running && break; sleep 0.2; done
        postgres_running || { echo "test-services: PostgreSQL did not come up on 127.0.0.1:$PG_PORT" >&2; return 3; }
    fi
    # The role, created once; the password set each time so that a changed fixture takes effect.
    runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE $PG_ROLE PASSWORD '$PG_PASSWORD';
SQL
    echo "test-services: PostgreSQL $PG_VERSION on 127.0.0.1:$PG_PORT, role $PG_ROLE"
}

postgres_stop() {
    if postgres_running; then pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop; fi
    echo "test-services: PostgreSQL stopped"
}

postgres_env() {
    echo "IVPACK_TEST_POSTGRES_URL=postgres://$PG_ROLE@127.0.0.1:$PG_PORT/postgres"
    echo "IVPACK_TEST_POSTGRES_PASSWORD=$PG_PASSWORD"
}

case "${1:-}" in
start) postgres_start ;;
stop) postgres_stop ;;
env) postgres_env ;;
*)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
