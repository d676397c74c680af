import Foundation
import Testing

@testable import IVPack

/// The fuzzing corpus replayed by `swift test` (docs/fuzzing.md): every committed seed
/// (Fuzz/corpus/TARGET) and every input a fuzzer once failed on (Fuzz/regressions/TARGET) goes
/// through the entry points its fuzz target drives (Fuzz/Sources/TARGET), with the same
/// invariants. Each must end in a value or a thrown error: a crash fails the whole test run.
/// The happy-path seeds must also still be accepted, so the corpus keeps reaching deep code as
/// the formats change (Fuzz/make-seeds.sh remakes it).
@Suite struct FuzzRegressionTests {
    static let fuzzFolder: String = {
        // Tests/IVPackTests/FuzzRegressionTests.swift → the repository → Fuzz
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fuzz").path
    }()

    /// The fixed time of the fuzzing PKI (Fuzz/pki/now): its signatures and licence verify then.
    static let now: Int64 = {
        let text = (try? String(contentsOfFile: fuzzFolder + "/pki/now", encoding: .utf8)) ?? ""
        return Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }()

    static func policy() throws -> TrustPolicy { try TrustPolicy.load(path: fuzzFolder + "/pki/trust-policy.yaml") }

    /// Seeds, then regressions, of one target: name, path and bytes.
    static func inputs(_ target: String) -> [(name: String, path: String, bytes: [UInt8])] {
        var out: [(name: String, path: String, bytes: [UInt8])] = []
        for folder in ["corpus", "regressions"] {
            let dir = fuzzFolder + "/" + folder + "/" + target
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
                !$0.hasPrefix(".")
            }.sorted()
            for name in names {
                let path = dir + "/" + name
                if let data = FileManager.default.contents(atPath: path) {
                    out.append((folder + "/" + name, path, [UInt8](data)))
                }
            }
        }
        return out
    }

    @Test(arguments: [
        "FuzzManifest", "FuzzSpec", "FuzzReleaseNotes", "FuzzBundleReader", "FuzzTrustPolicy",
        "FuzzLicenseGrant", "FuzzPDFInfo", "FuzzGGUF", "FuzzSafetensors", "FuzzPipRequirements",
    ])
    func everyTargetHasSeeds(target: String) {
        #expect(
            Self.inputs(target).filter { $0.name.hasPrefix("corpus/") }.count >= 3,
            "Fuzz/corpus/\(target) has too few seeds")
    }

    // MARK: - Replays, one per fuzz target

    @Test func manifestInputs() throws {
        let policy = try Self.policy()
        for input in Self.inputs("FuzzManifest") {
            if let value = try? JSONParser.parse(input.bytes, limits: .metadata) {
                let canonical = CanonicalJSON.encode(value)
                let again = try? JSONParser.parse(canonical, limits: .metadata)
                #expect(
                    again.map(CanonicalJSON.encode) == canonical,
                    "\(input.name): canonical JSON does not parse to itself")
                _ = PrettyJSON.render(value)
            }
            guard let manifest = try? Manifest.decode(input.bytes, source: input.name) else { continue }
            #expect(manifest.canonicalBytes == input.bytes, "\(input.name)")
            #expect((try? Manifest.decode(manifest.canonicalBytes, source: input.name)) == manifest, "\(input.name)")
            _ = VersionChecks.consistency(manifest)
            _ = VersionChecks.minimum(manifest, policy: policy)
            _ = EnvironmentCheck.evaluate(requirements: manifest.requirements, probe: FixedProbe())
        }
    }

    @Test func specInputs() {
        for input in Self.inputs("FuzzSpec") {
            guard
                let spec = try? ReleaseSpec.parse(
                    bytes: input.bytes, file: "ivpack.yaml", root: "/nonexistent/ivpack-fuzz")
            else { continue }
            #expect(ReleaseSpec.chunkSizeRange.contains(spec.chunkSize), "\(input.name)")
            if let install = spec.install {
                if let root = install.spec.root {
                    #expect(InstallSpec.normalizeRoot(root) == .success(root), "\(input.name)")
                }
                for path in install.spec.state + install.executables + install.spec.hooks.values.map(\.program) {
                    #expect(RelativePath.isCanonical(path), "\(input.name): \(path)")
                }
                #expect(InstallSpec.firstOverlap(in: install.spec.state) == nil, "\(input.name)")
            }
            if let requirements = spec.requirements {
                #expect(requirements.json.hasOnlyIntegerNumbers, "\(input.name)")
                _ = EnvironmentCheck.evaluate(requirements: requirements, probe: FixedProbe())
            }
            for policy in [GatePolicy.nmpa, GatePolicy.semver] {
                for channel in policy.channels {
                    _ = VersionNaming.check(
                        spec.version, policy: policy, channel: channel, file: spec.file, line: 1,
                        what: "the release version")
                }
            }
        }
    }

    @Test func releaseNotesInputs() throws {
        let notesPath = "release-notes/V2.3.1.1024.md"
        for input in Self.inputs("FuzzReleaseNotes") {
            guard (try? ReleaseNotesDocument.parse(bytes: input.bytes, file: notesPath)) != nil else { continue }
            for (policy, version) in [(GatePolicy.nmpa, "V2.3.1.1024"), (GatePolicy.semver, "2.3.1")] {
                let release = ReleaseUnderCheck(
                    kind: .bundle, path: "pulmoscan.ivp",
                    product: ProductSpec(name: "PulmoScan AI", vendor: "Example Medical AI Co.", model: "PS-AI"),
                    version: version, versionLine: nil, notesPath: notesPath, notesDisplay: notesPath,
                    notesBytes: input.bytes, notesProblem: nil,
                    files: [
                        ReleaseFileInfo(
                            component: ReleaseNotesComponent.name, kind: .document, path: notesPath, sha256: nil)
                    ],
                    manifest: nil, manifestDigest: nil, signatures: [], root: nil)
                for channel in policy.channels {
                    let report = ReleaseGate.run(
                        try GateContext(policy: policy, channel: channel, release: release, now: Self.now))
                    _ = report.text
                    _ = CanonicalJSON.encode(report.sarif(toolVersion: "test"))
                }
            }
        }
    }

    @Test func trustPolicyInputs() {
        for input in Self.inputs("FuzzTrustPolicy") {
            guard
                let policy = try? TrustPolicy.parse(
                    bytes: input.bytes, file: "trust-policy.yaml", folder: Self.fuzzFolder + "/pki")
            else { continue }
            #expect(!policy.trustedRoots.isEmpty, "\(input.name)")
            for role in policy.requiredRoles { #expect(policy.roles[role] != nil, "\(input.name)") }
        }
    }

    @Test func bundleInputs() throws {
        let policy = try Self.policy()
        for input in Self.inputs("FuzzBundleReader") {
            // verify throws only when the file cannot be opened; these files exist.
            let report = try BundleVerifier.verify(
                bundlePath: input.path, policy: policy, now: Self.now, probe: FixedProbe(), hashWorkers: 1)
            _ = CanonicalJSON.encode(report.json)
            _ = try? BundleInspector.inspect(path: input.path)
            if let release = try? ReleaseUnderCheck.loadBundle(path: input.path),
                let context = try? GateContext(
                    policy: .nmpa, channel: GatePolicy.nmpa.channels[0], release: release, trust: policy, now: Self.now)
            {
                _ = ReleaseGate.run(context).text
            }
        }
    }

    @Test func licenceInputs() throws {
        let policy = try Self.policy()
        for input in Self.inputs("FuzzLicenseGrant") {
            if case .success(let grant) = LicenseGrant.parse(input.bytes) {
                #expect(grant.canonicalBytes == input.bytes, "\(input.name)")
            }
            if case .success(let request) = ActivationRequest.parse(input.bytes) {
                #expect(
                    (try? ActivationRequest.parse(CanonicalJSON.encode(request.json)).get()) == request, "\(input.name)"
                )
            }
            guard let value = try? JSONParser.parse(input.bytes, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 4)),
                let signed = SignedGrant.parse(value)
            else { continue }
            _ = GrantVerifier.verify(signed, expected: Self.licenceExpectation, policy: policy, now: Self.now)
        }
    }

    // The version readers as the targets call them: on the bytes, with the default keys.
    static func pdf(_ bytes: [UInt8]) throws -> VersionReading {
        try VersionReaders.PDF.read(InMemorySource(bytes: bytes), displayPath: "manual.pdf", key: "Version")
    }
    static func gguf(_ bytes: [UInt8]) throws -> VersionReading {
        try VersionReaders.GGUF.read(InMemorySource(bytes: bytes), displayPath: "model.gguf", key: "general.version")
    }
    static func safetensors(_ bytes: [UInt8]) throws -> VersionReading {
        try VersionReaders.Safetensors.read(InMemorySource(bytes: bytes), displayPath: "model.st", key: "version")
    }
    static func requirements(_ bytes: [UInt8]) throws -> [RequirementProblem] {
        try VersionReaders.Requirements.check(InMemorySource(bytes: bytes), displayPath: "requirements.txt")
    }

    /// Whether `text` holds nothing `Display.name` would escape.
    static func isDisplaySafe(_ text: String) -> Bool { !text.unicodeScalars.contains(where: Display.needsEscape) }

    /// What the version-reader targets check of an error (FuzzSupport.fuzzCheckReaderError): its
    /// message names no raw control character, and a `byte N` location lies inside the input.
    static func expectCleanReaderError(_ error: any Error, input: (name: String, path: String, bytes: [UInt8])) {
        #expect(isDisplaySafe("\(error)"), "\(input.name): \("\(error)".debugDescription)")
        if let e = error as? InputError, e.kind == .versionSource, e.detail.hasPrefix("byte ") {
            let offset = Int(e.detail.dropFirst(5).prefix { $0.isNumber })
            #expect(offset.map { $0 <= input.bytes.count } ?? false, "\(input.name): \(e.detail)")
        }
    }

    @Test func pdfInfoInputs() {
        for input in Self.inputs("FuzzPDFInfo") {
            do {
                let reading = try Self.pdf(input.bytes)
                let characters = reading.found?.unicodeScalars.count ?? 0
                #expect(characters <= VersionReaders.PDF.maxStringBytes, "\(input.name)")
                // The path-based reader `build` calls gives the same reading.
                #expect(try VersionReaders.read(.pdfInfo, path: input.path, displayPath: "manual.pdf") == reading)
            } catch {
                Self.expectCleanReaderError(error, input: input)
            }
        }
    }

    @Test func ggufInputs() {
        for input in Self.inputs("FuzzGGUF") {
            do {
                let reading = try Self.gguf(input.bytes)
                #expect(UInt64(reading.found?.utf8.count ?? 0) <= VersionReaders.GGUF.maxVersionBytes, "\(input.name)")
                #expect(try VersionReaders.read(.gguf, path: input.path, displayPath: "model.gguf") == reading)
            } catch {
                Self.expectCleanReaderError(error, input: input)
            }
        }
    }

    @Test func safetensorsInputs() {
        for input in Self.inputs("FuzzSafetensors") {
            do {
                let reading = try Self.safetensors(input.bytes)
                #expect((reading.found?.utf8.count ?? 0) <= input.bytes.count, "\(input.name)")
                #expect(try VersionReaders.read(.safetensors, path: input.path, displayPath: "model.st") == reading)
            } catch {
                Self.expectCleanReaderError(error, input: input)
            }
        }
    }

    @Test func pipRequirementsInputs() {
        for input in Self.inputs("FuzzPipRequirements") {
            do {
                let problems = try Self.requirements(input.bytes)
                let lines = input.bytes.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
                var previous = 0
                for p in problems {
                    #expect(p.line > previous && p.line <= lines, "\(input.name): line \(p.line)")
                    #expect(!p.requirement.isEmpty, "\(input.name): line \(p.line)")
                    #expect(Self.isDisplaySafe(p.problem), "\(input.name): \(p.problem.debugDescription)")
                    previous = p.line
                }
                let viaPath = try VersionReaders.unpinnedRequirements(path: input.path, displayPath: "requirements.txt")
                #expect(viaPath == problems, "\(input.name)")
            } catch {
                Self.expectCleanReaderError(error, input: input)
            }
        }
    }

    static var licenceExpectation: GrantExpectation {
        let digest =
            (try? String(contentsOfFile: fuzzFolder + "/pki/licence-manifest-sha256", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return GrantExpectation(
            product: "PulmoScan AI", version: "V2.3.1.1024", manifestSHA256: digest, siteID: "SITE-FUZZ", nonce: nil)
    }

    // MARK: - Findings

    /// FuzzLicenseGrant found it (LeakSanitizer): a licence file whose CMS signature names an unknown
    /// digest algorithm (2.16.840.1.101.3.0.2.1, one bit away from SHA-256) in SignedData.digestAlgorithms.
    /// OpenSSL 3.0's CMS_verify then leaked the private copy it makes of a memory BIO
    /// (openssl/openssl#30471); SignedData.verifySignature now hands it a buffering filter instead.
    /// The leak itself shows only under the fuzzer; here: the grant is refused cleanly, as a bad signature.
    @Test func licenceSignatureWithUnknownDigestIsRefused() throws {
        let path = Self.fuzzFolder + "/regressions/FuzzLicenseGrant/leak-cms-verify-unknown-digest.json"
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        let signed = try #require(SignedGrant.parse(try JSONParser.parse(bytes, limits: .metadata)))
        #expect(throws: ProtocolError.self) {
            try GrantVerifier.verify(
                signed, expected: Self.licenceExpectation, policy: try Self.policy(), now: Self.now
            ).get()
        }
        if case .failure(let e) = GrantVerifier.verify(
            signed, expected: Self.licenceExpectation, policy: try Self.policy(), now: Self.now)
        {
            #expect(e.code == "grant-signature-invalid", "\(e)")
        }
        let cms = try SignedData.parse(der: signed.signature, source: "grant signature")
        #expect(cms.verifySignature(content: signed.grantBytes) != .valid)
    }

    /// The same signature flaw in a bundle's signature entry: verify reports that signature as failed.
    @Test func bundleSignatureWithUnknownDigestFails() throws {
        let path = Self.fuzzFolder + "/regressions/FuzzBundleReader/leak-cms-verify-unknown-digest"
        let report = try BundleVerifier.verify(
            bundlePath: path, policy: try Self.policy(), now: Self.now, probe: FixedProbe(), hashWorkers: 1)
        #expect(!report.passed)
        #expect(
            report.checks.contains { $0.id.rawValue.hasPrefix("signature.") && $0.status == .fail },
            "\(report.checks.map { "\($0.id) \($0.status)" })")
    }

    /// A manifest may declare a file of any size up to Int64.max; Manifest.chunkCount overflowed for
    /// sizes within a chunk of it, and the arithmetic-overflow trap crashed `verify`, `inspect` and
    /// `check` on such a bundle (found while writing FuzzManifest, reproduced by FuzzManifest and
    /// FuzzBundleReader). Now the manifest is refused: the chunk list cannot match.
    @Test func manifestWithHugeFileSizeIsRefused() throws {
        let path = Self.fuzzFolder + "/regressions/FuzzManifest/size-overflow.json"
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        let error = #expect(throws: InputError.self) { try Manifest.decode(bytes, source: "size-overflow.json") }
        #expect(error?.kind == .manifest)
        #expect(Manifest.chunkCount(size: .max, chunkSize: 64 << 10) == Int(Int64.max / (64 << 10)) + 1)
        #expect(Manifest.chunkCount(size: 0, chunkSize: 64 << 10) == 1)
        #expect(Manifest.chunkCount(size: 64 << 10, chunkSize: 64 << 10) == 1)
        #expect(Manifest.chunkCount(size: (64 << 10) + 1, chunkSize: 64 << 10) == 2)
    }

    /// The same manifest as the first entry of a bundle: verify and inspect refuse it cleanly.
    @Test func bundleWithHugeFileSizeIsRefused() throws {
        let path = Self.fuzzFolder + "/regressions/FuzzBundleReader/manifest-size-overflow"
        let report = try BundleVerifier.verify(
            bundlePath: path, policy: try Self.policy(), now: Self.now, probe: FixedProbe(), hashWorkers: 1)
        #expect(report.checks.first { $0.id == .manifest }?.status == .fail)
        let error = #expect(throws: InputError.self) { try BundleInspector.inspect(path: path) }
        #expect(error?.kind == .manifest)
    }

    /// FuzzPDFInfo, FuzzSafetensors and FuzzPipRequirements found it in their first minute: the
    /// version readers put hostile text raw into their messages (a PDF byte that is not a hex
    /// digit, a JSON member name holding \u0000, a byte-order mark inside a requirement's version),
    /// so a file could write control characters, terminal escapes or bidirectional overrides into
    /// the terminal or CI log of whoever builds the release. They now go through `Display`.
    @Test func pdfErrorShowsAHostileByteEscaped() throws {
        let path = Self.fuzzFolder + "/regressions/FuzzPDFInfo/raw-byte-in-hex-string-error.pdf"
        let e = try #require(throws: InputError.self) {
            try VersionReaders.read(.pdfInfo, path: path, displayPath: "manual.pdf")
        }
        #expect(e.problem.contains("holds byte 0x"), "\(e)")
        #expect(Self.isDisplaySafe(e.description), "\(e.description.debugDescription)")
    }

    @Test func safetensorsErrorShowsAHostileKeyEscaped() throws {
        let path = Self.fuzzFolder + "/regressions/FuzzSafetensors/nul-in-json-key-error.safetensors"
        let e = try #require(throws: InputError.self) {
            try VersionReaders.read(.safetensors, path: path, displayPath: "model.safetensors")
        }
        #expect(e.problem.contains("_metad\\u{0}"), "\(e)")
        #expect(Self.isDisplaySafe(e.description), "\(e.description.debugDescription)")
    }

    /// FuzzSafetensors, a second into its 10-minute run (4,620 inputs): JSONParser's "invalid
    /// escape" error put the byte after the backslash raw into the message (here 0x91, a C1 control).
    @Test func safetensorsErrorShowsAHostileEscapeByteEscaped() throws {
        let path = Self.fuzzFolder + "/regressions/FuzzSafetensors/raw-byte-in-json-escape-error.safetensors"
        let e = try #require(throws: InputError.self) {
            try VersionReaders.read(.safetensors, path: path, displayPath: "model.safetensors")
        }
        #expect(e.problem.contains("invalid escape: a backslash followed by byte 0x91"), "\(e)")
        #expect(Self.isDisplaySafe(e.description), "\(e.description.debugDescription)")
    }

    @Test func requirementProblemShowsAHostileVersionEscaped() throws {
        let path = Self.fuzzFolder + "/regressions/FuzzPipRequirements/bom-inside-version-problem.txt"
        let problems = try VersionReaders.unpinnedRequirements(path: path, displayPath: "requirements.txt")
        let first = try #require(problems.first)
        #expect(first.line == 1 && first.problem.contains("\\u{feff}"), "\(first)")
        for p in problems { #expect(Self.isDisplaySafe(p.problem), "\(p.problem.debugDescription)") }
    }

    // MARK: - The happy-path seeds are still accepted

    @Test func validSeedsAreAccepted() throws {
        let corpus = Self.fuzzFolder + "/corpus"
        func bytes(_ relative: String) throws -> [UInt8] {
            [UInt8](
                try #require(
                    FileManager.default.contents(atPath: corpus + "/" + relative), "Fuzz/corpus/\(relative) is missing")
            )
        }
        for name in [
            "minimal.json", "with-sbom.json", "pulmoscan.json", "with-install.json", "install-destinations.json",
        ] {
            _ = try Manifest.decode(try bytes("FuzzManifest/" + name), source: "Fuzz/corpus/FuzzManifest/" + name)
        }
        for name in [
            "minimal.yaml", "with-sbom.yaml", "pulmoscan.yaml", "with-install.yaml", "install-destinations.yaml",
        ] {
            _ = try ReleaseSpec.parse(
                bytes: try bytes("FuzzSpec/" + name), file: "Fuzz/corpus/FuzzSpec/" + name, root: "/nonexistent")
        }
        _ = try TrustPolicy.parse(
            bytes: try bytes("FuzzTrustPolicy/full.yaml"), file: "Fuzz/corpus/FuzzTrustPolicy/full.yaml",
            folder: Self.fuzzFolder + "/pki")
        for name in ["minimal-signed", "with-sbom-signed"] {
            let report = try BundleVerifier.verify(
                bundlePath: corpus + "/FuzzBundleReader/" + name, policy: try Self.policy(), now: Self.now,
                probe: FixedProbe(), hashWorkers: 1)
            #expect(
                report.passed,
                "FuzzBundleReader/\(name): \(report.checks.filter { $0.status == .fail }.map { "\($0.id): \($0.details)" })"
            )
        }
        let pdfs = [
            ("example-user-manual.pdf", "V2.3.1.1024"), ("classic.pdf", "V2.3.1.1024"),
            ("utf16-version.pdf", "V2.3.1.1024 (版)"), ("escapes-utf8-bom.pdf", "2.3.1"),
            ("version-by-reference.pdf", "2.3.1"), ("inline-info.pdf", "2.3.1"),
            ("xref-stream.pdf", "V2.3.1.1024"), ("xref-stream-flate.pdf", "V2.3.1.1024"),
            ("incremental-update.pdf", "2.3.1"), ("incremental-xref-stream.pdf", "2.3.1"),
            ("hybrid-xrefstm.pdf", "V2.3.1.1024"), ("generation-2-comments.pdf", "2.3.1"),
            ("wrong-offsets.pdf", "V2.3.1.1024"), ("large-incremental.pdf", "2.3.1"),
        ]
        for (name, version) in pdfs {
            #expect(try Self.pdf(try bytes("FuzzPDFInfo/" + name)).found == version, "FuzzPDFInfo/\(name)")
        }
        // What ivpack does not read, it says so: an /Info inside a compressed object stream.
        for name in ["object-stream.pdf", "object-stream-flate.pdf"] {
            let e = try #require(throws: InputError.self, "FuzzPDFInfo/\(name)") {
                try Self.pdf(try bytes("FuzzPDFInfo/" + name))
            }
            #expect(e.problem.contains("object stream"), "\(e)")
        }
        let ggufs = [
            ("v3-full.gguf", "V2.3.1.1024"), ("v3-version-first.gguf", "2.3.1"), ("v2.gguf", "2.3.1"),
            ("big-endian.gguf", "2.3.1"),
        ]
        for (name, version) in ggufs {
            #expect(try Self.gguf(try bytes("FuzzGGUF/" + name)).found == version, "FuzzGGUF/\(name)")
        }
        for (name, version) in [("metadata.safetensors", "V2.3.1.1024"), ("metadata-last.safetensors", "2.3.1")] {
            #expect(try Self.safetensors(try bytes("FuzzSafetensors/" + name)).found == version, "\(name)")
        }
        _ = try Self.safetensors(try bytes("FuzzSafetensors/example-nodule-detector.safetensors"))
        for name in ["example-requirements.txt", "hashes-continuations.txt", "only-options.txt"] {
            let problems = try Self.requirements(try bytes("FuzzPipRequirements/" + name))
            #expect(problems.isEmpty, "FuzzPipRequirements/\(name): \(problems)")
        }
        _ = try LicenseGrant.parse(try bytes("FuzzLicenseGrant/grant.json")).get()
        _ = try ActivationRequest.parse(try bytes("FuzzLicenseGrant/activation-request.json")).get()
        let file = try JSONParser.parse(try bytes("FuzzLicenseGrant/licence-file.json"), limits: .metadata)
        let signed = try #require(SignedGrant.parse(file))
        _ = try GrantVerifier.verify(
            signed, expected: Self.licenceExpectation, policy: try Self.policy(), now: Self.now
        ).get()
    }
}

