import Foundation
import IVPack
import IVPackDistribution
import IVPackTestSupport
import Testing

/// References: what parses, and what each malformed one is told.
@Suite struct OCIReferenceTests {
    @Test(
        arguments: [
            ("oci://registry.example/med/pulmoscan:V2.3.1", "registry.example", nil, "med/pulmoscan", "V2.3.1"),
            ("oci://127.0.0.1:5000/a/b/c", "127.0.0.1", 5000, "a/b/c", "latest"),
            ("oci://[::1]:8443/x_y.z-w:t", "[::1]", 8443, "x_y.z-w", "t"),
        ] as [(String, String, Int?, String, String)])
    func referenceParses(text: String, host: String, port: Int?, repository: String, tag: String) throws {
        let r = try OCIReference(parsing: text)
        #expect(r.host == host && r.port == port && r.repository == repository && r.tag == tag)
    }

    @Test func digestReferenceKeepsTheDigest() throws {
        let hex = String(repeating: "ab", count: 32)
        let r = try OCIReference(parsing: "oci://h:1/r@sha256:\(hex)")
        #expect(r.digest?.hex == hex && r.tag == nil && r.manifestReference == "sha256:\(hex)")
    }

    @Test(arguments: [
        ("docker://h/r:t", "starts with oci://"),
        ("oci://h", "no repository"),
        ("oci://h:99999/r", "port"),
        ("oci://u:p@h/r", "credentials do not belong"),
        ("oci://h/Upper/case", "repository \"Upper/case\""),
        ("oci://h/r:-bad", "tag \"-bad\""),
        ("oci://h/r@sha256:12", "digest \"sha256:12\""),
        ("oci://h/a//b", "repository \"a//b\""),
    ])
    func malformedReferenceIsNamed(text: String, reason: String) {
        #expect {
            try OCIReference(parsing: text)
        } throws: { error in
            let e = error as? DistributionError
            return e?.exitStatus == .badInput && "\(error)".contains(reason) && "\(error)".hasPrefix(text)
        }
    }

    @Test func bearerChallengeParametersKeepCommasInsideQuotes() {
        let p = RegistryClient.challengeParameters(
            " realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\"")
        #expect(p["realm"] == "https://auth.example/token")
        #expect(p["service"] == "registry.example")
        #expect(p["scope"] == "repository:a/b:pull,push")
    }

    @Test func credentialsNeverShowThePassword() throws {
        let c = try #require(
            try RegistryCredentials.resolve(
                username: "ci", passwordFile: nil, environment: [RegistryCredentials.passwordVariable: "hunter2"]))
        #expect(!"\(c)".contains("hunter2"))
        #expect(throws: DistributionError.self) {
            try RegistryCredentials.resolve(username: "ci", passwordFile: nil, environment: [:])
        }
    }
}

/// Push and pull against a real registry (Debian's docker-registry) on loopback, with TLS and
/// htpasswd basic auth; curl reads the API as an independent client.
@Suite(.serialized) struct DistributionTests {
    static func options(_ registry: RegistryFixture, chunkSize: Int64 = RegistryOptions.defaultChunkSize)
        -> RegistryOptions
    {
        RegistryOptions(
            caFile: registry.caFile,
            credentials: RegistryCredentials(username: registry.username, password: registry.password),
            chunkSize: chunkSize)
    }

    static func sha256(_ path: String) -> String {
        SHA256Digest.of(Array(FileManager.default.contents(atPath: path) ?? Data())).hex
    }

    func environment(_ registry: RegistryFixture) -> [String: String] {
        [RegistryCredentials.passwordVariable: registry.password]
    }

    @Test func pushThenPullIsByteIdenticalInSmallChunks() async throws {
        let registry = try await RegistryFixture()
        defer { registry.stop() }
        let s = try SignedRelease()
        let reference = try OCIReference(parsing: registry.reference())
        // 64 KiB chunks: the small bundle takes several PATCH requests.
        let pushed = try await BundleDistribution.push(
            bundle: s.bundle, to: reference, options: Self.options(registry, chunkSize: 64 << 10))
        #expect(!pushed.blobExisted)
        #expect(pushed.layerDigest.hex == Self.sha256(s.bundle))
        let output = s.folder.url("pulled.ivp")
        let pulled = try await BundleDistribution.pull(reference, to: output, options: Self.options(registry))
        #expect(Self.sha256(output) == Self.sha256(s.bundle))
        #expect(pulled.manifestDigest == pushed.manifestDigest)
        #expect(!FileManager.default.fileExists(atPath: output + ".partial"))
        // A second push finds the blob and sends no bytes; the manifest is the same.
        let again = try await BundleDistribution.push(bundle: s.bundle, to: reference, options: Self.options(registry))
        #expect(again.blobExisted && again.manifestDigest == pushed.manifestDigest)
    }

