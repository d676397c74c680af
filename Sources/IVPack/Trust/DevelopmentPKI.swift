#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A development PKI could not be created or changed as asked: bad input (exit 2).
public enum DevelopmentPKIError: IVPackError, Equatable {
    /// The validity is outside 1...36500 days.
    case invalidValidityDays(Int)
    /// The target exists and is not a folder (or is a symbolic link).
    case notAFolder(String)
    /// The target folder already holds a development PKI.
    case existingPKI(String)
    /// The target folder holds other files.
    case folderNotEmpty(String)
    /// A signer name that would not make a plain file name.
    case invalidSignerName(String)
    /// A file of a new signer exists already.
    case signerExists(String)
    /// A serial number that is not hexadecimal, or zero.
    case invalidSerial(String)
    /// The CRL in the folder was not signed by the folder's intermediate CA.
    case foreignCRL(String)

    /// Always `.badInput`.
    public var exitStatus: ExitStatus { .badInput }

    /// What is wrong and what to do.
    public var description: String {
        switch self {
        case .invalidValidityDays(let days):
            return "a validity of \(days) days is not accepted. Give 1 to 36500 days"
        case .notAFolder(let path):
            return "\(path): exists and is not a folder. Give a new or empty folder"
        case .existingPKI(let path):
            return
                "\(path): already holds a development PKI; it is never overwritten. Remove the folder first or choose another one"
        case .folderNotEmpty(let path):
            return "\(path): the folder is not empty. Give a new or empty folder"
        case .invalidSignerName(let name):
            return
                "signer name \"\(name)\" is not accepted. Use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
        case .signerExists(let path):
            return "\(path): exists already; a signer is never overwritten. Choose another name"
        case .invalidSerial(let serial):
            return
                "\"\(serial)\" is not a certificate serial number. Give it in hex as `openssl x509 -noout -serial` prints it"
        case .foreignCRL(let path):
            return "\(path): was not signed by this folder's intermediate CA. Recreate the development PKI"
        }
    }
}

/// One file of a development PKI.
public struct DevelopmentPKIFile: Sendable, Equatable {
    /// Path relative to the PKI folder.
    public let path: String
    /// What the file is, one line.
    public let summary: String
    /// Whether the file holds a private key (mode 0600).
    public let isPrivateKey: Bool
}

/// Where each file of a development PKI lives. Building a layout touches no file: it names the
/// paths of the PKI in `directory`, whether or not it exists yet.
public struct DevelopmentPKILayout: Sendable, Equatable {
    /// A certificate with its private key.
    public struct Identity: Sendable, Equatable {
        /// The PEM certificate.
        public var certificate: String
        /// The unencrypted PKCS#8 PEM private key (mode 0600).
        public var key: String

        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// A code-signing identity: certificate, key and the chain it ships with its signatures.
    public struct Signer: Sendable, Equatable {
        /// The role the certificate proves (`release-manager`, `quality`, ...).
        public var role: String
        /// The PEM certificate.
        public var certificate: String
        /// The unencrypted PKCS#8 PEM private key (mode 0600).
        public var key: String
        /// The certificates between the signer and the root (the intermediate CA), PEM.
        public var chain: String

        public init(role: String, certificate: String, key: String, chain: String) {
            self.role = role
            self.certificate = certificate
            self.key = key
            self.chain = chain
        }
    }

