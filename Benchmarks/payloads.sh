# The benchmark payloads, shared by bench.sh, install.sh and ab.sh (sourced; functions only).
#
# Random data comes from AES-128-CTR of zeros under a random key: incompressible, and much
# faster than /dev/urandom.

bench_version="V1.0.0.1"

rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

random_stream() {
    # head/python close the pipe when they have enough; openssl's SIGPIPE is expected.
    openssl enc -aes-128-ctr -nosalt -K "$(rand_hex 16)" -iv "$(rand_hex 16)" -in /dev/zero 2>/dev/null || true
}

# bench_release DIR MODEL: ivpack.yaml and release notes around DIR/payload (one file component).
bench_release() {
    local dir="$1" model="$2"
    cat >"$dir/ivpack.yaml" <<SPEC
apiVersion: ivpack.dev/v1
product: {name: ivpack benchmark, vendor: ivpack, model: $model}
version: $bench_version
releaseNotes: release-notes.md
components:
  - {name: payload, kind: file, paths: [payload]}
SPEC
    cat >"$dir/release-notes.md" <<NOTES
---
version: $bench_version
---
# Benchmark release $bench_version

Random payload of an ivpack benchmark (Benchmarks/).
NOTES
}

# bench_big DIR BYTES: one random file DIR/payload/big.bin and its release. Fails when short.
bench_big() {
    local dir="$1" bytes="$2"
    mkdir -p "$dir/payload"
    random_stream | head -c "$bytes" >"$dir/payload/big.bin"
    [ "$(stat -c %s "$dir/payload/big.bin")" -eq "$bytes" ] || return 1
    bench_release "$dir" BENCH-BIG
}

# bench_small DIR COUNT TOTAL: COUNT random files of TOTAL bytes in all under DIR/payload and
# their release. Sizes uniform in [lo, hi] around the mean (4 KiB..100 KiB for 20,000 files in
# 1 GiB), scaled so that they add up to the total exactly; 100 files per folder.
bench_small() {
    local dir="$1" count="$2" total="$3"
    mkdir -p "$dir/payload"
    random_stream | python3 -c '
import os, random, sys
root, count, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mean = total / count
lo = min(4096, max(1, int(mean / 2)))
hi = int(2 * mean - lo)
rng = random.Random(7)
sizes = [rng.randint(lo, hi) for _ in range(count)]
scale = total / sum(sizes)
sizes = [max(1, int(s * scale)) for s in sizes]
sizes[-1] = max(1, sizes[-1] + total - sum(sizes))
src = sys.stdin.buffer
for i, size in enumerate(sizes):
    folder = os.path.join(root, "d%04d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(folder, exist_ok=True)
    data = src.read(size)
    if len(data) != size:
        sys.exit("random stream ended early")
    with open(os.path.join(folder, "f%06d.bin" % i), "wb") as f:
        f.write(data)
' "$dir/payload" "$count" "$total" || return 1
    bench_release "$dir" BENCH-SMALL
}
