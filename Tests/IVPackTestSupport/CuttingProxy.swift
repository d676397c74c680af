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
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else {
            throw RegistryFixture.FixtureError.setup("cutting proxy: bind/listen failed")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in self.acceptLoop() }.start()
    }

    /// Whether a connection was cut.
    public var didCut: Bool { lock.withLock { cutDone } }

    public func stop() { shutdown(listener, Int32(SHUT_RDWR)) }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(target).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                close(client)
                close(server)
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
