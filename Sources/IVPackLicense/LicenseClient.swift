import Foundation
import IVPack
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Where and how the installer reaches the licence server.
public struct LicenseClientOptions: Sendable {
    /// The licence servers, tried in this order (`https://host:port`; a path, if any, is ignored:
    /// the protocol's paths are fixed). Another server is tried only when one does not answer.
    public var serverURLs: [String]
    /// The first server of `serverURLs`; setting it replaces the first.
    public var serverURL: String {
        get { serverURLs.first ?? "" }
        set { serverURLs = [newValue] + serverURLs.dropFirst() }
    }
    public var clientCertificate: String
    public var clientKey: String
    /// Passphrase of an encrypted client key.
    public var clientKeyPassphrase: [UInt8]?
    public var siteID: String
    /// Seconds for one attempt at one server (connect, handshake, request, reply).
    public var timeoutSeconds: Int64
    /// Rounds over the servers in all (1 = each server once); waits 0.5 s, 1 s, 2 s, … between rounds.
    public var attempts: Int

    /// One licence server.
    public init(
        serverURL: String, clientCertificate: String, clientKey: String, clientKeyPassphrase: [UInt8]? = nil,
        siteID: String,
        timeoutSeconds: Int64 = 10, attempts: Int = 3
    ) {
        self.init(
            serverURLs: [serverURL], clientCertificate: clientCertificate, clientKey: clientKey,
            clientKeyPassphrase: clientKeyPassphrase, siteID: siteID, timeoutSeconds: timeoutSeconds,
            attempts: attempts)
    }

    /// Several instances of the licence server, tried in order.
    public init(
        serverURLs: [String], clientCertificate: String, clientKey: String, clientKeyPassphrase: [UInt8]? = nil,
        siteID: String, timeoutSeconds: Int64 = 10, attempts: Int = 3
    ) {
        self.serverURLs = serverURLs
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.clientKeyPassphrase = clientKeyPassphrase
        self.siteID = siteID
        self.timeoutSeconds = timeoutSeconds
        self.attempts = attempts
    }
}

/// A licence server that did not answer one attempt, and why (`unreachable`, `timeout`, ...).
public struct LicenseServerSkip: Sendable, Equatable {
    public var server: String
    public var failure: LicenseCheckFailure
}

/// The outcome of an activation over one or more licence servers: the grant or the failure, the
/// server that decided it (its answer, or its certificate the policy refused; nil when none
/// answered) and the attempts that found no answer, in order.
public struct LicenseActivation: Sendable {
    public var result: Result<(LicenseGrant, signer: String), LicenseCheckFailure>
    public var answeredBy: String?
    public var skipped: [LicenseServerSkip]
}

/// Why the licence check could not obtain an answer, or the answer was no.
public struct LicenseCheckFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Machine-readable code: a server refusal (`license-expired`, …), a grant problem
    /// (`grant-replayed`, …) or a transport problem (`unreachable`, `timeout`, `tls-server-untrusted`,
    /// `tls-handshake-refused`, `bad-response`).
    public var code: String
    public var message: String
    /// Whether trying again could help (network trouble) as opposed to a definite answer.
    public var retryable: Bool
    public var description: String { "\(code): \(message)" }
}

/// The installer side of the licence check: mutual TLS with the installer's certificate, the
/// server's certificate judged by the site's trust policy through ivpack's one path validator
/// (plus its host name and server-authentication usage), bounded time, bounded retries.
public struct LicenseClient: Sendable {
    public let options: LicenseClientOptions
    public let policy: TrustPolicy
    /// The TLS context with the installer's credential, made once per client.
    private let context: Result<NIOSSLContext, LicenseCheckFailure>

    public init(options: LicenseClientOptions, policy: TrustPolicy) {
        self.options = options
        self.policy = policy
        do {
            context = .success(try Self.makeContext(options))
        } catch let error as IVPackError {
            context = .failure(LicenseCheckFailure(code: "client-credential", message: "\(error)", retryable: false))
        } catch {
            context = .failure(
                LicenseCheckFailure(
                    code: "client-credential", message: "cannot use the client certificate or key: \(error)",
                    retryable: false))
        }
    }

