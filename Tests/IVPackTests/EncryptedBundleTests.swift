import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// Encrypted components (issue 17): build encrypts chunk by chunk and wraps the key for
/// recipients, verify checks an encrypted bundle without the key, install decrypts while it
/// extracts with a recipient's key or a key file, and refuses, writing nothing, without one.
@Suite struct EncryptedBundleTests {
    /// One fixture: a 2 MiB LICENSE.txt (32 chunks of 64 KiB: the workers' direct path) in
    /// component `licences`, and the model in `nodule-detector`, both encrypted; recipients an
    /// RSA and an EC certificate; the key exported so tests can compare it.
    struct Encrypted {
        let f: InstallFixture
        let recipients: RecipientCertificates
        let rsa: RecipientCertificates.Recipient
        let ec: RecipientCertificates.Recipient
        let bundle: String
        let keyFile: String

        init(keyFile given: String? = nil, name: String = "enc") throws {
            f = try InstallFixture()
            recipients = RecipientCertificates()
            rsa = try recipients.rsa("site-rsa")
            ec = try recipients.ec("site-ec")
            var options = BuildEncryption()
            options.components = ["nodule-detector", "licences"]
            options.recipients = [("site-rsa", try rsa.loadCertificate()), ("site-ec", try ec.loadCertificate())]
            if let given {
                options.key = try ContentKey.load(file: given)
                keyFile = given
            } else {
                keyFile = f.work.url("\(name).key")
                options.exportKey = keyFile
            }
            bundle = try f.bundle(version: InstallTests.v1, name: name, encryption: options)
        }

        var manifest: Manifest { get throws { try BundleReader(path: bundle).manifest } }

        /// Offset and size of `entry`'s data in the bundle.
        func data(of entry: String) throws -> (offset: Int64, size: Int64) {
            let reader = try BundleReader(path: bundle)
            while let e = try reader.next() {
                if e.tar.path == entry { return (e.tar.dataOffset, e.tar.size) }
            }
            throw MissingEntry(path: entry)
        }

        func request(_ sources: [ContentKeySource]) throws -> InstallRequest {
            var request = try f.request(bundle)
            request.contentKeys = sources
            return request
        }
    }

