#if canImport(Glibc)
    import Glibc
#endif

/// The site's state under an install root: configuration and data that belong to the hospital,
/// not to a release, and survive upgrades (the release's `install.state` paths, under
/// `ROOT/state/`). Before a release is left, its state is copied into a snapshot
/// (`ROOT/.ivpack/snapshots/NAME/`, NAME the release left); rolling back to NAME puts that
/// snapshot back, byte for byte (draft standard 5.2.2: data kept whole and consistent).
///
/// Copies use `FICLONE` (a reflink: no data copied) where the file system shares extents (XFS,
/// Btrfs), else a read-write copy. Nothing is followed: a state path that is itself a symbolic
/// link is refused (its target would be outside the snapshot's reach), and links inside a state
/// path are copied as links. Every step goes through folder descriptors (`Directory`).
enum StateStore {
    static let stateFolder = "state"
    static let snapshotsFolder = "snapshots"
    /// The snapshot taken before a first install (no release was left).
    static let initialSnapshot = "initial"
    static let partialSuffix = ".partial"
    static let restorePrefix = ".ivpack-restore-"
    static let discardPrefix = ".ivpack-discard-"
    /// `_IOW(0x94, 9, int)`: share the extents of the file given as argument.
    private static let ficlone: UInt = 0x4004_9409

    /// What a snapshot or a restore copied.
    struct Summary: Sendable, Equatable {
        var files = 0
        var folders = 0
        var links = 0
        var bytes: Int64 = 0
        /// Files copied by reflink (no data copied).
        var cloned = 0

        var text: String {
            let clone = cloned == 0 ? "copied" : cloned == files ? "reflinked" : "\(cloned) reflinked, the rest copied"
            return
                "\(files) file\(files == 1 ? "" : "s") (\(bytes) bytes, \(clone)), \(folders) folder\(folders == 1 ? "" : "s"), \(links) link\(links == 1 ? "" : "s")"
        }
    }

    /// The snapshot's record of the paths it holds (`snapshots/NAME/paths.json`,
    /// Schemas/state-snapshot.schema.json): a restore puts back exactly these.
    static let pathsFile = "paths.json"
    static let pathsFormat = "ivpack-state-snapshot/1"
    /// The copy of the state inside a snapshot.
    static let copyFolder = "state"

    /// The state paths of two releases together, a path inside another left out (the outer one
    /// holds it), in byte order.
    static func union(_ a: [String], _ b: [String]) -> [String] {
        let all = Set(a + b).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        return all.filter { path in !all.contains { $0 != path && path.hasPrefix($0 + "/") } }
    }

    /// Copies every state path in `paths` from `live` into `snapshots/NAME/state/`, with the list
    /// in `paths.json`: first into `NAME.partial`, flushed, then renamed, so that a snapshot that
    /// exists is complete. A state path that does not exist yet is absent from the copy (and a
    /// restore removes it).
    static func snapshot(
        _ paths: [String], from live: Directory, into snapshots: Directory, name: String
    ) throws -> Summary {
        let partial = name + partialSuffix
        try snapshots.removeTree(partial)
        let folder = try snapshots.newFolder(partial)
        let record = JSONValue.object([
            ("format", .string(pathsFormat)), ("paths", .array(paths.map { .string($0) })),
        ])
        let out = try folder.newFile(pathsFile, mode: 0o644)
        try Array((PrettyJSON.render(record) + "\n").utf8).withUnsafeBytes { try out.append($0) }
        let target = try folder.newFolder(copyFolder)
        var summary = Summary()
        for path in paths {
            guard let (parent, leaf) = try openParent(of: path, in: live, create: false) else { continue }
            guard let st = parent.status(leaf) else { continue }
            try refuseLink(st, path: parent.child(leaf))
            let (destination, _) = try openParent(of: path, in: target, create: true)!
            try copy(leaf, from: parent, to: leaf, in: destination, summary: &summary)
        }
        try target.syncFileSystem()
        try snapshots.removeTree(name)
        try snapshots.rename(partial, to: name)
        try snapshots.sync()
        return summary
    }

    /// Whether a complete snapshot `NAME` exists.
    static func exists(_ name: String, in snapshots: Directory) -> Bool {
        snapshots.status(name).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
    }

    /// Puts `snapshots/NAME` back as the live state of every path it records: each path is copied
    /// beside its live version under a temporary name, then swapped in by two renames; a recorded
    /// path the copy lacks is removed. Safe to run again after a crash at any point: leftovers of
    /// an earlier run are removed first, and the snapshot is only read. Returns the paths too.
    static func restore(
        from snapshots: Directory, name: String, into live: Directory
    ) throws -> (paths: [String], summary: Summary) {
        let folder = try snapshots.folder(name, create: false)
        let paths = try readPaths(folder)
        let snapshot = try folder.folder(copyFolder, create: false)
        var summary = Summary()
        for path in paths {
            let (parent, leaf) = try openParent(of: path, in: live, create: true)!
            let temporary = restorePrefix + leaf
            let discard = discardPrefix + leaf
            try parent.removeTree(temporary)
            try parent.removeTree(discard)
            if let st = parent.status(leaf) { try refuseLink(st, path: parent.child(leaf)) }
            var source: (Directory, String)?
            if let (p, l) = try openParent(of: path, in: snapshot, create: false), p.status(l) != nil {
                source = (p, l)
            }
            if let (sourceParent, sourceLeaf) = source {
                try copy(sourceLeaf, from: sourceParent, to: temporary, in: parent, summary: &summary)
            }
            if parent.status(leaf) != nil { try parent.rename(leaf, to: discard) }
            if source != nil { try parent.rename(temporary, to: leaf) }
            try parent.removeTree(discard)
            try parent.sync()
        }
        try live.syncFileSystem()
        return (paths, summary)
    }

