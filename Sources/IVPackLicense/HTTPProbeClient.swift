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
/// It lives here with the licence client because this target is the one linked against NIO;
/// IVPack only knows the `HTTPProber` protocol.
public struct NIOHTTPProber: HTTPProber {
    private let tls: NIOSSLContext?

    public init() {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        tls = try? NIOSSLContext(configuration: configuration)
    }

    public func send(_ request: ProbeRequest, timeoutMilliseconds: Int64) async -> Result<ProbeResponse, ProbeFailure> {
        let began = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Int64 { Int64((DispatchTime.now().uptimeNanoseconds - began) / 1000) }
        let host = request.url.host
        guard let port = request.url.port(service: nil) else {
            return .failure(ProbeFailure(code: "bad-url", message: "\(request.urlText) has no port", microseconds: 0))
        }
        if request.url.tls && tls == nil {
            return .failure(
                ProbeFailure(code: "tls", message: "TLS is not available (no system trust store)", microseconds: 0))
        }
        let context = tls
        do {
            return try await withThrowingTaskGroup(of: Result<ProbeResponse, ProbeFailure>.self) { group in
                group.addTask {
                    try await Self.exchange(
                        request, host: host, port: port, tls: request.url.tls ? context : nil, began: began)
                }
                group.addTask {
                    try await Task.sleep(nanoseconds: UInt64(timeoutMilliseconds) * 1_000_000)
                    return .failure(
                        ProbeFailure(
                            code: "timeout",
                            message: "no answer from \(request.urlText) within \(timeoutMilliseconds) ms",
                            microseconds: elapsed()))
                }
                let first = try await group.next()!
                group.cancelAll()
                return first
            }
        } catch let error as NIOSSLError {
            return .failure(
                ProbeFailure(code: "tls", message: "TLS with \(host):\(port) failed: \(error)", microseconds: elapsed())
            )
        } catch {
            return .failure(
                ProbeFailure(
                    code: "unreachable", message: "cannot reach \(host):\(port): \(error)", microseconds: elapsed()))
        }
    }

    private static func exchange(
        _ request: ProbeRequest, host: String, port: Int, tls: NIOSSLContext?, began: UInt64
    ) async throws -> Result<ProbeResponse, ProbeFailure> {
        let isIPAddress = (try? SocketAddress(ipAddress: host, port: port)) != nil
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tls, serverHostname: isIPAddress ? nil : host))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(
                version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: request.url.target)
            head.headers.add(name: "Host", value: request.url.port == nil ? host : "\(host):\(port)")
            head.headers.add(name: "User-Agent", value: "ivpack-qualify/\(IVPackVersion.current)")
            if let type = request.contentType { head.headers.add(name: "Content-Type", value: type) }
            if !request.body.isEmpty || request.method == "POST" || request.method == "PUT" {
                head.headers.add(name: "Content-Length", value: String(request.body.count))
            }
            head.headers.add(name: "Connection", value: "close")
            try await outbound.write(.head(head))
            if !request.body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: request.body)))) }
            try await outbound.write(.end(nil))
            var status: Int?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let h): status = Int(h.status.code)
                case .body(let buffer):
                    body.append(contentsOf: buffer.readableBytesView)
                    if body.count > maxProbeResponseBytes {
                        return .failure(
                            ProbeFailure(
                                code: "too-large", message: "the answer exceeds \(maxProbeResponseBytes) bytes",
                                microseconds: Int64((DispatchTime.now().uptimeNanoseconds - began) / 1000)))
                    }
                case .end: break
                }
            }
            let us = Int64((DispatchTime.now().uptimeNanoseconds - began) / 1000)
            guard let status else {
                return .failure(
                    ProbeFailure(
                        code: "bad-response", message: "the connection closed without an answer", microseconds: us))
            }
            return .success(ProbeResponse(status: status, body: body, microseconds: us))
        }
    }
}
