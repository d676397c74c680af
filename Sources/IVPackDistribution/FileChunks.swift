import IVPack
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A byte range of a file as an async sequence of buffers, read with `pread` one piece at a
/// time, so that an upload's memory does not depend on the chunk's size.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let offset: Int64
    let length: Int64

    /// 1 MiB reads: large enough that the syscall cost vanishes, small enough for flat memory.
    static let pieceSize = 1 << 20

    final class AsyncIterator: AsyncIteratorProtocol {
        let path: String
        var position: Int64
        let end: Int64
        var fd: Int32 = -1

        init(path: String, offset: Int64, length: Int64) {
            self.path = path
            position = offset
            end = offset + length
        }

        deinit { if fd >= 0 { close(fd) } }

        func next() async throws -> ByteBuffer? {
            guard position < end else { return nil }
            if fd < 0 {
                fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    throw FileSystemError(operation: "open for reading", path: path, code: errno, isInput: true)
                }
            }
            let want = Int(Swift.min(Int64(FileChunks.pieceSize), end - position))
            var buffer = ByteBufferAllocator().buffer(capacity: want)
            let got = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { out -> Int in
                let n = pread(fd, out.baseAddress, want, off_t(position))
                guard n > 0 else {
                    throw n == 0
                        ? FileSystemError(operation: "read (the file shrank)", path: path, code: EIO, isInput: true)
                        : FileSystemError(operation: "read", path: path, code: errno, isInput: true)
                }
                return n
            }
            position += Int64(got)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(path: path, offset: offset, length: length) }
}

/// The SHA-256 of a file's first `length` bytes (all of it when nil), read in 1 MiB pieces.
func sha256(ofFile path: String, length: Int64? = nil) throws -> (digest: SHA256Digest, size: Int64) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileSystemError(operation: "open for reading", path: path, code: errno, isInput: true) }
    defer { close(fd) }
    let hasher = SHA256Hasher()
    var buffer = [UInt8](repeating: 0, count: FileChunks.pieceSize)
    var total: Int64 = 0
    while length.map({ total < $0 }) ?? true {
        let want = Int(min(Int64(buffer.count), (length ?? Int64.max) - total))
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
        if n < 0 { throw FileSystemError(operation: "read", path: path, code: errno, isInput: true) }
        if n == 0 { break }
        buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        total += Int64(n)
    }
    return (hasher.finish(), total)
}
