import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One installed trust state: its version, the update keys and threshold that must sign the next
/// update, and which update it came from. `trust-state.json` in each state folder; canonical JSON,
/// Schemas/trust-state.schema.json.
public struct TrustState: Sendable {
    /// The state file's `kind`.
    public static let kind = "TrustState"
    /// Largest state file read.
    public static let maxBytes = 1 << 20

    /// The installed update's version; 0 for the root of trust set up by `trust init`.
    public var version: Int64
    /// When it was installed, seconds since 1970.
    public var installedAt: Int64
    /// SHA-256 of the update file installed; nil for the root of trust.
    public var updateSHA256: SHA256Digest?
    /// The installed update's expiry; nil for the root of trust.
    public var expires: Int64?
    /// How many of `updateKeys` must sign the next update.
    public var threshold: Int
    /// The update keys trusted for the next update.
    public var updateKeys: [Certificate]
    /// The trust material's files and their SHA-256, as installed.
    public var files: [(name: String, sha256: SHA256Digest)]

    public init(
        version: Int64, installedAt: Int64, updateSHA256: SHA256Digest?, expires: Int64?, threshold: Int,
        updateKeys: [Certificate], files: [(name: String, sha256: SHA256Digest)]
    ) {
        self.version = version
        self.installedAt = installedAt
        self.updateSHA256 = updateSHA256
        self.expires = expires
        self.threshold = threshold
        self.updateKeys = updateKeys
        self.files = files
    }

    /// The canonical JSON bytes.
    public var bytes: [UInt8] {
        let update: JSONValue =
            updateSHA256.map { digest in
                .object([
                    ("sha256", .string(digest.hex)), ("expires", .string(Timestamp.iso8601(expires ?? 0))),
                ])
            } ?? .null
        return CanonicalJSON.encode(
            .object([
                ("apiVersion", .string(ReleaseSpec.apiVersion)), ("kind", .string(Self.kind)),
                ("version", .integer(version)), ("installedAt", .string(Timestamp.iso8601(installedAt))),
                ("update", update), ("updateKeys", UpdateKeySet.json(threshold: threshold, keys: updateKeys)),
                (
                    "files",
                    .array(files.map { .object([("name", .string($0.name)), ("sha256", .string($0.sha256.hex))]) })
                ),
            ]))
    }

    /// Reads a state file strictly.
    public static func parse(_ bytes: [UInt8], file: String) throws(TrustUpdateError) -> TrustState {
        let m = try StrictObject.read(
            bytes, file: file, what: "trust state", maxBytes: maxBytes, maxString: maxBytes,
            allowed: ["apiVersion", "kind", "version", "installedAt", "update", "updateKeys", "files"])
        try m.expect("apiVersion", ReleaseSpec.apiVersion)
        try m.expect("kind", kind)
        guard let version = m["version"]?.int64Value, (0...TrustUpdatePayload.maxVersion).contains(version) else {
            throw m.error("version must be an integer from 0 to \(TrustUpdatePayload.maxVersion)")
        }
        let installedAt = try m.time("installedAt")
        var digest: SHA256Digest?
        var expires: Int64?
        if let update = m["update"], update != .null {
            guard let members = update.objectValue, members.count == 2,
                let hex = update["sha256"]?.stringValue, let d = SHA256Digest(hex: hex),
                let e = update["expires"]?.stringValue.flatMap(Timestamp.parseISO8601)
            else { throw m.error("update must be null or {sha256, expires}") }
            digest = d
            expires = e
        }
        let keys = try UpdateKeySet.parse(m["updateKeys"], file: file, field: "updateKeys")
        guard let nodes = m["files"]?.arrayValue else { throw m.error("files must be an array") }
        var files: [(name: String, sha256: SHA256Digest)] = []
        for (i, node) in nodes.enumerated() {
            guard let name = node["name"]?.stringValue, TrustUpdatePayload.isPlainFileName(name),
                let hex = node["sha256"]?.stringValue, let d = SHA256Digest(hex: hex)
            else { throw m.error("files[\(i)] must be {name, sha256}") }
            files.append((name, d))
        }
        return TrustState(
            version: version, installedAt: installedAt, updateSHA256: digest, expires: expires,
            threshold: keys.threshold, updateKeys: keys.keys, files: files)
    }
}

/// What `TrustStore.install` did.
public struct TrustUpdateInstallResult: Sendable {
    /// The state now installed.
    public var state: TrustState
    /// The version it replaced.
    public var previousVersion: Int64
    /// The new state's folder.
    public var folder: String
    /// The policy `ivpack verify --trust` reads from now on.
    public var policyPath: String
    /// How the installed state's keys judged each signature.
    public var signatures: [UpdateSignatureCheck]
}

