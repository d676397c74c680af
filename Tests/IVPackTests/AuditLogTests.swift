import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// The hash-chained audit log (IQ draft, clause 5.4.1): what a line records, that tampering of
/// each kind is named at the right line, and that concurrent writers keep one chain.
@Suite struct AuditLogTests {
    // MARK: Fixtures

    /// A log of `count` events (commands `cmd1` … `cmdN`) in a fresh folder.
    func makeLog(_ count: Int) throws -> Log {
        let t = TemporaryFolder("ivpack-audit")
        let path = t.url("audit.jsonl")
        for i in 1...count {
            try AuditLog.append(
                path: path,
                event: AuditEvent(
                    command: "cmd\(i)", parameters: ["bundle-\(i).ivp", "--json"],
                    result: Int32(i % 3), durationMs: Int64(10 * i),
                    timeMilliseconds: 1_795_000_000_000 + Int64(i) * 1000,
                    operatorName: "installer", host: "ward-3-server"))
        }
        return Log(folder: t, path: path)
    }

    /// A log file and the folder that holds it (removed when the value goes).
    struct Log {
        let folder: TemporaryFolder
        let path: String
    }

    /// The log's lines, each without its newline.
    func lines(_ path: String) -> [[UInt8]] {
        let bytes = Array(FileManager.default.contents(atPath: path)!)
        var out = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        if out.last == [] { out.removeLast() }
        return out
    }

