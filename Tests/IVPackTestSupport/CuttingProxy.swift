import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP forwarder on 127.0.0.1 to another local port that cuts the first connection once it
/// has carried `cutAfter` bytes from the server to the client (both sockets closed), as a
/// network failure in the middle of a download would; later connections pass untouched.
public final class CuttingProxy: @unchecked Sendable {
    public let port: Int
    private let target: Int
    private let cutAfter: Int
    private let listener: Int32
    private let lock = NSLock()
    private var cutDone = false
    /// Connections accepted so far.
    public private(set) var connections = 0

    public init(to target: Int, cutAfter: Int) throws {
        self.target = target
        self.cutAfter = cutAfter
        (listener, port) = try LoopbackSocket.bind()
        Thread { [self] in self.acceptLoop() }.start()
    }

    /// Whether a connection was cut.
    public var didCut: Bool { lock.withLock { cutDone } }

    public func stop() { shutdown(listener, Int32(SHUT_RDWR)) }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            guard let server = LoopbackSocket.connect(port: target) else {
                close(client)
                continue
            }
            let cutting = lock.withLock { () -> Bool in
                connections += 1
                return !cutDone
            }
            Thread { [self] in self.pipe(from: client, to: server, limit: nil) }.start()
            Thread { [self] in self.pipe(from: server, to: client, limit: cutting ? cutAfter : nil) }.start()
        }
    }

    private func pipe(from source: Int32, to sink: Int32, limit: Int?) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        var carried = 0
        while true {
            var want = buffer.count
            if let limit { want = min(want, limit - carried) }
            if want <= 0 {
                lock.withLock { cutDone = true }
                break
            }
            let n = read(source, &buffer, want)
            if n <= 0 { break }
            var written = 0
            while written < n {
                let w = buffer.withUnsafeBytes { write(sink, $0.baseAddress! + written, n - written) }
                if w <= 0 { break }
                written += w
            }
            carried += n
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(sink, Int32(SHUT_RDWR))
        close(source)
    }
}
