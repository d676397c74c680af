#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file opened for reading; the descriptor is closed when the value is released. Immutable, and
/// every read is a positioned `pread`, so one value may be read from several threads at once.
public final class InputFile: @unchecked Sendable {
    /// The path as given, for messages.
    public let path: String
    let fd: Int32

    /// Opens `path` for reading. Refuses anything that is not a regular file.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FileSystemError(operation: "open for reading", path: path, code: errno, isInput: true)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            close(fd)
            throw FileSystemError(operation: "read file status", path: path, code: code, isInput: true)
        }
        if (st.st_mode & S_IFMT) != S_IFREG {
            close(fd)
            throw FileSystemError(operation: "read it as a regular file", path: path, code: EISDIR, isInput: true)
        }
        self.fd = fd
        self.size = Int64(st.st_size)
    }

    deinit { close(fd) }

    /// Tells the kernel the file will be read front to back (larger read-ahead).
    public func adviseSequential() {
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
    }

    /// Size at the time the file was opened.
    public let size: Int64

    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (0 at end of file).
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        while true {
            let n = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw FileSystemError(operation: "read", path: path, code: errno, isInput: true)
        }
    }

    /// Fills `buffer` completely from `offset` unless the file ends first; returns the count read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), at: offset + Int64(done))
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Reads `count` bytes at `offset` (fewer if the file ends first).
    public func readBytes(count: Int, at offset: Int64) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let n = try out.withUnsafeMutableBytes { (b) throws -> Int in try readFully(into: b, at: offset) }
        out.removeLast(count - n)
        return out
    }

    /// Reads the whole file, refusing one larger than `limit` bytes.
    public static func readAll(path: String, limit: Int) throws -> [UInt8] {
        let f = try InputFile(path: path)
        if f.size > Int64(limit) {
            throw FileSystemError(
                operation: "read it whole (it is \(f.size) bytes, the limit is \(limit))", path: path, code: EFBIG,
                isInput: true)
        }
        return try f.readBytes(count: Int(f.size), at: 0)
    }
}

/// An output written to a temporary file beside its destination and moved into place by
/// `commit()`. Where the file system allows (Linux `O_TMPFILE`), the temporary file has no name
/// until the commit, so not even `kill -9` leaves a partial file behind; elsewhere it is a hidden
/// `.NAME.tmp-XXXXXX` file, removed if the value is released without a commit.
public final class AtomicOutputFile {
    /// Final destination.
    public let path: String
    /// Name of the temporary file, for messages (for an unnamed file: where it will be linked).
    public let temporaryPath: String
    let fd: Int32
    /// Whether the temporary file is unnamed (`O_TMPFILE`) until the commit.
    let unnamed: Bool
    /// The destination's folder and file name.
    private let folder: String
    private let base: String
    private var committed = false

    /// Creates the temporary file (mode 0644 before umask) next to `path`.
    public init(path: String) throws {
        self.path = path
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let base = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
        let folder = directory.isEmpty ? "/" : directory
        self.folder = folder
        self.base = base
        let mode = 0o644 & ~Self.currentUmask()
        // O_TMPFILE is (__O_TMPFILE | O_DIRECTORY); the macro does not import.
        let oTmpFile: Int32 = 0o20000000 | O_DIRECTORY
        let anonymous = open(folder, oTmpFile | O_RDWR | O_CLOEXEC, mode)
        if anonymous >= 0 {
            fd = anonymous
            unnamed = true
            temporaryPath = "\(folder)/.\(base).tmp (unnamed until complete)"
            return
        }
        let code = errno
        // Only "not supported here" falls back; a missing or unwritable folder is the answer.
        guard code == EOPNOTSUPP || code == EISDIR || code == EINVAL else {
            throw FileSystemError(
                operation: "create a temporary output file in \(folder)", path: path, code: code, isInput: false)
        }
        var template = Array("\(folder)/.\(base).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FileSystemError(
                operation: "create a temporary output file in \(folder)", path: path, code: errno, isInput: false)
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        fchmod(fd, mode)
        self.fd = fd
        self.unnamed = false
        self.temporaryPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    private static func currentUmask() -> mode_t {
        let m = umask(0o022)
        umask(m)
        return m
    }

    deinit {
        if !committed && !unnamed { unlink(temporaryPath) }
        close(fd)
    }

    /// Writes all of `bytes` at the current end of what has been written so far.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try writeFully(fd, bytes, path: temporaryPath)
    }

    /// Writes `bytes` at `offset`, leaving the append position unchanged.
    public func write(_ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { try writeFully(fd, $0, at: offset, path: temporaryPath) }
    }

