#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One action to record in the audit log (IQ draft, clause 5.4.1: time, operator, device, key
/// parameters, result).
public struct AuditEvent: Sendable, Equatable {
    /// The ivpack subcommand, e.g. `verify` or `sign`.
    public var command: String
    /// The command's arguments as given; secrets are removed when the event is recorded (`AuditLog.redact`).
    public var parameters: [String]
    /// The exit status the command ended with.
    public var result: Int32
    /// How long the command ran, in milliseconds.
    public var durationMs: Int64
    /// When the command started, in milliseconds since 1970 (UTC).
    public var timeMilliseconds: Int64
    /// The operating-system user who ran it.
    public var operatorName: String
    /// The machine it ran on.
    public var host: String

    /// An event; time, operator and host default to now, the current user and this machine.
    public init(
        command: String, parameters: [String], result: Int32, durationMs: Int64,
        timeMilliseconds: Int64 = AuditLog.nowMilliseconds(),
        operatorName: String = AuditLog.currentOperator(), host: String = AuditLog.currentHost()
    ) {
        self.command = command
        self.parameters = parameters
        self.result = result
        self.durationMs = durationMs
        self.timeMilliseconds = timeMilliseconds
        self.operatorName = operatorName
        self.host = host
    }
}

/// What `AuditLog.append` wrote.
public struct AuditRecord: Sendable, Equatable {
    /// The event's sequence number in the log (1 for the first).
    public var seq: Int64
    /// The line written, without its newline: canonical JSON (Schemas/audit-event.schema.json).
    public var line: [UInt8]
    /// SHA-256 of `line`: the `prev` of the next event, and the value to note elsewhere to anchor the log.
    public var lineSHA256: String
}

/// Where and how an audit log is broken.
public struct AuditProblem: Sendable, Equatable, CustomStringConvertible {
    /// The kind of damage.
    public enum Kind: String, Sendable {
        /// A line's content was changed after it was written.
        case edited
        /// One or more events are missing.
        case deleted
        /// A line was added that the writer did not write there.
        case inserted
        /// Lines are out of their written order.
        case reordered
        /// A line is not an event: not JSON, a missing or wrong field, too long, or cut short.
        case malformed
    }

    /// The first broken line, 1-based.
    public var line: Int
    public var kind: Kind
    /// What was found, in words.
    public var message: String

    /// A problem at `line` (1-based).
    public init(line: Int, kind: Kind, message: String) {
        self.line = line
        self.kind = kind
        self.message = message
    }

    public var description: String { "line \(line): \(kind.rawValue): \(message)" }
}

/// The outcome of `AuditLog.verify`: a value, never a throw, for any content of the log.
public struct AuditVerification: Sendable, Equatable {
    /// The log's path as given.
    public var path: String
    /// Lines in the log (a final line without its newline counts).
    public var lineCount: Int
    /// Lines verified as intact before the first problem; all lines when intact.
    public var intactLines: Int
    /// SHA-256 of the last line when the log is intact and not empty: note it elsewhere (the IQ
    /// report) to detect later removal of the newest events, which a hash chain alone cannot.
    public var headSHA256: String?
    /// The first problem; nil when the log is intact.
    public var problem: AuditProblem?

    /// True when every line is an event and the chain from the first line to the last holds.
    public var isIntact: Bool { problem == nil }

    /// The outcome as JSON, as `ivpack audit verify --json` prints it (see docs/audit-log.md).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("format", .string("ivpack-audit-verification/1")), ("log", .string(path)),
            ("result", .string(isIntact ? "intact" : "broken")),
            ("lines", .integer(lineCount)), ("intactLines", .integer(intactLines)),
        ]
        if let headSHA256 { members.append(("headSHA256", .string(headSHA256))) }
        if let problem {
            members.append(
                (
                    "problem",
                    .object([
                        ("line", .integer(problem.line)), ("kind", .string(problem.kind.rawValue)),
                        ("message", .string(problem.message)),
                    ])
                ))
        }
        return .object(members)
    }
}