/// Fixed readings of a machine that meets the seeds' requirements (the same as Fuzz/Sources/FuzzSupport).
private struct FixedProbe: SystemProbe {
    func processors() throws(ProbeError) -> ProcessorReading {
        ProcessorReading(count: 8, flags: ["sse4_2", "avx", "avx2", "fma"], source: "fuzz")
    }
    func memory() throws(ProbeError) -> MemoryReading { MemoryReading(totalBytes: 32 << 30, source: "fuzz") }
    func freeSpace(at path: String) throws(ProbeError) -> DiskReading {
        if path.contains("nospace") { throw ProbeError("fuzz: no such file system") }
        return DiskReading(measuredPath: "/", freeBytes: 100 << 30)
    }
    func operatingSystem() throws(ProbeError) -> OSReading {
        OSReading(id: "ubuntu", versionID: "22.04", prettyName: "Ubuntu 22.04.4 LTS", source: "fuzz")
    }
    func kernelRelease() throws(ProbeError) -> KernelReading {
        KernelReading(release: "5.15.0-105-generic", source: "fuzz")
    }
    func gpus(vendor: String?) throws(ProbeError) -> GPUReading {
        .found(
            [
                GPUInfo(
                    vendor: "NVIDIA", name: "NVIDIA A100-SXM4-40GB", memoryBytes: 40 << 30, driverVersion: "535.161.07")
            ], source: "fuzz")
    }
    func toolVersion(_ name: String) throws(ProbeError) -> ToolReading {
        guard name == "python3" || name == "docker" else { throw ProbeError("fuzz: \(name) is not installed") }
        return ToolReading(path: "/usr/bin/" + name, version: DottedVersion("3.10.12")!, line: "\(name) 3.10.12")
    }
}