    /// Flushes the data to stable storage and renames the file into place.
    public func commit() throws {
        guard fsync(fd) == 0 else {
            throw FileSystemError(operation: "flush to disk", path: temporaryPath, code: errno, isInput: false)
        }
        if unnamed {
            // Give the finished file a temporary name, then rename it over the destination
            // (linkat cannot replace an existing file; rename can, atomically).
            var linked: String?
            for attempt in 0..<100 {
                let name = "\(folder == "/" ? "" : folder)/.\(base).tmp-\(getpid())-\(attempt)"
                if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0 {
                    linked = name
                    break
                }
                if errno != EEXIST {
                    throw FileSystemError(
                        operation: "give the finished output a name", path: path, code: errno, isInput: false)
                }
            }
            guard let linked else {
                throw FileSystemError(
                    operation: "give the finished output a name", path: path, code: EEXIST, isInput: false)
            }
            guard rename(linked, path) == 0 else {
                let code = errno
                unlink(linked)
                throw FileSystemError(
                    operation: "rename the finished output into place", path: path, code: code, isInput: false)
            }
        } else {
            guard rename(temporaryPath, path) == 0 else {
                throw FileSystemError(
                    operation: "rename the finished output into place", path: path, code: errno, isInput: false)
            }
        }
        committed = true
        let dfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}

extension AtomicOutputFile {
    /// Appends `count` bytes of `source` from `offset`: copy_file_range(2), so the bytes move in
    /// the kernel (and are shared where the file system can), with read/write where the call is
    /// not supported (another file system, an old kernel).
    func append(from source: UpdatableFile, offset: Int64, count: Int64) throws {
        var from = Int(offset)
        var left = count
        while left > 0 {
            let n = copyFileRange(from: source.fd, at: &from, to: fd, count: Int(min(left, 1 << 30)))
            if n > 0 {
                left -= Int64(n)
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL) || n == 0 {
                // Not supported here (or the source ended early, which the read below reports).
                while left > 0 {
                    let bytes = try source.read(count: Int(min(left, 1 << 20)), at: Int64(from))
                    guard !bytes.isEmpty else {
                        throw FileSystemError(
                            operation: "copy (the file ended \(left) bytes early)", path: source.path, code: EIO,
                            isInput: true)
                    }
                    try bytes.withUnsafeBytes { try write($0) }
                    from += bytes.count
                    left -= Int64(bytes.count)
                }
                return
            }
            throw FileSystemError(
                operation: "copy into \(temporaryPath)", path: source.path, code: errno, isInput: false)
        }
    }

    /// Gives the output the permission bits of `file`.
    func keepMode(of file: UpdatableFile) throws {
        var st = stat()
        guard fstat(file.fd, &st) == 0 else {
            throw FileSystemError(operation: "read file status", path: file.path, code: errno, isInput: true)
        }
        guard fchmod(fd, st.st_mode & 0o7777) == 0 else {
            throw FileSystemError(operation: "set the permissions", path: temporaryPath, code: errno, isInput: false)
        }
    }
}

/// The folders of the files a command will write, made ready before it does any work (issue 19:
/// `verify --report newiq/r.json` hashed the whole bundle, then failed on the missing folder with
/// no verdict): a missing folder is created with its parents, like `mkdir -p`; one that cannot be
/// created or written is an output error (exit 3) naming it.
public enum OutputFolder {
    /// Prepares the folder of each path given (nil entries are skipped).
    public static func prepare(_ paths: String?...) throws {
        for case let path? in paths { try prepare(for: path) }
    }

    /// Prepares the folder of `path`.
    public static func prepare(for path: String) throws {
        let folder = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        try makeFolders(folder)
        var st = stat()
        if stat(folder, &st) == 0, st.st_mode & S_IFMT != S_IFDIR {
            throw FileSystemError(
                operation: "use \(folder) as its folder (it is not a folder)", path: path, code: ENOTDIR, isInput: false
            )
        }
        try writable(folder, for: path)
    }

    /// Creates `path` and its missing parents (mode 0755 before umask), like `mkdir -p`.
    static func makeFolders(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 { return }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeFolders(String(path[..<slash]))
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw FileSystemError(operation: "create the folder", path: path, code: errno, isInput: false)
        }
    }

    private static func writable(_ folder: String, for path: String) throws {
        if access(folder, W_OK | X_OK) != 0 {
            throw FileSystemError(operation: "write into its folder \(folder)", path: path, code: errno, isInput: false)
        }
    }
}

/// A file updated in place (a bundle receiving a signature), locked against other ivpack
/// processes for as long as the value lives.
public final class UpdatableFile {
    public let path: String
    let fd: Int32