    func write(_ lines: [[UInt8]], to path: String, finalNewline: Bool = true) {
        var bytes = Array(lines.joined(separator: [0x0A]))
        if finalNewline { bytes.append(0x0A) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    }

    func json(_ line: [UInt8]) -> JSONValue { try! JSONParser.parse(line) }

    /// `line` with `key` set to `value`, its hash recomputed as a careful forger would.
    func forged(_ line: [UInt8], _ changes: [(String, JSONValue)]) -> [UInt8] {
        guard case .object(var members) = json(line) else { fatalError() }
        members.removeAll { $0.key == "hash" }
        for (key, value) in changes {
            members.removeAll { $0.key == key }
            members.append((key, value))
        }
        members.append(("hash", .string(SHA256Digest.of(CanonicalJSON.encode(.object(members))).hex)))
        return CanonicalJSON.encode(.object(members))
    }

    func sha(_ line: [UInt8]) -> String { SHA256Digest.of(line).hex }

    // MARK: What a line records

    @Test(.clause("IQ 5.4.1", "IQ 6.2.2 g")) func anEventRecordsWhoWhereWhatAndWhenChainedToTheLineBefore() throws {
        let log = try makeLog(2)
        let path = log.path
        let l = lines(path)
        #expect(l.count == 2)
        let first = json(l[0])
        let second = json(l[1])
        #expect(first["seq"] == .integer(1))
        #expect(first["time"] == .string("2026-11-18T11:06:41.000Z"))
        #expect(first["operator"] == .string("installer"))
        #expect(first["host"] == .string("ward-3-server"))
        #expect(first["command"] == .string("cmd1"))
        #expect(first["parameters"] == .array([.string("bundle-1.ivp"), .string("--json")]))
        #expect(first["result"] == .integer(1))
        #expect(first["durationMs"] == .integer(10))
        #expect(first["prev"] == .string(AuditLog.zeroHash))
        #expect(second["seq"] == .integer(2))
        #expect(second["prev"] == .string(sha(l[0])))
        // Canonical JSON, so the bytes hashed are the bytes any reader re-encodes.
        #expect(CanonicalJSON.encode(first) == l[0])
        // The event's own hash covers every other member.
        #expect(forged(l[0], []) == l[0])
    }

    @Test func appendReturnsTheSeqAndTheNewHead() throws {
        let log = try makeLog(3)
        let path = log.path
        let r = try AuditLog.append(
            path: path, event: AuditEvent(command: "verify", parameters: [], result: 0, durationMs: 5))
        #expect(r.seq == 4)
        #expect(r.lineSHA256 == sha(lines(path)[3]))
        #expect(try AuditLog.verify(path: path).headSHA256 == r.lineSHA256)
    }

    @Test func theDefaultsAreNowThisUserAndThisHost() throws {
        let t = TemporaryFolder("ivpack-audit")
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        try AuditLog.append(
            path: t.url("a.jsonl"), event: AuditEvent(command: "build", parameters: [], result: 0, durationMs: 1))
        let e = json(lines(t.url("a.jsonl"))[0])
        #expect(e["host"]?.stringValue == ProcessInfo.processInfo.hostName)
        let user = String(cString: getpwuid(geteuid())!.pointee.pw_name)
        #expect(e["operator"]?.stringValue?.hasPrefix(user) == true)
        let time = try #require(e["time"]?.stringValue)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let parsed = try #require(formatter.date(from: time))
        #expect(Int64(parsed.timeIntervalSince1970 * 1000) >= before - 1)
    }

    @Test func aNewLogIsCreatedWithMode0640() throws {
        let t = TemporaryFolder("ivpack-audit")
        let old = umask(0o022)
        defer { umask(old) }
        try AuditLog.append(
            path: t.url("a.jsonl"), event: AuditEvent(command: "build", parameters: [], result: 0, durationMs: 1))
        let mode = try FileManager.default.attributesOfItem(atPath: t.url("a.jsonl"))[.posixPermissions] as? Int
        #expect(mode == 0o640)
    }

    @Test(arguments: [
        (
            ["sign", "b.ivp", "--key-passphrase", "hunter2", "--role", "quality"],
            ["sign", "b.ivp", "--key-passphrase", "[redacted]", "--role", "quality"]
        ),
        (["--pin=1234", "--passphrase", "s3cret"], ["--pin=[redacted]", "--passphrase", "[redacted]"]),
        (["--pin-file", "/run/pin", "--password=x"], ["--pin-file", "[redacted]", "--password=[redacted]"]),
        (
            ["--key", "pkcs11:token=rel;object=rm;pin-value=4711"],
            ["--key", "pkcs11:token=rel;object=rm;pin-value=[redacted]"]
        ),
        (
            ["--key=pkcs11:token=rel?PIN-VALUE=4711&module-path=/x.so"],
            ["--key=pkcs11:token=rel?PIN-VALUE=[redacted]&module-path=/x.so"]
        ),
        (["--spinner", "on", "--pinned", "x"], ["--spinner", "on", "--pinned", "x"]),
        (["--", "--pin", "literal"], ["--", "--pin", "literal"]),
    ])
    func secretsAreRedacted(given: [String], recorded: [String]) {
        #expect(AuditLog.redact(given) == recorded)
    }

    @Test func recordedParametersHaveTheirSecretsRemoved() throws {
        let t = TemporaryFolder("ivpack-audit")
        try AuditLog.append(
            path: t.url("a.jsonl"),
            event: AuditEvent(
                command: "sign",
                parameters: ["--key-passphrase", "hunter2", "--key", "pkcs11:object=a;pin-value=4711"], result: 0,
                durationMs: 1))
        let text = String(decoding: t.read("a.jsonl"), as: UTF8.self)
        #expect(!text.contains("hunter2"))
        #expect(!text.contains("4711"))
        #expect(
            text.contains(
                #""parameters":["--key-passphrase","[redacted]","--key","pkcs11:object=a;pin-value=[redacted]"]"#))
    }

    @Test func longAndManyParametersAreShortenedToKeepLinesBounded() throws {
        let t = TemporaryFolder("ivpack-audit")
        let many = (0..<200).map { "p\($0)-" + String(repeating: "é", count: 3000) }
        try AuditLog.append(
            path: t.url("a.jsonl"), event: AuditEvent(command: "build", parameters: many, result: 0, durationMs: 1))
        let e = json(lines(t.url("a.jsonl"))[0])
        let recorded = (e["parameters"]?.arrayValue ?? []).compactMap(\.stringValue)
        #expect(recorded.count == AuditLog.maxParameters)
        #expect(recorded.last == "[137 more parameters not recorded]")
        #expect(recorded[0].utf8.count <= AuditLog.maxParameterBytes)
        #expect(recorded[0].hasSuffix("...[truncated]"))
        #expect(try AuditLog.verify(path: t.url("a.jsonl")).isIntact)
    }

    @Test func appendRefusesALogWhoseLastLineWasCutShort() throws {
        let log = try makeLog(3)
        let path = log.path
        var l = lines(path)
        l[2].removeLast(10)
        write(l, to: path, finalNewline: false)
        let before = FileManager.default.contents(atPath: path)
        #expect(throws: AuditLogError.lastLineIncomplete(path: path)) {
            try AuditLog.append(path: path, event: AuditEvent(command: "x", parameters: [], result: 0, durationMs: 0))
        }
        #expect(FileManager.default.contents(atPath: path) == before)
    }

    @Test func appendToAFolderThatDoesNotExistFails() {
        let t = TemporaryFolder("ivpack-audit")
        #expect(throws: FileSystemError.self) {
            try AuditLog.append(
                path: t.url("missing/a.jsonl"),
                event: AuditEvent(command: "x", parameters: [], result: 0, durationMs: 0))
        }
    }

