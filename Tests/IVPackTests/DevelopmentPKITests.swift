import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// The development PKI and the certificate builder, checked against the `openssl` command-line tool.
@Suite struct DevelopmentPKITests {
    static let openssl = "/usr/bin/openssl"

    /// A fresh PKI in `folder`/pki, valid from now.
    func makePKI(_ folder: TemporaryFolder, now: Int64 = Int64(Date().timeIntervalSince1970)) throws
        -> DevelopmentPKILayout
    {
        try DevelopmentPKI.create(in: folder.url("pki"), now: now)
    }

    func openssl(_ arguments: [String]) -> ProcessResult { run(Self.openssl, arguments) }

    /// `openssl verify` of `certificate` against the PKI's root, with its intermediate as untrusted.
    func verify(_ layout: DevelopmentPKILayout, _ certificate: String, _ extra: [String] = []) -> ProcessResult {
        openssl(
            ["verify", "-x509_strict", "-CAfile", layout.rootCertificate, "-untrusted", layout.intermediateCertificate]
                + extra + [certificate])
    }

    func withCRLs(_ layout: DevelopmentPKILayout) -> [String] {
        ["-crl_check_all", "-CRLfile", layout.rootCRL, "-CRLfile", layout.crl]
    }

    func certificate(_ path: String) throws -> Certificate { try #require(try Certificate.load(file: path).first) }

    func allCertificates(_ layout: DevelopmentPKILayout) -> [String] {
        [
            layout.rootCertificate, layout.intermediateCertificate, layout.releaseManager.certificate,
            layout.quality.certificate,
            layout.installer.certificate, layout.licenseOperator.certificate, layout.licenseServer.certificate,
            layout.licenseSigning.certificate,
            layout.licenseEscrow.certificate,
            layout.timestampAuthority.certificate,
        ]
    }

    // MARK: - Chains

    @Test func everyEndEntityCertificateVerifiesWithOpenSSL() throws {
        let folder = TemporaryFolder()
        let layout = try makePKI(folder)
        for path in [
            layout.releaseManager.certificate, layout.quality.certificate, layout.installer.certificate,
            layout.licenseServer.certificate, layout.licenseSigning.certificate, layout.timestampAuthority.certificate,
        ] {
            let r = verify(layout, path)
            #expect(r.status == 0, "\(path): \(r.stdout) \(r.stderr)")
            #expect(r.stdout.contains("\(path): OK"))
        }
        #expect(verify(layout, layout.licenseServer.certificate, ["-purpose", "sslserver"]).status == 0)
        #expect(verify(layout, layout.installer.certificate, ["-purpose", "sslclient"]).status == 0)
        #expect(verify(layout, layout.timestampAuthority.certificate, ["-purpose", "timestampsign"]).status == 0)
    }

    @Test func signerChainVerifiesWithCRLChecks() throws {
        let folder = TemporaryFolder()
        let layout = try makePKI(folder)
        let leafOnly = verify(layout, layout.releaseManager.certificate, ["-crl_check", "-CRLfile", layout.crl])
        #expect(leafOnly.status == 0, "\(leafOnly.stderr)")
        let whole = verify(layout, layout.releaseManager.certificate, withCRLs(layout))
        #expect(whole.status == 0, "\(whole.stderr)")
        // Without the root's CRL the intermediate is not covered.
        let missing = verify(layout, layout.releaseManager.certificate, ["-crl_check_all", "-CRLfile", layout.crl])
        #expect(missing.status != 0)
        #expect((missing.stdout + missing.stderr).contains("unable to get certificate CRL"))
    }

    @Test func signerChainFileIsTheIntermediate() throws {
        let folder = TemporaryFolder()
        let layout = try makePKI(folder)
        for signer in layout.signers {
            let chain = try Certificate.load(file: signer.chain)
            #expect(chain.count == 1)
            #expect(chain[0].sameCertificate(as: try certificate(layout.intermediateCertificate)))
            let r = openssl([
                "verify", "-x509_strict", "-CAfile", layout.rootCertificate, "-untrusted", signer.chain,
                signer.certificate,
            ])
            #expect(r.status == 0, "\(r.stderr)")
        }
    }

    @Test func policyCheckingAcceptsTheRolePolicyThroughTheCAs() throws {
        let folder = TemporaryFolder()
        let layout = try makePKI(folder)
        let ok = verify(
            layout, layout.quality.certificate,
            ["-policy_check", "-explicit_policy", "-policy", WellKnownOID.roleQuality])
        #expect(ok.status == 0, "\(ok.stdout) \(ok.stderr)")
        let wrong = verify(
            layout, layout.releaseManager.certificate,
            ["-policy_check", "-explicit_policy", "-policy", WellKnownOID.roleQuality])
        #expect(wrong.status != 0)
    }

    // MARK: - Revocation

    @Test func revokedSignerFailsTheCRLCheck() throws {
        let folder = TemporaryFolder()
        let now = Int64(Date().timeIntervalSince1970)
        let layout = try makePKI(folder, now: now)
        let signer = try certificate(layout.releaseManager.certificate)
        let crl = try DevelopmentPKI.revoke(serialHex: signer.serialHex, in: layout, now: now)
        #expect(crl.revokedCertificates == [RevocationList.Revoked(serialHex: signer.serialHex, revokedAt: now)])
        #expect(crl.crlNumber == 2)

        let r = verify(layout, layout.releaseManager.certificate, withCRLs(layout))
        #expect(r.status != 0)
        #expect((r.stdout + r.stderr).contains("certificate revoked"), "\(r.stdout) \(r.stderr)")
        // The other signer is untouched, and the CRL on disk is the one returned.
        #expect(verify(layout, layout.quality.certificate, withCRLs(layout)).status == 0)
        let onDisk = try #require(try RevocationList.load(file: layout.crl).first)
        #expect(onDisk.pem == crl.pem)
        #expect(onDisk.isSigned(by: try certificate(layout.intermediateCertificate)))
        #expect(!onDisk.isSigned(by: try certificate(layout.rootCertificate)))
        let text = openssl(["crl", "-in", layout.crl, "-noout", "-text"])
        #expect(text.stdout.contains("Serial Number: \(signer.serialHex)"))
    }

    @Test func revokingTwiceKeepsOneEntryAndRevokingAnotherAddsIt() throws {
        let folder = TemporaryFolder()
        let now: Int64 = 1_790_000_000
        let layout = try makePKI(folder, now: now)
        let first = try certificate(layout.releaseManager.certificate).serialHex
        let second = try certificate(layout.quality.certificate).serialHex
        try DevelopmentPKI.revoke(serialHex: first, in: layout, now: now + 10)
        let again = try DevelopmentPKI.revoke(serialHex: first.lowercased(), in: layout, now: now + 20)
        #expect(again.revokedCertificates.map(\.serialHex) == [first])
        #expect(again.crlNumber == 2)
        let both = try DevelopmentPKI.revoke(serialHex: second, in: layout, now: now + 30)
        #expect(Set(both.revokedCertificates.map(\.serialHex)) == [first, second])
        #expect(both.crlNumber == 3)
        #expect(both.lastUpdate == now + 30)
        #expect(both.nextUpdate == now + 30 + 825 * 86_400)
    }

    @Test func revokeRefusesASerialThatIsNotHex() throws {
        let folder = TemporaryFolder()
        let layout = try makePKI(folder)
        #expect(throws: DevelopmentPKIError.invalidSerial("not-hex")) {
            try DevelopmentPKI.revoke(serialHex: "not-hex", in: layout, now: 0)
        }
        #expect(throws: DevelopmentPKIError.invalidSerial("00")) {
            try DevelopmentPKI.revoke(serialHex: "00", in: layout, now: 0)
        }
    }

    // MARK: - Extensions and accessors

    @Test func opensslShowsTheUsagesAndRolePolicies() throws {
        let folder = TemporaryFolder()
        let layout = try makePKI(folder)
        func ext(_ path: String, _ names: String = "extendedKeyUsage,certificatePolicies") -> String {
            let r = openssl(["x509", "-in", path, "-noout", "-ext", names])
            #expect(r.status == 0, "\(r.stderr)")
            return r.stdout
        }
        let rm = ext(layout.releaseManager.certificate)
        #expect(rm.contains("Code Signing"))
        #expect(rm.contains("Policy: \(WellKnownOID.roleReleaseManager)"))
        let quality = ext(layout.quality.certificate)
        #expect(quality.contains("Code Signing"))
        #expect(quality.contains("Policy: \(WellKnownOID.roleQuality)"))
        let installer = ext(layout.installer.certificate)
        #expect(installer.contains("TLS Web Client Authentication"))
        #expect(installer.contains("Policy: \(WellKnownOID.roleInstaller)"))
        #expect(ext(layout.licenseSigning.certificate).contains(WellKnownOID.licenseSigning))
        #expect(
            ext(layout.timestampAuthority.certificate).contains(
                "X509v3 Extended Key Usage: critical\n    Time Stamping"))
        let server = ext(layout.licenseServer.certificate, "extendedKeyUsage,subjectAltName")
        #expect(server.contains("TLS Web Server Authentication"))
        #expect(server.contains("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"))
        for path in allCertificates(layout) {
            let keyIDs = ext(path, "subjectKeyIdentifier,authorityKeyIdentifier")
            #expect(keyIDs.contains("X509v3 Subject Key Identifier"), "\(path)")
            #expect(keyIDs.contains("X509v3 Authority Key Identifier"), "\(path)")
        }
        let root = ext(layout.rootCertificate, "basicConstraints,keyUsage")
        #expect(root.contains("X509v3 Basic Constraints: critical\n    CA:TRUE"))
        #expect(root.contains("X509v3 Key Usage: critical\n    Certificate Sign, CRL Sign"))
        #expect(ext(layout.intermediateCertificate, "basicConstraints").contains("CA:TRUE, pathlen:0"))
    }

    @Test func certificateAccessorsAgreeWithOpenSSL() throws {
        let folder = TemporaryFolder()
        let now: Int64 = 1_790_000_000 // 2026-09-21T14:13:20Z
        let layout = try DevelopmentPKI.create(in: folder.url("pki"), now: now, validityDays: 30)
        let iso = ISO8601DateFormatter()
        for path in allCertificates(layout) {
            let c = try certificate(path)
            let r = openssl([
                "x509", "-in", path, "-noout", "-serial", "-subject", "-nameopt", "RFC2253", "-dates", "-dateopt",
                "iso_8601",
                "-ext", "basicConstraints",
            ])
            #expect(r.status == 0, "\(r.stderr)")
            let lines = r.stdout.split(separator: "\n").map(String.init)
            func value(_ prefix: String) -> String? {
                lines.first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
            }
            #expect(value("serial=") == c.serialHex, "\(path)")
            #expect(value("subject=") == c.subject, "\(path)")
            let notBefore = try #require(
                value("notBefore=").flatMap { iso.date(from: $0.replacingOccurrences(of: " ", with: "T")) })
            let notAfter = try #require(
                value("notAfter=").flatMap { iso.date(from: $0.replacingOccurrences(of: " ", with: "T")) })
            #expect(Int64(notBefore.timeIntervalSince1970) == c.notBefore)
            #expect(Int64(notAfter.timeIntervalSince1970) == c.notAfter)
            #expect(c.notBefore == now)
            #expect(c.notAfter == now + 30 * 86_400)
            #expect(r.stdout.contains("CA:TRUE") == c.isCA, "\(path)")
            #expect(c.serialHex.count == 32, "16 random bytes: \(c.serialHex)")
        }
        #expect(try certificate(layout.rootCertificate).isSelfSigned)
        #expect(try !certificate(layout.intermediateCertificate).isSelfSigned)
        #expect(try certificate(layout.intermediateCertificate).isCA)
        #expect(try !certificate(layout.releaseManager.certificate).isCA)

        let rm = try certificate(layout.releaseManager.certificate)
        #expect(rm.extendedKeyUsages == [WellKnownOID.codeSigning])
        #expect(rm.certificatePolicies == [WellKnownOID.roleReleaseManager])
        #expect(rm.subjectValues("OU") == ["Release Management"])
        let quality = try certificate(layout.quality.certificate)
        #expect(quality.extendedKeyUsages == [WellKnownOID.codeSigning])
        #expect(quality.certificatePolicies == [WellKnownOID.roleQuality])
        #expect(quality.subjectValues("OU") == ["Quality Assurance"])
        let installer = try certificate(layout.installer.certificate)
        #expect(installer.extendedKeyUsages == [WellKnownOID.clientAuth])
        #expect(installer.certificatePolicies == [WellKnownOID.roleInstaller])
        #expect(installer.subjectValues("CN") == ["Installer 1 (DEVELOPMENT)"])
        #expect(installer.subjectValues("OU") == ["Field Service"])
        #expect(try certificate(layout.licenseServer.certificate).extendedKeyUsages == [WellKnownOID.serverAuth])
        #expect(try certificate(layout.licenseSigning.certificate).extendedKeyUsages == [WellKnownOID.licenseSigning])
        #expect(try certificate(layout.timestampAuthority.certificate).extendedKeyUsages == [WellKnownOID.timeStamping])
        #expect(try certificate(layout.intermediateCertificate).issuer == certificate(layout.rootCertificate).subject)

        let crl = try #require(try RevocationList.load(file: layout.crl).first)
        #expect(crl.lastUpdate == now)
        #expect(crl.nextUpdate == now + 30 * 86_400)
        #expect(crl.revokedCertificates.isEmpty)
        #expect(crl.crlNumber == 1)
        #expect(crl.issuer == (try certificate(layout.intermediateCertificate)).subject)
        let rootCRL = try #require(try RevocationList.load(file: layout.rootCRL).first)
        #expect(rootCRL.isSigned(by: try certificate(layout.rootCertificate)))
    }

    @Test func everySubjectIsMarkedDevelopment() throws {
        let folder = TemporaryFolder()
        let layout = try makePKI(folder)
        for path in allCertificates(layout) {
            let c = try certificate(path)
            #expect(c.subjectValues("O") == ["ivpack DEVELOPMENT PKI - NOT FOR PRODUCTION"], "\(path)")
            #expect(
                c.subjectValues("CN").allSatisfy { $0.contains(WellKnownOID.developmentMarker) }
                    && !c.subjectValues("CN").isEmpty, "\(path)")
        }
    }

    // MARK: - Keys

    @Test func privateKeyFilesAreReadableByTheOwnerOnly() throws {
        let folder = TemporaryFolder()
        let layout = try makePKI(folder)
        let keys = DevelopmentPKILayout.files.filter(\.isPrivateKey)
        #expect(keys.count == 13)
        for file in keys {
            let attributes = try FileManager.default.attributesOfItem(atPath: layout.path(of: file))
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file.path)")
        }
        for file in DevelopmentPKILayout.files where !file.isPrivateKey {
            #expect(FileManager.default.fileExists(atPath: layout.path(of: file)), "\(file.path)")
        }
        let ca = try FileManager.default.attributesOfItem(atPath: layout.directory + "/ca")
        #expect((ca[.posixPermissions] as? Int) == 0o700)
        // Each key belongs to its certificate.
        let pairs: [(String, String)] = [
            (layout.rootKey, layout.rootCertificate), (layout.intermediateKey, layout.intermediateCertificate),
            (layout.releaseManager.key, layout.releaseManager.certificate),
            (layout.quality.key, layout.quality.certificate),
            (layout.installer.key, layout.installer.certificate),
            (layout.licenseServer.key, layout.licenseServer.certificate),
            (layout.licenseSigning.key, layout.licenseSigning.certificate),
            (layout.timestampAuthority.key, layout.timestampAuthority.certificate),
        ]
        for (key, cert) in pairs {
            #expect(try PrivateKey.load(file: key, passphrase: nil).matches(certificate(cert)), "\(key)")
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: key)), as: UTF8.self)
            #expect(text.hasPrefix("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM: \(key)")
        }
        // No leftover temporary folder beside the PKI.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["pki"])
    }

    @Test func encryptedKeyDecryptsOnlyWithTheDocumentedPassphrase() throws {
        let folder = TemporaryFolder()
        let layout = try makePKI(folder)
        let path = layout.releaseManagerEncryptedKey
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
        #expect(text.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        #expect(DevelopmentPKILayout.encryptedKeyPassphrase == "development-only")
        let good = openssl(["pkey", "-in", path, "-passin", "pass:development-only", "-noout"])
        #expect(good.status == 0, "\(good.stderr)")
        let bad = openssl(["pkey", "-in", path, "-passin", "pass:production", "-noout"])
        #expect(bad.status != 0)
        // The same key as the unencrypted one.
        let a = openssl(["pkey", "-in", path, "-passin", "pass:development-only", "-pubout"])
        let b = openssl(["pkey", "-in", layout.releaseManager.key, "-pubout"])
        #expect(a.stdout == b.stdout && !a.stdout.isEmpty)
        let key = try PrivateKey.load(file: path, passphrase: Array("development-only".utf8))
        #expect(key.matches(try certificate(layout.releaseManager.certificate)))
        #expect(throws: InputError.self) { try PrivateKey.load(file: path, passphrase: Array("wrong".utf8)) }
    }

    // MARK: - Refusals

    @Test func createRefusesANonEmptyFolderAndAnExistingPKI() throws {
        let folder = TemporaryFolder()
        folder.write("busy/notes.txt", "keep me\n")
        #expect(throws: DevelopmentPKIError.folderNotEmpty(folder.url("busy"))) {
            try DevelopmentPKI.create(in: folder.url("busy"), now: 1_790_000_000)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url("busy")) == ["notes.txt"])

        let layout = try makePKI(folder)
        let before = folder.read("pki/root-ca.pem")
        #expect(throws: DevelopmentPKIError.existingPKI(layout.directory)) {
            try DevelopmentPKI.create(in: layout.directory, now: 1_790_000_000)
        }
        #expect(folder.read("pki/root-ca.pem") == before)

        folder.write("plain-file", "x")
        #expect(throws: DevelopmentPKIError.notAFolder(folder.url("plain-file"))) {
            try DevelopmentPKI.create(in: folder.url("plain-file"), now: 1_790_000_000)
        }
        #expect(throws: DevelopmentPKIError.invalidValidityDays(0)) {
            try DevelopmentPKI.create(in: folder.url("zero"), now: 1_790_000_000, validityDays: 0)
        }
        #expect(!folder.exists("zero"))
        // Leftover temporary folders would show up here.
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: folder.path)) == ["busy", "pki", "plain-file"])
    }

    @Test func createFillsAnEmptyFolderAndMakesMissingParents() throws {
        let folder = TemporaryFolder()
        try FileManager.default.createDirectory(atPath: folder.url("empty"), withIntermediateDirectories: false)
        let a = try DevelopmentPKI.create(in: folder.url("empty") + "/", now: 1_790_000_000, validityDays: 10)
        #expect(a.directory == folder.url("empty"))
        #expect(folder.exists("empty/trust-policy.yaml"))
        let b = try DevelopmentPKI.create(in: folder.url("x/y/z"), now: 1_790_000_000, validityDays: 10)
        #expect(FileManager.default.fileExists(atPath: b.rootCertificate))
    }

    // MARK: - Policy file

    @Test func trustPolicyNamesTheDevelopmentRootAndTheRoleOIDs() throws {
        let folder = TemporaryFolder()
        let layout = try makePKI(folder)
        let text = String(decoding: folder.read("pki/trust-policy.yaml"), as: UTF8.self)
        #expect(
            text == """
                # ivpack trust policy: DEVELOPMENT ONLY. Trusts the development root in this folder.
                apiVersion: ivpack.dev/v1
                kind: TrustPolicy
                development: true
                trustedRoots: [root-ca.pem]
                intermediates: [intermediate-ca.pem]
                crls: [root-crl.pem, crl.pem]
                revocation: require
                roles:
                  release-manager:
                    certificatePolicy: "\(WellKnownOID.roleReleaseManager)"
                  quality:
                    certificatePolicy: "\(WellKnownOID.roleQuality)"
                requiredRoles: [release-manager, quality]
                # IQ report sign-offs every report must carry before verify-report passes (optional key):
                # reportRoles: [installer, hospital-reviewer, vendor-issuer]
                minimumVersions: {}

                """)
        #expect(text.contains("certificatePolicy: \"2.25.37909035778985983080828668243002308620\""))
        #expect(text.contains("certificatePolicy: \"2.25.261145825710450062598460754844276917613\""))
        #expect(layout.trustPolicy == folder.url("pki/trust-policy.yaml"))
        let readme = String(decoding: folder.read("pki/README.txt"), as: UTF8.self)
        #expect(readme.contains("DEVELOPMENT ONLY"))
        #expect(readme.contains("Never ship these keys"))
        #expect(readme.contains("development-only"))
        for file in DevelopmentPKILayout.files { #expect(readme.contains(file.path), "\(file.path)") }
    }

    @Test func trustPolicyLoadsAndMapsEachSignerToItsRole() throws {
        let folder = TemporaryFolder()
        let layout = try makePKI(folder)
        let policy = try TrustPolicy.load(path: layout.trustPolicy)
        #expect(policy.development)
        #expect(policy.revocation == .require)
        #expect(policy.requiredRoles == ["release-manager", "quality"])
        let root = try certificate(layout.rootCertificate)
        #expect(policy.trustedRoots.count == 1 && policy.trustedRoots[0].sameCertificate(as: root))
        #expect(policy.intermediates.count == 1)
        #expect(policy.crls.count == 2)
        #expect(policy.roles(of: try certificate(layout.releaseManager.certificate)) == ["release-manager"])
        #expect(policy.roles(of: try certificate(layout.quality.certificate)) == ["quality"])
        #expect(policy.roles(of: try certificate(layout.installer.certificate)).isEmpty)
    }

    // MARK: - Extra signers

    @Test func issuedSignersFailTheWayTestsNeed() throws {
        let folder = TemporaryFolder()
        let now = Int64(Date().timeIntervalSince1970)
        let layout = try makePKI(folder, now: now)

        let expired = try DevelopmentPKI.issueSigner(
            role: "release-manager", policyOID: WellKnownOID.roleReleaseManager, in: layout,
            name: "expired-release-manager", notBefore: now - 20 * 86_400, notAfter: now - 86_400)
        #expect(expired.certificate == layout.directory + "/signers/expired-release-manager.pem")
        let r = verify(layout, expired.certificate)
        #expect(r.status != 0)
        #expect((r.stdout + r.stderr).contains("certificate has expired"))
        #expect(try certificate(expired.certificate).subjectValues("OU") == ["Release Management"])
        #expect(try PrivateKey.load(file: expired.key, passphrase: nil).matches(certificate(expired.certificate)))
        let keyMode = try FileManager.default.attributesOfItem(atPath: expired.key)[.posixPermissions] as? Int
        #expect(keyMode == 0o600)

        let noCodeSigning = try DevelopmentPKI.issueSigner(
            role: "quality", policyOID: WellKnownOID.roleQuality, in: layout, name: "quality-tls",
            notBefore: now, notAfter: now + 86_400, extendedKeyUsage: [WellKnownOID.clientAuth])
        #expect(verify(layout, noCodeSigning.certificate).status == 0)
        #expect(try certificate(noCodeSigning.certificate).extendedKeyUsages == [WellKnownOID.clientAuth])

        let wrongRole = try DevelopmentPKI.issueSigner(
            role: "release-manager", policyOID: WellKnownOID.roleQuality, in: layout,
            name: "rm-with-quality-oid", notBefore: now, notAfter: now + 86_400)
        let c = try certificate(wrongRole.certificate)
        #expect(c.certificatePolicies == [WellKnownOID.roleQuality])
        #expect(c.extendedKeyUsages == [WellKnownOID.codeSigning])
        #expect(c.subjectValues("CN") == ["rm-with-quality-oid (DEVELOPMENT)"])

        let noPolicy = try DevelopmentPKI.issueSigner(
            role: "outsider", policyOID: nil, in: layout, name: "no-policy", notBefore: now,
            notAfter: now + 86_400, extendedKeyUsage: [])
        #expect(try certificate(noPolicy.certificate).certificatePolicies.isEmpty)
        #expect(try certificate(noPolicy.certificate).extendedKeyUsages.isEmpty)
        #expect(
            try Certificate.load(file: noPolicy.chain).first?.sameCertificate(
                as: certificate(layout.intermediateCertificate)) == true)

        #expect(throws: DevelopmentPKIError.signerExists(expired.certificate)) {
            try DevelopmentPKI.issueSigner(
                role: "quality", policyOID: nil, in: layout, name: "expired-release-manager", notBefore: now,
                notAfter: now + 1)
        }
        for name in ["../escape", "", ".hidden", "a/b", "-flag"] {
            #expect(throws: DevelopmentPKIError.invalidSignerName(name)) {
                try DevelopmentPKI.issueSigner(
                    role: "quality", policyOID: nil, in: layout, name: name, notBefore: now, notAfter: now + 1)
            }
        }
        // The default signers are still there, unchanged.
        #expect(verify(layout, layout.releaseManager.certificate, withCRLs(layout)).status == 0)
    }

    // MARK: - Certificate builder

    @Test func certificateAuthorityRefusesBadRequests() throws {
        let key = try PrivateKey.generateP256()
        let other = try PrivateKey.generateP256()
        let base = CertificateRequest(
            subject: [("CN", "Test CA (DEVELOPMENT)")], notBefore: 1_790_000_000, notAfter: 1_790_086_400, isCA: true)
        let ca = try CertificateAuthority.issue(base, publicKeyOf: key, issuer: nil)
        #expect(ca.isSelfSigned && ca.isCA)

        var badOID = base
        badOID.extendedKeyUsage = ["codeSigning"]
        #expect(throws: CertificateIssueError.invalidObjectIdentifier(field: "extendedKeyUsage", value: "codeSigning"))
        {
            try CertificateAuthority.issue(badOID, publicKeyOf: key, issuer: nil)
        }
        var injected = base
        injected.subjectAltNames = ["DNS:a.example,DNS:b.example"]
        #expect(throws: CertificateIssueError.self) {
            try CertificateAuthority.issue(injected, publicKeyOf: key, issuer: nil)
        }
        var reversed = base
        reversed.notAfter = reversed.notBefore
        #expect(throws: CertificateIssueError.invalidValidity(notBefore: 1_790_000_000, notAfter: 1_790_000_000)) {
            try CertificateAuthority.issue(reversed, publicKeyOf: key, issuer: nil)
        }
        var unknownUsage = base
        unknownUsage.keyUsage = ["signEverything"]
        #expect(throws: CertificateIssueError.self) {
            try CertificateAuthority.issue(unknownUsage, publicKeyOf: key, issuer: nil)
        }
        var zeroSerial = base
        zeroSerial.serial = [0, 0]
        #expect(throws: CertificateIssueError.self) {
            try CertificateAuthority.issue(zeroSerial, publicKeyOf: key, issuer: nil)
        }
        var badName = base
        badName.subject = [("NoSuchAttribute", "x")]
        #expect(throws: CertificateIssueError.self) {
            try CertificateAuthority.issue(badName, publicKeyOf: key, issuer: nil)
        }

        let leafRequest = CertificateRequest(
            subject: [("CN", "Leaf (DEVELOPMENT)")], notBefore: 1_790_000_000, notAfter: 1_790_086_400,
            serial: [0x01, 0x02, 0x03])
        #expect(throws: CertificateIssueError.issuerKeyMismatch(issuer: ca.subject)) {
            try CertificateAuthority.issue(leafRequest, publicKeyOf: other, issuer: (ca, other))
        }
        let leaf = try CertificateAuthority.issue(leafRequest, publicKeyOf: other, issuer: (ca, key))
        #expect(leaf.serialHex == "010203")
        #expect(leaf.issuer == ca.subject)
        #expect(throws: CertificateIssueError.issuerNotCA(issuer: leaf.subject)) {
            try CertificateAuthority.issue(leafRequest, publicKeyOf: key, issuer: (leaf, other))
        }
        #expect(throws: CertificateIssueError.issuerNotCA(issuer: leaf.subject)) {
            try CertificateAuthority.revocationList(
                issuer: leaf, key: other, revoked: [], lastUpdate: 1, nextUpdate: 2, number: 1)
        }
        #expect(throws: CertificateIssueError.invalidSerial("XYZ")) {
            try CertificateAuthority.revocationList(
                issuer: ca, key: key, revoked: [("XYZ", 1)], lastUpdate: 1_790_000_000,
                nextUpdate: 1_790_086_400, number: 1)
        }
        let crl = try CertificateAuthority.revocationList(
            issuer: ca, key: key, revoked: [("010203", 1_790_000_100)],
            lastUpdate: 1_790_000_000, nextUpdate: 1_790_086_400, number: 7)
        #expect(crl.revokedCertificates == [RevocationList.Revoked(serialHex: "010203", revokedAt: 1_790_000_100)])
        #expect(crl.crlNumber == 7)
        #expect(crl.isSigned(by: ca))
    }

    @Test func dnsAndURIExtensionsRoundTripThroughOpenSSL() throws {
        let folder = TemporaryFolder()
        let key = try PrivateKey.generateP256()
        let request = CertificateRequest(
            subject: [("C", "DE"), ("O", "Example"), ("CN", "Grüße (DEVELOPMENT)")],
            notBefore: 1_790_000_000, notAfter: 1_790_086_400,
            subjectAltNames: ["DNS:example.invalid", "URI:https://example.invalid/x"],
            crlDistributionPoint: "http://crl.example.invalid/dev.crl")
        let c = try CertificateAuthority.issue(request, publicKeyOf: key, issuer: nil)
        #expect(c.subjectValues("CN") == ["Grüße (DEVELOPMENT)"])
        let path = folder.write("c.pem", c.pem)
        let r = openssl(["x509", "-in", path, "-noout", "-ext", "subjectAltName,crlDistributionPoints"])
        #expect(r.stdout.contains("DNS:example.invalid, URI:https://example.invalid/x"), "\(r.stdout)")
        #expect(r.stdout.contains("URI:http://crl.example.invalid/dev.crl"), "\(r.stdout)")
    }

    // MARK: - Command line

    @Test func keysInitDevWritesAPKIAndWarnsThatItIsForDevelopment() throws {
        let folder = TemporaryFolder()
        let r = ivpack(["keys", "init-dev", folder.url("dev"), "--validity-days", "30"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("DEVELOPMENT PKI"))
        #expect(r.stdout.contains("signers/release-manager.pem"))
        #expect(r.stdout.contains("trust-policy.yaml"))
        #expect(r.stderr.contains("WARNING: DEVELOPMENT PKI"))
        let layout = DevelopmentPKILayout(directory: folder.url("dev"))
        let root = try certificate(layout.rootCertificate)
        #expect(root.notAfter - root.notBefore == 30 * 86_400)
        #expect(verify(layout, layout.releaseManager.certificate, withCRLs(layout)).status == 0)
    }

    @Test func keysInitDevRefusesAnExistingPKI() throws {
        let folder = TemporaryFolder()
        #expect(ivpack(["keys", "init-dev", folder.url("dev")]).status == 0)
        let r = ivpack(["keys", "init-dev", folder.url("dev")])
        #expect(r.status == 2)
        #expect(r.stderr.contains("already holds a development PKI"))
        let usage = ivpack(["keys", "init-dev", folder.url("other"), "--validity-days", "0"])
        #expect(usage.status == 64)
        #expect(!folder.exists("other"))
    }

    @Test func keysInitDevJSONListsEveryFile() throws {
        let folder = TemporaryFolder()
        let r = ivpack(["keys", "init-dev", folder.url("dev"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let value = try JSONParser.parse(Array(r.stdout.utf8))
        #expect(value["development"] == .bool(true))
        #expect(value["files"]?.arrayValue?.count == DevelopmentPKILayout.files.count)
    }
}
