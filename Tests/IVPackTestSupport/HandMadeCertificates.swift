import Foundation
import IVPack

/// A program the fixtures ran failed.
public struct FixtureCommandFailed: Error, CustomStringConvertible {
    public var command: String
    public var stderr: String
    public var description: String { "\(command) failed: \(stderr)" }
}

/// Certificates ivpack must judge, made by hand under a development PKI: with the `openssl` CLI where
/// the library's `CertificateAuthority` cannot (SHA-1 signatures, RSA keys), with it otherwise.
public enum HandMadeCertificates {
    /// A new key for `openssl`: an RSA key of some size, or P-256.
    public enum KeyKind: Sendable {
        case rsa(bits: Int)
        case p256
    }

    /// The extensions of a code-signing end entity proving `policy` (none when nil).
    public static func signerExtensions(policy: String?) -> [String] {
        [
            "basicConstraints = critical,CA:FALSE", "keyUsage = critical,digitalSignature",
            "extendedKeyUsage = codeSigning",
            "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid:always",
        ]
            + (policy.map { ["certificatePolicies = \($0)"] } ?? [])
    }

    /// The extensions of a licence server certificate for 127.0.0.1 and localhost.
    public static let serverExtensions = [
        "basicConstraints = critical,CA:FALSE", "keyUsage = critical,digitalSignature", "extendedKeyUsage = serverAuth",
        "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid:always",
        "subjectAltName = DNS:localhost,IP:127.0.0.1",
    ]

    /// The extensions of a time-stamping authority (critical timeStamping usage, RFC 3161 2.3).
    public static let timestampExtensions = [
        "basicConstraints = critical,CA:FALSE", "keyUsage = critical,digitalSignature",
        "extendedKeyUsage = critical,timeStamping",
        "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid:always",
    ]

    /// Issues a certificate with `openssl x509 -req` for a new `key`, signed by `issuer` with
    /// `digest` (`sha1`, `sha256`, ...), valid from now for `days`. The subject is the development
    /// organisation, `unit` and `CN=name (DEVELOPMENT)`. Writes `name.pem`, `name.key` and
    /// `name.chain.pem` (the issuer's certificate) into `folder`.
    public static func issueWithOpenSSL(
        name: String, in folder: String, key: KeyKind, digest: String = "sha256",
        unit: String = "Quality Assurance", extensions: [String],
        issuer: DevelopmentPKILayout.Identity, days: Int = 30
    ) throws -> DevelopmentPKILayout.Signer {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let base = folder + "/" + name
        let keyArguments: [String]
        switch key {
        case .rsa(let bits): keyArguments = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(bits)"]
        case .p256: keyArguments = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        }
        try openssl(["genpkey"] + keyArguments + ["-out", base + ".key"])
        let subject = "/O=\(DevelopmentPKI.organization)/OU=\(unit)/CN=\(name) (\(WellKnownOID.developmentMarker))"
        try openssl(["req", "-new", "-key", base + ".key", "-subj", subject, "-out", base + ".csr"])
        try ("[v3]\n" + extensions.joined(separator: "\n") + "\n").write(
            toFile: base + ".ext", atomically: true, encoding: .utf8)
        var serial = [UInt8](repeating: 0, count: 16)
        for i in serial.indices { serial[i] = UInt8.random(in: 0...255) }
        serial[0] = (serial[0] & 0x7F) | 0x40
        try openssl([
            "x509", "-req", "-in", base + ".csr", "-CA", issuer.certificate, "-CAkey", issuer.key,
            "-set_serial", "0x" + serial.map { String(format: "%02x", $0) }.joined(), "-days", String(days),
            "-\(digest)",
            "-extfile", base + ".ext", "-extensions", "v3", "-out", base + ".pem",
        ])
        try FileManager.default.copyItem(atPath: issuer.certificate, toPath: base + ".chain.pem")
        return DevelopmentPKILayout.Signer(
            role: "", certificate: base + ".pem", key: base + ".key", chain: base + ".chain.pem")
    }

