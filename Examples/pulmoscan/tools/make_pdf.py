#!/usr/bin/env python3
"""Writes docs/user-manual.pdf: a small, valid PDF 1.4 user manual for the example release.

The document information dictionary carries /Title, /Version (the release version that
`ivpack build` checks), /Producer and fixed dates. The file is written by hand, standard library
only: uncompressed content streams, one classic cross-reference table (`xref` + `trailer`), no
object streams, and a fixed /ID, so the output is byte-for-byte reproducible.

Usage: python3 tools/make_pdf.py [--version V2.3.1.1024] [--output docs/user-manual.pdf]
"""
import argparse
import hashlib
import os
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 64
LEADING = 14
WRAP = 88  # characters per line at 10 pt Helvetica


def read_release_version():
    """The release version, from the service's VERSION file (the one place it is written)."""
    with open(os.path.join(EXAMPLE, "service", "VERSION"), encoding="ascii") as f:
        return f.read().strip()


def manual_pages(version):
    """The manual's text: a list of pages, each a list of (style, text) lines."""
    release = version.split(".", 1)[0]
    page1 = [
        ("h1", "PulmoScan AI - User Manual"),
        ("p", f"Model PS-AI. Release version {release}, full version {version}."),
        ("p", "Example Medical AI Co. (fictitious manufacturer used for the ivpack example release)."),
        ("p", "Document UM-PS-AI-EN, revision 7. Applies only to the full version stated above."),
        ("h2", "1 Intended use"),
        ("p", "PulmoScan AI is computer-aided detection (CADe) software. It marks candidate solid "
              "and part-solid lung nodules of 4 mm to 30 mm on chest CT series of adult patients, "
              "as a second reader for radiologists. It does not diagnose and does not replace the "
              "radiologist's review of every image. Findings must be confirmed by a physician."),
        ("h2", "2 Contraindications and limitations"),
        ("p", "Not for patients under 18 years, contrast-enhanced series, slice spacing above 2.5 mm, "
              "fewer than 64 slices, or series with severe motion or metal artefacts. Ground-glass "
              "nodules without a solid component and nodules under 4 mm are out of scope."),
        ("h2", "3 Workflow"),
        ("p", "1. The PACS sends a chest CT series to the PulmoScan AI node (DICOM C-STORE)."),
        ("p", "2. The service checks the series (modality, slice count, spacing) and rejects "
              "unsuitable series with a reason shown on the worklist."),
        ("p", "3. Candidate nodules are returned as a DICOM structured report and key images, each "
              "with position, diameter (mm) and a detection score; the report names the full version."),
        ("p", "4. The radiologist accepts or rejects each candidate in the viewer."),
    ]
    page2 = [
        ("h2", "4 Performance summary"),
        ("p", "On the sequestered test set PS-CT-TEST-SEQ-02 (1,020 series, 6 sites): sensitivity "
              "0.921 (95% CI 0.905-0.935) at 1.0 false positives per scan, unchanged from V2.3.0.1013."),
        ("h2", "5 Warnings"),
        ("p", "A missing mark does not mean the absence of a nodule. Do not use the software "
              "as the only reader. Report suspected malfunctions to the manufacturer."),
        ("h2", "6 Checking the installed version"),
        ("p", "Help > About shows the release version, the full version and the UDI. The service "
              "answers GET /version with the same values; all three must match this manual."),
        ("h2", "7 Cybersecurity"),
        ("p", "The service listens on the hospital network only, over TLS. Software updates are "
              "delivered as signed ivpack bundles and installed by qualified service staff after "
              "`ivpack verify`. Do not install updates from any other source."),
        ("h2", "8 Contact"),
        ("p", "Example Medical AI Co., service desk: support@example.com. Manufacturer address, "
              "registration numbers and UDI are printed on the label of the installation."),
    ]
    return [page1, page2]


def escape(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def content_stream(lines, page_number, page_count, version):
    out = ["BT", f"{MARGIN} {PAGE_HEIGHT - MARGIN} Td", f"{LEADING} TL"]
    for style, text in lines:
        font, size = {"h1": ("F2", 16), "h2": ("F2", 12), "p": ("F1", 10)}[style]
        out.append(f"/{font} {size} Tf")
        if style != "p":
            out.append("T*")
        for line in textwrap.wrap(text, WRAP) or [""]:
            out.append(f"({escape(line)}) Tj T*")
    out.append("ET")
    footer = f"PulmoScan AI {version} - User Manual - page {page_number} of {page_count}"
    out += ["BT", "/F1 8 Tf", f"{MARGIN} {MARGIN // 2} Td", f"({escape(footer)}) Tj", "ET"]
    return ("\n".join(out) + "\n").encode("latin-1")


def build(version):
    pages = manual_pages(version)
    # Object numbers: 1 catalog, 2 pages, 3 info, 4-5 fonts, then (page, content) pairs.
    objects = {}
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    kids = []
    for i, lines in enumerate(pages):
        page_obj, content_obj = 6 + 2 * i, 7 + 2 * i
        kids.append(f"{page_obj} 0 R")
        stream = content_stream(lines, i + 1, len(pages), version)
        objects[page_obj] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
                             f"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents {content_obj} 0 R >>").encode()
        objects[content_obj] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream"
    objects[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    objects[3] = (f"<< /Title (PulmoScan AI User Manual) /Subject (User manual, model PS-AI, release {escape(version)}) "
                  f"/Author (Example Medical AI Co.) /Creator (Examples/pulmoscan/tools/make_pdf.py) "
                  f"/Producer (ivpack example generator 1.0) /Version ({escape(version)}) "
                  f"/CreationDate (D:20261118090000Z) /ModDate (D:20261118090000Z) >>").encode()
    objects[4] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    objects[5] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    size = max(objects) + 1
    xref_offset = len(out)
    out += b"xref\n0 %d\n" % size
    out += b"0000000000 65535 f \n"  # each entry is exactly 20 bytes, including the 2-byte EOL
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number]
    file_id = hashlib.md5(bytes(out)).hexdigest()
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Info 3 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
            % (size, file_id.encode(), file_id.encode(), xref_offset))
    return bytes(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=None, help="release version (default: service/VERSION)")
    parser.add_argument("--output", default=os.path.join(EXAMPLE, "docs", "user-manual.pdf"))
    args = parser.parse_args()
    data = build(args.version or read_release_version())
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.output)
    print("wrote %s (%d bytes)" % (args.output, len(data)))


if __name__ == "__main__":
    main()
