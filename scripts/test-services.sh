#!/usr/bin/env bash
# Services the tests need, on loopback: `start` (idempotent, quick when already running), `stop`,
# `env` (prints the variables the tests read). One function per service; CI (.ci/run) and
# `make test` call `start` first. Runs as root (through sudo otherwise).
#
# PostgreSQL: Debian's cluster `15 main` on 127.0.0.1:5432 (created when the package left none),
# a role ivpack_test with CREATEDB and a password for the tests' own databases. The password is
# a test fixture, not a secret: the cluster listens on loopback only. TLS is on, with a test CA
# made here (PG_TLS_DIR/ca.pem, a server certificate for 127.0.0.1 and localhost), so that the
# store's TLS modes are tested against the real server; clients may still connect without TLS.
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
PG_TLS_DIR=/var/lib/postgresql/ivpack-test-tls

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
    postgres_tls
    echo "test-services: PostgreSQL $PG_VERSION on 127.0.0.1:$PG_PORT, role $PG_ROLE, TLS CA $PG_TLS_DIR/ca.pem"
}

# A test CA and a server certificate (made once, 10 years), then ssl = on with a reload.
postgres_tls() {
    if [ ! -s "$PG_TLS_DIR/server.pem" ]; then
        install -d -m 755 -o postgres -g postgres "$PG_TLS_DIR"
        local t
        t="$(mktemp -d)"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -subj "/CN=ivpack test PostgreSQL CA" -keyout "$t/ca.key" -out "$t/ca.pem" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
            -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' > "$t/ext"
        openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
            -days 3650 -extfile "$t/ext" -out "$t/server.pem" 2>/dev/null
        install -m 644 -o postgres -g postgres "$t/ca.pem" "$PG_TLS_DIR/ca.pem"
        install -m 600 -o postgres -g postgres "$t/server.key" "$PG_TLS_DIR/server.key"
        install -m 644 -o postgres -g postgres "$t/server.pem" "$PG_TLS_DIR/server.pem"
        rm -rf "$t"
    fi
    runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres >/dev/null <<SQL
ALTER SYSTEM SET ssl_cert_file = '$PG_TLS_DIR/server.pem';
ALTER SYSTEM SET ssl_key_file = '$PG_TLS_DIR/server.key';
ALTER SYSTEM SET ssl = on;
SELECT pg_reload_conf();
SQL
}

postgres_stop() {
    if postgres_running; then pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop; fi
    echo "test-services: PostgreSQL stopped"
}

postgres_env() {
    echo "IVPACK_TEST_POSTGRES_URL=postgres://$PG_ROLE@127.0.0.1:$PG_PORT/postgres"
    echo "IVPACK_TEST_POSTGRES_PASSWORD=$PG_PASSWORD"
    echo "IVPACK_TEST_POSTGRES_CA=$PG_TLS_DIR/ca.pem"
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