/// A site's trust state folder (`--state DIR`): every installed state kept in
/// `states/vN/` (the policy and PEM files, `trust-state.json`, and the `trust-update.json` it came
/// from), and `current`, a symbolic link to the one in force. `DIR/current/trust-policy.yaml` is
/// the policy `verify --trust` reads (or give `--trust DIR`). An update is installed by building
/// its folder beside the others, syncing it, and replacing `current` by rename(2): a crash leaves
/// the old state or the new one, never a mix.
public enum TrustStore {
    public static let currentName = "current"
    public static let statesName = "states"
    public static let stateFileName = "trust-state.json"
    public static let updateFileName = "trust-update.json"

    /// The policy file of the state in force in `state`.
    public static func policyPath(state: String) -> String {
        "\(state)/\(currentName)/\(TrustUpdatePayload.policyFileName)"
    }

    /// Whether a file (or folder) is at `path`, following links.
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// Whether `path` is a trust state folder (it holds `current/trust-state.json`).
    public static func isStateFolder(_ path: String) -> Bool {
        var st = stat()
        return stat("\(path)/\(currentName)/\(stateFileName)", &st) == 0
    }

    /// Sets up the root of trust: state version 0, no policy yet, trusting `updateKeys` with
    /// `threshold` for the first update. Refuses a folder that holds a state already.
    @discardableResult
    public static func initialise(state: String, updateKeys: [Certificate], threshold: Int, now: Int64) throws
        -> TrustState
    {
        try UpdateKeySet.check(threshold: threshold, keys: updateKeys, where: "the root of trust")
        try makeFolder(state)
        let lock = try Lock(state: state)
        defer { _ = lock }
        var st = stat()
        if lstat("\(state)/\(currentName)", &st) == 0 { throw TrustUpdateError.alreadyInitialised(state: state) }
        let root = TrustState(
            version: 0, installedAt: now, updateSHA256: nil, expires: nil, threshold: threshold,
            updateKeys: updateKeys, files: [])
        try commit(root, files: [], updateBytes: nil, state: state)
        return root
    }

    /// The state in force in `state`.
    public static func current(state: String) throws -> TrustState {
        let file = "\(state)/\(currentName)/\(stateFileName)"
        var st = stat()
        guard lstat("\(state)/\(currentName)", &st) == 0 else { throw TrustUpdateError.notInitialised(state: state) }
        return try TrustState.parse(try InputFile.readAll(path: file, limit: TrustState.maxBytes), file: file)
    }

    /// Every state kept in `state` up to the one in force, oldest first (a later folder an
    /// interrupted install left behind is not history).
    public static func history(state: String) throws -> [TrustState] {
        let inForce = try current(state: state).version
        let folder = "\(state)/\(statesName)"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return try names.filter { $0.hasPrefix("v") }.compactMap { name -> TrustState? in
            let file = "\(folder)/\(name)/\(stateFileName)"
            guard FileManager.default.fileExists(atPath: file) else { return nil }
            return try TrustState.parse(try InputFile.readAll(path: file, limit: TrustState.maxBytes), file: file)
        }.filter { $0.version <= inForce }.sorted { $0.version < $1.version }
    }

    /// Installs the update in `updatePath` into `state`, only when at least the threshold of the
    /// installed update keys signed it, its own next keys sign it up to their threshold too (so a
    /// mistyped key set cannot lock the site out), its version is above the installed one, it has
    /// not expired, and its policy loads. Otherwise throws `TrustUpdateError` and changes nothing.
    public static func install(updatePath: String, state: String, now: Int64) throws -> TrustUpdateInstallResult {
        let lock = try Lock(state: state)
        defer { _ = lock }
        let installed = try current(state: state)
        let raw = try InputFile.readAll(path: updatePath, limit: SignedTrustUpdate.maxBytes)
        let update = try SignedTrustUpdate.parse(raw, file: updatePath)
        let checks = try update.requireThreshold(
            installed.threshold, keys: installed.updateKeys,
            keySet: "update keys of the installed trust state (version \(installed.version))", file: updatePath)
        let payload = try update.payload(file: updatePath)
        _ = try update.requireThreshold(
            payload.threshold, keys: payload.updateKeys,
            keySet: "next update keys the update itself names", file: updatePath)
        guard payload.version > installed.version else {
            throw TrustUpdateError.notNewer(
                file: updatePath, version: payload.version, installed: installed.version, state: state)
        }
        guard payload.expires > now else {
            throw TrustUpdateError.expired(
                file: updatePath, version: payload.version, expires: payload.expires, now: now)
        }
        let next = TrustState(
            version: payload.version, installedAt: now, updateSHA256: SHA256Digest.of(raw), expires: payload.expires,
            threshold: payload.threshold, updateKeys: payload.updateKeys,
            files: payload.files.map { ($0.name, SHA256Digest.of(Array($0.content.utf8))) })
        let folder = try commit(next, files: payload.files, updateBytes: raw, state: state, source: updatePath)
        return TrustUpdateInstallResult(
            state: next, previousVersion: installed.version, folder: folder, policyPath: policyPath(state: state),
            signatures: checks)
    }

