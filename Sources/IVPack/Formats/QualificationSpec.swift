/// How a release is qualified on site (issue 16): the spec's `qualification:` section, carried
/// signed into the manifest's `qualification` member and run by `ivpack qualify` against the
/// active installed release. See docs/qualification.md.
///
/// The vendor states the checks; the site runs them and records every measured value. A release
/// either has cases and metrics, or declares on-site qualification not applicable with a reason
/// (`notApplicable`), which every report then states.
///
/// Manifest form (canonical JSON, keys sorted; times in whole milliseconds or seconds, fractions
/// in permille, so the member holds integers only like the rest of the manifest):
///
///     "qualification": {"cases": [{"clause": "4.3.1", "expect": {"json": {"$.status": "ok"}, "status": 200},
///       "http": {"method": "GET", "url": "http://127.0.0.1:{port}/healthz"}, "id": "health",
///       "timeoutSeconds": 10, "title": "The service answers"}], "dataset": {...}, "metrics": {...},
///       "service": {"ready": "http://127.0.0.1:{port}/healthz", "run": [...], "startTimeoutSeconds": 30}}
public struct QualificationSpec: Sendable, Equatable {
    /// The release's own service, started by ivpack for the run and stopped after it.
    public struct Service: Sendable, Equatable {
        /// `run[0]` is a release program (0755); `{port}` in any argument becomes the free loopback
        /// port ivpack chose (also in IVPACK_QUALIFY_PORT).
        public var run: [String]
        /// The URL ivpack polls with GET until it answers 200 (`{port}` allowed).
        public var ready: String
        /// Seconds the service has to become ready.
        public var startTimeoutSeconds: Int

        public init(run: [String], ready: String, startTimeoutSeconds: Int = 30) {
            self.run = run
            self.ready = ready
            self.startTimeoutSeconds = startTimeoutSeconds
        }
    }

    /// The reference dataset: a component of the release whose labels file lists the cases.
    public struct Dataset: Sendable, Equatable {
        /// The component that ships the dataset (its files pinned by the manifest's digests).
        public var component: String
        /// The labels file (release-relative, a file of `component`), format
        /// `ivpack-qualification-labels/1` (Schemas/qualification-labels.schema.json).
        public var labels: String

        public init(component: String, labels: String) {
            self.component = component
            self.labels = labels
        }
    }

    /// An HTTP(S) request of a probe.
    public struct Request: Sendable, Equatable {
        public var method: String
        /// `http://` or `https://`; `{port}` is the started service's port.
        public var url: String
        /// A release file sent as the body; nil for none (a metric's request takes each case's input).
        public var body: String?
        public var contentType: String?

        public init(method: String, url: String, body: String? = nil, contentType: String? = nil) {
            self.method = method
            self.url = url
            self.body = body
            self.contentType = contentType
        }
    }

    /// What a case's answer must be.
    public struct Expectation: Sendable, Equatable {
        /// The HTTP status (HTTP cases; 200 when the spec gives none).
        public var status: Int?
        /// The exit status (command cases; 0 when the spec gives none).
        public var exitStatus: Int?
        /// JSON-path (`$.a.b[0]`) → the value the answer must hold there; `{version}` in a string
        /// is the release version.
        public var json: [(path: String, value: JSONValue)]
        /// A regular expression the body (HTTP) or the output (command) must contain a match of.
        public var regex: String?
        /// The SHA-256 the answer's body must have (HTTP cases).
        public var sha256: String?

        public init(
            status: Int? = nil, exitStatus: Int? = nil, json: [(path: String, value: JSONValue)] = [],
            regex: String? = nil, sha256: String? = nil
        ) {
            self.status = status
            self.exitStatus = exitStatus
            self.json = json
            self.regex = regex
            self.sha256 = sha256
        }

        public static func == (a: Expectation, b: Expectation) -> Bool {
            a.status == b.status && a.exitStatus == b.exitStatus && a.regex == b.regex && a.sha256 == b.sha256
                && a.json.count == b.json.count
                && zip(a.json, b.json).allSatisfy { $0.path == $1.path && $0.value == $1.value }
        }
    }

