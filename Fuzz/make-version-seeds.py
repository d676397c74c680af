#!/usr/bin/env python3
"""Writes the seed corpora of the version-reader fuzz targets (FuzzPDFInfo, FuzzGGUF,
FuzzSafetensors, FuzzPipRequirements) into Fuzz/corpus/TARGET: the example release's real files,
small files of each format built the way Tests/IVPackTestSupport/ModelFixtures.swift builds them
(plus the shapes real tools write that the fixtures do not: compressed cross-reference and
object streams, incremental updates, hybrid files), and broken variants. Deterministic: run it
again and git shows no change. Needs only Python 3 (zlib, struct). docs/fuzzing.md."""
import os
import struct
import zlib

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)
EXAMPLE = os.path.join(ROOT, "Examples", "pulmoscan")


def write(target, name, data):
    folder = os.path.join(FUZZ, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def copy(target, name, source):
    with open(source, "rb") as f:
        write(target, name, f.read())


# ---------------------------------------------------------------- PDF

def pdf_string(text):
    if all(0x20 <= ord(c) < 0x7F for c in text):
        return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


def info_dict(info):
    return "<< " + " ".join("/%s %s" % (k, pdf_string(v)) for k, v in info.items()) + " >>"


class PDF:
    """A one-page PDF written object by object; the cross-reference section is added by a finish method."""

    def __init__(self, version="1.4"):
        self.out = bytearray(b"%PDF-" + version.encode() + b"\n%\xe2\xe3\xcf\xd3\n")
        self.offsets = {}
        self.object(1, "<< /Type /Catalog /Pages 2 0 R >>")
        self.object(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        self.object(3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R /Resources << >> >>")
        self.stream_object(4, "", b"0 0 m 100 100 l S")

    def object(self, number, body, generation=0):
        if isinstance(body, str):
            body = body.encode("latin-1")
        self.offsets[number] = (len(self.out), generation)
        self.out += b"%d %d obj\n" % (number, generation) + body + b"\nendobj\n"

    @staticmethod
    def stream(dictionary, data):
        return b"<< " + dictionary.encode() + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"

    def stream_object(self, number, dictionary, data):
        self.object(number, self.stream(dictionary, data))

    def classic(self, trailer, prev=None, numbers=None):
        numbers = sorted(numbers if numbers is not None else self.offsets)
        xref = len(self.out)
        size = max(self.offsets) + 1
        table = b"xref\n"
        if prev is None:
            table += b"0 %d\n0000000000 65535 f \n" % size
            for n in range(1, size):
                o = self.offsets.get(n)
                table += (b"%010d %05d n \n" % o) if o else b"0000000000 00000 f \n"
        else:
            for n in numbers:  # one subsection per object, as incremental updates write them
                table += b"%d 1\n%010d %05d n \n" % ((n,) + self.offsets[n])
        extra = "" if prev is None else " /Prev %d" % prev
        table += ("trailer\n<< /Size %d %s%s >>\nstartxref\n%d\n%%%%EOF\n" % (size, trailer, extra, xref)).encode()
        self.out += table
        return xref

    def xref_stream(self, trailer, compressed=None, flate=False, prev=None, index=None):
        """An xref stream (W [1 4 2]); `compressed` maps object numbers to (object stream, index)."""
        compressed = compressed or {}
        number = max(list(self.offsets) + list(compressed)) + 1
        size = number + 1
        xref = len(self.out)
        self.offsets[number] = (xref, 0)
        rows = b""
        numbers = range(size) if index is None else index
        for n in numbers:
            if n in compressed:
                rows += struct.pack(">BIH", 2, compressed[n][0], compressed[n][1])
            elif n in self.offsets:
                rows += struct.pack(">BIH", 1, self.offsets[n][0], self.offsets[n][1])
            else:
                rows += struct.pack(">BIH", 0, 0, 0xFFFF if n == 0 else 0)
        dictionary = "/Type /XRef /Size %d /W [1 4 2] %s" % (size, trailer)
        if index is not None:
            dictionary += " /Index [" + " ".join("%d 1" % n for n in index) + "]"
        if prev is not None:
            dictionary += " /Prev %d" % prev
        if flate:
            rows = zlib.compress(rows, 9)
            dictionary += " /Filter /FlateDecode"
        self.out += b"%d 0 obj\n" % number + self.stream(dictionary, rows) + b"\nendobj\n"
        self.out += b"startxref\n%d\n%%%%EOF\n" % xref
        return xref

    def object_stream(self, number, objects, flate=False):
        """Object `number` as an object stream holding `objects` ({number: body})."""
        header = b""
        body = b""
        for n, text in objects.items():
            header += b"%d %d " % (n, len(body))
            body += text.encode("latin-1") + b"\n"
        data = header + body
        dictionary = "/Type /ObjStm /N %d /First %d" % (len(objects), len(header))
        if flate:
            data = zlib.compress(data, 9)
            dictionary += " /Filter /FlateDecode"
        self.stream_object(number, dictionary, data)

    def bytes(self):
        return bytes(self.out)


def pdf_seeds():
    t = "FuzzPDFInfo"
    copy(t, "example-user-manual.pdf", os.path.join(EXAMPLE, "docs", "user-manual.pdf"))
    info = {"Title": "PulmoScan AI User Manual", "Producer": "ivpack seeds", "Version": "V2.3.1.1024"}

    p = PDF()
    p.object(5, info_dict(info))
    p.classic("/Root 1 0 R /Info 5 0 R")
    classic = p.bytes()
    write(t, "classic.pdf", classic)

    p = PDF()
    p.object(5, info_dict({"Title": "Manuel d'utilisation", "Version": "V2.3.1.1024 (版)"}))
    p.classic("/Root 1 0 R /Info 5 0 R")
    write(t, "utf16-version.pdf", p.bytes())

    p = PDF()
    p.object(5, "<< /Title (Escapes \\(nested (parens)\\) \\\\ \\n \\053 \\\n end) /Version <EFBBBF322E332E31> /Author (a#20b) >>")
    p.classic("/Root 1 0 R /Info 5 0 R")
    write(t, "escapes-utf8-bom.pdf", p.bytes())

    p = PDF()
    p.object(5, "<< /Version 6 0 R /Title (by reference) >>")
    p.object(6, "(2.3.1)")
    p.classic("/Root 1 0 R /Info 5 0 R")
    write(t, "version-by-reference.pdf", p.bytes())

    p = PDF()
    p.classic("/Root 1 0 R /Info << /Version (2.3.1) >>")
    write(t, "inline-info.pdf", p.bytes())

    p = PDF("1.5")
    p.object(5, info_dict(info))
    p.xref_stream("/Root 1 0 R /Info 5 0 R")
    write(t, "xref-stream.pdf", p.bytes())

    # An object stream, uncompressed, listed by an uncompressed xref stream: ivpack finds /Info is compressed.
    p = PDF("1.5")
    p.object_stream(6, {5: info_dict(info)})
    p.xref_stream("/Root 1 0 R /Info 5 0 R", compressed={5: (6, 0)})
    write(t, "object-stream.pdf", p.bytes())

    # What current tools write (qpdf --object-streams=generate, LibreOffice, pdfTeX 1.5): Flate everywhere.
    p = PDF("1.5")
    p.object_stream(6, {5: info_dict(info), 7: "<< /Type /Metadata >>"}, flate=True)
    p.xref_stream("/Root 1 0 R /Info 5 0 R", compressed={5: (6, 0), 7: (6, 1)}, flate=True)
    write(t, "object-stream-flate.pdf", p.bytes())

    # Flate xref stream but /Info a plain object: found by scanning.
    p = PDF("1.5")
    p.object(5, info_dict(info))
    p.xref_stream("/Root 1 0 R /Info 5 0 R", flate=True)
    write(t, "xref-stream-flate.pdf", p.bytes())

    # Incremental update: a new /Info, classic table with /Prev.
    p = PDF()
    p.object(5, info_dict({"Version": "2.3.0"}))
    first = p.classic("/Root 1 0 R /Info 5 0 R")
    p.object(5, info_dict({"Version": "2.3.1"}))
    p.classic("/Root 1 0 R /Info 5 0 R", prev=first, numbers=[5])
    write(t, "incremental-update.pdf", p.bytes())

    # Incremental update with an xref stream and /Index.
    p = PDF("1.5")
    p.object(5, info_dict({"Version": "2.3.0"}))
    first = p.xref_stream("/Root 1 0 R /Info 5 0 R")
    p.object(8, info_dict({"Version": "2.3.1"}))
    p.xref_stream("/Root 1 0 R /Info 8 0 R", prev=first, index=[8])
    write(t, "incremental-xref-stream.pdf", p.bytes())

    # Hybrid-reference file: classic table whose trailer has /XRefStm.
    p = PDF("1.5")
    p.object_stream(6, {7: "<< /Unused true >>"})
    p.object(5, info_dict(info))
    stm = len(p.out)
    rows = struct.pack(">BIH", 2, 6, 0)
    p.out += b"9 0 obj\n" + PDF.stream("/Type /XRef /Size 10 /W [1 4 2] /Index [7 1]", rows) + b"\nendobj\n"
    p.offsets[9] = (stm, 0)
    p.offsets.pop(7, None)
    p.classic("/Root 1 0 R /Info 5 0 R /XRefStm %d" % stm)
    write(t, "hybrid-xrefstm.pdf", p.bytes())

    # Generation number other than 0, free entry, comments.
    p = PDF()
    p.object(5, "% a comment\n<< /Version (2.3.1) % another\n>>", generation=2)
    p.classic("/Root 1 0 R /Info 5 2 R")
    write(t, "generation-2-comments.pdf", p.bytes())

    # Larger than the 64 KiB tail ivpack reads: /Info and the first cross-reference section far
    # from the end, reached through startxref and /Prev.
    p = PDF()
    p.object(5, info_dict({"Version": "2.3.0"}))
    p.stream_object(6, "", b"0 0 m 1 1 l S")
    first = p.classic("/Root 1 0 R /Info 5 0 R")
    p.object(7, info_dict({"Version": "2.3.1"}))
    p.stream_object(8, "", b"% padding\n" * 7000)
    p.classic("/Root 1 0 R /Info 7 0 R", prev=first, numbers=[7, 8])
    write(t, "large-incremental.pdf", p.bytes())

    # Broken variants.
    write(t, "no-info.pdf", classic.replace(b" /Info 5 0 R", b""))
    write(t, "no-header.pdf", classic[15:])
    write(t, "truncated.pdf", classic[: len(classic) * 2 // 3])
    write(t, "no-startxref.pdf", classic.replace(b"startxref", b"startxxxx"))
    wrong = bytearray(classic)
    at = wrong.rfind(b"startxref\n") + 10
    wrong[at:at + 3] = b"999"
    write(t, "wrong-startxref.pdf", bytes(wrong))
    write(t, "wrong-offsets.pdf", classic.replace(b" 00000 n \n", b" 00001 n \n"))
    write(t, "encrypted.pdf", classic.replace(b"/Info 5 0 R", b"/Info 5 0 R /Encrypt << /Filter /Standard >>"))
    p = PDF()
    p.object(5, "[ (2.3.1) ]")
    p.classic("/Root 1 0 R /Info 5 0 R")
    write(t, "info-not-dictionary.pdf", p.bytes())
    p = PDF()
    p.object(5, "<< /Version 2.31 >>")
    p.classic("/Root 1 0 R /Info 5 0 R")
    write(t, "version-number.pdf", p.bytes())
    p = PDF()
    p.object(5, "<< /Version (1) /Version (2) >>")
    p.classic("/Root 1 0 R /Info 5 0 R")
    write(t, "duplicate-key.pdf", p.bytes())
    p = PDF()
    p.object(5, "<< /Deep " + "[" * 40 + "]" * 40 + " /Version <FEFF0032002> /Odd <FEFF00> >>")
    p.classic("/Root 1 0 R /Info 5 0 R")
    write(t, "deep-odd-utf16.pdf", p.bytes())
    p = PDF()
    p.object(5, "<< /Version (unterminated ")
    p.classic("/Root 1 0 R /Info 5 0 R")
    write(t, "unterminated-string.pdf", p.bytes())
    at = classic.rfind(b" 00000 n \n")  # object 5's entry, the last of the table
    write(t, "free-info.pdf", classic[:at] + b" 00000 f \n" + classic[at + 10:])
    write(t, "prev-loop.pdf", classic.replace(b"/Info 5 0 R >>", b"/Info 5 0 R /Prev %d >>" % classic.rfind(b"xref\n0 ")))
    write(t, "header-only.pdf", b"%PDF-1.7\n%%EOF\n")


# ---------------------------------------------------------------- GGUF

def gguf_string(s, endian="<"):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(endian + "Q", len(b)) + b


def gguf_value(kind, value, endian="<"):
    fmt = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    if kind in fmt:
        return struct.pack(endian + fmt[kind], value)
    if kind == 8:
        return gguf_string(value, endian)
    if kind == 9:
        element, items = value
        out = struct.pack(endian + "IQ", element, len(items))
        for item in items:
            out += gguf_value(element, item, endian)
        return out
    raise ValueError(kind)


def gguf(metadata, version=3, endian="<", tensors=0, raw_count=None):
    out = b"GGUF" + struct.pack(endian + "IQQ", version, tensors, len(metadata) if raw_count is None else raw_count)
    for key, kind, value in metadata:
        out += gguf_string(key, endian) + struct.pack(endian + "I", kind)
        out += value if kind < 0 else gguf_value(kind, value, endian)
    out += b"\x00" * (-len(out) % 32)
    return out


def gguf_seeds():
    t = "FuzzGGUF"
    full = [
        ("general.architecture", 8, "llama"),
        ("general.name", 8, "PulmoScan report writer"),
        ("general.version", 8, "V2.3.1.1024"),
        ("general.file_type", 4, 15),
        ("general.quantization_version", 4, 2),
        ("llama.context_length", 4, 4096),
        ("llama.rope.freq_base", 6, 10000.0),
        ("llama.use_parallel_residual", 7, True),
        ("llama.tensor_data_layout", 10, 1 << 40),
        ("tokenizer.ggml.tokens", 9, (8, ["<s>", "</s>", "hello", "world"])),
        ("tokenizer.ggml.scores", 9, (6, [0.0, -1.5, -2.5, -3.0])),
        ("tokenizer.ggml.token_type", 9, (5, [3, 3, 1, 1])),
        ("nested", 9, (9, [(0, [1, 2]), (12, [1.0])])),
        ("signed", 11, -7),
        ("small", 3, -2),
        ("byte", 1, -1),
    ]
    write(t, "v3-full.gguf", gguf(full))
    write(t, "v3-version-first.gguf", gguf([("general.version", 8, "2.3.1"), ("general.architecture", 8, "bert")]))
    write(t, "v2.gguf", gguf([("general.architecture", 8, "llama"), ("general.version", 8, "2.3.1")], version=2))
    write(t, "big-endian.gguf", gguf([("general.architecture", 8, "llama"), ("general.version", 8, "2.3.1"),
                                      ("tokenizer.ggml.tokens", 9, (8, ["a", "b"]))], endian=">"))
    write(t, "no-version.gguf", gguf([("general.architecture", 8, "llama"), ("general.name", 8, "x")]))
    write(t, "empty-metadata.gguf", gguf([]))
    write(t, "version-not-string.gguf", gguf([("general.version", 4, 231)]))
    write(t, "version-twice.gguf", gguf([("general.version", 8, "1"), ("general.version", 8, "2")]))
    write(t, "version-not-utf8.gguf", gguf([("general.version", 8, b"2.3\xff")]))
    write(t, "version-too-long.gguf", gguf([("general.version", 8, "9" * 1100)]))
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 2)
    write(t, "unknown-type.gguf", head + gguf_string("x") + struct.pack("<I", 13) + gguf_string("general.version"))
    write(t, "array-of-unknown.gguf", head + gguf_string("x") + struct.pack("<IIQ", 9, 13, 1))
    write(t, "deep-arrays.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_string("deep")
          + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 10 + struct.pack("<IQ", 0, 0))
    write(t, "huge-count.gguf", gguf([("general.version", 8, "2.3.1")], raw_count=1 << 40))
    write(t, "huge-string.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 62))
    write(t, "huge-array.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_string("a")
          + struct.pack("<IIQ", 9, 12, (1 << 64) // 4))
    full_bytes = gguf(full)
    write(t, "truncated.gguf", full_bytes[: len(full_bytes) // 2])
    write(t, "bad-magic.gguf", b"GGML" + full_bytes[4:])
    write(t, "version-1.gguf", gguf([("general.version", 8, "2.3.1")], version=1))
    write(t, "magic-only.gguf", b"GGUF")


# ---------------------------------------------------------------- safetensors

def safetensors(header, data=b"", pad=True):
    if not isinstance(header, bytes):
        header = header.encode()
    if pad:
        header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data


def safetensors_seeds():
    t = "FuzzSafetensors"
    copy(t, "example-nodule-detector.safetensors", os.path.join(EXAMPLE, "models", "nodule-detector.safetensors"))
    weight = '"weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}'
    write(t, "metadata.safetensors", safetensors('{"__metadata__":{"format":"pt","version":"V2.3.1.1024"},' + weight + '}', b"\0" * 64))
    write(t, "metadata-last.safetensors", safetensors('{' + weight + ',"__metadata__":{"version":"2.3.1","name":"x"}}', b"\0" * 64))
    write(t, "no-metadata.safetensors", safetensors('{' + weight + '}', b"\0" * 64))
    write(t, "escaped.safetensors", safetensors('{"__metadata__":{"version":"2.3.1\\u00e9\\ud83d\\ude00","k\\"":"\\n"}}'))
    write(t, "version-not-string.safetensors", safetensors('{"__metadata__":{"version":2.31}}'))
    write(t, "other-not-string.safetensors", safetensors('{"__metadata__":{"version":"1","x":null}}'))
    write(t, "metadata-not-object.safetensors", safetensors('{"__metadata__":["version","1"]}'))
    write(t, "header-not-object.safetensors", safetensors('["__metadata__"]'))
    write(t, "duplicate-key.safetensors", safetensors('{"__metadata__":{"version":"1","version":"2"}}'))
    write(t, "invalid-json.safetensors", safetensors('{"__metadata__":{"version":"1",}}'))
    write(t, "length-past-end.safetensors", struct.pack("<Q", 1000) + b'{"a":1}')
    write(t, "length-huge.safetensors", struct.pack("<Q", (1 << 64) - 1) + b"{}")
    write(t, "length-one.safetensors", struct.pack("<Q", 1) + b"{")
    write(t, "short.safetensors", b"\x02\x00\x00")
    write(t, "bom.safetensors", safetensors(b'\xef\xbb\xbf{"__metadata__":{"version":"1"}}'))
    write(t, "deep.safetensors", safetensors("[" * 200 + "]" * 200))


# ---------------------------------------------------------------- pip requirements

def requirements_seeds():
    t = "FuzzPipRequirements"
    copy(t, "example-requirements.txt", os.path.join(EXAMPLE, "deps", "requirements.txt"))
    write(t, "hashes-continuations.txt", (
        "# pip-compile --generate-hashes output\n"
        "--index-url https://pypi.org/simple\n"
        "--require-hashes\n"
        "numpy==1.26.4 \\\n"
        "    --hash=sha256:03a8c78d01d9781b28a6989f6fa1bb2c4f2d51201cf99d3dd875df6fbd96b23b \\\n"
        "    --hash sha256:9a4f3e5a8d1f3bd6e1b4d6c0a4f0f6e0b6b2a1c0d9e8f7a6b5c4d3e2f1a0b9c8\n"
        "torch===2.2.1+cu121 ; platform_machine == \"x86_64\"  # the GPU build\n"
        "uvicorn[standard]==0.34.0\n"
        "pydantic (==2.10.4)\n"
        "safetensors==0.4.5;python_version>=\"3.8\"\n"
        "\\\n"
        "# a comment ending in a backslash \\\n"
        "click==8.1.8\n"))
    write(t, "unpinned.txt", (
        "numpy>=1.26\n"
        "scipy~=1.11.0\n"
        "pandas!=2.0.0,==2.1.4\n"
        "requests==2.*\n"
        "flask\n"
        "django==4.2, ==4.2.1\n"
        "torch @ https://download.pytorch.org/whl/torch-2.2.1.whl\n"
        "./local-package\n"
        "https://example.org/pkg-1.0.tar.gz\n"
        "-e git+https://github.com/org/repo.git#egg=repo\n"
        "-r other-requirements.txt\n"
        "-cconstraints.txt\n"
        "--constraint=c.txt\n"
        "--no-binary :all:\n"
        "--unknown-option\n"
        "numpy==1.26.4 --install-option=--prefix=/x\n"
        "pkg[extra==1.0\n"
        "==1.0\n"
        "pkg==\n"
        "pkg==1.0 ; \n"
        "pkg==1 0\n"))
    write(t, "crlf-bom.txt", b"\xef\xbb\xbfnumpy==1.26.4\r\nclick==8.1.8 \\\r\n  --hash=sha256:00\r\n# c\r\n")
    write(t, "tabs-comments.txt", "\tnumpy==1.26.4\t# pinned\n#only a comment\nfoo==1.0#not-a-comment\n  \n\t\n")
    write(t, "continuation-at-end.txt", "numpy==1.26.4 \\")
    write(t, "not-utf8.txt", b"numpy==1.26.4\nclick==8.1.\xff\n")
    write(t, "empty.txt", b"")
    write(t, "only-options.txt", "-i https://pypi.org/simple\n--extra-index-url=https://x\n--pre\n-f ./wheels\n")


if __name__ == "__main__":
    pdf_seeds()
    gguf_seeds()
    safetensors_seeds()
    requirements_seeds()
