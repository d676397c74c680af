import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// The sign and verify commands as an installer or a pipeline meets them: exit codes, messages,
/// inputs left untouched.
@Suite struct SignVerifyCLITests {
    func signArguments(_ s: SignedRelease, role: String = "release-manager", key: String? = nil, cert: String? = nil)
        -> [String]
    {
        [
            "sign", s.bundle, "--role", role, "--key", key ?? s.signer(role).key, "--cert",
            cert ?? s.signer(role).certificate,
            "--chain", s.pki.intermediateCertificate,
        ]
    }

    /// Runs a failing sign and checks exit 2, the message, and that the bundle did not change.
    func expectSignRefused(
        _ s: SignedRelease, _ arguments: [String], environment: [String: String] = [:], _ fragments: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let before = FileManager.default.contents(atPath: s.bundle)
        let r = ivpack(arguments, environment: environment)
        #expect(r.status == 2, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        for f in fragments {
            #expect(r.stderr.contains(f), "lacks \"\(f)\": \(r.stderr)", sourceLocation: sourceLocation)
        }
        #expect(
            FileManager.default.contents(atPath: s.bundle) == before, "bundle changed", sourceLocation: sourceLocation)
    }

    @Test(.clause("IQ 6.2.1")) func signAndVerifyThroughTheCommandLine() throws {
        let s = try SignedRelease(signedBy: [])
        for role in ["release-manager", "quality"] {
            let r = ivpack(signArguments(s, role: role))
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("Signed \(s.bundle) as \(role)"))
        }
        let v = ivpack(["verify", s.bundle, "--trust", s.pki.trustPolicy])
        #expect(v.status == 0, "\(v.stdout)\(v.stderr)")
        #expect(v.stdout.contains("Result: PASS"))
        #expect(v.stdout.contains("WARN  trust.development"))
    }

    @Test func verifyJSONIsValidAgainstItsSchemaAndExitsOneOnFailure() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let r = ivpack(["verify", s.bundle, "--trust", s.pki.trustPolicy, "--json"])
        #expect(r.status == 1)
        let value = try JSONParser.parse(Array(r.stdout.utf8))
        #expect(value["result"] == .string("fail"))
        s.folder.write("report.json", r.stdout)
        let check = run(
            "/usr/bin/env",
            [
                "python3", SchemaTests.repositoryRoot + "/scripts/check-schemas.py", "--verify-report",
                s.folder.url("report.json"),
            ],
            in: SchemaTests.repositoryRoot)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }

    @Test func missingKeyFileIsBadInput() throws {
        let s = try SignedRelease(signedBy: [])
        expectSignRefused(s, signArguments(s, key: s.folder.url("nope.key")), ["nope.key: cannot open for reading"])
    }

    @Test func encryptedKeyNeedsTheRightPassphrase() throws {
        let s = try SignedRelease(signedBy: [])
        let encrypted = s.pki.releaseManagerEncryptedKey
        expectSignRefused(s, signArguments(s, key: encrypted), ["the key is encrypted and no passphrase was given"])
        expectSignRefused(
            s, signArguments(s, key: encrypted), environment: ["IVPACK_KEY_PASSPHRASE": "not-the-passphrase"],
            ["the passphrase does not decrypt this key"])
        s.folder.write("pass.txt", DevelopmentPKILayout.encryptedKeyPassphrase + "\n", mode: 0o600)
        let ok = ivpack(signArguments(s, key: encrypted) + ["--passphrase-file", s.folder.url("pass.txt")])
        #expect(ok.status == 0, "\(ok.stderr)")
        // The passphrase never appears in output.
        #expect(!ok.stdout.contains(DevelopmentPKILayout.encryptedKeyPassphrase))
    }

    @Test func keyThatDoesNotMatchTheCertificateIsRefused() throws {
        let s = try SignedRelease(signedBy: [])
        expectSignRefused(
            s, signArguments(s, key: s.pki.quality.key, cert: s.pki.releaseManager.certificate),
            ["the private key does not belong to the certificate"])
    }

    @Test func certificateNotYetValidIsRefused() throws {
        let s = try SignedRelease(signedBy: [])
        let future = try DevelopmentPKI.issueSigner(
            role: "release-manager", policyOID: WellKnownOID.roleReleaseManager, in: s.pki,
            name: "rm-future", notBefore: s.now + 86_400, notAfter: s.now + 2 * 86_400)
        expectSignRefused(s, signArguments(s, key: future.key, cert: future.certificate), ["is not valid yet"])
    }

    @Test func notABundleIsRefused() throws {
        let s = try SignedRelease(signedBy: [])
        s.folder.write("x/readme.txt", "hello\n")
        #expect(
            run("/usr/bin/tar", ["-cf", s.folder.url("plain.tar"), "-C", s.folder.url("x"), "readme.txt"]).status == 0)
        var args = signArguments(s)
        args[1] = s.folder.url("plain.tar")
        let before = s.folder.read("plain.tar")
        let r = ivpack(args)
        #expect(r.status == 2)
        #expect(r.stderr.contains("not an ivpack bundle"))
        #expect(s.folder.read("plain.tar") == before)
    }

    @Test func policyErrorsAreBadInputWithLineAndField() throws {
        let s = try SignedRelease()
        let text = String(decoding: FileManager.default.contents(atPath: s.pki.trustPolicy)!, as: UTF8.self)
        let cases: [(String, String, [String])] = [
            (
                "unknown",
                text.replacingOccurrences(of: "revocation: require", with: "revocation: require\nocsp: require"),
                ["unknown key \"ocsp\""]
            ),
            (
                "mode", text.replacingOccurrences(of: "revocation: require", with: "revocation: sometimes"),
                ["revocation: unknown mode \"sometimes\""]
            ),
            (
                "root",
                text.replacingOccurrences(of: "trustedRoots: [root-ca.pem]", with: "trustedRoots: [missing-root.pem]"),
                ["trustedRoots[0]: cannot use missing-root.pem", "No such file"]
            ),
            (
                "role",
                text.replacingOccurrences(
                    of: "requiredRoles: [release-manager, quality]", with: "requiredRoles: [release-manager, auditor]"),
                ["role \"auditor\" is not defined under roles"]
            ),
        ]
        for (name, policy, fragments) in cases {
            let path = s.pki.directory + "/policy-\(name).yaml"
            _ = FileManager.default.createFile(atPath: path, contents: Data(policy.utf8))
            let r = ivpack(["verify", s.bundle, "--trust", path])
            #expect(r.status == 2, "\(name): exit \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("policy-\(name).yaml:"), "\(name): \(r.stderr)")
            for f in fragments { #expect(r.stderr.contains(f), "\(name) lacks \"\(f)\": \(r.stderr)") }
        }
    }

    @Test func verifyOfAMissingBundleIsBadInput() throws {
        let s = try SignedRelease(signedBy: [])
        let r = ivpack(["verify", s.folder.url("missing.ivp"), "--trust", s.pki.trustPolicy])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("missing.ivp"))
    }
    @Test func secretFilesOthersCanReadAreRefusedAndGroupReadableKeysWarn() throws {
        let s = try SignedRelease(signedBy: [])
        // A copy of the key readable by everyone: refused, bundle unchanged, the key not printed.
        let keyText = s.folder.read(String(s.signer("release-manager").key.dropFirst(s.folder.path.count + 1)))
        let open = s.folder.write("open.key", keyText, mode: 0o644)
        expectSignRefused(
            s, signArguments(s, key: open),
            ["open.key: the private key file can be read by every user of this machine (mode 644)", "chmod 600"])
        let writable = s.folder.write("writable.key", keyText, mode: 0o602)
        expectSignRefused(
            s, signArguments(s, key: writable), ["can be written by every user of this machine (mode 602)"])
        // A passphrase file readable by everyone: refused before it is read.
        let pass = s.folder.write("pass-open.txt", DevelopmentPKILayout.encryptedKeyPassphrase + "\n", mode: 0o644)
        expectSignRefused(
            s, signArguments(s, key: s.pki.releaseManagerEncryptedKey) + ["--passphrase-file", pass],
            ["pass-open.txt: the passphrase file can be read by every user of this machine"])
        // Group-readable: signs, with a warning.
        let group = s.folder.write("group.key", keyText, mode: 0o640)
        let r = ivpack(signArguments(s, key: group))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(
            r.stderr.contains("warning: \(group): the private key file can be read by its group (mode 640)"),
            "\(r.stderr)")
        #expect(!r.stderr.contains("PRIVATE KEY"))
    }
}