    /// One function check (clause 4.3.1): an HTTP probe or a command of the release.
    public struct Case: Sendable, Equatable {
        /// Lower case letters, digits and hyphens: the check is `qualification.case.ID`.
        public var id: String
        /// The clause of the IQ standard the case serves, e.g. `4.3.1 b`.
        public var clause: String
        public var title: String
        public var http: Request?
        /// A release program (0755) and its arguments, run without a shell in the release folder.
        public var run: [String]?
        public var expect: Expectation
        public var timeoutSeconds: Int

        public init(
            id: String, clause: String, title: String, http: Request? = nil, run: [String]? = nil,
            expect: Expectation, timeoutSeconds: Int = QualificationSpec.defaultTimeout
        ) {
            self.id = id
            self.clause = clause
            self.title = title
            self.http = http
            self.run = run
            self.expect = expect
            self.timeoutSeconds = timeoutSeconds
        }
    }

    /// Baseline performance over the reference dataset (clause 4.3.2).
    public struct Metrics: Sendable, Equatable {
        /// The request each dataset case is sent with (its input file as the body).
        public var request: Request
        /// The JSON path of the answer compared with a case's label.
        public var answer: String
        /// Seconds one request may take.
        public var timeoutSeconds: Int
        /// Latency thresholds over the cases, sent one after the other.
        public var latency: (p50Milliseconds: Int, p95Milliseconds: Int)?
        /// `requests` cases sent by `clients` clients at once; the share that must succeed.
        public var concurrency: (clients: Int, requests: Int, minSuccessPermille: Int)?
        /// The share of cases whose answer equals the label, at least.
        public var accuracyMinPermille: Int?
        /// Peak resident memory of the service's processes and peak CPU (100 = one core).
        public var maxMemoryBytes: Int64?
        public var maxCPUPercent: Int?
        /// Peak GPU memory of the service's processes (nvidia-smi); a site without nvidia-smi
        /// cannot check it, which fails unless accepted (`--accept-unchecked gpu-memory`).
        public var maxGPUMemoryBytes: Int64?

        public init(request: Request, answer: String, timeoutSeconds: Int = QualificationSpec.defaultTimeout) {
            self.request = request
            self.answer = answer
            self.timeoutSeconds = timeoutSeconds
        }

        public static func == (a: Metrics, b: Metrics) -> Bool {
            a.request == b.request && a.answer == b.answer && a.timeoutSeconds == b.timeoutSeconds
                && a.latency?.p50Milliseconds == b.latency?.p50Milliseconds
                && a.latency?.p95Milliseconds == b.latency?.p95Milliseconds
                && a.concurrency?.clients == b.concurrency?.clients
                && a.concurrency?.requests == b.concurrency?.requests
                && a.concurrency?.minSuccessPermille == b.concurrency?.minSuccessPermille
                && a.accuracyMinPermille == b.accuracyMinPermille && a.maxMemoryBytes == b.maxMemoryBytes
                && a.maxCPUPercent == b.maxCPUPercent && a.maxGPUMemoryBytes == b.maxGPUMemoryBytes
        }

        /// Whether any resource threshold is set.
        public var hasResourceLimits: Bool { maxMemoryBytes != nil || maxCPUPercent != nil || maxGPUMemoryBytes != nil }
    }

    public static let defaultTimeout = 30
    public static let maxTimeout = 3600
    public static let maxCases = 256
    public static let maxConcurrency = 256
    public static let maxRequests = 100_000
    public static let methods = ["GET", "POST", "PUT", "DELETE", "HEAD"]

    public var service: Service?
    public var dataset: Dataset?
    public var cases: [Case]
    public var metrics: Metrics?
    /// The vendor's reason why on-site qualification does not apply to this release; no cases,
    /// dataset, service or metrics then.
    public var notApplicable: String?

    public init(
        service: Service? = nil, dataset: Dataset? = nil, cases: [Case] = [], metrics: Metrics? = nil,
        notApplicable: String? = nil
    ) {
        self.service = service
        self.dataset = dataset
        self.cases = cases
        self.metrics = metrics
        self.notApplicable = notApplicable
    }
}

// MARK: - Rules