    @Test func everyLineValidatesAgainstTheSchema() throws {
        let log = try makeLog(3)
        try AuditLog.append(
            path: log.path,
            event: AuditEvent(
                command: "sign", parameters: ["--pin", "1234", String(repeating: "x", count: 5000)], result: 2,
                durationMs: 7))
        // A line that breaks the schema (seq 0) must be refused, so the check itself can fail.
        var l = lines(log.path)
        l.append(forged(l[0], [("seq", .integer(0))]))
        write(l, to: log.path)
        let script = """
            import json, sys
            from jsonschema import Draft202012Validator
            v = Draft202012Validator(json.load(open(sys.argv[1])), format_checker=Draft202012Validator.FORMAT_CHECKER)
            for n, line in enumerate(open(sys.argv[2], encoding="utf-8"), 1):
                errors = list(v.iter_errors(json.loads(line)))
                print(n, "ok" if not errors else errors[0].message)
            """
        let r = run(
            "/usr/bin/env",
            ["python3", "-c", script, SchemaTests.repositoryRoot + "/Schemas/audit-event.schema.json", log.path])
        #expect(r.status == 0, "\(r.stderr)")
        let results = r.stdout.split(separator: "\n").map(String.init)
        #expect(results.prefix(4) == ["1 ok", "2 ok", "3 ok", "4 ok"])
        #expect(results.count == 5 && results[4].hasPrefix("5 ") && results[4] != "5 ok", "\(results)")
    }

    // MARK: Verification

    @Test func anIntactLogVerifies() throws {
        let log = try makeLog(10)
        let path = log.path
        let v = try AuditLog.verify(path: path)
        #expect(v.isIntact)
        #expect(v.problem == nil)
        #expect(v.lineCount == 10)
        #expect(v.intactLines == 10)
        #expect(v.headSHA256 == sha(lines(path)[9]))
    }

    @Test func anEmptyLogIsIntact() throws {
        let t = TemporaryFolder("ivpack-audit")
        t.write("a.jsonl", "")
        let v = try AuditLog.verify(path: t.url("a.jsonl"))
        #expect(v.isIntact)
        #expect(v.lineCount == 0)
        #expect(v.headSHA256 == nil)
    }

    @Test func aMissingLogCannotBeVerified() {
        let t = TemporaryFolder("ivpack-audit")
        #expect(throws: FileSystemError.self) { try AuditLog.verify(path: t.url("none.jsonl")) }
    }

    /// A tampering and where it must be found.
    struct Tampering: Sendable, CustomStringConvertible {
        var description: String
        var change: @Sendable (AuditLogTests, inout [[UInt8]]) -> Void
        var line: Int
        var kind: AuditProblem.Kind
        var finalNewline = true
    }

