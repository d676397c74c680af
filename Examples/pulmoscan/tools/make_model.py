#!/usr/bin/env python3
"""Writes models/nodule-detector.safetensors: a tiny, valid safetensors file for the example.

The detector's weights are not a trained model: they are deterministic numbers that give the
file a realistic shape (a 3x3 convolution stem and a one-class detection head). What matters
for the example is the header, whose __metadata__ carries the release version that `ivpack
build` checks against the spec (clause 5.5.1 b: models tagged with the one version).

The file also holds the 2-D screening head that service/screening.py runs (pure Python) for the
on-site qualification, `ivpack qualify`, on the reference cases of qualification/ (written by
tools/make_cases.py): a 7x7 difference-of-Gaussians kernel (sigma 1.5 px minus sigma 3 px, each
normalised to sum 1, so the kernel sums to 0 and ignores a flat or sloping background) and a
linear unit on the peak response. On the reference cases the peaks are 0.006 to 0.023 (clear)
and 0.050 to 0.071 (nodule); the unit puts the decision (score 0.5) at a peak of 0.036. Its
tensors sort after the detector's, so the detector's tensor data, and its SHA-256 quoted in the
release notes, are unchanged.

safetensors layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON (padded with
spaces to a multiple of 8), then the raw little-endian tensor data. Every __metadata__ value is
a string. Standard library only; the output is byte-for-byte reproducible.

Usage: python3 tools/make_model.py [--version V2.3.1.1024] [--output models/nodule-detector.safetensors]
"""
import argparse
import json
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)


def read_release_version():
    """The release version, from the service's VERSION file (the one place it is written)."""
    with open(os.path.join(EXAMPLE, "service", "VERSION"), encoding="ascii") as f:
        return f.read().strip()


def values(count, seed, scale):
    """Deterministic pseudo-weights in [-scale, scale]."""
    return [scale * math.sin(seed * 12.9898 + i * 78.233) for i in range(count)]


def difference_of_gaussians(half=3, centre=1.5, surround=3.0):
    """A (2*half+1)^2 centre-surround kernel, row-major: two normalised Gaussians subtracted."""
    def gaussian(sigma):
        span = range(-half, half + 1)
        g = [math.exp(-(x * x + y * y) / (2 * sigma * sigma)) for y in span for x in span]
        total = sum(g)
        return [v / total for v in g]

    return [a - b for a, b in zip(gaussian(centre), gaussian(surround))]


def tensors():
    """name -> (shape, float values), small enough for the whole file to stay under 64 KiB."""
    specs = {
        # 3x3x3 convolution stem: 16 output channels, 1 input channel (HU-normalised CT).
        "backbone.stem.conv.weight": ([16, 1, 3, 3, 3], values(16 * 27, 1, 0.19)),
        "backbone.stem.conv.bias": ([16], values(16, 2, 0.01)),
        # Detection head: objectness logit from the 16 stem channels (anchor-free, one class).
        "head.objectness.weight": ([1, 16], values(16, 3, 0.25)),
        "head.objectness.bias": ([1], [-2.197]),  # prior probability ~0.1
        # Size regression: nodule diameter (mm) from the same features.
        "head.diameter.weight": ([1, 16], values(16, 4, 0.5)),
        "head.diameter.bias": ([1], [6.0]),
        # Screening head (2-D, qualification): blob kernel, then score = sigmoid(250 * peak - 9).
        "screening.blob.weight": ([1, 1, 7, 7], difference_of_gaussians()),
        "screening.blob.bias": ([1], [0.0]),
        "screening.head.weight": ([1, 1], [250.0]),
        "screening.head.bias": ([1], [-9.0]),
    }
    for name, (shape, data) in specs.items():
        assert math.prod(shape) == len(data), name
    return specs


def build(version):
    specs = tensors()
    header = {}
    blobs = []
    offset = 0
    for name in sorted(specs):
        shape, data = specs[name]
        blob = struct.pack("<%df" % len(data), *data)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = {
        "format": "pt",
        "version": version,
        "model_id": "ps-ai-nodule-detector",
        "architecture": "3D anchor-free single-stage detector (CenterNet-style), 3x3x3 conv stem, objectness + diameter heads",
        "input": "chest CT volume resampled to 1.0 mm isotropic, HU clipped to [-1200, 600] and scaled to [0, 1], 96x96x96 patches",
        "output": "per-voxel nodule objectness (sigmoid) and diameter in mm",
        "screening_head": "screening.*: 2-D qualification head; 8-bit grayscale image scaled to [0, 1], "
        "7x7 DoG peak, sigmoid(w * peak + b); nodule when >= config screening.threshold",
        "training_data": "PS-CT-TRAIN-2025-03: 4,812 chest CT series from 6 sites (2016-2024), 9,907 nodules >= 4 mm, consensus of 3 radiologists",
        "test_set": "PS-CT-TEST-SEQ-02 (sequestered, 1,020 series); unchanged since V2.3.0.1013",
        "framework": "pytorch 2.3.1 (training); numpy 1.26.4 (inference)",
        "update_driver": "none since V2.3.0.1013 (weights unchanged; version metadata re-stamped)",
        "license": "Proprietary, Example Medical AI Co. (fictitious example)",
    }
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False, sort_keys=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=None, help="release version (default: service/VERSION)")
    parser.add_argument("--output", default=os.path.join(EXAMPLE, "models", "nodule-detector.safetensors"))
    args = parser.parse_args()
    data = build(args.version or read_release_version())
    if len(data) >= 64 * 1024:
        sys.exit("error: the model came out at %d bytes; it must stay under 64 KiB" % len(data))
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.output)
    print("wrote %s (%d bytes)" % (args.output, len(data)))


if __name__ == "__main__":
    main()
