import Foundation
import Hummingbird
import HummingbirdTLS
import IVPack
import Logging
import NIOCore
import NIOSSL

/// The request context: the channel, to read the installer's certificate from the TLS handler.
struct LicenseRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// The role a client certificate proves by its certificate policy: installers activate, licence
/// operators use the admin API. The handshake accepts either; each route checks the one it needs.
enum ClientRole: String, Sendable {
    case installer
    case licenseOperator = "operator"
}

/// Validates installer (and licence operator) certificates in the TLS handshake with ivpack's one
/// path validator, and remembers why a certificate was refused (the client only sees a TLS alert).
final class InstallerAuthenticator: Sendable {
    let roots: [Certificate]
    let intermediates: [Certificate]
    let crls: [RevocationList]
    let revocation: RevocationMode
    let installerPolicy: String
    /// nil: the admin API is off, and no operator certificate passes the handshake.
    let operatorPolicy: String?
    let logger: Logger
    let refusals = RefusalLog()

    init(config: LicenseServerConfig, logger: Logger) throws {
        roots = try config.clientRoots.flatMap { try Certificate.load(file: $0) }
        intermediates = try config.clientIntermediates.flatMap { try Certificate.load(file: $0) }
        crls = try config.clientCRLs.flatMap { try RevocationList.load(file: $0) }
        revocation = config.revocation
        installerPolicy = config.installerPolicy
        operatorPolicy = config.operatorPolicy
        self.logger = logger
    }

    /// The certificate policy that proves `role`; nil when the role is not configured.
    func policy(of role: ClientRole) -> String? {
        switch role {
        case .installer: return installerPolicy
        case .licenseOperator: return operatorPolicy
        }
    }

    /// The roles a leaf claims by its certificate policies (the handshake has checked each claimed
    /// role along the whole path, so a route may trust the leaf's claim).
    func roles(of leaf: Certificate) -> Set<ClientRole> {
        var roles: Set<ClientRole> = []
        for role in [ClientRole.installer, .licenseOperator] {
            if let oid = policy(of: role), leaf.certificatePolicies.contains(oid) { roles.insert(role) }
        }
        return roles
    }

    /// The decision for a presented chain (leaf first), and the reason when refused.
    func decide(_ chain: [Certificate], now: Int64) -> String? {
        guard let leaf = chain.first else { return "no client certificate" }
        func validate(requiredPolicy: String?) -> ChainValidation {
            ChainValidator.validate(
                leaf, untrusted: Array(chain.dropFirst()) + intermediates, roots: roots, crls: crls,
                revocation: revocation, at: now, requiredPolicy: requiredPolicy)
        }
        if case .invalid(let reason, _, _) = validate(requiredPolicy: nil) {
            return "client certificate \"\(leaf.subject)\" refused: \(reason)"
        }
        if !leaf.extendedKeyUsages.contains(WellKnownOID.clientAuth) {
            return "client certificate \"\(leaf.subject)\" refused: it lacks the TLS client-authentication usage"
        }
        let claimed = roles(of: leaf)
        if claimed.isEmpty {
            return
                "client certificate \"\(leaf.subject)\" refused: it is not an installer certificate (certificate policy \(installerPolicy) missing)"
                + (operatorPolicy.map { " nor a licence operator certificate (certificate policy \($0) missing)" } ?? "")
        }
        // A role's policy must hold along the whole path, not only in the leaf.
        for role in claimed.sorted(by: { $0.rawValue < $1.rawValue }) {
            if case .invalid(let reason, _, _) = validate(requiredPolicy: policy(of: role)) {
                let name = role == .installer ? "an installer" : "a licence operator"
                return
                    "client certificate \"\(leaf.subject)\" refused: it is not \(name) certificate along its path: \(reason)"
            }
        }
        return nil
    }

    var callback: TLSChannelConfiguration.CustomVerificationCallback {
        { [self] certificates, promise in
            var chain: [Certificate] = []
            for c in certificates {
                guard let der = try? c.toDERBytes(), let cert = try? Certificate(der: der, source: "client certificate")
                else {
                    self.refused("a client certificate could not be parsed")
                    promise.succeed(.failed)
                    return
                }
                chain.append(cert)
            }
            if let reason = self.decide(chain, now: Timestamp.now()) {
                self.refused(reason)
                promise.succeed(.failed)
            } else {
                promise.succeed(.certificateVerified)
            }
        }
    }

    func refused(_ reason: String) {
        refusals.append(reason)
        logger.warning("TLS handshake refused", metadata: ["reason": .string(reason)])
    }
}

