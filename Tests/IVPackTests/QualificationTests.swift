import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// On-site qualification (issue 16): the spec's rules, the signed manifest member, and runs
/// against a real service process (a Python standard-library HTTP server of the fixture release,
/// started by ivpack on a free loopback port) over real HTTP. Serialized: each test starts
/// processes and waits on them (see InstallHooksTests on starving the shared pool).
@Suite(.serialized) struct QualificationTests {
    static let version = ReleaseFixture.defaultVersion

    /// The fixture's service: answers GET /healthz, and POST /classify with the label written in the
    /// case file it is sent. `--delay-ms N` sleeps N ms a request, `--fail-every N` answers every
    /// Nth /classify with 500, `--crash` exits at once.
    static let server = """
        #!/usr/bin/env python3
        import sys
        sys.dont_write_bytecode = True
        import json, os, threading, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        args = sys.argv[1:]
        def opt(name, default):
            return args[args.index(name) + 1] if name in args else default
        if "--crash" in args:
            print("cannot load the model: weights missing", flush=True)
            sys.exit(7)
        port, delay, every = int(opt("--port", "0")), int(opt("--delay-ms", "0")), int(opt("--fail-every", "0"))
        count = [0]
        lock = threading.Lock()
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass
            def answer(self, status, value):
                body = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def do_GET(self):
                if self.path == "/healthz":
                    self.answer(200, {"status": "ok", "version": os.environ.get("IVPACK_VERSION", "")})
                else:
                    self.answer(404, {"error": "no such path"})
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    count[0] += 1
                    n = count[0]
                time.sleep(delay / 1000)
                if every and n % every == 0:
                    self.answer(500, {"error": "overloaded"})
                    return
                self.answer(200, {"label": body.decode().strip(), "bytes": len(body)})
        ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """

    /// The truth of each case file: nodule for odd cases.
    static func truth(_ i: Int) -> String { i % 2 == 1 ? "nodule" : "clear" }
    static func caseName(_ i: Int) -> String { "data/case-" + (i < 10 ? "0\(i)" : "\(i)") + ".txt" }

    /// The labels file; the cases in `mislabelled` get the wrong label.
    static func labels(mislabelled: Set<Int> = []) -> String {
        let cases = (1...20).map { i in
            let label = mislabelled.contains(i) ? (truth(i) == "nodule" ? "clear" : "nodule") : truth(i)
            return
                "{\"id\": \"case-\(i < 10 ? "0\(i)" : "\(i)")\", \"input\": \"\(caseName(i))\", \"expected\": \"\(label)\"}"
        }
        return "{\"format\": \"ivpack-qualification-labels/1\", \"cases\": [\n" + cases.joined(separator: ",\n")
            + "\n]}\n"
    }

    static let section = """
        qualification:
          service:
            run: [service/serve.py, --port, "{port}"]
            ready: "http://127.0.0.1:{port}/healthz"
            startTimeout: 20s
          dataset: {component: reference-cases, labels: data/labels.json}
          cases:
            - id: health
              clause: "4.3.1 a"
              title: The service answers with the installed version
              http: {method: GET, url: "http://127.0.0.1:{port}/healthz"}
              expect: {status: 200, json: {"$.status": ok, "$.version": "{version}"}}
              timeout: 20s
            - id: classify
              clause: "4.3.1 c"
              title: A nodule case in, a nodule out
              http: {method: POST, url: "http://127.0.0.1:{port}/classify", body: data/case-01.txt}
              expect: {status: 200, json: {"$.label": nodule}, regex: "\\"bytes\\": 7"}
              timeout: 20s
          metrics:
            request: {method: POST, url: "http://127.0.0.1:{port}/classify", contentType: text/plain}
            answer: $.label
            timeout: 30s
            latency: {p50: 2s, p95: 5s}
            concurrency: {clients: 4, requests: 40, minSuccessRate: 1.0}
            accuracy: {minimum: 1.0}
            resources: {maxMemory: 1GiB, maxCPU: 800%}
        """

