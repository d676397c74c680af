#!/usr/bin/env bash
# Throughput benchmark of ivpack build / sign / verify (`make bench`), against reference
# hashing (tar | openssl dgst, openssl dgst) and two peer update-bundle tools: RAUC and
# mender-artifact. Benchmarks/README.md explains the output; in short:
#
#   1. installs the peers if missing (rauc, mender-artifact, squashfs-tools, GNU time);
#   2. builds ivpack in release (.build-release), unless IVPACK names an ivpack binary;
#   3. in a temporary folder under ${BENCH_DIR:-/tmp} (removed on exit), creates two payloads,
#      one at a time: "big", one random file of BENCH_BIG_SIZE (2G), and "small", a tree of
#      BENCH_SMALL_COUNT (20000) random files of varied sizes totalling BENCH_SMALL_TOTAL (1G);
#      each becomes an ivpack release (one `file` component plus the required release notes);
#   4. times every step BENCH_RUNS (3) times with GNU time and keeps the median wall time and
#      the largest peak RSS; every step must exit 0, else the benchmark stops;
#   5. prints machine facts, one table of all steps (with a tamper check of every checking
#      step), and the ratios;
#   6. times `ivpack sign` of a 10 GiB bundle (BENCH_SIGN_10G: auto = only with >= 25 GiB free).
#
# Knobs (environment): IVPACK, BENCH_DIR, BENCH_RUNS, BENCH_BIG_SIZE, BENCH_SMALL_COUNT,
# BENCH_SMALL_TOTAL, BENCH_SIGN_10G (auto|1|0), BENCH_SIGN_SIZE (10G), BENCH_PEER_COMPRESS (0|1).
# Sizes take the suffixes K, M, G, T (powers of 1024; KiB, MiB, GiB, TiB too) or plain bytes.
#
# Choices, so that every tool does the same work (read the payload, digest every byte, write
# one signed container; on the checking side, digest every byte and check one signature):
# - Peer compression is off by default (BENCH_PEER_COMPRESS=0): ivpack stores files as they
#   are and the payloads are random, so gzip would only burn CPU in the peers. RAUC gets
#   mksquashfs -noI -noD -noF -noX, mender-artifact --compression none. BENCH_PEER_COMPRESS=1
#   runs the peers with their defaults (gzip) instead.
# - RAUC 1.8 is timed in both bundle formats, because they check the payload at different steps
#   (measured here by flipping a payload byte in a bundle):
#     plain:  the CMS signature is detached over the whole squashfs image, so
#             `rauc info --keyring` digests every byte: the like of `ivpack verify`.
#     verity: the CMS signature covers the manifest only (with the dm-verity root hash);
#             `rauc info --keyring` checks that signature and reads no payload byte (a corrupt
#             payload still passes `info`). The payload is checked against the verity hash tree
#             by `rauc extract --keyring` (which then also unpacks everything with unsquashfs:
#             more work than verify) or at install through dm-verity (needs root, a loop device
#             and a system configuration: not something to time here).
#   The verify ratios therefore use `rauc info` of the plain bundle as the fair peer, and also
#   show `rauc extract` of the verity bundle (the recommended format since RAUC 1.5).
#   But RAUC 1.8 plain bundles whose squashfs exceeds 2^31 - 1 bytes (the default 2G payload)
#   are signed and checked over the bytes before the first NUL only: RAUC passes the size to
#   OpenSSL's BIO_new_mem_buf(buf, int len), and a negative len means strlen. `rauc info`
#   then accepts a tampered payload (in 0.02 s); the tamper check below shows it, and that
#   verify ratio is given as "no-chk".
# - Tamper check: after its timings, every checking step runs once more (untimed) on its bundle
#   with the byte in the middle (inside the payload) flipped, and the byte is restored. The
#   table shows "rejected" or "ACCEPTED". ivpack verify accepting it stops the benchmark.
# - RAUC input: the big file is an image slot ([image.rootfs], so RAUC also digests it for its
#   manifest); the small tree is a folder of the bundle (RAUC images are single files; the tree
#   is covered by the bundle signature / verity tree, and not tarred first).
# - mender-artifact 3.9 `write module-image -f FILE...` opens every -f file at once (20,000
#   files hit the open-file limit, "too many open files") and stores files by base name only
#   (two files named x in different folders are refused). So the small tree goes in as one tar
#   archive; the timed "mender-artifact write" of the small payload includes that `tar cf`.
#   `mender-artifact validate -k PUBLIC.pem` checks the manifest signature and the SHA-256 of
#   every payload file (a flipped byte fails with "invalid checksum").
# - Before every timed run: `sync` (untimed), so that the write-back of an earlier step is not
#   charged to this one. `ivpack build` and `ivpack sign` flush their output (fsync) as part of
#   their work; the peers do not.
# - Page cache: warm. Payloads were just written, and every checking step runs once untimed
#   before its timed runs.
# - `ivpack sign` appends a signature and refuses a second signature by one certificate, so each
#   timed sign gets a fresh unsigned copy (cp --reflink=auto, then sync; both untimed). For the
#   10 GiB bundle, three 10 GiB copies would take minutes: sign only writes at and after the
#   end-of-archive marker, so the bundle's last MiB is saved once and, before every timed sign,
#   the bundle is truncated to its unsigned size and that tail written back (untimed). A failed
#   restore would make the next sign fail (one certificate signs once), and the 10 GiB bundle
#   is verified at the end.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# An IVPACK given relative to the caller's folder is resolved before leaving it.
ivpack=""
if [ -n "${IVPACK:-}" ]; then
    ivpack="$(command -v -- "$IVPACK" || true)"
    if [ -z "$ivpack" ] || [ ! -f "$ivpack" ] || [ ! -x "$ivpack" ]; then
        die "IVPACK=$IVPACK is not an executable file"
    fi
    ivpack="$(cd "$(dirname "$ivpack")" && pwd)/$(basename "$ivpack")"