    /// The PKI folder, as given.
    public let directory: String
    /// The self-signed development root CA certificate, the policy's only trust anchor.
    public var rootCertificate: String
    /// The root CA's private key.
    public var rootKey: String
    /// The intermediate CA certificate, issued by the root with path length 0.
    public var intermediateCertificate: String
    /// The intermediate CA's private key.
    public var intermediateKey: String
    /// The release-manager code-signing identity.
    public var releaseManager: Signer
    /// The quality (second approver) code-signing identity.
    public var quality: Signer
    /// The release-manager key again, encrypted PKCS#8 under `encryptedKeyPassphrase`.
    public var releaseManagerEncryptedKey: String
    /// The installer's TLS client identity.
    public var installer: Identity
    /// The licence operator's TLS client identity, for the licence server's admin API.
    public var licenseOperator: Identity
    /// The hospital reviewer's identity for signing IQ reports off (role hospital-reviewer).
    public var hospitalReviewer: Identity
    /// The vendor issuer's identity for signing IQ reports off (role vendor-issuer, 签发人).
    public var vendorIssuer: Identity
    /// The licence server's TLS identity (localhost, 127.0.0.1, ::1).
    public var licenseServer: Identity
    /// The identity that signs licence grants.
    public var licenseSigning: Identity
    /// The licence server's escrow identity: encrypted bundles' content keys are wrapped to it
    /// (EC P-256, key usage keyAgreement, as `EnvelopedKey.checkRecipient` requires).
    public var licenseEscrow: Identity
    /// The RFC 3161 time-stamping authority's identity.
    public var timestampAuthority: Identity
    /// The intermediate CA's CRL (`crl.pem`), where `DevelopmentPKI.revoke` adds serials.
    public var crl: String
    /// The root CA's CRL (`root-crl.pem`), which covers the intermediate.
    public var rootCRL: String
    /// The trust policy that trusts this root, marked `development: true`.
    public var trustPolicy: String
    /// The README that says what each file is.
    public var readme: String

    /// The passphrase of `releaseManagerEncryptedKey`. Public on purpose: it is a development PKI.
    public static let encryptedKeyPassphrase = "development-only"

    /// Every file `DevelopmentPKI.create` writes, relative to the folder, in the order of the README.
    public static let files: [DevelopmentPKIFile] = [
        .init(path: "README.txt", summary: "this file", isPrivateKey: false),
        .init(
            path: "trust-policy.yaml",
            summary: "trust policy trusting root-ca.pem, development: true, requiring release-manager and quality",
            isPrivateKey: false),
        .init(
            path: "root-ca.pem", summary: "root CA certificate (self-signed): the only trust anchor",
            isPrivateKey: false),
        .init(
            path: "intermediate-ca.pem",
            summary: "intermediate CA certificate, issued by the root (path length 0); issues every other certificate",
            isPrivateKey: false),
        .init(path: "root-crl.pem", summary: "CRL of the root CA (covers the intermediate)", isPrivateKey: false),
        .init(
            path: "crl.pem", summary: "CRL of the intermediate CA (covers every end-entity certificate)",
            isPrivateKey: false),
        .init(path: "ca/root-ca.key", summary: "root CA private key", isPrivateKey: true),
        .init(
            path: "ca/intermediate-ca.key", summary: "intermediate CA private key (issues and revokes certificates)",
            isPrivateKey: true),
        .init(
            path: "signers/release-manager.pem",
            summary: "code-signing certificate, role release-manager (OU Release Management)", isPrivateKey: false),
        .init(path: "signers/release-manager.key", summary: "its private key", isPrivateKey: true),
        .init(
            path: "signers/release-manager.encrypted.key",
            summary: "the same key, encrypted PKCS#8, passphrase \"\(encryptedKeyPassphrase)\"", isPrivateKey: true),
        .init(
            path: "signers/release-manager.chain.pem",
            summary: "the chain the signer ships: the intermediate CA certificate", isPrivateKey: false),
        .init(
            path: "signers/quality.pem", summary: "code-signing certificate, role quality (OU Quality Assurance)",
            isPrivateKey: false),
        .init(path: "signers/quality.key", summary: "its private key", isPrivateKey: true),
        .init(
            path: "signers/quality.chain.pem", summary: "the chain the signer ships: the intermediate CA certificate",
            isPrivateKey: false),
        .init(
            path: "installers/installer-1.pem",
            summary: "installer TLS client certificate (mutual TLS to the licence server)", isPrivateKey: false),
        .init(path: "installers/installer-1.key", summary: "its private key", isPrivateKey: true),
        .init(
            path: "operators/operator-1.pem",
            summary: "licence operator TLS client certificate (the licence server's admin API)", isPrivateKey: false),
        .init(path: "operators/operator-1.key", summary: "its private key", isPrivateKey: true),
        .init(
            path: "report-signers/hospital-reviewer.pem",
            summary: "IQ report signing certificate, role hospital-reviewer (document signing)", isPrivateKey: false),
        .init(path: "report-signers/hospital-reviewer.key", summary: "its private key", isPrivateKey: true),
        .init(
            path: "report-signers/vendor-issuer.pem",
            summary: "IQ report signing certificate, role vendor-issuer (document signing)", isPrivateKey: false),
        .init(path: "report-signers/vendor-issuer.key", summary: "its private key", isPrivateKey: true),
        .init(
            path: "license-server/server.pem",
            summary: "licence server TLS certificate for localhost, 127.0.0.1 and ::1", isPrivateKey: false),
        .init(path: "license-server/server.key", summary: "its private key", isPrivateKey: true),
        .init(
            path: "license-signing/license-signing.pem", summary: "licence-grant signing certificate",
            isPrivateKey: false),
        .init(path: "license-signing/license-signing.key", summary: "its private key", isPrivateKey: true),
        .init(
            path: "license-escrow/escrow.pem",
            summary:
                "licence server escrow certificate (keyAgreement): encrypted bundles' content keys are wrapped to it",
            isPrivateKey: false),
        .init(path: "license-escrow/escrow.key", summary: "its private key", isPrivateKey: true),
        .init(
            path: "tsa/tsa.pem", summary: "RFC 3161 time-stamping authority certificate (critical timeStamping usage)",
            isPrivateKey: false),
        .init(path: "tsa/tsa.key", summary: "its private key", isPrivateKey: true),
    ]

