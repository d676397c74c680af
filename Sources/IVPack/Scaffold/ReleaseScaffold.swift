#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file or folder `ivpack init` writes.
public struct ScaffoldEntry: Sendable, Equatable {
    /// Path relative to the folder initialised.
    public var path: String
    /// The file's content; nil for a folder.
    public var content: String?

    /// A file at `path` holding `content`.
    public static func file(_ path: String, _ content: String) -> ScaffoldEntry {
        ScaffoldEntry(path: path, content: content)
    }
    /// A folder at `path`.
    public static func folder(_ path: String) -> ScaffoldEntry { ScaffoldEntry(path: path, content: nil) }
}

/// Why `ivpack init` wrote nothing.
public enum ScaffoldError: IVPackError, Equatable {
    /// Files that exist already (without `--force`): nothing was written.
    case exists(folder: String, files: [String])
    /// A product name that cannot be a spec value or a file name.
    case badProduct(String, reason: String)

    /// Refused input: exit 2.
    public var exitStatus: ExitStatus { .badInput }

    /// The problem and what to do.
    public var description: String {
        switch self {
        case .exists(let folder, let files):
            return
                "\(files.joined(separator: ", ")) exist\(files.count == 1 ? "s" : "") already in \(folder); nothing was written. Give another folder, or --force to replace \(files.count == 1 ? "it" : "them")"
        case .badProduct(let name, let reason):
            return "--product \"\(name)\": \(reason). Give the product's name, e.g. --product \"PulmoScan AI\""
        }
    }
}

/// The first day of a release repository: `ivpack init` writes a release spec, a release-notes
/// skeleton for the gate policy (`NotesTemplate`), a minimal CycloneDX SBOM, the version module the
/// code reads, a `.gitignore` for build outputs and keys, and the folders the spec points at. Every
/// value only the manufacturer knows is a `TODO` the gate refuses (SPEC-001, NOTES-018), so the
/// skeleton fails `ivpack check` until it is filled.
public enum ReleaseScaffold {
    /// The code component's folder and its version module.
    public static let codeFolder = "service"
    /// The file the code reads its version from (VER-014's version module).
    public static let versionModule = "service/VERSION"

    /// The first version of a release under `policy`: `V1.0.0.1` (nmpa) or `1.0.0` (semver).
    public static func firstVersion(_ policy: GatePolicy) -> String {
        policy.scheme == .nmpa ? policy.prefix + "1.0.0.1" : policy.prefix + "1.0.0"
    }

    /// The product name's file-name form: lower-case letters, digits and `-` (`pulmoscan-ai`).
    public static func slug(_ product: String) -> String {
        var out = ""
        for s in product.lowercased().unicodeScalars {
            if ("a"..."z").contains(s) || ("0"..."9").contains(s) {
                out.unicodeScalars.append(s)
            } else if !out.isEmpty && !out.hasSuffix("-") {
                out.append("-")
            }
        }
        while out.hasSuffix("-") { out.removeLast() }
        return out.isEmpty ? "product" : out
    }

    /// What `init` writes for `product` under `policy`, in order; nothing is written yet.
    public static func plan(product: String, policy: GatePolicy) throws -> [ScaffoldEntry] {
        let name = product.trimmingWhitespace
        guard !name.isEmpty else { throw ScaffoldError.badProduct(product, reason: "the name is empty") }
        guard !name.contains(where: { $0.isNewline || $0 == "\t" }) else {
            throw ScaffoldError.badProduct(product, reason: "the name holds a line break or tab")
        }
        let version = firstVersion(policy)
        let sbomPath = "sbom/\(slug(name)).cdx.json"
        let notesPath = "release-notes/\(version).md"
        let sbom = sbomText(product: name, version: version)
        let spec = specText(product: name, version: version, notes: notesPath, sbom: sbomPath, policy: policy)
        var facts = ReleaseFacts(
            product: ProductSpec(name: name, vendor: NotesTemplate.marker, model: NotesTemplate.marker),
            version: version, policy: policy,
            files: [
                ReleaseFileInfo(
                    component: "service", kind: .code, path: versionModule,
                    sha256: SHA256Digest.of(Array("\(version)\n".utf8))),
                ReleaseFileInfo(
                    component: "sbom", kind: .dependencyManifest, path: sbomPath,
                    sha256: SHA256Digest.of(Array(sbom.utf8))),
            ])
        facts.versionModule = versionModule
        var entries: [ScaffoldEntry] = [
            .folder(codeFolder), .folder("sbom"), .folder("release-notes"),
        ]
        if policy.notes.requires(.testReports) { entries.append(.folder("verification")) }
        entries += [
            .file("ivpack.yaml", spec),
            .file(notesPath, NotesTemplate.render(facts, policy: policy)),
            .file(sbomPath, sbom),
            .file(versionModule, "\(version)\n"),
            .file(".gitignore", gitignore),
        ]
        return entries
    }

