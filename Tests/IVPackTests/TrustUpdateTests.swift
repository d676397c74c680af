import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Signed trust updates (issue 18): a vendor's versioned, expiring trust material signed by a
/// threshold of update keys, installed on site only when the installed keys' threshold signed it,
/// its version is higher and it has not expired; rotation of update keys, intermediates, signers
/// and CRLs end to end, with `verify` reading the installed state.
@Suite struct TrustUpdateTests {
    static let day: Int64 = 86_400

    /// A development PKI with four update keys (update-1 ... update-4) and a state folder whose
    /// root of trust is update-1..3, threshold 2.
    final class Site: @unchecked Sendable {
        let folder: TemporaryFolder
        let pki: DevelopmentPKILayout
        let now: Int64
        let keys: [DevelopmentPKILayout.Signer]
        let state: String
        var written = 0

        init(pki existing: DevelopmentPKILayout? = nil, folder existingFolder: TemporaryFolder? = nil) throws {
            let folder = existingFolder ?? TemporaryFolder("ivpack-trustupd")
            let now = Timestamp.now()
            let pki = try existing ?? DevelopmentPKI.create(in: folder.url("pki"), now: now - 3600)
            keys = try (1...4).map {
                try DevelopmentPKI.issueTrustUpdateKey(
                    in: pki, name: "update-\($0)", notBefore: now - 3600, notAfter: now + 365 * TrustUpdateTests.day)
            }
            self.folder = folder
            self.now = now
            self.pki = pki
            state = folder.url("state")
            try TrustStore.initialise(state: state, updateKeys: try certificates([0, 1, 2]), threshold: 2, now: now)
        }

        func certificates(_ indices: [Int]) throws -> [Certificate] {
            try indices.map { try Certificate.load(file: keys[$0].certificate)[0] }
        }

        func identity(_ i: Int) throws -> SigningIdentity {
            try SigningIdentity.load(
                key: .file(path: keys[i].key, passphrase: nil), certificateFile: keys[i].certificate, chainFiles: [])
        }

        /// Writes an update of `policy` (default: the development policy) signed by `signers`.
        func update(
            version: Int64, policy: String? = nil, signers: [Int] = [0, 1], next: [Int] = [0, 1, 2],
            threshold: Int = 2, issued: Int64? = nil, expires: Int64? = nil
        ) throws -> String {
            let issuedAt = issued ?? now
            let payload = try TrustUpdateBuilder.payload(
                policy: try TrustPolicy.load(path: policy ?? pki.trustPolicy), version: version, issued: issuedAt,
                expires: expires ?? issuedAt + 30 * TrustUpdateTests.day, updateKeys: try certificates(next),
                threshold: threshold)
            let update = try SignedTrustUpdate.make(payload: payload, signers: try signers.map(identity))
            written += 1
            return folder.write("updates/\(written)-v\(version).json", update.bytes)
        }

        @discardableResult
        func install(_ path: String, at time: Int64? = nil) throws -> TrustUpdateInstallResult {
            try TrustStore.install(updatePath: path, state: state, now: time ?? now)
        }
    }

    /// The error `body` throws, which must be a `TrustUpdateError`.
    static func refusal(_ body: () throws -> Void) throws -> TrustUpdateError {
        do {
            try body()
        } catch let e as TrustUpdateError {
            return e
        }
        Issue.record("expected a TrustUpdateError")
        throw CancellationError()
    }

    /// `bytes` with one bit flipped in the first letter B..Y or b..y (it stays a base64 letter)
    /// at least `skip` bytes after the first `marker`.
    static func flippingALetter(in bytes: [UInt8], after marker: String, skip: Int) -> [UInt8] {
        let needle = Array(marker.utf8)
        var i = (0...(bytes.count - needle.count)).first { Array(bytes[$0..<$0 + needle.count]) == needle }!
        i += needle.count + skip
        while !((0x42...0x59).contains(bytes[i]) || (0x62...0x79).contains(bytes[i])) { i += 1 }
        var out = bytes
        out[i] ^= 0x01
        return out
    }

    // MARK: - Accepted

