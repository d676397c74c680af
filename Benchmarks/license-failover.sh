#!/usr/bin/env bash
# Licence service load and fault benchmark (issue 20): `ivpack license serve` processes on one
# PostgreSQL database, 200 concurrent installers that know every instance, 10,000 checks over
# 2,000 bundles at 20 sites, one instance killed with SIGKILL halfway; the database is read back
# afterwards (every grant recorded once, no licence over its seats, audit "ok" rows = activations).
# The reference in the same run: one instance on the embedded SQLite store, no kill, same load.
#
#   1. builds ivpack and license-load in release (.build-release), unless IVPACK and LOAD name
#      binaries;
#   2. starts PostgreSQL on 127.0.0.1 (scripts/test-services.sh) and creates an empty database
#      for each PostgreSQL run (dropped on exit);
#   3. BENCH_RUNS (1) times, interleaved: the SQLite reference, then PostgreSQL with 2 instances
#      and the kill at --kill-at (0.5);
#   4. prints each run's figures and RESULT line; exits 1 when any run fails its checks.
#
# Knobs: IVPACK, LOAD, BENCH_RUNS, BENCH_CHECKS (10000), BENCH_CONCURRENCY (200),
# BENCH_BUNDLES (2000), BENCH_INSTANCES (2), BENCH_KILL_AT (0.5).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'bench-failover: %s\n' "$*" >&2; }
die() { printf 'bench-failover: error: %s\n' "$*" >&2; exit 1; }
command -v psql >/dev/null || die "psql missing: apt-get install postgresql"

cd "$repo"
ivpack="${IVPACK:-}"
load="${LOAD:-}"
if [ -z "$ivpack" ] || [ -z "$load" ]; then
    log "building ivpack and license-load (swift build -c release --scratch-path .build-release)"
    swift build -c release --scratch-path .build-release --product ivpack >&2
    swift build -c release --scratch-path .build-release --product license-load >&2
    bin="$(swift build -c release --scratch-path .build-release --show-bin-path)"
    ivpack="${ivpack:-$bin/ivpack}"
    load="${load:-$bin/license-load}"
fi
[ -x "$ivpack" ] || die "no ivpack binary at $ivpack"
[ -x "$load" ] || die "no license-load binary at $load"

bash scripts/test-services.sh start >&2
eval "$(bash scripts/test-services.sh env)"
: "${IVPACK_TEST_POSTGRES_URL:?}" "${IVPACK_TEST_POSTGRES_PASSWORD:?}"
work="$(mktemp -d /tmp/ivpack-bench-failover.XXXXXX)"
chmod 700 "$work"
printf '%s' "$IVPACK_TEST_POSTGRES_PASSWORD" > "$work/pgpass"
chmod 600 "$work/pgpass"
# postgres://USER@HOST:PORT/DB -> the parts psql takes.
rest="${IVPACK_TEST_POSTGRES_URL#postgres://}"
pg_user="${rest%%@*}"; rest="${rest#*@}"
pg_host="${rest%%:*}"; rest="${rest#*:}"
pg_port="${rest%%/*}"
databases=()
psql_admin() { PGPASSWORD="$IVPACK_TEST_POSTGRES_PASSWORD" psql -q -v ON_ERROR_STOP=1 -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres "$@"; }
cleanup() {
    for db in "${databases[@]}"; do psql_admin -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

common=(--processes --ivpack "$ivpack" --checks "${BENCH_CHECKS:-10000}"
    --concurrency "${BENCH_CONCURRENCY:-200}" --bundles "${BENCH_BUNDLES:-2000}")
status=0
for run in $(seq 1 "${BENCH_RUNS:-1}"); do
    log "run $run: reference, 1 instance on SQLite, no kill"
    "$load" "${common[@]}" --instances 1 --kill-at 0 || status=1
    db="ivpack_failover_$$_$run"
    databases+=("$db")
    psql_admin -c "CREATE DATABASE $db" >/dev/null
    log "run $run: ${BENCH_INSTANCES:-2} instances on PostgreSQL ($db), SIGKILL of one at ${BENCH_KILL_AT:-0.5}"
    "$load" "${common[@]}" --instances "${BENCH_INSTANCES:-2}" --kill-at "${BENCH_KILL_AT:-0.5}" \
        --postgres-url "postgres://$pg_user@$pg_host:$pg_port/$db" --password-file "$work/pgpass" || status=1
done
exit "$status"