    /// The layout of the development PKI in `directory`.
    public init(directory: String) {
        var dir = directory
        while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
        self.directory = dir
        func path(_ relative: String) -> String { dir == "/" ? "/" + relative : dir + "/" + relative }
        rootCertificate = path("root-ca.pem")
        rootKey = path("ca/root-ca.key")
        intermediateCertificate = path("intermediate-ca.pem")
        intermediateKey = path("ca/intermediate-ca.key")
        releaseManager = Signer(
            role: "release-manager", certificate: path("signers/release-manager.pem"),
            key: path("signers/release-manager.key"), chain: path("signers/release-manager.chain.pem"))
        quality = Signer(
            role: "quality", certificate: path("signers/quality.pem"), key: path("signers/quality.key"),
            chain: path("signers/quality.chain.pem"))
        releaseManagerEncryptedKey = path("signers/release-manager.encrypted.key")
        installer = Identity(certificate: path("installers/installer-1.pem"), key: path("installers/installer-1.key"))
        licenseOperator = Identity(
            certificate: path("operators/operator-1.pem"), key: path("operators/operator-1.key"))
        hospitalReviewer = Identity(
            certificate: path("report-signers/hospital-reviewer.pem"), key: path("report-signers/hospital-reviewer.key")
        )
        vendorIssuer = Identity(
            certificate: path("report-signers/vendor-issuer.pem"), key: path("report-signers/vendor-issuer.key"))
        licenseServer = Identity(certificate: path("license-server/server.pem"), key: path("license-server/server.key"))
        licenseSigning = Identity(
            certificate: path("license-signing/license-signing.pem"), key: path("license-signing/license-signing.key"))
        licenseEscrow = Identity(certificate: path("license-escrow/escrow.pem"), key: path("license-escrow/escrow.key"))
        timestampAuthority = Identity(certificate: path("tsa/tsa.pem"), key: path("tsa/tsa.key"))
        crl = path("crl.pem")
        rootCRL = path("root-crl.pem")
        trustPolicy = path("trust-policy.yaml")
        readme = path("README.txt")
    }