extension QualificationSpec {
    /// Why a value of the qualification section is refused: one set of rules for the spec and both
    /// manifest readers.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case badID
        case duplicateID
        case badMethod
        case badURL
        case portWithoutService
        case badJSONPath
        case badRegex(String)
        case badDigest
        case noProbe
        case twoProbes
        case statusOutOfRange
        case exitStatusOutOfRange
        case wrongExpectation(String)
        case timeoutOutOfRange(Int64)
        case notAFile
        case notInComponent(String)
        case noSuchComponent
        case programNotExecutable(mode: String)
        case needsDataset
        case resourcesNeedService
        case notApplicableWithChecks
        case empty
        case outOfRange(String)
        case badText

        public var description: String {
            switch self {
            case .badID:
                return "an id is 1 to 64 lower-case letters, digits and hyphens, starting with a letter or digit"
            case .duplicateID: return "the id is used by an earlier case"
            case .badMethod: return "the method is not one of \(QualificationSpec.methods.joined(separator: ", "))"
            case .badURL: return "not an http:// or https:// URL with a host"
            case .portWithoutService: return "{port} names the started service, and the section has no service"
            case .badJSONPath: return "not a JSON path such as $.label or $.findings[0].score"
            case .badRegex(let why): return "not a regular expression: \(why)"
            case .badDigest: return "not 64 lower-case hex digits"
            case .noProbe: return "a case needs http or run"
            case .twoProbes: return "a case has either http or run, not both"
            case .statusOutOfRange: return "an HTTP status is 100 to 599"
            case .exitStatusOutOfRange: return "an exit status is 0 to 255"
            case .wrongExpectation(let what): return what
            case .timeoutOutOfRange(let s): return "\(s) s is outside 1 s to \(QualificationSpec.maxTimeout) s"
            case .notAFile: return "not a file of the release"
            case .notInComponent(let c): return "not a file of the component \"\(c)\""
            case .noSuchComponent: return "no component has this name"
            case .programNotExecutable(let mode): return "not executable: its mode is \(mode), a program's is 0755"
            case .needsDataset: return "metrics run over the reference dataset, and the section has no dataset"
            case .resourcesNeedService:
                return "resource thresholds apply to the service ivpack starts, and the section has no service"
            case .notApplicableWithChecks:
                return "a section that declares qualification not applicable has no service, dataset, cases or metrics"
            case .empty:
                return "the section has no case and no metric, and does not declare qualification not applicable"
            case .outOfRange(let what): return what
            case .badText: return "empty, over 4096 bytes, or has a control character"
            }
        }