    // MARK: - Writing

    /// Writes `next` as `states/vN` and points `current` at it. Returns the new folder.
    @discardableResult
    static func commit(
        _ next: TrustState, files: [TrustUpdatePayload.File], updateBytes: [UInt8]?, state: String,
        source: String = ""
    ) throws -> String {
        let states = "\(state)/\(statesName)"
        try makeFolder(states)
        removeLeftovers(states)
        var template = Array("\(states)/.staging-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw FileSystemError(operation: "create a staging folder", path: states, code: errno, isInput: false)
        }
        let staging = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var done = false
        defer { if !done { try? FileManager.default.removeItem(atPath: staging) } }
        chmod(staging, 0o755)
        for file in files {
            try Array(file.content.utf8).withUnsafeBytes {
                try writeNewFile("\(staging)/\(file.name)", mode: 0o644, what: "a trust file", $0)
            }
        }
        if !files.isEmpty {
            // Refuse an authentic update whose policy ivpack cannot use, before it is in force.
            do {
                _ = try TrustPolicy.load(path: "\(staging)/\(TrustUpdatePayload.policyFileName)")
            } catch let e as IVPackError {
                throw TrustUpdateError.unusablePolicy(
                    file: source, problem: "\(e)".replacingOccurrences(of: staging + "/", with: ""))
            }
        }
        if let updateBytes {
            try updateBytes.withUnsafeBytes {
                try writeNewFile("\(staging)/\(updateFileName)", mode: 0o644, what: "the installed update", $0)
            }
        }
        try next.bytes.withUnsafeBytes {
            try writeNewFile("\(staging)/\(stateFileName)", mode: 0o644, what: "the trust state", $0)
        }
        try sync(folder: staging)
        let name = "v\(next.version)"
        let final = "\(states)/\(name)"
        // A folder of this version that `current` does not point to is what an interrupted install
        // left behind: replaced.
        var st = stat()
        if lstat(final, &st) == 0 { try FileManager.default.removeItem(atPath: final) }
        guard rename(staging, final) == 0 else {
            throw FileSystemError(
                operation: "rename the new state into place", path: final, code: errno, isInput: false)
        }
        done = true
        try sync(folder: states)
        let link = "\(state)/.\(currentName).tmp"
        unlink(link)
        guard symlink("\(statesName)/\(name)", link) == 0 else {
            throw FileSystemError(
                operation: "create the link to the new state", path: link, code: errno, isInput: false)
        }
        Failpoint.reach("trust-update-before-switch")
        guard rename(link, "\(state)/\(currentName)") == 0 else {
            let code = errno
            unlink(link)
            throw FileSystemError(
                operation: "switch to the new state", path: "\(state)/\(currentName)", code: code, isInput: false)
        }
        try sync(folder: state)
        return final
    }

    /// Removes staging folders of interrupted installs.
    static func removeLeftovers(_ states: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: states)) ?? []
        where name.hasPrefix(".staging-") {
            try? FileManager.default.removeItem(atPath: "\(states)/\(name)")
        }
    }

    static func makeFolder(_ path: String) throws {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw FileSystemError(operation: "create the folder", path: path, code: errno, isInput: false)
        }
    }

    static func sync(folder: String) throws {
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FileSystemError(operation: "open the folder to sync it", path: folder, code: errno, isInput: false)
        }
        defer { close(fd) }
        guard fsync(fd) == 0 else {
            throw FileSystemError(operation: "sync the folder", path: folder, code: errno, isInput: false)
        }
    }

    /// An exclusive lock on the state folder for as long as the value lives: one install at a time.
    final class Lock {
        let fd: Int32

        init(state: String) throws {
            let path = "\(state)/.lock"
            fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                let code = errno
                if code == ENOENT { throw TrustUpdateError.notInitialised(state: state) }
                throw FileSystemError(operation: "open the lock file", path: path, code: code, isInput: false)
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                let code = errno
                close(fd)
                throw FileSystemError(
                    operation: "lock it (another ivpack trust command is changing this state; wait for it)",
                    path: path, code: code, isInput: false)
            }
        }

        deinit { close(fd) }
    }
}