/// Why an event could not be appended.
public enum AuditLogError: IVPackError, Equatable {
    /// The log does not end with a newline: an earlier write was cut short.
    case lastLineIncomplete(path: String)
    /// The log's last line is not an event ivpack wrote, so the chain cannot be continued.
    case lastLineMalformed(path: String, problem: String)
    /// The log path is not a regular file.
    case notARegularFile(path: String)

    public var exitStatus: ExitStatus { .environment }

    public var description: String {
        let hint =
            "Keep the log as evidence, run `ivpack audit verify` on it, and start a new log (--audit-log or IVPACK_AUDIT_LOG)."
        switch self {
        case .lastLineIncomplete(let path):
            return
                "\(path): cannot append to the audit log: its last line has no newline (a write was cut short). \(hint)"
        case .lastLineMalformed(let path, let problem):
            return "\(path): cannot append to the audit log: its last line is not an audit event (\(problem)). \(hint)"
        case .notARegularFile(let path):
            return "\(path): cannot append to the audit log: it is not a regular file. Name a file for the log."
        }
    }
}

/// The append-only, hash-chained audit log (IQ draft, clauses 5.4.1 and 6.5.1), in JSON Lines.
///
/// Each line is one event in canonical JSON (Schemas/audit-event.schema.json). Its `prev` is the
/// SHA-256 of the previous line's bytes (without the newline; 64 zeros for the first line), and its
/// `hash` is the SHA-256 of the event's canonical JSON without `hash`. So changing, removing, adding
/// or moving any line but the last breaks the chain, and `verify` names the first broken line.
/// Writers serialise on an exclusive `flock` of the log, so concurrent processes keep one chain.
public enum AuditLog {
    /// Longest line accepted when verifying (and written: events are shortened to fit well within it).
    public static let maxLineBytes = 1 << 20
    /// Most parameters recorded per event; the rest are counted, not recorded.
    public static let maxParameters = 64
    /// Longest parameter recorded, in UTF-8 bytes; longer ones are cut and marked.
    public static let maxParameterBytes = 2048
    /// Longest command, operator or host name recorded, in UTF-8 bytes.
    static let maxNameBytes = 256
    /// Largest sequence number accepted (exactly representable in every JSON reader).
    static let maxSeq: Int64 = 1 << 53
    /// The `prev` of the first event.
    public static let zeroHash = String(repeating: "0", count: 64)
    /// What replaces a secret in the recorded parameters.
    public static let redactedMarker = "[redacted]"
    /// The members of an event, in the order of the schema.
    static let members = [
        "seq", "time", "operator", "host", "command", "parameters", "result", "durationMs", "prev", "hash",
    ]

    // MARK: Writing

    /// Appends `event` to the log at `path` (created with mode 0640 if missing) and flushes it to
    /// disk. Holds an exclusive lock on the log while it reads the last line and writes the new one
    /// with a single write, so events from concurrent processes are chained one after another.
    /// Throws `FileSystemError` for a failed system call and `AuditLogError` for a damaged log; a
    /// failed write leaves the log as it was.
    @discardableResult
    public static func append(path: String, event: AuditEvent) throws -> AuditRecord {
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw FileSystemError(
                operation: "open the audit log for appending", path: path, code: errno, isInput: false)
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            throw FileSystemError(operation: "lock the audit log", path: path, code: errno, isInput: false)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FileSystemError(operation: "read the audit log's status", path: path, code: errno, isInput: false)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw AuditLogError.notARegularFile(path: path) }
        let size = Int64(st.st_size)

        var seq: Int64 = 1
        var prev = zeroHash
        if size > 0 {
            let last = try lastLine(fd: fd, size: size, path: path)
            guard let value = try? JSONParser.parse(last, limits: lineLimits), let s = value["seq"]?.int64Value, s >= 1,
                s < maxSeq
            else {
                throw AuditLogError.lastLineMalformed(path: path, problem: "no seq")
            }
            seq = s + 1
            prev = SHA256Digest.of(last).hex
        }