        public var hint: String {
            switch self {
            case .badID, .duplicateID: return "Give each case its own id, e.g. version-endpoint"
            case .badMethod, .badURL, .portWithoutService:
                return "Write e.g. {method: POST, url: \"http://127.0.0.1:{port}/v1/classify\"} with a service to start"
            case .badJSONPath: return "Start with $ and name members with .NAME and array items with [N]"
            case .badRegex: return "Check the expression; write a literal dot as \\\\."
            case .notAFile, .notInComponent, .noSuchComponent:
                return "Name a file one of the components ships, relative to the spec's folder"
            case .programNotExecutable: return "Add it to install.executables, or chmod +x it in the release folder"
            case .needsDataset: return "Add dataset: {component: NAME, labels: PATH}"
            case .notApplicableWithChecks, .empty:
                return "Either list cases and metrics, or write notApplicable: REASON alone"
            default: return "See docs/qualification.md"
            }
        }
    }

    /// One step of a JSON path.
    public enum PathStep: Sendable, Equatable {
        case member(String)
        case index(Int)
    }

    /// The steps of a JSON path `$`, `$.name`, `$.a.b[3]`, `$["odd key"]` is not supported: member
    /// names are letters, digits, `_` and `-`.
    public static func parseJSONPath(_ text: String) -> [PathStep]? {
        var chars = Substring(text)
        guard chars.first == "$" else { return nil }
        chars = chars.dropFirst()
        var steps: [PathStep] = []
        while let c = chars.first {
            if c == "." {
                chars = chars.dropFirst()
                let name = chars.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
                guard !name.isEmpty else { return nil }
                steps.append(.member(String(name)))
                chars = chars.dropFirst(name.count)
            } else if c == "[" {
                chars = chars.dropFirst()
                let digits = chars.prefix { $0.isASCII && $0.isNumber }
                guard !digits.isEmpty, digits.count <= 6, let n = Int(digits) else { return nil }
                chars = chars.dropFirst(digits.count)
                guard chars.first == "]" else { return nil }
                chars = chars.dropFirst()
                steps.append(.index(n))
            } else {
                return nil
            }
        }
        return text.utf8.count <= 256 ? steps : nil
    }

    /// The value at `steps` in `value`, nil when there is none.
    public static func lookup(_ steps: [PathStep], in value: JSONValue) -> JSONValue? {
        var v = value
        for step in steps {
            switch step {
            case .member(let name):
                guard let next = v[name] else { return nil }
                v = next
            case .index(let i):
                guard let a = v.arrayValue, i < a.count else { return nil }
                v = a[i]
            }
        }
        return v
    }

    static func checkID(_ id: String) -> Problem? {
        guard (1...64).contains(id.utf8.count), let first = id.utf8.first,
            first != UInt8(ascii: "-"),
            id.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D })
        else { return .badID }
        return nil
    }

    static func checkURL(_ url: String, hasService: Bool) -> Problem? {
        guard let parts = URLParts(url) else { return .badURL }
        return parts.usesServicePort && !hasService ? .portWithoutService : nil
    }

    static func checkRegex(_ text: String) -> Problem? {
        guard text.utf8.count <= 1024 else { return .badRegex("longer than 1024 bytes") }
        do {
            _ = try Regex(text)
            return nil
        } catch {
            return .badRegex("\(error)")
        }
    }

    static func checkTimeout(_ seconds: Int64) -> Problem? {
        (1...Int64(maxTimeout)).contains(seconds) ? nil : .timeoutOutOfRange(seconds)
    }

    static func checkText(_ text: String) -> Problem? {
        guard !text.isEmpty, text.utf8.count <= 4096,
            !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { return .badText }
        return nil
    }

    /// Milliseconds in a spec duration: a whole number followed by `ms`, `s` or `m`.
    public static func parseMilliseconds(_ text: String) -> Int64? {
        let (digits, factor): (Substring, Int64)
        if text.hasSuffix("ms") {
            (digits, factor) = (text.dropLast(2), 1)
        } else if text.hasSuffix("s") {
            (digits, factor) = (text.dropLast(), 1000)
        } else if text.hasSuffix("m") {
            (digits, factor) = (text.dropLast(), 60_000)
        } else {
            return nil
        }
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let n = Int64(digits)
        else { return nil }
        return n * factor
    }

    /// Permille in a fraction written `0.95`, `1`, `1.0` or `95%`, exactly (no float rounding);
    /// nil above 1 or with more than three decimals.
    public static func parsePermille(_ text: String) -> Int? {
        if text.hasSuffix("%") {
            guard let d = thousandths(text.dropLast()), d % 100 == 0, d <= 100_000 else { return nil }
            return d / 100
        }
        guard let d = thousandths(Substring(text)), d <= 1000 else { return nil }
        return d
    }

    /// A decimal number with at most three decimals, times 1000.
    private static func thousandths(_ text: Substring) -> Int? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), (1...6).contains(parts[0].count),
            parts[0].allSatisfy({ $0.isASCII && $0.isNumber }), let whole = Int(parts[0])
        else { return nil }
        var fraction = 0
        if parts.count == 2 {
            let f = parts[1]
            guard (1...3).contains(f.count), f.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            fraction = Int(f + String(repeating: "0", count: 3 - f.count))!
        }
        return whole * 1000 + fraction
    }

    /// Checks what only the release's files can tell: `modeOf` gives a release-relative file's
    /// manifest mode (nil when the release has no such file), `componentOf` its component's name,
    /// `components` every component's name. Returns the first problem with the field it concerns
    /// (in the manifest's terms: `cases/2/http/body`).
    public func fileProblem(
        modeOf: (String) -> String?, componentOf: (String) -> String?, components: Set<String>
    ) -> (field: String, value: String, problem: Problem)? {
        func program(_ run: [String], _ field: String) -> (String, String, Problem)? {
            guard let mode = modeOf(run[0]) else { return (field, run[0], .notAFile) }
            return mode == "0755" ? nil : (field, run[0], .programNotExecutable(mode: mode))
        }
        if let service, let p = program(service.run, "service/run/0") { return p }
        if let dataset {
            guard components.contains(dataset.component) else {
                return ("dataset/component", dataset.component, .noSuchComponent)
            }
            guard componentOf(dataset.labels) == dataset.component else {
                return ("dataset/labels", dataset.labels, .notInComponent(dataset.component))
            }
        }
        for (i, c) in cases.enumerated() {
            if let run = c.run, let p = program(run, "cases/\(i)/run/0") { return p }
            if let body = c.http?.body, modeOf(body) == nil { return ("cases/\(i)/http/body", body, .notAFile) }
        }
        return nil
    }

    /// Checks the rules between members (not file references): ids unique, metrics need a
    /// dataset, `{port}` needs a service, a not-applicable section has nothing else, an
    /// applicable one has a case or a metric. The field is in the manifest's terms.
    public func structureProblem() -> (field: String, problem: Problem)? {
        if notApplicable != nil {
            if service != nil || dataset != nil || !cases.isEmpty || metrics != nil {
                return ("notApplicable", .notApplicableWithChecks)
            }
            return nil
        }
        if cases.isEmpty && metrics == nil { return ("", .empty) }
        var seen = Set<String>()
        for (i, c) in cases.enumerated() where !seen.insert(c.id).inserted { return ("cases/\(i)/id", .duplicateID) }
        if metrics != nil && dataset == nil { return ("metrics", .needsDataset) }
        if let m = metrics, m.hasResourceLimits, service == nil {
            return ("metrics", .resourcesNeedService)
        }
        let hasService = service != nil
        for (i, c) in cases.enumerated() {
            if let url = c.http?.url, let p = Self.checkURL(url, hasService: hasService) {
                return ("cases/\(i)/http/url", p)
            }
        }
        if let m = metrics, let p = Self.checkURL(m.request.url, hasService: hasService) {
            return ("metrics/request/url", p)
        }
        return nil
    }
}

