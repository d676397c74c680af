/// What changed between two releases, per component and file, by SHA-256, with a second,
/// version-neutral digest that tells a real content change from a version re-stamp.
public struct ReleaseDiff: Sendable {
    /// How a file or component differs.
    public enum Status: String, Sendable {
        case added, removed
        /// The bytes differ beyond the version stamp.
        case changed
        /// The bytes differ only where the version is written (a re-stamped VERSION file, model metadata).
        case restamped
        case unchanged
    }

    /// One file's change.
    public struct FileChange: Sendable, Equatable {
        /// Release-relative path.
        public var path: String
        /// How the file differs.
        public var status: Status
        /// The file's SHA-256 in the old release; nil when added.
        public var oldSHA256: SHA256Digest?
        /// The file's SHA-256 in the new release; nil when removed.
        public var newSHA256: SHA256Digest?
    }

    /// One component's change: the strongest of its files' (changed > added/removed > restamped).
    public struct ComponentChange: Sendable, Equatable {
        /// The component name.
        public var name: String
        /// The component kind (in the new release, or the old one when removed).
        public var kind: ComponentKind
        /// How the component differs.
        public var status: Status
        /// Files that differ (unchanged files left out).
        public var files: [FileChange]

        /// Whether the component's content changed (not only its version stamp).
        public var contentChanged: Bool { status == .added || status == .removed || status == .changed }
    }

    /// The old release's version.
    public var oldVersion: String
    /// The new release's version.
    public var newVersion: String
    /// Every component of either release, in the new release's order, removed ones last.
    public var components: [ComponentChange]
    /// The highest field that moved from the old version to the new one; nil when either does not
    /// parse under the policy, or only a pre-release suffix moved.
    public var actualLevel: BumpLevel?

    /// Compares `old` and `new`; reads every payload file of both to tell re-stamps from changes.
    public static func compute(old: ReleaseUnderCheck, new: ReleaseUnderCheck, policy: GatePolicy) throws -> ReleaseDiff
    {
        let oldPrints = try VersionNeutralDigests.of(old)
        let newPrints = try VersionNeutralDigests.of(new)
        var components: [ComponentChange] = []
        var names = new.componentNames
        for name in old.componentNames where !names.contains(name) { names.append(name) }
        for name in names {
            let oldFiles = Dictionary(
                old.files.filter { $0.component == name }.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            let newFiles = Dictionary(
                new.files.filter { $0.component == name }.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            let kind = newFiles.values.first?.kind ?? oldFiles.values.first?.kind ?? .file
            var changes: [FileChange] = []
            for path in (Set(oldFiles.keys).union(newFiles.keys)).sorted() {
                let o = oldFiles[path]?.sha256
                let n = newFiles[path]?.sha256
                let status: Status
                switch (oldFiles[path], newFiles[path]) {
                case (nil, _): status = .added
                case (_, nil): status = .removed
                default:
                    if o == n {
                        status = .unchanged
                    } else if let a = oldPrints[path], let b = newPrints[path], a == b {
                        status = .restamped
                    } else {
                        status = .changed
                    }
                }
                if status != .unchanged {
                    changes.append(FileChange(path: path, status: status, oldSHA256: o, newSHA256: n))
                }
            }
            let status: Status
            if oldFiles.isEmpty {
                status = .added
            } else if newFiles.isEmpty {
                status = .removed
            } else if changes.contains(where: { $0.status != .restamped }) {
                status = .changed
            } else if !changes.isEmpty {
                status = .restamped
            } else {
                status = .unchanged
            }
            components.append(ComponentChange(name: name, kind: kind, status: status, files: changes))
        }
        // The channel does not matter here: a version that parses is returned with its channel findings.
        let channel = policy.channels[0]
        let a = VersionNaming.check(old.version, policy: policy, channel: channel, file: old.path, line: nil).parsed
        let b = VersionNaming.check(new.version, policy: policy, channel: channel, file: new.path, line: nil).parsed
        return ReleaseDiff(
            oldVersion: old.version, newVersion: new.version, components: components,
            actualLevel: a.flatMap { a in b.flatMap { level(from: a, to: $0, policy: policy) } })
    }

    /// The highest field that differs between `a` and `b` (the build field last); nil when none does.
    public static func level(from a: ReleaseVersion, to b: ReleaseVersion, policy: GatePolicy) -> BumpLevel? {
        for field in policy.fields where a.value(field) != b.value(field) { return field }
        return nil
    }

    /// The diff as JSON (`ivpack diff --json`).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("format", .string("ivpack-diff/1")), ("old", .string(oldVersion)), ("new", .string(newVersion)),
            (
                "components",
                .array(
                    components.map { c in
                        .object([
                            ("name", .string(c.name)), ("kind", .string(c.kind.rawValue)),
                            ("status", .string(c.status.rawValue)),
                            (
                                "files",
                                .array(
                                    c.files.map { f in
                                        var m: [(key: String, value: JSONValue)] = [
                                            ("path", .string(f.path)), ("status", .string(f.status.rawValue)),
                                        ]
                                        if let o = f.oldSHA256 { m.append(("oldSHA256", .string(o.hex))) }
                                        if let n = f.newSHA256 { m.append(("newSHA256", .string(n.hex))) }
                                        return .object(m)
                                    })
                            ),
                        ])
                    })
            ),
        ]
        if let actualLevel { members.append(("step", .string(actualLevel.name))) }
        return .object(members)
    }
}

