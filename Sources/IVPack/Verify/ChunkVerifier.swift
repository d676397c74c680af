import Dispatch
import Foundation

/// Checks files' chunk digests on several threads while the archive is read on one.
///
/// The reader copies each chunk out of libarchive's buffer into a pooled buffer and hands it to a
/// worker; at most `workers + 2` buffers exist at any time, so memory is bounded by the chunk size,
/// not the bundle size. Chunks cover every byte of a file, so a file whose chunks all match is the
/// file the signed manifest describes; the whole-file digest in the manifest (for `sha256sum`
/// comparisons) is not recomputed. The outcome does not depend on the number of workers.
final class ChunkVerifier: @unchecked Sendable {
    let chunkSize: Int
    let workers: Int
    private let queue: DispatchQueue
    private let group = DispatchGroup()
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private var pool: [UnsafeMutableRawBufferPointer] = []
    private var problems: [(order: Int, text: String)] = []
    private var order = 0

    /// `workers`: hashing threads (default: active processor count).
    init(chunkSize: Int, workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.chunkSize = chunkSize
        self.workers = max(1, workers)
        queue = DispatchQueue(label: "ivpack.verify.chunks", attributes: .concurrent)
        slots = DispatchSemaphore(value: max(1, workers) + 2)
    }

    deinit {
        group.wait()
        for b in pool { b.deallocate() }
    }

    private func takeBuffer() -> UnsafeMutableRawBufferPointer {
        slots.wait()
        lock.lock()
        defer { lock.unlock() }
        return pool.popLast() ?? UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 64)
    }

    private func giveBack(_ buffer: UnsafeMutableRawBufferPointer) {
        lock.lock()
        pool.append(buffer)
        lock.unlock()
        slots.signal()
    }

    private func record(_ order: Int, _ text: String) {
        lock.lock()
        problems.append((order, text))
        lock.unlock()
    }

    /// Streams one file's data through `read`, handing each full chunk to a worker. Returns a
    /// problem found on the reading side (a length mismatch) at once; digest mismatches are
    /// collected and returned by `finish()`.
    func verify(_ expected: Manifest.FileEntry, read: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> String? {
        lock.lock()
        let fileOrder = order
        order += 1
        lock.unlock()
        var buffer = takeBuffer()
        var fill = 0
        var chunkIndex = 0
        var total: Int64 = 0
        func submit(_ length: Int) {
            // The buffer belongs to exactly one worker until it is given back.
            nonisolated(unsafe) let b = buffer
            let index = chunkIndex
            let expectedDigest = index < expected.chunks.count ? expected.chunks[index] : nil
            group.enter()
            queue.async { [self] in
                let digest = SHA256Digest.of(UnsafeRawBufferPointer(rebasing: b[0..<length]))
                if digest != expectedDigest {
                    let start = Int64(index) * Int64(chunkSize)
                    record(fileOrder * 1_000_000 + index,
                           "\(expected.path): chunk \(index) (bytes \(start) to \(start + Int64(length) - 1)) does not match its SHA-256 in the manifest")
                }
                giveBack(b)
                group.leave()
            }
            chunkIndex += 1
        }
        do {
            try read { block in
                var start = 0
                while start < block.count {
                    let take = min(block.count - start, chunkSize - fill)
                    UnsafeMutableRawBufferPointer(rebasing: buffer[fill..<(fill + take)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: block[start..<(start + take)]))
                    fill += take
                    start += take
                    if fill == chunkSize {
                        submit(fill)
                        buffer = takeBuffer()
                        fill = 0
                    }
                }
                total += Int64(block.count)
            }
        } catch {
            giveBack(buffer)
            throw error
        }
        if fill > 0 || chunkIndex == 0 {
            submit(fill)
        } else {
            giveBack(buffer)
        }
        if total != expected.size {
            return "\(expected.path): the archive holds \(total) bytes of data, the manifest says \(expected.size)"
        }
        if chunkIndex != expected.chunks.count {
            return "\(expected.path): \(chunkIndex) chunks of data, the manifest lists \(expected.chunks.count)"
        }
        return nil
    }

    /// Waits for every chunk and returns the mismatches, first file and chunk first.
    func finish() -> [String] {
        group.wait()
        lock.lock()
        defer { lock.unlock() }
        return problems.sorted { $0.order < $1.order }.map(\.text)
    }
}

extension SHA256Digest {
    /// The digest of raw bytes.
    static func of(_ bytes: UnsafeRawBufferPointer) -> SHA256Digest {
        let hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finish()
    }
}