    static func bytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }

    static func installError(_ body: () throws -> Void) -> InstallError? {
        do {
            try body()
            return nil
        } catch let error as InstallError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test(.clause("IQ 5.1.2")) func ciphertextRevealsNothingAndVerifyPassesWithoutTheKey() throws {
        let e = try Encrypted()
        let manifest = try e.manifest
        let encryption = try #require(manifest.encryption)
        #expect(encryption.components == ["nodule-detector", "licences"])
        #expect(encryption.keyOrigin == "generated")
        #expect(encryption.keyCheck == (try ContentKey.load(file: e.keyFile).checkValue()))
        let files = manifest.allFiles
        for (index, file) in files.enumerated() where file.encryption != nil {
            #expect(file.encryption?.fileIndex == index)
            #expect(
                file.encryption?.ciphertextChunks.count
                    == Manifest.chunkCount(size: file.size, chunkSize: manifest.chunkSize))
            // No plaintext chunk digests of a confidential file.
            #expect(file.chunks.isEmpty)
        }
        // The manifest as the JSON Schema describes it (encrypted files: chunks empty).
        let schema = run(
            "/usr/bin/env", ["python3", SchemaTests.repositoryRoot + "/scripts/check-schemas.py", e.bundle],
            in: SchemaTests.repositoryRoot)
        #expect(schema.status == 0, "\(schema.stdout)\(schema.stderr)")
        // The model's stored bytes: no safetensors header, and gzip cannot shrink them.
        let model = try e.data(of: "payload/models/detector.safetensors")
        let modelFile = try #require(files.first { $0.path == "payload/models/detector.safetensors" })
        #expect(model.size == modelFile.size + 16 * Int64(modelFile.encryption?.ciphertextChunks.count ?? -1))
        let stored = Array(Self.bytes(e.bundle)[Int(model.offset)..<Int(model.offset + model.size)])
        // safetensors starts with an 8-byte little-endian header length, then '{"': not both
        // (one ciphertext byte alone is '{' once in 256 builds).
        #expect(stored[8...9] != [UInt8(ascii: "{"), UInt8(ascii: "\"")])
        let dumped = e.f.work.write("model.enc", stored)
        let gz = run("/bin/sh", ["-c", "gzip -9 -c '\(dumped)' | wc -c"])
        #expect((Int(gz.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= stored.count)
        // The big file: same check on its stored ciphertext.
        let big = try e.data(of: "payload/LICENSE.txt")
        #expect(big.size == Int64(InstallFixture.bigSize) + 16 * 32)

        let report = try e.f.signed.verify(e.bundle)
        #expect(report.passed, "\(report.failureText)")
        #expect(report.checks.contains { $0.id == .payload && $0.status == .pass })
        let check = try #require(report.checks.first { $0.id == .encryption })
        #expect(check.status == .pass)
        #expect(check.details.contains { $0.contains("001-site-rsa.p7m") && $0.contains("RSA-OAEP") })
        #expect(check.details.contains { $0.contains("002-site-ec.p7m") && $0.contains("ECDH") })
        // A bundle in the clear has no encryption check.
        let clear = try e.f.bundle(version: InstallTests.v1, name: "clear")
        #expect(try e.f.signed.verify(clear).checks.contains { $0.id == .encryption } == false)
    }

    @Test(.clause("IQ 5.1.2", "IQ 6.2.2 f")) func flippedCiphertextFailsVerifyAndInstallNamingFileAndChunk() throws {
        let e = try Encrypted()
        let big = try e.data(of: "payload/LICENSE.txt")
        // A byte inside encrypted chunk 3 (each stored chunk is 65,536 + 16 bytes).
        let offset = Int(big.offset) + 3 * (65536 + 16) + 100
        var bytes = Self.bytes(e.bundle)
        bytes[offset] ^= 0x01
        let bad = e.f.work.write("bad.ivp", bytes)
        let report = try e.f.signed.verify(bad)
        #expect(report.failedIDs == [.payload])
        #expect(report.failureText.contains("payload/LICENSE.txt: encrypted chunk 3"), "\(report.failureText)")

        var request = try e.f.request(bad)
        request.contentKeys = [.keyFile(e.keyFile)]
        let error = Self.installError { _ = try Installer.install(request) }
        guard case .payloadMismatch(_, let problems) = error else {
            Issue.record("expected a payload mismatch, got \(String(describing: error))")
            return
        }
        #expect(
            problems.contains { $0.contains("payload/LICENSE.txt: encrypted chunk 3 fails authentication") },
            "\(problems)")
        #expect(e.f.currentTarget == nil)
        #expect(!e.f.releaseFolderNames().contains { !$0.hasPrefix(".") && $0.contains("V2") })
    }

    /// Every recipient holds the bundle's key, and with it GCM lets anyone make a chunk that
    /// authenticates: install must hold the stored chunk to its signed digest, not only to its tag.
    @Test(.clause("IQ 5.1.2")) func aChunkReencryptedByAHolderOfTheKeyIsRefused() throws {
        let e = try Encrypted()
        let manifest = try e.manifest
        let file = try #require(manifest.allFiles.first { $0.path == "payload/LICENSE.txt" })
        let fileIndex = UInt32(try #require(file.encryption).fileIndex)
        let big = try e.data(of: "payload/LICENSE.txt")
        let stride = 65536 + 16
        let forged = try ContentCipherTests.encryptOne(
            [UInt8](repeating: 0x41, count: 65536), fileIndex: fileIndex, chunkIndex: 3, isFinal: false,
            with: try ChunkCipher(key: try ContentKey.load(file: e.keyFile)))
        #expect(forged.count == stride)
        var bytes = Self.bytes(e.bundle)
        let at = Int(big.offset) + 3 * stride
        bytes.replaceSubrange(at..<(at + stride), with: forged)
        let bad = e.f.work.write("forged.ivp", bytes)
        let error = Self.installError { _ = try Installer.install(try e.f.request(bad).with([.keyFile(e.keyFile)])) }
        guard case .payloadMismatch(_, let problems) = error else {
            Issue.record("expected a payload mismatch, got \(String(describing: error))")
            return
        }
        #expect(
            problems.contains {
                $0.contains("payload/LICENSE.txt: encrypted chunk 3 authenticates under the key but does not match")
            }, "\(problems)")
        #expect(problems.count == 1, "\(problems)")
        #expect(e.f.currentTarget == nil)
        // verify, without the key, says the same of the stored bytes.
        #expect(try e.f.signed.verify(bad).failureText.contains("payload/LICENSE.txt: encrypted chunk 3"))
    }

    @Test func exchangedChunksAreDetectedWhileDecrypting() throws {
        let e = try Encrypted()
        let big = try e.data(of: "payload/LICENSE.txt")
        let stride = 65536 + 16
        var bytes = Self.bytes(e.bundle)
        let a = Int(big.offset) + 4 * stride
        let b = Int(big.offset) + 5 * stride
        let chunkA = Array(bytes[a..<(a + stride)])
        bytes.replaceSubrange(a..<(a + stride), with: bytes[b..<(b + stride)])
        bytes.replaceSubrange(b..<(b + stride), with: chunkA)
        let swapped = e.f.work.write("swapped.ivp", bytes)
        let error = Self.installError {
            _ = try Installer.install(try e.f.request(swapped).with([.keyFile(e.keyFile)]))
        }
        guard case .payloadMismatch(_, let problems) = error else {
            Issue.record("expected a payload mismatch, got \(String(describing: error))")
            return
        }
        #expect(problems.contains { $0.contains("encrypted chunk 4 fails authentication") }, "\(problems)")
        #expect(problems.contains { $0.contains("encrypted chunk 5 fails authentication") }, "\(problems)")
        #expect(e.f.currentTarget == nil)
    }

    @Test(arguments: ["rsa", "ec", "file"])
    func installDecryptsToThePlaintextDigests(_ how: String) throws {
        let e = try Encrypted()
        let source: ContentKeySource
        switch how {
        case "rsa": source = .recipient(key: try e.rsa.loadKey(), certificate: try e.rsa.loadCertificate())
        case "ec": source = .recipient(key: try e.ec.loadKey(), certificate: try e.ec.loadCertificate())
        default: source = .keyFile(e.keyFile)
        }
        let outcome = try Installer.install(try e.request([source]))
        #expect(outcome.report.passed)
        let payload = try #require(outcome.report.checks.first { $0.id == .payload })
        #expect(payload.evidence.contains { $0.key == "decrypted while extracting" && $0.value.hasPrefix("2 files") })
        let origin = payload.evidence.first { $0.key == "content key from" }?.value ?? ""
        #expect(
            how == "file" ? origin.hasPrefix("key file ") : origin.hasPrefix("recipient entry ivpack/recipients/00"),
            "\(origin)")
        let tree = outcome.releaseFolder
        for file in try e.manifest.allFiles {
            let installed = tree + "/" + file.path.dropFirst(Manifest.payloadPrefix.count)
            #expect(SHA256Digest.of(Self.bytes(installed)) == file.sha256, "\(file.path)")
        }
        try InstallTests.expectConsistent(e.f, active: InstallTests.v1)
        // Drift in an installed decrypted file: found by its whole-file digest (it has no chunk digests).
        let licence = tree + "/LICENSE.txt"
        var changed = Self.bytes(licence)
        changed[1_000_000] ^= 0x20
        _ = FileManager.default.createFile(atPath: licence, contents: Data(changed))
        let drift = try #require(try Installer.status(root: e.f.root, check: true).drift)
        #expect(drift.changed.count == 1 && drift.changed[0].hasPrefix("LICENSE.txt: SHA-256 "), "\(drift.changed)")
    }

    @Test func withoutAKeyOrWithAWrongOneNothingIsWritten() throws {
        let e = try Encrypted()
        // No key at all.
        let none = Self.installError { _ = try Installer.install(try e.request([])) }
        guard case .contentKey(_, let problem, let hint) = none else {
            Issue.record("expected a content key refusal, got \(String(describing: none))")
            return
        }
        #expect(problem.contains("components nodule-detector, licences are encrypted and no key was given"))
        #expect(problem.contains("001-site-rsa.p7m") && problem.contains("CN=site-rsa"))
        #expect(hint.contains("--recipient-key"))
        #expect(!FileManager.default.fileExists(atPath: e.f.root))
        // A certificate that is not a recipient.
        let stranger = try e.recipients.rsa("stranger")
        let notRecipient = Self.installError {
            _ = try Installer.install(
                try e.request([.recipient(key: try stranger.loadKey(), certificate: try stranger.loadCertificate())]))
        }
        #expect("\(notRecipient!)".contains("certificate \"O=ivpack test,CN=stranger\""), "\(notRecipient!)")
        #expect("\(notRecipient!)".contains("is not one of the recipients"))
        // A recipient's certificate with another key.
        let mismatched = Self.installError {
            _ = try Installer.install(
                try e.request([.recipient(key: try stranger.loadKey(), certificate: try e.rsa.loadCertificate())]))
        }
        #expect("\(mismatched!)".contains("the private key does not belong to the certificate"), "\(mismatched!)")
        // Another bundle's key: refused by the signed check value, before a byte is decrypted.
        let other = try ContentKey.generate()
        let otherFile = e.f.work.url("other.key")
        try other.export(to: otherFile)
        let wrong = Self.installError { _ = try Installer.install(try e.request([.keyFile(otherFile)])) }
        #expect("\(wrong!)".contains("is not this bundle's content key (its check value differs"), "\(wrong!)")
        #expect(wrong?.exitStatus == .checkFailed)
        #expect(!FileManager.default.fileExists(atPath: e.f.root))
        // No error carries the key.
        let secret = Self.bytes(e.keyFile)
        for error in [none, notRecipient, mismatched, wrong] {
            for spelling in secretSpellings(secret) { #expect(!"\(error!)".contains(spelling)) }
        }
    }

    @Test func aKeyFileGivesByteIdenticalBundlesAndVerifySaysSo() throws {
        let keys = TemporaryFolder()
        let keyFile = keys.url("content.key")
        try ContentKey.generate().export(to: keyFile)
        let one = try Encrypted(keyFile: keyFile, name: "one")
        // A second build of the same release with the same key and recipients: the wrapped keys
        // differ (CMS uses fresh randomness), so compare up to the recipient entries.
        var options = BuildEncryption()
        options.components = ["nodule-detector", "licences"]
        options.key = try ContentKey.load(file: keyFile)
        options.recipients = [("site-rsa", try one.rsa.loadCertificate())]
        let release = ReleaseFixture(version: InstallTests.v1)
        release.folder.write(InstallFixture.bigFile, Self.bytes(try oneBigFile(one)))
        _ = git(["add", "-A"], in: release.root)
        _ = git(["commit", "-q", "--amend", "--no-edit"], in: release.root)
        _ = git(["tag", "-f", "-a", InstallTests.v1, "-m", "Release"], in: release.root)
        let a = try release.build(to: keys.url("a.ivp"), encryption: options)
        options.key = try ContentKey.load(file: keyFile)
        let b = try release.build(to: keys.url("b.ivp"), encryption: options)
        #expect(a.manifestDigest == b.manifestDigest)
        let reader = try BundleReader(path: a.outputPath)
        var recipientOffset: Int64 = 0
        while let entry = try reader.next() {
            if case .recipient = entry.kind {
                recipientOffset = entry.tar.headerOffset
                break
            }
        }
        #expect(recipientOffset > 0)
        let bytesA = Self.bytes(a.outputPath).prefix(Int(recipientOffset))
        let bytesB = Self.bytes(b.outputPath).prefix(Int(recipientOffset))
        #expect(bytesA == bytesB)
        #expect(a.manifest.encryption?.keyOrigin == "file")
        // Verify warns that the key was not generated for this bundle.
        let report = try one.f.signed.verify(one.bundle)
        let check = try #require(report.checks.first { $0.id == .encryption })
        #expect(check.status == .warn)
        #expect(check.details.contains { $0.contains("not generated for this bundle") })
    }

    /// The big file of the fixture release (its bytes depend on the version only).
    func oneBigFile(_ e: Encrypted) throws -> String {
        let out = e.f.work.url("big.bin")
        let outcome = try Installer.install(try e.request([.keyFile(e.keyFile)]))
        try FileManager.default.copyItem(atPath: outcome.releaseFolder + "/" + InstallFixture.bigFile, toPath: out)
        return out
    }

    @Test func buildRefusesWhatNobodyCouldOpenOrMayNotBeEncrypted() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        func refusal(_ options: BuildEncryption) -> String {
            do {
                _ = try release.build(to: out.url("x.ivp"), encryption: options)
                return "built"
            } catch {
                return "\(error)"
            }
        }
        var noOne = BuildEncryption()
        noOne.components = ["nodule-detector"]
        #expect(refusal(noOne).contains("nobody could decrypt them"))
        var notes = BuildEncryption()
        notes.components = ["release-notes"]
        #expect(refusal(notes).contains("the release notes cannot be encrypted"))
        var unknown = BuildEncryption()
        unknown.components = ["weights"]
        unknown.exportKey = out.url("k")
        #expect(refusal(unknown).contains("--encrypt weights: the spec has no component of that name"))
        var nothing = BuildEncryption()
        nothing.exportKey = out.url("k")
        #expect(refusal(nothing).contains("no component is encrypted"))
        #expect(!out.exists("x.ivp") && !out.exists("k"))
        // A recipient certificate that may not take a key (signing only) is refused by name.
        let recipients = RecipientCertificates()
        let signer = try recipients.make("signer-only", .rsa2048, keyUsage: "digitalSignature")
        var unsuitable = BuildEncryption()
        unsuitable.components = ["nodule-detector"]
        unsuitable.recipients = [("signer", try signer.loadCertificate())]
        #expect(refusal(unsuitable).contains("signer-only"))
        #expect(!out.exists("x.ivp"))
    }

    @Test func bothManifestReadersAgreeAndRefuseAWrongFileIndex() throws {
        let e = try Encrypted()
        let reader = try BundleReader(path: e.bundle)
        let bytes = reader.manifestBytes
        let fast = try #require(Manifest.readCanonical(bytes))
        #expect(fast == (try Manifest.decodeGeneral(bytes, source: "b")))
        #expect(fast.canonicalBytes == bytes)
        // A signed-looking manifest whose encrypted file claims another file's index.
        var value = try JSONParser.parse(bytes)
        var hostile = fast
        let (ci, fi) = try #require(
            hostile.components.indices.lazy.flatMap { c in
                hostile.components[c].files.indices.map { (c, $0) }
            }.first { hostile.components[$0.0].files[$0.1].encryption != nil })
        hostile.components[ci].files[fi].encryption?.fileIndex += 1
        value = hostile.json
        let altered = CanonicalJSON.encode(value)
        #expect(Manifest.readCanonical(altered) == nil)
        do {
            _ = try Manifest.decodeGeneral(altered, source: "b")
            Issue.record("a wrong file index was accepted")
        } catch {
            #expect("\(error)".contains("/components/\(ci)/files/\(fi)/encryption/fileIndex"), "\(error)")
        }
        // A file of an encrypted component left in the clear.
        var clear = fast
        clear.components[ci].files[fi].encryption = nil
        let clearBytes = clear.canonicalBytes
        #expect(Manifest.readCanonical(clearBytes) == nil)
        #expect(throws: (any Error).self) { try Manifest.decodeGeneral(clearBytes, source: "b") }
    }

    @Test func aRecipientAddedAfterSigningOpensTheBundleAndTheSignaturesStayValid() throws {
        let e = try Encrypted()
        let site9 = try e.recipients.ec("site-9")
        let before = Self.bytes(e.bundle)
        // A wrong key is refused and the bundle is unchanged.
        let otherFile = e.f.work.url("other.key")
        try ContentKey.generate().export(to: otherFile)
        #expect(throws: ContentKeyUnavailable.self) {
            _ = try RecipientAdder.add(
                bundlePath: e.bundle, name: "site-9", certificate: try site9.loadCertificate(),
                keySources: [.keyFile(otherFile)])
        }
        #expect(Self.bytes(e.bundle) == before)
        // An existing recipient's key opens it; the entry is appended, nothing before it changes.
        let result = try RecipientAdder.add(
            bundlePath: e.bundle, name: "site-9", certificate: try site9.loadCertificate(),
            keySources: [.recipient(key: try e.rsa.loadKey(), certificate: try e.rsa.loadCertificate())])
        #expect(result.entry == "ivpack/recipients/003-site-9.p7m")
        let after = Self.bytes(e.bundle)
        #expect(Array(after.prefix(before.count - 1024)) == Array(before.prefix(before.count - 1024)))
        let report = try e.f.signed.verify(e.bundle)
        #expect(report.passed, "\(report.failureText)")
        #expect(report.checks.filter { $0.id.rawValue.hasPrefix("signature.") }.allSatisfy { $0.status == .pass })
        // Twice for one certificate, or a name taken: refused, unchanged.
        for (name, cert) in [("site-9b", site9.certificate), ("site-9", e.ec.certificate)] {
            #expect(throws: RecipientAddError.self) {
                _ = try RecipientAdder.add(
                    bundlePath: e.bundle, name: name, certificate: try Certificate.load(file: cert)[0],
                    keySources: [.keyFile(e.keyFile)])
            }
        }
        #expect(Self.bytes(e.bundle) == after)
        let outcome = try Installer.install(
            try e.request([.recipient(key: try site9.loadKey(), certificate: try site9.loadCertificate())]))
        #expect(outcome.report.passed)
    }

    /// The licence server releases the key: the bundle is built for the development escrow
    /// certificate, registered through `ivpack license register` (which finds the escrow entry
    /// and the check value in the bundle), and installed with the licence check alone. An
    /// unregistered bundle and a revoked licence get no key, and nothing is written.
    @Test func aLicensedInstallDecryptsWithTheKeyTheServerReleases() async throws {
        let f = try InstallFixture()
        var options = BuildEncryption()
        options.components = ["nodule-detector", "licences"]
        options.recipients = [
            (RecipientEntryName.escrowName, try Certificate.load(file: f.signed.pki.licenseEscrow.certificate)[0])
        ]
        let bundle = try f.bundle(version: InstallTests.v1, name: "escrowed", encryption: options)
        let server = try await LicenseServerFixture(pki: f.signed.pki, folder: f.work)
        try await server.issue(seats: 2)
        let authority = LicenseServerAuthority(
            options: server.clientOptions(pki: f.signed.pki), policy: try f.signed.policy())
        // Not registered yet: refused, no seat, no key, nothing written.
        let unregistered = await Self.asyncInstallError {
            _ = try await Installer.install(try f.request(bundle), license: authority)
        }
        guard case .verificationFailed(let report) = unregistered else {
            Issue.record("expected a licence refusal, got \(String(describing: unregistered))")
            await server.stop()
            return
        }
        #expect(report.failureText.contains("unregistered-release"), "\(report.failureText)")
        #expect(try await server.server.store.activations().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: f.root))
        // Registered from the bundle itself.
        let register = await runDetached(
            ivpackExecutable, ["license", "register", bundle, "--config", server.configPath, "--json"])
        #expect(register.status == 0, "\(register.stderr)")
        #expect(try JSONParser.parse(Array(register.stdout.utf8))["encrypted"] == .bool(true), "\(register.stdout)")
        let outcome = try await Installer.install(try f.request(bundle), license: authority)
        #expect(outcome.report.passed, "\(outcome.report.failureText)")
        let manifest = try BundleReader(path: bundle).manifest
        for file in manifest.allFiles {
            let installed = outcome.releaseFolder + "/" + file.path.dropFirst(Manifest.payloadPrefix.count)
            #expect(SHA256Digest.of(Self.bytes(installed)) == file.sha256, "\(file.path)")
        }
        // Revoked: the next install (another root) is refused before anything is written.
        let revoke = await runDetached(
            ivpackExecutable, ["license", "revoke", "--config", server.configPath, "--id", "LIC-0001"])
        #expect(revoke.status == 0, "\(revoke.stderr)")
        var other = try f.request(bundle)
        other.root = f.work.url("root2")
        let revoked = await Self.asyncInstallError { _ = try await Installer.install(other, license: authority) }
        #expect("\(revoked.map { "\($0)" } ?? "installed")".contains("revoked"), "\(String(describing: revoked))")
        #expect(!FileManager.default.fileExists(atPath: f.work.url("root2")))
        await server.stop()
    }

    static func asyncInstallError(_ body: () async throws -> Void) async -> InstallError? {
        do {
            try await body()
            return nil
        } catch let error as InstallError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func commandLineBuildsVerifiesAndInstallsWithARecipientKey() throws {
        let e = try Encrypted()
        let release = ReleaseFixture(version: InstallTests.v1)
        let out = e.f.work.url("cli.ivp")
        let build = ivpack(
            [
                "build", "--spec", release.specPath, "--output", out, "--source-date-epoch", "1700000000",
                "--encrypt", "nodule-detector", "--recipient", "site-rsa=\(e.rsa.certificate)",
            ])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(
            build.stdout.contains("encrypted: nodule-detector (1 files, AES-256-GCM), key generated"), "\(build.stdout)"
        )
        for role in ["release-manager", "quality"] { try e.f.signed.sign(role: role, bundle: out) }
        let policy = e.f.signed.pki.trustPolicy
        let noKey = ivpack(["install", out, "--trust", policy, "--root", e.f.root])
        #expect(noKey.status == 1, "\(noKey.stderr)")
        #expect(noKey.stderr.contains("cannot decrypt"), "\(noKey.stderr)")
        let installed = ivpack(
            [
                "install", out, "--trust", policy, "--root", e.f.root, "--recipient-key", e.rsa.key,
                "--recipient-cert", e.rsa.certificate,
            ])
        #expect(installed.status == 0, "\(installed.stderr)")
        #expect(
            Self.bytes(e.f.root + "/current/models/detector.safetensors")
                == Self.bytes(release.folder.url("models/detector.safetensors")))
    }
}

struct MissingEntry: Error { var path: String }

extension InstallRequest {
    /// The request with `sources` as its content keys.
    func with(_ sources: [ContentKeySource]) -> InstallRequest {
        var copy = self
        copy.contentKeys = sources
        return copy
    }
}
