import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP proxy on 127.0.0.1 that a test can switch off and on: `cut()` closes every open
/// connection and closes each new one at once (a database host gone, a network partition),
/// `restore()` forwards again. Threads and blocking sockets, as `CuttingProxy`.
public final class SwitchProxy: @unchecked Sendable {
    public let port: Int
    private let target: Int
    private let listener: Int32
    private let lock = NSLock()
    private var isCut = false
    private var open: Set<Int32> = []
    /// Connections accepted while cut (closed at once).
    public private(set) var refused = 0

    public init(to target: Int) throws {
        self.target = target
        (listener, port) = try LoopbackSocket.bind()
        Thread { [self] in self.acceptLoop() }.start()
    }

    /// Closes every forwarded connection and refuses new ones until `restore()`.
    public func cut() {
        // Under the lock: a descriptor is closed only after it left `open`, under the lock too.
        lock.withLock {
            isCut = true
            for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Forwards new connections again.
    public func restore() { lock.withLock { isCut = false } }

    public func stop() {
        cut()
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            if lock.withLock({ () -> Bool in
                if isCut { refused += 1 }
                return isCut
            }) {
                close(client)
                continue
            }
            guard let server = LoopbackSocket.connect(port: target) else {
                close(client)
                continue
            }
            lock.withLock {
                open.insert(client)
                open.insert(server)
            }
            let pair = Pair()
            Thread { [self] in self.pipe(from: client, to: server, pair) }.start()
            Thread { [self] in self.pipe(from: server, to: client, pair) }.start()
        }
    }

    /// The two directions of one connection: the second to end closes both descriptors, so that
    /// neither is shut down after its number was reused.
    private final class Pair: @unchecked Sendable {
        let lock = NSLock()
        var ended = 0
        func end() -> Bool {
            lock.withLock {
                ended += 1
                return ended == 2
            }
        }
    }

    /// Copies until either side ends.
    private func pipe(from source: Int32, to sink: Int32, _ pair: Pair) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(source, &buffer, buffer.count)
            if n <= 0 { break }
            var written = 0
            while written < n {
                let w = buffer.withUnsafeBytes { write(sink, $0.baseAddress! + written, n - written) }
                if w <= 0 { break }
                written += w
            }
            if written < n { break }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(sink, Int32(SHUT_RDWR))
        if pair.end() {
            lock.withLock {
                open.remove(source)
                open.remove(sink)
            }
            close(source)
            close(sink)
        }
    }
}
