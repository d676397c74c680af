#if canImport(Glibc)
    import Glibc
#endif

/// An install root on disk, opened for a change under its lock:
///
///     ROOT/current -> releases/V2.4.0.1101-1f2e3d4c5b6a      the active release (a symbolic link)
///     ROOT/releases/V2.4.0.1101-1f2e3d4c5b6a/                 a release: the payload tree as is
///     ROOT/releases/V2.4.0.1101-1f2e3d4c5b6a.manifest.json    its manifest, the bytes that were signed
///     ROOT/releases/NAME.staging/                             an install in progress (never a release)
///     ROOT/state/                                             the site's state (install.state paths)
///     ROOT/.ivpack/state.json                                 the installed state
///     ROOT/.ivpack/snapshots/NAME/                            the site's state as release NAME left it
///     ROOT/.ivpack/lock                                       the lock every change holds
///
/// Every write goes through a descriptor of the root (`Directory`), never a path.
final class InstallRoot {
    static let currentLink = "current"
    static let releasesFolder = "releases"
    static let metadataFolder = ".ivpack"
    static let stateFile = "state.json"
    static let stagingSuffix = ".staging"
    static let discardSuffix = ".discard"
    static let manifestSuffix = ".manifest.json"
    static let temporaryLinkPrefix = ".current.tmp-"
    static let temporaryStatePrefix = "state.json.tmp-"

    let path: String
    let root: Directory
    let releases: Directory
    let metadata: Directory
    /// Held for as long as this value lives.
    private let lock: RootLock
    private(set) var state: InstalledState
    /// Whether a state file exists (an empty root has none until the first install).
    private(set) var hasStateFile: Bool

    /// Opens (creating when `create`) the root, its `releases/` and `.ivpack/` folders, takes the
    /// lock and reads the state. A root that is a file or a link is bad input; one that cannot be
    /// created or written is an environment failure.
    init(path given: String, create: Bool, exclusive: Bool = true) throws(InstallError) {
        // Absolute from here on: hooks run in the release folder and get IVPACK_ROOT and
        // IVPACK_RELEASE_DIR, which a relative root (`--root site`) would make point nowhere.
        let path = Self.absolute(given)
        self.path = path
        let root = try Self.openRoot(path, create: create)
        if !create && root.status(Self.metadataFolder) == nil { throw .notInstalled(root: path) }
        let metadata: Directory
        let releases: Directory
        do {
            metadata = try root.folder(Self.metadataFolder, create: create)
            releases = try root.folder(Self.releasesFolder, create: create)
        } catch {
            throw .file(error)
        }
        let lock = try RootLock(in: metadata, exclusive: exclusive)
        let loaded = try Self.readState(metadata)
        self.root = root
        self.metadata = metadata
        self.releases = releases
        self.lock = lock
        state = loaded.0
        hasStateFile = loaded.1
    }

