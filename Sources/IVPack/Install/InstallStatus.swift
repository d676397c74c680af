import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What is installed under a root, as `ivpack status` shows it: the recorded state, what
/// `current` names, and (with `--check`) the drift of the active release's tree from its manifest.
public struct InstallStatus: Sendable {
    public var root: String
    public var state: InstalledState
    /// The release `current` names (nil without a link).
    public var current: String?
    /// Where the state and the folders disagree (an interrupted run the next install or rollback mends).
    public var notes: [String]
    public var drift: DriftReport?

    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("root", .string(root)),
            (
                "releases",
                .array(
                    state.releases.map { r in
                        guard case .object(var m) = r.json else { return r.json }
                        m.append(("active", .bool(r.name == state.active)))
                        return .object(m)
                    })
            ),
            ("history", .array(state.history.map(\.json))),
            ("notes", .array(notes.map { .string($0) })),
        ]
        if let active = state.active { members.append(("active", .string(active))) }
        if let previous = state.previous { members.append(("previous", .string(previous))) }
        if let current { members.append(("current", .string(current))) }
        if let pending = state.pending { members.append(("pending", pending.json)) }
        if let drift { members.append(("drift", drift.json)) }
        return .object(members)
    }
}

/// The active release's tree against its manifest: every file changed, added or missing since
/// install, by release-relative path (where the file is installed: `install.destinations` applied).
public struct DriftReport: Sendable, Equatable {
    public var release: String
    /// Files the manifest lists, checked.
    public var files: Int
    /// A file whose bytes (named to the chunk), size, mode or kind differ.
    public var changed: [String]
    /// A path in the tree that the manifest does not list.
    public var added: [String]
    /// A file of the manifest that is not there.
    public var missing: [String]
    public var clean: Bool { changed.isEmpty && added.isEmpty && missing.isEmpty }

    public var json: JSONValue {
        .object([
            ("release", .string(release)), ("files", .integer(files)), ("clean", .bool(clean)),
            ("changed", .array(changed.map { .string($0) })), ("added", .array(added.map { .string($0) })),
            ("missing", .array(missing.map { .string($0) })),
        ])
    }
}

extension Installer {
    /// Reads the root's state under a shared lock, without changing anything. With `check`, the
    /// active release's tree is hashed against the manifest kept beside it, on every core.
    public static func status(
        root path: String, check: Bool,
        hashWorkers: Int = ProcessInfo.processInfo.activeProcessorCount
    ) throws(InstallError) -> InstallStatus {
        let root = try InstallRoot(path: path, create: false, exclusive: false)
        var notes: [String] = []
        let current: String?
        do {
            current = try root.currentName()
        } catch {
            current = nil
            notes.append("\(error)")
        }
        if current != root.state.active {
            notes.append(
                "\(InstallRoot.currentLink) names \(current ?? "nothing") but the state records \(root.state.active ?? "nothing") as active: a run was interrupted; the next install or rollback reconciles the state with \(InstallRoot.currentLink)"
            )
        }
        if let leftovers = try? root.releases.names().filter({
            $0.hasSuffix(InstallRoot.stagingSuffix) || $0.hasSuffix(InstallRoot.discardSuffix)
        }), !leftovers.isEmpty {
            notes.append(
                "left by an interrupted install (not releases; the next install or rollback removes them): "
                    + leftovers.joined(separator: ", "))
        }
        var status = InstallStatus(root: path, state: root.state, current: current, notes: notes)
        if check {
            guard let name = current ?? root.state.active, let release = root.state.release(named: name) else {
                throw .notInstalled(root: path)
            }
            status.drift = try drift(of: release, in: root, hashWorkers: hashWorkers)
        }
        return status
    }

