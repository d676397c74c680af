import Foundation
import IVPack
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The HTTP/1.1 client of qualification probes (`ivpack qualify`): plain TCP for `http://`, TLS
/// with the system's trust roots and host-name verification for `https://`; one connection per
/// request (`Connection: close`), the answer read whole up to `maxProbeResponseBytes`.
///
/// Blocking (`HTTPProber`): the exchange runs on one event loop of NIO's shared group, with one
/// deadline for connect, send and answer, and the caller's thread waits for it. The time of a
/// probe is taken on the event loop, from just before the connection is opened to the answer's
/// last byte, so it does not include the caller's scheduling.
///
/// It lives here with the licence client because this target is the one linked against NIO;
/// IVPack only knows the `HTTPProber` protocol.
public struct NIOHTTPProber: HTTPProber {
    private let tls: NIOSSLContext?

    public init() {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        tls = try? NIOSSLContext(configuration: configuration)
    }

    public func send(_ request: ProbeRequest, timeoutMilliseconds: Int64) -> Result<ProbeResponse, ProbeFailure> {
        let host = request.url.host
        guard let port = request.url.port(service: nil) else {
            return .failure(ProbeFailure(code: "bad-url", message: "\(request.urlText) has no port", microseconds: 0))
        }
        if request.url.tls && tls == nil {
            return .failure(
                ProbeFailure(code: "tls", message: "TLS is not available (no system trust store)", microseconds: 0))
        }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let began = DispatchTime.now().uptimeNanoseconds
        @Sendable func elapsed() -> Int64 { Int64((DispatchTime.now().uptimeNanoseconds - began) / 1000) }
        let promise = loop.makePromise(of: ProbeResponse.self)
        let timeout = loop.scheduleTask(in: .milliseconds(timeoutMilliseconds)) {
            promise.fail(
                ProbeFailure(
                    code: "timeout", message: "no answer from \(request.urlText) within \(timeoutMilliseconds) ms",
                    microseconds: elapsed()))
        }
        let context = request.url.tls ? tls : nil
        let isIPAddress = (try? SocketAddress(ipAddress: host, port: port)) != nil
        let connected = ClientBootstrap(group: loop)
            .connectTimeout(.milliseconds(timeoutMilliseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: context, serverHostname: isIPAddress ? nil : host))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        ResponseCollector(promise: promise, began: began, host: host, port: port))
                }
            }
            .connect(host: host, port: port)
        connected.whenSuccess { channel in
            var head = HTTPRequestHead(
                version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: request.url.target)
            head.headers.add(name: "Host", value: request.url.port == nil ? host : "\(host):\(port)")
            head.headers.add(name: "User-Agent", value: "ivpack-qualify/\(IVPackVersion.current)")
            if let type = request.contentType { head.headers.add(name: "Content-Type", value: type) }
            if !request.body.isEmpty || request.method == "POST" || request.method == "PUT" {
                head.headers.add(name: "Content-Length", value: String(request.body.count))
            }
            head.headers.add(name: "Connection", value: "close")
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if !request.body.isEmpty {
                channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: request.body))), promise: nil)
            }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            // Whatever ends the exchange (answer, timeout, error) closes the connection.
            promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        connected.whenFailure { error in
            let failure: ProbeFailure
            if let ssl = error as? NIOSSLError {
                failure = ProbeFailure(
                    code: "tls", message: "TLS with \(host):\(port) failed: \(ssl)", microseconds: elapsed())
            } else {
                failure = ProbeFailure(
                    code: "unreachable", message: "cannot reach \(host):\(port): \(error)", microseconds: elapsed())
            }
            promise.fail(failure)
        }
        do {
            let response = try promise.futureResult.wait()
            timeout.cancel()
            return .success(response)
        } catch let failure as ProbeFailure {
            return .failure(failure)
        } catch let ssl as NIOSSLError {
            return .failure(
                ProbeFailure(code: "tls", message: "TLS with \(host):\(port) failed: \(ssl)", microseconds: elapsed()))
        } catch {
            return .failure(
                ProbeFailure(
                    code: "bad-response", message: "the exchange with \(host):\(port) failed: \(error)",
                    microseconds: elapsed()))
        }
    }
}

/// Collects one HTTP answer into the promise; confined to its channel's event loop.
private final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<ProbeResponse>
    private let began: UInt64
    private let host: String
    private let port: Int
    private var status: Int?
    private var body: [UInt8] = []
    private var done = false

    init(promise: EventLoopPromise<ProbeResponse>, began: UInt64, host: String, port: Int) {
        self.promise = promise
        self.began = began
        self.host = host
        self.port = port
    }

    private var microseconds: Int64 { Int64((DispatchTime.now().uptimeNanoseconds - began) / 1000) }

    private func finish(_ result: Result<ProbeResponse, ProbeFailure>, _ context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        promise.completeWith(result.mapError { $0 as any Error })
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
            if body.count > maxProbeResponseBytes {
                finish(
                    .failure(
                        ProbeFailure(
                            code: "too-large", message: "the answer exceeds \(maxProbeResponseBytes) bytes",
                            microseconds: microseconds)), context)
            }
        case .end:
            guard let status else {
                finish(
                    .failure(
                        ProbeFailure(
                            code: "bad-response", message: "an answer without a status line", microseconds: microseconds
                        )),
                    context)
                return
            }
            finish(.success(ProbeResponse(status: status, body: body, microseconds: microseconds)), context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let code = error is NIOSSLError ? "tls" : "bad-response"
        finish(
            .failure(
                ProbeFailure(
                    code: code, message: "the exchange with \(host):\(port) failed: \(error)",
                    microseconds: microseconds)),
            context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(
            .failure(
                ProbeFailure(
                    code: "bad-response", message: "\(host):\(port) closed the connection without an answer",
                    microseconds: microseconds)), context)
        context.fireChannelInactive()
    }
}