    static let tamperings: [Tampering] = [
        Tampering(
            description: "edit a value, hash left",
            change: { _, l in
                l[3] = Array(
                    String(decoding: l[3], as: UTF8.self).replacingOccurrences(of: "\"result\":1", with: "\"result\":0")
                        .utf8)
            }, line: 4, kind: .edited),
        Tampering(
            description: "edit a value, hash recomputed",
            change: { s, l in
                l[3] = s.forged(l[3], [("result", .integer(0))])
            }, line: 4, kind: .edited),
        Tampering(
            description: "edit the seq, hash recomputed",
            change: { s, l in
                l[3] = s.forged(l[3], [("seq", .integer(40))])
            }, line: 4, kind: .edited),
        Tampering(
            description: "edit the first line, hash recomputed",
            change: { s, l in
                l[0] = s.forged(l[0], [("operator", .string("someone else"))])
            }, line: 1, kind: .edited),
        Tampering(
            description: "reformat a line",
            change: { _, l in
                l[5] = Array(
                    String(decoding: l[5], as: UTF8.self).replacingOccurrences(of: ",\"seq\"", with: ", \"seq\"").utf8)
            }, line: 6, kind: .edited),
        Tampering(description: "delete a middle line", change: { _, l in l.remove(at: 3) }, line: 4, kind: .deleted),
        Tampering(
            description: "delete two lines", change: { _, l in l.removeSubrange(4...5) }, line: 5, kind: .deleted),
        Tampering(description: "delete the first line", change: { _, l in l.remove(at: 0) }, line: 1, kind: .deleted),
        Tampering(
            description: "insert a copy of an earlier line", change: { _, l in l.insert(l[1], at: 6) }, line: 7,
            kind: .inserted),
        Tampering(
            description: "insert a copy of the line before", change: { _, l in l.insert(l[5], at: 6) }, line: 7,
            kind: .inserted),
        Tampering(
            description: "insert a forged line with a new seq",
            change: { s, l in
                l.insert(
                    s.forged(l[4], [("seq", .integer(99)), ("prev", .string(String(repeating: "a", count: 64)))]), at: 4
                )
            }, line: 5, kind: .inserted),
        Tampering(
            description: "insert a forged line that chains to the line before",
            change: { s, l in
                l.insert(s.forged(l[4], [("command", .string("forged")), ("prev", .string(s.sha(l[3])))]), at: 4)
            }, line: 5, kind: .inserted),
        Tampering(description: "swap two lines", change: { _, l in l.swapAt(3, 4) }, line: 4, kind: .reordered),
        Tampering(
            description: "swap the last two lines", change: { _, l in l.swapAt(8, 9) }, line: 9, kind: .reordered),
        Tampering(
            description: "move a line to the end", change: { _, l in l.append(l.remove(at: 1)) }, line: 2,
            kind: .reordered),
        Tampering(
            description: "move a line up", change: { _, l in l.insert(l.remove(at: 8), at: 1) }, line: 2,
            kind: .reordered),
        Tampering(
            description: "garbage line", change: { _, l in l[2] = Array("not json".utf8) }, line: 3, kind: .malformed),
        Tampering(description: "blank line", change: { _, l in l.insert([], at: 6) }, line: 7, kind: .malformed),
        Tampering(
            description: "unknown member", change: { s, l in l[2] = s.forged(l[2], [("note", .string("x"))]) }, line: 3,
            kind: .malformed),
        Tampering(
            description: "last line cut short", change: { _, l in l[9].removeLast(5) }, line: 10, kind: .malformed,
            finalNewline: false),
    ]

    @Test(.clause("IQ 6.5.1"), arguments: tamperings)
    func tamperingIsNamedAtItsLine(_ t: Tampering) throws {
        let log = try makeLog(10)
        let path = log.path
        var l = lines(path)
        t.change(self, &l)
        write(l, to: path, finalNewline: t.finalNewline)
        let v = try AuditLog.verify(path: path)
        #expect(!v.isIntact)
        #expect(v.problem?.kind == t.kind, "\(v.problem?.description ?? "intact")")
        #expect(v.problem?.line == t.line, "\(v.problem?.description ?? "intact")")
        #expect(v.intactLines < t.line)
        #expect(v.lineCount == l.count)
        #expect(v.headSHA256 == nil)
    }

