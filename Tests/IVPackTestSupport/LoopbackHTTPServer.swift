import Foundation
import IVPack

#if canImport(Glibc)
    import Glibc
#endif

/// A small real HTTP/1.0 server on 127.0.0.1 for tests (a local time-stamping authority): one
/// thread, one request per connection, bounded request size. Stops when released.
public final class LoopbackHTTPServer: @unchecked Sendable {
    public typealias Handler =
        @Sendable (_ path: String, _ body: [UInt8]) -> (status: Int, contentType: String, body: [UInt8])

    public let port: UInt16
    private let listener: Int32
    private let handler: Handler
    private let lock = NSLock()
    private var stopped = false
    /// Requests served so far.
    public private(set) var requestCount = 0

    public init(handler: @escaping Handler) throws {
        self.handler = handler
        let (fd, bound) = try LoopbackSocket.bind()
        listener = fd
        port = UInt16(bound)
        let thread = Thread { [self] in self.serve() }
        thread.start()
    }

    deinit { stop() }

    /// `http://127.0.0.1:PORT/path`.
    public func url(_ path: String = "/") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Stops accepting connections.
    public func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        if !already {
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
        }
    }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                lock.lock()
                let done = stopped
                lock.unlock()
                if done { return }
                continue
            }
            handle(client)
            close(client)
        }
    }

    private func handle(_ client: Int32) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var contentLength = 0
        while data.count < 4 << 20 {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if headerEnd == nil, let range = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                headerEnd = range.upperBound
                let head = String(decoding: data[..<range.lowerBound], as: UTF8.self).lowercased()
                for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    contentLength =
                        Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let end = headerEnd, data.count >= end + contentLength { break }
        }
        guard let end = headerEnd else { return }
        let requestLine = String(
            decoding: data[..<(data.firstRange(of: Array("\r\n".utf8))?.lowerBound ?? end)], as: UTF8.self)
        let path = requestLine.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        let body = Array(data[end..<min(data.count, end + contentLength)])
        lock.lock()
        requestCount += 1
        lock.unlock()
        let reply = handler(path, body)
        var response = Array(
            "HTTP/1.0 \(reply.status) \(reply.status == 200 ? "OK" : "Error")\r\nContent-Type: \(reply.contentType)\r\nContent-Length: \(reply.body.count)\r\nConnection: close\r\n\r\n"
                .utf8)
        response.append(contentsOf: reply.body)
        var sent = 0
        while sent < response.count {
            let n = response.withUnsafeBytes { write(client, $0.baseAddress! + sent, response.count - sent) }
            if n <= 0 { break }
            sent += n
        }
    }
}

/// A local RFC 3161 authority on loopback, backed by the library's responder.
public final class LocalTimestampAuthority: @unchecked Sendable {
    public let server: LoopbackHTTPServer
    public let responder: IVPackResponderBox

    /// Starts an authority with the development PKI's TSA identity; `time` fixes its clock.
    public init(certificate: String, key: String, chain: String, time: Int64? = nil) throws {
        let box = IVPackResponderBox(
            try IVPack.TimestampResponder(
                certificate: try IVPack.Certificate.load(file: certificate)[0],
                key: try IVPack.PrivateKey.load(file: key, passphrase: nil),
                chain: try IVPack.Certificate.load(file: chain),
                policyOID: IVPack.WellKnownOID.developmentTimestampPolicy, fixedTime: time))
        responder = box
        server = try LoopbackHTTPServer { _, body in
            guard let reply = try? box.responder.respond(to: body) else {
                return (500, "text/plain", Array("responder failed".utf8))
            }
            return (200, "application/timestamp-reply", reply)
        }
    }

    public var url: String { server.url("/tsa") }
}

/// Holds a responder for use from the server thread.
public final class IVPackResponderBox: @unchecked Sendable {
    public let responder: IVPack.TimestampResponder
    init(_ responder: IVPack.TimestampResponder) { self.responder = responder }
}
