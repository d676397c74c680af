#if canImport(Glibc)
    import Glibc
#endif

/// What is installed under an install root: the releases present, the active and the previous
/// one, and what was done (`ROOT/.ivpack/state.json`, schema Schemas/installed-state.schema.json,
/// docs/installation.md). Written only under the root's lock (`RootLock`), crash-safely.
public struct InstalledState: Sendable, Equatable {
    public static let format = "ivpack-installed-state/1"
    /// The state file is small; anything larger is not one ivpack wrote.
    public static let maxBytes = 16 << 20
    /// History entries kept (the oldest are dropped beyond this).
    public static let maxHistory = 1000

    /// One release present under `releases/`.
    public struct Release: Sendable, Equatable {
        /// `VERSION-DIGEST12`: the folder under `releases/`.
        public var name: String
        public var product: String
        public var version: String
        /// SHA-256 of the manifest's bytes (what the signatures cover).
        public var manifestSHA256: SHA256Digest
        /// The valid signatures at install time: role and signer subject.
        public var signers: [Signer]
        /// When (UTC, ISO 8601) and by whom (the OS user) it was installed.
        public var installedAt: String
        public var installedBy: String
        /// Why a version below the active one was allowed (`--allow-downgrade --reason`).
        public var downgradeReason: String?
    }

    public struct Signer: Sendable, Equatable {
        public var role: String
        public var subject: String
    }

    /// One thing done to the root: `install`, `rollback`, `health-check`, `abandon` (an install
    /// undone before its switch), `prune` or `reconcile`.
    public struct Event: Sendable, Equatable {
        public static let actions = ["install", "rollback", "health-check", "abandon", "prune", "reconcile"]
        public var action: String
        /// The release made active.
        public var release: String
        /// The release that was active before, if any.
        public var from: String?
        public var at: String
        public var by: String
        public var reason: String?
        /// How it ended, where that is not plain success: `pass`, `fail`, `not run`.
        public var result: String?

        public init(
            action: String, release: String, from: String?, at: String, by: String, reason: String?,
            result: String? = nil
        ) {
            self.action = action
            self.release = release
            self.from = from
            self.at = at
            self.by = by
            self.reason = reason
            self.result = result
        }
    }

    /// A change in progress: written before an install's hooks or a rollback's switch, cleared
    /// when the change is complete. After a crash, `reconcile` finishes the change when `current`
    /// names `release` (the switch happened) and undoes it otherwise.
    public struct Pending: Sendable, Equatable {
        /// `install` or `rollback`.
        public var action: String
        /// The release being made active.
        public var release: String
        /// The release active when the change began.
        public var from: String?
        /// Install: the release folder was made by this change (an undo removes it).
        public var newRelease: Bool
        /// Install: the snapshot of the site's state taken before the hooks ran (an undo restores it).
        public var snapshot: String?
        /// The hook running, if any: its process group and its start time (clock ticks after
        /// boot, `/proc/PID/stat` field 22), so that a reconcile stops that process and no other.
        public var hookProcess: Int32?
        public var hookStarted: Int64?
    }

    public var releases: [Release] = []
    /// The release `current` names.
    public var active: String?
    /// The release active before it: where `rollback` goes by default.
    public var previous: String?
    public var history: [Event] = []
    /// The change in progress, if a run was cut short during one.
    public var pending: Pending?

    public init() {}

    public func release(named name: String) -> Release? { releases.first { $0.name == name } }
    public var activeRelease: Release? { active.flatMap(release(named:)) }
    public var previousRelease: Release? { previous.flatMap(release(named:)) }

    mutating func record(_ event: Event) {
        history.append(event)
        if history.count > Self.maxHistory { history.removeFirst(history.count - Self.maxHistory) }
    }

    // MARK: - JSON

    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("format", .string(Self.format)),
            ("releases", .array(releases.map(\.json))),
            ("history", .array(history.map(\.json))),
        ]
        if let active { members.append(("active", .string(active))) }
        if let previous { members.append(("previous", .string(previous))) }
        if let pending { members.append(("pending", pending.json)) }
        return .object(members)
    }

    /// Reads a state document strictly: unknown members, a wrong type or a release named twice
    /// are errors naming the member.
    public static func decode(_ bytes: [UInt8], source: String) throws(InputError) -> InstalledState {
        let r = StrictJSONReader.state(source: source)
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes, limits: JSONLimits(maxBytes: maxBytes, maxDepth: 8))
        } catch {
            throw InputError(
                .installState, Diagnostic(file: source, problem: "is not valid JSON: \(error)", hint: stateHint))
        }
        do {
            return try r.state(value)
        } catch let error as InputError {
            throw error
        } catch {
            throw InputError(.installState, Diagnostic(file: source, problem: "\(error)", hint: stateHint))
        }
    }
}