/// Digests of a release's files with the release's version blanked out, so that a file that only
/// carries the new version (a VERSION file, a manual's front matter, a safetensors header) has the
/// same digest in both releases.
///
/// Text and small files (up to `maxNormalisedBytes`) have every occurrence of the version and of its
/// derived SemVer replaced by a fixed token. A safetensors file has its 8-byte header length and the
/// header's space padding ignored as well, so a version of another length does not count as a
/// change; its tensor data is hashed as is, streamed. Larger files of other formats are hashed as
/// they are, so a re-stamp of those shows as a change.
enum VersionNeutralDigests {
    /// Largest file whose bytes are searched for the version.
    static let maxNormalisedBytes = 64 << 20
    /// Largest safetensors header normalised.
    static let maxSafetensorsHeader = 100 << 20

    static func of(_ release: ReleaseUnderCheck) throws -> [String: SHA256Digest] {
        var tokens = [release.version]
        if let parsed = ReleaseVersion(release.version)?.fields, parsed.count == 4 {
            tokens.append("\(parsed[0]).\(parsed[1]).\(parsed[2])+\(parsed[3])")
        }
        var out: [String: SHA256Digest] = [:]
        switch release.kind {
        case .bundle:
            let reader = try BundleReader(path: release.path)
            while let entry = try reader.next() {
                guard case .payload(_, let file) = entry.kind else { continue }
                let path = String(file.path.dropFirst(Manifest.payloadPrefix.count))
                let hasher = NeutralHasher(path: path, tokens: tokens)
                try reader.readData { hasher.update($0) }
                out[path] = hasher.finish()
            }
        case .spec:
            for f in release.files {
                let hasher = NeutralHasher(path: f.path, tokens: tokens)
                let file = try InputFile(path: (release.root ?? ".") + "/" + f.path)
                var buffer = [UInt8](repeating: 0, count: 1 << 20)
                var offset: Int64 = 0
                while true {
                    let n = try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: offset) }
                    if n == 0 { break }
                    buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    offset += Int64(n)
                }
                out[f.path] = hasher.finish()
            }
        }
        return out
    }

    /// Hashes one file's bytes as they stream by.
    final class NeutralHasher {
        let tokens: [[UInt8]]
        let safetensors: Bool
        let raw = SHA256Hasher()
        var buffered: [UInt8] = []
        var overflow = false
        // safetensors state
        var headerLength: Int?
        let data = SHA256Hasher()
        var header: [UInt8] = []
        var safetensorsFailed = false

        init(path: String, tokens: [String]) {
            self.tokens = tokens.map { Array($0.utf8) }
            self.safetensors = path.hasSuffix(".safetensors")
        }

        func update(_ block: UnsafeRawBufferPointer) {
            raw.update(block)
            if safetensors && !safetensorsFailed {
                var bytes = block[...]
                if headerLength == nil {
                    let need = 8 - buffered.count
                    buffered += bytes.prefix(need)
                    bytes = bytes.dropFirst(need)
                    if buffered.count == 8 {
                        let n = buffered.enumerated().reduce(UInt64(0)) {
                            $0 | UInt64($1.element) << (8 * UInt64($1.offset))
                        }
                        if n > UInt64(maxSafetensorsHeader) {
                            safetensorsFailed = true
                            return
                        }
                        headerLength = Int(n)
                    }
                }
                if let n = headerLength {
                    let take = min(n - header.count, bytes.count)
                    header += bytes.prefix(take)
                    bytes = bytes.dropFirst(take)
                    if !bytes.isEmpty { data.update(UnsafeRawBufferPointer(rebasing: bytes)) }
                }
                return
            }
            if !overflow {
                if buffered.count + block.count > maxNormalisedBytes {
                    overflow = true
                    buffered = []
                } else {
                    buffered += block
                }
            }
        }

        func finish() -> SHA256Digest {
            if safetensors && !safetensorsFailed, let n = headerLength, header.count == n {
                while header.last == 0x20 { header.removeLast() }
                var out = Array("safetensors\n".utf8) + replaced(header) + Array("\n".utf8)
                out += data.finish().bytes
                return SHA256Digest.of(out)
            }
            if safetensors || overflow { return raw.finish() }
            return SHA256Digest.of(replaced(buffered))
        }

        func replaced(_ bytes: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            var i = 0
            outer: while i < bytes.count {
                for t in tokens
                where !t.isEmpty && bytes[i] == t[0] && i + t.count <= bytes.count
                    && bytes[i..<(i + t.count)].elementsEqual(t)
                {
                    out += Array("{version}".utf8)
                    i += t.count
                    continue outer
                }
                out.append(bytes[i])
                i += 1
            }
            return out
        }
    }
}
