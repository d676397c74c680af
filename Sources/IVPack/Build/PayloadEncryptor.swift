import Foundation

/// Encrypts the files of encrypted components while the builder writes them (docs/encryption.md).
///
/// The builder's thread reads a file chunk by chunk (the manifest's chunk size) into a pooled
/// slot and hands it to a worker, which waits until the whole-file thread (the plaintext digest
/// over the chunks in order) is done with the slot, then encrypts it in place (`ChunkCipher`, AES-256-GCM, the file's index and the chunk's in nonce and associated
/// data; the tag after it) and hashes the encrypted chunk. The builder writes the encrypted
/// chunks to the bundle in order, oldest first, as they complete. At most `slots` chunks are in
/// flight, so memory is `slots × (chunkSize + 16)` whatever the file's size (4 slots of 4 MiB:
/// 16 MiB). In place because a second buffer per slot put the encrypted build of a 2 GiB file at
/// 74 MiB peak RSS against 57 MiB for the clear build (Benchmarks/encrypt.sh, target 64 MiB).
///
/// Per byte, an encrypted file costs two SHA-256 passes (whole plaintext, ciphertext chunks) and
/// one AES-GCM pass, where a file in the clear costs two SHA-256 passes (whole file, chunks): on
/// SHA-NI hardware AES-GCM runs at about three times SHA-256's speed (docs/encryption.md, Speed),
/// so about 1.15 times the CPU of a clear build. Plaintext chunk digests, a third pass (1.7 times
/// the CPU: 6.1 s against 4.2 s of CPU for 2 GiB, the encrypted build 1.30-1.37 times the clear
/// one), are not made: GCM and the signed ciphertext digests already bind every plaintext byte,
/// and they would let a holder of two bundles see which pieces of a confidential model changed.
final class PayloadEncryptor: @unchecked Sendable {
    /// Two buffers for one chunk in flight and what its jobs found.
    private final class Slot: @unchecked Sendable {
        /// The plaintext chunk, then (encrypted in place) the ciphertext and its tag.
        let buffer: UnsafeMutableRawBufferPointer
        /// Signalled by the worker when the encrypted chunk and its digest are ready.
        let done = DispatchSemaphore(value: 0)
        /// Signalled by the whole-file thread when it no longer reads the plaintext.
        let wholeDone = DispatchSemaphore(value: 0)
        var length = 0
        var sealedDigest = SHA256Digest.zero
        var failure: (any Error)?

        init(chunkSize: Int) {
            buffer = .allocate(byteCount: chunkSize + ChunkCipher.tagSize, alignment: 4096)
        }

        deinit { buffer.deallocate() }
    }

    let chunkSize: Int
    private let ciphers: CipherPool
    private let workers: WorkerPool
    private let wholeQueue: WorkerPool
    private var free: [Slot]
    /// The running whole-file digest; whole-file thread only.
    private let wholeHasher = SHA256Hasher()
    private var wholeDigest = SHA256Digest.zero

    /// Slots for a chunk size: four for chunks up to 4 MiB, fewer above so that the buffers stay
    /// within about 32 MiB, and at least two (one encrypting while the next is read).
    static func slotCount(chunkSize: Int) -> Int { max(2, min(4, (32 << 20) / max(1, 2 * chunkSize))) }