    /// A fresh random nonce: 32 bytes as hex.
    public static func makeNonce() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<LicenseProtocol.nonceBytes).map { _ in
            String(format: "%02x", UInt8.random(in: 0...255, using: &rng))
        }.joined()
    }

    /// Asks for a grant for the bundle and verifies it. Network trouble is retried with backoff;
    /// a definite answer (a refusal, an untrusted server) is not.
    public func activate(
        product: String, version: String, manifestSHA256: String, now: @Sendable () -> Int64 = Timestamp.now
    ) async
        -> Result<(LicenseGrant, signer: String), LicenseCheckFailure>
    {
        await activateWithFailover(product: product, version: version, manifestSHA256: manifestSHA256, now: now)
            .result
    }

    /// Asks the servers in order for a grant and verifies it. A server that does not answer (refused
    /// or reset connection, no answer within the timeout, a 5xx) is skipped for the next; an answer
    /// (a grant, a 4xx refusal, a TLS refusal) or a server certificate the policy does not trust ends
    /// the check there. At most `attempts` rounds, each server once a round: every request carries
    /// the same bundle and site, which the servers' shared database activates once.
    public func activateWithFailover(
        product: String, version: String, manifestSHA256: String, now: @Sendable () -> Int64 = Timestamp.now
    ) async -> LicenseActivation {
        let servers = options.serverURLs.isEmpty ? [""] : options.serverURLs
        var skipped: [LicenseServerSkip] = []
        var last = LicenseCheckFailure(code: "unreachable", message: "no attempt was made", retryable: true)
        for round in 0..<max(1, options.attempts) {
            if round > 0 { try? await Task.sleep(nanoseconds: UInt64(500_000_000) << UInt64(round - 1)) }
            for server in servers {
                let nonce = Self.makeNonce()
                let request = ActivationRequest(
                    product: product, version: version, manifestSHA256: manifestSHA256, siteID: options.siteID,
                    nonce: nonce)
                switch await exchange(request, server: server) {
                case .failure(let failure):
                    if !failure.retryable {
                        return LicenseActivation(
                            result: .failure(failure), answeredBy: server, skipped: skipped)
                    }
                    last = failure
                    skipped.append(LicenseServerSkip(server: server, failure: failure))
                case .success(let signed):
                    let expectation = GrantExpectation(
                        product: product, version: version, manifestSHA256: manifestSHA256, siteID: options.siteID,
                        nonce: nonce)
                    let result: Result<(LicenseGrant, signer: String), LicenseCheckFailure>
                    switch GrantVerifier.check(signed, expected: expectation, policy: policy, now: now()) {
                    case .success(let value): result = .success(value)
                    case .failure(let e):
                        result = .failure(LicenseCheckFailure(code: e.code, message: e.message, retryable: false))
                    }
                    return LicenseActivation(result: result, answeredBy: server, skipped: skipped)
                }
            }
        }
        if servers.count > 1 {
            let each = servers.map { server in
                let reasons = skipped.filter { $0.server == server }.map(\.failure.code)
                return "\(server) (\(reasons.joined(separator: ", ")))"
            }
            last = LicenseCheckFailure(
                code: last.code,
                message:
                    "no licence server answered: \(each.joined(separator: "; ")); check the network and that an instance runs, or give another --license-server",
                retryable: true)
        }
        return LicenseActivation(result: .failure(last), answeredBy: nil, skipped: skipped)
    }

    /// One request and its signed grant, or why not.
    public func exchange(_ request: ActivationRequest) async -> Result<SignedGrant, LicenseCheckFailure> {
        await exchange(request, server: options.serverURL)
    }

    /// One request to `server` and its signed grant, or why not.
    public func exchange(_ request: ActivationRequest, server: String) async -> Result<
        SignedGrant, LicenseCheckFailure
    > {
        guard let components = URLComponents(string: server), components.scheme == "https",
            let host = components.host, !host.isEmpty
        else {
            return .failure(
                LicenseCheckFailure(code: "bad-url", message: "\(server) is not an https:// URL", retryable: false))
        }
        let port = components.port ?? 443
        let context: NIOSSLContext
        switch self.context {
        case .success(let c): context = c
        case .failure(let f): return .failure(f)
        }
        let verifier = ServerVerifier(policy: policy, host: host)
        let reply = await Self.request(
            method: .POST, path: LicenseProtocol.activationsPath, host: host, port: port,
            body: CanonicalJSON.encode(request.json), context: context, verifier: verifier,
            timeout: options.timeoutSeconds)
        return Self.grant(from: reply)
    }

    /// One request and its whole reply within `timeout` seconds (connect, handshake, reply), or
    /// why not: `timeout` when no complete reply came in time, else the transport's failure as
    /// `classify` names it. Both clients (activation, admin API) send through here.
    static func request(
        method: HTTPMethod, path: String, host: String, port: Int, body: [UInt8]?, context: NIOSSLContext,
        verifier: ServerVerifier, timeout: Int64
    ) async -> Result<(HTTPResponseStatus, [UInt8]), LicenseCheckFailure> {
        do {
            return try await withThrowingTaskGroup(
                of: Result<(HTTPResponseStatus, [UInt8]), LicenseCheckFailure>.self
            ) { group in
                group.addTask {
                    try await send(
                        method: method, path: path, host: host, port: port, body: body, context: context,
                        verifier: verifier, timeout: timeout)
                }
                group.addTask {
                    try await Task.sleep(nanoseconds: UInt64(timeout) * 1_000_000_000)
                    return .failure(
                        LicenseCheckFailure(
                            code: "timeout", message: "no answer from \(host):\(port) within \(timeout) s",
                            retryable: true))
                }
                let first = try await group.next()!
                group.cancelAll()
                return first
            }
        } catch {
            return .failure(classify(error, host: host, port: port, verifier: verifier))
        }
    }

    private static func makeContext(_ options: LicenseClientOptions) throws -> NIOSSLContext {
        try makeContext(
            certificate: options.clientCertificate, key: options.clientKey, passphrase: options.clientKeyPassphrase)
    }

    /// The TLS client context with a client credential (installer or licence operator); the server's
    /// certificate is judged by a `ServerVerifier` callback, not by the TLS stack.
    static func makeContext(certificate: String, key keyFile: String, passphrase: [UInt8]?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites =
            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305"
        let certificates = try NIOSSLCertificate.fromPEMFile(certificate)
        configuration.certificateChain = certificates.map { .certificate($0) }
        // The key goes through ivpack's own loader (passphrase handling, clear errors), then to NIOSSL as PEM in memory.
        let key = try PrivateKey.load(file: keyFile, passphrase: passphrase)
        configuration.privateKey = .privateKey(
            try NIOSSLPrivateKey(bytes: Array(try key.pkcs8PEM(passphrase: nil).utf8), format: .pem))
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates([])
        return try NIOSSLContext(configuration: configuration)
    }

    static func classify(_ error: any Error, host: String, port: Int, verifier: ServerVerifier)
        -> LicenseCheckFailure
    {
        if let reason = verifier.refusal {
            return LicenseCheckFailure(
                code: "tls-server-untrusted",
                message:
                    "the certificate of the licence server \(host):\(port) is not trusted: \(reason); no other server is tried: check the site's trust policy and the server's certificate",
                retryable: false)
        }
        // A connection closed during the handshake without any TLS alert is the network's doing (an
        // instance going down, a balancer with no backend), not a refusal: another server may answer.
        if Self.isUncleanShutdown(error), verifier.tlsError.map(Self.isUncleanShutdown) ?? true {
            return LicenseCheckFailure(
                code: "unreachable",
                message: "\(host):\(port) closed the connection during the TLS handshake without an alert",
                retryable: true)
        }
        if let ssl = error as? NIOSSLError {
            return LicenseCheckFailure(
                code: "tls-handshake-refused",
                message:
                    "the TLS handshake with \(host):\(port) failed (\(ssl)); the server may have refused the installer certificate (expired, revoked, or from another CA)",
                retryable: false)
        }
        if let ssl = error as? BoringSSLError {
            return LicenseCheckFailure(
                code: "tls-handshake-refused",
                message:
                    "the TLS handshake with \(host):\(port) failed (\(ssl)); the server may have refused the installer certificate (expired, revoked, or from another CA)",
                retryable: false)
        }
        if let failure = error as? LicenseCheckFailure { return failure }
        // With TLS 1.3 the client finishes its handshake before the server judges the client
        // certificate; the server's alert then closes the channel, and the request's own error
        // may be "I/O on closed channel". The alert, recorded as it passed, says what happened
        // (seen under load in LicenseTests.clientCertificateFromAnotherCAIsRefused).
        if let tls = verifier.tlsError, !isUncleanShutdown(tls) { return refusedHandshake(tls, host: host, port: port) }
        return LicenseCheckFailure(
            code: "unreachable", message: "cannot reach \(host):\(port): \(error)", retryable: true)
    }

    /// The peer closed the TCP connection in the handshake without a TLS alert: NIOSSL reports it
    /// as `uncleanShutdown` or as a handshake failure whose only error is its synthetic "EOF during
    /// handshake" (NIOSSLHandler, channelInactive while handshaking).
    static func isUncleanShutdown(_ error: any Error) -> Bool {
        switch error as? NIOSSLError {
        case .uncleanShutdown?: return true
        case .handshakeFailed(.sslError(let errors))?: return errors == [.eofDuringHandshake]
        default: return false
        }
    }

    static func refusedHandshake(_ tls: any Error, host: String, port: Int) -> LicenseCheckFailure {
        LicenseCheckFailure(
            code: "tls-handshake-refused",
            message:
                "the TLS handshake with \(host):\(port) failed (\(tls)); the server may have refused the installer certificate (expired, revoked, or from another CA)",
            retryable: false)
    }

    /// The signed grant of an activation's reply, or the server's refusal, or why the reply is not one.
    private static func grant(from reply: Result<(HTTPResponseStatus, [UInt8]), LicenseCheckFailure>) -> Result<
        SignedGrant, LicenseCheckFailure
    > {
        let status: HTTPResponseStatus
        let collected: [UInt8]
        switch reply {
        case .failure(let failure): return .failure(failure)
        case .success(let (s, c)):
            status = s
            collected = c
        }
        let value = try? JSONParser.parse(
            collected, limits: JSONLimits(maxBytes: LicenseProtocol.maxResponseBytes, maxDepth: 4))
        if status == .ok, let value, let signed = SignedGrant.parse(value) { return .success(signed) }
        if let code = value?["error"]?.stringValue {
            let message = value?["message"]?.stringValue ?? ""
            return .failure(
                LicenseCheckFailure(
                    code: code, message: "the licence server refused: \(message) (\(status.code))",
                    retryable: status.code >= 500))
        }
        return .failure(
            LicenseCheckFailure(
                code: "bad-response", message: "unexpected reply \(status.code) from the licence server",
                retryable: status.code >= 500))
    }

    /// One HTTP/1.1 request over mutual TLS and its reply (status and at most
    /// `LicenseProtocol.maxResponseBytes` of body), or why there is none.
    static func send(
        method: HTTPMethod, path: String, host: String, port: Int, body: [UInt8]?, context: NIOSSLContext,
        verifier: ServerVerifier, timeout: Int64
    ) async throws -> Result<(HTTPResponseStatus, [UInt8]), LicenseCheckFailure> {
        let isIPAddress = (try? SocketAddress(ipAddress: host, port: port)) != nil
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(timeout))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = try NIOSSLClientHandler(
                        context: context, serverHostname: isIPAddress ? nil : host,
                        customVerificationCallback: verifier.callback)
                    try channel.pipeline.syncOperations.addHandler(tls)
                    try channel.pipeline.syncOperations.addHandler(TLSErrorRecorder(verifier: verifier))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
            head.headers.add(name: "Host", value: host)
            if let body {
                head.headers.add(name: "Content-Type", value: "application/json")
                head.headers.add(name: "Content-Length", value: String(body.count))
            }
            head.headers.add(name: "Connection", value: "close")
            try await outbound.write(.head(head))
            if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            try await outbound.write(.end(nil))
            var status: HTTPResponseStatus?
            var collected: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let h): status = h.status
                case .body(let buffer):
                    collected.append(contentsOf: buffer.readableBytesView)
                    if collected.count > LicenseProtocol.maxResponseBytes {
                        return .failure(
                            LicenseCheckFailure(
                                code: "bad-response",
                                message: "the reply exceeds \(LicenseProtocol.maxResponseBytes) bytes", retryable: false
                            ))
                    }
                case .end: break
                }
            }
            guard let status else {
                if let tls = verifier.tlsError, !Self.isUncleanShutdown(tls) {
                    return .failure(Self.refusedHandshake(tls, host: host, port: port))
                }
                return .failure(
                    LicenseCheckFailure(
                        code: "bad-response", message: "the server closed the connection without a reply",
                        retryable: true))
            }
            return .success((status, collected))
        }
    }
}