    /// The two signers of the development policy's required roles.
    public var signers: [Signer] { [releaseManager, quality] }

    /// The signer of `role`, if the development PKI has one.
    public func signer(role: String) -> Signer? { signers.first { $0.role == role } }

    /// The full path of a file of `files`.
    public func path(of file: DevelopmentPKIFile) -> String {
        directory == "/" ? "/" + file.path : directory + "/" + file.path
    }
}

/// Creates and maintains a development PKI: a root, an intermediate, signers for the release-manager
/// and quality roles, an installer client, a licence server, a licence-signing and a time-stamping
/// identity, CRLs and a trust policy. Every subject says DEVELOPMENT; nothing here may reach production.
public enum DevelopmentPKI {
    /// The organisation of every subject.
    public static let organization = "ivpack \(WellKnownOID.developmentMarker) PKI - NOT FOR PRODUCTION"
    /// The validity `create` uses unless told otherwise.
    public static let defaultValidityDays = 825
    /// The accepted validity, in days.
    public static let validityDaysRange = 1...36500
    /// The certificate policy every CA certificate carries (anyPolicy, RFC 5280 4.2.1.4), so that a
    /// validator checking policies accepts the role policies of the signers below it.
    static let anyPolicy = "2.5.29.32.0"
    static let secondsPerDay: Int64 = 86_400

    /// Writes a complete development PKI into `directory`, which must not exist or be empty; an existing
    /// PKI is never overwritten. Every certificate is valid from `now` for `validityDays`; the CRLs are
    /// empty until the same time. The folder appears whole or not at all: it is built beside the
    /// target and renamed into place.
    @discardableResult
    public static func create(in directory: String, now: Int64, validityDays: Int = defaultValidityDays) throws
        -> DevelopmentPKILayout
    {
        guard validityDaysRange.contains(validityDays) else {
            throw DevelopmentPKIError.invalidValidityDays(validityDays)
        }
        let layout = DevelopmentPKILayout(directory: directory)
        try checkTarget(layout)
        let contents = try generate(
            now: now, notAfter: now + Int64(validityDays) * secondsPerDay, validityDays: validityDays)

        let target = layout.directory
        let slash = target.lastIndex(of: "/")
        let parent = slash.map { $0 == target.startIndex ? "/" : String(target[..<$0]) } ?? "."
        let base = slash.map { String(target[target.index(after: $0)...]) } ?? target
        try OutputFolder.makeFolders(parent)
        var template = Array("\(parent)/.\(base).tmp-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw FileSystemError(
                operation: "create a temporary folder beside it", path: target, code: errno, isInput: false)
        }
        let staging = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var created: [String] = []
        var done = false
        defer {
            if !done {
                for path in created.reversed() {
                    unlink(path)
                    rmdir(path)
                }
                rmdir(staging)
            }
        }
        for folder in [
            "ca", "signers", "installers", "operators", "report-signers", "license-server", "license-signing",
            "license-escrow",
            "tsa",
        ] {
            let path = staging + "/" + folder
            guard mkdir(path, folder == "ca" ? 0o700 : 0o755) == 0 else {
                throw FileSystemError(operation: "create the folder", path: path, code: errno, isInput: false)
            }
            created.append(path)
        }
        for file in DevelopmentPKILayout.files {
            guard let text = contents[file.path] else { continue }
            let path = staging + "/" + file.path
            created.append(path)
            try write(text, to: path, privateKey: file.isPrivateKey)
        }
        let mask = umask(0o022)
        umask(mask)
        chmod(staging, 0o755 & ~mask)
        // rename(2) replaces an empty folder and refuses a non-empty one, so a folder filled since
        // the check above is never overwritten.
        guard rename(staging, target) == 0 else {
            let code = errno
            if code == ENOTEMPTY || code == EEXIST { throw DevelopmentPKIError.folderNotEmpty(target) }
            if code == ENOTDIR { throw DevelopmentPKIError.notAFolder(target) }
            throw FileSystemError(
                operation: "rename the finished PKI folder into place", path: target, code: code, isInput: false)
        }
        done = true
        let fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        return layout
    }

