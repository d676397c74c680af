#!/usr/bin/env bash
# OCI registry benchmark (issue 20): `ivpack push` and `ivpack pull` of a 2 GiB bundle against
# curl moving the same file through the same registry's API, in the same run.
#
#   1. builds ivpack in release (.build-release), unless IVPACK names an ivpack binary;
#   2. in a temporary folder under ${BENCH_DIR:-/tmp} (removed on exit) makes the "big" payload
#      of Benchmarks/payloads.sh (one random file of BENCH_BIG_SIZE, 2G) and builds and signs
#      one bundle with a development PKI;
#   3. starts Debian's docker-registry (CNCF distribution) on 127.0.0.1 with TLS (a throwaway
#      CA made by openssl) and htpasswd auth, filesystem storage in the work folder;
#   4. BENCH_RUNS (3) times, interleaved: `ivpack push` to a new repository (so the blob is
#      uploaded every time: the registry links blobs per repository), then curl's monolithic
#      upload of the same file (POST, then PUT --upload-file, which streams; --data-binary @FILE
#      would read the file into memory first), then `ivpack pull` and `curl -o` of the blob;
#   5. prints median wall times, ratios to curl (target <= 1.2) and the peak RSS of the pulls
#      (target <= 64 MiB), from GNU time.
#
# push reads the bundle twice (SHA-256 first: the digest is needed before the upload to ask
# whether the registry has the blob, and for the final PUT); curl does not hash at all. pull
# hashes while writing and fsyncs before the rename; curl -o does neither, so its time is taken
# up to a `sync` of the file. Knobs: IVPACK, BENCH_DIR, BENCH_RUNS, BENCH_BIG_SIZE, BENCH_CHUNK.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'bench-oci: %s\n' "$*" >&2; }
die() { printf 'bench-oci: error: %s\n' "$*" >&2; exit 1; }

command -v docker-registry >/dev/null || die "docker-registry missing: apt-get install docker-registry"
command -v htpasswd >/dev/null || die "htpasswd missing: apt-get install apache2-utils"
[ -x /usr/bin/time ] || die "GNU time missing: apt-get install time"

ivpack="${IVPACK:-}"
cd "$repo"
if [ -z "$ivpack" ]; then
    log "building ivpack (swift build -c release --scratch-path .build-release --product ivpack)"
    swift build -c release --scratch-path .build-release --product ivpack >&2
    ivpack="$(swift build -c release --scratch-path .build-release --show-bin-path)/ivpack"
fi
[ -x "$ivpack" ] || die "no ivpack binary at $ivpack"
# Absolute: the steps below run in other folders.
ivpack="$(realpath "$ivpack")"

to_bytes() { local v="$1"; v="${v%B}"; v="${v%i}"; numfmt --from=iec -- "$v" 2>/dev/null || return 1; }
runs="${BENCH_RUNS:-3}"
big_bytes="$(to_bytes "${BENCH_BIG_SIZE:-2G}")" || die "BENCH_BIG_SIZE is not a size"
base="${BENCH_DIR:-/tmp}"
work="$(mktemp -d "$base/ivpack-bench-oci.XXXXXX")"
registry_pid=""
cleanup() {
    if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export SOURCE_DATE_EPOCH=1764000000 LC_ALL=C

# shellcheck source=Benchmarks/payloads.sh
. "$repo/Benchmarks/payloads.sh"
log "making a $big_bytes-byte payload and its bundle"
bench_big "$work/big" "$big_bytes" || die "could not write the payload"
pki="$work/pki"
"$ivpack" keys init-dev "$pki" >/dev/null 2>&1 || die "ivpack keys init-dev failed"
bundle="$work/big.ivp"
(cd "$work/big" && "$ivpack" build --force --spec ivpack.yaml --output "$bundle" >/dev/null) || die "build failed"
for role in release-manager quality; do
    "$ivpack" sign "$bundle" --role "$role" --key "$pki/signers/$role.key" --cert "$pki/signers/$role.pem" \
        --chain "$pki/intermediate-ca.pem" >/dev/null || die "sign failed"
done
rm -rf -- "$work/big"
size="$(stat -c %s "$bundle")"
digest="sha256:$(sha256sum "$bundle" | cut -d' ' -f1)"

# The registry: TLS from a throwaway CA, htpasswd (bcrypt), storage in the work folder.
r="$work/registry"
mkdir -p "$r"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$r/ca.key" -out "$r/ca.pem" \
    -days 2 -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$r/server.key" -out "$r/server.csr" \
    -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$r/ext"
openssl x509 -req -in "$r/server.csr" -CA "$r/ca.pem" -CAkey "$r/ca.key" -CAcreateserial -out "$r/server.pem" \
    -days 2 -extfile "$r/ext" 2>/dev/null
password="bench-$(rand_hex 8)"
htpasswd -Bbn bench "$password" >"$r/htpasswd"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$r/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $r/storage}}
http:
  addr: 127.0.0.1:$port
  secret: bench
  tls: {certificate: $r/server.pem, key: $r/server.key}