    /// Issues a certificate with the library's `CertificateAuthority` (P-256, SHA-256) from
    /// `issuer`, written as `name.pem`, `name.key` and `name.chain.pem` into `folder`.
    public static func issue(
        name: String, in folder: String, request: CertificateRequest,
        issuer: DevelopmentPKILayout.Identity
    ) throws -> DevelopmentPKILayout.Signer {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let base = folder + "/" + name
        let key = try PrivateKey.generateP256()
        let issuerCertificate = try Certificate.load(file: issuer.certificate)[0]
        let certificate = try CertificateAuthority.issue(
            request, publicKeyOf: key,
            issuer: (issuerCertificate, try PrivateKey.load(file: issuer.key, passphrase: nil)))
        try certificate.pem.write(toFile: base + ".pem", atomically: true, encoding: .utf8)
        guard
            FileManager.default.createFile(
                atPath: base + ".key", contents: Data(try key.pkcs8PEM(passphrase: nil).utf8),
                attributes: [.posixPermissions: 0o600])
        else {
            throw FixtureCommandFailed(command: "write \(base).key", stderr: "")
        }
        try issuerCertificate.pem.write(toFile: base + ".chain.pem", atomically: true, encoding: .utf8)
        return DevelopmentPKILayout.Signer(
            role: "", certificate: base + ".pem", key: base + ".key", chain: base + ".chain.pem")
    }

    /// The subject of a development certificate: the development organisation, `unit`, `CN=name (DEVELOPMENT)`.
    public static func subject(_ name: String, unit: String = "Quality Assurance") -> [(String, String)] {
        [("O", DevelopmentPKI.organization), ("OU", unit), ("CN", "\(name) (\(WellKnownOID.developmentMarker))")]
    }

    /// A CRL of `ca` listing nothing, current for a day either side of now, written to `path`.
    public static func emptyCRL(of ca: DevelopmentPKILayout.Identity, to path: String) throws {
        let now = Timestamp.now()
        let crl = try CertificateAuthority.revocationList(
            issuer: try Certificate.load(file: ca.certificate)[0],
            key: try PrivateKey.load(file: ca.key, passphrase: nil),
            revoked: [], lastUpdate: now - 86_400, nextUpdate: now + 86_400, number: 1)
        try crl.pem.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Runs `/usr/bin/openssl` and throws when it fails.
    public static func openssl(_ arguments: [String]) throws {
        let r = run("/usr/bin/openssl", arguments)
        guard r.status == 0 else {
            throw FixtureCommandFailed(command: "openssl " + arguments.joined(separator: " "), stderr: r.stderr)
        }
    }
}

extension DevelopmentPKILayout {
    /// The root CA as an issuing identity.
    public var root: Identity { Identity(certificate: rootCertificate, key: rootKey) }
    /// The intermediate CA as an issuing identity.
    public var intermediate: Identity { Identity(certificate: intermediateCertificate, key: intermediateKey) }
}

extension DevelopmentPKILayout.Signer {
    /// The signer as a certificate and key, for the licence server and client options.
    public var identity: DevelopmentPKILayout.Identity { .init(certificate: certificate, key: key) }
}

extension SignedRelease {
    /// Appends a signature by `identity` as `role` the way `sign` does, but without any of sign's
    /// checks, so that verify can be shown to refuse what sign would not have written.
    public func appendUncheckedSignature(
        role: String, identity: DevelopmentPKILayout.Signer, chain: [String]? = nil,
        timestampAuthority: String? = nil
    ) throws {
        let reader = try TarReader(path: bundle)
        var manifest: [UInt8] = []
        var signatures = 0
        while let entry = try reader.next() {
            if entry.path == Manifest.entryPath { manifest = try reader.readAll(limit: Manifest.maxBytes) }
            if entry.path?.hasPrefix(SignatureEntryName.prefix) == true { signatures += 1 }
        }
        guard let end = reader.endOfArchiveOffset else {
            throw FixtureCommandFailed(command: "read \(bundle)", stderr: "no end marker")
        }
        let chainCertificates = try (chain ?? [identity.chain]).flatMap { try Certificate.load(file: $0) }
        var signed = try SignedData.sign(
            content: manifest, certificate: try Certificate.load(file: identity.certificate)[0],
            key: try PrivateKey.load(file: identity.key, passphrase: nil), chain: chainCertificates)
        if let url = timestampAuthority { signed = try RFC3161.timestamp(signed, authority: url) }
        // The header as ivpack's sign writes it (the release's time), so only the certificate differs.
        let epoch = try Manifest.decode(manifest, source: bundle).provenance.sourceDateEpoch
        let bytes = try TarStreamWriter.entryWithEndMarker(
            path: SignatureEntryName.make(index: signatures + 1, role: role), data: signed.der,
            permissions: 0o644, modificationTime: epoch)
        guard let handle = FileHandle(forUpdatingAtPath: bundle) else {
            throw FixtureCommandFailed(command: "open \(bundle)", stderr: "")
        }
        try handle.seek(toOffset: UInt64(end))
        try handle.write(contentsOf: Data(bytes))
        try handle.truncate(atOffset: UInt64(end) + UInt64(bytes.count))
        try handle.close()
    }
}
