import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Signing with keys inside an HSM (SoftHSM2) through PKCS#11. Serialized: the process shares one
/// SoftHSM configuration and token, and a PKCS#11 login is process state.
@Suite(.serialized) struct HSMTests {
    @Test(
        .disabled(
            "In-process PKCS#11 (SoftHSM2 in this test process) left every later P-256 generation of the process failing (unknown group) in clean-clone CI at 7df8570 and 066ba9e; the same library code runs in child processes in signCommandTakesAPKCS11URIWithThePINFromTheEnvironment"
        ))
    func bundleSignedWithReleaseManagerKeyInSoftHSMVerifies() throws {
        let hsm = try SoftHSM.shared()
        let s = try SignedRelease(signedBy: [])
        let uri = try hsm.importSigner(s.pki.releaseManager)
        let key = try PrivateKey.loadPKCS11(uri: uri, pin: Array(SoftHSM.userPIN.utf8))
        #expect(key.source == uri)
        let certificates = try Certificate.load(file: s.pki.releaseManager.certificate)
        #expect(key.matches(certificates[0]))
        #expect(!key.matches(try Certificate.load(file: s.pki.quality.certificate)[0]))

        let result = try BundleSigner.sign(
            bundlePath: s.bundle, certificate: certificates[0], key: key,
            chain: try Certificate.load(file: s.pki.releaseManager.chain), role: "release-manager", now: s.now)
        #expect(result.entry == "ivpack/signatures/001-release-manager.p7s")
        try s.sign(role: "quality")
        let report = try s.verify()
        #expect(report.passed, "\(report.failureText)")
        #expect(report.checks.first { $0.id == .signature(1) }?.status == .pass)
        #expect(report.checks.first { $0.id == .roles }?.status == .pass)
    }

    @Test(.clause("REL-005")) func signCommandTakesAPKCS11URIWithThePINFromTheEnvironment() throws {
        let hsm = try SoftHSM.shared()
        let s = try SignedRelease(signedBy: [])
        let uri = try hsm.importSigner(s.pki.releaseManager)
        let rm = s.pki.releaseManager
        let signed = ivpack(
            [
                "sign", s.bundle, "--key", uri, "--cert", rm.certificate, "--chain", rm.chain, "--role",
                "release-manager",
            ],
            environment: hsm.environment.merging(["IVPACK_PKCS11_PIN": SoftHSM.userPIN]) { $1 })
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(
            signed.stdout.contains("Signed \(s.bundle) as release-manager: ivpack/signatures/001-release-manager.p7s"))
        // The quality role with a key file, through the same command.
        let q = s.pki.quality
        let second = ivpack([
            "sign", s.bundle, "--key", q.key, "--cert", q.certificate, "--chain", q.chain, "--role", "quality",
        ])
        #expect(second.status == 0, "\(second.stderr)")
        let report = try s.verify()
        #expect(report.passed, "\(report.failureText)")
    }

    @Test func signCommandReadsThePINFromPinFile() throws {
        let hsm = try SoftHSM.shared()
        let s = try SignedRelease(signedBy: [])
        let uri = try hsm.importSigner(s.pki.releaseManager)
        let pinFile = s.folder.write("pin.txt", "\(SoftHSM.userPIN)\nsecond line is ignored\n", mode: 0o600)
        let rm = s.pki.releaseManager
        let signed = ivpack(
            [
                "sign", s.bundle, "--key", uri, "--pin-file", pinFile, "--cert", rm.certificate, "--chain", rm.chain,
                "--role", "release-manager", "--json",
            ], environment: hsm.environment)
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(
            signed.stdout.contains("\"entry\" : \"ivpack/signatures/001-release-manager.p7s\"")
                || signed.stdout.contains("001-release-manager.p7s"))
        try s.sign(role: "quality")
        #expect(try s.verify().passed)
    }

    /// A failing `ivpack sign` with an HSM key: URI, PIN, expected message.
    struct Failure: Sendable, CustomTestStringConvertible {
        var name: String
        var uri: @Sendable (SoftHSM, String) -> String
        var pin: String?
        var message: String
        var testDescription: String { name }
    }

    static let failures: [Failure] = [
        Failure(
            name: "wrong PIN", uri: { $0.uri(label: $1) }, pin: "9999", message: "the token refused the PIN (wrong PIN)"
        ),
        Failure(
            name: "no PIN", uri: { $0.uri(label: $1) }, pin: nil, message: "the token needs a PIN and none was given"),
        Failure(
            name: "PIN in the URI", uri: { $0.uri(label: $1) + ";pin-value=\(SoftHSM.userPIN)" }, pin: SoftHSM.userPIN,
            message: "give the PIN in IVPACK_PKCS11_PIN or with --pin-file FILE"),
        Failure(
            name: "unknown key", uri: { h, _ in h.uri(label: "no-such-key") }, pin: SoftHSM.userPIN,
            message: "pkcs11:token=ivpack-test;object=no-such-key: no private key matches this URI"),
        Failure(
            name: "unknown token", uri: { _, label in "pkcs11:token=no-such-token;object=\(label)" },
            pin: SoftHSM.userPIN,
            message: "no private key matches this URI"),
        Failure(
            name: "missing module", uri: { $0.uri(label: $1) + "?module-path=/nonexistent/libpkcs11.so" },
            pin: SoftHSM.userPIN,
            message: "the PKCS#11 module /nonexistent/libpkcs11.so cannot be read"),
    ]