    /// `path` made absolute against the current folder (not resolving links: the root's own
    /// checks see the path as given).
    static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let relative = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
        return relative.isEmpty || relative == "." ? cwd : (cwd == "/" ? "/" : cwd + "/") + relative
    }

    static func openRoot(_ path: String, create: Bool) throws(InstallError) -> Directory {
        var st = stat()
        if lstat(path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFDIR: break
            case S_IFLNK:
                throw .badRoot(
                    path: path,
                    problem:
                        "the install root is a symbolic link; give its real path (ivpack never writes through a link)")
            default:
                throw .badRoot(
                    path: path,
                    problem:
                        "the install root is \(Directory.describe(mode: st.st_mode)), not a folder; --root must name a folder (it is created if absent)"
                )
            }
        } else if errno == ENOENT && create {
            guard mkdir(path, 0o755) == 0 else {
                let code = errno
                throw .file(
                    FileSystemError(
                        operation: "create the install root (its parent folder must exist and be writable)", path: path,
                        code: code,
                        isInput: code == ENOENT || code == ENOTDIR))
            }
        } else if errno == ENOENT {
            throw .notInstalled(root: path)
        } else {
            throw .file(
                FileSystemError(operation: "read the install root's status", path: path, code: errno, isInput: true))
        }
        do {
            return try Directory.open(path: path)
        } catch {
            throw .file(error)
        }
    }

    static func readState(_ metadata: Directory) throws(InstallError) -> (InstalledState, Bool) {
        let fd = openat(metadata.fd, stateFile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 && errno == ENOENT { return (InstalledState(), false) }
        guard fd >= 0 else {
            throw .file(
                FileSystemError(
                    operation: "open for reading", path: metadata.child(stateFile), code: errno, isInput: true))
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw .file(
                    FileSystemError(operation: "read", path: metadata.child(stateFile), code: errno, isInput: true))
            }
            if n == 0 { break }
            bytes += buffer[0..<n]
            if bytes.count > InstalledState.maxBytes {
                throw .input(
                    InputError(
                        .installState,
                        Diagnostic(
                            file: metadata.child(stateFile), problem: "is larger than \(InstalledState.maxBytes) bytes")
                    ))
            }
        }
        do {
            return (try InstalledState.decode(bytes, source: metadata.child(stateFile)), true)
        } catch {
            throw .input(error)
        }
    }

    /// Writes the state crash-safely: a temporary file, flushed, renamed over `state.json`, the
    /// folder flushed. A reader sees the old state or the new one, never a mix.
    func write(_ new: InstalledState) throws(InstallError) {
        let temporary = Self.temporaryStatePrefix + String(getpid())
        _ = unlinkat(metadata.fd, temporary, 0)
        do {
            try InstallError.mapping { () throws -> Void in
                let out = try metadata.newFile(temporary, mode: 0o644)
                let text = Array((PrettyJSON.render(new.json) + "\n").utf8)
                try text.withUnsafeBytes { try out.append($0) }
                guard fsync(out.fd) == 0 else {
                    throw FileSystemError(operation: "flush to disk", path: out.path, code: errno, isInput: false)
                }
                try metadata.rename(temporary, to: Self.stateFile)
                try metadata.sync()
            }
        } catch {
            _ = unlinkat(metadata.fd, temporary, 0)
            throw error
        }
        state = new
        hasStateFile = true
    }

    /// The release `current` names, from its link target `releases/NAME`; nil when there is no
    /// link. A link elsewhere is an inconsistency.
    func currentName() throws(InstallError) -> String? {
        guard let st = root.status(Self.currentLink) else { return nil }
        guard st.st_mode & S_IFMT == S_IFLNK, let target = root.linkTarget(Self.currentLink) else {
            throw .inconsistent(
                root: path,
                problem:
                    "\(Self.currentLink) is \(Directory.describe(mode: st.st_mode)), not the link ivpack makes; move it away and run the command again"
            )
        }
        let prefix = Self.releasesFolder + "/"
        guard target.hasPrefix(prefix), ReleaseName.isValid(String(target.dropFirst(prefix.count))) else {
            throw .inconsistent(
                root: path,
                problem:
                    "\(Self.currentLink) points to \"\(Display.name(target))\", not to a release under \(prefix); it was changed by hand"
            )
        }
        return String(target.dropFirst(prefix.count))
    }

    /// Makes `current` name `releases/NAME` in one `rename(2)`, then flushes the root.
    func switchCurrent(to name: String) throws(InstallError) {
        do {
            try root.replaceLink(
                Self.currentLink, target: Self.releasesFolder + "/" + name,
                temporaryName: Self.temporaryLinkPrefix + String(getpid()))
        } catch {
            throw .file(error)
        }
    }

    /// Brings the root back to a consistent state after an interrupted run, and says what it did:
    ///
    /// - `releases/*.staging` and `*.discard` folders (an install cut short) and temporary links
    ///   and state files are removed: they are never releases;
    /// - a release folder (and its manifest) that the state does not record and `current` does not
    ///   name is removed: an install stopped between its rename and its first state record, so it
    ///   was never active;
    /// - `current` is the truth at every instant: when it names a recorded release other than the
    ///   state's active one (a run stopped after the switch, before the state record), the state is
    ///   brought to it: the state's active becomes previous, `current`'s release active;
    /// - a recorded release whose folder is gone is dropped from the state (unless it is active:
    ///   that is an inconsistency ivpack does not guess about).
    func reconcile(user: String, now: Int64) throws(InstallError) -> [String] {
        var notes: [String] = []
        do {
            for name in try releases.names() {
                if name.hasSuffix(Self.stagingSuffix) || name.hasSuffix(Self.discardSuffix) {
                    try releases.removeTree(name)
                    notes.append("removed \(Self.releasesFolder)/\(name), left by an interrupted install")
                }
            }
            for name in try root.names() where name.hasPrefix(Self.temporaryLinkPrefix) { try root.removeTree(name) }
            for name in try metadata.names() where name.hasPrefix(Self.temporaryStatePrefix) {
                try metadata.removeTree(name)
            }
        } catch {
            throw .file(error)
        }
        let current = try currentName()
        var new = state
        if !hasStateFile {
            let present = (try? releases.names()) ?? []
            if current != nil || !present.isEmpty {
                throw .inconsistent(
                    root: path,
                    problem:
                        "\(metadata.child(Self.stateFile)) is missing, but releases are present; restore it from a backup of the install root"
                )
            }
            // A new root: an empty state from the start, so that every later run has one to go by.
            try write(InstalledState())
            return notes
        }
        if let pending = state.pending {
            notes += try finishOrUndo(pending, current: current, user: user, now: now)
            new = state
        }
        do {
            for name in try releases.names() {
                let release =
                    name.hasSuffix(Self.manifestSuffix) ? String(name.dropLast(Self.manifestSuffix.count)) : name
                if state.release(named: release) == nil && release != current {
                    try releases.removeTree(name)
                    notes.append(
                        "removed \(Self.releasesFolder)/\(name): it was never recorded nor active (an install stopped before its state record)"
                    )
                }
            }
        } catch {
            throw .file(error)
        }
        // Snapshots of releases no longer recorded, and snapshots cut short, are never restored.
        if let snapshots = try? metadata.folder(StateStore.snapshotsFolder, create: false) {
            do {
                // `NAME.partial` and `initial` are never release names: removed too (a pending
                // change that needed `initial` was finished or undone above).
                for name in try snapshots.names() where state.release(named: name) == nil {
                    try snapshots.removeTree(name)
                    notes.append("removed the snapshot \(snapshots.child(name)): no recorded release left it")
                }
            } catch {
                throw .file(error)
            }
        }
        for r in state.releases
        where releases.status(r.name) == nil || releases.status(r.name + Self.manifestSuffix) == nil {
            if r.name == current || r.name == state.active {
                throw .inconsistent(
                    root: path,
                    problem:
                        "the active release \(r.name) is incomplete under \(releases.path) (its folder or its manifest is gone); reinstall it"
                )
            }
            new.releases.removeAll { $0.name == r.name }
            if new.previous == r.name { new.previous = nil }
            notes.append("forgot release \(r.name): its folder or manifest is gone")
        }
        if let current {
            guard new.release(named: current) != nil else {
                throw .inconsistent(
                    root: path,
                    problem: "\(Self.currentLink) names \(current), which the installed state does not record")
            }
            if current != new.active {
                new.previous = new.active
                new.active = current
                new.record(
                    .init(
                        action: "reconcile", release: current, from: state.active, at: Timestamp.iso8601(now), by: user,
                        reason: "current named \(current) after an interrupted run; the state follows current"))
                notes.append(
                    "the state now follows \(Self.currentLink) (\(current)): a run was interrupted after the switch")
            }
        } else if let active = new.active {
            // The link is gone but the state names a complete release: put the link back.
            try switchCurrent(to: active)
            notes.append("\(Self.currentLink) was missing; it names \(active) again, as the state records")
        }
        if new != state { try write(new) }
        return notes
    }

    /// `ROOT/state/`, created when first needed. A link there is refused.
    func liveState() throws(InstallError) -> Directory {
        do {
            return try root.folder(StateStore.stateFolder, create: true)
        } catch {
            throw .file(error)
        }
    }

    /// `ROOT/.ivpack/snapshots/`, created when first needed.
    func snapshots() throws(InstallError) -> Directory {
        do {
            return try metadata.folder(StateStore.snapshotsFolder, create: true)
        } catch {
            throw .file(error)
        }
    }

    /// The manifest kept beside release `name` (`releases/NAME.manifest.json`).
    func manifest(of name: String) throws(InstallError) -> Manifest {
        let path = releases.child(name + Self.manifestSuffix)
        do {
            return try Manifest.decode(try InputFile.readAll(path: path, limit: Manifest.maxBytes), source: path)
        } catch let error as InputError {
            throw .input(error)
        } catch let error as FileSystemError {
            throw .file(error)
        } catch {
            throw .inconsistent(root: self.path, problem: "\(path): \(error)")
        }
    }

    /// Copies the site's state into `snapshots/NAME` (the paths given).
    func snapshotState(_ paths: [String], name: String) throws(InstallError) -> StateStore.Summary {
        let live = try liveState()
        let snapshots = try snapshots()
        return try InstallError.mapping { try StateStore.snapshot(paths, from: live, into: snapshots, name: name) }
    }

    /// Puts `snapshots/NAME` back as the site's state; nil when there is no such snapshot.
    func restoreState(from name: String) throws(InstallError) -> (paths: [String], summary: StateStore.Summary)? {
        let snapshots = try snapshots()
        guard StateStore.exists(name, in: snapshots) else { return nil }
        let live = try liveState()
        return try InstallError.mapping { try StateStore.restore(from: snapshots, name: name, into: live) }
    }

    /// Ends a change a crash cut short (`state.pending`): a hook it left running is stopped; when
    /// `current` names the change's release, the switch happened and the change is finished (a
    /// rollback's state restored, the record brought to `current`); otherwise it is undone (an
    /// install's release removed if it made it, the site's state put back from its snapshot).
    /// Hooks after the switch (postInstall, postRollback, healthCheck) are not run again: the
    /// record says so.
    private func finishOrUndo(
        _ pending: InstalledState.Pending, current: String?, user: String, now: Int64
    ) throws(InstallError) -> [String] {
        var notes: [String] = []
        if let pid = pending.hookProcess, Hooks.stopLeftover(pid: pid, started: pending.hookStarted) {
            notes.append("stopped the hook the interrupted \(pending.action) left running (process group \(pid))")
        }
        var next = state
        next.pending = nil
        let at = Timestamp.iso8601(now)
        if let current, current == pending.release {
            if pending.action == "rollback", let restored = try restoreState(from: pending.release) {
                notes.append(
                    "the site's state restored as \(pending.release) left it (\(restored.paths.joined(separator: ", ")))"
                )
            }
            if next.active != pending.release {
                next.previous = next.active ?? pending.from
                next.active = pending.release
            }
            let what =
                "the interrupted \(pending.action) of \(pending.release) was completed (current named it); its hooks after the switch did not run"
            next.record(
                .init(action: "reconcile", release: pending.release, from: pending.from, at: at, by: user, reason: what)
            )
            notes.append(what)
        } else {
            if pending.action == "install" { try Installer.undo(pending, root: self, state: &next) }
            let what =
                "the interrupted \(pending.action) of \(pending.release) was undone (current still named \(current ?? "no release"))"
                + (pending.action == "install" && pending.snapshot != nil ? "; the site's state put back" : "")
            next.record(
                .init(action: "abandon", release: pending.release, from: pending.from, at: at, by: user, reason: what))
            notes.append(what)
        }
        try write(next)
        return notes
    }

    /// The OS user running ivpack: the name of the effective user, else `uid N`.
    static func currentUser() -> String {
        let uid = geteuid()
        if let pw = getpwuid(uid), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid \(uid)"
    }
}
