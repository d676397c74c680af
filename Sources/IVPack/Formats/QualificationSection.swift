import Yams

/// The spec's `qualification:` section as read (docs/qualification.md): the manifest's
/// `qualification` member and where each value was written, for the problems only the build can
/// see (a program or body that is not a file of the release, a labels file outside its component).
public struct QualificationSection: Sendable, Equatable {
    /// What the manifest carries.
    public var spec: QualificationSpec
    /// Where values were written, by their field in the manifest's terms (`cases/2/http/body`).
    public var locations: [String: SpecLocation]

    /// Reads `qualification:`; every rule that needs no file is checked here.
    static func parse(_ reader: YAMLReader, _ node: Node) throws -> QualificationSection {
        let f = "qualification"
        var locations: [String: SpecLocation] = [:]
        func at(_ node: Node?, _ key: String, _ field: String) {
            locations[key] = SpecLocation(line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0, field: field)
        }
        func refuse(_ node: Node?, _ field: String, _ text: String?, _ problem: QualificationSpec.Problem) -> InputError
        {
            reader.error(node, field, (text.map { "\"\($0)\": " } ?? "") + "\(problem)", hint: problem.hint)
        }
        func text(_ node: Node, _ field: String) throws -> String {
            let s = try reader.string(node, field)
            if let p = QualificationSpec.checkText(s) { throw refuse(node, field, nil, p) }
            return s
        }
        func seconds(_ node: Node?, _ field: String, default value: Int) throws -> Int {
            guard let node else { return value }
            let t = try reader.string(node, field)
            guard let ms = QualificationSpec.parseMilliseconds(t), ms % 1000 == 0 else {
                throw reader.error(node, field, "\"\(t)\" is not a whole number of seconds or minutes, e.g. 30s or 5m")
            }
            if let p = QualificationSpec.checkTimeout(ms / 1000) { throw refuse(node, field, t, p) }
            return Int(ms / 1000)
        }
        func program(_ node: Node, _ field: String, _ key: String) throws -> [String] {
            let items = try reader.sequence(node, field)
            guard items.count <= 1 + InstallSpec.maxHookArguments else {
                throw reader.error(node, field, "more than \(InstallSpec.maxHookArguments) arguments")
            }
            at(items[0], key, "\(field)[0]")
            var run = [try ReleaseSpec.path(reader, items[0], "\(field)[0]")]
            for (i, a) in items.enumerated().dropFirst() { run.append(try reader.string(a, "\(field)[\(i)]")) }
            return run
        }
        func url(_ node: Node, _ field: String, _ key: String) throws -> String {
            let u = try reader.string(node, field)
            guard URLParts(u) != nil else { throw refuse(node, field, u, .badURL) }
            at(node, key, field)
            return u
        }
        func request(_ node: Node, _ field: String, _ key: String, body allowed: Bool) throws
            -> QualificationSpec.Request
        {
            let r = try reader.mapping(
                node, field,
                allowed: allowed ? ["method", "url", "body", "contentType"] : ["method", "url", "contentType"],
                required: ["method", "url"])
            let method = try reader.string(r["method"]!, "\(field).method")
            guard QualificationSpec.methods.contains(method) else {
                throw refuse(r["method"], "\(field).method", method, .badMethod)
            }
            var body: String?
            if let b = r["body"] {
                body = try ReleaseSpec.path(reader, b, "\(field).body")
                at(b, "\(key)/body", "\(field).body")
            }
            return QualificationSpec.Request(
                method: method, url: try url(r["url"]!, "\(field).url", "\(key)/url"), body: body,
                contentType: try r["contentType"].map { try text($0, "\(field).contentType") })
        }
        func jsonPath(_ node: Node, _ field: String) throws -> String {
            let s = try reader.string(node, field)
            guard QualificationSpec.parseJSONPath(s) != nil else { throw refuse(node, field, s, .badJSONPath) }
            return s
        }
        /// A YAML scalar as the JSON value an answer must hold: a quoted scalar is a string; a plain
        /// one is true/false/null, a whole number, or else a string.
        func scalar(_ node: Node, _ field: String) throws -> JSONValue {
            guard case .scalar(let s) = node else {
                throw reader.error(node, field, "expected a string, whole number, true, false or null")
            }
            if s.style == .plain {
                switch s.string {
                case "true": return .bool(true)
                case "false": return .bool(false)
                case "null", "~": return .null
                default: if let n = Int64(s.string) { return .integer(n) }
                }
                if Double(s.string) != nil {
                    throw reader.error(
                        node, field, "\"\(s.string)\" is a fraction; an expected value is text or a whole number",
                        hint: "Put it in quotes to compare as text")
                }
            }
            return .string(try reader.string(node, field))
        }

        let m = try reader.mapping(
            node, f, allowed: ["notApplicable", "service", "dataset", "cases", "metrics"])
        var spec = QualificationSpec()
        if let n = m["notApplicable"] {
            spec.notApplicable = try text(n, "\(f).notApplicable")
            at(n, "notApplicable", "\(f).notApplicable")
        }
        if let n = m["service"] {
            let sf = "\(f).service"
            let s = try reader.mapping(n, sf, allowed: ["run", "ready", "startTimeout"], required: ["run", "ready"])
            spec.service = QualificationSpec.Service(
                run: try program(s["run"]!, "\(sf).run", "service/run/0"),
                ready: try url(s["ready"]!, "\(sf).ready", "service/ready"),
                startTimeoutSeconds: try seconds(s["startTimeout"], "\(sf).startTimeout", default: 30))
        }
        if let n = m["dataset"] {
            let df = "\(f).dataset"
            let d = try reader.mapping(n, df, allowed: ["component", "labels"], required: ["component", "labels"])
            at(d["component"], "dataset/component", "\(df).component")
            at(d["labels"], "dataset/labels", "\(df).labels")
            spec.dataset = QualificationSpec.Dataset(
                component: try reader.string(d["component"]!, "\(df).component"),
                labels: try ReleaseSpec.path(reader, d["labels"]!, "\(df).labels"))
        }
        if let n = m["cases"] {
            let items = try reader.sequence(n, "\(f).cases")
            guard items.count <= QualificationSpec.maxCases else {
                throw reader.error(n, "\(f).cases", "more than \(QualificationSpec.maxCases) cases")
            }
            for (i, item) in items.enumerated() {
                let cf = "\(f).cases[\(i)]"
                let key = "cases/\(i)"
                let c = try reader.mapping(
                    item, cf, allowed: ["id", "clause", "title", "http", "run", "expect", "timeout"],
                    required: ["id", "clause", "title"])
                let id = try reader.string(c["id"]!, "\(cf).id")
                if let p = QualificationSpec.checkID(id) { throw refuse(c["id"], "\(cf).id", id, p) }
                at(c["id"], "\(key)/id", "\(cf).id")
                guard (c["http"] == nil) != (c["run"] == nil) else {
                    throw refuse(item, cf, nil, c["http"] == nil ? .noProbe : .twoProbes)
                }
                let ef = "\(cf).expect"
                let e =
                    try c["expect"].map {
                        try reader.mapping($0, ef, allowed: ["status", "exitStatus", "json", "regex", "sha256"])
                    } ?? [:]
                var expect = QualificationSpec.Expectation()
                if let r = e["regex"] {
                    let regex = try reader.string(r, "\(ef).regex")
                    if let p = QualificationSpec.checkRegex(regex) { throw refuse(r, "\(ef).regex", regex, p) }
                    expect.regex = regex
                }
                if c["http"] != nil {
                    if let x = e["exitStatus"] {
                        throw refuse(x, "\(ef).exitStatus", nil, .wrongExpectation("an HTTP case has no exit status"))
                    }
                    expect.status = Int(
                        try e["status"].map { try reader.integer($0, "\(ef).status", range: 100...599) } ?? 200)
                    if let j = e["json"] {
                        guard case .mapping(let ordered) = j, !ordered.isEmpty else {
                            throw reader.error(j, "\(ef).json", "expected a mapping of JSON paths to values")
                        }
                        for (k, v) in ordered {
                            guard case .scalar(let ks) = k, QualificationSpec.parseJSONPath(ks.string) != nil else {
                                throw refuse(k, "\(ef).json", k.string, .badJSONPath)
                            }
                            guard !expect.json.contains(where: { $0.path == ks.string }) else {
                                throw reader.error(
                                    k, "\(ef).json", "\"\(ks.string)\" appears twice", hint: "Keep one of them")
                            }
                            expect.json.append((ks.string, try scalar(v, "\(ef).json.\(ks.string)")))
                        }
                        // The manifest member is an object: its keys are written sorted.
                        expect.json.sort { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
                    }
                    if let d = e["sha256"] {
                        let hex = try reader.string(d, "\(ef).sha256")
                        guard SHA256Digest(hex: hex) != nil else { throw refuse(d, "\(ef).sha256", hex, .badDigest) }
                        expect.sha256 = hex
                    }
                } else {
                    for k in ["status", "json", "sha256"] {
                        if let x = e[k] {
                            throw refuse(
                                x, "\(ef).\(k)", nil,
                                .wrongExpectation("a command case expects exitStatus and regex only"))
                        }
                    }
                    expect.exitStatus = Int(
                        try e["exitStatus"].map { try reader.integer($0, "\(ef).exitStatus", range: 0...255) } ?? 0)
                }
                spec.cases.append(
                    QualificationSpec.Case(
                        id: id, clause: try text(c["clause"]!, "\(cf).clause"),
                        title: try text(c["title"]!, "\(cf).title"),
                        http: try c["http"].map { try request($0, "\(cf).http", "\(key)/http", body: true) },
                        run: try c["run"].map { try program($0, "\(cf).run", "\(key)/run/0") }, expect: expect,
                        timeoutSeconds: try seconds(
                            c["timeout"], "\(cf).timeout", default: QualificationSpec.defaultTimeout)
                    ))
            }
        }
        if let n = m["metrics"] {
            let mf = "\(f).metrics"
            at(n, "metrics", mf)
            let o = try reader.mapping(
                n, mf, allowed: ["request", "answer", "timeout", "latency", "concurrency", "accuracy", "resources"],
                required: ["request", "answer"])
            var metrics = QualificationSpec.Metrics(
                request: try request(o["request"]!, "\(mf).request", "metrics/request", body: false),
                answer: try jsonPath(o["answer"]!, "\(mf).answer"),
                timeoutSeconds: try seconds(o["timeout"], "\(mf).timeout", default: QualificationSpec.defaultTimeout))
            func milliseconds(_ node: Node, _ field: String) throws -> Int {
                let t = try reader.string(node, field)
                guard let ms = QualificationSpec.parseMilliseconds(t),
                    (1...Int64(QualificationSpec.maxTimeout) * 1000).contains(ms)
                else {
                    throw reader.error(node, field, "\"\(t)\" is not a duration from 1ms to 60m, e.g. 250ms or 2s")
                }
                return Int(ms)
            }
            func permille(_ node: Node, _ field: String) throws -> Int {
                guard case .scalar(let s) = node, let p = QualificationSpec.parsePermille(s.string) else {
                    throw reader.error(
                        node, field, "expected a fraction from 0 to 1 with at most three decimals, or a percentage",
                        hint: "Write e.g. 0.95 or 95%")
                }
                return p
            }
            if let l = o["latency"] {
                let lf = "\(mf).latency"
                let lm = try reader.mapping(l, lf, allowed: ["p50", "p95"], required: ["p50", "p95"])
                metrics.latency = (
                    p50Milliseconds: try milliseconds(lm["p50"]!, "\(lf).p50"),
                    p95Milliseconds: try milliseconds(lm["p95"]!, "\(lf).p95")
                )
                if metrics.latency!.p50Milliseconds > metrics.latency!.p95Milliseconds {
                    throw reader.error(
                        lm["p95"], "\(lf).p95", "is below p50: the 95th percentile is never below the median",
                        hint: "Give p95 at least the value of p50")
                }
            }
            if let c = o["concurrency"] {
                let cf = "\(mf).concurrency"
                let cm = try reader.mapping(
                    c, cf, allowed: ["clients", "requests", "minSuccessRate"], required: ["clients", "requests"])
                metrics.concurrency = (
                    clients: Int(
                        try reader.integer(
                            cm["clients"]!, "\(cf).clients", range: 1...Int64(QualificationSpec.maxConcurrency))),
                    requests: Int(
                        try reader.integer(
                            cm["requests"]!, "\(cf).requests", range: 1...Int64(QualificationSpec.maxRequests))),
                    minSuccessPermille: try cm["minSuccessRate"].map { try permille($0, "\(cf).minSuccessRate") }
                        ?? 1000
                )
            }
            if let a = o["accuracy"] {
                let am = try reader.mapping(a, "\(mf).accuracy", allowed: ["minimum"], required: ["minimum"])
                metrics.accuracyMinPermille = try permille(am["minimum"]!, "\(mf).accuracy.minimum")
            }
            if let r = o["resources"] {
                let rf = "\(mf).resources"
                let rm = try reader.mapping(r, rf, allowed: ["maxMemory", "maxCPU", "maxGPUMemory"])
                guard !rm.isEmpty else { throw reader.error(r, rf, "the mapping is empty") }
                func positiveSize(_ node: Node, _ field: String) throws -> Int64 {
                    let n = try reader.size(node, field)
                    guard n > 0 else { throw reader.error(node, field, "must be more than 0 bytes") }
                    return n
                }
                metrics.maxMemoryBytes = try rm["maxMemory"].map { try positiveSize($0, "\(rf).maxMemory") }
                metrics.maxGPUMemoryBytes = try rm["maxGPUMemory"].map { try positiveSize($0, "\(rf).maxGPUMemory") }
                if let c = rm["maxCPU"] {
                    let t = try reader.string(c, "\(rf).maxCPU")
                    guard t.hasSuffix("%"), let n = Int(t.dropLast()), (1...100_000).contains(n) else {
                        throw reader.error(c, "\(rf).maxCPU", "\"\(t)\" is not a percentage of one core, e.g. 150%")
                    }
                    metrics.maxCPUPercent = n
                }
            }
            spec.metrics = metrics
        }
        let section = QualificationSection(spec: spec, locations: locations)
        if let (field, problem) = spec.structureProblem() {
            throw section.error(field, file: reader.file, problem: "\(problem)", hint: problem.hint, node: node)
        }
        return section
    }

    /// The error for the value at `field` (manifest terms), at the place the spec wrote it.
    func error(_ field: String, file: String, problem: String, hint: String, node: Node? = nil) -> InputError {
        let at =
            locations[field] ?? locations[String(field.split(separator: "/").first ?? "")]
            ?? SpecLocation(line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0, field: "qualification")
        return InputError.yaml(
            file: file, line: at.line, column: at.column, field: at.field, problem: problem, hint: hint)
    }

    /// Checks the section against the release's files: `modes` gives each payload entry's mode
    /// (`payload/...`, after install.executables), `components` each payload entry's component.
    public func check(modes: [String: String], components: [String: String], file: String) throws {
        guard
            let (field, value, problem) = spec.fileProblem(
                modeOf: { modes[Manifest.payloadPrefix + $0] },
                componentOf: { components[Manifest.payloadPrefix + $0] }, components: Set(components.values))
        else { return }
        throw error(field, file: file, problem: "\"\(value)\": \(problem)", hint: problem.hint)
    }
}