    static let datasetComponent = """
          - name: reference-cases
            kind: file
            paths: [data]
        """

    /// A fixture with the service and dataset, installed into its root.
    static func installed(mislabelled: Set<Int> = [], sections: String = section) throws -> (InstallFixture, String) {
        let f = try InstallFixture()
        var files: [(String, String, Int)] = [
            ("service/serve.py", server, 0o755), ("data/labels.json", labels(mislabelled: mislabelled), 0o644),
        ]
        for i in 1...20 { files.append((caseName(i), truth(i) + "\n", 0o644)) }
        let bundle = try f.bundle(
            version: version, big: false, files: files, extraComponents: datasetComponent, sections: sections)
        let r = ivpack(["install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        return (f, bundle)
    }

    /// Runs a qualification on a thread of its own and waits without holding one of Swift's
    /// cooperative threads: the qualifier blocks for seconds, and a test that held a pool thread
    /// that long starved the in-process licence servers of other suites into 20 s timeouts.
    static func offPool(_ qualifier: Qualifier) async -> QualificationOutcome {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: qualifier.run()) }.start()
        }
    }

    static func run(_ f: InstallFixture, _ change: (inout QualificationSpec) -> Void = { _ in }) async throws
        -> QualificationOutcome
    {
        var release = try Installer.activeRelease(root: f.root)
        change(&release.manifest.qualification!)
        return await offPool(Qualifier(release: release, prober: NIOHTTPProber()))
    }

    static func check(_ o: QualificationOutcome, _ id: String) -> Check? {
        o.checks.first { $0.id.rawValue == "qualification." + id }
    }

    // MARK: - Against a real service

    @Test(.clause("IQ 3.2", "IQ 4.1.2 e", "IQ 4.1.2 f", "IQ 4.3", "IQ 4.3.1", "IQ 4.3.2", "IQ 5.3.1", "IQ 6.1.3"))
    func installQualifyPassesAndReportsTheWholeIQ() throws {
        let f = try InstallFixture()
        var files: [(String, String, Int)] = [
            ("service/serve.py", Self.server, 0o755), ("data/labels.json", Self.labels(), 0o644),
        ]
        for i in 1...20 { files.append((Self.caseName(i), Self.truth(i) + "\n", 0o644)) }
        let bundle = try f.bundle(
            version: Self.version, big: false, files: files, extraComponents: Self.datasetComponent,
            sections: Self.section)
        let report = f.work.url("iq.json")
        let html = f.work.url("iq.html")
        let r = ivpack([
            "install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root, "--qualify", "--report", report,
            "--html", html,
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("PASS  qualification.accuracy"), "\(r.stdout)")
        let bytes = try InputFile.readAll(path: report, limit: IQReport.maxBytes)
        #expect(IQReportRules.problems(bytes).isEmpty)
        // Read back (verify-report --html renders from it): the same report, byte for byte.
        #expect(IQReport(reportBytes: bytes)?.canonicalBytes == bytes)
        let value = try JSONParser.parse(bytes, limits: JSONLimits(maxBytes: IQReport.maxBytes, maxDepth: 8))
        #expect(
            value["conclusion"]?["result"]?.stringValue == "pass", "\(value["conclusion"].map(PrettyJSON.render) ?? "")"
        )
        let ids = value["checks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        for id in [
            "payload", "install.switch", "qualification.dataset", "qualification.service", "qualification.case.health",
            "qualification.case.classify", "qualification.latency", "qualification.accuracy",
            "qualification.concurrency", "qualification.resources", "qualification.machine",
        ] {
            #expect(ids.contains(id), "\(id) missing from \(ids)")
        }
        #expect(value["qualification"]?["cases"]?.arrayValue?.count == 20)
        #expect(value["qualification"]?["p95Microseconds"]?.int64Value != nil)
        InstallHooksTests.expectValid(report, schema: "iq-report.schema.json")
        // The HTML: the results as tables and the time per case as an inline SVG chart, printed.
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("<svg") && page.contains("<title>case-20:"))
        if let text = IQReportTests().printedText(of: html, in: f.work) {
            for needle in ["On-site qualification results", "case-07", "MATCH", "p50", "Time per case"] {
                #expect(text.contains(needle), "\(needle) not in the printed report")
            }
        }

        // Later, `qualify` alone: the kept install report makes it the whole IQ again, from the
        // install's start; and the run leaves no trace in the release (no drift).
        let later = f.work.url("later.json")
        let q = ivpack(["qualify", "--root", f.root, "--report", later])
        #expect(q.status == 0, "\(q.stdout)\(q.stderr)")
        let again = try JSONParser.parse(
            try InputFile.readAll(path: later, limit: IQReport.maxBytes),
            limits: JSONLimits(maxBytes: 1 << 24, maxDepth: 8))
        #expect(again["conclusion"]?["result"]?.stringValue == "pass")
        #expect(again["time"]?["start"] == value["time"]?["start"])
        #expect(again["reportID"] == value["reportID"])
        let status = ivpack(["status", "--root", f.root, "--check"])
        #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
        #expect(status.stdout.contains("match its manifest: no drift"), "\(status.stdout)")
    }

    @Test(.clause("IQ 4.1.2 f", "IQ 4.3.2")) func oneMisclassifiedCaseFailsAnAccuracyOfOneAndIsNamed() async throws {
        let (f, _) = try Self.installed(mislabelled: [7])
        let strict = try await Self.run(f)
        let accuracy = try #require(Self.check(strict, "accuracy"))
        #expect(accuracy.status == .fail)
        #expect(
            accuracy.details.contains {
                $0.contains("case-07: expected \"nodule\", answered \"clear\"")
                    || $0.contains("case-07: expected \"clear\", answered \"nodule\"")
            }, "\(accuracy.details)")
        #expect(
            accuracy.evidence.first { $0.key == "correct" }?.value == "19",
            "\(strict.measurements.cases.filter { $0.error != nil }.map { "\($0.id): \($0.error ?? "")" })")
        #expect(strict.measurements.cases.first { $0.id == "case-07" }?.correct == false)
        // 19 of 20 is 0.95 exactly: it meets "at least 0.95" (integer arithmetic, no rounding)
        // and misses 0.96.
        let boundary = try await Self.run(f) { $0.metrics!.accuracyMinPermille = 950 }
        #expect(Self.check(boundary, "accuracy")?.status == .pass)
        let above = try await Self.run(f) { $0.metrics!.accuracyMinPermille = 960 }
        #expect(Self.check(above, "accuracy")?.status == .fail)
    }

    @Test(.clause("IQ 4.3.2")) func aSlowServiceFailsLatencyWithItsPercentilesRecorded() async throws {
        let (f, _) = try Self.installed()
        let slow = try await Self.run(f) {
            $0.service!.run += ["--delay-ms", "60"]
            $0.metrics!.latency = (p50Milliseconds: 20, p95Milliseconds: 40)
            $0.metrics!.concurrency = nil
        }
        let latency = try #require(Self.check(slow, "latency"))
        #expect(latency.status == .fail)
        #expect(
            latency.details.contains { $0.hasPrefix("p50 ") && $0.contains("over the threshold 20 ms") },
            "\(latency.details)")
        let p50 = try #require(slow.measurements.p50Microseconds)
        #expect(p50 >= 60_000)
        #expect(latency.evidence.contains { $0.key == "p95Milliseconds" && $0.value != "none" })
        // Accuracy is unaffected: a slow answer is still an answer.
        #expect(Self.check(slow, "accuracy")?.status == .pass)
    }

    @Test(.clause("IQ 4.3.2")) func errorsUnderConcurrencyAreCounted() async throws {
        let (f, _) = try Self.installed()
        let o = try await Self.run(f) { $0.service!.run += ["--fail-every", "5"] }
        let concurrency = try #require(Self.check(o, "concurrency"))
        #expect(concurrency.status == .fail)
        let errors = Int(concurrency.evidence.first { $0.key == "errors" }?.value ?? "") ?? 0
        // Every 5th POST of the run fails: the sequential pass sent 21 (the classify case and 20
        // reference cases), so the 40 concurrent ones include exactly 8 failures.
        #expect(errors == 8, "\(concurrency.details)")
        #expect(concurrency.details.contains { $0.contains("× status 500") }, "\(concurrency.details)")
    }

    @Test(.clause("IQ 4.3.2", "IQ 6.2.2 f")) func aReplacedDatasetFileFailsBeforeAnyCaseRuns() async throws {
        let (f, _) = try Self.installed()
        let release = try Installer.activeRelease(root: f.root)
        let file = release.folder + "/data/case-04.txt"
        try FileManager.default.removeItem(atPath: file)
        try Data("nodule\n".utf8).write(to: URL(fileURLWithPath: file))
        let o = await Self.offPool(Qualifier(release: release, prober: NIOHTTPProber()))
        #expect(o.checks.map(\.id.rawValue) == ["qualification.dataset"])
        let dataset = try #require(Self.check(o, "dataset"))
        #expect(dataset.status == .fail)
        #expect(
            dataset.details.contains { $0.contains("data/case-04.txt") && $0.contains("SHA-256") }, "\(dataset.details)"
        )
        #expect(dataset.details.contains { $0.contains("no case ran") })
    }

    @Test(.clause("IQ 4.3.1")) func aServiceThatDiesFailsWithItsOutput() async throws {
        let (f, _) = try Self.installed()
        let o = try await Self.run(f) { $0.service!.run += ["--crash"] }
        let service = try #require(Self.check(o, "service"))
        #expect(service.status == .fail)
        #expect(service.details.contains { $0.contains("exited with status 7") }, "\(service.details)")
        #expect(service.details.contains { $0.contains("weights missing") }, "\(service.details)")
        #expect(Self.check(o, "case.health") == nil)
    }

    @Test(.clause("IQ 4.1.2 e", "IQ 4.3.1")) func aServiceThatIsDownFailsTheFunctionChecksWithTheProbeError()
        async throws
    {
        let (f, _) = try Self.installed()
        // The same cases against a service the site runs itself, which is not running.
        let o = try await Self.run(f) { spec in
            spec.service = nil
            spec.metrics = nil
            spec.dataset = nil
            for i in spec.cases.indices {
                spec.cases[i].http!.url = spec.cases[i].http!.url.replacingOccurrences(of: "{port}", with: "9")
            }
        }
        let health = try #require(Self.check(o, "case.health"))
        #expect(health.status == .fail)
        #expect(health.details.contains { $0.hasPrefix("no answer: cannot reach 127.0.0.1:9") }, "\(health.details)")
        #expect(health.evidence.contains { $0.key == "error" && $0.value == "unreachable" })
    }

    @Test(.clause("IQ 4.3.2")) func peakMemoryOverItsThresholdFails() async throws {
        let (f, _) = try Self.installed()
        let o = try await Self.run(f) {
            $0.metrics!.maxMemoryBytes = 1 << 20
            $0.metrics!.concurrency = nil
        }
        let resources = try #require(Self.check(o, "resources"))
        #expect(resources.status == .fail)
        #expect(resources.details.contains { $0.contains("over the threshold 1.0 MiB") }, "\(resources.details)")
        let peak = Int64(resources.evidence.first { $0.key == "peakMemoryBytes" }?.value ?? "") ?? 0
        #expect(peak > 1 << 20)
    }

    @Test func gpuMemoryIsMeasuredWithNvidiaSmiAndUncheckedWithoutItFails() async throws {
        let (f, _) = try Self.installed()
        let tools = f.work.url("tools")
        try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
        func run(_ accept: [UncheckedAcceptance]) async throws -> QualificationOutcome {
            var release = try Installer.activeRelease(root: f.root)
            release.manifest.qualification!.metrics!.maxGPUMemoryBytes = 512 << 20
            release.manifest.qualification!.metrics!.concurrency = nil
            var q = Qualifier(release: release, prober: NIOHTTPProber())
            q.searchPath = tools
            q.acceptUnchecked = accept
            return await Self.offPool(q)
        }
        // No nvidia-smi on the search path: the threshold cannot be checked, so it fails...
        let unchecked = try #require(Self.check(try await run([]), "resources"))
        #expect(unchecked.status == .fail)
        #expect(
            unchecked.details.contains {
                $0.contains("nvidia-smi was not found") && $0.contains("--accept-unchecked gpu-memory")
            }, "\(unchecked.details)")
        // ... unless the site accepts it, which the check shows.
        let accepted = try #require(
            Self.check(
                try await run([UncheckedAcceptance(requirement: "gpu-memory", reason: "CPU-only test host")]),
                "resources"))
        #expect(accepted.status == .warn)
        #expect(
            accepted.evidence.contains { $0.key == "accepted.unchecked" && $0.value.contains("CPU-only test host") })
        // A driver that reports 700 MiB for the service's process: over 512 MiB.
        let smi = """
            #!/bin/sh
            for d in /proc/[0-9]*; do
              if tr '\\0' ' ' < "$d/cmdline" 2>/dev/null | grep -q 'service/serve.py'; then echo "${d#/proc/}, 700"; fi
            done
            """
        _ = FileManager.default.createFile(
            atPath: tools + "/nvidia-smi", contents: Data(smi.utf8), attributes: [.posixPermissions: 0o755])
        let measured = try #require(Self.check(try await run([]), "resources"))
        #expect(measured.status == .fail)
        #expect(
            measured.details.contains { $0.contains("peak GPU memory 700.0 MiB is over the threshold 512.0 MiB") },
            "\(measured.details)")
    }

    // MARK: - The spec and the manifest

    static func parse(_ section: String) throws -> ReleaseSpec {
        let text = ReleaseFixture.spec(version: version) + "\n" + section + "\n"
        return try ReleaseSpec.parse(bytes: Array(text.utf8), file: "ivpack.yaml", root: "/nonexistent")
    }

    @Test(arguments: [
        ("cases:\n    - {id: Bad_ID, clause: x, title: t, run: [a]}", "cases[0].id"),
        (
            "cases:\n    - {id: a, clause: x, title: t, http: {method: GET, url: \"http://127.0.0.1:{port}/\"}}",
            "{port}"
        ),
        ("cases:\n    - {id: a, clause: x, title: t, run: [a], http: {method: GET, url: \"http://h/\"}}", "not both"),
        ("cases:\n    - {id: a, clause: x, title: t, run: [a], expect: {regex: \"(\"}}", "not a regular expression"),
        ("cases:\n    - {id: a, clause: x, title: t, run: [a], expect: {status: 200}}", "exitStatus and regex only"),
        ("metrics: {request: {method: POST, url: \"http://h/\"}, answer: $.x}", "no dataset"),
        (
            "dataset: {component: c, labels: l}\n  metrics: {request: {method: POST, url: \"http://h/\"}, answer: $.x, resources: {maxMemory: 1GiB}}",
            "no service"
        ),
        ("metrics: {request: {method: POST, url: \"http://h/\"}, answer: label}", "JSON path"),
        ("notApplicable: none here\n  cases:\n    - {id: a, clause: x, title: t, run: [a]}", "not applicable"),
        (
            "cases:\n    - {id: a, clause: x, title: t, run: [a]}\n    - {id: a, clause: y, title: u, run: [b]}",
            "earlier case"
        ),
        (
            "dataset: {component: c, labels: l}\n  metrics: {request: {method: POST, url: \"http://h/\"}, answer: $.x, accuracy: {minimum: 1.5}}",
            "fraction"
        ),
    ])
    func specRulesRefuseWithPlace(section: String, expected: String) throws {
        do {
            _ = try Self.parse("qualification:\n  " + section)
            Issue.record("accepted: \(section)")
        } catch let error as InputError {
            #expect(error.kind == .yaml)
            #expect("\(error)".contains(expected), "\(error)")
        }
    }

    @Test func aLabelsFileOutsideTheDatasetComponentIsRefusedAtBuild() throws {
        let f = try InstallFixture()
        let section = Self.section.replacingOccurrences(
            of: "labels: data/labels.json", with: "labels: service/serve.py")
        var files: [(String, String, Int)] = [
            ("service/serve.py", Self.server, 0o755), ("data/labels.json", Self.labels(), 0o644),
        ]
        for i in 1...20 { files.append((Self.caseName(i), Self.truth(i) + "\n", 0o644)) }
        do {
            _ = try f.bundle(
                version: Self.version, big: false, files: files, extraComponents: Self.datasetComponent,
                sections: section)
            Issue.record("built")
        } catch let error as InputError {
            #expect("\(error)".contains("qualification.dataset.labels"), "\(error)")
            #expect("\(error)".contains("not a file of the component \"reference-cases\""), "\(error)")
        }
    }

    @Test func bothManifestReadersRefuseAHostileQualificationMember() throws {
        let (f, bundle) = try Self.installed()
        let reader = try BundleReader(path: bundle, blockSize: 64 << 10)
        let good = reader.manifest
        #expect(good.qualification != nil)
        #expect(try Manifest.decode(good.canonicalBytes, source: "m") == good)
        let hostile: [(String, (inout QualificationSpec) -> Void)] = [
            ("/qualification/cases/1/http/body", { $0.cases[1].http!.body = "../etc/passwd" }),
            ("/qualification/service/run/0", { $0.service!.run[0] = "data/labels.json" }),
            ("/qualification/dataset/labels", { $0.dataset!.labels = "service/serve.py" }),
            ("/qualification/cases/0/id", { $0.cases[0].id = "Bad ID" }),
            ("/qualification/metrics/accuracy/minimumPermille", { $0.metrics!.accuracyMinPermille = 1001 }),
        ]
        for (pointer, change) in hostile {
            var m = good
            change(&m.qualification!)
            do {
                _ = try Manifest.decode(m.canonicalBytes, source: "m")
                Issue.record("accepted a manifest with \(pointer) changed")
            } catch let error as InputError {
                #expect(error.field == pointer, "\(error)")
            }
        }
        _ = f
    }

    @Test(.clause("IQ 4.3")) func aReleaseDeclaringQualificationNotApplicableSaysSo() async throws {
        let (f, _) = try Self.installed(
            sections: "qualification:\n  notApplicable: \"a library release with no service of its own\"")
        let o = try await Self.run(f)
        #expect(o.checks.map(\.id.rawValue) == ["qualification.not-applicable"])
        #expect(o.checks[0].status == .pass)
        #expect(o.checks[0].details[0].contains("a library release with no service of its own"))
        // Its report, without the install's kept report: qualified, and says what it is not.
        let release = try Installer.activeRelease(root: f.root)
        let report = IQReport.qualificationOnly(release: release, qualification: o, purpose: nil, siteID: nil)
        #expect(report.conclusion == .incomplete)
        #expect(
            report.conclusionStatement.contains(
                "was qualified (all 1 checks passed) but not verified and not installed"),
            "\(report.conclusionStatement)")
        #expect(IQReportRules.problems(report.canonicalBytes).isEmpty)
    }
}
