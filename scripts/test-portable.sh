#!/usr/bin/env bash
# `make test-portable`: proves that the packaged ivpack runs on a machine without the Swift
# toolchain. Needs root (a mount namespace) and what `make deb` made; takes about a minute.
#
# How the toolchain is hidden: `unshare --mount` gives this script's checks a private mount
# namespace in which an empty folder is bind-mounted over the toolchain's folder (/opt/swift
# here, found from `swift`), so no file of it can be opened, whatever RUNPATH, RPATH or
# LD_LIBRARY_PATH say; the commands run under `env -i` with PATH=/usr/bin:/bin. The host is not
# changed (the mount ends with the namespace). A chroot/debootstrap would also hide /opt/swift,
# but needs a Debian mirror: this machine has none offline, and the namespace shows the same
# thing. As a control, the debug build (dynamic Swift runtime) must fail there with exit 127.
#
# The package is installed into a throwaway root with dpkg itself (--instdir/--admindir, a
# private dpkg database; maintainer scripts run chrootless), never into the host's; its Depends
# are resolved against the host's packages by `apt-get --simulate`.
#
# In the namespace: ivpack --version; a short release flow from the example (keys init-dev,
# build, sign as release manager and quality, check, verify, inspect); the man page rendered with
# `man -l`; bash completion of file names for --trust. Figures: sizes and startup time.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
dist="${DIST:-dist}"
deb="${1:-$(ls -t "$dist"/ivpack_*.deb 2>/dev/null | head -n 1)}"
[ -n "$deb" ] && [ -f "$deb" ] || { echo "test-portable: no .deb: run make deb" >&2; exit 3; }
[ "$(id -u)" -eq 0 ] || { echo "test-portable: needs root (unshare --mount)" >&2; exit 3; }
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"

toolchain=""
if command -v swift >/dev/null; then
    toolchain="$(dirname "$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")")"
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/ivpack-portable.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
root="$work/root"
step() { printf '\n==> %s\n' "$*"; }

step "dpkg --instdir $root -i $(basename "$deb") (private dpkg database)"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
: >"$root/var/lib/dpkg/status"
# --force-depends: the throwaway root has no libraries of its own; the host's satisfy the
# Depends (checked next), and the binary runs against them.
dpkg --instdir="$root" --admindir="$root/var/lib/dpkg" --force-script-chrootless --force-depends \
    --force-not-root -i "$deb" 2>&1 | grep -v -e '^dpkg: warning' -e 'dependency problems' -e '^ ivpack depends' \
    -e '^  Package .* is not installed' || true
dpkg --admindir="$root/var/lib/dpkg" -s ivpack | grep -E '^(Status|Version|Depends):'
dpkg --admindir="$root/var/lib/dpkg" -L ivpack | grep -E 'bin/|\.service|schemas/manifest|completions/' || true
step "Depends resolved against this machine (apt-get --simulate)"
apt-get --simulate -o Debug::NoLocking=1 install "$deb" 2>&1 | grep -E '^(Inst|Conf|[0-9]+ upgraded)|Unmet|broken' || true
if apt-get --simulate -o Debug::NoLocking=1 install "$deb" 2>&1 | grep -qE 'Unmet|broken packages'; then
    echo "test-portable: the package's Depends cannot be met here" >&2
    exit 1
fi

step "The installed binary"
ivp="$root/usr/bin/ivpack"
ls -l "$ivp"
readelf -d "$ivp" | grep -E 'NEEDED|R(UN)?PATH' | sed 's/^ */  /'

# Everything below runs in a private mount namespace with the toolchain hidden.
cat >"$work/inside.sh" <<'INSIDE'
set -euo pipefail
root="$1"; work="$2"; repo="$3"; toolchain="$4"; debug_bin="$5"
ivp="$root/usr/bin/ivpack"
if [ -n "$toolchain" ]; then
    mkdir -p "$work/empty"
    mount --bind "$work/empty" "$toolchain"
    echo "toolchain $toolchain hidden: $(ls -A "$toolchain" | wc -l) entries visible"
    # Other copies on the root file system, none in the loader's search path (perf's build-id
    # cache under ~/.debug keeps one on this machine).
    find / -xdev -name 'libswiftCore.so' 2>/dev/null | sed 's/^/  other libswiftCore.so: /' || true
