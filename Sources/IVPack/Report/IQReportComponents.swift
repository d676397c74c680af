/// One component of the release as the IQ report lists it (annex C.1 评估对象, clause 5.5.1): its kind,
/// where its version was found, and its files with their digests, from the manifest that was verified.
public struct IQReportComponent: Sendable, Equatable {
    /// Files listed per component, at most; the rest are counted (the manifest, whose SHA-256 the
    /// report names, holds them all).
    public static let maxListedFiles = 50

    /// One file: its path in the bundle, size and SHA-256.
    public struct File: Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var sha256: String
    }

    /// The component's name.
    public var name: String
    /// `code`, `model`, `document`, `dependency-manifest` or `file`.
    public var kind: String
    /// Where its version was found at build time: `FILE: SOURCE LOCATION = FOUND`, one per item.
    public var versionEvidence: [String]
    /// How many files it has.
    public var fileCount: Int
    /// Their total size in bytes.
    public var bytes: Int64
    /// The first `maxListedFiles` files.
    public var files: [File]

    /// The component as the report's JSON holds it.
    public var json: JSONValue {
        .object([
            ("name", .string(name)), ("kind", .string(kind)),
            ("versionEvidence", .array(versionEvidence.map { .string($0) })), ("fileCount", .integer(fileCount)),
            ("bytes", .integer(bytes)),
            (
                "files",
                .array(
                    files.map {
                        .object([
                            ("path", .string($0.path)), ("size", .integer($0.size)), ("sha256", .string($0.sha256)),
                        ])
                    })
            ),
        ])
    }

    /// The components of `manifest`.
    public static func of(_ manifest: Manifest) -> [IQReportComponent] {
        manifest.components.map { c in
            IQReportComponent(
                name: c.name, kind: c.kind.rawValue,
                versionEvidence: c.versionEvidence.map { "\($0.file): \($0.source) \($0.location) = \($0.found)" },
                fileCount: c.files.count, bytes: c.files.reduce(0) { $0 + $1.size },
                files: c.files.prefix(maxListedFiles).map { File(path: $0.path, size: $0.size, sha256: $0.sha256.hex) })
        }
    }

    /// The components of the bundle at `bundlePath` when its manifest is the one with `manifestDigest`
    /// (the one verified); nil otherwise.
    public static func of(bundlePath: String, manifestDigest: SHA256Digest) -> [IQReportComponent]? {
        guard let reader = try? BundleReader(path: bundlePath, blockSize: 64 << 10),
            reader.manifestDigest == manifestDigest
        else { return nil }
        return of(reader.manifest)
    }

    /// The components a report's JSON lists; nil when the member is absent or not as ivpack writes it.
    static func decode(_ value: JSONValue?) -> [IQReportComponent]? {
        guard let items = value?.arrayValue else { return nil }
        var out: [IQReportComponent] = []
        for item in items {
            guard let name = item["name"]?.stringValue, let kind = item["kind"]?.stringValue,
                let evidence = item["versionEvidence"]?.arrayValue, let count = item["fileCount"]?.int64Value,
                let bytes = item["bytes"]?.int64Value, let files = item["files"]?.arrayValue
            else { return nil }
            var listed: [File] = []
            for f in files {
                guard let path = f["path"]?.stringValue, let size = f["size"]?.int64Value,
                    let sha = f["sha256"]?.stringValue
                else { return nil }
                listed.append(File(path: path, size: size, sha256: sha))
            }
            out.append(
                IQReportComponent(
                    name: name, kind: kind, versionEvidence: evidence.compactMap(\.stringValue),
                    fileCount: Int(count), bytes: bytes, files: listed))
        }
        return out
    }

    /// The problems of a report's `components` member, each naming where.
    static func problems(_ value: JSONValue) -> [String] {
        guard let items = value.arrayValue else { return ["/components: not an array"] }
        guard decode(value) != nil else {
            return [
                "/components: every component needs name, kind, versionEvidence, fileCount, bytes and files (path, size, sha256)"
            ]
        }
        var problems: [String] = []
        for (i, item) in items.enumerated() {
            let files = item["files"]?.arrayValue?.count ?? 0
            let count = item["fileCount"]?.int64Value ?? 0
            if files > maxListedFiles || Int64(files) != min(count, Int64(maxListedFiles)) {
                problems.append(
                    "/components/\(i)/files: lists \(files) of \(count) files, not the first \(maxListedFiles)")
            }
        }
        return problems
    }
}
