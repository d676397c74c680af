import FuzzSupport

// Fuzz target: the pip requirements checker, as `build` checks a dependency-manifest component's
// `requirements.txt`: VersionReaders.Requirements.check on the file's bytes (the path-based
// checker opens the file and calls the same function): UTF-8, a byte-order mark, CRLF,
// backslash continuations, comments, options, extras, markers and version specifiers.
//
// Invariants: an error names no raw control character; each problem names a line of the input
// (continuations join lines, never invent them), holds a requirement that is not empty and a
// problem text with no raw control character; problems come in file order.
@testable import IVPack

@main enum FuzzPipRequirementsMain {
    static func main() { runFuzzer(fuzzPipRequirements) }
}

func fuzzPipRequirements(_ bytes: [UInt8]) {
    do {
        let problems = try VersionReaders.Requirements.check(
            InMemorySource(bytes: bytes), displayPath: "requirements.txt")
        let lines = bytes.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
        var previous = 0
        for p in problems {
            fuzzCheck(p.file == "requirements.txt", "problem names another file")
            fuzzCheck(
                p.line > previous && p.line <= lines,
                "problem on line \(p.line) of \(lines), after line \(previous)")
            fuzzCheck(!p.requirement.isEmpty, "problem with an empty requirement on line \(p.line)")
            fuzzCheck(
                isDisplaySafe(p.problem),
                "problem text holds a raw control character: \(p.problem.debugDescription)")
            previous = p.line
        }
    } catch {
        fuzzCheckReaderError(error, size: bytes.count)
    }
}