extension InstalledState.Release {
    var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("name", .string(name)), ("product", .string(product)), ("version", .string(version)),
            ("manifestSHA256", .string(manifestSHA256.hex)),
            (
                "signers",
                .array(signers.map { .object([("role", .string($0.role)), ("subject", .string($0.subject))]) })
            ),
            ("installedAt", .string(installedAt)), ("installedBy", .string(installedBy)),
        ]
        if let downgradeReason { members.append(("downgradeReason", .string(downgradeReason))) }
        return .object(members)
    }
}

extension InstalledState.Event {
    var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("action", .string(action)), ("release", .string(release)), ("at", .string(at)), ("by", .string(by)),
        ]
        if let from { members.append(("from", .string(from))) }
        if let reason { members.append(("reason", .string(reason))) }
        if let result { members.append(("result", .string(result))) }
        return .object(members)
    }
}

extension InstalledState.Pending {
    var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("action", .string(action)), ("release", .string(release)), ("newRelease", .bool(newRelease)),
        ]
        if let from { members.append(("from", .string(from))) }
        if let snapshot { members.append(("snapshot", .string(snapshot))) }
        if let hookProcess { members.append(("hookProcess", .number(String(hookProcess)))) }
        if let hookStarted { members.append(("hookStarted", .number(String(hookStarted)))) }
        return .object(members)
    }
}

/// The hint of every error in the state document.
private let stateHint = "The file is written by ivpack only: restore it from a backup of the install root, or reinstall"

extension StrictJSONReader {
    /// The reader of the installed state: errors name `source` and the member.
    fileprivate static func state(source: String) -> StrictJSONReader {
        StrictJSONReader(fail: { pointer, problem in
            InputError(
                .installState,
                Diagnostic(
                    file: source, location: .member(of: "state", pointer: pointer), problem: problem, hint: stateHint))
        })
    }

    fileprivate func state(_ v: JSONValue) throws -> InstalledState {
        let m = try object(
            v, "", required: ["format", "releases", "history"], optional: ["active", "previous", "pending"])
        let format = try string(m["format"], "/format")
        guard format == InstalledState.format else {
            throw fail("/format", "is \"\(format)\"; this ivpack reads \"\(InstalledState.format)\"")
        }
        var state = InstalledState()
        for (i, rv) in try array(m["releases"], "/releases").enumerated() {
            let p = "/releases/\(i)"
            let r = try object(
                rv, p,
                required: ["name", "product", "version", "manifestSHA256", "signers", "installedAt", "installedBy"],
                optional: ["downgradeReason"])
            let name = try string(r["name"], "\(p)/name")
            guard ReleaseName.isValid(name) else {
                throw fail("\(p)/name", "\"\(name)\" is not a release name (VERSION-DIGEST12)")
            }
            guard state.release(named: name) == nil else { throw fail("\(p)/name", "\"\(name)\" is listed twice") }
            guard let digest = SHA256Digest(hex: try string(r["manifestSHA256"], "\(p)/manifestSHA256")) else {
                throw fail("\(p)/manifestSHA256", "must be 64 lower-case hex digits")
            }
            var signers: [InstalledState.Signer] = []
            for (si, sv) in try array(r["signers"], "\(p)/signers").enumerated() {
                let s = try object(sv, "\(p)/signers/\(si)", required: ["role", "subject"])
                signers.append(
                    .init(
                        role: try string(s["role"], "\(p)/signers/\(si)/role"),
                        subject: try string(s["subject"], "\(p)/signers/\(si)/subject")))
            }
            state.releases.append(
                .init(
                    name: name, product: try string(r["product"], "\(p)/product"),
                    version: try string(r["version"], "\(p)/version"),
                    manifestSHA256: digest, signers: signers,
                    installedAt: try string(r["installedAt"], "\(p)/installedAt"),
                    installedBy: try string(r["installedBy"], "\(p)/installedBy"),
                    downgradeReason: try optionalString(r["downgradeReason"], "\(p)/downgradeReason")))
        }
        for (i, ev) in try array(m["history"], "/history").enumerated() {
            let p = "/history/\(i)"
            let e = try object(
                ev, p, required: ["action", "release", "at", "by"], optional: ["from", "reason", "result"])
            let action = try string(e["action"], "\(p)/action")
            guard InstalledState.Event.actions.contains(action) else {
                throw fail(
                    "\(p)/action",
                    "\"\(action)\" is not one of \(InstalledState.Event.actions.joined(separator: ", "))")
            }
            state.history.append(
                .init(
                    action: action, release: try string(e["release"], "\(p)/release"),
                    from: try optionalString(e["from"], "\(p)/from"),
                    at: try string(e["at"], "\(p)/at"), by: try string(e["by"], "\(p)/by"),
                    reason: try optionalString(e["reason"], "\(p)/reason"),
                    result: try optionalString(e["result"], "\(p)/result")))
        }
        if let pv = m["pending"] {
            let pm = try object(
                pv, "/pending", required: ["action", "release", "newRelease"],
                optional: ["from", "snapshot", "hookProcess", "hookStarted"])
            let action = try string(pm["action"], "/pending/action")
            guard action == "install" || action == "rollback" else {
                throw fail("/pending/action", "\"\(action)\" is not install or rollback")
            }
            guard let newRelease = pm["newRelease"]?.boolValue else {
                throw fail("/pending/newRelease", "must be a boolean")
            }
            let release = try string(pm["release"], "/pending/release")
            guard ReleaseName.isValid(release) else {
                throw fail("/pending/release", "\"\(release)\" is not a release name (VERSION-DIGEST12)")
            }
            let snapshot = try optionalString(pm["snapshot"], "/pending/snapshot")
            if let snapshot, !ReleaseName.isValid(snapshot) && snapshot != StateStore.initialSnapshot {
                throw fail("/pending/snapshot", "\"\(snapshot)\" is not a snapshot name")
            }
            state.pending = .init(
                action: action, release: release, from: try optionalString(pm["from"], "/pending/from"),
                newRelease: newRelease, snapshot: snapshot,
                hookProcess: try pm["hookProcess"].map { Int32(clamping: try int($0, "/pending/hookProcess", min: 2)) },
                hookStarted: try pm["hookStarted"].map { try int($0, "/pending/hookStarted") })
        }
        state.active = try optionalString(m["active"], "/active")
        state.previous = try optionalString(m["previous"], "/previous")
        for (key, name) in [("active", state.active), ("previous", state.previous)] {
            if let name, state.release(named: name) == nil {
                throw fail("/\(key)", "names \"\(name)\", which is not one of /releases")
            }
        }
        return state
    }
}

