"""The 2-D screening head: classifies one small grayscale image as "nodule" or "clear".

Pure Python (no numpy), so that the on-site qualification (`ivpack qualify`, through
service/bin/qualify-server) runs on a server where no third-party package is installed yet.
Its parameters are tensors of the release's model file, models/nodule-detector.safetensors,
read with struct; its settings are the "screening" section of models/config.json.

The head: the image scaled to [0, 1], correlated with a 7x7 centre-surround (difference of
Gaussians) kernel, which answers a bright round blob far more than a flat or sloping
background or a thin line (a vessel); the highest response (the peak) goes through a linear
unit and a sigmoid to a score; score >= threshold is "nodule". About 5 ms per 32x32 image in
CPython 3.11.

Input: binary PGM (P5), 8-bit (maxval 1..255), sides MIN_SIDE..MAX_SIDE pixels.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from . import __version__

RELEASE = Path(__file__).resolve().parent.parent
WEIGHTS = RELEASE / "models" / "nodule-detector.safetensors"
CONFIG = RELEASE / "models" / "config.json"

#: Limits on an image: its sides in pixels, and the header's length in bytes.
MIN_SIDE = 8
MAX_SIDE = 128
MAX_PGM_HEADER = 256
#: Limits on the model file: whole file and its JSON header, in bytes.
MAX_MODEL_FILE = 1 << 20
MAX_MODEL_HEADER = 1 << 16

KERNEL = "screening.blob.weight"
KERNEL_BIAS = "screening.blob.bias"
HEAD = "screening.head.weight"
HEAD_BIAS = "screening.head.bias"

LABELS = ("clear", "nodule")


class ImageRejected(ValueError):
    """The input is not an image the head takes; the message says why (returned as HTTP 400)."""


class ModelError(RuntimeError):
    """The model file or its configuration cannot be used; the service must not start."""


@dataclass(frozen=True)
class Image:
    """A grayscale image, row-major, pixel values scaled to [0, 1]."""

    width: int
    height: int
    pixels: tuple[float, ...]


@dataclass(frozen=True)
class Result:
    label: str
    score: float
    peak: float


def read_pgm(data: bytes) -> Image:
    """Parses a binary PGM (P5, 8-bit): magic, width, height, maxval, one whitespace, raster.

    Comments (# to end of line) are allowed in the header. The raster must be exactly
    width x height bytes, and no pixel may exceed maxval.
    """
    if data[:2] != b"P5":
        raise ImageRejected("not a binary PGM image (magic P5 expected)")
    fields: list[int] = []
    i = 2
    while len(fields) < 3:
        if i >= min(len(data), MAX_PGM_HEADER):
            raise ImageRejected("PGM header incomplete or longer than %d bytes" % MAX_PGM_HEADER)
        c = data[i : i + 1]
        if c in b" \t\r\n\v\f":
            i += 1
        elif c == b"#":
            end = data.find(b"\n", i)
            if end < 0:
                raise ImageRejected("PGM header comment not terminated")
            i = end + 1
        elif c.isdigit():
            start = i
            while i < len(data) and data[i : i + 1].isdigit() and i - start < 6:
                i += 1
            if i < len(data) and data[i : i + 1].isdigit():
                raise ImageRejected("PGM header number too long")
            fields.append(int(data[start:i]))
        else:
            raise ImageRejected("unexpected byte %r in the PGM header" % c)
    if i >= len(data) or data[i : i + 1] not in b" \t\r\n\v\f":
        raise ImageRejected("PGM header must end with one whitespace byte before the raster")
    i += 1
    width, height, maxval = fields
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ImageRejected(f"image is {width}x{height}; sides must be {MIN_SIDE} to {MAX_SIDE} pixels")
    if not 1 <= maxval <= 255:
        raise ImageRejected(f"maxval {maxval}: only 8-bit images (maxval 1 to 255) are taken")
    raster = data[i:]
    if len(raster) != width * height:
        raise ImageRejected(f"raster holds {len(raster)} bytes; {width}x{height} needs {width * height}")
    if max(raster) > maxval:
        raise ImageRejected(f"a pixel exceeds maxval {maxval}")
    scale = 1.0 / maxval
    return Image(width, height, tuple(v * scale for v in raster))


def write_pgm(width: int, height: int, values: list[int]) -> bytes:
    """A binary PGM (P5, maxval 255) of 8-bit values, row-major."""
    return b"P5\n%d %d\n255\n" % (width, height) + bytes(values)


def read_f32_tensors(path: Path, names: tuple[str, ...]) -> dict[str, tuple[list[int], list[float]]]:
    """Reads the named F32 tensors of a safetensors file: name -> (shape, values)."""
    data = path.read_bytes()
    if len(data) > MAX_MODEL_FILE:
        raise ModelError(f"{path}: {len(data)} bytes; at most {MAX_MODEL_FILE} expected")
    if len(data) < 8:
        raise ModelError(f"{path}: too short for a safetensors file")
    (length,) = struct.unpack("<Q", data[:8])
    if length > min(MAX_MODEL_HEADER, len(data) - 8):
        raise ModelError(f"{path}: header of {length} bytes is implausible")
    try:
        header = json.loads(data[8 : 8 + length])
    except ValueError as e:
        raise ModelError(f"{path}: header is not JSON: {e}") from e
    found = header.get("__metadata__", {}).get("version", "")
    if found != __version__:
        raise ModelError(f"{path} is model version {found or 'unknown'}, the service is {__version__}")
    body = data[8 + length :]
    tensors = {}
    for name in names:
        entry = header.get(name)
        if not isinstance(entry, dict):
            raise ModelError(f"{path}: tensor {name} is missing")
        shape, (begin, end) = entry.get("shape"), entry.get("data_offsets", (0, -1))
        count = math.prod(shape) if isinstance(shape, list) else -1
        if entry.get("dtype") != "F32" or count < 1 or not 0 <= begin <= end <= len(body) or end - begin != 4 * count:
            raise ModelError(f"{path}: tensor {name} is not a well-formed F32 tensor")
        tensors[name] = (shape, list(struct.unpack("<%df" % count, body[begin:end])))
    return tensors


class Screener:
    """The loaded screening head. Create once per process; `classify` is thread-safe."""

    def __init__(self, weights: Path = WEIGHTS, config: Path = CONFIG):
        try:
            settings = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"{config}: {e}") from e
        if settings.get("version") != __version__:
            raise ModelError(f"model config {config} is for {settings.get('version')}, the service is {__version__}")
        try:
            self.threshold = float(settings["screening"]["threshold"])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{config}: screening.threshold missing or not a number") from e
        try:
            t = read_f32_tensors(weights, (KERNEL, KERNEL_BIAS, HEAD, HEAD_BIAS))
        except OSError as e:
            raise ModelError(f"{weights}: {e}") from e
        shape, kernel = t[KERNEL]
        if len(shape) != 4 or shape[:2] != [1, 1] or shape[2] != shape[3] or shape[2] % 2 == 0:
            raise ModelError(f"{weights}: {KERNEL} has shape {shape}; [1, 1, k, k] with k odd expected")
        if t[HEAD][0] != [1, 1] or len(t[KERNEL_BIAS][1]) != 1 or len(t[HEAD_BIAS][1]) != 1:
            raise ModelError(f"{weights}: the screening head's tensors have unexpected shapes")
        self.size = shape[2]
        self.kernel = [kernel[r * self.size : (r + 1) * self.size] for r in range(self.size)]
        self.kernel_bias = t[KERNEL_BIAS][1][0]
        self.weight = t[HEAD][1][0]
        self.bias = t[HEAD_BIAS][1][0]

    def peak(self, image: Image) -> float:
        """The highest kernel response over every position where the kernel fits in the image."""
        k, w, px = self.size, image.width, image.pixels
        rows = [px[y * w : (y + 1) * w] for y in range(image.height)]
        best = -math.inf
        for y in range(image.height - k + 1):
            window = rows[y : y + k]
            for x in range(w - k + 1):
                total = 0.0
                for krow, row in zip(self.kernel, window):
                    total += sum(a * b for a, b in zip(krow, row[x : x + k]))
                if total > best:
                    best = total
        return best + self.kernel_bias

    def classify(self, image: Image) -> Result:
        peak = self.peak(image)
        logit = self.weight * peak + self.bias
        score = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))
        return Result(LABELS[score >= self.threshold], round(score, 6), round(peak, 6))


def reference_image(blob: bool, side: int = 32) -> bytes:
    """A built-in test image for the self-check: a flat background, with or without one blob."""
    values = []
    for y in range(side):
        for x in range(side):
            d2 = (x - side / 2) ** 2 + (y - side / 2) ** 2
            values.append(int(round(50 + (120 * math.exp(-d2 / 8.0) if blob else 0))))
    return write_pgm(side, side, values)
