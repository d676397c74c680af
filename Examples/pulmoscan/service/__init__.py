"""PulmoScan AI inference service: lung-nodule detection on chest CT (example payload).

The release version is written in exactly one place, the VERSION file next to this module,
which the release pipeline stamps at build time; every other module imports it from here
(REGULATORY.md VER-014: the version is sourced from the build, never hard-coded).
"""
from pathlib import Path

#: Full version (完整版本), V<X>.<Y>.<Z>.<B>, as stamped by the release pipeline into VERSION.
__version__ = Path(__file__).with_name("VERSION").read_text(encoding="ascii").strip()

#: Release version (发布版本): "V" + the first numeric field of the full version, e.g. "V2".
RELEASE_VERSION = __version__.split(".", 1)[0]

PRODUCT_NAME = "PulmoScan AI"
MODEL_SPEC = "PS-AI"
MANUFACTURER = "Example Medical AI Co."

__all__ = ["__version__", "RELEASE_VERSION", "PRODUCT_NAME", "MODEL_SPEC", "MANUFACTURER"]