    /// Hashes the release's tree against its kept manifest.
    static func drift(of release: InstalledState.Release, in root: InstallRoot, hashWorkers: Int) throws(InstallError)
        -> DriftReport
    {
        var report = DriftReport(release: release.name, files: 0, changed: [], added: [], missing: [])
        let manifestPath = root.releases.child(release.name + InstallRoot.manifestSuffix)
        let bytes = try InstallError.mapping { try InputFile.readAll(path: manifestPath, limit: Manifest.maxBytes) }
        guard SHA256Digest.of(bytes) == release.manifestSHA256 else {
            report.changed.append(
                "\(manifestPath): the kept manifest is not the one installed (its SHA-256 differs from the state's); the tree cannot be checked against it"
            )
            return report
        }
        let manifest = try InstallError.mapping { try Manifest.decode(bytes, source: manifestPath) }
        let tree = try InstallError.mapping { try root.releases.folder(release.name, create: false) }
        // Everything in the tree, without following links: regular files with their status, the rest by kind.
        var found: [String: stat] = [:]
        var others: [String: String] = [:]
        func walk(_ folder: Directory, _ prefix: String) throws {
            let names = try folder.names()
            if names.isEmpty && !prefix.isEmpty { others[String(prefix.dropLast())] = "an empty folder" }
            for name in names {
                guard let st = folder.status(name) else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: try walk(try folder.folder(name, create: false), prefix + name + "/")
                case S_IFREG: found[prefix + name] = st
                default: others[prefix + name] = Directory.describe(mode: st.st_mode)
                }
            }
        }
        try InstallError.mapping { try walk(tree, "") }
        let hasher = ChunkVerifier(chunkSize: manifest.chunkSize, workers: hashWorkers)
        defer { hasher.waitUntilIdle() }
        var listed = Set<String>()
        for (file, relative) in zip(manifest.allFiles, manifest.installedPaths) {
            listed.insert(relative)
            report.files += 1
            guard let st = found[relative] else {
                if let kind = others[relative] {
                    report.changed.append("\(Display.name(relative)): is \(kind), the manifest lists a regular file")
                } else {
                    report.missing.append(Display.name(relative))
                }
                continue
            }
            let mode = String(format: "%04o", Int(st.st_mode) & 0o7777)
            if mode != file.mode {
                report.changed.append("\(Display.name(relative)): mode \(mode), the manifest says \(file.mode)")
            }
            guard Int64(st.st_size) == file.size else {
                report.changed.append("\(Display.name(relative)): \(st.st_size) bytes, the manifest says \(file.size)")
                continue
            }
            if file.encryption != nil {
                // Installed decrypted; the manifest keeps only its whole plaintext digest.
                if let problem = Self.wholeFileProblem(tree.child(relative), file, shown: Display.name(relative)) {
                    report.changed.append(problem)
                }
                continue
            }
            var named = StoredData(installed: file, chunkSize: hasher.chunkSize)
            named.path = Display.name(relative)
            do {
                let input = try InputFile(path: tree.child(relative))
                if hasher.readsDirectly(size: file.size) {
                    hasher.verify(named, in: input, dataOffset: 0)
                } else if let problem = try hasher.verify(
                    named,
                    read: { body in
                        var offset: Int64 = 0
                        var buffer = [UInt8](repeating: 0, count: 64 << 10)
                        while true {
                            let n = try buffer.withUnsafeMutableBytes { try input.read(into: $0, at: offset) }
                            if n == 0 { break }
                            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                            offset += Int64(n)
                        }
                    })
                {
                    report.changed.append(problem)
                }
            } catch {
                report.changed.append("\(Display.name(relative)): cannot be read: \(error)")
            }
        }
        report.changed += hasher.finish()
        report.added = (Array(found.keys) + Array(others.keys)).filter { !listed.contains($0) }.sorted().map {
            Display.name($0)
        }
        return report
    }

    /// The drift of an installed file against the manifest's whole-file SHA-256 (an encrypted
    /// file, which has no plaintext chunk digests), or nil when it matches.
    static func wholeFileProblem(_ path: String, _ file: Manifest.FileEntry, shown: String) -> String? {
        do {
            let input = try InputFile(path: path)
            input.adviseSequential()
            let hasher = SHA256Hasher()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
            defer { buffer.deallocate() }
            var offset: Int64 = 0
            while true {
                let n = try input.read(into: buffer, at: offset)
                if n == 0 { break }
                hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                offset += Int64(n)
            }
            let digest = hasher.finish()
            return digest == file.sha256
                ? nil : "\(shown): SHA-256 \(digest.hex), the manifest says \(file.sha256.hex)"
        } catch {
            return "\(shown): cannot be read: \(error)"
        }
    }
}
