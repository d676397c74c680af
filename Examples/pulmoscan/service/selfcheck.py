"""Self-check of an installed PulmoScan AI release, without third-party packages.

  python3 -m service.app --self-check     prints one JSON object; exit 0 when every check passed

Checks that the service code, the model weights and the model configuration all carry the one
release version, that the screening head loads from them and classifies its two built-in
images (one blob, one flat; about 20 ms), and that the site configuration (written by the postInstall hook into the
install root's state folder, $IVPACK_STATE_DIR/etc/pulmoscan.conf) is present and complete.
ivpack's healthCheck hook (service/hooks/health-check) runs it after every install and rollback.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from . import __version__

RELEASE = Path(__file__).resolve().parent.parent
REQUIRED_SETTINGS = ("listen_port", "spool_dir", "results_dir", "pacs_ae_title")


def _model_version(path: Path) -> str | None:
    """The `version` of a safetensors file's __metadata__ (an 8-byte length, then a JSON header)."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > 100_000_000:
            raise ValueError(f"{path}: header length {length} is not plausible")
        header = json.loads(f.read(length))
    return header.get("__metadata__", {}).get("version")


def _site_settings(path: Path) -> dict[str, str]:
    settings = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}:{number}: expected KEY = VALUE")
        settings[key.strip()] = value.strip()
    return settings


def run() -> dict:
    checks = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "ok": ok, "detail": detail})

    try:
        found = _model_version(RELEASE / "models" / "nodule-detector.safetensors")
        check("model-weights", found == __version__, f"safetensors metadata version {found}")
    except (OSError, ValueError) as e:
        check("model-weights", False, str(e))
    try:
        found = json.loads((RELEASE / "models" / "config.json").read_text(encoding="utf-8")).get("version")
        check("model-config", found == __version__, f"config.json version {found}")
    except (OSError, ValueError) as e:
        check("model-config", False, str(e))
    try:
        from . import screening

        screener = screening.Screener()
        images = [screening.read_pgm(screening.reference_image(blob)) for blob in (True, False)]
        labels = [screener.classify(image).label for image in images]
        check("model-screening", labels == ["nodule", "clear"], f"built-in images classified {', '.join(labels)}")
    except (OSError, ValueError, RuntimeError) as e:
        check("model-screening", False, str(e))
    state = os.environ.get("IVPACK_STATE_DIR")
    if state:
        conf = Path(state) / "etc" / "pulmoscan.conf"
        try:
            settings = _site_settings(conf)
            missing = [k for k in REQUIRED_SETTINGS if not settings.get(k)]
            check("site-config", not missing, f"{conf}: " + (f"missing {', '.join(missing)}" if missing else "complete"))
        except (OSError, ValueError) as e:
            check("site-config", False, str(e))
    else:
        check("site-config", False, "IVPACK_STATE_DIR is not set (run by ivpack's healthCheck hook)")
    return {
        "status": "ok" if all(c["ok"] for c in checks) else "failed",
        "full_version": __version__,
        "checks": checks,
    }