/// Reasons for refused handshakes, newest last (bounded).
final class RefusalLog: @unchecked Sendable {
    private let lock = NSLock()
    private var reasons: [String] = []

    func append(_ reason: String) {
        lock.lock()
        reasons.append(reason)
        if reasons.count > 1000 { reasons.removeFirst(reasons.count - 1000) }
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return reasons
    }
}

/// The reference licence server: HTTPS with mutual TLS (TLS 1.3; 1.2 with forward-secret AEAD
/// suites only when configured), installers identified by their certificates, licences and
/// activations in SQLite or PostgreSQL (`LicenseStoring`), grants signed with the licence-signing key.
public final class LicenseServer: Sendable {
    public let config: LicenseServerConfig
    public let store: any LicenseStoring
    let signer: GrantSigner
    /// Opens escrowed content keys to release them in grants; nil when not configured.
    let escrow: KeyEscrow?
    let authenticator: InstallerAuthenticator
    let tlsConfiguration: TLSConfiguration
    let logger: Logger

    /// Loads keys, certificates and the database. No secret is logged.
    public init(config: LicenseServerConfig, logger: Logger = Logger(label: "ivpack.license-server")) async throws {
        self.config = config
        self.logger = logger
        store = try await LicenseStores.open(config)
        signer = try GrantSigner(identity: try config.grantSigningIdentity())
        escrow = try KeyEscrow.load(config)
        authenticator = try InstallerAuthenticator(config: config, logger: logger)
        // Read through ivpack's own loaders first, so that a missing or malformed file is named.
        let leaf = try Certificate.load(file: config.certificate)
        let intermediates = try config.chain.flatMap { try Certificate.load(file: $0) }
        // Clients that hold only the root (curl, testssl.sh, a site's policy without the
        // intermediate) need the issuer in the handshake: say so when `tls.chain` lacks it.
        if let first = leaf.first, first.issuer != first.subject,
            !(leaf.dropFirst() + intermediates).contains(where: { $0.subject == first.issuer })
        {
            logger.warning(
                "tls.chain does not hold the issuer of the server certificate: clients that hold only the root cannot connect; list the intermediates in tls.chain",
                metadata: ["certificate": .string(config.certificate), "issuer": .string(first.issuer)])
        }
        _ = try PrivateKey.load(file: config.key, passphrase: nil)
        var chain = try NIOSSLCertificate.fromPEMFile(config.certificate)
        for path in config.chain { chain += try NIOSSLCertificate.fromPEMFile(path) }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: config.key, format: .pem)))
        tls.minimumTLSVersion = config.allowTLS12 ? .tlsv12 : .tlsv13
        if config.allowTLS12 {
            // Forward-secret AEAD suites only (TLS 1.3 suites are always AEAD).
            tls.cipherSuites =
                "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305"
        }
        // Require a client certificate; the custom callback makes the decision.
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates([])
        tls.sendCANameList = false
        tlsConfiguration = tls
    }

    /// Reasons for handshakes refused so far (for operators and tests).
    public var refusedHandshakes: [String] { authenticator.refusals.all }

    /// Runs until the task is cancelled (or SIGTERM/SIGINT when `handleSignals`); `onRunning` gets the bound port.
    public func run(handleSignals: Bool = false, onRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        async throws
    {
        let router = Router(context: LicenseRequestContext.self)
        let server = self
        router.post(RouterPath(stringLiteral: LicenseProtocol.activationsPath)) { request, context -> Response in
            await server.activate(request: request, context: context)
        }
        registerAdminRoutes(on: router)
        router.get("/v1/health") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: "{\"status\":\"ok\"}")))
        }
        let app = Application(
            router: router,
            server: try .tls(
                .http1(configuration: .init(idleTimeout: .seconds(config.requestTimeoutSeconds))),
                configuration: TLSChannelConfiguration(
                    tlsConfiguration: tlsConfiguration,
                    customVerificationCallback: authenticator.callback)),
            configuration: ApplicationConfiguration(
                address: .hostname(config.host, port: config.port), serverName: "ivpack-license-server"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.runService(gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [])
    }

    func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(CanonicalJSON.encode(value))
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    func activate(request: Request, context: LicenseRequestContext) async -> Response {
        var request = request
        let now = Timestamp.now()
        // The installer, from the certificate the handshake validated; never from the body.
        guard let installer = await peerCertificate(context) else {
            return json(
                .unauthorized,
                ProtocolError(code: "no-client-certificate", message: "no validated client certificate").json)
        }
        // A licence operator's certificate passes the handshake for the admin API; it activates nothing.
        guard authenticator.roles(of: installer).contains(.installer) else {
            logger.notice(
                "request refused",
                metadata: ["client": .string(installer.subject), "reason": "not-an-installer"])
            return json(
                .forbidden,
                ProtocolError(
                    code: "not-an-installer",
                    message:
                        "the client certificate \"\(installer.subject)\" is not an installer certificate (certificate policy \(config.installerPolicy)); activations need one"
                ).json)
        }
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: LicenseProtocol.maxRequestBytes)
        } catch {
            logger.notice(
                "request refused", metadata: ["installer": .string(installer.subject), "reason": "body too large"])
            return json(
                .contentTooLarge,
                ProtocolError(
                    code: "body-too-large", message: "the request body exceeds \(LicenseProtocol.maxRequestBytes) bytes"
                ).json)
        }
        let parsed = ActivationRequest.parse(Array(buffer: body))
        guard case .success(let req) = parsed else {
            if case .failure(let e) = parsed {
                logger.notice(
                    "request refused", metadata: ["installer": .string(installer.subject), "reason": .string(e.code)])
                return json(.badRequest, e.json)
            }
            return json(.badRequest, ProtocolError(code: "malformed-request", message: "").json)
        }
        let outcome: Result<(License, Activation, RegisteredRelease), LicenseRefusal>
        // Judged before the decision, so that an installer who could not receive an encrypted
        // bundle's key is refused without taking a seat.
        let canReceiveKey = (try? EnvelopedKey.checkRecipient(installer)) != nil
        do {
            outcome = try await store.activate(
                siteID: req.siteID, product: req.product, version: req.version, manifestSHA256: req.manifestSHA256,
                installerSubject: installer.subject, installerFingerprint: installer.fingerprint.hex,
                installerCanReceiveKey: canReceiveKey, now: now)
        } catch {
            logger.error("licence store failure", metadata: ["error": .string("\(error)")])
            return json(
                .serviceUnavailable,
                ProtocolError(
                    code: "store-unavailable", message: "the licence database is unavailable; try again later"
                ).json)
        }
        switch outcome {
        case .failure(let refusal):
            logger.notice(
                "licence refused",
                metadata: [
                    "installer": .string(installer.subject), "site": .string(req.siteID),
                    "product": .string(req.product), "version": .string(req.version),
                    "reason": .string(refusal.rawValue),
                ])
            return json(.forbidden, refusal.protocolError.json)
        case .success(let (license, activation, release)):
            // The content key is released only here, for a granted activation: wrapped again for
            // the certificate the installer proved in the handshake. The unwrapped key lives only
            // inside `rewrap`; a failure is logged by its reason (errors never carry key bytes)
            // and the reply says only that the key could not be released.
            var contentKey: [UInt8]?
            if let escrowedKey = release.escrowedKey {
                do {
                    guard let escrow else { throw ReleaseRegistrationError.noEscrowConfigured(config: config.file) }
                    contentKey = try escrow.rewrap(
                        escrowedKey, to: installer, source: "escrowed key of manifest \(release.manifestSHA256)")
                } catch {
                    logger.error(
                        "content key release failed",
                        metadata: [
                            "installer": .string(installer.subject), "license": .string(license.id),
                            "manifest": .string(release.manifestSHA256), "error": .string("\(error)"),
                        ])
                    return json(
                        .internalServerError,
                        ProtocolError(
                            code: "key-release-failed",
                            message: "the server could not release the bundle's content key; tell the vendor"
                        ).json)
                }
            }
            let grant = LicenseGrant(
                licenseID: license.id, product: license.product, minimumVersion: license.minimumVersion,
                maximumVersion: license.maximumVersion, siteID: license.siteID, manifestSHA256: req.manifestSHA256,
                nonce: req.nonce, installerSubject: installer.subject, installerFingerprint: installer.fingerprint.hex,
                activationID: activation.id, issuedAt: now,
                notAfter: min(now + config.grantValiditySeconds, license.notAfter), licenseNotAfter: license.notAfter,
                contentKey: contentKey)
            do {
                let signed = try signer.sign(grant)
                logger.info(
                    "licence granted",
                    metadata: [
                        "installer": .string(installer.subject), "license": .string(license.id),
                        "activation": .string("\(activation.id)"), "new": .string("\(activation.isNew)"),
                        "contentKey": .string(contentKey == nil ? "none" : "released"),
                    ])
                return json(.ok, signed.json())
            } catch {
                logger.error("grant signing failed", metadata: ["error": .string("\(error)")])
                return json(
                    .internalServerError,
                    ProtocolError(code: "signing-failed", message: "the server could not sign the grant").json)
            }
        }
    }
}