    @Test func theMessagesSayWhatWasFound() throws {
        let log = try makeLog(10)
        let path = log.path
        var l = lines(path)
        l.removeSubrange(4...5)
        write(l, to: path)
        #expect(
            try AuditLog.verify(path: path).problem?.description
                == "line 5: deleted: events 5 to 6 (2) are missing before this line")
        l = lines(path)
        l.swapAt(0, 1)
        write(l, to: path)
        #expect(
            try AuditLog.verify(path: path).problem?.description
                == "line 1: reordered: it holds event 2, which follows line 2; event 1 comes next here (line 2)")
    }

    @Test func aLineLongerThanTheLimitIsMalformed() throws {
        let log = try makeLog(3)
        let path = log.path
        var l = lines(path)
        l.insert(Array(repeating: UInt8(ascii: "x"), count: AuditLog.maxLineBytes + 1), at: 1)
        write(l, to: path)
        let v = try AuditLog.verify(path: path)
        #expect(
            v.problem
                == AuditProblem(line: 2, kind: .malformed, message: "it is longer than \(AuditLog.maxLineBytes) bytes"))
        #expect(v.lineCount == 4)
    }

    @Test(.clause("IQ 6.5.1")) func removingTheNewestEventsLeavesAValidChainButChangesTheHead() throws {
        let log = try makeLog(5)
        let path = log.path
        let head = try AuditLog.verify(path: path).headSHA256
        write(Array(lines(path).prefix(4)), to: path)
        let v = try AuditLog.verify(path: path)
        #expect(v.isIntact)
        #expect(v.headSHA256 != head)
    }

    // MARK: The command line

    @Test func auditVerifyExitsZeroForAnIntactLog() throws {
        let log = try makeLog(3)
        let r = ivpack(["audit", "verify", log.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "\(log.path): intact, 3 events; head sha256 \(sha(lines(log.path)[2]))\n")
    }

    @Test(.clause("IQ 6.5.1")) func auditVerifyExitsOneAndNamesTheBrokenLine() throws {
        let log = try makeLog(5)
        var l = lines(log.path)
        l.remove(at: 1)
        write(l, to: log.path)
        let r = ivpack(["audit", "verify", log.path])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("\(log.path): broken at line 2: deleted: event 2 is missing before this line\n"))
        let j = ivpack(["audit", "verify", log.path, "--json"])
        #expect(j.status == 1)
        let value = try JSONParser.parse(Array(j.stdout.utf8))
        #expect(value["result"] == .string("broken"))
        #expect(value["lines"] == .integer(4))
        #expect(value["intactLines"] == .integer(1))
        #expect(value["problem"]?["line"] == .integer(2))
        #expect(value["problem"]?["kind"] == .string("deleted"))
    }

    @Test func auditVerifyExitsTwoForALogThatCannotBeRead() {
        let t = TemporaryFolder("ivpack-audit")
        let r = ivpack(["audit", "verify", t.url("none.jsonl")])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("none.jsonl: cannot open for reading"))
    }

    // MARK: Concurrency

    @Test(.clause("IQ 5.4.1")) func eightWritersAppendingAThousandEventsEachLeaveOneIntactChain() async throws {
        let t = TemporaryFolder("ivpack-audit")
        let path = t.url("audit.jsonl")
        // Each append opens, locks and closes the log itself, as a separate process would.
        let failures = await withTaskGroup(of: String?.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<String?, Never>) in
                        Thread.detachNewThread {
                            do {
                                for i in 0..<1000 {
                                    try AuditLog.append(
                                        path: path,
                                        event: AuditEvent(
                                            command: "writer\(writer)", parameters: ["\(i)"], result: 0, durationMs: 0))
                                }
                                done.resume(returning: nil)
                            } catch {
                                done.resume(returning: "writer \(writer): \(error)")
                            }
                        }
                    }
                }
            }
            var failures: [String] = []
            for await f in group { if let f { failures.append(f) } }
            return failures
        }
        #expect(failures.isEmpty, "\(failures)")
        let v = try AuditLog.verify(path: path)
        #expect(v.problem == nil)
        #expect(v.lineCount == 8000)
        #expect(v.intactLines == 8000)
        var seen = Set<String>()
        for (n, line) in lines(path).enumerated() {
            let e = json(line)
            #expect(e["seq"] == .integer(n + 1))
            seen.insert("\(e["command"]!.stringValue!)/\(e["parameters"]!.arrayValue![0].stringValue!)")
        }
        #expect(seen.count == 8000)
    }
}