fi
cd "$repo"

# ---------------------------------------------------------------------------------------------
# Settings.

# "2G", "2GiB", "200M", "1048576" -> bytes.
to_bytes() {
    local v="$1"
    v="${v%B}"; v="${v%i}"
    numfmt --from=iec -- "$v" 2>/dev/null || return 1
}
gib() { awk -v b="$1" 'BEGIN { if (b >= 1073741824) printf "%.1f GiB", b / 1073741824; else printf "%.0f MiB", b / 1048576 }'; }

runs="${BENCH_RUNS:-3}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$runs is not a whole number >= 1"
big_bytes="$(to_bytes "${BENCH_BIG_SIZE:-2G}")" || die "BENCH_BIG_SIZE=${BENCH_BIG_SIZE:-} is not a size (e.g. 2G, 200M)"
small_total="$(to_bytes "${BENCH_SMALL_TOTAL:-1G}")" || die "BENCH_SMALL_TOTAL=${BENCH_SMALL_TOTAL:-} is not a size (e.g. 1G, 25M)"
small_count="${BENCH_SMALL_COUNT:-20000}"
[[ "$small_count" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SMALL_COUNT=$small_count is not a whole number >= 1"
[ "$big_bytes" -ge 1048576 ] || die "BENCH_BIG_SIZE must be at least 1M (RAUC refuses tiny bundles)"
[ "$small_total" -ge "$small_count" ] || die "BENCH_SMALL_TOTAL must be at least one byte per file"
sign10="${BENCH_SIGN_10G:-auto}"
case "$sign10" in auto|0|1) ;; *) die "BENCH_SIGN_10G=$sign10: use auto, 1 or 0" ;; esac
sign10_bytes="$(to_bytes "${BENCH_SIGN_SIZE:-10G}")" || die "BENCH_SIGN_SIZE=${BENCH_SIGN_SIZE:-} is not a size"
peer_compress="${BENCH_PEER_COMPRESS:-0}"
case "$peer_compress" in 0|1) ;; *) die "BENCH_PEER_COMPRESS=$peer_compress: use 0 or 1" ;; esac
base="${BENCH_DIR:-/tmp}"
[ -d "$base" ] && [ -w "$base" ] || die "BENCH_DIR=$base is not a writable folder"
base="$(cd "$base" && pwd)"

# ---------------------------------------------------------------------------------------------
# 1. Peer tools.

missing=()
command -v rauc >/dev/null 2>&1 || missing+=(rauc)
command -v mender-artifact >/dev/null 2>&1 || missing+=(mender-artifact)
[ -x /usr/bin/time ] || missing+=(time)
{ command -v mksquashfs && command -v unsquashfs; } >/dev/null 2>&1 || missing+=(squashfs-tools)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing peer tools: ${missing[*]}"
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root (or sudo) to install ${missing[*]}"
        as_root=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------------------------------------
# 2. ivpack, in release.

if [ -z "$ivpack" ]; then
    log "building ivpack (swift build -c release --scratch-path .build-release --product ivpack)"
    swift build -c release --scratch-path .build-release --product ivpack >&2
    ivpack="$(swift build -c release --scratch-path .build-release --show-bin-path)/ivpack"