    @Test func manifestReadWithCurlHasArtifactTypeAnnotationsAndTheBundleBlob() async throws {
        let registry = try await RegistryFixture()
        defer { registry.stop() }
        let s = try SignedRelease()
        let r = ivpack(
            ["push", s.bundle, registry.reference(), "--ca", registry.caFile, "--username", registry.username],
            environment: environment(registry))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let manifestText = await registry.curl([
            "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
            "\(registry.url)/v2/med/pulmoscan/manifests/V2.3.1",
        ])
        let json = try JSONParser.parse(Array(manifestText.stdout.utf8))
        #expect(json["artifactType"]?.stringValue == "application/vnd.ivpack.bundle.v1")
        #expect(json["mediaType"]?.stringValue == "application/vnd.oci.image.manifest.v1+json")
        #expect(json["config"]?["mediaType"]?.stringValue == "application/vnd.oci.empty.v1+json")
        let inspected = try BundleInspector.inspect(path: s.bundle)
        let annotations = json["annotations"]
        #expect(annotations?["io.ivpack.bundle.product"]?.stringValue == inspected.manifest.product.name)
        #expect(annotations?["io.ivpack.bundle.version"]?.stringValue == inspected.manifest.version)
        #expect(annotations?["org.opencontainers.image.version"]?.stringValue == inspected.manifest.version)
        #expect(
            annotations?["io.ivpack.bundle.manifest.digest"]?.stringValue == "sha256:\(inspected.manifestDigest.hex)")
        guard case .array(let layers)? = json["layers"], let layer = layers.first else {
            Issue.record("no layers: \(manifestText.stdout)")
            return
        }
        #expect(layer["mediaType"]?.stringValue == "application/vnd.ivpack.bundle.v1.tar")
        let digest = try #require(layer["digest"]?.stringValue)
        #expect(digest == "sha256:\(Self.sha256(s.bundle))")
        // curl downloads the same bytes; the manifest's digest is what push printed.
        let copy = s.folder.url("curl.ivp")
        _ = await registry.curl(["-o", copy, "\(registry.url)/v2/med/pulmoscan/blobs/\(digest)"])
        #expect(Self.sha256(copy) == Self.sha256(s.bundle))
        #expect(r.stdout.contains("Digest:  sha256:\(SHA256Digest.of(Array(manifestText.stdout.utf8)).hex)"))
        #expect(FileManager.default.fileExists(atPath: registry.blobFile(String(digest.dropFirst(7)))))
        // The manifest as the registry stores it matches Schemas/oci-manifest.schema.json.
        let saved = s.folder.write("oci-manifest.json", manifestText.stdout)
        let schema = SchemaTests.checkSchemas(["--oci-manifest", saved])
        #expect(schema.status == 0, "\(schema.stdout)\(schema.stderr)")
    }

    @Test func wrongPasswordIsANamedAuthenticationErrorWithoutThePassword() async throws {
        let registry = try await RegistryFixture()
        defer { registry.stop() }
        let s = try SignedRelease(signedBy: [])
        let wrong = "not-the-password-42"
        let r = ivpack(
            ["push", s.bundle, registry.reference(), "--ca", registry.caFile, "--username", registry.username],
            environment: [RegistryCredentials.passwordVariable: wrong])
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("authentication failed as \"\(registry.username)\""), "\(r.stderr)")
        #expect(!r.stderr.contains(wrong) && !r.stdout.contains(wrong))
        // No credentials at all: the registry's wish is named.
        let none = ivpack(["pull", registry.reference(), "--output", s.folder.url("x.ivp"), "--ca", registry.caFile])
        #expect(none.status == 3)
        #expect(none.stderr.contains("asks for a user name and password"), "\(none.stderr)")
    }

    @Test func untrustedRegistryCertificateIsANamedTLSError() async throws {
        let registry = try await RegistryFixture()
        defer { registry.stop() }
        let s = try SignedRelease(signedBy: [])
        let r = ivpack(
            ["push", s.bundle, registry.reference(), "--ca", registry.otherCAFile, "--username", registry.username],
            environment: environment(registry))
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("TLS handshake failed"), "\(r.stderr)")
        #expect(r.stderr.contains(registry.otherCAFile))
        #expect(!r.stderr.contains(registry.password))
    }

    @Test func tamperedBlobInStorageFailsThePullAndLeavesNoFile() async throws {
        let registry = try await RegistryFixture()
        defer { registry.stop() }
        let s = try SignedRelease(signedBy: [])
        let reference = try OCIReference(parsing: registry.reference())
        let pushed = try await BundleDistribution.push(bundle: s.bundle, to: reference, options: Self.options(registry))
        BundleSurgery.flipByte(in: registry.blobFile(pushed.layerDigest.hex), at: 700)
        let output = s.folder.url("pulled.ivp")
        let r = ivpack(
            [
                "pull", registry.reference(), "--output", output, "--ca", registry.caFile, "--username",
                registry.username,
            ],
            environment: environment(registry))
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("digest mismatch: expected sha256:\(pushed.layerDigest.hex), received sha256:"))
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(!FileManager.default.fileExists(atPath: output + ".partial"))
    }

    /// The kept prefix is the bundle's own first half; the registry's first half is then spoiled:
    /// only a pull that asks for the rest with Range (and hashes the kept prefix) ends right.
    @Test func pullResumesFromAPartialFileWithRange() async throws {
        let registry = try await RegistryFixture()
        defer { registry.stop() }
        let s = try SignedRelease(signedBy: [])
        let reference = try OCIReference(parsing: registry.reference())
        let pushed = try await BundleDistribution.push(bundle: s.bundle, to: reference, options: Self.options(registry))
        let bytes = Array(FileManager.default.contents(atPath: s.bundle)!)
        let half = bytes.count / 2
        let output = s.folder.url("pulled.ivp")
        _ = s.folder.write("pulled.ivp.partial", Array(bytes[..<half]))
        BundleSurgery.flipByte(in: registry.blobFile(pushed.layerDigest.hex), at: 100)
        _ = try await BundleDistribution.pull(reference, to: output, options: Self.options(registry))
        #expect(Self.sha256(output) == Self.sha256(s.bundle))
        #expect(!FileManager.default.fileExists(atPath: output + ".partial"))
    }

    /// A proxy cuts the connection in the middle of the blob: the pull asks for the rest with
    /// Range on a new connection and ends with the right digest.
    @Test func pullResumesAfterTheConnectionIsCut() async throws {
        let registry = try await RegistryFixture()
        defer { registry.stop() }
        let s = try SignedRelease(signedBy: [])
        let direct = try OCIReference(parsing: registry.reference())
        _ = try await BundleDistribution.push(bundle: s.bundle, to: direct, options: Self.options(registry))
        let size = FileManager.default.contents(atPath: s.bundle)!.count
        // TLS handshake and manifest are a few KiB; the cut falls inside the blob.
        let proxy = try CuttingProxy(to: registry.port, cutAfter: 8192 + size / 2)
        defer { proxy.stop() }
        let viaProxy = try OCIReference(parsing: "oci://127.0.0.1:\(proxy.port)/med/pulmoscan:V2.3.1")
        let output = s.folder.url("pulled.ivp")
        _ = try await BundleDistribution.pull(viaProxy, to: output, options: Self.options(registry))
        #expect(proxy.didCut)
        #expect(proxy.connections >= 2)
        #expect(Self.sha256(output) == Self.sha256(s.bundle))
    }

    @Test func interruptedPushResumesFromTheRegistrysOffset() async throws {
        let registry = try await RegistryFixture()
        defer { registry.stop() }
        let s = try SignedRelease(signedBy: [])
        let reference = try OCIReference(parsing: registry.reference())
        let client = try RegistryClient(reference: reference, options: Self.options(registry, chunkSize: 32 << 10))
        let size = Int64(FileManager.default.contents(atPath: s.bundle)!.count)
        let digest = try #require(SHA256Digest(hex: Self.sha256(s.bundle)))
        let part = size / 3
        do {
            // A first attempt sends one part, then stops (as a killed push would).
            let first = try await client.startUpload(repository: reference.repository)
            let after = try await client.uploadChunk(first, file: s.bundle, offset: 0, length: part)
            let (_, offset) = try await client.uploadOffset(after)
            #expect(offset == part)
            #expect(try await client.blobExists(repository: reference.repository, digest: digest) == false)
            try await client.uploadBlob(
                repository: reference.repository, file: s.bundle, digest: digest, size: size, resuming: after)
            #expect(try await client.blobExists(repository: reference.repository, digest: digest))
        } catch {
            Issue.record("\(error)")
        }
        await client.shutdown()
        let copy = s.folder.url("curl.ivp")
        _ = await registry.curl(["-o", copy, "\(registry.url)/v2/med/pulmoscan/blobs/sha256:\(digest.hex)"])
        #expect(Self.sha256(copy) == digest.hex)
    }

    @Test func verifyAcceptsAnOCIReferenceAndFailsATamperedOne() async throws {
        let registry = try await RegistryFixture()
        defer { registry.stop() }
        let s = try SignedRelease()
        let auth = ["--ca", registry.caFile, "--username", registry.username]
        #expect(
            ivpack(["push", s.bundle, registry.reference()] + auth, environment: environment(registry)).status == 0)
        let v = ivpack(
            ["verify", registry.reference(), "--trust", s.pki.trustPolicy] + auth, environment: environment(registry))
        #expect(v.status == 0, "\(v.stdout)\(v.stderr)")
        #expect(v.stdout.contains("Result: PASS"))
        // A tampered copy (one payload byte), pushed under another tag, fails verification.
        let tampered = s.folder.url("tampered.ivp")
        try FileManager.default.copyItem(atPath: s.bundle, toPath: tampered)
        let entries = try BundleSurgery.entries(of: tampered)
        let entry = try #require(entries.first { $0.path.hasPrefix("payload/") && $0.data.count > 64 })
        let at = try #require(BundleSurgery.offset(of: Array(entry.data.prefix(64)), in: tampered))
        BundleSurgery.flipByte(in: tampered, at: at + 10)
        let bad = registry.reference(tag: "tampered")
        #expect(ivpack(["push", tampered, bad] + auth, environment: environment(registry)).status == 0)
        let f = ivpack(["verify", bad, "--trust", s.pki.trustPolicy] + auth, environment: environment(registry))
        #expect(f.status == 1, "\(f.stdout)\(f.stderr)")
        #expect(f.stdout.contains("Result: FAIL"))
        // The temporary pulls are gone.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
            .filter { $0.hasPrefix("ivpack-pull-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func installAcceptsAnOCIReference() async throws {
        let registry = try await RegistryFixture()
        defer { registry.stop() }
        let f = try InstallFixture()
        let bundle = try f.bundle(version: ReleaseFixture.defaultVersion, big: false)
        let auth = ["--ca", registry.caFile, "--username", registry.username]
        let pushed = ivpack(["push", bundle, registry.reference()] + auth, environment: environment(registry))
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let r = ivpack(
            ["install", registry.reference(), "--trust", f.signed.pki.trustPolicy, "--root", f.root] + auth,
            environment: environment(registry))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(f.currentTarget?.hasPrefix("releases/") == true)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
            .filter { $0.hasPrefix("ivpack-pull-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    /// The registry itself runs token auth: its 401 names the realm, service and scope; the
    /// client gets a JWT from the realm with the user's basic credentials and sends it as Bearer.
    @Test func tokenAuthenticationThroughTheRegistrysRealm() async throws {
        let registry = try await RegistryFixture(tokenAuth: true)
        defer { registry.stop() }
        let realm = try #require(registry.tokenRealm)
        let s = try SignedRelease(signedBy: [])
        let reference = try OCIReference(parsing: registry.reference())
        let pushed = try await BundleDistribution.push(bundle: s.bundle, to: reference, options: Self.options(registry))
        let output = s.folder.url("pulled.ivp")
        _ = try await BundleDistribution.pull(reference, to: output, options: Self.options(registry))
        #expect(Self.sha256(output) == pushed.layerDigest.hex)
        #expect(realm.counts.issued >= 2, "push (pull,push scope) and pull each need a token")
        // A wrong password: the realm refuses, the error names the user, never the password.
        let wrong = "wrong-token-password-7"
        let r = ivpack(
            [
                "pull", registry.reference(), "--output", s.folder.url("x.ivp"), "--ca", registry.caFile,
                "--username", registry.username,
            ],
            environment: [RegistryCredentials.passwordVariable: wrong])
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("authentication failed as \"\(registry.username)\""), "\(r.stderr)")
        #expect(r.stderr.contains("token service"), "\(r.stderr)")
        #expect(!r.stderr.contains(wrong))
        #expect(realm.counts.refused >= 1)
    }

    @Test(arguments: [
        (["pull", "docker://h/r:t", "--output", "/tmp/x.ivp"], "starts with oci://"),
        (["pull", "oci://h", "--output", "/tmp/x.ivp"], "no repository"),
        (["push", "/nonexistent.ivp", "oci://h/r@sha256:\(String(repeating: "0", count: 64))"], "push writes a tag"),
        (["verify", "oci://h/R:t", "--trust", "/nonexistent.yaml"], "not a registry reference"),
    ])
    func malformedReferenceExitsTwoWithTheReason(arguments: [String], reason: String) throws {
        // verify reads its trust policy first; give it a real one.
        var args = arguments
        var s: SignedRelease?
        if arguments.first == "verify" {
            s = try SignedRelease(signedBy: [])
            args[3] = s!.pki.trustPolicy
        }
        let r = ivpack(args)
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains(reason), "\(r.stderr)")
    }
}
