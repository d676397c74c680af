import AsyncHTTPClient
import Foundation
import IVPack
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#endif

/// An upload session: the URL the registry gave for the next request of a chunked upload.
public struct BlobUpload: Sendable, Equatable {
    public var location: String
}

extension RegistryClient {
    /// Whether the repository holds the blob (`HEAD /v2/<name>/blobs/<digest>`).
    public func blobExists(repository: String, digest: SHA256Digest) async throws -> Bool {
        let path = "/v2/\(repository)/blobs/sha256:\(digest.hex)"
        let response = try await send(.HEAD, path, timeoutSeconds: 60)
        switch response.status.code {
        case 200: return true
        case 404: return false
        default:
            try await expect(response, [200], url: path)
            return false
        }
    }

    /// Opens an upload session (`POST /v2/<name>/blobs/uploads/`).
    public func startUpload(repository: String) async throws -> BlobUpload {
        let path = "/v2/\(repository)/blobs/uploads/"
        let response = try await send(.POST, path, headers: [("Content-Length", "0")], timeoutSeconds: 60)
        try await expect(response, [202], url: path)
        return try nextUpload(response, after: path)
    }

    /// How many bytes the session holds, as the registry reports (`GET` the session -> `Range: 0-N`).
    public func uploadOffset(_ upload: BlobUpload) async throws -> (BlobUpload, Int64) {
        let response = try await send(.GET, upload.location, timeoutSeconds: 60)
        try await expect(response, [204], url: upload.location)
        let next = (try? nextUpload(response, after: upload.location)) ?? upload
        return (next, Self.rangeEnd(response.headers.first(name: "Range")).map { $0 + 1 } ?? 0)
    }

    /// Sends `length` bytes of `file` from `offset` as one chunk (`PATCH` with `Content-Range`).
    public func uploadChunk(_ upload: BlobUpload, file: String, offset: Int64, length: Int64) async throws
        -> BlobUpload
    {
        let response = try await send(
            .PATCH, upload.location,
            headers: [
                ("Content-Type", "application/octet-stream"), ("Content-Range", "\(offset)-\(offset + length - 1)"),
            ],
            body: { .stream(FileChunks(path: file, offset: offset, length: length), length: .known(length)) })
        try await expect(response, [202], url: upload.location)
        return try nextUpload(response, after: upload.location)
    }

    /// Closes the session with the blob's digest (`PUT <session>?digest=`), optionally with a last body.
    public func finishUpload(_ upload: BlobUpload, digest: SHA256Digest, body: [UInt8] = []) async throws {
        let separator = upload.location.contains("?") ? "&" : "?"
        let target = upload.location + separator + "digest=sha256:\(digest.hex)"
        let bytes = ByteBuffer(bytes: body)
        let response = try await send(
            .PUT, target,
            headers: [("Content-Type", "application/octet-stream"), ("Content-Length", "\(body.count)")],
            body: { .bytes(bytes) }, timeoutSeconds: 600)
        try await expect(response, [201], url: target)
    }

    /// Uploads `file` (of `size` bytes, digest `digest`) in chunks of `options.chunkSize`, starting
    /// from `resuming` when given. A cut connection is resumed from the offset the registry reports,
    /// up to `options.attempts` times.
    public func uploadBlob(
        repository: String, file: String, digest: SHA256Digest, size: Int64, resuming: BlobUpload? = nil
    ) async throws {
        var upload: BlobUpload
        var offset: Int64 = 0
        if let resuming {
            (upload, offset) = try await uploadOffset(resuming)
        } else {
            upload = try await startUpload(repository: repository)
        }
        var failures = 0
        while offset < size {
            let length = min(options.chunkSize, size - offset)
            do {
                upload = try await uploadChunk(upload, file: file, offset: offset, length: length)
                offset += length
            } catch let error as DistributionError {
                guard case .network = error, failures + 1 < options.attempts else { throw error }
                failures += 1
                do {
                    (upload, offset) = try await uploadOffset(upload)
                } catch DistributionError.registry(_, 404, _) {
                    // CNCF distribution 2.8 forgets a session whose chunk was cut half-written (its
                    // state no longer matches the stored size): the only way on is a new session.
                    upload = try await startUpload(repository: repository)
                    offset = 0
                }
            }
        }
        try await finishUpload(upload, digest: digest)
    }

