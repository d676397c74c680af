import Foundation

/// Where the files a gate report names live, so that machine formats (SARIF, GitLab Code Quality,
/// JUnit) can name them relative to the repository: code scanning and merge-request widgets
/// attach a finding to a file only when its path is relative to the repository's root.
///
/// A finding names a file either as the user named it on the command line (the spec, the
/// bundle, the previous bundle, the notes of a spec: relative to the current directory or
/// absolute) or, inside a bundle, by its release-relative path (`release-notes/V2.3.1.1024.md`,
/// under the folder of the spec the bundle was built from).
public struct GateArtifactRoots: Sendable, Equatable {
    /// The repository's root (SARIF `%SRCROOT%`): absolute, without a trailing slash.
    public var sourceRoot: String
    /// The release folder (SARIF `RELEASEROOT`): the spec's folder; absolute, no trailing slash.
    public var releaseRoot: String
    /// The folder relative command-line paths are relative to: absolute.
    public var workingDirectory: String

    /// SARIF's conventional base ID for the repository root.
    public static let sourceRootID = "%SRCROOT%"
    /// The base ID of the release folder.
    public static let releaseRootID = "RELEASEROOT"

    /// Roots given explicitly (each made absolute against `workingDirectory`).
    public init(sourceRoot: String, releaseRoot: String, workingDirectory: String) {
        let cwd = Self.canonical(workingDirectory, in: "/")
        self.workingDirectory = cwd
        self.sourceRoot = Self.canonical(sourceRoot, in: cwd)
        self.releaseRoot = Self.canonical(releaseRoot, in: cwd)
    }

    /// The roots for a report on `target` (a spec, a folder holding one, or a bundle).
    ///
    /// The source root is `sourceRoot` when given, else the root of the git working tree that
    /// contains the release folder (the current directory for a bundle), else the current
    /// directory. The release folder is `releaseRoot` when given, else the spec's folder for a
    /// spec; for a bundle, the folder of the one spec under the source root whose SHA-256 is
    /// `specSHA256` (the manifest's `provenance.specSHA256`: the spec it was built from), else
    /// the source root.
    public static func resolve(
        target: String, kind: ReleaseUnderCheck.Kind, sourceRoot: String? = nil, releaseRoot: String? = nil,
        specSHA256: SHA256Digest? = nil, workingDirectory: String = FileManager.default.currentDirectoryPath
    ) -> GateArtifactRoots {
        let cwd = canonical(workingDirectory, in: "/")
        var release: String? = releaseRoot.map { canonical($0, in: cwd) }
        if release == nil && kind == .spec {
            var isFolder: ObjCBool = false
            let t = canonical(target, in: cwd)
            let folder =
                FileManager.default.fileExists(atPath: t, isDirectory: &isFolder) && isFolder.boolValue
                ? t : (t as NSString).deletingLastPathComponent
            release = folder
        }
        let source: String
        if let sourceRoot {
            source = canonical(sourceRoot, in: cwd)
        } else if let repository = try? GitRepository(discoveringFrom: release ?? cwd) {
            source = canonical(repository.workingDirectory, in: cwd)
        } else {
            source = cwd
        }
        if release == nil, let specSHA256 {
            release = specFolder(digest: specSHA256, under: source)
        }
        return GateArtifactRoots(sourceRoot: source, releaseRoot: release ?? source, workingDirectory: cwd)
    }

    /// How deep under the source root the spec of a bundle is looked for (`release/ivpack.yaml`
    /// is depth 2), how many entries are looked at, and the largest YAML file read.
    static let specSearchDepth = 4
    static let specSearchEntries = 20_000
    static let specSearchMaxBytes = 4 << 20

    /// The folder of the one YAML file under `root` (hidden folders skipped) whose SHA-256 is
    /// `digest`; nil when there is none, or more than one in different folders.
    static func specFolder(digest: SHA256Digest, under root: String) -> String? {
        let files = FileManager.default
        var queue: [(path: String, depth: Int)] = [(root, 0)]
        var seen = 0
        var found: Set<String> = []
        while !queue.isEmpty, seen < specSearchEntries {
            let (folder, depth) = queue.removeFirst()
            guard let names = try? files.contentsOfDirectory(atPath: folder) else { continue }
            for name in names.sorted() where !name.hasPrefix(".") {
                seen += 1
                let path = folder + "/" + name
                var isFolder: ObjCBool = false
                guard files.fileExists(atPath: path, isDirectory: &isFolder) else { continue }
                if isFolder.boolValue {
                    if depth + 1 < specSearchDepth { queue.append((path, depth + 1)) }
                } else if name.hasSuffix(".yaml") || name.hasSuffix(".yml"),
                    let size = (try? files.attributesOfItem(atPath: path))?[.size] as? Int, size <= specSearchMaxBytes,
                    let bytes = files.contents(atPath: path), SHA256Digest.of(bytes) == digest
                {
                    found.insert(folder)
                }
            }
        }
        return found.count == 1 ? found.first : nil
    }

    /// Where a finding's file is: a path relative to the source root when it lies under it, else
    /// the absolute path (relative is nil).
    public struct Location: Sendable, Equatable {
        /// The absolute path.
        public var absolute: String
        /// The path relative to the source root, when the file lies under it.
        public var relative: String?
        /// What to show: the relative path, else the absolute one.
        public var path: String { relative ?? absolute }
    }

    /// The location of `file` as a finding of `report` names it: a release-relative path in a
    /// bundle report is under the release folder, anything else is a command-line path.
    public func locate(_ file: String, in report: GateReport) -> Location {
        let commandLine =
            report.kind == .spec || file == report.target || file == report.previous?.path || file.hasPrefix("/")
        let absolute = Self.canonical(file, in: commandLine ? workingDirectory : releaseRoot)
        return Location(absolute: absolute, relative: Self.relative(absolute, to: sourceRoot))
    }

    /// The release folder relative to the source root (`release/`, or `` when they are the same),
    /// nil when the release folder is outside it.
    public var releaseRootRelative: String? {
        Self.relative(releaseRoot, to: sourceRoot).map { $0.isEmpty ? "" : $0 + "/" }
    }

    /// `path` under `root`, without a leading slash ("" for the root itself); nil outside it.
    static func relative(_ path: String, to root: String) -> String? {
        if path == root { return "" }
        let prefix = root == "/" ? "/" : root + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : nil
    }

    /// `path` made absolute against `base`, `.` and `..` removed, symbolic links resolved when the
    /// path exists (git reports the real path of its working tree), no trailing slash.
    static func canonical(_ path: String, in base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        var parts: [Substring] = []
        for part in joined.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        let lexical = "/" + parts.joined(separator: "/")
        guard let real = realpath(lexical, nil) else { return lexical }
        defer { free(real) }
        return String(cString: real)
    }
}
