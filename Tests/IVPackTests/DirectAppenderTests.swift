import Foundation
import IVPackTestSupport
import Testing

@testable import IVPack

/// The bundle is written with direct I/O where the file system allows (DirectAppender): staged in
/// aligned buffers, written by a thread of its own, the unaligned tail buffered. These tests append
/// pieces of awkward sizes and compare the file with the plain concatenation, on the disk under
/// /tmp and on tmpfs (/dev/shm), where direct I/O may be refused and the appender falls back.
@Suite struct DirectAppenderTests {
    static let sizes = [0, 1, 511, 512, 4095, 4096, 65_535, 65_536, 65_537, 200_000, 3, 3 * 131_072 + 17, 1]

    static func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &* 7 &+ $0 >> 9) }
    }

    /// The file system's magic number (`stat -f -c %t`), or -1.
    static func fileSystemType(_ path: String) -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/stat")
        process.arguments = ["-f", "-c", "%t", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        guard (try? process.run()) != nil else { return -1 }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16) ?? -1
    }

    func appendAndCompare(in folder: String) throws -> Bool {
        let path = folder + "/out.bin"
        let output = try AtomicOutputFile(path: path)
        let appender = DirectAppender(output: output, bufferSize: 64 << 10, buffers: 2)
        let startedDirect = appender.isDirect
        var expected: [UInt8] = []
        for (i, size) in Self.sizes.enumerated() {
            let piece = Self.pattern(size, seed: UInt8(i))
            try piece.withUnsafeBytes { try appender.append($0) }
            expected += piece
        }
        #expect(try appender.finish() == Int64(expected.count))
        #expect(!appender.isDirect, "the file must be back in buffered mode after finish")
        // What the builder does next: the manifest into its reserved place, at an unaligned offset.
        try output.write([0xAA, 0xBB, 0xCC], at: 1000)
        expected.replaceSubrange(1000..<1003, with: [0xAA, 0xBB, 0xCC])
        try output.commit()
        let written = try #require(FileManager.default.contents(atPath: path))
        #expect(written.count == expected.count)
        #expect(Array(written) == expected, "the file differs from the appended bytes")
        return startedDirect
    }

    @Test func bytesArriveExactlyOnTheDisk() throws {
        let folder = TemporaryFolder()
        let direct = try appendAndCompare(in: folder.path)
        // ext4 and xfs take direct I/O: there the appender must really use it.
        if [0xEF53, 0x5846_5342].contains(Self.fileSystemType(folder.path)) {
            #expect(direct, "direct I/O was not used on \(folder.path)")
        }
    }

    @Test(.enabled(if: FileManager.default.isWritableFile(atPath: "/dev/shm")))
    func bytesArriveExactlyOnTmpfsWithOrWithoutDirectIO() throws {
        let folder = "/dev/shm/ivpack-direct-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try appendAndCompare(in: folder)
    }
    // A write refused by the system (file-size limit, full disk, read-only folder) through the
    // appender's writer thread: FaultTests, which build real bundles under those faults.
}