    /// Opens `path` for reading and writing and takes an exclusive lock, without waiting.
    public init(path: String) throws {
        self.path = path
        self.fd = try Self.openLocked(path)
    }

    /// The descriptor of `path`, open for update and exclusively locked.
    private static func openLocked(_ path: String) throws -> Int32 {
        // `sign --replace` renames a new file over the bundle: a process that opened the old one
        // and waited for its lock would otherwise update a file that no longer has the name, so
        // the lock counts only while the name still leads to the locked file.
        for _ in 0..<100 {
            let fd = open(path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else {
                throw FileSystemError(operation: "open for update", path: path, code: errno, isInput: true)
            }
            // Wait a little for a lock held briefly by someone else (for instance a child process of a
            // multi-threaded host that has not reached exec yet), then give up with a clear message.
            var attempts = 0
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                if code == EWOULDBLOCK && attempts < 300 {
                    attempts += 1
                    usleep(10_000)
                    continue
                }
                close(fd)
                if code == EWOULDBLOCK {
                    throw FileSystemError(
                        operation: "lock it (another ivpack process is updating this bundle; wait for it to finish)",
                        path: path, code: code, isInput: false)
                }
                throw FileSystemError(operation: "lock it", path: path, code: code, isInput: false)
            }
            var held = stat()
            var named = stat()
            if fstat(fd, &held) == 0, stat(path, &named) == 0,
                held.st_ino != named.st_ino || held.st_dev != named.st_dev
            {
                close(fd)
                continue
            }
            return fd
        }
        throw FileSystemError(
            operation: "lock it (it was replaced 100 times while ivpack waited)", path: path, code: EAGAIN,
            isInput: false)
    }

    deinit { close(fd) }

    /// Current size in bytes.
    public func size() throws -> Int64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FileSystemError(operation: "read file status", path: path, code: errno, isInput: true)
        }
        return Int64(st.st_size)
    }

    /// Reads `count` bytes at `offset` (fewer at the end of the file).
    public func read(count: Int, at offset: Int64) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(operation: "read", path: path, code: errno, isInput: true)
            }
            if n == 0 { break }
            done += n
        }
        out.removeLast(count - done)
        return out
    }

    /// Writes `bytes` at `offset`.
    public func write<C: Collection<UInt8>>(_ bytes: C, at offset: Int64) throws {
        let array = Array(bytes)
        try array.withUnsafeBytes { try writeFully(fd, $0, at: offset, path: path) }
    }

    /// Flushes data to stable storage.
    public func sync() throws {
        guard fsync(fd) == 0 else {
            throw FileSystemError(operation: "flush to disk", path: path, code: errno, isInput: false)
        }
    }

    /// Cuts or extends the file to `size` bytes.
    public func truncate(to size: Int64) throws {
        guard ftruncate(fd, off_t(size)) == 0 else {
            throw FileSystemError(operation: "truncate", path: path, code: errno, isInput: false)
        }
    }
}

/// Writes all of `bytes` to `fd`, at `offset` (`pwrite`) or, when nil, at the file position
/// (`write`), retrying short writes and EINTR. A failure is a `FileSystemError` on `path`, an
/// output (exit 3). The one write loop of ivpack's outputs.
func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64? = nil, path: String)
    throws(FileSystemError)
{
    var done = 0
    while done < bytes.count {
        let n =
            offset.map { pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t($0) + off_t(done)) }
            ?? Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0 {
            if errno == EINTR { continue }
            throw FileSystemError(operation: "write", path: path, code: errno, isInput: false)
        }
        done += n
    }
}

/// Writes `bytes` to a NEW file at `path` with exactly `mode` (never an overwrite: `O_EXCL`; no
/// symbolic link followed), synced; a failed write removes the file. For secrets (a private key,
/// a content key) and anything that must not replace what is there. `what` names the file in
/// errors ("the content key file").
public func writeNewFile(_ path: String, mode: mode_t, what: String, _ bytes: UnsafeRawBufferPointer) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
    guard fd >= 0 else {
        throw FileSystemError(operation: "create \(what)", path: path, code: errno, isInput: false)
    }
    do {
        // The mode given to open is masked by the umask; this is the mode the file must have.
        guard fchmod(fd, mode) == 0 else {
            throw FileSystemError(operation: "set the mode of", path: path, code: errno, isInput: false)
        }
        try writeFully(fd, bytes, path: path)
        guard fsync(fd) == 0 else {
            throw FileSystemError(operation: "sync", path: path, code: errno, isInput: false)
        }
        close(fd)
    } catch {
        close(fd)
        unlink(path)
        throw error
    }
}