    @Test(arguments: failures)
    func signCommandRefusesAndLeavesTheBundleUnchanged(_ failure: Failure) throws {
        let hsm = try SoftHSM.shared()
        let s = try SignedRelease(signedBy: [])
        let label = hsm.uniqueLabel("rm")
        try hsm.importKey(file: s.pki.releaseManager.key, label: label)
        let before = try #require(FileManager.default.contents(atPath: s.bundle))
        var environment = hsm.environment
        // An empty variable counts as set; no PIN at all needs it absent, which run() cannot do, so
        // that case runs the binary through env -u.
        if let pin = failure.pin { environment["IVPACK_PKCS11_PIN"] = pin }
        let rm = s.pki.releaseManager
        let uri = failure.uri(hsm, label)
        let arguments = [
            "sign", s.bundle, "--key", uri, "--cert", rm.certificate, "--chain", rm.chain, "--role", "release-manager",
        ]
        let result =
            failure.pin == nil
            ? run("/usr/bin/env", ["-u", "IVPACK_PKCS11_PIN", ivpackExecutable] + arguments, environment: environment)
            : ivpack(arguments, environment: environment)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(failure.message), "\(result.stderr)")
        if !uri.contains("pin-value") {
            #expect(result.stderr.contains("error: \(uri): "), "the message names the URI: \(result.stderr)")
        }
        #expect(
            !result.stderr.contains(SoftHSM.userPIN) && !result.stderr.contains("9999"),
            "the PIN is never echoed: \(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(FileManager.default.contents(atPath: s.bundle) == before)
    }

    @Test func keyInTheHSMThatDoesNotMatchTheCertificateIsRefused() throws {
        let hsm = try SoftHSM.shared()
        let s = try SignedRelease(signedBy: [])
        // The quality key in the token, offered with the release manager's certificate.
        let uri = try hsm.importSigner(s.pki.quality)
        let before = try #require(FileManager.default.contents(atPath: s.bundle))
        let rm = s.pki.releaseManager
        let result = ivpack(
            [
                "sign", s.bundle, "--key", uri, "--cert", rm.certificate, "--chain", rm.chain, "--role",
                "release-manager",
            ],
            environment: hsm.environment.merging(["IVPACK_PKCS11_PIN": SoftHSM.userPIN]) { $1 })
        #expect(result.status == 2, "\(result.stderr)")
        #expect(
            result.stderr.contains("\(uri): the private key does not belong to the certificate"), "\(result.stderr)")
        #expect(FileManager.default.contents(atPath: s.bundle) == before)
    }

    @Test func libraryRefusesAPINInTheURIWithoutEchoingIt() throws {
        let error = #expect(throws: InputError.self) {
            try PrivateKey.loadPKCS11(uri: "pkcs11:token=ivpack-test;object=rm?pin-value=31337", pin: nil)
        }
        #expect(error?.exitStatus == .badInput)
        #expect(error?.description.contains("IVPACK_PKCS11_PIN") == true)
        #expect(error?.description.contains("--pin-file") == true)
        #expect(error?.description.contains("31337") == false)
    }

    @Test(arguments: [
        (
            "pkcs11:token=ivpack-test;object=rm?module-name=softhsm2",
            "the query attribute \"module-name\" is not supported"
        ),
        (
            "pkcs11:token=ivpack-test;object=rm?module-path=relative.so",
            "module-path must be given once, as an absolute path"
        ),
        ("pkcs11:token=ivpack test;object=rm", "contains spaces"),
        ("file:key.pem", "not a PKCS#11 URI"),
    ])
    func libraryRejectsMalformedURIs(uri: String, message: String) throws {
        let error = #expect(throws: InputError.self) {
            try PrivateKey.loadPKCS11(uri: uri, pin: Array(SoftHSM.userPIN.utf8))
        }
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
    }

    @Test(
        .disabled(
            "In-process PKCS#11 (SoftHSM2 in this test process) left every later P-256 generation of the process failing (unknown group) in clean-clone CI at 7df8570 and 066ba9e; the same library code runs in child processes in signCommandRefusesAndLeavesTheBundleUnchanged (unknown key)"
        ))
    func libraryNamesTheURIOfAKeyThatIsNotInTheToken() throws {
        let hsm = try SoftHSM.shared()
        let uri = hsm.uri(label: "absent-key")
        let error = #expect(throws: InputError.self) {
            try PrivateKey.loadPKCS11(uri: uri, pin: Array(SoftHSM.userPIN.utf8))
        }
        #expect(
            error?.description.hasPrefix("\(uri): no private key matches this URI") == true,
            "\(error?.description ?? "")")
    }
}
