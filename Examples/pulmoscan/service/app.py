"""HTTP front end of the PulmoScan AI inference service.

  python3 -m service.app --version     prints the release and full version (no dependencies)
  python3 -m service.app --self-check  checks the installed release, prints JSON (no dependencies)
  python3 -m service.app --port 8443   serves the API with uvicorn

Endpoints: GET /healthz, GET /version, POST /v1/series (a folder of DICOM files on the shared
spool, named by path) -> nodule findings. The About screen of the viewer shows what /version
returns: 发布版本 (release version), 完整版本 (full version) and the UDI.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import MANUFACTURER, MODEL_SPEC, PRODUCT_NAME, RELEASE_VERSION, __version__

UDI_DI = "09520000000011"  # GS1 example prefix 952: not a real device identifier


def version_info() -> dict:
    return {
        "product": PRODUCT_NAME,
        "model": MODEL_SPEC,
        "manufacturer": MANUFACTURER,
        "release_version": RELEASE_VERSION,
        "full_version": __version__,
        "udi": f"(01){UDI_DI}(8012){__version__}",
    }


def create_app():
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel

    from . import inference, preprocessing

    config = preprocessing.load_config()
    detector = inference.Detector()
    app = FastAPI(title=PRODUCT_NAME, version=__version__)

    class SeriesRequest(BaseModel):
        spool_path: str

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "full_version": __version__}

    @app.get("/version")
    def version() -> dict:
        return version_info()

    @app.post("/v1/series")
    def analyse(request: SeriesRequest) -> dict:
        folder = Path(request.spool_path)
        try:
            volume = preprocessing.load_series(folder, config)
        except preprocessing.SeriesRejected as e:
            raise HTTPException(status_code=422, detail=str(e)) from e
        findings = detector.detect(preprocessing.normalise(volume, config), volume.spacing_mm, config)
        return inference.report(volume.series_uid, findings)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pulmoscan", description=f"{PRODUCT_NAME} inference service")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--self-check", action="store_true", help="check the installed release, print JSON, exit")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    args = parser.parse_args(argv)
    if args.version:
        info = version_info()
        print(f"{info['product']} ({info['model']}) {info['release_version']} / {info['full_version']}")
        return 0
    if args.self_check:
        import json

        from . import selfcheck

        result = selfcheck.run()
        print(json.dumps(result, sort_keys=True))
        return 0 if result["status"] == "ok" else 1
    import uvicorn

    uvicorn.run(create_app(), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