    @Test func higherVersionSignedByTheThresholdIsInstalledAndVerifyReadsIt() throws {
        let site = try Site()
        let result = try site.install(try site.update(version: 1))
        #expect(result.state.version == 1 && result.previousVersion == 0)
        #expect(result.signatures.filter { $0.outcome == .counted }.count == 2)
        // The state folder stands for its policy, and the policy reproduces the development one.
        let policy = try TrustPolicy.load(path: site.state)
        #expect(policy.file == TrustStore.policyPath(state: site.state))
        let original = try TrustPolicy.load(path: site.pki.trustPolicy)
        #expect(policy.trustedRoots.map(\.fingerprint) == original.trustedRoots.map(\.fingerprint))
        #expect(policy.intermediates.map(\.fingerprint) == original.intermediates.map(\.fingerprint))
        #expect(policy.crls.count == original.crls.count && policy.development && policy.revocation == .require)
        #expect(policy.roles == original.roles && policy.requiredRoles == original.requiredRoles)
        // A higher version again; the history keeps both, the current one is v2.
        try site.install(try site.update(version: 5))
        #expect(try TrustStore.current(state: site.state).version == 5)
        #expect(try TrustStore.history(state: site.state).map(\.version) == [0, 1, 5])
        #expect(FileManager.default.fileExists(atPath: site.state + "/states/v1/trust-policy.yaml"))
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: site.state + "/current")
        #expect(link == "states/v5")
    }

    // MARK: - Refused

    @Test func equalAndLowerVersionsAreRefusedAsReplayAndRollback() throws {
        let site = try Site()
        try site.install(try site.update(version: 3))
        let again = try site.update(version: 3)
        let equal = try Self.refusal { try site.install(again) }
        #expect(equal == .notNewer(file: again, version: 3, installed: 3, state: site.state))
        #expect(equal.description.contains("already installed") && equal.exitStatus == .checkFailed)
        let older = try site.update(version: 2)
        let lower = try Self.refusal { try site.install(older) }
        #expect(lower.description.contains("rollback") && lower.description.contains("above 3"), "\(lower)")
        #expect(try TrustStore.current(state: site.state).version == 3)
    }

    @Test func expiredUpdateIsRefused() throws {
        let site = try Site()
        let stale = try site.update(version: 1, issued: site.now - 10 * Self.day, expires: site.now - Self.day)
        let e = try Self.refusal { try site.install(stale) }
        guard case .expired(let file, 1, _, _) = e else {
            Issue.record("\(e)")
            return
        }
        #expect(file == stale && e.description.contains("fresh update"))
        #expect(try TrustStore.current(state: site.state).version == 0)
    }

    @Test func updateUnderTheThresholdIsRefused() throws {
        let site = try Site()
        let one = try site.update(version: 1, signers: [0])
        let e = try Self.refusal { try site.install(one) }
        guard case .underThreshold(_, 1, 2, _, let details) = e else {
            Issue.record("\(e)")
            return
        }
        #expect(details.count == 1 && details[0].contains("valid"))
        #expect(e.description.contains("ivpack trust cosign") && e.exitStatus == .checkFailed)
        // The same key twice counts once.
        let twice = try SignedTrustUpdate.load(path: one)
        #expect(throws: TrustUpdateError.self) { try twice.adding(signatureBy: try site.identity(0)) }
        // A key outside the installed set does not count either.
        let stranger = try site.update(version: 1, signers: [0, 3])
        let s = try Self.refusal { try site.install(stranger) }
        #expect(s.description.contains("not one of these update keys"), "\(s)")
        // Co-signed by a second installed key: accepted.
        let cosigned = try SignedTrustUpdate.load(path: one).adding(signatureBy: try site.identity(1))
        let path = site.folder.write("updates/cosigned.json", cosigned.bytes)
        #expect(try site.install(path).state.version == 1)
    }

    @Test func updateWhoseOwnNextKeysDoNotSignItIsRefused() throws {
        let site = try Site()
        // Signed by 2 of the installed keys, but names next keys {update-4} that never signed it:
        // installing it could lock the site out.
        let locked = try site.update(version: 1, signers: [0, 1], next: [3], threshold: 1)
        let e = try Self.refusal { try site.install(locked) }
        guard case .underThreshold(_, 0, 1, let keySet, _) = e else {
            Issue.record("\(e)")
            return
        }
        #expect(keySet.contains("next update keys"))
    }

    @Test func updateSignedByAKeyRemovedByRotationIsRefused() throws {
        let site = try Site()
        // v1 rotates: update-3 out, update-4 in; signed by the current threshold (1, 2), which
        // are also in the new set.
        try site.install(try site.update(version: 1, signers: [0, 1], next: [0, 1, 3]))
        #expect(
            try TrustStore.current(state: site.state).updateKeys.map(\.fingerprint)
                == site.certificates([0, 1, 3]).map(\.fingerprint))
        let byRemoved = try site.update(version: 2, signers: [0, 2], next: [0, 1, 3])
        let e = try Self.refusal { try site.install(byRemoved) }
        guard case .underThreshold(_, 1, 2, let keySet, let details) = e else {
            Issue.record("\(e)")
            return
        }
        #expect(keySet.contains("version 1"))
        #expect(
            details.contains { $0.contains("update-3") && $0.contains("removed by an earlier update") }, "\(details)")
        // The new key counts.
        #expect(try site.install(try site.update(version: 2, signers: [0, 3], next: [0, 1, 3])).state.version == 2)
    }

    @Test func tamperedUpdateIsRefusedAndLeavesNothingBehind() throws {
        let site = try Site()
        let path = try site.update(version: 1)
        let original = site.folder.read("updates/1-v1.json")
        let tampered = site.folder.write(
            "updates/tampered.json", Self.flippingALetter(in: original, after: "\"payload\":\"", skip: 200))
        let e = try Self.refusal { try site.install(tampered) }
        guard case .underThreshold(_, 0, 2, _, let details) = e else {
            Issue.record("\(e)")
            return
        }
        #expect(details.allSatisfy { $0.contains("does not verify") }, "\(details)")
        // A flipped byte inside a signature: refused too.
        let badSignature = site.folder.write(
            "updates/bad-signature.json", Self.flippingALetter(in: original, after: "\"cms\":\"", skip: 300))
        #expect(throws: TrustUpdateError.self) { try site.install(badSignature) }
        // Nothing was installed or left half-written.
        #expect(try TrustStore.current(state: site.state).version == 0)
        let states = try FileManager.default.contentsOfDirectory(atPath: site.state + "/states")
        #expect(states == ["v0"], "\(states)")
        #expect(try site.install(path).state.version == 1)
    }

    @Test func stateAndUpdateAreCheckedBeforeUse() throws {
        let site = try Site()
        let e = try Self.refusal {
            try TrustStore.initialise(state: site.state, updateKeys: try site.certificates([0]), threshold: 1, now: 0)
        }
        #expect(e == .alreadyInitialised(state: site.state))
        let empty = site.folder.url("empty")
        let n = try Self.refusal { _ = try TrustStore.install(updatePath: "x", state: empty, now: site.now) }
        #expect(n.description.contains("ivpack trust init"))
        // Version 0 holds no policy yet: verify's --trust says what to do.
        #expect(throws: TrustUpdateError.self) { try TrustPolicy.load(path: site.state) }
        // A threshold above the number of keys, and a certificate without the update role.
        #expect(throws: TrustUpdateError.self) {
            try TrustStore.initialise(
                state: site.folder.url("s2"), updateKeys: try site.certificates([0]), threshold: 2, now: 0)
        }
        let releaseManager = try Certificate.load(file: site.pki.releaseManager.certificate)
        let r = try Self.refusal {
            try TrustStore.initialise(state: site.folder.url("s3"), updateKeys: releaseManager, threshold: 1, now: 0)
        }
        #expect(r.description.contains("trust-update role"))
        // A second certificate for update-1's key counts as the same key.
        let issuer = try Certificate.load(file: site.pki.intermediateCertificate)[0]
        let twin = try CertificateAuthority.issue(
            CertificateRequest(
                subject: [("O", DevelopmentPKI.organization), ("CN", "update-1 again")], notBefore: site.now - 60,
                notAfter: site.now + Self.day, extendedKeyUsage: [WellKnownOID.documentSigning],
                certificatePolicies: [WellKnownOID.roleTrustUpdate]),
            publicKeyOf: try PrivateKey.load(file: site.keys[0].key, passphrase: nil),
            issuer: (issuer, try PrivateKey.load(file: site.pki.intermediateKey, passphrase: nil)))
        let same = try Self.refusal {
            try TrustStore.initialise(
                state: site.folder.url("s4"), updateKeys: try site.certificates([0]) + [twin], threshold: 2, now: 0)
        }
        #expect(same.description.contains("same public key"), "\(same)")
        // An unknown member in the update file.
        let bad = site.folder.write("updates/bad.json", #"{"apiVersion":"ivpack.dev/v1","x":1}"#)
        let m = try Self.refusal { try site.install(bad) }
        #expect(m.exitStatus == .badInput && m.description.contains("unknown member \"x\""), "\(m)")
    }

    @Test func aCrashBeforeTheSwitchLeavesTheOldStateInForce() throws {
        let site = try Site()
        let path = try site.update(version: 1)
        let killed = try ivpackKilledAtFailpoint(
            ["trust", "update", path, "--state", site.state], failpoint: "trust-update-before-switch")
        #expect(killed.killedBySignal && killed.stderr.contains("failpoint reached"), "\(killed.stderr)")
        // states/v1 is complete on disk, but current still names v0: the old state is in force.
        #expect(FileManager.default.fileExists(atPath: site.state + "/states/v1/trust-state.json"))
        #expect(try TrustStore.current(state: site.state).version == 0)
        #expect(try TrustStore.history(state: site.state).map(\.version) == [0])
        #expect(throws: TrustUpdateError.self) { try TrustPolicy.load(path: site.state) }
        // The next install completes, replacing what the crash left.
        #expect(try site.install(path).state.version == 1)
        let states = try FileManager.default.contentsOfDirectory(atPath: site.state + "/states").sorted()
        #expect(states == ["v0", "v1"], "\(states)")
        #expect(!FileManager.default.fileExists(atPath: site.state + "/.current.tmp"))
        #expect(try TrustPolicy.load(path: site.state).development)
    }

    // MARK: - Rotation end to end

    @Test func rotationIntroducesASignerAndRevokesTheOldOne() throws {
        let s = try SignedRelease()
        let site = try Site(pki: s.pki, folder: s.folder)
        let pki = s.pki
        try site.install(try site.update(version: 1))
        #expect(try s.verify(policy: try TrustPolicy.load(path: site.state)).passed)

        // A new intermediate under the same root, with its own CRL and a new release-manager.
        let root = try Certificate.load(file: pki.rootCertificate)[0]
        let rootKey = try PrivateKey.load(file: pki.rootKey, passphrase: nil)
        let intermediateKey = try PrivateKey.generateP256()
        let intermediate = try CertificateAuthority.issue(
            CertificateRequest(
                subject: [("O", DevelopmentPKI.organization), ("CN", "Intermediate CA 2")], notBefore: site.now - 3600,
                notAfter: site.now + 365 * Self.day, isCA: true, pathLength: 0,
                certificatePolicies: [ChainValidator.anyPolicy]),
            publicKeyOf: intermediateKey, issuer: (root, rootKey))
        let signerKey = try PrivateKey.generateP256()
        let signer = try CertificateAuthority.issue(
            CertificateRequest(
                subject: [
                    ("O", DevelopmentPKI.organization), ("OU", "Release Management"), ("CN", "Release Manager 2"),
                ],
                notBefore: site.now - 3600, notAfter: site.now + 365 * Self.day,
                extendedKeyUsage: [WellKnownOID.codeSigning], certificatePolicies: [WellKnownOID.roleReleaseManager]),
            publicKeyOf: signerKey, issuer: (intermediate, intermediateKey))
        let crl2 = try CertificateAuthority.revocationList(
            issuer: intermediate, key: intermediateKey, revoked: [], lastUpdate: site.now - 60,
            nextUpdate: site.now + 30 * Self.day, number: 1)
        s.folder.write("pki/intermediate-2.pem", intermediate.pem)
        s.folder.write("pki/crl-2.pem", crl2.pem)
        let newSigner = DevelopmentPKILayout.Signer(
            role: "release-manager", certificate: s.folder.write("pki/signers/rm2.pem", signer.pem),
            key: s.folder.write("pki/signers/rm2.key", try signerKey.pkcs8PEM(passphrase: nil), mode: 0o600),
            chain: s.folder.write("pki/signers/rm2.chain.pem", intermediate.pem))
        let b2 = s.folder.url("b2.ivp")
        _ = try s.release.build(to: b2)
        try s.sign(role: "release-manager", identity: newSigner, bundle: b2)
        try s.sign(role: "quality", bundle: b2)
        // Before the update the site has no CRL for the new intermediate: refused.
        #expect(!(try s.verify(b2, policy: try TrustPolicy.load(path: site.state))).passed)

        let policyText = String(decoding: FileManager.default.contents(atPath: pki.trustPolicy)!, as: UTF8.self)
            .replacingOccurrences(
                of: "intermediates: [intermediate-ca.pem]",
                with: "intermediates: [intermediate-ca.pem, intermediate-2.pem]"
            )
            .replacingOccurrences(of: "crls: [root-crl.pem, crl.pem]", with: "crls: [root-crl.pem, crl.pem, crl-2.pem]")
        let policy2 = s.folder.write("pki/policy-2.yaml", policyText)
        try site.install(try site.update(version: 2, policy: policy2))
        #expect(try s.verify(b2, policy: try TrustPolicy.load(path: site.state)).passed)
        #expect(try s.verify(policy: try TrustPolicy.load(path: site.state)).passed)

        // The vendor revokes the old release-manager; until the site installs the update that
        // carries the CRL, its installed copy still trusts the old key.
        let old = try Certificate.load(file: pki.releaseManager.certificate)[0]
        try DevelopmentPKI.revoke(serialHex: old.serialHex, in: pki, now: site.now - 30)
        let v3 = try site.update(version: 3, policy: policy2)
        #expect(try s.verify(policy: try TrustPolicy.load(path: site.state)).passed)
        try site.install(v3)
        let after = try s.verify(policy: try TrustPolicy.load(path: site.state))
        #expect(!after.passed && after.failureText.contains("revoked"), "\(after.failureText)")
        #expect(try s.verify(b2, policy: try TrustPolicy.load(path: site.state)).passed)
        // The command line reads the state folder the same way.
        let cliNew = ivpack(["verify", b2, "--trust", site.state])
        #expect(cliNew.status == 0, "\(cliNew.stdout)\(cliNew.stderr)")
        let cliOld = ivpack(["verify", s.bundle, "--trust", site.state])
        #expect(cliOld.status == 1, "\(cliOld.stdout)\(cliOld.stderr)")
        // The earlier state is kept, untouched.
        #expect(try s.verify(policy: try TrustPolicy.load(path: site.state + "/states/v2/trust-policy.yaml")).passed)
    }

    // MARK: - Command line and schemas

    @Test func commandLineBundlesCosignsInstallsAndVerifies() throws {
        let site = try Site()
        let pki = site.pki
        let out = site.folder.url("cli-update.json")
        let bundle = ivpack([
            "trust", "bundle", "--policy", pki.trustPolicy, "--version", "4", "--expires-days", "30",
            "--update-key", site.keys[0].certificate, "--update-key", site.keys[1].certificate,
            "--update-key", site.keys[2].certificate, "--threshold", "2",
            "--key", site.keys[0].key, "--cert", site.keys[0].certificate, "--output", out,
        ])
        #expect(bundle.status == 0, "\(bundle.stderr)")
        let under = ivpack(["trust", "update", out, "--state", site.state])
        #expect(under.status == 1 && under.stderr.contains("signed by 1 of the 2"), "\(under.stderr)")
        let cosign = ivpack(["trust", "cosign", out, "--key", site.keys[1].key, "--cert", site.keys[1].certificate])
        #expect(cosign.status == 0, "\(cosign.stderr)")
        let update = ivpack(["trust", "update", out, "--state", site.state])
        #expect(update.status == 0 && update.stdout.contains("version 4"), "\(update.stderr)")
        let again = ivpack(["trust", "update", out, "--state", site.state])
        #expect(again.status == 1 && again.stderr.contains("already installed"), "\(again.stderr)")
        let status = ivpack(["trust", "status", "--state", site.state])
        #expect(status.status == 0 && status.stdout.contains("History: v0 v4"), "\(status.stdout)")

        let schemas = SchemaTests.checkSchemas([
            "--trust-update", out, "--trust-state", site.state + "/current/trust-state.json",
            "--trust-state", site.state + "/states/v0/trust-state.json",
        ])
        #expect(schemas.status == 0, "\(schemas.stdout)\(schemas.stderr)")
    }
}
