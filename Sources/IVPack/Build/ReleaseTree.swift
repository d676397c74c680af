#if canImport(Glibc)
    import Glibc
#endif

/// A file of the release folder that goes into the bundle.
public struct ReleaseFile: Sendable, Equatable {
    /// Component the file belongs to.
    public var component: String
    /// Path relative to the release folder, in normal form; the bundle entry is `payload/` + this.
    public var relativePath: String
    /// Path on disk (symbolic links inside the release folder resolved).
    public var diskPath: String
    public var size: Int64
    /// Whether any execute bit is set: the bundle records `0755`, otherwise `0644`.
    public var executable: Bool
}

/// A problem with the input files of a build: missing, unreadable, of the wrong type, or escaping.
public struct InputProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// The path as the spec names it (or the file found under a named folder).
    public var path: String
    /// Component concerned, when known.
    public var component: String?
    public var problem: String
    public var hint: String

    public var description: String {
        "\(component.map { "component \($0): " } ?? "")\(path): \(problem)\(hint.isEmpty ? "" : ". \(hint)")"
    }
}

/// The input files of a build are unusable; every problem found is listed.
public struct InputProblems: IVPackError, Equatable {
    public var problems: [InputProblem]
    public var exitStatus: ExitStatus { .badInput }
    public var description: String {
        "the release folder has \(problems.count) problem\(problems.count == 1 ? "" : "s"); no bundle was written:\n"
            + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Lists the files of each component from the release folder: folders walked in byte order of
/// their names, symbolic links followed only while they stay inside the release folder, loops
/// and special files refused. `.git` folders are never part of a bundle.
public struct ReleaseTree {
    /// Most files one release may hold.
    public static let maxFiles = 1_000_000

    /// The resolved release folder.
    public let root: String

    /// `root` must exist and be a folder.
    public init(root: String) throws {
        guard let resolved = Self.realPath(root) else {
            throw FileSystemError(operation: "open the release folder", path: root, code: errno, isInput: true)
        }
        self.root = resolved
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    private struct FileID: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    /// Files already collected, by identity, so that one file reached by two names (a link, or
    /// a folder link that walks a folder twice) is refused rather than shipped twice.
    private final class Registry: @unchecked Sendable {
        var seen: [FileID: (path: String, component: String)] = [:]
    }
    private let registry = Registry()

    /// The files of `paths` (relative to the root), each tagged with `component`.
    public func collect(
        component: String, paths: [String], into files: inout [ReleaseFile], problems: inout [InputProblem]
    ) {
        for path in paths {
            // The folders above the named path count as ancestors: a link back up to one of them is a loop.
            var ancestors: Set<FileID> = []
            var prefix = root
            var st = stat()
            if stat(prefix, &st) == 0 { ancestors.insert(FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))) }
            for part in path.split(separator: "/").dropLast() {
                prefix += "/" + part
                if stat(prefix, &st) == 0 {
                    ancestors.insert(FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)))
                }
            }
            visit(relative: path, component: component, ancestors: ancestors, files: &files, problems: &problems)
        }
    }

    /// The resolved disk path of a release-relative path, or a problem when it is missing or leaves the root.
    public func resolve(_ relative: String) -> Result<String, InputProblem> {
        let full = root + "/" + relative
        guard let real = Self.realPath(full) else {
            return .failure(
                InputProblem(
                    path: relative, component: nil, problem: String(cString: strerror(errno)),
                    hint: "Check the path in the spec"))
        }
        guard real == root || real.hasPrefix(root + "/") else {
            return .failure(
                InputProblem(
                    path: relative, component: nil, problem: "resolves to \(real), outside the release folder \(root)",
                    hint: "Keep every file of the release inside the spec's folder"))
        }
        return .success(real)
    }

    private func visit(
        relative: String, component: String, ancestors: Set<FileID>,
        files: inout [ReleaseFile], problems: inout [InputProblem]
    ) {
        func problem(_ text: String, _ hint: String = "") {
            problems.append(InputProblem(path: relative, component: component, problem: text, hint: hint))
        }
        if files.count > Self.maxFiles {
            if problems.last?.problem.hasPrefix("more than") != true {
                problem("more than \(Self.maxFiles) files in the release")
            }
            return
        }
        let full = root + "/" + relative
        var st = stat()
        guard lstat(full, &st) == 0 else {
            let code = errno
            problem(
                code == ENOENT ? "does not exist" : "cannot be read: \(String(cString: strerror(code)))",
                code == ENOENT
                    ? "Check the path in the spec; it is relative to the spec's folder" : "Check its permissions")
            return
        }
        var diskPath = full
        if (st.st_mode & S_IFMT) == S_IFLNK {
            guard let real = Self.realPath(full) else {
                problem(
                    "is a symbolic link that cannot be followed: \(String(cString: strerror(errno)))",
                    "Fix or remove the link")
                return
            }
            guard real == root || real.hasPrefix(root + "/") else {
                problem(
                    "is a symbolic link to \(real), outside the release folder",
                    "Copy the file into the release folder instead of linking to it")
                return
            }
            guard stat(real, &st) == 0 else {
                problem("cannot be read: \(String(cString: strerror(errno)))")
                return
            }
            diskPath = real
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            guard access(diskPath, R_OK) == 0 else {
                problem("cannot be read: \(String(cString: strerror(errno)))", "Check its permissions")
                return
            }
            let id = FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            if let first = registry.seen[id] {
                if first.path != relative {
                    problem(
                        "is the same file as \(first.path) (a link or a linked folder)",
                        "Ship each file once: list one of the names, or remove the link")
                } else if first.component != component {
                    problem(
                        "is also part of component \(first.component)", "Every file belongs to exactly one component")
                } else {
                    problem("is listed twice", "List each file once")
                }
                return
            }
            registry.seen[id] = (relative, component)
            files.append(
                ReleaseFile(
                    component: component, relativePath: relative, diskPath: diskPath,
                    size: Int64(st.st_size), executable: st.st_mode & 0o111 != 0))
        case S_IFDIR:
            let id = FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            if ancestors.contains(id) {
                problem(
                    "is a directory loop (a symbolic link back to one of its own parent folders)", "Remove the link")
                return
            }
            guard let dir = opendir(diskPath) else {
                problem("cannot be listed: \(String(cString: strerror(errno)))", "Check its permissions")
                return
            }
            var names: [[UInt8]] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    Array(raw.prefix(while: { $0 != 0 }))
                }
                if name == [0x2E] || name == [0x2E, 0x2E] || name == Array(".git".utf8) { continue }
                names.append(name)
            }
            closedir(dir)
            names.sort { $0.lexicographicallyPrecedes($1) }
            var inner = ancestors
            inner.insert(id)
            for raw in names {
                guard let name = String(validating: raw, as: UTF8.self) else {
                    problems.append(
                        InputProblem(
                            path: relative + "/" + String(decoding: raw, as: UTF8.self), component: component,
                            problem: "the file name is not valid UTF-8", hint: "Rename the file"))
                    continue
                }
                let child = relative + "/" + name
                if case .failure(let p) = RelativePath.normalize(child) {
                    problems.append(
                        InputProblem(
                            path: child, component: component, problem: "unusable file name: \(p)",
                            hint: "Rename the file"))
                    continue
                }
                visit(relative: child, component: component, ancestors: inner, files: &files, problems: &problems)
            }
        case S_IFIFO: problem("is a FIFO; only regular files can be bundled", "Remove it from the release folder")
        case S_IFSOCK: problem("is a socket; only regular files can be bundled", "Remove it from the release folder")
        case S_IFCHR, S_IFBLK:
            problem("is a device node; only regular files can be bundled", "Remove it from the release folder")
        default: problem("is not a regular file")
        }
    }
}