    init(
        key: ContentKey, chunkSize: Int,
        workers: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)
    ) {
        self.chunkSize = chunkSize
        ciphers = CipherPool(key: key)
        self.workers = WorkerPool(threads: workers, name: "ivpack.build.encrypt")
        wholeQueue = WorkerPool(threads: 1, name: "ivpack.build.encrypt.whole")
        free = (0..<Self.slotCount(chunkSize: chunkSize)).map { _ in Slot(chunkSize: chunkSize) }
    }

    deinit {
        workers.waitUntilIdle()
        wholeQueue.waitUntilIdle()
        workers.shutdown()
        wholeQueue.shutdown()
    }

    /// Waits for every job (before leaving on an error: no thread may use a slot afterwards).
    func waitUntilIdle() {
        workers.waitUntilIdle()
        wholeQueue.waitUntilIdle()
    }

    /// What encrypting one file produced.
    struct Digests {
        var whole: SHA256Digest
        var ciphertextChunks: [SHA256Digest]
    }

    /// Encrypts the `size` bytes of `input` as file `fileIndex`, passing the encrypted chunks to
    /// `write` in order (`size + 16 × chunks` bytes in all). `changed` makes the error for a file
    /// that is shorter than `size` when read.
    func encrypt(
        _ input: InputFile, size: Int64, fileIndex: UInt32, changed: () -> any Error,
        write: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Digests {
        let count = Manifest.chunkCount(size: size, chunkSize: chunkSize)
        var digests = Digests(whole: .zero, ciphertextChunks: Array(repeating: .zero, count: count))
        var inFlight: [(index: Int, slot: Slot)] = []
        inFlight.reserveCapacity(free.count)

        /// Waits for the oldest chunk, writes it, records its digests, frees its slot.
        func completeOldest() throws {
            let (index, slot) = inFlight.removeFirst()
            slot.done.wait()
            defer { free.append(slot) }
            if let failure = slot.failure { throw failure }
            digests.ciphertextChunks[index] = slot.sealedDigest
            try write(UnsafeRawBufferPointer(rebasing: slot.buffer[0..<(slot.length + ChunkCipher.tagSize)]))
        }

        do {
            for index in 0..<count {
                if free.isEmpty { try completeOldest() }
                let slot = free.removeLast()
                let offset = Int64(index) * Int64(chunkSize)
                let length = Int(max(0, min(Int64(chunkSize), size - offset)))
                let n: Int
                do {
                    n = try input.readFully(
                        into: UnsafeMutableRawBufferPointer(rebasing: slot.buffer[0..<length]), at: offset)
                } catch {
                    free.append(slot)
                    throw error
                }
                guard n == length else {
                    free.append(slot)
                    throw changed()
                }
                slot.length = length
                slot.failure = nil
                let isFinal = index == count - 1
                inFlight.append((index, slot))
                // The whole-file job first: the worker waits for it before it encrypts in place,
                // and the whole-file thread never waits on a worker, so nothing can deadlock.
                wholeQueue.submit { [self] in
                    defer { slot.wholeDone.signal() }
                    wholeHasher.update(UnsafeRawBufferPointer(rebasing: slot.buffer[0..<length]))
                    if isFinal { wholeDigest = wholeHasher.finish() }
                }
                workers.submit { [ciphers] in
                    defer { slot.done.signal() }
                    let plain = UnsafeRawBufferPointer(rebasing: slot.buffer[0..<length])
                    let sealed = UnsafeMutableRawBufferPointer(
                        rebasing: slot.buffer[0..<(length + ChunkCipher.tagSize)])
                    slot.wholeDone.wait()
                    do {
                        let cipher = try ciphers.take()
                        defer { ciphers.giveBack(cipher) }
                        // In place: GCM (counter mode) reads each block before it writes it.
                        try cipher.encrypt(
                            chunk: plain, into: sealed, fileIndex: fileIndex, chunkIndex: UInt64(index),
                            isFinal: isFinal)
                    } catch {
                        slot.failure = error
                        return
                    }
                    slot.sealedDigest = SHA256Digest.of(UnsafeRawBufferPointer(sealed))
                }
            }
            while !inFlight.isEmpty { try completeOldest() }
        } catch {
            // Every job finished before the slots can be reused or freed.
            for (_, slot) in inFlight {
                slot.done.wait()
                free.append(slot)
            }
            waitUntilIdle()
            // The whole-file hasher may hold part of this file: start the next one afresh.
            _ = wholeHasher.finish()
            throw error
        }
        // Every whole-file job of this file ran (each worker waited for its slot's).
        digests.whole = wholeDigest
        return digests
    }
}
