import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Content-defined chunking for delta updates (issue 21): the same cuts as an independent
/// implementation, sizes within bounds, and the property deltas need: a shift changes only the
/// chunks around it.
struct ContentDefinedChunkerTests {
    /// Reproducible pseudo-random bytes (SplitMix64), so that a failure can be replayed.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            for k in 0..<8 where i + k < count { out[i + k] = UInt8(truncatingIfNeeded: z >> (8 * UInt64(k))) }
            i += 8
        }
        return out
    }

    static func lengths(_ data: [UInt8], _ chunker: ContentDefinedChunker = .init()) -> [Int] {
        data.withUnsafeBytes { chunker.lengths(of: $0) }
    }

    static func digests(_ data: [UInt8]) -> [SHA256Digest] {
        var offset = 0
        return lengths(data).map { length in
            defer { offset += length }
            return SHA256Digest.of(Array(data[offset..<(offset + length)]))
        }
    }

    /// The Swift chunker and scripts/cdc_reference.py (Python, written from the description)
    /// cut the same file at the same places with the same digests: random data, a long run of
    /// zeros (forced cuts at the maximum size) and a short tail.
    @Test func cutsEqualTheIndependentPythonImplementation() throws {
        let folder = TemporaryFolder()
        let data = Self.bytes(1_500_000, seed: 1) + [UInt8](repeating: 0, count: 700_000) + Self.bytes(90_001, seed: 2)
        let path = folder.url("data.bin")
        try Data(data).write(to: URL(fileURLWithPath: path))
        let reference = run("/usr/bin/python3", [SchemaTests.repositoryRoot + "/scripts/cdc_reference.py", path])
        try #require(reference.status == 0, "\(reference.stderr)")
        let expected = reference.stdout.split(separator: "\n").map(String.init)
        let chunks = try ContentDefinedChunker().chunks(ofFile: path)
        let got = chunks.map { "\($0.offset) \($0.length) \($0.digest.hex)" }
        #expect(got == expected)
        // The zeros force cuts at the maximum: the comparison covers both ways of cutting.
        #expect(chunks.contains { $0.length == ContentDefinedChunker.Parameters.v1.maximumSize })
        #expect(chunks.count > 20)
    }

    @Test func chunksCoverTheInputWithinTheSizeBounds() {
        let data = Self.bytes(8 << 20, seed: 3)
        let lengths = Self.lengths(data)
        let p = ContentDefinedChunker.Parameters.v1
        #expect(lengths.reduce(0, +) == data.count)
        #expect(lengths.dropLast().allSatisfy { $0 >= p.minimumSize && $0 <= p.maximumSize })
        // Normalised chunking gathers the sizes near the average (random data: ~64 KiB).
        let mean = Double(data.count) / Double(lengths.count)
        #expect(mean > 48_000 && mean < 96_000, "mean chunk \(mean) bytes over \(lengths.count) chunks")
        #expect(Self.lengths(data) == lengths, "not deterministic")
    }

    /// 37 bytes inserted in 8 MiB: only the chunks around the insertion change, where fixed-size
    /// chunks would all change after it.
    @Test func anInsertionChangesOnlyTheChunksAroundIt() {
        let data = Self.bytes(8 << 20, seed: 4)
        var shifted = data
        shifted.insert(contentsOf: Self.bytes(37, seed: 5), at: 3 << 20 + 11)
        let before = Set(Self.digests(data))
        let after = Self.digests(shifted)
        let new = after.filter { !before.contains($0) }
        #expect(new.count >= 1 && new.count <= 3, "\(new.count) of \(after.count) chunks changed")
        // Fixed 1 MiB pieces: every piece from the insertion on changes.
        func fixed(_ d: [UInt8]) -> [SHA256Digest] {
            stride(from: 0, to: d.count, by: 1 << 20).map {
                SHA256Digest.of(Array(d[$0..<min(d.count, $0 + (1 << 20))]))
            }
        }
        let fixedBefore = Set(fixed(data))
        #expect(fixed(shifted).filter { !fixedBefore.contains($0) }.count == 6)
    }

    /// The file reader (4 MiB windows, refilled) cuts exactly as the in-memory cut of the whole
    /// file, across several refills and a chunk that spans a window's end.
    @Test func theFileReaderCutsAsTheWholeBuffer() throws {
        let folder = TemporaryFolder()
        let data = Self.bytes(9 << 20 + 12_345, seed: 6)
        let path = folder.url("big.bin")
        try Data(data).write(to: URL(fileURLWithPath: path))
        let chunks = try ContentDefinedChunker().chunks(ofFile: path)
        #expect(chunks.map(\.length) == Self.lengths(data))
        #expect(chunks.map(\.digest) == Self.digests(data))
        #expect(chunks.first?.offset == 0 && chunks.last.map { $0.offset + Int64($0.length) } == Int64(data.count))
        // An empty file has no chunk; a missing one is named.
        #expect(try ContentDefinedChunker().chunks(ofFile: folder.write("empty", "")).isEmpty)
        #expect(throws: FileSystemError.self) { try ContentDefinedChunker().chunks(ofFile: folder.url("missing")) }
    }
}