    /// Every line of the files of `entries` that holds the placeholder: path, 1-based line, and
    /// the YAML field it stands for (`product.vendor`, `release_date`, `rollback.tested`), nil for a
    /// line of the notes' Markdown. What `init` tells the user to fill.
    public static func placeholders(_ entries: [ScaffoldEntry]) -> [(path: String, line: Int, field: String?)] {
        var out: [(path: String, line: Int, field: String?)] = []
        for entry in entries {
            guard let content = entry.content else { continue }
            var parents: [(indent: Int, key: String)] = []
            var inYAML = entry.path.hasSuffix(".yaml")
            for (i, raw) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(raw)
                if entry.path.hasSuffix(".md") && line == "---" {
                    inYAML = i == 0
                    continue
                }
                let indent = line.prefix { $0 == " " }.count
                let body = line.dropFirst(indent)
                var field: String?
                if inYAML && !body.hasPrefix("#") {
                    parents.removeAll { $0.indent >= indent }
                    if body.hasPrefix("-") {
                        field = parents.map(\.key).joined(separator: ".")
                    } else if let colon = body.firstIndex(of: ":") {
                        let key = String(body[..<colon]).trimmingWhitespace
                        field = (parents.map(\.key) + [key]).joined(separator: ".")
                        parents.append((indent, key))
                    }
                }
                if line.contains(NotesTemplate.marker) && !body.hasPrefix("#") {
                    out.append((entry.path, i + 1, field))
                }
            }
        }
        return out
    }

    /// The files of `entries` that exist already in `folder`.
    public static func existing(_ entries: [ScaffoldEntry], in folder: String) -> [String] {
        entries.filter { $0.content != nil }.map(\.path).filter {
            var st = stat()
            return lstat(join(folder, $0), &st) == 0
        }
    }

    /// Writes `entries` into `folder` (created when missing). Without `force`, any file that exists
    /// already stops it before anything is written (`ScaffoldError.exists`). Returns the paths written.
    @discardableResult
    public static func write(_ entries: [ScaffoldEntry], into folder: String, force: Bool) throws -> [String] {
        if !force {
            let clash = existing(entries, in: folder)
            if !clash.isEmpty { throw ScaffoldError.exists(folder: folder, files: clash) }
        }
        try OutputFolder.makeFolders(folder)
        var written: [String] = []
        for entry in entries {
            let path = join(folder, entry.path)
            if let content = entry.content {
                try OutputFolder.prepare(for: path)
                let file = try AtomicOutputFile(path: path)
                try Array(content.utf8).withUnsafeBytes { try file.write($0) }
                try file.commit()
            } else {
                try OutputFolder.makeFolders(path)
            }
            written.append(entry.path)
        }
        return written
    }

    static func join(_ folder: String, _ path: String) -> String {
        folder == "." ? path : (folder.hasSuffix("/") ? folder + path : folder + "/" + path)
    }

    static let gitignore = """
        # Written by ivpack init: build outputs and private keys never go into the release repository.
        /out/
        *.ivp
        *.key
        *.p12
        *.pfx
        /dev-pki/
        .build/

        """

    static func sbomText(product: String, version: String) -> String {
        PrettyJSON.render(
            .object([
                ("bomFormat", .string("CycloneDX")), ("specVersion", .string("1.5")), ("version", .integer(1)),
                (
                    "metadata",
                    .object([
                        (
                            "component",
                            .object([
                                ("type", .string("application")), ("name", .string(product)),
                                ("version", .string(version)),
                            ])
                        )
                    ])
                ),
                ("components", .array([])),
            ])) + "\n"
    }

    static func specText(product: String, version: String, notes: String, sbom: String, policy: GatePolicy) -> String {
        let t = NotesTemplate.marker
        var text = """
            # Release spec written by `ivpack init` (docs/release-spec.md): the input of `ivpack check`
            # and `ivpack build`. Replace every \(t); check refuses the release until then.
            apiVersion: ivpack.dev/v1

            product:
              name: \(NotesTemplate.yaml(product))
              vendor: \(t)  # the manufacturer (注册人)
              model: \(t)  # the model / specification (型号规格)

            # The one version of the release (\(policy.scheme == .nmpa ? "V<X>.<Y>.<Z>.<B>" : "MAJOR.MINOR.PATCH")).
            version: \(version)

            releaseNotes: \(notes)

            components:
              # The service code: the annotated git tag \(version) on the commit built, and no
              # uncommitted, untracked or ignored file under \(codeFolder)/. The code reads its version
              # from \(versionModule).
              - name: service
                kind: code
                paths: [\(codeFolder)]
              # The SBOM: metadata.component.version must be the release's version.
              - name: sbom
                kind: dependency-manifest
                paths: [\(sbom)]
              # Add the model weights (kind: model) and the manuals (kind: document) as the release
              # gets them.

            """
        if policy.notes.requires(.testReports) {
            text += """
                  # The test reports of this artifact (REL-001): uncomment once verification/ holds one.
                  # - name: test-reports
                  #   kind: file
                  #   paths: [verification]

                """
        }
        return text
    }
}

extension ReleaseFacts {
    /// The facts of a release that is not on disk yet (`ivpack init`): its product, version and files.
    public init(product: ProductSpec, version: String, policy: GatePolicy, files: [ReleaseFileInfo]) {
        let release = ReleaseUnderCheck(
            kind: .spec, path: "ivpack.yaml", product: product, version: version, versionLine: nil, notesPath: "",
            notesDisplay: "", notesBytes: nil, notesProblem: nil, files: files, manifest: nil, manifestDigest: nil,
            signatures: [], root: nil)
        self.init(release: release, policy: policy)
    }
}