    /// Re-issues the intermediate CA's `crl.pem` with `serialHex` added (a no-op when it is listed
    /// already), revoked at `now`. The new CRL runs from `now` for as long as the old one did, with the
    /// next CRL number. Returns the CRL now in the folder.
    @discardableResult
    public static func revoke(serialHex: String, in layout: DevelopmentPKILayout, now: Int64) throws -> RevocationList {
        guard let serial = CertificateAuthority.normalisedSerialHex(serialHex) else {
            throw DevelopmentPKIError.invalidSerial(serialHex)
        }
        let issuer = try loadCertificate(layout.intermediateCertificate)
        let key = try PrivateKey.load(file: layout.intermediateKey, passphrase: nil)
        guard let old = try RevocationList.load(file: layout.crl).first else {
            throw DevelopmentPKIError.foreignCRL(layout.crl)
        }
        guard old.isSigned(by: issuer) else { throw DevelopmentPKIError.foreignCRL(layout.crl) }
        let listed = old.revokedCertificates
        if listed.contains(where: { $0.serialHex == serial }) { return old }
        let interval =
            old.nextUpdate.map { $0 - old.lastUpdate }.flatMap { $0 > 0 ? $0 : nil } ?? Int64(defaultValidityDays)
            * secondsPerDay
        let crl = try CertificateAuthority.revocationList(
            issuer: issuer, key: key,
            revoked: listed.map { ($0.serialHex, $0.revokedAt) } + [(serial, now)],
            lastUpdate: now, nextUpdate: now + interval, number: (old.crlNumber ?? 0) + 1)
        try write(crl.pem, to: layout.crl, privateKey: false)
        return crl
    }

    /// The key usage of installer certificates: TLS client authentication signs (digitalSignature),
    /// and an encrypted bundle's content key is wrapped to the certificate by ECDH (keyAgreement).
    public static let installerKeyUsage = ["digitalSignature", "keyAgreement"]

    /// Issues another code-signing certificate from the intermediate CA into `signers/NAME.pem`, with
    /// its key (`NAME.key`) and chain (`NAME.chain.pem`); never overwrites. The subject is
    /// `CN=NAME (DEVELOPMENT)` with the role's OU; `policyOID` nil leaves certificate policies out,
    /// and `extendedKeyUsage` may be empty or name other usages, so tests can make signers that must fail.
    @discardableResult
    public static func issueSigner(
        role: String, policyOID: String?, in layout: DevelopmentPKILayout, name: String,
        notBefore: Int64, notAfter: Int64,
        extendedKeyUsage: [String] = [WellKnownOID.codeSigning], keyUsage: [String]? = nil
    ) throws -> DevelopmentPKILayout.Signer {
        guard isPlainName(name) else { throw DevelopmentPKIError.invalidSignerName(name) }
        let folder = layout.directory + "/signers"
        let signer = DevelopmentPKILayout.Signer(
            role: role, certificate: "\(folder)/\(name).pem", key: "\(folder)/\(name).key",
            chain: "\(folder)/\(name).chain.pem")
        for path in [signer.certificate, signer.key, signer.chain] {
            var st = stat()
            if lstat(path, &st) == 0 { throw DevelopmentPKIError.signerExists(path) }
        }
        let issuer = try loadCertificate(layout.intermediateCertificate)
        let issuerKey = try PrivateKey.load(file: layout.intermediateKey, passphrase: nil)
        let key = try PrivateKey.generateP256()
        let certificate = try CertificateAuthority.issue(
            CertificateRequest(
                subject: subject(
                    unit: organizationalUnit(ofRole: role), commonName: "\(name) (\(WellKnownOID.developmentMarker))"),
                notBefore: notBefore, notAfter: notAfter, keyUsage: keyUsage, extendedKeyUsage: extendedKeyUsage,
                certificatePolicies: policyOID.map { [$0] } ?? []),
            publicKeyOf: key, issuer: (issuer, issuerKey))
        try write(try key.pkcs8PEM(passphrase: nil), to: signer.key, privateKey: true)
        try write(certificate.pem, to: signer.certificate, privateKey: false)
        try write(issuer.pem, to: signer.chain, privateKey: false)
        return signer
    }

