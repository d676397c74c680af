import FuzzSupport

// Fuzz target: the safetensors header reader, as `build` reads a model component's
// `.safetensors` file: VersionReaders.Safetensors.read on the file's bytes (the path-based reader
// opens the file and calls the same function), key `version`, the default. The header is JSON,
// parsed by the project's JSONParser.
//
// Invariants: an error names a byte inside the input and no raw control character; a version
// found is a string of the header's __metadata__, so it fits in the input.
@testable import IVPack

@main enum FuzzSafetensorsMain {
    static func main() { runFuzzer(fuzzSafetensors) }
}

func fuzzSafetensors(_ bytes: [UInt8]) {
    do {
        let reading = try VersionReaders.Safetensors.read(
            InMemorySource(bytes: bytes), displayPath: "model.safetensors", key: "version")
        fuzzCheck(
            reading.format == .safetensors && reading.file == "model.safetensors",
            "reading names another format or file")
        if let found = reading.found {
            fuzzCheck(found.utf8.count <= bytes.count, "version longer than the input")
        }
    } catch {
        fuzzCheckReaderError(error, size: bytes.count)
    }
}