auth: {htpasswd: {realm: bench, path: $r/htpasswd}}
YAML
docker-registry serve "$r/config.yml" >"$r/log" 2>&1 &
registry_pid=$!
url="https://127.0.0.1:$port"
for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$r/ca.pem" "$url/v2/")" = 401 ] && break
    sleep 0.1
done
export IVPACK_REGISTRY_PASSWORD="$password"
auth=(--ca "$r/ca.pem" --username bench)
push_chunk=()
[ -n "${BENCH_CHUNK:-}" ] && push_chunk=(--chunk-size "$BENCH_CHUNK")
curl_auth=(-s -f --cacert "$r/ca.pem" -u "bench:$password")

declare -A WALLS RSS
once() { # once KEY COMMAND...
    local key="$1" wall rss
    shift
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out.log" 2>&1 || { cat "$work/out.log" >&2; die "$key failed"; }
    read -r wall rss <"$work/time"
    WALLS[$key]="${WALLS[$key]:-} $wall"
    if [ "$rss" -gt "${RSS[$key]:-0}" ]; then RSS[$key]="$rss"; fi
    log "$key: $wall s, peak RSS $((rss / 1024)) MiB"
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

curl_push() { # curl_push REPOSITORY: POST a session, PUT the whole file with the digest
    local location
    location="$(curl "${curl_auth[@]}" -X POST -D - -o /dev/null "$url/v2/$1/blobs/uploads/" \
        | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')"
    case "$location" in /*) location="$url$location" ;; esac
    curl "${curl_auth[@]}" -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
        --upload-file "$bundle" "$location&digest=$digest"
}
export -f curl_push
export bundle url digest
export curl_auth_string="${curl_auth[*]}"

cat "$bundle" >/dev/null # page cache warm for every step
for run in $(seq "$runs"); do
    once "ivpack push" "$ivpack" push "$bundle" "oci://127.0.0.1:$port/bench/ivpack$run:t" "${auth[@]}" "${push_chunk[@]}"
    once "curl upload" bash -c "curl_auth=($curl_auth_string); curl_push bench/curl$run"
    rm -f "$work/pulled.ivp"
    once "ivpack pull" "$ivpack" pull "oci://127.0.0.1:$port/bench/ivpack$run:t" --output "$work/pulled.ivp" "${auth[@]}"
    [ "$(sha256sum "$work/pulled.ivp" | cut -d' ' -f1)" = "${digest#sha256:}" ] || die "pulled bytes differ"
    rm -f "$work/pulled.ivp"
    once "curl download" bash -c "curl ${curl_auth[*]} -o '$work/pulled.ivp' '$url/v2/bench/curl$run/blobs/$digest' && sync '$work/pulled.ivp'"
    rm -f "$work/pulled.ivp"
done

printf '\nOCI registry on loopback, %s-byte bundle, %s runs (median wall time; peak RSS)\n' "$size" "$runs"
printf '%-16s %10s %10s %12s\n' step "wall s" ratio "peak RSS MiB"
for pair in "ivpack push:curl upload" "ivpack pull:curl download"; do
    ours="${pair%%:*}"
    theirs="${pair#*:}"
    ow="$(printf '%s\n' ${WALLS[$ours]} | median)"
    tw="$(printf '%s\n' ${WALLS[$theirs]} | median)"
    printf '%-16s %10s %10s %12s\n' "$theirs" "$tw" "1.00" "$((RSS[$theirs] / 1024))"
    printf '%-16s %10s %10s %12s\n' "$ours" "$ow" "$(awk -v a="$ow" -v b="$tw" 'BEGIN { printf "%.2f", a / b }')" \
        "$((RSS[$ours] / 1024))"
done
printf 'targets: ratio <= 1.20, ivpack pull peak RSS <= 64 MiB\n'