fi
run() { env -i PATH=/usr/bin:/bin HOME="$work/home" LANG=C.UTF-8 "$@"; }
mkdir -p "$work/home"
if [ -n "$debug_bin" ] && [ -x "$debug_bin" ]; then
    set +e
    run "$debug_bin" --version >/dev/null 2>"$work/control.err"
    rc=$?
    set -e
    echo "control: the debug build (dynamic Swift runtime) exits $rc: $(head -n 1 "$work/control.err")"
    [ "$rc" -eq 127 ] || { echo "test-portable: the control did not fail as expected: is the toolchain hidden?" >&2; exit 1; }
fi

printf '\n==> ivpack --version\n'
run "$ivp" --version

printf '\n==> startup time of ivpack --version (50 runs)\n'
start=$(date +%s%N)
for _ in $(seq 1 50); do run "$ivp" --version >/dev/null; done
end=$(date +%s%N)
echo "mean $(( (end - start) / 50 / 1000 )) µs per run"

printf '\n==> a release: keys init-dev, build, sign twice, check, verify, inspect\n'
rel="$work/pulmoscan"
cp -R "$repo/Examples/pulmoscan" "$rel"
find "$rel" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +
(
    cd "$rel"
    export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    export GIT_AUTHOR_DATE="2026-11-20T08:00:00+08:00" GIT_COMMITTER_DATE="2026-11-20T08:00:00+08:00"
    git init -q -b main . && git config user.name Portable && git config user.email portable@example.com
    git add -A && git commit -q -m release && git tag -a V2.3.1.1024 -m V2.3.1.1024
)
pki="$work/pki"
bundle="$work/pulmoscan-V2.3.1.1024.ivp"
run "$ivp" keys init-dev "$pki" | tail -n 1
(cd "$rel" && run "$ivp" build --spec ivpack.yaml --output "$bundle" | tail -n 1)
for role in release-manager quality; do
    run "$ivp" sign "$bundle" --role "$role" --key "$pki/signers/$role.key" --cert "$pki/signers/$role.pem" \
        --chain "$pki/intermediate-ca.pem" | tail -n 1
done
run "$ivp" check "$bundle" --policy nmpa --trust "$pki/trust-policy.yaml" | tail -n 1
run "$ivp" verify "$bundle" --trust "$pki/trust-policy.yaml" | tail -n 3
run "$ivp" inspect "$bundle" >"$work/inspect.txt"
head -n 3 "$work/inspect.txt"

printf '\n==> man -l usr/share/man/man1/ivpack.1.gz\n'
man1="$root/usr/share/man/man1"
run env MANPAGER=cat MANWIDTH=100 man --warnings -l "$man1/ivpack.1.gz" >"$work/man.txt" 2>"$work/man.err"
head -n 12 "$work/man.txt"
[ ! -s "$work/man.err" ] || { echo "man reported:"; cat "$work/man.err"; exit 1; }
pages=("$man1"/*)
echo "(... ${#pages[@]} pages: ${pages[*]##*/})"

printf '\n==> bash completion: ivpack verify BUNDLE --trust pk<TAB>\n'
mkdir -p "$work/complete/pki" && touch "$work/complete/pki-policy.yaml" "$work/complete/pkg.txt"
run bash -c '
    cd "$1" && source "$2"
    COMP_WORDS=(ivpack verify x.ivp --trust pk); COMP_CWORD=4; COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
    _ivpack ivpack pk --trust; printf "  %s\n" "${COMPREPLY[@]}"
    COMP_WORDS=(ivpack inspect pk); COMP_CWORD=2; COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
    echo "ivpack inspect pk<TAB>:"; _ivpack ivpack pk inspect; printf "  %s\n" "${COMPREPLY[@]}"
' _ "$work/complete" "$root/usr/share/bash-completion/completions/ivpack"
INSIDE

debug_bin="$repo/.build/debug/ivpack"
[ -x "$debug_bin" ] || debug_bin=""
step "In a mount namespace with the toolchain hidden (unshare --mount)"
unshare --mount --propagation private bash "$work/inside.sh" "$root" "$work" "$repo" "$toolchain" "$debug_bin"
step "Sizes"
unstripped="${RELEASE_SCRATCH:-.build-release}/release/ivpack"
[ -f "$unstripped" ] && echo "static, unstripped: $(stat -c %s "$unstripped") bytes ($unstripped)"
echo "static, stripped:   $(stat -c %s "$ivp") bytes (installed /usr/bin/ivpack)"
echo "package:            $(stat -c %s "$deb") bytes ($(basename "$deb"))"
echo "test-portable: passed"