    /// Issues a trust-update key (role `trust-update`, certificate policy
    /// `WellKnownOID.roleTrustUpdate`, document signing) from the intermediate CA into
    /// `signers/NAME.pem` with its key and chain, like `issueSigner`. Update keys are pinned by a
    /// site's trust state, not validated against its roots; `create` issues none, so the PKI's
    /// files stay as they are and tests ask for the few they need.
    @discardableResult
    public static func issueTrustUpdateKey(
        in layout: DevelopmentPKILayout, name: String, notBefore: Int64, notAfter: Int64
    ) throws -> DevelopmentPKILayout.Signer {
        try issueSigner(
            role: "trust-update", policyOID: WellKnownOID.roleTrustUpdate, in: layout, name: name,
            notBefore: notBefore, notAfter: notAfter, extendedKeyUsage: [WellKnownOID.documentSigning])
    }

    // MARK: - Generation

    /// Every file's text by relative path.
    static func generate(now: Int64, notAfter: Int64, validityDays: Int) throws -> [String: String] {
        var files: [String: String] = [:]
        func request(
            _ unit: String?, _ commonName: String, ca: Bool = false, pathLength: Int? = nil, eku: [String] = [],
            ekuCritical: Bool = false, policies: [String] = [], names: [String] = [], keyUsage: [String]? = nil
        ) -> CertificateRequest {
            CertificateRequest(
                subject: subject(unit: unit, commonName: commonName), notBefore: now, notAfter: notAfter,
                isCA: ca, pathLength: pathLength, keyUsage: keyUsage, extendedKeyUsage: eku,
                extendedKeyUsageIsCritical: ekuCritical,
                certificatePolicies: ca ? [anyPolicy] : policies, subjectAltNames: names)
        }
        let marker = WellKnownOID.developmentMarker
        let rootKey = try PrivateKey.generateP256()
        let root = try CertificateAuthority.issue(
            request(nil, "ivpack \(marker) Root CA", ca: true), publicKeyOf: rootKey, issuer: nil)
        let intermediateKey = try PrivateKey.generateP256()
        let intermediate = try CertificateAuthority.issue(
            request(nil, "ivpack \(marker) Intermediate CA", ca: true, pathLength: 0),
            publicKeyOf: intermediateKey, issuer: (root, rootKey))
        files["root-ca.pem"] = root.pem
        files["ca/root-ca.key"] = try rootKey.pkcs8PEM(passphrase: nil)
        files["intermediate-ca.pem"] = intermediate.pem
        files["ca/intermediate-ca.key"] = try intermediateKey.pkcs8PEM(passphrase: nil)

        func leaf(_ certificatePath: String, _ keyPath: String, _ request: CertificateRequest) throws -> PrivateKey {
            let key = try PrivateKey.generateP256()
            files[certificatePath] = try CertificateAuthority.issue(
                request, publicKeyOf: key, issuer: (intermediate, intermediateKey)
            ).pem
            files[keyPath] = try key.pkcs8PEM(passphrase: nil)
            return key
        }
        let releaseManagerKey = try leaf(
            "signers/release-manager.pem", "signers/release-manager.key",
            request(
                "Release Management", "Release Manager (\(marker))", eku: [WellKnownOID.codeSigning],
                policies: [WellKnownOID.roleReleaseManager]))
        files["signers/release-manager.encrypted.key"] = try releaseManagerKey.pkcs8PEM(
            passphrase: Array(DevelopmentPKILayout.encryptedKeyPassphrase.utf8))
        files["signers/release-manager.chain.pem"] = intermediate.pem
        _ = try leaf(
            "signers/quality.pem", "signers/quality.key",
            request(
                "Quality Assurance", "Quality Approver (\(marker))", eku: [WellKnownOID.codeSigning],
                policies: [WellKnownOID.roleQuality]))
        files["signers/quality.chain.pem"] = intermediate.pem
        _ = try leaf(
            "installers/installer-1.pem", "installers/installer-1.key",
            request(
                "Field Service", "Installer 1 (\(marker))", eku: [WellKnownOID.clientAuth],
                policies: [WellKnownOID.roleInstaller], keyUsage: installerKeyUsage))
        _ = try leaf(
            "operators/operator-1.pem", "operators/operator-1.key",
            request(
                "Licensing", "Licence Operator 1 (\(marker))", eku: [WellKnownOID.clientAuth],
                policies: [WellKnownOID.roleLicenseOperator], keyUsage: ["digitalSignature"]))
        _ = try leaf(
            "report-signers/hospital-reviewer.pem", "report-signers/hospital-reviewer.key",
            request(
                "Hospital Quality", "Hospital Reviewer (\(marker))", eku: [WellKnownOID.documentSigning],
                policies: [WellKnownOID.roleHospitalReviewer]))
        _ = try leaf(
            "report-signers/vendor-issuer.pem", "report-signers/vendor-issuer.key",
            request(
                "Vendor Quality", "Vendor Issuer (\(marker))", eku: [WellKnownOID.documentSigning],
                policies: [WellKnownOID.roleVendorIssuer]))
        _ = try leaf(
            "license-server/server.pem", "license-server/server.key",
            request(
                "Licensing", "localhost (\(marker) licence server)", eku: [WellKnownOID.serverAuth],
                names: ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]))
        _ = try leaf(
            "license-signing/license-signing.pem", "license-signing/license-signing.key",
            request("Licensing", "Licence Signing (\(marker))", eku: [WellKnownOID.licenseSigning]))
        _ = try leaf(
            "license-escrow/escrow.pem", "license-escrow/escrow.key",
            request("Licensing", "Licence Escrow (\(marker))", keyUsage: ["keyAgreement"]))
        _ = try leaf(
            "tsa/tsa.pem", "tsa/tsa.key",
            request(
                "Time Stamping", "Time-Stamping Authority (\(marker))", eku: [WellKnownOID.timeStamping],
                ekuCritical: true))