/// The parts of an `http://` or `https://` URL that a probe needs; `{port}` stands for a port.
public struct URLParts: Sendable, Equatable {
    public var tls: Bool
    public var host: String
    /// nil when the URL names `{port}` or no port (then 80 or 443).
    public var port: Int?
    public var usesServicePort: Bool
    /// The path and query, `/` when none.
    public var target: String

    public init?(_ url: String) {
        let rest: Substring
        if url.hasPrefix("http://") {
            tls = false
            rest = url.dropFirst(7)
        } else if url.hasPrefix("https://") {
            tls = true
            rest = url.dropFirst(8)
        } else {
            return nil
        }
        guard url.utf8.count <= 2048,
            !url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0 == "#" || $0 == "\\" })
        else { return nil }
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        target = rest.count == authority.count ? "/" : String(rest.dropFirst(authority.count))
        if target.hasPrefix("?") { target = "/" + target }
        guard !authority.contains("@") else { return nil }
        var hostPart = authority
        usesServicePort = false
        port = nil
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            let portText = authority[authority.index(after: colon)...]
            hostPart = authority[..<colon]
            if portText == "{port}" {
                usesServicePort = true
            } else {
                guard let p = Int(portText), (1...65535).contains(p), portText.allSatisfy(\.isNumber) else {
                    return nil
                }
                port = p
            }
        }
        if hostPart.hasPrefix("[") && hostPart.hasSuffix("]") { hostPart = hostPart.dropFirst().dropLast() }
        guard !hostPart.isEmpty,
            hostPart.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":") })
        else { return nil }
        host = String(hostPart)
        // `{port}` is the only placeholder, and only in the authority.
        guard !target.contains("{"), !target.contains("}") else { return nil }
    }

    /// The port to connect to, given the started service's port.
    public func port(service: Int?) -> Int? {
        if usesServicePort { return service }
        return port ?? (tls ? 443 : 80)
    }
}
