#!/usr/bin/env python3
"""Independent reference of ivpack's content-defined chunking (FastCDC, normalised level 2),
written from the description in Sources/IVPack/Delta/ContentDefinedChunker.swift and the FastCDC
paper, not from the Swift code: a test compares the two on the same files.

    python3 scripts/cdc_reference.py FILE [MIN AVG MAX]

prints one line per chunk: offset, length, SHA-256 (hex). Sizes default to 16/64/256 KiB.
"""
import hashlib
import sys

MASK64 = (1 << 64) - 1


def gear_table():
    return [int.from_bytes(hashlib.sha256(b"ivpack-cdc-gear-v1" + bytes([i])).digest()[:8], "big")
            for i in range(256)]


def top_bits(n):
    return 0 if n <= 0 else (MASK64 << (64 - n)) & MASK64


def chunk_lengths(data, minimum, average, maximum):
    gear = gear_table()
    bits = average.bit_length() - 1
    small, large = top_bits(bits + 2), top_bits(bits - 2)
    out, start = [], 0
    while start < len(data):
        n = len(data) - start
        if n <= minimum:
            out.append(n)
            break
        limit = min(n, maximum)
        normal = min(limit, average)
        fp, i, cut = 0, minimum, None
        while i < limit:
            fp = ((fp << 1) + gear[data[start + i]]) & MASK64
            if fp & (small if i < normal else large) == 0:
                cut = i + 1
                break
            i += 1
        length = cut if cut is not None else limit
        out.append(length)
        start += length
    return out


def main():
    path = sys.argv[1]
    sizes = [int(x) for x in sys.argv[2:5]] or [16 << 10, 64 << 10, 256 << 10]
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    for length in chunk_lengths(data, *sizes):
        print(offset, length, hashlib.sha256(data[offset:offset + length]).hexdigest())
        offset += length


if __name__ == "__main__":
    main()
