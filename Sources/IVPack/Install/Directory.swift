#if canImport(Glibc)
    import Glibc
#endif

/// An open folder that every install write goes through: files and folders are created relative
/// to its descriptor (`openat`, `mkdirat`, `renameat`, `symlinkat`), never by a path string, and
/// nothing below it is followed if it is a symbolic link (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`).
/// So however a name or a folder is changed under it, a write cannot land outside it. The
/// descriptor is closed when the value is released.
final class Directory: @unchecked Sendable {
    /// The folder's path, for messages only.
    let path: String
    let fd: Int32

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Opens the folder at `path`. A symbolic link is refused (`O_NOFOLLOW`): the root must be
    /// named by its real path.
    static func open(path: String, isInput: Bool = false) throws(FileSystemError) -> Directory {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw FileSystemError(operation: "open the folder", path: path, code: errno, isInput: isInput)
        }
        return Directory(fd: fd, path: path)
    }

    /// `path` of a name inside this folder, for messages.
    func child(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    /// Opens the folder `name` (one component) inside this one, creating it with mode 0755 first
    /// when `create` is set and it is absent. A link or a file there is refused.
    func folder(_ name: String, create: Bool) throws(FileSystemError) -> Directory {
        var created = false
        if create {
            if mkdirat(fd, name, 0o755) == 0 {
                created = true
            } else if errno != EEXIST {
                throw FileSystemError(operation: "create the folder", path: child(name), code: errno, isInput: false)
            }
        }
        let sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard sub >= 0 else {
            let code = errno
            // O_NOFOLLOW on a link gives ELOOP (or ENOTDIR with O_DIRECTORY): say what is there.
            let what = kind(of: name)
            throw FileSystemError(
                operation: what.map { "open it as a folder (it is \($0))" } ?? "open the folder", path: child(name),
                code: code, isInput: false)
        }
        // The umask must not narrow a folder ivpack makes: 0755, as every release has it.
        if created { _ = fchmod(sub, 0o755) }
        return Directory(fd: sub, path: child(name))
    }

    /// Creates the folder `name` with mode 0755, refusing one that exists (`mkdirat` never
    /// follows a link), and opens it.
    func newFolder(_ name: String) throws(FileSystemError) -> Directory {
        guard mkdirat(fd, name, 0o755) == 0 else {
            throw FileSystemError(operation: "create the folder", path: child(name), code: errno, isInput: false)
        }
        let made = try folder(name, create: false)
        _ = fchmod(made.fd, 0o755)
        return made
    }

    /// Creates the regular file `name` for writing with exactly `mode` (umask aside): `O_EXCL`
    /// refuses anything already there, a link included.
    func newFile(_ name: String, mode: mode_t) throws(FileSystemError) -> OutputDescriptor {
        let out = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard out >= 0 else {
            throw FileSystemError(operation: "create the file", path: child(name), code: errno, isInput: false)
        }
        guard fchmod(out, mode) == 0 else {
            let code = errno
            close(out)
            throw FileSystemError(operation: "set the mode of", path: child(name), code: code, isInput: false)
        }
        return OutputDescriptor(fd: out, path: child(name))
    }

    /// What `name` is, without following a link: "a symbolic link", "a file", ...; nil if absent.
    func kind(of name: String) -> String? {
        guard let st = status(name) else { return nil }
        return Self.describe(mode: st.st_mode)
    }

    static func describe(mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a folder"
        case S_IFLNK: return "a symbolic link"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        default: return "a special file"
        }
    }

    /// `fstatat` without following a link; nil if absent.
    func status(_ name: String) -> stat? {
        var st = stat()
        return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    /// The target of the symbolic link `name`, or nil if it is absent or not a link.
    func linkTarget(_ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlinkat(fd, name, &buffer, 4096)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The names in this folder, `.` and `..` left out, in byte order.
    func names() throws(FileSystemError) -> [String] {
        let copy = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0, let stream = fdopendir(copy) else {
            throw FileSystemError(operation: "list the folder", path: path, code: errno, isInput: false)
        }
        defer { closedir(stream) }
        var out: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// Removes `name` and, if it is a folder, everything in it, never following a link (a link is
    /// removed, not its target). Nothing happens if it is absent.
    func removeTree(_ name: String) throws(FileSystemError) {
        guard let st = status(name) else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            let sub = try folder(name, create: false)
            for inner in try sub.names() { try sub.removeTree(inner) }
            guard unlinkat(fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT else {
                throw FileSystemError(operation: "remove the folder", path: child(name), code: errno, isInput: false)
            }
        } else {
            guard unlinkat(fd, name, 0) == 0 || errno == ENOENT else {
                throw FileSystemError(operation: "remove", path: child(name), code: errno, isInput: false)
            }
        }
    }

    /// Renames `from` to `to`, both in this folder (atomically replacing `to` unless it is a
    /// non-empty folder).
    func rename(_ from: String, to: String) throws(FileSystemError) {
        guard renameat(fd, from, fd, to) == 0 else {
            throw FileSystemError(operation: "rename it to \(to)", path: child(from), code: errno, isInput: false)
        }
    }

    /// Points the symbolic link `name` at `target`, atomically: a new link under a temporary name,
    /// renamed over `name` (`rename(2)` replaces it in one step, so at every instant `name` is the
    /// old link or the new one), then the folder is flushed.
    func replaceLink(_ name: String, target: String, temporaryName: String) throws(FileSystemError) {
        _ = unlinkat(fd, temporaryName, 0)
        guard symlinkat(target, fd, temporaryName) == 0 else {
            throw FileSystemError(
                operation: "create the link to \(target)", path: child(temporaryName), code: errno, isInput: false)
        }
        guard renameat(fd, temporaryName, fd, name) == 0 else {
            let code = errno
            _ = unlinkat(fd, temporaryName, 0)
            throw FileSystemError(
                operation: "rename the new link over \(name)", path: child(temporaryName), code: code, isInput: false)
        }
        try sync()
    }

    /// Flushes the folder's entries to stable storage.
    func sync() throws(FileSystemError) {
        guard fsync(fd) == 0 else {
            throw FileSystemError(operation: "flush the folder to disk", path: path, code: errno, isInput: false)
        }
    }

    /// Flushes every file and folder of the file system holding this folder (`syncfs(2)`): one call
    /// where a release of 20,000 files would need 20,000 `fsync`s. Since Linux 5.8 it also reports
    /// a write-back error of any file of that file system.
    func syncFileSystem() throws(FileSystemError) {
        guard let syncfs = Self.syncfs else {
            Glibc.sync()
            return
        }
        guard syncfs(fd) == 0 else {
            throw FileSystemError(operation: "flush the file system to disk", path: path, code: errno, isInput: false)
        }
    }

    /// glibc's `syncfs`, declared only under _GNU_SOURCE, which Glibc's Swift module does not set:
    /// looked up once (nil on a C library without it; then `sync()` flushes everything).
    private static let syncfs: (@convention(c) (Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
    }()
}

/// A file being written by install; the descriptors are closed when the last user lets go (the
/// reading thread, or the last worker that wrote one of its chunks).
final class OutputDescriptor: ChunkSink, @unchecked Sendable {
    let fd: Int32
    let path: String
    /// A second descriptor of the same open file with `O_DIRECT`, once `writeDirectly()` made it.
    private var directFD: Int32 = -1
    /// Direct writes must start at, and cover, whole blocks of this size, from memory aligned so.
    static let directAlignment = 4096

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit {
        if directFD >= 0 { close(directFD) }
        close(fd)
    }

    /// From now on, writes of whole aligned blocks bypass the page cache (`O_DIRECT`); the rest
    /// (a file's last partial block) is written through it. For large files: a buffered write
    /// made install copy every byte into freshly allocated page-cache pages (2 GiB: 1.4-2.2 s of
    /// kernel CPU, 0.9 GB/s, two workers queueing on the file's lock) only to flush them again
    /// at `syncfs`. Returns false, and writes stay buffered, where the file system refuses
    /// `O_DIRECT`. Call before the first write, from the thread that made the file.
    @discardableResult
    func writeDirectly() -> Bool {
        guard directFD < 0 else { return true }
        // The same inode reopened through its descriptor, not by name: nothing to race.
        let reopened = Glibc.open("/proc/self/fd/\(fd)", O_WRONLY | O_CLOEXEC | LinuxConstants.oDirect)
        guard reopened >= 0 else { return false }
        var a = stat()
        var b = stat()
        guard fstat(fd, &a) == 0, fstat(reopened, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino else {
            close(reopened)
            return false
        }
        directFD = reopened
        return true
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var bytes = bytes
        var offset = offset
        let align = Self.directAlignment
        if directFD >= 0, let base = bytes.baseAddress, Int(bitPattern: base) % align == 0,
            offset % Int64(align) == 0, bytes.count >= align
        {
            let whole = bytes.count / align * align
            var done = 0
            while done < whole {
                let n = pwrite(directFD, base + done, whole - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    // The file system took O_DIRECT at open but refuses this write: buffered, below.
                    if errno == EINVAL { break }
                    throw FileSystemError(operation: "write", path: path, code: errno, isInput: false)
                }
                done += n
            }
            if done == whole {
                bytes = UnsafeRawBufferPointer(rebasing: bytes[whole...])
                offset += Int64(whole)
            }
        }
        if !bytes.isEmpty { try writeFully(fd, bytes, at: offset, path: path) }
    }

    /// Writes all of `bytes` at the current position.
    func append(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
        try writeFully(fd, bytes, path: path)
    }

    /// Sets the file's size (the workers then write its chunks in any order).
    func setSize(_ size: Int64) throws(FileSystemError) {
        guard ftruncate(fd, off_t(size)) == 0 else {
            throw FileSystemError(operation: "set the size of", path: path, code: errno, isInput: false)
        }
    }
}