fi
[ -x "$ivpack" ] || die "no ivpack binary at $ivpack"
ivpack_version="$("$ivpack" --version 2>&1)" || die "$ivpack --version failed: $ivpack_version"

# ---------------------------------------------------------------------------------------------
# 3. Work folder and disk space.

free_bytes() { df -P -B1 "$1" | awk 'NR == 2 { print $4 }'; }
largest=$(( big_bytes > small_total ? big_bytes : small_total ))
# One payload at a time; at most three copies of it exist at once (payload, bundle, and the
# fresh copy to sign / the RAUC bundle and its extraction / the tar and the mender artifact).
need=$(( 3 * largest + 1073741824 ))
avail="$(free_bytes "$base")"
if [ "$avail" -lt "$need" ]; then
    die "$base has $(gib "$avail") free; this run needs about $(gib "$need") (3 x the largest payload + 1 GiB). Set BENCH_DIR to a roomier folder or lower BENCH_BIG_SIZE / BENCH_SMALL_TOTAL"
fi

work="$(mktemp -d "$base/ivpack-bench.XXXXXX")"
cleanup() { rm -rf -- "$work"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
started=$SECONDS
log "work folder $work; ivpack $ivpack_version; $runs run(s) per step"

export SOURCE_DATE_EPOCH=1764000000   # fixed header time: releases without a code component
export LC_ALL=C

# ---------------------------------------------------------------------------------------------
# Timing. Results are kept per "step|payload" in the order first measured.

declare -A R_WALL R_RSS R_BYTES R_RUNS R_RANGE
order=()

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# fail STEP PAYLOAD STATUS LOG COMMAND...: the benchmark is worthless past a failing step.
fail() {
    local step="$1" payload="$2" status="$3" logfile="$4"; shift 4
    {
        printf '\nbench: FAILED: %s (%s payload) exited with status %s\n' "$step" "$payload" "$status"
        printf 'bench: command:'; printf ' %q' "$@"; printf '\n'
        printf 'bench: last lines of its output:\n'
        tail -n 25 "$logfile" | sed 's/^/    /'
    } >&2
    exit 1
}

# run_checked STEP PAYLOAD COMMAND...: an untimed run (warm-up, preparation) that must succeed.
run_checked() {
    local step="$1" payload="$2" status=0; shift 2
    "$@" >"$work/untimed.log" 2>&1 || status=$?
    [ "$status" -eq 0 ] || fail "$step" "$payload" "$status" "$work/untimed.log" "$@"
}

# timed STEP PAYLOAD BYTES PREP -- COMMAND...: timed runs of COMMAND (BENCH_RUNS, or $n_runs when
# set); PREP is shell code run (untimed, eval'd) before each run, ':' for none.
timed() {
    local step="$1" payload="$2" bytes="$3" prep="$4"; shift 5
    local key="$step|$payload" walls=() rss=0 i status wall peak n="${n_runs:-$runs}"
    log "timing: $step ($payload payload), $n run(s)"
    for (( i = 1; i <= n; i++ )); do
        eval "$prep"
        sync
        status=0
        /usr/bin/time -f '%e %M' -o "$work/time.out" "$@" >"$work/timed.log" 2>&1 || status=$?
        [ "$status" -eq 0 ] || fail "$step" "$payload" "$status" "$work/timed.log" "$@"
        read -r wall peak < <(tail -n 1 "$work/time.out")
        walls+=("$wall")
        if [ "$peak" -gt "$rss" ]; then rss="$peak"; fi
    done
    [ -n "${R_WALL[$key]+set}" ] || order+=("$key")
    R_WALL[$key]="$(printf '%s\n' "${walls[@]}" | median)"
    R_RANGE[$key]="$(printf '%s\n' "${walls[@]}" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }')"
    R_RSS[$key]="$rss"
    R_BYTES[$key]="$bytes"
    R_RUNS[$key]="$n"
    log "         median ${R_WALL[$key]} s (runs: ${walls[*]}), peak RSS $(( rss / 1024 )) MiB"
}

# tamper_check STEP PAYLOAD FILE COMMAND...: flips one byte in the middle of FILE (inside the
# payload for every format here), runs COMMAND once (untimed), restores the byte. A checker that
# still exits 0 does not check that byte: the report says so next to its timing.
declare -A R_TAMPER
put_byte() { # put_byte FILE OFFSET VALUE
    printf "\\$(printf '%03o' "$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
tamper_check() {
    local step="$1" payload="$2" file="$3" off orig status=0; shift 3
    off=$(( $(stat -c %s "$file") / 2 ))
    orig="$(od -An -tu1 -j "$off" -N1 "$file" | tr -d ' ')"
    put_byte "$file" "$off" $(( 255 - orig ))
    "$@" >"$work/tamper.log" 2>&1 || status=$?
    put_byte "$file" "$off" "$orig"
    if [ "$status" -ne 0 ]; then R_TAMPER[$step|$payload]="rejected"; else R_TAMPER[$step|$payload]="ACCEPTED"; fi
    log "         byte $off flipped: ${R_TAMPER[$step|$payload]} (exit $status)"
}

# ---------------------------------------------------------------------------------------------
# Payload generation (untimed). Random bytes from AES-128-CTR over zeros: incompressible, and far
# faster than /dev/urandom.

# shellcheck source=Benchmarks/payloads.sh
. "$repo/Benchmarks/payloads.sh"
make_release() { bench_release "$@"; }
make_big() { bench_big "$1" "$big_bytes" || die "could not write $(gib "$big_bytes") of random data to $1"; }
make_small() { bench_small "$1" "$small_count" "$small_total" || die "could not write the small-file tree in $1"; }

# ---------------------------------------------------------------------------------------------
# Keys: ivpack's development PKI; an ECDSA P-256 CA and signer for RAUC; an ECDSA P-256 key pair
# for mender-artifact (which wants the SEC1 "EC PRIVATE KEY" form).

log "ivpack keys init-dev"
pki="$work/pki"
run_checked "ivpack keys init-dev" "-" "$ivpack" keys init-dev "$pki"
policy="$pki/trust-policy.yaml"
[ -f "$policy" ] || die "ivpack keys init-dev wrote no $policy"
# requiredRoles: as a block list (- role) or a flow list ([a, b]).
mapfile -t roles < <(awk '
    /^[^ #]/ { inside = 0 }
    /^ *requiredRoles *:/ {
        line = $0; sub(/^[^:]*: */, "", line); sub(/ *#.*/, "", line)
        if (line ~ /^\[/) { gsub(/[][" '\'']/, "", line); n = split(line, a, ","); for (i = 1; i <= n; i++) if (a[i] != "") print a[i]; exit }
        inside = 1; next
    }
    inside && /^ *- / { line = $0; sub(/^ *- */, "", line); sub(/ *#.*/, "", line); gsub(/["'\'']/, "", line); print line; next }
    inside && /^ *[^ -]/ { inside = 0 }
' "$policy")
[ "${#roles[@]}" -gt 0 ] || die "found no requiredRoles in $policy"
for r in "${roles[@]}"; do
    [ -f "$pki/signers/$r.key" ] && [ -f "$pki/signers/$r.pem" ] || die "the development PKI has no signer for required role \"$r\" ($pki/signers/$r.key, .pem)"
done
sign_role="${roles[0]}"
sign_with() { # sign_with BUNDLE ROLE
    "$ivpack" sign "$1" --role "$2" --key "$pki/signers/$2.key" --cert "$pki/signers/$2.pem" --chain "$pki/intermediate-ca.pem"
}

peerkeys="$work/peer-keys"
mkdir -p "$peerkeys"
(
    cd "$peerkeys"
    openssl ecparam -genkey -name prime256v1 -noout -out rauc-ca.key
    openssl req -x509 -new -key rauc-ca.key -out rauc-ca.pem -days 30 -subj "/CN=ivpack bench RAUC CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    openssl ecparam -genkey -name prime256v1 -noout -out rauc-signer.key
    openssl req -new -key rauc-signer.key -subj "/CN=ivpack bench RAUC signer" -out rauc-signer.csr
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' >rauc-signer.ext
    openssl x509 -req -in rauc-signer.csr -CA rauc-ca.pem -CAkey rauc-ca.key -CAcreateserial -days 30 \
        -extfile rauc-signer.ext -out rauc-signer.pem
    openssl ecparam -genkey -name prime256v1 -noout -out mender.key
    openssl ec -in mender.key -pubout -out mender.pub
) >"$work/peer-keys.log" 2>&1 || { cat "$work/peer-keys.log" >&2; die "could not create the peer keys with openssl"; }

rauc_squashfs=()
mender_compression=(--compression none)
if [ "$peer_compress" = 1 ]; then
    mender_compression=()
else
    rauc_squashfs=("--mksquashfs-args=-noI -noD -noF -noX")
fi

# ---------------------------------------------------------------------------------------------
# One payload: reference, ivpack build / sign / verify, RAUC, mender.

q() { printf '%q' "$1"; }

bench_payload() {
    local name="$1" dir="$work/$1" bytes bundle signed file="" tree
    log "creating the $name payload in $dir"
    case "$name" in
        big) make_big "$dir"; file="$dir/payload/big.bin" ;;
        small) make_small "$dir" ;;
    esac
    bytes="$(du -sb --apparent-size "$dir/payload" | cut -f1)"
    tree="$dir/payload"

    # Reference: what reading and hashing the payload costs.
    timed "tar | openssl dgst -sha256" "$name" "$bytes" ":" -- \
        bash -c 'set -o pipefail; tar cf - -C "$1" . | openssl dgst -sha256 >/dev/null' _ "$tree"
    if [ -n "$file" ]; then
        timed "openssl dgst -sha256 (payload file)" "$name" "$bytes" ":" -- openssl dgst -sha256 "$file"
    fi

    # ivpack build.
    bundle="$dir/bundle.ivp"
    timed "ivpack build" "$name" "$bytes" "rm -f -- $(q "$bundle")" -- \
        "$ivpack" build --force --spec "$dir/ivpack.yaml" --output "$bundle"
    local bundle_bytes; bundle_bytes="$(stat -c %s "$bundle")"
    timed "openssl dgst -sha256 (bundle)" "$name" "$bundle_bytes" ":" -- openssl dgst -sha256 "$bundle"

    # ivpack sign: one role, on a fresh unsigned copy each time.
    local copy="$dir/sign-copy.ivp"
    timed "ivpack sign (1 role)" "$name" "$bundle_bytes" \
        "rm -f -- $(q "$copy"); cp --reflink=auto -- $(q "$bundle") $(q "$copy"); sync -- $(q "$copy")" -- \
        "$ivpack" sign "$copy" --role "$sign_role" --key "$pki/signers/$sign_role.key" \
        --cert "$pki/signers/$sign_role.pem" --chain "$pki/intermediate-ca.pem"
    rm -f -- "$copy"

    # ivpack verify: signed by every required role; must exit 0.
    signed="$dir/signed.ivp"
    mv -- "$bundle" "$signed"
    for r in "${roles[@]}"; do run_checked "ivpack sign --role $r" "$name" sign_with "$signed" "$r"; done
    run_checked "ivpack verify (warm-up)" "$name" "$ivpack" verify "$signed" --trust "$policy"
    cp "$work/untimed.log" "$work/verify-$name.log"
    timed "ivpack verify (all roles)" "$name" "$bundle_bytes" ":" -- "$ivpack" verify "$signed" --trust "$policy"
    tamper_check "ivpack verify (all roles)" "$name" "$signed" "$ivpack" verify "$signed" --trust "$policy"
    if [ "${R_TAMPER[ivpack verify (all roles)|$name]}" != rejected ]; then
        cat "$work/tamper.log" >&2
        die "ivpack verify accepted $signed with one byte flipped in the middle (an ivpack bug; output above)"
    fi
    rm -f -- "$signed"

    # RAUC, in the plain and the verity format (see the top of this file).
    local rin="$dir/rauc-in" fmt out manifest
    mkdir -p "$rin"
    if [ -n "$file" ]; then ln -- "$file" "$rin/big.bin"; else cp -al -- "$tree" "$rin/payload"; fi
    for fmt in plain verity; do
        out="$dir/bundle-$fmt.raucb"
        # rauc bundle rewrites manifest.raucm in the input folder (it drops format=plain and adds
        # checksums): write it afresh before every run.
        manifest="$(printf '[update]\ncompatible=ivpack-bench\nversion=1.0.0\n\n[bundle]\nformat=%s\n' "$fmt")"
        [ -n "$file" ] && manifest+="$(printf '\n\n[image.rootfs]\nfilename=big.bin\n')"
        printf '%s\n' "$manifest" >"$dir/manifest.raucm"
        timed "rauc bundle ($fmt)" "$name" "$bytes" \
            "rm -f -- $(q "$out"); cp -- $(q "$dir/manifest.raucm") $(q "$rin/manifest.raucm")" -- \
            rauc bundle --cert="$peerkeys/rauc-signer.pem" --key="$peerkeys/rauc-signer.key" "${rauc_squashfs[@]}" "$rin" "$out"
        run_checked "rauc info --keyring ($fmt, warm-up)" "$name" rauc info --keyring="$peerkeys/rauc-ca.pem" "$out"
        timed "rauc info --keyring ($fmt)" "$name" "$(stat -c %s "$out")" ":" -- \
            rauc info --keyring="$peerkeys/rauc-ca.pem" "$out"
        tamper_check "rauc info --keyring ($fmt)" "$name" "$out" rauc info --keyring="$peerkeys/rauc-ca.pem" "$out"
        if [ "$fmt" = verity ]; then
            local ex="$dir/rauc-extract"
            timed "rauc extract --keyring (verity)" "$name" "$(stat -c %s "$out")" "rm -rf -- $(q "$ex")" -- \
                rauc extract --keyring="$peerkeys/rauc-ca.pem" "$out" "$ex"
            rm -rf -- "$ex"
            tamper_check "rauc extract --keyring (verity)" "$name" "$out" rauc extract --keyring="$peerkeys/rauc-ca.pem" "$out" "$ex"
            rm -rf -- "$ex"
        fi
        rm -f -- "$out"
    done
    rm -rf -- "$rin"

    # mender-artifact: rootfs-image for the big file; module-image with one tar for the tree.
    out="$dir/artifact.mender"
    if [ -n "$file" ]; then
        timed "mender-artifact write" "$name" "$bytes" "rm -f -- $(q "$out")" -- \
            mender-artifact write rootfs-image "${mender_compression[@]}" -t ivpack-bench -n bench-big \
            -f "$file" -o "$out" -k "$peerkeys/mender.key"
    else
        local tarball="$dir/tree.tar"
        timed "mender-artifact write" "$name" "$bytes" "rm -f -- $(q "$out") $(q "$tarball")" -- \
            bash -c 'set -e; tar cf "$2" -C "$1" .; shift 2; exec mender-artifact write module-image "$@"' _ "$tree" "$tarball" \
            "${mender_compression[@]}" -T ivpack-bench -t ivpack-bench -n bench-small -f "$tarball" -o "$out" -k "$peerkeys/mender.key"
    fi
    run_checked "mender-artifact validate (warm-up)" "$name" mender-artifact validate -k "$peerkeys/mender.pub" "$out"
    timed "mender-artifact validate -k" "$name" "$(stat -c %s "$out")" ":" -- \
        mender-artifact validate -k "$peerkeys/mender.pub" "$out"
    tamper_check "mender-artifact validate -k" "$name" "$out" mender-artifact validate -k "$peerkeys/mender.pub" "$out"
    rm -rf -- "$dir"
}


# ---------------------------------------------------------------------------------------------
# 6. Signing cost must not grow with the bundle: sign a bundle of BENCH_SIGN_SIZE (10 GiB).

sign10_note=""
restore_bundle() { # restore_bundle BUNDLE UNSIGNED_SIZE TAIL_FILE: undo the appended signatures
    local b="$1" size="$2" tailf="$3" tlen
    tlen="$(stat -c %s "$tailf")"
    truncate -s "$size" -- "$b"
    dd if="$tailf" of="$b" bs=1M seek=$(( size - tlen )) oflag=seek_bytes conv=notrunc status=none
    sync -- "$b"
}

bench_sign10() {
    local label dir="$work/sign10" avail need threshold bundle size0 tlen tailf
    label="$(awk -v b="$sign10_bytes" 'BEGIN { g = b / 1073741824; if (g == int(g)) printf "%dG", g; else printf "%.1fG", g }')"
    need=$(( 2 * sign10_bytes + 1073741824 ))          # the payload and the bundle, and 1 GiB
    threshold=$(( need > 25 * 1073741824 ? need : 25 * 1073741824 ))
    avail="$(free_bytes "$work")"
    if [ "$sign10" = 0 ]; then
        sign10_note="skipped (BENCH_SIGN_10G=0)"; return 0
    elif [ "$sign10" = auto ] && [ "$avail" -lt "$threshold" ]; then
        sign10_note="skipped: $(gib "$avail") free in $base, runs by default from $(gib "$threshold") (BENCH_SIGN_10G=1 forces it)"
        return 0
    elif [ "$avail" -lt "$need" ]; then
        die "BENCH_SIGN_10G=1 needs $(gib "$need") free in $base; it has $(gib "$avail")"
    fi
    sign10_payload="$label"
    log "creating the $label payload in $dir (a file of zeros: sparse, read back as zeros)"
    mkdir -p "$dir/payload"
    # truncate makes a sparse file: instant, costs no disk, and reads back as zeros, which is
    # all a timing of sign needs (ivpack build reads files with read(2) and writes every byte).
    truncate -s "$sign10_bytes" "$dir/payload/zeros.bin"
    make_release "$dir" BENCH-SIGN
    bundle="$dir/bundle.ivp"
    n_runs=1 timed "ivpack build" "$label" "$sign10_bytes" ":" -- \
        "$ivpack" build --force --spec "$dir/ivpack.yaml" --output "$bundle"
    rm -f -- "$dir/payload/zeros.bin"
    size0="$(stat -c %s "$bundle")"
    tlen=$(( size0 < 1048576 ? size0 : 1048576 ))
    tailf="$dir/unsigned-tail.bin"
    tail -c "$tlen" -- "$bundle" >"$tailf"
    timed "ivpack sign (1 role)" "$label" "$size0" \
        "restore_bundle $(q "$bundle") $size0 $(q "$tailf")" -- \
        "$ivpack" sign "$bundle" --role "$sign_role" --key "$pki/signers/$sign_role.key" \
        --cert "$pki/signers/$sign_role.pem" --chain "$pki/intermediate-ca.pem"
    # Proof that the restored bundles were sound: sign by every role and verify everything.
    restore_bundle "$bundle" "$size0" "$tailf"
    for r in "${roles[@]}"; do run_checked "ivpack sign --role $r" "$label" sign_with "$bundle" "$r"; done
    n_runs=1 timed "ivpack verify (all roles)" "$label" "$size0" ":" -- "$ivpack" verify "$bundle" --trust "$policy"
    rm -rf -- "$dir"
}

# ---------------------------------------------------------------------------------------------
# 5. Report.

has() { [ -n "${R_WALL[$1|$2]+set}" ]; }
# ratio NUMERATOR_STEP DENOMINATOR_STEP PAYLOAD: median / median, "-" when not measured.
ratio() {
    has "$1" "$3" && has "$2" "$3" || { printf -- '-'; return; }
    awk -v a="${R_WALL[$1|$3]}" -v b="${R_WALL[$2|$3]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

report() {
    local key step payload rate tools p
    tools="openssl $(openssl version | awk '{ print $2 }'); $(rauc --version 2>&1 | head -n 1); mender-artifact $(mender-artifact --version 2>&1 | awk '{ print $NF }'); $(mksquashfs -version 2>&1 | head -n 1 | awk '{ print "mksquashfs", $3 }'); $(tar --version | head -n 1)"
    echo "ivpack benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(( (SECONDS - started) / 60 )) min"
    echo "machine   $(nproc) CPUs ($cpu_model), $mem_total RAM, kernel $(uname -r)"
    echo "disk      $fs_type under $base ($fs_options)"
    echo "load      $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end (1/5/15 min; a shared machine: compare ratios within one run)"
    echo "ivpack    $ivpack_version ($ivpack)"
    echo "tools     $tools"
    echo "payloads  big: 1 random file of $(gib "$big_bytes"); small: $small_count random files of varied size, $(gib "$small_total") in all"
    echo "method    median wall time of $runs run(s), largest peak RSS (GNU time); warm page cache; sync before each run;"
    if [ "$peer_compress" = 1 ]; then
        echo "          peers with their default compression (gzip)"
    else
        echo "          peers without compression (mksquashfs -noI -noD -noF -noX, mender-artifact --compression none)"
    fi
    echo
    local fmt='%-35s %-7s %4s %8s %11s %7s %6s %8s\n'
    printf "$fmt" "step" "payload" "runs" "median s" "min-max s" "RSS MiB" "MiB/s" "tampered"
    printf "$fmt" "-----------------------------------" "-------" "----" "--------" "-----------" "-------" "------" "--------"
    for key in "${order[@]}"; do
        step="${key%|*}"; payload="${key##*|}"
        rate="-"
        # No throughput for sign, nor for a checking step that does not read the payload.
        if [[ "$step" != "ivpack sign"* && "${R_TAMPER[$key]:-}" != ACCEPTED ]]; then
            rate="$(awk -v b="${R_BYTES[$key]}" -v t="${R_WALL[$key]}" 'BEGIN { if (t > 0 && b > 0) printf "%.0f", b / 1048576 / t; else print "-" }')"
        fi
        printf "$fmt" "$step" "$payload" "${R_RUNS[$key]}" "${R_WALL[$key]}" "${R_RANGE[$key]}" \
            "$(( R_RSS[$key] / 1024 ))" "$rate" "${R_TAMPER[$key]:-}"
    done
    echo
    echo "MiB/s: payload bytes (build, tar, mender write, rauc bundle) or bundle bytes (verify, dgst of the"
    echo "bundle, rauc info/extract, validate) per second; none for sign and for steps that accept a tampered bundle."
    echo "tampered: the checking step run once more on its bundle with one byte flipped in the middle (in the"
    echo "payload): \"rejected\" = it failed, as it must; \"ACCEPTED\" = it exited 0: it does not check that byte"
    echo "(expected of rauc info on a verity bundle: its signature covers the manifest only)."
    echo
    printf '%-66s %7s %7s\n' "ratio of median times (below 1: ivpack takes less time)" "big" "small"
    printf '%-66s %7s %7s\n' "------------------------------------------------------------------" "-------" "-------"
    # A verify ratio against a peer step that accepted a tampered bundle compares unlike work.
    cell() { # cell NUMERATOR DENOMINATOR PAYLOAD
        if [ "${R_TAMPER[$2|$3]:-}" = ACCEPTED ]; then printf 'no-chk'; else ratio "$1" "$2" "$3"; fi
    }
    row() { printf '%-66s %7s %7s\n' "$1" "$(cell "$2" "$3" big)" "$(cell "$2" "$3" small)"; }
    row "ivpack build / (tar | openssl dgst -sha256)" "ivpack build" "tar | openssl dgst -sha256"
    row "ivpack build / openssl dgst -sha256 of the payload file" "ivpack build" "openssl dgst -sha256 (payload file)"
    row "ivpack build / rauc bundle (plain)" "ivpack build" "rauc bundle (plain)"
    row "ivpack build / rauc bundle (verity)" "ivpack build" "rauc bundle (verity)"
    row "ivpack build / mender-artifact write" "ivpack build" "mender-artifact write"
    row "ivpack verify / rauc info --keyring (plain)" "ivpack verify (all roles)" "rauc info --keyring (plain)"
    row "ivpack verify / rauc extract --keyring (verity: checks, unpacks)" "ivpack verify (all roles)" "rauc extract --keyring (verity)"
    row "ivpack verify / mender-artifact validate -k" "ivpack verify (all roles)" "mender-artifact validate -k"
    printf '%-67s %6s× %6s×\n' "verify speed = X × openssl (dgst -sha256 of the bundle / verify)" \
        "$(ratio "openssl dgst -sha256 (bundle)" "ivpack verify (all roles)" big)" \
        "$(ratio "openssl dgst -sha256 (bundle)" "ivpack verify (all roles)" small)"
    local st nochk=""
    for st in "rauc info --keyring (plain)" "rauc extract --keyring (verity)" "mender-artifact validate -k"; do
        for p in big small; do
            if [ "${R_TAMPER[$st|$p]:-}" = ACCEPTED ]; then nochk+="${nochk:+, }$st ($p)"; fi
        done
    done
    if [ -n "$nochk" ]; then
        echo "no-chk: no ratio: the peer step accepted its bundle with a byte flipped ($nochk)."
    fi
    echo
    echo "ivpack sign (1 role) by bundle size, median:"
    for p in small big "${sign10_payload:-}"; do
        [ -n "$p" ] && has "ivpack sign (1 role)" "$p" || continue
        printf '  %-6s %10s  %6s s\n' "$p" "$(gib "${R_BYTES[ivpack sign (1 role)|$p]}")" "${R_WALL[ivpack sign (1 role)|$p]}"
    done
    [ -z "$sign10_note" ] || printf '  %-6s %s\n' "10G" "$sign10_note"
    echo
    echo "ivpack verify results (warm-up runs; every timed run exited 0 too):"
    for p in big small; do
        [ -f "$work/verify-$p.log" ] || continue
        printf '  %-6s %s\n' "$p" "$(grep -E '^Result:' "$work/verify-$p.log" | head -n 1)"
        awk '/^(PASS|WARN|FAIL) / { sub(/:.*/, ""); s = tolower($1); l[s] = l[s] (l[s] == "" ? "" : ", ") $2 }
             END { for (s in l) printf "         %s: %s\n", s, l[s] }' "$work/verify-$p.log" | sort
    done
}

# ---------------------------------------------------------------------------------------------
# Run.

cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
mem_total="$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
fs_type="$(df -PT "$work" | awk 'NR == 2 { print $2 }')"
fs_options="$(findmnt -no OPTIONS -T "$work" 2>/dev/null || echo unknown)"
sign10_payload=""

bench_payload big
bench_payload small
bench_sign10
log "done in $(( SECONDS - started )) s"
echo
report
