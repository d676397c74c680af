// The manifest member `qualification`: written from the spec by `build`, read by both manifest
// readers with every rule of the spec checked again (a signed manifest is trusted for what it
// says, not for being well formed).

extension QualificationSpec.Request {
    var json: JSONValue {
        var m: [(key: String, value: JSONValue)] = []
        if let body { m.append(("body", .string(body))) }
        if let contentType { m.append(("contentType", .string(contentType))) }
        m.append(("method", .string(method)))
        m.append(("url", .string(url)))
        return .object(m)
    }
}

extension QualificationSpec {
    /// The manifest member's value (keys in canonical order once encoded).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        if !cases.isEmpty {
            members.append(
                (
                    "cases",
                    .array(
                        cases.map { c in
                            var m: [(key: String, value: JSONValue)] = [("clause", .string(c.clause))]
                            var e: [(key: String, value: JSONValue)] = []
                            if let s = c.expect.exitStatus { e.append(("exitStatus", .integer(s))) }
                            if !c.expect.json.isEmpty {
                                e.append(("json", .object(c.expect.json.map { ($0.path, $0.value) })))
                            }
                            if let r = c.expect.regex { e.append(("regex", .string(r))) }
                            if let d = c.expect.sha256 { e.append(("sha256", .string(d))) }
                            if let s = c.expect.status { e.append(("status", .integer(s))) }
                            m.append(("expect", .object(e)))
                            if let http = c.http { m.append(("http", http.json)) }
                            m.append(("id", .string(c.id)))
                            if let run = c.run { m.append(("run", .array(run.map { .string($0) }))) }
                            m.append(("timeoutSeconds", .integer(c.timeoutSeconds)))
                            m.append(("title", .string(c.title)))
                            return .object(m)
                        })
                ))
        }
        if let dataset {
            members.append(
                ("dataset", .object([("component", .string(dataset.component)), ("labels", .string(dataset.labels))])))
        }
        if let metrics {
            var m: [(key: String, value: JSONValue)] = []
            if let a = metrics.accuracyMinPermille {
                m.append(("accuracy", .object([("minimumPermille", .integer(a))])))
            }
            m.append(("answer", .string(metrics.answer)))
            if let c = metrics.concurrency {
                m.append(
                    (
                        "concurrency",
                        .object([
                            ("clients", .integer(c.clients)), ("minSuccessPermille", .integer(c.minSuccessPermille)),
                            ("requests", .integer(c.requests)),
                        ])
                    ))
            }
            if let l = metrics.latency {
                m.append(
                    (
                        "latency",
                        .object([
                            ("p50Milliseconds", .integer(l.p50Milliseconds)),
                            ("p95Milliseconds", .integer(l.p95Milliseconds)),
                        ])
                    ))
            }
            m.append(("request", metrics.request.json))
            if metrics.hasResourceLimits {
                var r: [(key: String, value: JSONValue)] = []
                if let c = metrics.maxCPUPercent { r.append(("maxCPUPercent", .integer(c))) }
                if let g = metrics.maxGPUMemoryBytes { r.append(("maxGPUMemoryBytes", .integer(g))) }
                if let b = metrics.maxMemoryBytes { r.append(("maxMemoryBytes", .integer(b))) }
                m.append(("resources", .object(r)))
            }
            m.append(("timeoutSeconds", .integer(metrics.timeoutSeconds)))
            members.append(("metrics", .object(m)))
        }
        if let notApplicable { members.append(("notApplicable", .string(notApplicable))) }
        if let service {
            members.append(
                (
                    "service",
                    .object([
                        ("ready", .string(service.ready)), ("run", .array(service.run.map { .string($0) })),
                        ("startTimeoutSeconds", .integer(service.startTimeoutSeconds)),
                    ])
                ))
        }
        return .object(members)
    }

    /// Reads a manifest's `qualification` member and checks every rule again. `modeOf` gives a
    /// payload entry's (`payload/...`) mode, `componentOf` its component, nil for no such entry.
    static func decode(
        _ v: JSONValue, _ reader: StrictJSONReader, modeOf: (String) -> String?, componentOf: (String) -> String?,
        components: Set<String>
    ) throws -> QualificationSpec {
        let p = "/qualification"
        let m = try reader.object(
            v, p, required: [], optional: ["cases", "dataset", "metrics", "notApplicable", "service"])
        func check(_ problem: Problem?, _ pointer: String) throws {
            if let problem { throw reader.fail(pointer, "\(problem)") }
        }
        func text(_ v: JSONValue?, _ pointer: String) throws -> String {
            let s = try reader.string(v, pointer)
            try check(Self.checkText(s), pointer)
            return s
        }
        func path(_ v: JSONValue?, _ pointer: String) throws -> String {
            let s = try reader.string(v, pointer)
            guard RelativePath.isCanonical(s) else {
                throw reader.fail(pointer, "is \"\(s)\": not a release-relative path in normal form")
            }
            return s
        }
        func seconds(_ v: JSONValue?, _ pointer: String) throws -> Int {
            let s = try reader.int(v, pointer, min: 1)
            try check(Self.checkTimeout(s), pointer)
            return Int(s)
        }
        func bounded(_ v: JSONValue?, _ pointer: String, _ range: ClosedRange<Int64>) throws -> Int {
            let n = try reader.int(v, pointer, min: range.lowerBound)
            guard n <= range.upperBound else { throw reader.fail(pointer, "must be at most \(range.upperBound)") }
            return Int(n)
        }
        func program(_ v: JSONValue?, _ pointer: String) throws -> [String] {
            let items = try reader.array(v, pointer)
            guard !items.isEmpty, items.count <= 1 + InstallSpec.maxHookArguments else {
                throw reader.fail(pointer, "must hold a program and at most \(InstallSpec.maxHookArguments) arguments")
            }
            var run = [try path(items[0], "\(pointer)/0")]
            for (i, a) in items.enumerated().dropFirst() {
                let s = try reader.string(a, "\(pointer)/\(i)")
                guard !s.utf8.contains(0) else { throw reader.fail("\(pointer)/\(i)", "contains a NUL character") }
                run.append(s)
            }
            return run
        }
        func request(_ v: JSONValue?, _ pointer: String, body allowed: Bool) throws -> Request {
            let r = try reader.object(
                v ?? .null, pointer, required: ["method", "url"],
                optional: allowed ? ["body", "contentType"] : ["contentType"])
            let method = try reader.string(r["method"], "\(pointer)/method")
            guard methods.contains(method) else { throw reader.fail("\(pointer)/method", "\(Problem.badMethod)") }
            let url = try reader.string(r["url"], "\(pointer)/url")
            guard URLParts(url) != nil else { throw reader.fail("\(pointer)/url", "is \"\(url)\": \(Problem.badURL)") }
            return Request(
                method: method, url: url, body: try r["body"].map { try path($0, "\(pointer)/body") },
                contentType: try r["contentType"].map { try text($0, "\(pointer)/contentType") })
        }
        func jsonPath(_ v: JSONValue?, _ pointer: String) throws -> String {
            let s = try reader.string(v, pointer)
            guard parseJSONPath(s) != nil else { throw reader.fail(pointer, "is \"\(s)\": \(Problem.badJSONPath)") }
            return s
        }

        var spec = QualificationSpec()
        guard !m.isEmpty else { throw reader.fail(p, "is empty; ivpack leaves out a member with nothing in it") }
        if let n = m["notApplicable"] { spec.notApplicable = try text(n, "\(p)/notApplicable") }
        if let s = m["service"] {
            let sp = "\(p)/service"
            let o = try reader.object(s, sp, required: ["ready", "run", "startTimeoutSeconds"])
            let ready = try reader.string(o["ready"], "\(sp)/ready")
            guard URLParts(ready) != nil else { throw reader.fail("\(sp)/ready", "is \"\(ready)\": \(Problem.badURL)") }
            spec.service = Service(
                run: try program(o["run"], "\(sp)/run"), ready: ready,
                startTimeoutSeconds: try seconds(o["startTimeoutSeconds"], "\(sp)/startTimeoutSeconds"))
        }
        if let d = m["dataset"] {
            let o = try reader.object(d, "\(p)/dataset", required: ["component", "labels"])
            spec.dataset = Dataset(
                component: try reader.string(o["component"], "\(p)/dataset/component"),
                labels: try path(o["labels"], "\(p)/dataset/labels"))
        }
        if let c = m["cases"] {
            let items = try reader.array(c, "\(p)/cases")
            guard !items.isEmpty, items.count <= maxCases else {
                throw reader.fail("\(p)/cases", "must hold 1 to \(maxCases) cases")
            }
            for (i, item) in items.enumerated() {
                let cp = "\(p)/cases/\(i)"
                let o = try reader.object(
                    item, cp, required: ["clause", "expect", "id", "timeoutSeconds", "title"],
                    optional: ["http", "run"])
                let id = try reader.string(o["id"], "\(cp)/id")
                try check(checkID(id), "\(cp)/id")
                guard (o["http"] == nil) != (o["run"] == nil) else {
                    throw reader.fail(cp, "\(o["http"] == nil ? Problem.noProbe : Problem.twoProbes)")
                }
                let ep = "\(cp)/expect"
                let e = try reader.object(
                    o["expect"]!, ep, required: [], optional: ["exitStatus", "json", "regex", "sha256", "status"])
                var expect = Expectation()
                if let r = e["regex"] {
                    let regex = try reader.string(r, "\(ep)/regex")
                    try check(checkRegex(regex), "\(ep)/regex")
                    expect.regex = regex
                }
                if o["http"] != nil {
                    guard e["exitStatus"] == nil else {
                        throw reader.fail(
                            "\(ep)/exitStatus", "\(Problem.wrongExpectation("an HTTP case has no exit status"))")
                    }
                    expect.status = try bounded(e["status"], "\(ep)/status", 100...599)
                    if let jv = e["json"] {
                        guard let j = jv.objectValue else { throw reader.fail("\(ep)/json", "must be an object") }
                        guard !j.isEmpty else { throw reader.fail("\(ep)/json", "is empty; ivpack leaves it out") }
                        for pair in j {
                            guard parseJSONPath(pair.key) != nil else {
                                throw reader.fail("\(ep)/json", "has \"\(pair.key)\": \(Problem.badJSONPath)")
                            }
                            switch pair.value {
                            case .number(let text) where Int64(text) == nil:
                                throw reader.fail(
                                    "\(ep)/json",
                                    "has \"\(pair.key)\": \(text) is not a whole number; ivpack writes integers only")
                            case .string, .number, .bool, .null: expect.json.append((pair.key, pair.value))
                            default:
                                throw reader.fail(
                                    "\(ep)/json",
                                    "has \"\(pair.key)\": an expected value is a string, integer, boolean or null")
                            }
                        }
                    }
                    if let d = e["sha256"] { expect.sha256 = try reader.digest(d, "\(ep)/sha256").hex }
                } else {
                    guard e["status"] == nil, e["json"] == nil, e["sha256"] == nil else {
                        throw reader.fail(
                            ep, "\(Problem.wrongExpectation("a command case expects exitStatus and regex only"))")
                    }
                    expect.exitStatus = try bounded(e["exitStatus"], "\(ep)/exitStatus", 0...255)
                }
                spec.cases.append(
                    Case(
                        id: id, clause: try text(o["clause"], "\(cp)/clause"),
                        title: try text(o["title"], "\(cp)/title"),
                        http: try o["http"].map { try request($0, "\(cp)/http", body: true) },
                        run: try o["run"].map { try program($0, "\(cp)/run") }, expect: expect,
                        timeoutSeconds: try seconds(o["timeoutSeconds"], "\(cp)/timeoutSeconds")))
            }
        }
        if let mv = m["metrics"] {
            let mp = "\(p)/metrics"
            let o = try reader.object(
                mv, mp, required: ["answer", "request", "timeoutSeconds"],
                optional: ["accuracy", "concurrency", "latency", "resources"])
            var metrics = Metrics(
                request: try request(o["request"], "\(mp)/request", body: false),
                answer: try jsonPath(o["answer"], "\(mp)/answer"),
                timeoutSeconds: try seconds(o["timeoutSeconds"], "\(mp)/timeoutSeconds"))
            if let a = o["accuracy"] {
                let ao = try reader.object(a, "\(mp)/accuracy", required: ["minimumPermille"])
                metrics.accuracyMinPermille = try bounded(
                    ao["minimumPermille"], "\(mp)/accuracy/minimumPermille", 0...1000)
            }
            if let c = o["concurrency"] {
                let cp = "\(mp)/concurrency"
                let co = try reader.object(c, cp, required: ["clients", "minSuccessPermille", "requests"])
                metrics.concurrency = (
                    clients: try bounded(co["clients"], "\(cp)/clients", 1...Int64(maxConcurrency)),
                    requests: try bounded(co["requests"], "\(cp)/requests", 1...Int64(maxRequests)),
                    minSuccessPermille: try bounded(co["minSuccessPermille"], "\(cp)/minSuccessPermille", 0...1000)
                )
            }
            if let l = o["latency"] {
                let lp = "\(mp)/latency"
                let lo = try reader.object(l, lp, required: ["p50Milliseconds", "p95Milliseconds"])
                let limit = Int64(maxTimeout) * 1000
                metrics.latency = (
                    p50Milliseconds: try bounded(lo["p50Milliseconds"], "\(lp)/p50Milliseconds", 1...limit),
                    p95Milliseconds: try bounded(lo["p95Milliseconds"], "\(lp)/p95Milliseconds", 1...limit)
                )
                if metrics.latency!.p50Milliseconds > metrics.latency!.p95Milliseconds {
                    throw reader.fail("\(lp)/p95Milliseconds", "is below p50Milliseconds")
                }
            }
            if let r = o["resources"] {
                let rp = "\(mp)/resources"
                let ro = try reader.object(
                    r, rp, required: [], optional: ["maxCPUPercent", "maxGPUMemoryBytes", "maxMemoryBytes"])
                guard !ro.isEmpty else { throw reader.fail(rp, "is empty; ivpack leaves it out") }
                metrics.maxCPUPercent = try ro["maxCPUPercent"].map {
                    try bounded($0, "\(rp)/maxCPUPercent", 1...100_000)
                }
                metrics.maxMemoryBytes = try ro["maxMemoryBytes"].map {
                    try reader.int($0, "\(rp)/maxMemoryBytes", min: 1)
                }
                metrics.maxGPUMemoryBytes = try ro["maxGPUMemoryBytes"].map {
                    try reader.int($0, "\(rp)/maxGPUMemoryBytes", min: 1)
                }
            }
            spec.metrics = metrics
        }
        if let (field, problem) = spec.structureProblem() {
            throw reader.fail(field.isEmpty ? p : "\(p)/\(field)", "\(problem)")
        }
        if let (field, value, problem) = spec.fileProblem(
            modeOf: { modeOf(Manifest.payloadPrefix + $0) }, componentOf: { componentOf(Manifest.payloadPrefix + $0) },
            components: components)
        {
            throw reader.fail("\(p)/\(field)", "is \"\(value)\": \(problem)")
        }
        return spec
    }
}
