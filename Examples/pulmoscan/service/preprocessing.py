"""DICOM series loading and normalisation for the nodule detector.

Reads one axial chest CT series, sorts the slices along the patient axis, converts stored
values to Hounsfield units and resamples to the spacing the model was trained on.
pydicom and numpy are imported when a series is processed, so that the service can report
its version and health without them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import __version__

MODEL_CONFIG = Path(__file__).resolve().parent.parent / "models" / "config.json"


class SeriesRejected(ValueError):
    """The series cannot be analysed; the message says why, for the worklist and the audit log."""


@dataclass(frozen=True)
class Volume:
    """A CT volume in Hounsfield units, z-y-x order, with its voxel spacing in millimetres."""

    voxels: "object"  # numpy.ndarray, float32
    spacing_mm: tuple[float, float, float]
    series_uid: str
    software_version: str = __version__


def load_config(path: Path = MODEL_CONFIG) -> dict:
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if config.get("version") != __version__:
        raise RuntimeError(f"model config {path} is for {config.get('version')}, service is {__version__}")
    return config


def slice_spacing(positions: list[float], thickness: float | None) -> float:
    """Spacing between slices from ImagePositionPatient; SliceThickness only as a fallback.

    V2.3.1 (CR-815): series without SliceThickness are no longer rejected when the positions
    give a consistent spacing.
    """
    if len(positions) >= 2:
        steps = sorted(round(b - a, 3) for a, b in zip(positions, positions[1:]))
        median = steps[len(steps) // 2]
        if median > 0 and all(abs(s - median) <= 0.01 * median + 1e-3 for s in steps):
            return float(median)
        raise SeriesRejected("slice positions are not evenly spaced (missing or duplicate slices)")
    if thickness:
        return float(thickness)
    raise SeriesRejected("cannot determine the slice spacing")


def load_series(folder: Path, config: dict | None = None) -> Volume:
    import numpy as np
    import pydicom

    config = config or load_config()
    datasets = [pydicom.dcmread(p) for p in sorted(folder.iterdir()) if p.is_file()]
    if not datasets:
        raise SeriesRejected(f"{folder} holds no DICOM files")
    if any(ds.Modality != "CT" for ds in datasets):
        raise SeriesRejected("not a CT series")
    if len(datasets) < config["input"]["min_slices"]:
        raise SeriesRejected(f"{len(datasets)} slices; at least {config['input']['min_slices']} are needed")
    datasets.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    positions = [float(ds.ImagePositionPatient[2]) for ds in datasets]
    dz = slice_spacing(positions, getattr(datasets[0], "SliceThickness", None))
    if dz > config["input"]["max_slice_thickness_mm"]:
        raise SeriesRejected(f"slice spacing {dz:.2f} mm exceeds {config['input']['max_slice_thickness_mm']} mm")
    # V2.3.1 (CR-812): row and column spacing are kept apart; non-square pixels were averaged before.
    dy, dx = (float(v) for v in datasets[0].PixelSpacing)
    hu = np.stack([ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets])
    return Volume(voxels=hu, spacing_mm=(dz, dy, dx), series_uid=str(datasets[0].SeriesInstanceUID))


def normalise(volume: Volume, config: dict) -> "object":
    """Clips to the HU window and scales to [0, 1], as in training."""
    import numpy as np

    low, high = config["input"]["hu_window"]
    return (np.clip(volume.voxels, low, high) - low) / float(high - low)
