import Foundation
import IVPack

// AES-256-GCM chunk throughput of ChunkCipher against OpenSSL's own `openssl speed` in the same run
// (docs/encryption.md). Usage: cipher-speed [GIB] [CHUNK-BYTES]; defaults 1 GiB and 4 MiB chunks.
// Data is encrypted from and decrypted into memory (no I/O): what the cipher costs per byte.

@main
enum CipherSpeed {
    static let arguments = CommandLine.arguments.dropFirst()
    static let gibibytes = arguments.first.flatMap(Double.init) ?? 1
    static let chunkSize = arguments.dropFirst().first.flatMap(Int.init) ?? 4 << 20
    static let total = Int(gibibytes * Double(1 << 30))
    static let chunkCount = max(1, total / chunkSize)
    static let megabytes = Double(chunkCount * chunkSize) / 1e6

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Encrypts then decrypts `chunks` chunks on one worker; returns (encrypt s, decrypt s).
    static func run(worker: Int, chunks: Range<Int>, key: ContentKey) throws -> (Double, Double) {
        let cipher = try ChunkCipher(key: key)
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 64)
        let sealed = UnsafeMutableRawBufferPointer.allocate(
            byteCount: ChunkCipher.ciphertextSize(plaintextSize: chunkSize), alignment: 64)
        defer {
            plain.deallocate()
            sealed.deallocate()
        }
        for i in 0..<chunkSize { plain[i] = UInt8(truncatingIfNeeded: i &* 31 &+ worker) }
        let encrypt = try seconds {
            for c in chunks {
                try cipher.encrypt(
                    chunk: UnsafeRawBufferPointer(plain), into: sealed, fileIndex: UInt32(worker),
                    chunkIndex: UInt64(c),
                    isFinal: c == chunks.upperBound - 1)
            }
        }
        // Decrypting the last ciphertext at its own position each time: the same work per byte.
        let last = UInt64(chunks.upperBound - 1)
        let decrypt = try seconds {
            for _ in chunks {
                try cipher.decrypt(
                    chunk: UnsafeRawBufferPointer(sealed), into: plain, fileIndex: UInt32(worker), chunkIndex: last,
                    isFinal: true)
            }
        }
        return (encrypt, decrypt)
    }

    static func openSSLSpeed(decrypt: Bool) -> Double? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments =
            ["speed", "-evp", "aes-256-gcm", "-bytes", String(chunkSize), "-seconds", "3"]
            + (decrypt ? ["-decrypt"] : [])
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // The last line: "AES-256-GCM   1234567.89k" (thousands of bytes per second).
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("AES-256-GCM") }),
            let field = line.split(separator: " ").last, field.hasSuffix("k"), let k = Double(field.dropLast())
        else { return nil }
        return k / 1000
    }

    static func main() throws {
        let key = try ContentKey.generate()
        let workers = ProcessInfo.processInfo.activeProcessorCount
        print("cipher-speed: \(String(format: "%.0f", megabytes)) MB in \(chunkCount) chunks of \(chunkSize) bytes")

        let (enc1, dec1) = try run(worker: 0, chunks: 0..<chunkCount, key: key)
        print(
            String(
                format: "ChunkCipher, 1 worker:   encrypt %7.0f MB/s   decrypt %7.0f MB/s", megabytes / enc1,
                megabytes / dec1))

        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<(Double, Double)>.allocate(capacity: workers)
        let perWorker = max(1, chunkCount / workers)
        let wall = seconds {
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                results[w] =
                    (try? run(worker: w, chunks: (w * perWorker)..<((w + 1) * perWorker), key: key)) ?? (.nan, .nan)
            }
        }
        let parallelMB = Double(perWorker * workers * chunkSize) / 1e6
        let encN = results.map(\.0).max() ?? .nan
        let decN = results.map(\.1).max() ?? .nan
        results.deallocate()
        print(
            String(
                format: "ChunkCipher, %d workers:  encrypt %7.0f MB/s   decrypt %7.0f MB/s   (wall %.2f s for both)",
                workers,
                parallelMB / encN, parallelMB / decN, wall))

        if let e = openSSLSpeed(decrypt: false), let d = openSSLSpeed(decrypt: true) {
            print(String(format: "openssl speed, 1 thread: encrypt %7.0f MB/s   decrypt %7.0f MB/s", e, d))
            print(
                String(
                    format: "ChunkCipher / openssl:   encrypt %7.2f        decrypt %7.2f", megabytes / enc1 / e,
                    megabytes / dec1 / d))
        } else {
            print("openssl speed: not available")
        }
    }
}