        var body = eventMembers(event, seq: seq, prev: prev)
        body.append(("hash", .string(SHA256Digest.of(CanonicalJSON.encode(.object(body))).hex)))
        let line = CanonicalJSON.encode(.object(body))
        let bytes = line + [0x0A]

        // One write(2) on an O_APPEND descriptor under the lock: the line lands whole or not at all.
        var written: Int
        repeat {
            written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        } while written < 0 && errno == EINTR
        if written != bytes.count {
            let code = written < 0 ? errno : ENOSPC
            _ = ftruncate(fd, off_t(size))
            throw FileSystemError(operation: "append to the audit log", path: path, code: code, isInput: false)
        }
        guard fsync(fd) == 0 else {
            throw FileSystemError(operation: "flush the audit log to disk", path: path, code: errno, isInput: false)
        }
        if size == 0 { syncFolder(of: path) }
        return AuditRecord(seq: seq, line: line, lineSHA256: SHA256Digest.of(line).hex)
    }

    /// The members of an event line, without `hash`, with secrets removed and sizes limited.
    static func eventMembers(_ event: AuditEvent, seq: Int64, prev: String) -> [(key: String, value: JSONValue)] {
        [
            ("seq", .integer(seq)), ("time", .string(iso8601(milliseconds: event.timeMilliseconds))),
            ("operator", .string(clip(event.operatorName, maxNameBytes))),
            ("host", .string(clip(event.host, maxNameBytes))),
            ("command", .string(clip(event.command, maxNameBytes))),
            ("parameters", .array(limited(redact(event.parameters)).map { .string($0) })),
            ("result", .integer(event.result)), ("durationMs", .integer(max(0, event.durationMs))),
            ("prev", .string(prev)),
        ]
    }

    /// The last line of the log (without its newline), read under the lock.
    private static func lastLine(fd: Int32, size: Int64, path: String) throws -> [UInt8] {
        var end = try readAt(fd: fd, offset: size - 1, count: 1, path: path)
        guard end == [0x0A] else { throw AuditLogError.lastLineIncomplete(path: path) }
        var line: [UInt8] = []
        var offset = size - 1
        let chunk: Int64 = 65536
        while offset > 0 {
            let start = max(0, offset - chunk)
            end = try readAt(fd: fd, offset: start, count: Int(offset - start), path: path)
            if let newline = end.lastIndex(of: 0x0A) {
                line.insert(contentsOf: end[(newline + 1)...], at: 0)
                return line
            }
            line.insert(contentsOf: end, at: 0)
            guard line.count <= maxLineBytes else {
                throw AuditLogError.lastLineMalformed(path: path, problem: "longer than \(maxLineBytes) bytes")
            }
            offset = start
        }
        return line
    }

    private static func readAt(fd: Int32, offset: Int64, count: Int, path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(operation: "read the audit log", path: path, code: errno, isInput: false)
            }
            if n == 0 { break }
            done += n
        }
        out.removeLast(count - done)
        return out
    }

    private static func syncFolder(of path: String) {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let dfd = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    // MARK: Secrets and limits

    /// `parameters` with secrets replaced by `[redacted]`: the value of every option whose name has
    /// the word `pin` or contains `passphrase`, `password` or `secret` (`--key-passphrase X`,
    /// `--pin=X`, `--pin-file X`), and the value of every `pin-value=` and `pin-source=` attribute
    /// inside a parameter (a `pkcs11:` URI).
    public static func redact(_ parameters: [String]) -> [String] {
        var out: [String] = []
        var redactNext = false
        var optionsEnded = false
        for p in parameters {
            if redactNext {
                out.append(redactedMarker)
                redactNext = false
                continue
            }
            if !optionsEnded, p == "--" {
                optionsEnded = true
                out.append(p)
                continue
            }
            if !optionsEnded, p.hasPrefix("-"), p.count > 1 {
                let body = p.drop { $0 == "-" }
                if let eq = body.firstIndex(of: "=") {
                    if isSecretOption(body[..<eq]) {
                        out.append(String(p[...eq]) + redactedMarker)
                        continue
                    }
                } else if isSecretOption(body) {
                    out.append(p)
                    redactNext = true
                    continue
                }
            }
            out.append(redactingURIAttributes(p))
        }
        return out
    }

    private static func isSecretOption(_ name: Substring) -> Bool {
        let lower = name.lowercased()
        if lower.contains("passphrase") || lower.contains("password") || lower.contains("secret") { return true }
        return lower.split(whereSeparator: { $0 == "-" || $0 == "_" }).contains("pin")
    }

    /// `text` with the values of `pin-value=` and `pin-source=` replaced, up to the next `;`, `&` or `?`.
    private static func redactingURIAttributes(_ text: String) -> String {
        let lower = text.lowercased()
        guard lower.contains("pin-value=") || lower.contains("pin-source="), lower.count == text.count else {
            return text
        }
        var out = ""
        var rest = Substring(text)
        while !rest.isEmpty {
            let separator = rest.firstIndex(where: { $0 == ";" || $0 == "?" || $0 == "&" }) ?? rest.endIndex
            let attribute = rest[..<separator]
            let lowered = attribute.lowercased()
            if let r = lowered.range(of: "pin-value=") ?? lowered.range(of: "pin-source=") {
                out +=
                    String(attribute.prefix(lowered.distance(from: lowered.startIndex, to: r.upperBound)))
                    + redactedMarker
            } else {
                out += attribute
            }
            if separator == rest.endIndex { break }
            out.append(rest[separator])
            rest = rest[rest.index(after: separator)...]
        }
        return out
    }

    /// At most `maxParameters` parameters of at most `maxParameterBytes` each.
    private static func limited(_ parameters: [String]) -> [String] {
        var out = parameters.prefix(maxParameters).map { clip($0, maxParameterBytes) }
        if parameters.count > maxParameters {
            out.removeLast()
            out.append("[\(parameters.count - maxParameters + 1) more parameters not recorded]")
        }
        return out
    }

    /// `text` cut to at most `limit` UTF-8 bytes (on a character boundary) and marked when cut.
    private static func clip(_ text: String, _ limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        let marker = "...[truncated]"
        var out = ""
        var used = 0
        for c in text {
            let n = c.utf8.count
            if used + n > limit - marker.utf8.count { break }
            out.append(c)
            used += n
        }
        return out + marker
    }

    // MARK: Who, where, when

    /// Milliseconds since 1970, UTC.
    public static func nowMilliseconds() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return Int64(t.tv_sec) * 1000 + Int64(t.tv_nsec) / 1_000_000
    }

    /// `2026-11-23T18:07:12.345Z`.
    public static func iso8601(milliseconds: Int64) -> String {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let fraction = Int(milliseconds - seconds * 1000)
        let base = Timestamp.iso8601(seconds)
        let digits = String(fraction)
        return String(base.dropLast()) + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    /// The effective user's name (or `uid N` when it has none); under sudo, `root (sudo by NAME)`.
    public static func currentOperator() -> String {
        LocalIdentity.userName() + (LocalIdentity.sudoUser().map { " (sudo by \($0))" } ?? "")
    }

    /// This machine's host name, else `unknown`.
    public static func currentHost() -> String { LocalIdentity.hostName() ?? "unknown" }

    // MARK: Verifying

    private static let lineLimits = JSONLimits(
        maxBytes: maxLineBytes, maxDepth: 4, maxStringBytes: maxLineBytes, maxContainerCount: 4096)

    /// One line that is a well-formed event whose content matches its own hash.
    struct Entry {
        var number: Int
        var digest: String
        var seq: Int64
        var prev: String
    }

    /// Checks the whole log at `path`, streaming it, and names the first broken line and how it
    /// broke (see `AuditProblem.Kind`). Throws only when the log cannot be read (`FileSystemError`).
    ///
    /// Removal of the newest events (the end of the file) leaves a valid chain: compare the
    /// event count or `headSHA256` with a copy noted elsewhere to detect it.
    public static func verify(path: String) throws -> AuditVerification {
        let file = try InputFile(path: path)
        var reader = LineReader(file: file, limit: maxLineBytes)
        var previous: Entry?
        var lines = 0
        while let line = try reader.next() {
            lines = line.number
            let entry: Entry
            switch examine(line) {
            case .problem(let problem):
                return try broken(path: path, problem: problem, reader: &reader, intact: line.number - 1)
            case .entry(let e):
                entry = e
            }
            let expectedSeq = (previous?.seq ?? 0) + 1
            let expectedPrev = previous?.digest ?? zeroHash
            if entry.prev == expectedPrev, entry.seq == expectedSeq {
                previous = entry
                continue
            }
            // The first break: classify it from this line, its neighbours and the rest of the file.
            var next: Entry?
            if let n = try reader.next(), case .entry(let e) = examine(n) { next = e }
            let problem = try classify(path: path, line: entry, previous: previous, next: next)
            return try broken(path: path, problem: problem, reader: &reader, intact: problem.line - 1)
        }
        return AuditVerification(
            path: path, lineCount: lines, intactLines: lines, headSHA256: previous?.digest, problem: nil)
    }

    private static func broken(path: String, problem: AuditProblem, reader: inout LineReader, intact: Int) throws
        -> AuditVerification
    {
        var count = reader.linesRead
        while try reader.next() != nil { count = reader.linesRead }
        return AuditVerification(
            path: path, lineCount: count, intactLines: max(0, intact), headSHA256: nil, problem: problem)
    }

    /// Names the break at `line`, whose own content is intact but which does not follow `previous`.
    private static func classify(path: String, line k: Entry, previous: Entry?, next: Entry?) throws -> AuditProblem {
        let expectedSeq = (previous?.seq ?? 0) + 1
        let expectedPrev = previous?.digest ?? zeroHash
        let n = k.number
        if k.prev == expectedPrev {
            return AuditProblem(
                line: n, kind: .edited,
                message:
                    "its seq is \(k.seq) where \(expectedSeq) follows the line before; it was changed after it was written"
            )
        }
        // Facts about the rest of the file, gathered in one more pass.
        let facts = try scan(
            path: path, excluding: n, seq: k.seq, gap: expectedSeq..<max(expectedSeq, k.seq), digest: k.prev)

        if let next, next.prev == expectedPrev, next.seq == expectedSeq {
            // Without this line the chain would continue: it was put here, either from nowhere
            // (inserted) or moved up from later in the log (reordered: its predecessor is still there).
            if facts.seqElsewhere == nil, k.seq > expectedSeq, let from = facts.lineWithDigest {
                return AuditProblem(
                    line: n, kind: .reordered,
                    message:
                        "it holds event \(k.seq), which follows line \(from); event \(expectedSeq) comes next here (line \(n + 1))"
                )
            }
            return AuditProblem(
                line: n, kind: .inserted,
                message:
                    "it holds event \(k.seq) and does not follow the line before; the chain continues without it at line \(n + 1)"
                    + (facts.seqElsewhere.map { " (event \(k.seq) is also at line \($0))" } ?? ""))
        }
        if let previous, n > 1, k.prev == previous.prev {
            // Two lines claim the same predecessor: the one the chain does not continue from was inserted.
            let before = n == 2 ? "the start of the log" : "line \(n - 2)"
            if let next, next.prev == k.digest {
                return AuditProblem(
                    line: n - 1, kind: .inserted,
                    message:
                        "lines \(n - 1) and \(n) both follow \(before) (as events \(previous.seq) and \(k.seq)); the chain continues from line \(n), so line \(n - 1) was inserted"
                )
            }
            return AuditProblem(
                line: n, kind: .inserted,
                message:
                    "lines \(n - 1) and \(n) both follow \(before) (as events \(previous.seq) and \(k.seq)); line \(n) was inserted"
            )
        }
        if k.seq == expectedSeq {
            if n == 1 {
                return AuditProblem(
                    line: 1, kind: .edited,
                    message: "the first event's prev is not 64 zeros; it was changed after it was written")
            }
            return AuditProblem(
                line: n - 1, kind: .edited,
                message:
                    "line \(n)'s prev does not match line \(n - 1): line \(n - 1) was changed after line \(n) was written"
            )
        }
        if k.seq > expectedSeq {
            if let at = facts.gapLine {
                return AuditProblem(
                    line: n, kind: .reordered,
                    message:
                        "it holds event \(k.seq) where event \(expectedSeq) should be; event \(facts.gapSeq ?? expectedSeq) is at line \(at)"
                )
            }
            let missing = k.seq - expectedSeq
            let which =
                missing == 1 ? "event \(expectedSeq) is" : "events \(expectedSeq) to \(k.seq - 1) (\(missing)) are"
            return AuditProblem(line: n, kind: .deleted, message: "\(which) missing before this line")
        }
        return AuditProblem(
            line: n, kind: .inserted,
            message:
                "it holds event \(k.seq), which the log already passed (line \(n - 1) holds event \(previous?.seq ?? 0))"
        )
    }

    private enum Examined {
        case entry(Entry)
        case problem(AuditProblem)
    }

    private struct Facts {
        var seqElsewhere: Int?
        var lineWithDigest: Int?
        var gapLine: Int?
        var gapSeq: Int64?
    }

    /// Lines other than `excluding` holding `seq`, holding a seq in `gap`, and whose digest is `digest`.
    private static func scan(path: String, excluding: Int, seq: Int64, gap: Range<Int64>, digest: String) throws
        -> Facts
    {
        var facts = Facts()
        var reader = LineReader(file: try InputFile(path: path), limit: maxLineBytes)
        while let line = try reader.next() {
            guard line.number != excluding, line.terminated, !line.tooLong,
                let value = try? JSONParser.parse(line.bytes, limits: lineLimits), let s = value["seq"]?.int64Value
            else { continue }
            if s == seq, facts.seqElsewhere == nil { facts.seqElsewhere = line.number }
            if gap.contains(s), facts.gapLine == nil {
                facts.gapLine = line.number
                facts.gapSeq = s
            }
            if facts.lineWithDigest == nil, SHA256Digest.of(line.bytes).hex == digest {
                facts.lineWithDigest = line.number
            }
        }
        return facts
    }

    /// The line as an event, or why it is not one (malformed, or edited when its content no longer
    /// matches its hash or its form is not the one ivpack writes).
    private static func examine(_ line: LineReader.Line) -> Examined {
        func malformed(_ why: String) -> Examined {
            .problem(AuditProblem(line: line.number, kind: .malformed, message: why))
        }
        if line.tooLong { return malformed("it is longer than \(maxLineBytes) bytes") }
        if !line.terminated { return malformed("it has no newline: the write of the last event was cut short") }
        if line.bytes.isEmpty { return malformed("it is empty") }
        let value: JSONValue
        do { value = try JSONParser.parse(line.bytes, limits: lineLimits) } catch {
            return malformed("not JSON: \(error)")
        }
        guard let object = value.objectValue else { return malformed("it is \(value.typeName), not an event object") }
        if let extra = object.first(where: { !members.contains($0.key) }) {
            return malformed("unknown member \"\(extra.key)\"")
        }
        if let missing = members.first(where: { value[$0] == nil }) {
            return malformed("member \"\(missing)\" is missing")
        }
        guard let seq = value["seq"]?.int64Value, seq >= 1, seq < maxSeq else {
            return malformed("seq is not a whole number from 1")
        }
        for key in ["time", "operator", "host", "command"] where value[key]?.stringValue == nil {
            return malformed("\(key) is not a text")
        }
        guard isTime(value["time"]!.stringValue!) else { return malformed("time is not YYYY-MM-DDThh:mm:ss.sssZ") }
        guard let parameters = value["parameters"]?.arrayValue, parameters.allSatisfy({ $0.stringValue != nil }) else {
            return malformed("parameters is not a list of texts")
        }
        guard value["result"]?.int64Value != nil else { return malformed("result is not a whole number") }
        guard let d = value["durationMs"]?.int64Value, d >= 0 else {
            return malformed("durationMs is not a whole number from 0")
        }
        guard let prev = value["prev"]?.stringValue, isHex64(prev) else {
            return malformed("prev is not 64 lower-case hex digits")
        }
        guard let hash = value["hash"]?.stringValue, isHex64(hash) else {
            return malformed("hash is not 64 lower-case hex digits")
        }
        let body = object.filter { $0.key != "hash" }
        if SHA256Digest.of(CanonicalJSON.encode(.object(body))).hex != hash {
            return .problem(
                AuditProblem(
                    line: line.number, kind: .edited,
                    message: "its content does not match its hash: it was changed after it was written"))
        }
        if CanonicalJSON.encode(value) != line.bytes {
            return .problem(
                AuditProblem(
                    line: line.number, kind: .edited,
                    message: "it is not in the form ivpack writes (canonical JSON): it was rewritten"))
        }
        return .entry(Entry(number: line.number, digest: SHA256Digest.of(line.bytes).hex, seq: seq, prev: prev))
    }

    private static func isHex64(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    private static func isTime(_ s: String) -> Bool {
        // YYYY-MM-DDThh:mm:ss.sssZ
        let pattern = Array("dddd-dd-ddTdd:dd:dd.dddZ".utf8)
        let bytes = Array(s.utf8)
        guard bytes.count == pattern.count else { return false }
        return zip(bytes, pattern).allSatisfy { b, p in p == UInt8(ascii: "d") ? (b >= 0x30 && b <= 0x39) : b == p }
    }
}

/// Reads a file line by line in chunks, with memory bounded by the longest line allowed.
struct LineReader {
    struct Line {
        /// 1-based.
        var number: Int
        /// The line without its newline (empty when it was too long).
        var bytes: [UInt8]
        /// Whether a newline ended it (false only for a final line cut short).
        var terminated: Bool
        var tooLong: Bool
    }

    let file: InputFile
    let limit: Int
    private var offset: Int64 = 0
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private(set) var linesRead = 0

    init(file: InputFile, limit: Int) {
        self.file = file
        self.limit = limit
    }

    mutating func next() throws -> Line? {
        var current: [UInt8] = []
        var tooLong = false
        while true {
            if position == buffer.count {
                if atEnd { break }
                buffer = try file.readBytes(count: 1 << 20, at: offset)
                offset += Int64(buffer.count)
                position = 0
                if buffer.isEmpty {
                    atEnd = true
                    break
                }
            }
            if let newline = buffer[position...].firstIndex(of: 0x0A) {
                if !tooLong {
                    current.append(contentsOf: buffer[position..<newline])
                    if current.count > limit {
                        tooLong = true
                        current = []
                    }
                }
                position = newline + 1
                linesRead += 1
                return Line(number: linesRead, bytes: current, terminated: true, tooLong: tooLong)
            }
            if !tooLong {
                current.append(contentsOf: buffer[position...])
                if current.count > limit {
                    tooLong = true
                    current = []
                }
            }
            position = buffer.count
        }
        guard !current.isEmpty || tooLong else { return nil }
        linesRead += 1
        return Line(number: linesRead, bytes: current, terminated: false, tooLong: tooLong)
    }
}
