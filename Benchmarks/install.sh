#!/usr/bin/env bash
# Install benchmark (issue 15): `ivpack install` of the big and of the small payload against
# `tar -xf BUNDLE -C DIR && sync` of the same bundle, in the same run. tar checks nothing;
# install checks the signatures, every header and every chunk of every file while it extracts,
# flushes the release (syncfs), renames it into place, switches `current` and records the state.
#
#   1. builds ivpack in release (.build-release), unless IVPACK names an ivpack binary;
#   2. in a temporary folder under ${BENCH_DIR:-/tmp} (removed on exit), makes the two payloads
#      of Benchmarks/bench.sh ("big": one random file of BENCH_BIG_SIZE (2G); "small":
#      BENCH_SMALL_COUNT (20000) random files totalling BENCH_SMALL_TOTAL (1G)), one at a time,
#      each built into a bundle and signed by the development PKI's required roles;
#   3. times each step BENCH_RUNS (3) times with GNU time, each into a fresh folder (the previous
#      one removed and `sync` run, untimed), and keeps the median wall time and the largest
#      peak RSS;
#   4. prints one table and the ratios install / (tar -xf && sync).
#
# Page cache: warm (the bundle was just written and read). Knobs: IVPACK, BENCH_DIR, BENCH_RUNS,
# BENCH_BIG_SIZE, BENCH_SMALL_COUNT, BENCH_SMALL_TOTAL.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'bench-install: %s\n' "$*" >&2; }
die() { printf 'bench-install: error: %s\n' "$*" >&2; exit 1; }

ivpack=""
if [ -n "${IVPACK:-}" ]; then
    ivpack="$(command -v -- "$IVPACK" || true)"
    [ -n "$ivpack" ] && [ -f "$ivpack" ] && [ -x "$ivpack" ] || die "IVPACK=$IVPACK is not an executable file"
    ivpack="$(cd "$(dirname "$ivpack")" && pwd)/$(basename "$ivpack")"
fi
cd "$repo"

to_bytes() { local v="$1"; v="${v%B}"; v="${v%i}"; numfmt --from=iec -- "$v" 2>/dev/null || return 1; }
runs="${BENCH_RUNS:-3}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$runs is not a whole number >= 1"
big_bytes="$(to_bytes "${BENCH_BIG_SIZE:-2G}")" || die "BENCH_BIG_SIZE is not a size"
small_total="$(to_bytes "${BENCH_SMALL_TOTAL:-1G}")" || die "BENCH_SMALL_TOTAL is not a size"
small_count="${BENCH_SMALL_COUNT:-20000}"
[[ "$small_count" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SMALL_COUNT=$small_count is not a whole number >= 1"
base="${BENCH_DIR:-/tmp}"
[ -d "$base" ] && [ -w "$base" ] || die "BENCH_DIR=$base is not a writable folder"
[ -x /usr/bin/time ] || die "needs GNU time (/usr/bin/time)"

if [ -z "$ivpack" ]; then
    log "building ivpack (swift build -c release --scratch-path .build-release --product ivpack)"
    swift build -c release --scratch-path .build-release --product ivpack >&2
    ivpack="$(swift build -c release --scratch-path .build-release --show-bin-path)/ivpack"
fi
[ -x "$ivpack" ] || die "no ivpack binary at $ivpack"

largest=$(( big_bytes > small_total ? big_bytes : small_total ))
need=$(( 3 * largest + 536870912 ))
avail="$(df -P -B1 "$base" | awk 'NR == 2 { print $4 }')"
[ "$avail" -ge "$need" ] || die "$base has $avail bytes free; this run needs about $need (payload, bundle, extraction)"

work="$(mktemp -d "$base/ivpack-bench-install.XXXXXX")"
cleanup() { rm -rf -- "$work"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export SOURCE_DATE_EPOCH=1764000000 LC_ALL=C

# shellcheck source=Benchmarks/payloads.sh
. "$repo/Benchmarks/payloads.sh"
make_payload() { # make_payload DIR big|small
    if [ "$2" = big ]; then
        bench_big "$1" "$big_bytes" || die "could not write the big payload in $1"
    else
        bench_small "$1" "$small_count" "$small_total" || die "could not write the small-file tree in $1"
    fi
}

pki="$work/pki"
"$ivpack" keys init-dev "$pki" >/dev/null 2>&1 || die "ivpack keys init-dev failed"
policy="$pki/trust-policy.yaml"

declare -A WALL RSS
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# timed KEY TARGET COMMAND: COMMAND (a shell string using $target) BENCH_RUNS times, each into a
# fresh $target.
timed() {
    local key="$1" target="$2" command="$3" walls=() peak=0 i
    for ((i = 0; i < runs; i++)); do
        rm -rf -- "$target"; mkdir -p "$(dirname "$target")"; sync
        export target
        /usr/bin/time -f '%e %M' -o "$work/time" bash -c "$command" >"$work/out.log" 2>&1 \
            || { tail -n 20 "$work/out.log" >&2; die "$key failed"; }
        read -r wall rss <"$work/time"
        walls+=("$wall")
        [ "$rss" -gt "$peak" ] && peak="$rss"
    done
    WALL[$key]="$(printf '%s\n' "${walls[@]}" | median)"
    RSS[$key]="$peak"
    log "$key: ${WALL[$key]} s, peak RSS $(( peak / 1024 )) MiB"
    rm -rf -- "$target"
}

for kind in big small; do
    dir="$work/$kind"
    log "making the $kind payload"
    make_payload "$dir" "$kind"
    bundle="$work/$kind.ivp"
    (cd "$dir" && "$ivpack" build --spec ivpack.yaml --output "$bundle" >/dev/null)
    for role in release-manager quality; do
        "$ivpack" sign "$bundle" --role "$role" --key "$pki/signers/$role.key" --cert "$pki/signers/$role.pem" \
            --chain "$pki/intermediate-ca.pem" >/dev/null
    done
    rm -rf -- "$dir"
    cat "$bundle" >/dev/null   # warm
    timed "tar -xf && sync|$kind" "$work/x" "mkdir -p \"\$target\" && tar -xf '$bundle' -C \"\$target\" && sync"
    timed "ivpack install|$kind" "$work/root" "'$ivpack' install '$bundle' --trust '$policy' --root \"\$target\" --quiet"
    rm -f -- "$bundle"
done

printf '\n%-22s %-7s %10s %14s\n' step payload "wall (s)" "peak RSS (MiB)"
for kind in big small; do
    for step in "tar -xf && sync" "ivpack install"; do
        printf '%-22s %-7s %10s %14s\n' "$step" "$kind" "${WALL[$step|$kind]}" "$(( ${RSS[$step|$kind]} / 1024 ))"
    done
done
printf '\nratios install / (tar -xf && sync):'
for kind in big small; do
    printf ' %s %s' "$kind" "$(awk -v a="${WALL[ivpack install|$kind]}" -v b="${WALL[tar -xf && sync|$kind]}" 'BEGIN { printf (b > 0 ? "%.2fx" : "n/a"), a / b }')"
done
printf '\n(big: %s bytes; small: %s files, %s bytes; %s run(s) each; %s cores)\n' "$big_bytes" "$small_count" "$small_total" "$runs" "$(nproc)"
