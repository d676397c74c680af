#!/usr/bin/env python3
"""Writes the reference dataset of the on-site qualification: qualification/cases/*.pgm and labels.json.

Twenty synthetic 32x32 8-bit grayscale images (binary PGM, P5), in the spirit of an axial CT
patch: a background level with a gentle slope and noise; "nodule" cases carry one bright round
blob (Gaussian, sigma 1.6 to 2.4 px, 90 to 130 grey levels above the background), "clear"
cases none; some of either carry a thin bright line (a vessel), the usual false-positive bait.
Ten of each, in an order drawn from the same seed.

`ivpack qualify` sends each case to the release's qualification service and compares the label
it returns with labels.json ("ivpack-qualification-labels/1": id, input relative to the spec
folder, expected label). Standard library only; a fixed seed and random() alone (whose
sequence Python keeps stable across versions), so the files are byte-for-byte reproducible.

Usage: python3 tools/make_cases.py [--output qualification]
"""
import argparse
import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
SEED = 20261124
SIDE = 32
COUNT = 20


def noise(rng, sd):
    """Approximately normal noise: the sum of four uniforms, scaled to standard deviation sd."""
    return (sum(rng.random() for _ in range(4)) - 2.0) * sd * math.sqrt(3.0)


def case(rng, nodule):
    """The 8-bit pixel values of one case, row-major."""
    base = 45 + 25 * rng.random()
    gx, gy = rng.uniform(-0.8, 0.8), rng.uniform(-0.8, 0.8)
    vessel = None
    if rng.random() < (0.4 if nodule else 0.6):
        angle = rng.uniform(0, math.pi)
        # A line through (px, py) with direction (cos, sin); amplitude and half-width in pixels.
        vessel = (rng.uniform(6, 26), rng.uniform(6, 26), math.cos(angle), math.sin(angle),
                  rng.uniform(25, 45), rng.uniform(0.6, 0.9))
    blob = None
    if nodule:
        blob = (rng.uniform(9, 22), rng.uniform(9, 22), rng.uniform(1.6, 2.4), rng.uniform(90, 130))
    values = []
    for y in range(SIDE):
        for x in range(SIDE):
            v = base + gx * (x - SIDE / 2) + gy * (y - SIDE / 2) + noise(rng, 6.0)
            if vessel:
                px, py, c, s, amplitude, width = vessel
                d = (x - px) * s - (y - py) * c
                v += amplitude * math.exp(-d * d / (2 * width * width))
            if blob:
                bx, by, sigma, amplitude = blob
                v += amplitude * math.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * sigma * sigma))
            values.append(max(0, min(255, int(round(v)))))
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(EXAMPLE, "qualification"))
    args = parser.parse_args()
    rng = random.Random(SEED)
    labels = ["nodule"] * (COUNT // 2) + ["clear"] * (COUNT - COUNT // 2)
    rng.shuffle(labels)
    os.makedirs(os.path.join(args.output, "cases"), exist_ok=True)
    cases = []
    for number, label in enumerate(labels, 1):
        name = "case-%02d" % number
        data = b"P5\n%d %d\n255\n" % (SIDE, SIDE) + bytes(case(rng, label == "nodule"))
        with open(os.path.join(args.output, "cases", name + ".pgm"), "wb") as f:
            f.write(data)
        cases.append({"id": name, "input": "qualification/cases/%s.pgm" % name, "expected": label})
    document = {"format": "ivpack-qualification-labels/1", "cases": cases}
    with open(os.path.join(args.output, "labels.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(document, indent=2) + "\n")
    print("wrote %d cases (%d nodule, %d clear) to %s" % (
        len(cases), labels.count("nodule"), labels.count("clear"), args.output))


if __name__ == "__main__":
    main()
