import FuzzSupport

// Fuzz target: the GGUF metadata reader, as `build` reads a model component's `.gguf` file:
// VersionReaders.GGUF.read on the file's bytes (the path-based reader opens the file and calls the
// same function). Key `general.version`, the default.
//
// Invariants: an error names a byte inside the input and no raw control character; a version
// found is valid UTF-8 of at most GGUF.maxVersionBytes bytes.
@testable import IVPack

@main enum FuzzGGUFMain {
    static func main() { runFuzzer(fuzzGGUF) }
}

func fuzzGGUF(_ bytes: [UInt8]) {
    do {
        let reading = try VersionReaders.GGUF.read(
            InMemorySource(bytes: bytes), displayPath: "model.gguf", key: "general.version")
        fuzzCheck(reading.format == .gguf && reading.file == "model.gguf", "reading names another format or file")
        if let found = reading.found {
            fuzzCheck(
                UInt64(found.utf8.count) <= VersionReaders.GGUF.maxVersionBytes,
                "version of \(found.utf8.count) bytes accepted")
        }
    } catch {
        fuzzCheckReaderError(error, size: bytes.count)
    }
}