/// Judges the licence server's certificate with ivpack's path validator and the site's policy.
final class ServerVerifier: @unchecked Sendable {
    let policy: TrustPolicy
    let host: String
    private let lock = NSLock()
    private var _refusal: String?
    private var _tlsError: (any Error)?

    init(policy: TrustPolicy, host: String) {
        self.policy = policy
        self.host = host
    }

    var refusal: String? {
        lock.lock()
        defer { lock.unlock() }
        return _refusal
    }

    /// The first TLS error the connection saw (an alert from the server, say), whatever error the
    /// request itself then ended with.
    var tlsError: (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return _tlsError
    }

    func recordTLSError(_ error: any Error) {
        lock.lock()
        if _tlsError == nil { _tlsError = error }
        lock.unlock()
    }

    private func refuse(_ reason: String) {
        lock.lock()
        _refusal = reason
        lock.unlock()
    }

    var callback: NIOSSLCustomVerificationCallback {
        { [self] certificates, promise in
            var chain: [Certificate] = []
            for c in certificates {
                guard let der = try? c.toDERBytes(), let cert = try? Certificate(der: der, source: "server certificate")
                else {
                    self.refuse("the server sent a certificate that cannot be parsed")
                    promise.succeed(.failed)
                    return
                }
                chain.append(cert)
            }
            guard let leaf = chain.first else {
                self.refuse("the server sent no certificate")
                promise.succeed(.failed)
                return
            }
            let result = ChainValidator.validate(
                leaf, untrusted: Array(chain.dropFirst()) + self.policy.intermediates, roots: self.policy.trustedRoots,
                crls: self.policy.crls, revocation: self.policy.revocation, at: Timestamp.now(),
                securityLevel: self.policy.minimumSecurityLevel)
            if case .invalid(let reason, _, _) = result {
                self.refuse(reason)
                promise.succeed(.failed)
            } else if !self.policy.development, let root = result.chain.last,
                root.subject.contains(WellKnownOID.developmentMarker)
            {
                self.refuse(
                    "the certificate chains to a development root (\(root.subject)), which this policy does not accept")
                promise.succeed(.failed)
            } else if !leaf.matchesHost(self.host) {
                self.refuse("the certificate \"\(leaf.subject)\" is not for \(self.host)")
                promise.succeed(.failed)
            } else if !leaf.extendedKeyUsages.contains(WellKnownOID.serverAuth) {
                self.refuse("the certificate \"\(leaf.subject)\" lacks the TLS server-authentication usage")
                promise.succeed(.failed)
            } else {
                promise.succeed(.certificateVerified)
            }
        }
    }
}

/// Passes bytes on unchanged and records the first TLS error (an alert from the server) for the
/// attempt's classification.
final class TLSErrorRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let verifier: ServerVerifier

    init(verifier: ServerVerifier) { self.verifier = verifier }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError || error is BoringSSLError { verifier.recordTLSError(error) }
        context.fireErrorCaught(error)
    }
}
