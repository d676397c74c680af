import Foundation

/// Computes every payload file's whole-file SHA-256 and chunk SHA-256s on other threads while the
/// builder reads and writes on its own.
///
/// The builder reads a file in pieces (at most `pieceSize` bytes, aligned to multiples of
/// `pieceSize` within the file) into pooled buffers and submits each piece. Every piece goes to
/// two consumers:
/// - the whole-file digest, on one serial queue, in submission order (SHA-256 of one stream is
///   inherently sequential);
/// - the chunk digests, on `lanes` serial queues. Piece and chunk sizes are powers of two, so a
///   piece either holds whole chunks (then it is hashed chunk by chunk on any lane) or is part of
///   exactly one chunk (then every piece of that chunk goes to the same lane, in order).
///
/// A file of one chunk that fits one piece is hashed once: its chunk digest is its whole-file
/// digest (any thread takes it, round robin).
///
/// A buffer returns to the pool once both consumers and the builder (which writes it to the
/// bundle) are done with it; at most `buffers` exist, so memory is `buffers × pieceSize` whatever
/// the input size. The digests do not depend on the number of lanes.
final class PayloadHasher: @unchecked Sendable {
    /// A buffer from the engine's pool and how many of its three users are still working on it.
    final class Piece: @unchecked Sendable {
        let buffer: UnsafeMutableRawBufferPointer
        fileprivate var users = 3
        init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }
    }

    /// A lane's running chunk when chunks are larger than pieces.
    /// `hasher` is used only on the lane's own serial queue.
    private final class Lane: @unchecked Sendable {
        let queue: WorkerPool
        var hasher: SHA256Hasher?
        init(_ queue: WorkerPool) { self.queue = queue }
    }

    let chunkSize: Int
    let pieceSize: Int
    /// Queue 0 is the whole-file queue, queues 1... the chunk lanes; all serial.
    private let engine: HashingEngine
    private let wholeQueue: WorkerPool
    private let lanes: [Lane]
    private var nextLane = 0
    private let lock = NSLock()
    /// Every file's whole digest, and every file's chunk digests one after the other (file `i`'s
    /// start at `chunkBase[i]`): flat, so 20,000 files are three arrays, not 20,000 objects.
    /// Written under `lock`; `filled` counts digests written, for the check in `finish`.
    private var wholeDigests: [SHA256Digest] = []
    private var chunkDigests: [SHA256Digest] = []
    private var chunkBase: [Int] = []
    private var filled = 0
    /// The running whole-file digest of a file of several pieces; whole-file thread only (a
    /// file's pieces are submitted in order, one file after the other).
    private let wholeHasher = SHA256Hasher()

    static let defaultPieceSize = 4 << 20

    /// Piece size and count for a payload whose largest file has `largestFile` bytes: 4 pieces of
    /// 4 MiB for large files; for a tree of small files, pieces just large enough for its largest
    /// file (a power of two, at least 64 KiB) and up to 16 of them within 4 MiB, so that a tree
    /// of small files is not built with 16 MiB of buffers it cannot fill.
    static func pieceLayout(largestFile: Int64) -> (size: Int, count: Int) {
        var size = 64 << 10
        while size < defaultPieceSize, Int64(size) < largestFile { size <<= 1 }
        return (size, size == defaultPieceSize ? 4 : min(16, max(4, (4 << 20) / size)))
    }

    /// `lanes`: threads for chunk digests (the whole-file digest has its own).
    init(
        chunkSize: Int, pieceSize: Int = defaultPieceSize, buffers: Int = 4,
        lanes: Int = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)
    ) {
        precondition(
            chunkSize > 0 && chunkSize & (chunkSize - 1) == 0 && pieceSize > 0 && pieceSize & (pieceSize - 1) == 0)
        self.chunkSize = chunkSize
        self.pieceSize = pieceSize
        engine = HashingEngine(
            queues: [(1, "ivpack.build.whole")] + (0..<max(1, lanes)).map { (1, "ivpack.build.chunks.\($0)") },
            bufferSize: pieceSize, bufferCount: max(2, buffers))
        wholeQueue = engine.queues[0]
        self.lanes = engine.queues.dropFirst().map(Lane.init)
    }

    /// Starts the next file; returns its number for `submit` and `digests`.
    func beginFile(size: Int64) -> Int {
        lock.lock()
        defer { lock.unlock() }
        wholeDigests.append(.zero)
        chunkBase.append(chunkDigests.count)
        chunkDigests.append(
            contentsOf: repeatElement(.zero, count: Manifest.chunkCount(size: size, chunkSize: chunkSize)))
        return wholeDigests.count - 1
    }

    /// Stores digests under the lock: the whole-file digest of `file` if given, and chunk digests
    /// by index within the file.
    private func store(file: Int, whole: SHA256Digest?, chunks: [(index: Int, digest: SHA256Digest)]) {
        lock.lock()
        defer { lock.unlock() }
        if let whole {
            wholeDigests[file] = whole
            filled += 1
        }
        let range = chunkRange(of: file)
        for (index, digest) in chunks where range.lowerBound + index < range.upperBound {
            chunkDigests[range.lowerBound + index] = digest
            filled += 1
        }
    }

    /// Where file `file`'s chunk digests lie in `chunkDigests`. Under `lock`.
    private func chunkRange(of file: Int) -> Range<Int> {
        chunkBase[file]..<(file + 1 < chunkBase.count ? chunkBase[file + 1] : chunkDigests.count)
    }

    /// A free buffer of `pieceSize` bytes; waits while all are in use.
    func takePiece() -> Piece {
        Piece(engine.buffers.take())
    }

    /// The builder is done with a piece it took (after writing it, or on an error).
    func release(_ piece: Piece) {
        lock.lock()
        piece.users -= 1
        let free = piece.users == 0
        lock.unlock()
        if free { engine.buffers.giveBack(piece.buffer) }
    }

    /// Returns a piece that was taken but not submitted (the read failed).
    func discard(_ piece: Piece) {
        lock.lock()
        piece.users = 0
        lock.unlock()
        engine.buffers.giveBack(piece.buffer)
    }

    /// Hands `length` bytes of `piece`, read at `offset` of file `file` (a multiple of
    /// `pieceSize`), to the hashers. `last` marks the file's final piece (or its only, empty one).
    func submit(_ piece: Piece, length: Int, file: Int, offset: Int64, last: Bool) {
        precondition(offset % Int64(pieceSize) == 0 && length <= pieceSize)
        lock.lock()
        let chunkCount = chunkRange(of: file).count
        lock.unlock()
        // The bytes stay valid until the last user releases the piece.
        nonisolated(unsafe) let bytes = UnsafeRawBufferPointer(rebasing: piece.buffer[0..<length])

        if offset == 0, last, chunkCount == 1 {
            // A file of one chunk, in one piece: its chunk digest is its whole-file digest. One
            // hash instead of two, on any thread (the whole-file one too), round robin: a tree of
            // small files is hashed once per byte and on every core.
            lock.lock()
            piece.users -= 1
            lock.unlock()
            let turn = nextLane % (lanes.count + 1)
            nextLane += 1
            let queue = turn == lanes.count ? wholeQueue : lanes[turn].queue
            queue.submit { [self] in
                let d = SHA256Digest.of(bytes)
                store(file: file, whole: d, chunks: [(0, d)])
                release(piece)
            }
            return
        }

        wholeQueue.submit { [self] in
            wholeHasher.update(bytes)
            if last { store(file: file, whole: wholeHasher.finish(), chunks: []) }
            release(piece)
        }

        if chunkSize <= pieceSize {
            // Whole chunks: any lane, round robin.
            let lane = lanes[nextLane % lanes.count]
            nextLane += 1
            lane.queue.submit { [self] in
                var results: [(Int, SHA256Digest)] = []
                var start = 0
                repeat {
                    let end = min(start + chunkSize, length)
                    results.append(
                        (
                            Int((offset + Int64(start)) / Int64(chunkSize)),
                            SHA256Digest.of(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                        ))
                    start = end
                } while start < length
                store(file: file, whole: nil, chunks: results.map { (index: $0.0, digest: $0.1) })
                release(piece)
            }
        } else {
            // Part of one chunk: that chunk's lane, so its pieces are hashed in order.
            let index = Int(offset / Int64(chunkSize))
            let lane = lanes[index % lanes.count]
            let endsChunk = last || (offset + Int64(length)) % Int64(chunkSize) == 0
            lane.queue.submit { [self] in
                let hasher = lane.hasher ?? SHA256Hasher()
                hasher.update(bytes)
                if endsChunk {
                    let d = hasher.finish()
                    lane.hasher = nil
                    store(file: file, whole: nil, chunks: [(index, d)])
                } else {
                    lane.hasher = hasher
                }
                release(piece)
            }
        }
    }

    /// Waits until no piece is being hashed. Call it before leaving on an error: hashing threads
    /// must not outlive the command (OpenSSL's exit handler frees what they use).
    func waitUntilIdle() { engine.waitUntilIdle() }

    /// Waits for every submitted piece; afterwards `digests(of:)` answers for every file.
    func finish() {
        waitUntilIdle()
        lock.lock()
        defer { lock.unlock() }
        // Every file got its last piece and every chunk a piece, or the builder threw first.
        precondition(filled == wholeDigests.count + chunkDigests.count, "a digest was never computed")
    }

    /// File `file`'s whole digest and chunk digests (after `finish()`), without copying them.
    func digests(of file: Int) -> (whole: SHA256Digest, chunks: ArraySlice<SHA256Digest>) {
        lock.lock()
        defer { lock.unlock() }
        return (wholeDigests[file], chunkDigests[chunkRange(of: file)])
    }
}
