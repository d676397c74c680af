import Foundation
import IVPackTestSupport
import Testing

@testable import IVPack

/// The JSON Schemas in Schemas/ describe what ivpack really reads and writes: a built manifest and
/// the example spec validate against them (scripts/check-schemas.py, python3 jsonschema), with a
/// qualification section and its labels, and an IQ report with what qualification measured.
@Suite struct SchemaTests {
    static var repositoryRoot: String {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir.deleteLastPathComponent()
        }
        return dir.path
    }

    @Test func builtManifestAndExampleSpecValidateAgainstTheSchemas() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        _ = try release.build(to: out.url("b.ivp"))
        let r = run(
            "/usr/bin/env",
            [
                "python3", Self.repositoryRoot + "/scripts/check-schemas.py", "--spec", release.specPath,
                out.url("b.ivp"),
            ],
            in: Self.repositoryRoot)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("ok   bundle"))
    }

    @Test func schemaCheckFailsOnAManifestThatBreaksTheSchema() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        let built = try release.build(to: out.url("b.ivp"))
        // Rewrite the manifest with a mode the schema does not allow, keeping the length.
        var bytes = out.read("b.ivp")
        let manifest = built.manifest.canonicalBytes
        let start = try #require(bytes.firstRange(of: manifest)).lowerBound
        let text = String(decoding: manifest, as: UTF8.self).replacingOccurrences(
            of: "\"mode\":\"0644\"", with: "\"mode\":\"0666\"")
        bytes.replaceSubrange(start..<(start + manifest.count), with: Array(text.utf8))
        out.write("bad.ivp", bytes)
        let r = run(
            "/usr/bin/env", ["python3", Self.repositoryRoot + "/scripts/check-schemas.py", out.url("bad.ivp")],
            in: Self.repositoryRoot)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect((r.stdout + r.stderr).contains("mode"))
    }

    /// Runs scripts/check-schemas.py with `arguments`.
    static func checkSchemas(_ arguments: [String]) -> ProcessResult {
        run(
            "/usr/bin/env", ["python3", repositoryRoot + "/scripts/check-schemas.py"] + arguments,
            in: repositoryRoot)
    }

    /// The fixture release with a reference dataset component and `qualification` as its section.
    static func qualifiedRelease(_ qualification: String) -> ReleaseFixture {
        let release = ReleaseFixture()
        let dataset = """
              - name: reference-cases
                kind: file
                paths: [qualification]
            """
        release.folder.write(
            "ivpack.yaml",
            ReleaseFixture.spec(version: release.version, extraComponents: dataset) + "\n" + qualification + "\n")
        release.folder.write("qualification/cases/a.bin", "nodule case\n")
        release.folder.write("qualification/cases/b.bin", "clear case\n")
        release.folder.write(
            "qualification/labels.json",
            """
            {"format": "ivpack-qualification-labels/1", "cases": [
              {"id": "case-a", "input": "qualification/cases/a.bin", "expected": "nodule"},
              {"id": "case-b", "input": "qualification/cases/b.bin", "expected": "clear"}]}
            """)
        return release
    }

    static let fullQualification = """
        qualification:
          service:
            run: [service/run.sh, --port, "{port}"]
            ready: "http://127.0.0.1:{port}/healthz"
            startTimeout: 5s
          dataset:
            component: reference-cases
            labels: qualification/labels.json
          cases:
            - id: version
              clause: "4.3.1 a"
              title: The service reports its version
              http: {method: GET, url: "http://127.0.0.1:{port}/version"}
              expect: {status: 200, json: {"$.version": "{version}", "$.build": 1024, "$.ready": true}}
              timeout: 2000ms
            - id: upload
              clause: "4.3.1 b"
              title: The data interface takes an image
              http:
                method: POST
                url: "http://127.0.0.1:{port}/v1/classify"
                body: qualification/cases/a.bin
                contentType: application/octet-stream
              expect: {regex: "label"}
            - id: self-check
              clause: "4.3.1 d"
              title: The self-check passes
              run: [service/run.sh, --self-check]
              expect: {exitStatus: 0, regex: PulmoScan}
          metrics:
            request: {method: POST, url: "http://127.0.0.1:{port}/v1/classify", contentType: application/octet-stream}
            answer: $.label
            timeout: 10s
            latency: {p50: 250ms, p95: 2s}
            concurrency: {clients: 2, requests: 4, minSuccessRate: 95%}
            accuracy: {minimum: 0.95}
            resources: {maxMemory: 256MiB, maxCPU: 150%}
        """

    @Test func qualificationSectionManifestMemberAndLabelsValidate() throws {
        let release = Self.qualifiedRelease(Self.fullQualification)
        let out = TemporaryFolder()
        let built = try release.build(to: out.url("q.ivp"))
        #expect(built.manifest.qualification?.cases.count == 3)
        let r = Self.checkSchemas([
            "--spec", release.specPath, "--labels", release.folder.url("qualification/labels.json"), out.url("q.ivp"),
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("qualification labels qualification/labels.json (2 cases)"), "\(r.stdout)")
        #expect(r.stdout.contains("ok   labels"), "\(r.stdout)")
        #expect(r.stdout.contains("qualification of 3 case(s) and metrics"), "\(r.stdout)")

        // Not applicable: the reason alone, in the spec and in the manifest.
        let na = ReleaseFixture()
        na.folder.write(
            "ivpack.yaml",
            ReleaseFixture.spec(version: na.version)
                + "\nqualification:\n  notApplicable: A library without a service; the host application qualifies it\n")
        _ = try na.build(to: out.url("na.ivp"))
        let n = Self.checkSchemas(["--spec", na.specPath, out.url("na.ivp")])
        #expect(n.status == 0, "\(n.stdout)\(n.stderr)")
        #expect(n.stdout.contains("qualification not applicable"), "\(n.stdout)")
    }

    @Test func schemaCheckFailsOnABadQualificationSectionOrLabels() throws {
        // A case with both a probe and a command, and labels with a case id used twice.
        let release = Self.qualifiedRelease(
            Self.fullQualification.replacingOccurrences(
                of: "      run: [service/run.sh, --self-check]",
                with:
                    "      run: [service/run.sh, --self-check]\n      http: {method: GET, url: \"http://127.0.0.1:{port}/\"}"
            ))
        let r = Self.checkSchemas(["--spec", release.specPath])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("/qualification/cases/2"), "\(r.stderr)")
        let labels = release.folder.write(
            "twice.json",
            """
            {"format": "ivpack-qualification-labels/1", "cases": [
              {"id": "case-a", "input": "qualification/cases/a.bin", "expected": "nodule"},
              {"id": "case-a", "input": "qualification/cases/b.bin", "expected": 1}]}
            """)
        let l = Self.checkSchemas(["--labels", labels])
        #expect(l.status == 1, "\(l.stdout)\(l.stderr)")
        #expect(l.stderr.contains("/cases/1/id: 'case-a' is used by an earlier case"), "\(l.stderr)")
    }

    /// An IQ report of an install followed by qualification: its `qualification` member (cases,
    /// percentiles, concurrency, resources sampled for real) validates, as does one whose
    /// qualification stopped early (no concurrency, no resources) and failed.
    @Test func iqReportWithQualificationMeasurementsValidates() throws {
        let start = Timestamp.now()
        let verification = VerifyReport(
            bundle: "q.ivp", manifestDigest: SHA256Digest.of(Array("manifest".utf8)), product: "PulmoScan AI",
            version: ReleaseFixture.defaultVersion,
            checks: [Check(.manifest, status: .pass), Check(.installSwitch, status: .pass)], time: start)
        let sampler = ResourceSampler(diskPath: "/tmp", intervalMilliseconds: 20)
        sampler.start()
        usleep(100_000)
        var m = QualificationMeasurements()
        m.startTime = start
        m.cases = [
            .init(
                id: "case-a", expected: .string("nodule"), answer: .string("nodule"), status: 200, error: nil,
                microseconds: 5_100),
            .init(
                id: "case-b", expected: .string("clear"), answer: .string("nodule"), status: 200, error: nil,
                microseconds: 7_200),
            .init(
                id: "case-c", expected: .integer(3), answer: nil, status: nil,
                error: "timeout: no answer within 10000 ms", microseconds: 10_000_000),
        ]
        m.p50Microseconds = 5_100
        m.p95Microseconds = 7_200
        m.concurrency = (clients: 2, requests: 4, succeeded: 3, errors: ["timeout": 1])
        m.resources = sampler.stop()
        m.endTime = Timestamp.now()
        let passed = QualificationOutcome(
            checks: [
                Check(.qualificationDataset, status: .pass), Check(.qualificationService, status: .pass),
                Check(.qualificationCase("version"), title: "The service reports its version", status: .pass),
                Check(.qualificationLatency, status: .pass), Check(.qualificationMachine, status: .pass),
            ], measurements: m)
        let context = IQReport.Context.live(
            for: verification, purpose: nil, siteID: "SITE-001", startTime: start, endTime: Timestamp.now())
        let report = IQReport.qualified(verification, qualification: passed, context: context)
        #expect(report.conclusion == .pass)

        var early = QualificationMeasurements()
        early.startTime = start
        early.endTime = start
        let failed = QualificationOutcome(
            checks: [Check(.qualificationDataset, status: .fail, details: ["labels.json: SHA-256 differs"])],
            measurements: early)
        let failedReport = IQReport.qualified(verification, qualification: failed, context: context)
        #expect(failedReport.conclusion == .fail)

        let out = TemporaryFolder()
        let files = [
            out.write("pass.json", report.canonicalBytes), out.write("fail.json", failedReport.canonicalBytes),
        ]
        let r = Self.checkSchemas(files.flatMap { ["--iq-report", $0] })
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("conclusion pass"), "\(r.stdout)")
        #expect(r.stdout.contains("conclusion fail"), "\(r.stdout)")

        // A member the schema does not know is refused, however canonical the bytes.
        let text = String(decoding: report.canonicalBytes, as: UTF8.self).replacingOccurrences(
            of: "\"p50Microseconds\":", with: "\"p50Millis\":")
        let bad = out.write("bad.json", Array(text.utf8))
        let b = Self.checkSchemas(["--iq-report", bad])
        #expect(b.status == 1, "\(b.stdout)\(b.stderr)")
        #expect(b.stderr.contains("/qualification"), "\(b.stderr)")
    }
}