        files["crl.pem"] = try CertificateAuthority.revocationList(
            issuer: intermediate, key: intermediateKey, revoked: [],
            lastUpdate: now, nextUpdate: notAfter, number: 1
        ).pem
        files["root-crl.pem"] = try CertificateAuthority.revocationList(
            issuer: root, key: rootKey, revoked: [],
            lastUpdate: now, nextUpdate: notAfter, number: 1
        ).pem
        files["trust-policy.yaml"] = trustPolicyText
        files["README.txt"] = readmeText(now: now, validityDays: validityDays)
        return files
    }

    /// The development trust policy; paths are relative to its folder.
    public static var trustPolicyText: String {
        """
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

        """
    }

    static func readmeText(now: Int64, validityDays: Int) -> String {
        let width = DevelopmentPKILayout.files.map(\.path.count).max() ?? 0
        let list = DevelopmentPKILayout.files.map { file in
            "  " + file.path + String(repeating: " ", count: width - file.path.count) + "  " + file.summary
        }.joined(separator: "\n")
        return """
            ivpack DEVELOPMENT PKI: DEVELOPMENT ONLY, NOT FOR PRODUCTION
            ============================================================

            Made by `ivpack keys init-dev` for tests and demonstrations. Every subject carries
            O=\(organization) and a CN with "\(WellKnownOID.developmentMarker)".
            Certificates are valid from \(utcText(now)) for \(validityDays) days (P-256 keys, SHA-256).

            The private keys are NOT encrypted (file mode 0600). Never ship these keys, never sign a
            release for a site with them, and never put root-ca.pem into a production trust policy.
            The policy here says `development: true`, and `ivpack verify` warns when it is used.

            Files:
            \(list)

            Roles are proven by certificate policy OIDs:
              release-manager  \(WellKnownOID.roleReleaseManager)
              quality          \(WellKnownOID.roleQuality)
              installer        \(WellKnownOID.roleInstaller)
              license-operator \(WellKnownOID.roleLicenseOperator) (licence server admin API)
              hospital-reviewer \(WellKnownOID.roleHospitalReviewer) (IQ report sign-off)
              vendor-issuer    \(WellKnownOID.roleVendorIssuer) (IQ report sign-off)
            Licence signing uses extended key usage \(WellKnownOID.licenseSigning).

            The passphrase of signers/release-manager.encrypted.key is "\(DevelopmentPKILayout.encryptedKeyPassphrase)" (documented
            on purpose, to test passphrase handling).

            Check a chain with OpenSSL:
              openssl verify -x509_strict -crl_check_all -CAfile root-ca.pem -untrusted intermediate-ca.pem \\
                -CRLfile root-crl.pem -CRLfile crl.pem signers/release-manager.pem

            """
    }

    // MARK: - Helpers

    static func subject(unit: String?, commonName: String) -> [(String, String)] {
        [("O", organization)] + (unit.map { [("OU", $0)] } ?? []) + [("CN", commonName)]
    }

    /// The OU of a signer: the development PKI's own for its two roles, else the role name itself.
    static func organizationalUnit(ofRole role: String) -> String {
        switch role {
        case "release-manager": return "Release Management"
        case "quality": return "Quality Assurance"
        case "trust-update": return "Trust Updates"
        default: return role
        }
    }

    static func isPlainName(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count), let first = name.utf8.first, first != UInt8(ascii: "."),
            first != UInt8(ascii: "-")
        else {
            return false
        }
        return name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: ".")
                || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }

    static func loadCertificate(_ path: String) throws -> Certificate {
        let all = try Certificate.load(file: path)
        return all[0]
    }

    /// Refuses a target that exists and is not an empty folder.
    static func checkTarget(_ layout: DevelopmentPKILayout) throws {
        let path = layout.directory
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw FileSystemError(operation: "read file status", path: path, code: errno, isInput: false)
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw DevelopmentPKIError.notAFolder(path) }
        guard let dir = opendir(path) else {
            throw FileSystemError(operation: "list the folder", path: path, code: errno, isInput: false)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        if names.isEmpty { return }
        var probe = stat()
        if lstat(layout.trustPolicy, &probe) == 0 || lstat(layout.rootCertificate, &probe) == 0
            || lstat(layout.rootKey, &probe) == 0
        {
            throw DevelopmentPKIError.existingPKI(path)
        }
        throw DevelopmentPKIError.folderNotEmpty(path)
    }

    /// Writes `text` atomically; a private key is mode 0600 from before its first byte is written.
    static func write(_ text: String, to path: String, privateKey: Bool) throws {
        let file = try AtomicOutputFile(path: path)
        if privateKey {
            guard fchmod(file.fd, 0o600) == 0 else {
                throw FileSystemError(
                    operation: "restrict the key file to its owner", path: file.temporaryPath, code: errno,
                    isInput: false)
            }
        }
        try Array(text.utf8).withUnsafeBytes { try file.write($0) }
        try file.commit()
    }

    static func utcText(_ seconds: Int64) -> String { Timestamp.readable(seconds) }
}
