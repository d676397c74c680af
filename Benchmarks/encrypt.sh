#!/usr/bin/env bash
# Encryption benchmark (issue 17): the cost of encrypted components, in one run, on the same
# payload, against the same steps in the clear:
#
#   build           ivpack build                       vs  ivpack build --encrypt payload
#   verify          ivpack verify (clear bundle)       vs  ivpack verify (encrypted, without key)
#   install         ivpack install (clear bundle)      vs  ivpack install --content-key (decrypting)
#
# Targets (issue 17): encrypted build <= 1.25x the clear build, decrypting install <= 1.15x the
# clear install, on the 2 GiB file; peak RSS <= 64 MiB. `openssl dgst -sha256` and `openssl enc
# -aes-256-ctr` of the payload file are timed too, as the per-byte floor of a SHA-256 pass and an
# AES pass on this machine.
#
#   1. builds ivpack in release (.build-release), unless IVPACK names an ivpack binary;
#   2. in a temporary folder under ${BENCH_DIR:-/tmp} (removed on exit), one random file of
#      BENCH_SIZE (2G) as the release's one `file` component (Benchmarks/payloads.sh), a
#      development PKI, a recipient certificate;
#   3. times each step BENCH_RUNS (3) times with GNU time, clear and encrypted interleaved, each
#      into a fresh output (bundle removed, install root removed, then `sync`, untimed), and
#      keeps the median wall time and the largest peak RSS;
#   4. prints one table with the ratios encrypted / clear.
#
# Page cache: warm for inputs (payload, bundles read once before the runs). Installs flush their
# release (syncfs) as part of the step; builds fsync the bundle.
# Knobs: IVPACK, BENCH_DIR, BENCH_RUNS, BENCH_SIZE.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'bench-encrypt: %s\n' "$*" >&2; }
die() { printf 'bench-encrypt: error: %s\n' "$*" >&2; exit 1; }

ivpack=""
if [ -n "${IVPACK:-}" ]; then
    ivpack="$(command -v -- "$IVPACK" || true)"
    [ -n "$ivpack" ] && [ -f "$ivpack" ] && [ -x "$ivpack" ] || die "IVPACK=$IVPACK is not an executable file"
    ivpack="$(cd "$(dirname "$ivpack")" && pwd)/$(basename "$ivpack")"
fi
cd "$repo"
runs="${BENCH_RUNS:-3}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$runs is not a whole number >= 1"
size="$(numfmt --from=iec -- "${BENCH_SIZE:-2G}" 2>/dev/null)" || die "BENCH_SIZE is not a size"
base="${BENCH_DIR:-/tmp}"
[ -d "$base" ] && [ -w "$base" ] || die "BENCH_DIR=$base is not a writable folder"
[ -x /usr/bin/time ] || die "needs GNU time (/usr/bin/time)"
avail="$(df -P -B1 "$base" | awk 'NR == 2 { print $4 }')"
[ "$avail" -ge $(( 6 * size + 1073741824 )) ] || die "$base has $avail bytes free; this run needs about $(( 6 * size + 1073741824 ))"

if [ -z "$ivpack" ]; then
    log "building ivpack (swift build -c release --scratch-path .build-release --product ivpack)"
    swift build -c release --scratch-path .build-release --product ivpack >&2
    ivpack="$(swift build -c release --scratch-path .build-release --show-bin-path)/ivpack"
fi

work="$(mktemp -d "$base/ivpack-bench-encrypt.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export SOURCE_DATE_EPOCH=1764000000 LC_ALL=C

# shellcheck source=Benchmarks/payloads.sh
. "$repo/Benchmarks/payloads.sh"
log "payload: $(numfmt --to=iec "$size") of random data"
rel="$work/release"
bench_big "$rel" "$size" || die "could not write the payload"
"$ivpack" keys init-dev "$work/pki" >/dev/null 2>&1 || die "ivpack keys init-dev failed"
policy="$work/pki/trust-policy.yaml"
openssl req -x509 -newkey rsa:3072 -nodes -keyout "$work/site.key" -out "$work/site.pem" \
    -subj "/CN=bench site" -days 30 -addext keyUsage=critical,keyEncipherment >/dev/null 2>&1 || die "openssl req failed"