    /// The paths a snapshot records, each checked again (the file is under the root, which a
    /// hostile hand may have edited): canonical, relative, at most `InstallSpec.maxStatePaths`.
    private static func readPaths(_ folder: Directory) throws -> [String] {
        let file = folder.child(pathsFile)
        let bytes = try InputFile.readAll(path: file, limit: 1 << 20)
        let bad = { (problem: String) in
            InputError(
                .installState,
                Diagnostic(
                    file: file, problem: problem,
                    hint:
                        "The file is written by ivpack only; remove the snapshot folder (that release then rolls back without restoring the state)"
                ))
        }
        guard let value = try? JSONParser.parse(bytes), let members = value.objectValue,
            members.count == 2, value["format"]?.stringValue == pathsFormat,
            let list = value["paths"]?.arrayValue, list.count <= InstallSpec.maxStatePaths
        else {
            throw bad("is not an \(pathsFormat) record")
        }
        return try list.map { item in
            guard let path = item.stringValue, RelativePath.isCanonical(path) else {
                throw bad("holds a path that is not canonical and relative")
            }
            return path
        }
    }

    /// Opens the folder holding `path` (canonical, relative) inside `base`, creating the folders
    /// on the way when `create` is set; nil when one is absent and `create` is not set. A link on
    /// the way is refused (`Directory.folder` opens with `O_NOFOLLOW`).
    private static func openParent(
        of path: String, in base: Directory, create: Bool
    ) throws -> (Directory, String)? {
        var parts = path.split(separator: "/").map(String.init)
        let leaf = parts.removeLast()
        var folder = base
        for part in parts {
            if !create {
                guard let st = folder.status(part) else { return nil }
                try refuseLink(st, path: folder.child(part))
            }
            folder = try folder.folder(part, create: create)
        }
        return (folder, leaf)
    }

    private static func refuseLink(_ st: stat, path: String) throws {
        if st.st_mode & S_IFMT == S_IFLNK {
            throw StatePathRefusal(
                path: path,
                problem:
                    "a state path is a symbolic link; ivpack does not follow links out of the install root, so it could neither snapshot nor restore what it names. Make it a folder (mount another disk there if the data lives elsewhere)"
            )
        }
    }

    /// Copies `name` in `source` to `newName` in `destination`: a folder with everything in it, a
    /// regular file, or a link as a link. Modes (set-user-ID and set-group-ID dropped), owners
    /// when running as root, and modification times are kept.
    private static func copy(
        _ name: String, from source: Directory, to newName: String, in destination: Directory,
        summary: inout Summary
    ) throws {
        guard let st = source.status(name) else { return }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            let from = try source.folder(name, create: false)
            let to = try destination.newFolder(newName)
            for inner in try from.names() { try copy(inner, from: from, to: inner, in: to, summary: &summary) }
            try keepAttributes(of: st, on: to.fd, path: to.path)
            summary.folders += 1
        case S_IFREG:
            try copyFile(name, from: source, to: newName, in: destination, size: st, summary: &summary)
        case S_IFLNK:
            guard let target = source.linkTarget(name), symlinkat(target, destination.fd, newName) == 0 else {
                throw FileSystemError(
                    operation: "copy the link", path: source.child(name), code: errno, isInput: false)
            }
            summary.links += 1
        default:
            throw StatePathRefusal(
                path: source.child(name),
                problem:
                    "is \(Directory.describe(mode: st.st_mode)); the site's state may hold folders, files and links only. Move it out of the state path"
            )
        }
    }

    private static func copyFile(
        _ name: String, from source: Directory, to newName: String, in destination: Directory, size st: stat,
        summary: inout Summary
    ) throws {
        let input = openat(source.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard input >= 0 else {
            throw FileSystemError(operation: "open for reading", path: source.child(name), code: errno, isInput: false)
        }
        defer { close(input) }
        let out = try destination.newFile(newName, mode: 0o600)
        if ioctl(out.fd, ficlone, input) == 0 {
            summary.cloned += 1
        } else {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileSystemError(operation: "read", path: source.child(name), code: errno, isInput: false)
                }
                if n == 0 { break }
                try buffer.withUnsafeBytes { try out.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
        }
        try keepAttributes(of: st, on: out.fd, path: out.path)
        summary.files += 1
        summary.bytes += Int64(st.st_size)
    }

    private static func keepAttributes(of st: stat, on fd: Int32, path: String) throws {
        if geteuid() == 0 { _ = fchown(fd, st.st_uid, st.st_gid) }
        guard fchmod(fd, st.st_mode & 0o1777) == 0 else {
            throw FileSystemError(operation: "set the mode of", path: path, code: errno, isInput: false)
        }
        var times = [st.st_atim, st.st_mtim]
        _ = futimens(fd, &times)
    }
}

/// Why a state path cannot be snapshotted or restored: the path and the problem, in words.
public struct StatePathRefusal: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }
}