    /// Pushes a small blob in one request (`POST`, then `PUT` with the bytes).
    public func pushSmallBlob(repository: String, bytes: [UInt8]) async throws {
        let digest = SHA256Digest.of(bytes)
        if try await blobExists(repository: repository, digest: digest) { return }
        let upload = try await startUpload(repository: repository)
        try await finishUpload(upload, digest: digest, body: bytes)
    }

    /// Puts a manifest under a tag; returns the digest the registry reports (or ours when it reports none).
    public func putManifest(repository: String, reference: String, bytes: [UInt8], mediaType: String) async throws
        -> String
    {
        let path = "/v2/\(repository)/manifests/\(reference)"
        let buffer = ByteBuffer(bytes: bytes)
        let response = try await send(
            .PUT, path, headers: [("Content-Type", mediaType), ("Content-Length", "\(bytes.count)")],
            body: { .bytes(buffer) }, timeoutSeconds: 120)
        try await expect(response, [201], url: path)
        return response.headers.first(name: "Docker-Content-Digest") ?? "sha256:\(SHA256Digest.of(bytes).hex)"
    }

    /// Gets a manifest's bytes (at most `OCIManifest.maximumSize`), and the digest the registry reports.
    public func getManifest(repository: String, reference: String, shown: String) async throws -> (
        bytes: [UInt8], reportedDigest: String?
    ) {
        let path = "/v2/\(repository)/manifests/\(reference)"
        let response = try await send(
            .GET, path, headers: [("Accept", OCIManifest.manifestMediaType)], timeoutSeconds: 120)
        if response.status == .notFound { throw DistributionError.notFound(reference: shown) }
        try await expect(response, [200], url: path)
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: OCIManifest.maximumSize)
        } catch {
            throw DistributionError.notABundle(
                reference: shown, detail: "the manifest is larger than \(OCIManifest.maximumSize) bytes or was cut")
        }
        return (Array(buffer: body), response.headers.first(name: "Docker-Content-Digest"))
    }

    /// Downloads a blob to `output`: bytes go to `output.partial` while hashed; a partial file left
    /// by an interrupted pull is kept (its bytes hashed again) and the rest asked with `Range`. The
    /// digest must equal `digest` (else the partial file is deleted); then fsync and rename, so
    /// `output` exists only complete and checked.
    public func downloadBlob(repository: String, digest: SHA256Digest, size: Int64, to output: String) async throws {
        let partial = output + ".partial"
        let path = "/v2/\(repository)/blobs/sha256:\(digest.hex)"
        var failures = 0
        var restartedFromZero = false
        while true {
            let fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw FileSystemError(operation: "open for writing", path: partial, code: errno, isInput: false)
            }
            var closed = false
            defer { if !closed { close(fd) } }
            var kept = Int64(lseek(fd, 0, SEEK_END))
            if kept > size {
                guard ftruncate(fd, 0) == 0 else {
                    throw FileSystemError(operation: "truncate", path: partial, code: errno, isInput: false)
                }
                kept = 0
            }
            let hasher = SHA256Hasher()
            if kept > 0 {
                let prefix = try sha256Prefix(fd: fd, length: kept, path: partial, into: hasher)
                kept = prefix
            }
            var offset = kept
            do {
                if offset < size {
                    offset = try await receive(path, from: offset, size: size, fd: fd, partial: partial, hasher: hasher)
                }
            } catch let error as DistributionError {
                guard case .network = error, failures + 1 < options.attempts else { throw error }
                failures += 1
                continue
            }
            let actual = hasher.finish()
            guard actual == digest else {
                close(fd)
                closed = true
                unlink(partial)
                // A kept prefix may itself be what is wrong (another blob's bytes): start over once.
                if kept > 0 && !restartedFromZero {
                    restartedFromZero = true
                    continue
                }
                throw DistributionError.digestMismatch(
                    what: url(path), expected: "sha256:\(digest.hex)", actual: "sha256:\(actual.hex)")
            }
            guard fsync(fd) == 0 else {
                throw FileSystemError(operation: "fsync", path: partial, code: errno, isInput: false)
            }
            close(fd)
            closed = true
            guard rename(partial, output) == 0 else {
                throw FileSystemError(operation: "rename \(partial) to", path: output, code: errno, isInput: false)
            }
            let folder = (output as NSString).deletingLastPathComponent
            let dfd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 {
                _ = fsync(dfd)
                close(dfd)
            }
            return
        }
    }

    /// Hashes the first `length` bytes of `fd`; returns how many it read (the file may be shorter).
    private func sha256Prefix(fd: Int32, length: Int64, path: String, into hasher: SHA256Hasher) throws -> Int64 {
        var buffer = [UInt8](repeating: 0, count: FileChunks.pieceSize)
        var done: Int64 = 0
        while done < length {
            let want = Int(min(Int64(buffer.count), length - done))
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(done)) }
            if n < 0 { throw FileSystemError(operation: "read", path: path, code: errno, isInput: false) }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            done += Int64(n)
        }
        return done
    }

    /// One GET of the blob from `offset`, appended to `fd` and hashed; returns the new offset.
    private func receive(
        _ path: String, from start: Int64, size: Int64, fd: Int32, partial: String, hasher: SHA256Hasher
    ) async throws -> Int64 {
        var offset = start
        let headers = offset > 0 ? [("Range", "bytes=\(offset)-")] : []
        let response = try await send(.GET, path, headers: headers)
        switch response.status.code {
        case 206:
            let begins = Self.rangeStart(response.headers.first(name: "Content-Range"))
            guard begins == offset else {
                throw DistributionError.registry(
                    url: url(path), status: 206,
                    detail:
                        "asked for bytes from \(offset), got Content-Range \(response.headers.first(name: "Content-Range") ?? "(none)")"
                )
            }
        case 200:
            // The registry ignored Range: start over.
            if offset > 0 {
                guard ftruncate(fd, 0) == 0 else {
                    throw FileSystemError(operation: "truncate", path: partial, code: errno, isInput: false)
                }
                _ = hasher.finish()
                offset = 0
            }
        default:
            try await expect(response, [200], url: path)
        }
        do {
            for try await buffer in response.body {
                guard offset + Int64(buffer.readableBytes) <= size else {
                    throw DistributionError.registry(
                        url: url(path), status: Int(response.status.code),
                        detail: "the blob is longer than the manifest's \(size) bytes")
                }
                try buffer.withUnsafeReadableBytes { bytes in
                    hasher.update(bytes)
                    var written = 0
                    while written < bytes.count {
                        let n = pwrite(
                            fd, bytes.baseAddress! + written, bytes.count - written, off_t(offset) + off_t(written))
                        guard n > 0 else {
                            throw FileSystemError(operation: "write", path: partial, code: errno, isInput: false)
                        }
                        written += n
                    }
                }
                offset += Int64(buffer.readableBytes)
            }
        } catch let error as DistributionError {
            throw error
        } catch let error as FileSystemError {
            throw error
        } catch {
            throw classify(error, url: url(path))
        }
        guard offset == size else {
            throw DistributionError.network(url: url(path), detail: "the blob ended after \(offset) of \(size) bytes")
        }
        return offset
    }

    /// The session URL of an upload answer's `Location`.
    func nextUpload(_ response: HTTPClientResponse, after target: String) throws -> BlobUpload {
        guard let location = response.headers.first(name: "Location"), !location.isEmpty else {
            throw DistributionError.registry(
                url: url(target), status: Int(response.status.code), detail: "no Location header for the upload session"
            )
        }
        return BlobUpload(location: url(location))
    }

    /// N of `Range: 0-N` (upload progress); nil when absent.
    static func rangeEnd(_ header: String?) -> Int64? {
        guard let header, let dash = header.lastIndex(of: "-") else { return nil }
        return Int64(header[header.index(after: dash)...].trimmingCharacters(in: .whitespaces))
    }

    /// S of `Content-Range: bytes S-E/T`.
    static func rangeStart(_ header: String?) -> Int64? {
        guard var text = header?.trimmingCharacters(in: .whitespaces) else { return nil }
        if text.hasPrefix("bytes") { text = String(text.dropFirst(5)).trimmingCharacters(in: .whitespaces) }
        guard let dash = text.firstIndex(of: "-") else { return nil }
        return Int64(text[..<dash])
    }
}
