import FuzzSupport

// Fuzz target: the PDF document information reader, as `build` reads a document component's
// `.pdf` file: VersionReaders.PDF.read on the file's bytes (the path-based reader opens the file
// and calls the same function): the header, startxref, classic cross-reference tables and
// unfiltered cross-reference streams through /Prev and /XRefStm, the trailer, the /Info object by
// reference or by scanning, and its /Version text string (PDFDocEncoding, UTF-16BE, UTF-8).
// Key `Version`, the default.
//
// Invariants: an error names a byte inside the input and no raw control character; a version
// found is at most PDF.maxStringBytes characters.
@testable import IVPack

@main enum FuzzPDFInfoMain {
    static func main() { runFuzzer(fuzzPDFInfo) }
}

func fuzzPDFInfo(_ bytes: [UInt8]) {
    do {
        let reading = try VersionReaders.PDF.read(
            InMemorySource(bytes: bytes), displayPath: "manual.pdf", key: "Version")
        fuzzCheck(reading.format == .pdfInfo && reading.file == "manual.pdf", "reading names another format or file")
        if let found = reading.found {
            fuzzCheck(
                found.unicodeScalars.count <= VersionReaders.PDF.maxStringBytes,
                "version of \(found.unicodeScalars.count) characters accepted")
        }
    } catch {
        fuzzCheckReaderError(error, size: bytes.count)
    }
}
