import Foundation
import IVPack

// Content-defined chunking throughput (issue 21) on one core, against SHA-256 alone on the same
// file in the same run: `chunker-speed FILE`. Prints the chunker's time (cut + SHA-256 of each
// chunk, reading the file in 4 MiB windows), `openssl dgst -sha256` of the file, their ratio,
// and the chunk count and mean size. Run it twice: the first read may come from disk.

@main
enum ChunkerSpeed {
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    static func main() throws {
        guard let path = CommandLine.arguments.dropFirst().first else {
            FileHandle.standardError.write(Data("usage: chunker-speed FILE\n".utf8))
            exit(64)
        }
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.doubleValue ?? 0
        var chunks: [ContentDefinedChunker.Chunk] = []
        let chunker = ContentDefinedChunker()
        let cdc = try seconds { chunks = try chunker.chunks(ofFile: path) }
        let openssl = seconds {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            p.arguments = ["dgst", "-sha256", path]
            p.standardOutput = FileHandle.nullDevice
            try? p.run()
            p.waitUntilExit()
        }
        print(
            String(
                format:
                    "%@: %.0f MB; chunker (cut + SHA-256) %.2f s = %.0f MB/s; openssl dgst -sha256 %.2f s = %.0f MB/s; ratio %.2fx; %d chunks, mean %.0f KiB",
                path, size / 1e6, cdc, size / 1e6 / cdc, openssl, size / 1e6 / openssl, cdc / openssl, chunks.count,
                size / Double(max(1, chunks.count)) / 1024))
    }
}