chmod 600 "$work/site.key"
sign_all() {
    local r
    for r in release-manager quality; do
        "$ivpack" sign "$1" --role "$r" --key "$work/pki/signers/$r.key" --cert "$work/pki/signers/$r.pem" \
            --chain "$work/pki/intermediate-ca.pem" >/dev/null
    done
}

declare -A wall rss
# timed NAME PREP -- COMMAND...: BENCH_RUNS runs; median wall time, largest peak RSS (KiB).
timed() {
    local name="$1" prep="$2"
    shift 3
    local times=() peak=0 i
    for ((i = 0; i < runs; i++)); do
        eval "$prep"
        sync
        /usr/bin/time -f '%e %M' -o "$work/time.out" "$@" >"$work/step.log" 2>&1 || {
            cat "$work/step.log" >&2
            die "$name failed"
        }
        read -r t m <"$work/time.out"
        times+=("$t")
        [ "$m" -gt "$peak" ] && peak="$m"
    done
    wall[$name]="$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')"
    rss[$name]="$peak"
    log "$name: ${wall[$name]} s (runs: ${times[*]}), peak RSS $((peak / 1024)) MiB"
}

clear="$work/clear.ivp"
enc="$work/enc.ivp"
key="$work/content.key"
# Untimed first builds: the bundles to verify and install, and the key file of the encrypted one.
(cd "$rel" && "$ivpack" build --force --spec ivpack.yaml --output "$clear" >/dev/null)
(cd "$rel" && "$ivpack" build --force --spec ivpack.yaml --output "$enc" --encrypt payload \
    --recipient site=../site.pem --export-content-key "$key" >/dev/null)
sign_all "$clear"
sign_all "$enc"
cat "$rel/payload/big.bin" "$clear" "$enc" >/dev/null

for ((round = 0; round < 1; round++)); do
    timed "openssl dgst -sha256" ":" -- openssl dgst -sha256 "$rel/payload/big.bin"
    timed "openssl enc -aes-256-ctr" ":" -- sh -c "openssl enc -aes-256-ctr -K $(rand_hex 32) -iv $(rand_hex 16) -in '$rel/payload/big.bin' -out /dev/null"
    timed "build (clear)" "rm -f '$work/b1.ivp'" -- \
        sh -c "cd '$rel' && exec '$ivpack' build --force --spec ivpack.yaml --output '$work/b1.ivp'"
    timed "build (encrypted)" "rm -f '$work/b2.ivp'" -- \
        sh -c "cd '$rel' && exec '$ivpack' build --force --spec ivpack.yaml --output '$work/b2.ivp' --encrypt payload --recipient site=../site.pem"
    timed "verify (clear)" ":" -- "$ivpack" verify "$clear" --trust "$policy"
    timed "verify (encrypted, no key)" ":" -- "$ivpack" verify "$enc" --trust "$policy"
    timed "install (clear)" "rm -rf '$work/root1'" -- \
        "$ivpack" install "$clear" --trust "$policy" --root "$work/root1"
    timed "install (decrypting)" "rm -rf '$work/root2'" -- \
        "$ivpack" install "$enc" --trust "$policy" --root "$work/root2" --content-key "$key"
done
cmp "$work/root1/current/payload/big.bin" "$work/root2/current/payload/big.bin" || die "the decrypted install differs from the clear one"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
printf '\nivpack encryption benchmark: %s payload (one file), %s runs, median wall time, peak RSS\n' \
    "$(numfmt --to=iec "$size")" "$runs"
printf 'machine: %s, %s cores\n\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$(nproc)"
printf '%-30s %9s %9s %12s\n' step "wall (s)" "RSS MiB" "vs clear"
for pair in "build (clear)|" "build (encrypted)|build (clear)" "verify (clear)|" "verify (encrypted, no key)|verify (clear)" \
    "install (clear)|" "install (decrypting)|install (clear)" "openssl dgst -sha256|" "openssl enc -aes-256-ctr|"; do
    name="${pair%%|*}"
    ref="${pair#*|}"
    printf '%-30s %9s %9s %12s\n' "$name" "${wall[$name]}" "$(( rss[$name] / 1024 ))" \
        "$([ -n "$ref" ] && ratio "${wall[$name]}" "${wall[$ref]}" || echo "")"
done
printf '\ntargets: build (encrypted) <= 1.25x, install (decrypting) <= 1.15x, RSS <= 64 MiB\n'
