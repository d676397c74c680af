import IVPack
import IVPackTestSupport
import Testing

@Suite struct ManifestTests {
    func sample() throws -> (Manifest, [UInt8]) {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        let result = try release.build(to: out.url("b.ivp"))
        return (result.manifest, result.manifest.canonicalBytes)
    }

    /// An install member that uses every part of it; `service/run.sh` is a 0755 file of the fixture.
    static let install = InstallSpec(
        root: "/opt/example-medical/pulmoscan", state: ["etc", "var/db"],
        hooks: [
            .preInstall: .init(run: ["service/run.sh", "--migrate", "über \"quoted\""], timeoutSeconds: 300),
            .healthCheck: .init(run: ["service/run.sh", "--check"], timeoutSeconds: 30),
            .postRollback: .init(run: ["service/run.sh"], timeoutSeconds: 1),
        ], destinations: ["manuals": "share/doc/pulmoscan", "licences": "share/licences"])

    /// A qualification member that uses every part of it, on the fixture's files: `licences` as
    /// the dataset (LICENSE.txt as its labels: the manifest readers do not open files).
    static let qualification: QualificationSpec = {
        var metrics = QualificationSpec.Metrics(
            request: .init(
                method: "POST", url: "http://127.0.0.1:{port}/v1/x", contentType: "application/octet-stream"),
            answer: "$.findings[0].label", timeoutSeconds: 12)
        metrics.latency = (p50Milliseconds: 250, p95Milliseconds: 1000)
        metrics.concurrency = (clients: 4, requests: 40, minSuccessPermille: 990)
        metrics.accuracyMinPermille = 950
        metrics.maxMemoryBytes = 512 << 20
        metrics.maxCPUPercent = 400
        return QualificationSpec(
            service: .init(run: ["service/run.sh", "--port", "{port}"], ready: "http://127.0.0.1:{port}/healthz"),
            dataset: .init(component: "licences", labels: "LICENSE.txt"),
            cases: [
                .init(
                    id: "version", clause: "4.3.1 a", title: "Version \"quoted\" 版本",
                    http: .init(method: "GET", url: "https://localhost:{port}/v?x=1"),
                    expect: .init(
                        status: 200,
                        json: [
                            ("$.a[2].b", .string("{version}")), ("$.n", .integer(3)), ("$.ok", .bool(true)),
                            ("$.z", .null),
                        ],
                        regex: "^\\{", sha256: String(repeating: "ab", count: 32)), timeoutSeconds: 5),
                .init(
                    id: "self-check", clause: "4.3.1 d", title: "Self-check",
                    run: ["service/run.sh", "--check", "{port}"],
                    expect: .init(exitStatus: 3, regex: "ok"), timeoutSeconds: 60),
                .init(
                    id: "body", clause: "4.3.1 c", title: "Body",
                    http: .init(
                        method: "POST", url: "http://127.0.0.1:{port}/", body: "service/VERSION",
                        contentType: "text/plain"),
                    expect: .init(status: 400)),
            ], metrics: metrics)
    }()

    @Test func canonicalBytesDecodeToTheSameManifest() throws {
        let (manifest, bytes) = try sample()
        #expect(try Manifest.decode(bytes, source: "test") == manifest)
    }

    @Test func nonCanonicalManifestIsRefused() throws {
        let (_, bytes) = try sample()
        let pretty = Array(PrettyJSON.render(try JSONParser.parse(bytes)).utf8)
        let error = #expect(throws: InputError.self) { try Manifest.decode(pretty, source: "test") }
        #expect(error?.kind == .manifest)
        #expect(error?.problem.contains("canonical") == true)
    }

