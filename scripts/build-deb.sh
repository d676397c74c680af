#!/usr/bin/env bash
# `make deb`: dist/ivpack_VERSION_ARCH.deb from what `make release`, `make man` and
# `make completions` made, with dpkg-deb (no debhelper: one binary package, nothing to compile).
#
# Contents: /usr/bin/ivpack, the man pages (gzip -9n), bash/zsh/fish completions,
# /usr/share/ivpack/schemas, the licence server's unit /lib/systemd/system/ivpack-license.service,
# an example /usr/share/doc/ivpack/examples/license-server.yaml, and the empty configuration
# folders /etc/ivpack and /etc/ivpack/license-server (mode 0700). Depends comes from
# dpkg-shlibdeps (the Debian packages of the shared libraries the binary loads, at the versions
# whose symbols it uses); the script also prints the ldd + dpkg -S view of the same libraries.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
dist="${DIST:-dist}"
bin="$dist/bin/ivpack"
[ -x "$bin" ] || { echo "build-deb: $bin is missing: run make release" >&2; exit 3; }
[ -f "$dist/man/ivpack.1" ] || { echo "build-deb: $dist/man is missing: run make man" >&2; exit 3; }

version="$("$bin" --version | head -n 1)"
arch="$(dpkg --print-architecture)"
revision="${DEB_REVISION:-1}"
stage="$(mktemp -d "${TMPDIR:-/tmp}/ivpack-deb.XXXXXX")"
trap 'rm -rf -- "$stage"' EXIT
root="$stage/root"

make --no-print-directory install DESTDIR="$root" PREFIX=/usr >/dev/null
gzip -9n "$root"/usr/share/man/man1/*.1
install -D -m 0644 packaging/systemd/ivpack-license.service "$root/lib/systemd/system/ivpack-license.service"
install -D -m 0644 packaging/etc/license-server.yaml "$root/usr/share/doc/ivpack/examples/license-server.yaml"
install -m 0644 docs/packaging.md "$root/usr/share/doc/ivpack/packaging.md"
cat >"$root/usr/share/doc/ivpack/copyright" <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ivpack
Comment: ivpack's source does not declare a licence yet (no LICENSE file); until it does, this
 package is for the vendor's internal use. The Swift runtime, Foundation and Dispatch are linked
 in statically: Apache-2.0 with Runtime Library Exception (https://swift.org/LICENSE.txt).
COPYRIGHT
install -d -m 0755 "$root/etc/ivpack"
install -d -m 0700 "$root/etc/ivpack/license-server"

# Depends: what dpkg-shlibdeps derives from the binary (it needs a debian/control to read).
mkdir -p "$stage/debian"
printf 'Source: ivpack\n\nPackage: ivpack\nArchitecture: any\n' >"$stage/debian/control"
depends="$(cd "$stage" && dpkg-shlibdeps -O -e"root/usr/bin/ivpack" | sed -n 's/^shlibs:Depends=//p')"
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps gave no Depends" >&2; exit 3; }
rm -rf "$stage/debian"
echo "build-deb: the libraries the binary names (readelf -d NEEDED), where ldd finds them, their packages:" >&2
readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r name; do
    lib="$(ldd "$bin" | awk -v n="$name" '$1 == n { print $3 } $1 ~ ("/" n "$") { print $1 }' | head -n 1)"
    pkg="$(dpkg -S "$lib" 2>/dev/null | head -n 1 | cut -d: -f1 || true)"
    [ -n "$pkg" ] || pkg="$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -n 1 | cut -d: -f1 || true)"
    printf '  %-24s %-44s %s\n' "$name" "${lib:-not found}" "${pkg:-?}" >&2
done

mkdir -p "$root/DEBIAN"
installed_size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat >"$root/DEBIAN/control" <<CONTROL
Package: ivpack
Version: ${version}-${revision}
Architecture: ${arch}
Maintainer: ivpack maintainers <ivpack@localhost>
Installed-Size: ${installed_size}
Depends: ${depends}
Recommends: git, tar
Suggests: libengine-pkcs11-openssl, softhsm2
Section: admin
Priority: optional
Homepage: file:///usr/share/doc/ivpack/packaging.md
Description: trustworthy installation bundles for AI medical-device software
 ivpack builds, signs, gates, verifies and installs the installation bundles of AI
 medical-device software (service code, model weights, manuals, dependency manifests) as
 one reproducible, signed bundle, and writes the installation qualification report.
 It includes the vendor's licence server (ivpack-license.service, not enabled by default).
CONTROL
cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
POSTINST
cat >"$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl stop ivpack-license.service >/dev/null 2>&1 || true
fi
exit 0
PRERM
cat >"$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
POSTRM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
    >"$root/DEBIAN/md5sums"

deb="$dist/ivpack_${version}-${revision}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "build-deb: $deb ($(stat -c %s "$deb") bytes); Depends: $depends" >&2
echo "$deb"
