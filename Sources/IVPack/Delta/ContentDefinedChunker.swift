#if canImport(Glibc)
    import Glibc
#endif

/// Content-defined chunking for delta updates (issue 21): cut points that depend on the bytes
/// around them, not on their offset, so that an insertion or removal that shifts the rest of a
/// file changes only the chunks it touches. Fixed 4 MiB chunks (the manifest's `chunks`) do not
/// survive a shift: a retrained model whose safetensors header grew by a few bytes would share no
/// chunk with its predecessor.
///
/// The algorithm is FastCDC (Xia et al., USENIX ATC 2016) with normalised chunking, level 2:
/// a gear hash `fp = (fp << 1) &+ gear[byte]` rolls over the bytes; a cut is made after a byte
/// where the hash's top bits under a mask are all zero, with a mask of more bits (harder to hit)
/// before the average size and of fewer bits after it, so that sizes gather around the average.
/// No cut before `minimumSize`, a forced cut at `maximumSize`. The shift drops one bit per byte,
/// so the top bit depends on the last 64 bytes only: the cut decision is a function of a 64-byte
/// window (once `minimumSize` >= 64 bytes past the chunk's start, always here).
///
/// The gear table and the parameters are part of the delta format: a delta made by one ivpack
/// must be read by another. The table is derived, not stored: entry i is the first 8 bytes
/// (big-endian) of SHA-256("ivpack-cdc-gear-v1" || byte i). `scripts/cdc_reference.py` is an
/// independent implementation (Python) that a test compares with this one.
public struct ContentDefinedChunker: Sendable {
    /// The parameters of one chunking; the delta format fixes `.v1`.
    public struct Parameters: Sendable, Equatable {
        public var minimumSize: Int
        public var averageSize: Int
        public var maximumSize: Int

        /// 16 KiB / 64 KiB / 256 KiB, as casync and desync use: small enough that a changed
        /// tensor costs little beside it, large enough that a 2 GiB model is ~32,000 chunks
        /// (an index of ~1.3 MB at 40 bytes a chunk).
        public static let v1 = Parameters(minimumSize: 16 << 10, averageSize: 64 << 10, maximumSize: 256 << 10)

        public init(minimumSize: Int, averageSize: Int, maximumSize: Int) {
            self.minimumSize = minimumSize
            self.averageSize = averageSize
            self.maximumSize = maximumSize
        }
    }

    public let parameters: Parameters
    /// Mask of log2(average) + 2 top bits: used before the average size.
    let smallMask: UInt64
    /// Mask of log2(average) - 2 top bits: used from the average size on.
    let largeMask: UInt64

    /// A chunker with `parameters` (sizes powers of two, 64 <= minimum < average < maximum).
    public init(_ parameters: Parameters = .v1) {
        precondition(
            parameters.minimumSize >= 64 && parameters.minimumSize < parameters.averageSize
                && parameters.averageSize < parameters.maximumSize
                && parameters.averageSize.nonzeroBitCount == 1,
            "chunk sizes must satisfy 64 <= minimum < average < maximum, the average a power of two")
        self.parameters = parameters
        let bits = parameters.averageSize.trailingZeroBitCount
        smallMask = Self.topBits(bits + 2)
        largeMask = Self.topBits(bits - 2)
    }

    static func topBits(_ n: Int) -> UInt64 { n <= 0 ? 0 : ~UInt64(0) << UInt64(64 - n) }

    /// The gear table (see the type's comment).
    public static let gear: [UInt64] = (0..<256).map { i in
        var input = Array("ivpack-cdc-gear-v1".utf8)
        input.append(UInt8(i))
        let digest = SHA256Digest.of(input).bytes
        return digest[0..<8].reduce(0) { ($0 << 8) | UInt64($1) }
    }

    /// The length of the chunk that starts at the beginning of `bytes`, all of them when
    /// `isEnd` and no cut point comes first. Without `isEnd`, `bytes` must hold `maximumSize`
    /// bytes (or the rest of the input): a cut is never made for want of data.
    public func cut(_ bytes: UnsafeRawBufferPointer, isEnd: Bool) -> Int? {
        let n = bytes.count
        let p = parameters
        if n <= p.minimumSize { return isEnd ? n : nil }
        let limit = min(n, p.maximumSize)
        let normal = min(limit, p.averageSize)
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var fp: UInt64 = 0
        var i = p.minimumSize
        let cut: Int? = Self.gear.withUnsafeBufferPointer { g -> Int? in
            while i < normal {
                fp = (fp << 1) &+ g[Int(base[i])]
                if fp & smallMask == 0 { return i + 1 }
                i += 1
            }
            while i < limit {
                fp = (fp << 1) &+ g[Int(base[i])]
                if fp & largeMask == 0 { return i + 1 }
                i += 1
            }
            return nil
        }
        if let cut { return cut }
        // No cut point up to `limit`: the maximum size forces one; short of it, more data may.
        if limit == p.maximumSize || isEnd { return limit }
        return nil
    }

    /// The chunk lengths of `bytes`, in order (their sum is `bytes.count`).
    public func lengths(of bytes: UnsafeRawBufferPointer) -> [Int] {
        var out: [Int] = []
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let length = cut(rest, isEnd: true)!
            out.append(length)
            offset += length
        }
        return out
    }

    /// One chunk of a file: where it is and its SHA-256.
    public struct Chunk: Sendable, Equatable {
        public var offset: Int64
        public var length: Int
        public var digest: SHA256Digest
    }

    /// The chunks of the file at `path`, read in pieces of 4 MiB (memory stays at ~4.3 MiB
    /// whatever the file's size), each hashed as it is cut.
    public func chunks(ofFile path: String) throws -> [Chunk] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FileSystemError(operation: "open for reading", path: path, code: errno, isInput: true)
        }
        defer { close(fd) }
        let window = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(
            byteCount: window + parameters.maximumSize, alignment: 64)
        defer { buffer.deallocate() }
        let hasher = SHA256Hasher()
        var out: [Chunk] = []
        var fileOffset: Int64 = 0 // of buffer[0]
        var filled = 0
        var start = 0
        var atEnd = false
        while true {
            // Keep at least `maximumSize` bytes ahead of `start` unless the file has ended.
            if !atEnd, filled - start < parameters.maximumSize {
                if start > 0 {
                    let kept = filled - start
                    if kept > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: kept) }
                    fileOffset += Int64(start)
                    filled = kept
                    start = 0
                }
                while filled < buffer.count {
                    let n = read(fd, buffer.baseAddress! + filled, buffer.count - filled)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw FileSystemError(operation: "read", path: path, code: errno, isInput: true)
                    }
                    if n == 0 {
                        atEnd = true
                        break
                    }
                    filled += n
                }
            }
            if start == filled { break }
            let rest = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[start..<filled])
            guard let length = cut(rest, isEnd: atEnd) else {
                preconditionFailure("a cut needs at most maximumSize bytes, and they were read")
            }
            hasher.update(UnsafeRawBufferPointer(rebasing: rest[rest.startIndex..<(rest.startIndex + length)]))
            out.append(Chunk(offset: fileOffset + Int64(start), length: length, digest: hasher.finish()))
            start += length
        }
        return out
    }
}