/// The folder name of a release: `VERSION-DIGEST12`, the version and the first 12 hex digits of
/// the manifest's SHA-256. Two builds of one version never share a folder.
public enum ReleaseName {
    /// Characters a version may have to name a folder (a manifest's version is free text).
    static func isSafeVersion(_ version: String) -> Bool {
        !version.isEmpty && version.utf8.count <= 128 && !version.hasPrefix(".")
            && version.utf8.allSatisfy { c in
                (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
                    || Array("._+-".utf8).contains(c)
            }
    }

    public static func make(version: String, manifestDigest: SHA256Digest) -> String {
        "\(version)-\(manifestDigest.hex.prefix(12))"
    }

    static func isValid(_ name: String) -> Bool {
        guard name.count > 13, let dash = name.lastIndex(of: "-") else { return false }
        let digest = name[name.index(after: dash)...]
        return isSafeVersion(String(name[..<dash])) && digest.count == 12
            && digest.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}

/// The exclusive lock of an install root (`flock` on `ROOT/.ivpack/lock`), held for as long as
/// the value lives: every change of a root happens under it, so two installs never interleave.
final class RootLock {
    /// How long a second ivpack waits for the lock before it gives up (exit 3).
    static let waitSeconds = 5.0
    let path: String
    private let fd: Int32

    init(in folder: Directory, name: String = "lock", exclusive: Bool = true) throws(InstallError) {
        path = folder.child(name)
        let fd = openat(folder.fd, name, (exclusive ? O_RDWR | O_CREAT : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw .file(FileSystemError(operation: "open the lock file", path: path, code: errno, isInput: false))
        }
        let deadline = ProgramRunner.monotonicMilliseconds() + Int64(Self.waitSeconds * 1000)
        while flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
            let code = errno
            if code == EWOULDBLOCK && ProgramRunner.monotonicMilliseconds() < deadline {
                usleep(50_000)
                continue
            }
            close(fd)
            if code == EWOULDBLOCK { throw .locked(lockFile: path, seconds: Self.waitSeconds) }
            throw .file(FileSystemError(operation: "lock it", path: path, code: code, isInput: false))
        }
        self.fd = fd
    }

    deinit { close(fd) }
}