    @Test(arguments: [
        ("\"path\":\"payload/service/VERSION\"", "\"path\":\"payload/../etc/passwd\"", "/components/0/files/0/path"),
        ("\"mode\":\"0644\"", "\"mode\":\"4755\"", "/mode"),
        ("\"format\":\"ivpack-manifest/1\"", "\"format\":\"ivpack-manifest/9\"", "/format"),
        ("\"kind\":\"code\"", "\"kind\":\"binary\"", "/components/0/kind"),
    ])
    func invalidMembersAreNamedByPointer(from: String, to: String, pointer: String) throws {
        let (_, bytes) = try sample()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(from))
        let changed = Array(text.replacingOccurrences(of: from, with: to).utf8)
        let error = #expect(throws: InputError.self) { try Manifest.decode(changed, source: "test") }
        #expect(error?.kind == .manifest)
        #expect(error?.field.hasSuffix(pointer) == true, "\(String(describing: error))")
    }

    @Test func aFileListedTwiceIsRefused() throws {
        let (manifest, _) = try sample()
        var twice = manifest
        twice.components[0].files.append(twice.components[0].files[0])
        let error = #expect(throws: InputError.self) { try Manifest.decode(twice.canonicalBytes, source: "test") }
        #expect(error?.kind == .manifest)
        #expect(error?.problem.contains("listed twice") == true)
    }

    // MARK: The one-pass reader (CanonicalManifestReader) against the general reader

    /// Both readers on one input: where the one-pass reader returns a manifest, the general reader
    /// returns the same one, and where the general reader accepts, the one-pass reader does too.
    /// Returns whether the general reader accepted.
    @discardableResult
    func expectReadersAgree(_ bytes: [UInt8], _ what: @autoclosure () -> String) -> Bool {
        let fast = Manifest.readCanonical(bytes)
        let general = try? Manifest.decodeGeneral(bytes, source: "test")
        if let fast {
            #expect(
                general == fast,
                "one-pass reader accepted what the general reader refused or read differently: \(what())")
        }
        if general != nil {
            #expect(fast != nil, "one-pass reader refused a valid canonical manifest: \(what())")
        }
        return general != nil
    }

    /// The manifest with the files of `components` encrypted: file indexes by position, one
    /// made-up ciphertext digest per chunk, and the top-level encryption member.
    static func encrypted(_ manifest: Manifest, components: [String] = ["nodule-detector", "licences"]) -> Manifest {
        var m = manifest
        var position = 0
        for ci in m.components.indices {
            for fi in m.components[ci].files.indices {
                defer { position += 1 }
                guard components.contains(m.components[ci].name) else { continue }
                let count = m.components[ci].files[fi].chunks.count
                // Digested as stored only: no plaintext chunk digests.
                m.components[ci].files[fi].chunks = []
                m.components[ci].files[fi].encryption = Manifest.FileEncryption(
                    fileIndex: position, ciphertextChunks: (0..<count).map { SHA256Digest.of([UInt8($0), 0xEE]) })
            }
        }
        m.encryption = Manifest.Encryption(
            components: m.components.map(\.name).filter { components.contains($0) },
            keyCheck: String(repeating: "0f", count: 32), keyOrigin: "generated")
        return m
    }

    @Test func bothReadersAgreeOnEncryptedManifestsAndTheirRules() throws {
        let (manifest, _) = try sample()
        let encrypted = Self.encrypted(manifest)
        #expect(encrypted.canonicalBytes == CanonicalJSON.encode(encrypted.json))
        #expect(Manifest.readCanonical(encrypted.canonicalBytes) == encrypted)
        #expect(try Manifest.decodeGeneral(encrypted.canonicalBytes, source: "t") == encrypted)
        // Each rule, refused by both readers with the member named.
        var cases: [(Manifest, String)] = []
        var noMember = encrypted
        noMember.encryption = nil
        cases.append((noMember, "needs the manifest's encryption member"))
        var unlisted = encrypted
        unlisted.encryption?.components = ["nodule-detector"]
        cases.append((unlisted, "is not listed in /encryption/components"))
        let notes = Self.encrypted(manifest, components: ["nodule-detector", "release-notes"])
        cases.append((notes, "the release notes are never encrypted"))
        var order = encrypted
        order.encryption?.components = ["licences", "nodule-detector"]
        cases.append((order, "is not listed in /encryption/components"))
        var index = encrypted
        index.components[1].files[0].encryption?.fileIndex = 0
        cases.append((index, "encryption/fileIndex"))
        var digests = encrypted
        digests.components[1].files[0].encryption?.ciphertextChunks.append(.zero)
        cases.append((digests, "encryption/ciphertextChunks"))
        var half = encrypted
        half.components[1].files[0].encryption = nil
        half.components[1].files[0].chunks = manifest.components[1].files[0].chunks
        cases.append((half, "is encrypted but this file is not"))
        // Plaintext chunk digests beside the ciphertext's: refused (they would tell which pieces
        // of a confidential file changed between two bundles).
        var plainDigests = encrypted
        plainDigests.components[1].files[0].chunks = manifest.components[1].files[0].chunks
        cases.append((plainDigests, "an encrypted file has none"))
        var unknown = encrypted
        unknown.encryption?.components.append("weights")
        cases.append((unknown, "\"weights\" is not a component"))
        var origin = encrypted
        origin.encryption?.keyOrigin = "typed"
        cases.append((origin, "keyOrigin"))
        var check = encrypted
        check.encryption?.keyCheck = String(repeating: "0F", count: 32)
        cases.append((check, "keyCheck"))
        var algorithm = encrypted
        algorithm.encryption?.algorithm = "AES-128-CTR"
        cases.append((algorithm, "/encryption/algorithm"))
        for (m, problem) in cases {
            let bytes = m.canonicalBytes
            #expect(Manifest.readCanonical(bytes) == nil, "\(problem)")
            do {
                _ = try Manifest.decodeGeneral(bytes, source: "t")
                Issue.record("accepted: \(problem)")
            } catch {
                #expect("\(error)".contains(problem), "\(error)")
            }
        }
        // Every byte of the encryption members changed: both readers judge alike.
        let bytes = encrypted.canonicalBytes
        let member = Array(#","encryption":{"algorithm""#.utf8)
        let start = try #require(bytes.firstRange(of: member)).lowerBound
        let fileMember = Array(#","encryption":{"ciphertextChunks""#.utf8)
        let fileStart = try #require(bytes.firstRange(of: fileMember)).lowerBound
        for i in Array((start - 2)..<(start + 200)) + Array((fileStart - 2)..<(fileStart + 220)) {
            var variant = bytes
            switch i % 3 {
            case 0: variant[i] ^= 0x01
            case 1: variant[i] = UInt8(ascii: " ")
            default: variant.remove(at: i)
            }
            _ = expectReadersAgree(variant, "byte \(i), change \(i % 3)")
        }
    }

    @Test func theOnePassReaderReadsWhatTheGeneralReaderReads() throws {
        let (manifest, bytes) = try sample()
        #expect(manifest.requirements != nil, "the sample should exercise the requirements member")
        #expect(Manifest.readCanonical(bytes) == manifest)
        #expect(try Manifest.decodeGeneral(bytes, source: "test") == manifest)

        // Non-ASCII text, and every escape the canonical form uses.
        var unicode = manifest
        unicode.product.name = "Lungen-Prüfplatz 肺"
        unicode.components[0].versionEvidence[0].location = "tag \u{1F4A1}"
        #expect(Manifest.readCanonical(unicode.canonicalBytes) == unicode)
        var quoted = manifest
        quoted.components[0].versionEvidence[0].location = "the \"version\" line\n\t\\ \u{1}\u{7f}"
        #expect(String(decoding: quoted.canonicalBytes, as: UTF8.self).contains(#"line\n\t\\ \u0001"#))
        #expect(Manifest.readCanonical(quoted.canonicalBytes) == quoted)
        // Escapes the canonical form does not write are refused by both.
        let quotedText = String(decoding: quoted.canonicalBytes, as: UTF8.self)
        for (canonical, other) in [
            (#"\u0001"#, #"\u0001"#.uppercased()), (#"\""#, #"\u0022"#), (#"\n"#, #"\u000a"#),
            ("payload/", #"payload\/"#),
        ] {
            let changed = Array(quotedText.replacingOccurrences(of: canonical, with: other).utf8)
            #expect(!expectReadersAgree(changed, "\(canonical) written as \(other)"), "\(other) was accepted")
        }
        var empty = manifest
        empty.components[0].versionEvidence = []
        empty.provenance.git = []
        empty.requirements = nil
        expectReadersAgree(empty.canonicalBytes, "empty arrays, no requirements")
        #expect(Manifest.readCanonical(empty.canonicalBytes) == empty)

        // The install member, whole and in parts.
        for install in [
            Self.install, InstallSpec(root: "/opt/x"), InstallSpec(state: ["a"]),
            InstallSpec(hooks: [.postInstall: .init(run: ["service/run.sh"])]),
            InstallSpec(
                hooks: [.postInstall: .init(run: ["service/run.sh"])], destinations: ["inference-service": "app"]),
            InstallSpec(destinations: ["release-notes": "share/doc/pulmoscan/notes"]),
        ] {
            var installed = manifest
            installed.install = install
            #expect(expectReadersAgree(installed.canonicalBytes, "install \(install)"))
            #expect(Manifest.readCanonical(installed.canonicalBytes) == installed)
        }
        // The qualification member, whole and in parts.
        for qualification in [
            Self.qualification, QualificationSpec(notApplicable: "no service"),
            QualificationSpec(cases: [Self.qualification.cases[1]]),
        ] {
            var qualified = manifest
            qualified.qualification = qualification
            #expect(expectReadersAgree(qualified.canonicalBytes, "qualification \(qualification)"))
            #expect(Manifest.readCanonical(qualified.canonicalBytes) == qualified)
            #expect(try Manifest.decode(qualified.canonicalBytes, source: "test") == qualified)
        }
    }

    /// `canonicalBytes` writes the typed values directly; it must be exactly the canonical
    /// encoding of the manifest's JSON form, for every kind of content.
    @Test func directCanonicalWritingEqualsTheCanonicalEncodingOfTheJSONForm() throws {
        let (manifest, _) = try sample()
        var variants = [manifest]
        var unusual = manifest
        unusual.product.name = "Lungen-Prüfplatz 肺 \"quoted\" \\ \u{1}\u{7f}\t"
        unusual.components[0].versionEvidence[0].location = "line\nbreak"
        unusual.provenance.git[0].annotatedTag = false
        unusual.provenance.sourceDateEpoch = 0
        variants.append(unusual)
        var bare = manifest
        bare.requirements = nil
        bare.provenance.git = []
        bare.components = bare.components.map {
            var c = $0
            c.versionEvidence = []
            return c
        }
        variants.append(bare)
        var manyChunks = manifest
        manyChunks.components[0].files[0].size = 5 * 65536 + 1
        manyChunks.components[0].files[0].chunks = (0..<6).map { SHA256Digest.of([UInt8($0)]) }
        variants.append(manyChunks)
        var installed = manifest
        installed.install = Self.install
        variants.append(installed)
        var qualified = installed
        qualified.qualification = Self.qualification
        variants.append(qualified)
        for (i, m) in variants.enumerated() {
            #expect(m.canonicalBytes == CanonicalJSON.encode(m.json), "variant \(i)")
        }
        #expect(Manifest.readCanonical(manyChunks.canonicalBytes) == manyChunks)
    }

    /// Every byte of a real manifest changed one of three ways in turn (low bit flipped, replaced
    /// by a space, deleted): both readers must judge every variant alike.
    @Test func bothReadersJudgeEveryOneByteChangeAlike() throws {
        let (manifest, bytes) = try sample()
        var accepted = 0
        // The whole manifest, then each byte of an install member (with the bytes around it).
        var installed = manifest
        installed.install = Self.install
        let withInstall = installed.canonicalBytes
        let member = Array(#","install":"#.utf8)
        let start = try #require(withInstall.firstRange(of: member)).lowerBound
        let end = start + member.count + CanonicalJSON.encode(Self.install.json).count
        var qualified = manifest
        qualified.qualification = Self.qualification
        let withQualification = qualified.canonicalBytes
        let qMember = Array(#","qualification":"#.utf8)
        let qStart = try #require(withQualification.firstRange(of: qMember)).lowerBound
        let qEnd = qStart + qMember.count + CanonicalJSON.encode(Self.qualification.json).count
        for (bytes, range) in [
            (bytes, bytes.indices), (withInstall, (start - 2)..<(end + 2)),
            (withQualification, (qStart - 2)..<(qEnd + 2)),
        ] {
            for i in range {
                var variant = bytes
                switch i % 3 {
                case 0: variant[i] ^= 0x01
                case 1: variant[i] = UInt8(ascii: " ")
                default: variant.remove(at: i)
                }
                if expectReadersAgree(variant, "byte \(i), change \(i % 3)") { accepted += 1 }
            }
        }
        // Some changes stay valid (a letter of a version text, a digest digit): the test compared
        // accepted manifests too, not only refusals.
        #expect(accepted > 0)
    }

    @Test(arguments: [
        ("\"size\":", "\"size\":0", "leading zero"),
        ("\"chunkSize\":", "\"chunkSize\":-", "negative"),
        ("\"sourceDateEpoch\":", "\"sourceDateEpoch\":99999999999999999999", "beyond Int64"),
        ("{\"chunkSize\"", " {\"chunkSize\"", "leading whitespace"),
    ])
    func numbersAndSpacingOutsideTheCanonicalFormAreRefusedByBoth(from: String, to: String, what: String) throws {
        let (_, bytes) = try sample()
        let text = String(decoding: bytes, as: UTF8.self)
        let changed = Array(text.replacingOccurrences(of: from, with: to).utf8)
        #expect(changed != bytes)
        #expect(Manifest.readCanonical(changed) == nil, "\(what)")
        let error = #expect(throws: InputError.self, "\(what)") { try Manifest.decode(changed, source: "test") }
        #expect(error?.kind == .manifest, "\(what)")
    }
}
