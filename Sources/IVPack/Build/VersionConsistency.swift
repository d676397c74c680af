/// One place where a component does not carry the release's version (clause 5.5.1 a–c).
public struct VersionMismatch: Sendable, Equatable, CustomStringConvertible {
    public var component: String
    /// Release-relative file (or repository folder for git findings).
    public var file: String
    /// Where the version was looked for, in words.
    public var location: String
    public var expected: String
    /// What was found there; "nothing" when the place holds no version.
    public var found: String
    /// What to do about it.
    public var hint: String

    public var description: String {
        "component \(component), \(file): \(location): expected \(expected), found \(found)\(hint.isEmpty ? "" : ". \(hint)")"
    }
}

/// The release does not carry one version; every mismatch found is listed. Exit status 1.
public struct VersionMismatches: IVPackError, Equatable {
    public var version: String
    public var mismatches: [VersionMismatch]
    /// The kind of each component named by a mismatch, which decides its gate rule.
    public var kinds: [String: ComponentKind] = [:]
    /// The spec's folder, so that findings name files as the user can open them.
    public var root: String?

    /// The mismatches as gate findings (VER-016 to VER-019), as `check` reports them on the spec.
    public var findings: [Finding] {
        ComponentMismatch.findings(
            mismatches.map { ComponentMismatch(kind: kinds[$0.component] ?? .document, mismatch: $0) }, root: root)
    }
    public var exitStatus: ExitStatus { .checkFailed }
    public var description: String {
        "the release is not consistently version \(version): \(mismatches.count) mismatch\(mismatches.count == 1 ? "" : "es"); no bundle was written:\n"
            + mismatches.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// The version evidence and provenance gathered for one component.
public struct ComponentVersionResult: Sendable {
    public var evidence: [Manifest.Evidence] = []
    public var git: Manifest.GitProvenance?
    public var mismatches: [VersionMismatch] = []
}

/// Checks that every component of a release carries the release version, the way its kind
/// says: a git tag on the commit built with a clean tree for code, header metadata or a model
/// card for models, front matter, title line or PDF metadata for documents, the SBOM's version
/// and exact pins for dependency manifests.
public struct VersionConsistency {
    public let spec: ReleaseSpec
    public let tree: ReleaseTree

    public init(spec: ReleaseSpec, tree: ReleaseTree) {
        self.spec = spec
        self.tree = tree
    }

    /// Checks one component given its collected files. Input that cannot be read throws.
    public func check(_ component: ComponentSpec, files: [ReleaseFile]) throws -> ComponentVersionResult {
        var result = ComponentVersionResult()
        switch component.kind {
        case .code: try checkCode(component, into: &result)
        case .model: try checkModel(component, files: files, into: &result)
        case .document: try checkDocuments(component, files: files, into: &result)
        case .dependencyManifest: try checkDependencies(component, files: files, into: &result)
        case .file: break
        }
        return result
    }

    private func mismatch(_ c: ComponentSpec, _ file: String, _ location: String, found: String?, hint: String = "")
        -> VersionMismatch
    {
        VersionMismatch(
            component: c.name, file: file, location: location, expected: spec.version, found: found ?? "nothing",
            hint: hint)
    }

    /// Adds a reading as evidence or as a mismatch.
    private func record(
        _ reading: VersionReading, _ c: ComponentSpec, into result: inout ComponentVersionResult, hint: String
    ) {
        if let found = reading.found, found == spec.version {
            result.evidence.append(
                Manifest.Evidence(
                    file: reading.file, source: reading.format.rawValue, location: reading.location, found: found))
        } else {
            result.mismatches.append(
                mismatch(
                    c, reading.file, reading.location, found: reading.found.map { "\"\(Display.name($0))\"" },
                    hint: hint))
        }
    }

    private func checkCode(_ c: ComponentSpec, into result: inout ComponentVersionResult) throws {
        let repoRelative = c.version.repository ?? c.paths[0]
        let start: String
        switch tree.resolve(repoRelative) {
        case .success(let real): start = real
        case .failure(let p):
            throw InputProblems(problems: [
                InputProblem(path: p.path, component: c.name, problem: p.problem, hint: p.hint)
            ])
        }
        let repo = try GitRepository(discoveringFrom: start)
        var workdir = repo.workingDirectory
        if workdir.hasSuffix("/") { workdir.removeLast() }
        workdir = ReleaseTree.realPath(workdir) ?? workdir
        let head = try repo.headCommit()
        let tagName = (c.version.tag ?? "{version}").replacingOccurrences(of: "{version}", with: spec.version)
        let shown = c.version.repository ?? "."
        let location = "git tag \"\(tagName)\""
        if let tag = try repo.tag(named: tagName) {
            if tag.commit == head {
                result.git = Manifest.GitProvenance(
                    component: c.name, commit: head, tag: tagName, annotatedTag: tag.annotated)
                result.evidence.append(
                    Manifest.Evidence(
                        file: shown, source: "git-tag", location: "\(location) on commit \(head)", found: spec.version))
            } else {
                result.mismatches.append(
                    VersionMismatch(
                        component: c.name, file: shown, location: location,
                        expected: "the tag on the commit built (HEAD \(Self.short(head)))",
                        found: "the tag on commit \(Self.short(tag.commit))",
                        hint:
                            "Build from the tagged commit (git checkout \(tagName)), or tag the commit you mean to release"
                    ))
            }
        } else {
            let onHead = try repo.tags(pointingAt: head)
            result.mismatches.append(
                VersionMismatch(
                    component: c.name, file: shown, location: location,
                    expected: "a tag \"\(tagName)\" on HEAD \(Self.short(head))",
                    found: onHead.isEmpty
                        ? "no such tag (HEAD has no tags)"
                        : "no such tag (tags on HEAD: \(onHead.joined(separator: ", ")))",
                    hint: "Tag the release commit: git tag -a \(tagName) -m \"Release \(spec.version)\""))
        }
        // Paths of the component relative to the working tree, for a status limited to them.
        var specs: [String] = []
        for path in c.paths {
            guard case .success(let real) = tree.resolve(path) else { continue }
            if real == workdir {
                specs.append("")
                continue
            }
            guard real.hasPrefix(workdir + "/") else {
                result.mismatches.append(
                    VersionMismatch(
                        component: c.name, file: path, location: "git repository \(workdir)",
                        expected: "inside the repository", found: "outside it",
                        hint: "Code must be committed in the repository that carries the tag"))
                continue
            }
            specs.append(String(real.dropFirst(workdir.count + 1)))
        }
        let changes = try repo.changes(under: specs.contains("") ? [] : specs)
        let rootRelative = tree.root == workdir ? "" : String(tree.root.dropFirst(workdir.count + 1))
        for change in changes {
            let shownPath =
                rootRelative.isEmpty
                ? change.path
                : (change.path.hasPrefix(rootRelative + "/")
                    ? String(change.path.dropFirst(rootRelative.count + 1)) : change.path)
            result.mismatches.append(
                VersionMismatch(
                    component: c.name, file: shownPath, location: "git working tree",
                    expected: "committed and unchanged since \(tagName)", found: change.states.joined(separator: ", "),
                    hint: change.states.contains("ignored")
                        ? "Remove the ignored file or move it out of the component's folder"
                        : "Commit or remove the change, then tag the new commit"))
        }
    }

    static func short(_ commit: String) -> String { String(commit.prefix(12)) }

    private func checkModel(_ c: ComponentSpec, files: [ReleaseFile], into result: inout ComponentVersionResult) throws
    {
        let hasCard = c.version.modelCard != nil
        for file in files {
            guard
                let format = try VersionReaders.detectFormat(
                    path: file.diskPath, componentKind: c.kind.rawValue, displayPath: file.relativePath)
            else { continue }
            let reading = try VersionReaders.read(
                format, path: file.diskPath, displayPath: file.relativePath, key: c.version.key)
            if reading.found == nil && hasCard { continue }
            record(
                reading, c, into: &result,
                hint: format == .gguf
                    ? "Write general.version into the GGUF metadata, or name a model card in version.modelCard"
                    : "Store the version in the safetensors __metadata__, or name a model card in version.modelCard")
        }
        if let card = c.version.modelCard {
            switch tree.resolve(card) {
            case .success(let real):
                let reading = try VersionReaders.read(.modelCard, path: real, displayPath: card, key: nil)
                record(reading, c, into: &result, hint: "State the release version in the model card")
            case .failure(let p):
                throw InputProblems(problems: [
                    InputProblem(path: card, component: c.name, problem: p.problem, hint: p.hint)
                ])
            }
        }
        if result.evidence.isEmpty && result.mismatches.isEmpty {
            result.mismatches.append(
                mismatch(
                    c, c.paths.joined(separator: ", "), "model metadata", found: nil,
                    hint:
                        "No file of this component is a safetensors or GGUF model; name a model card in version.modelCard"
                ))
        }
    }

    private func checkDocuments(_ c: ComponentSpec, files: [ReleaseFile], into result: inout ComponentVersionResult)
        throws
    {
        for file in files {
            guard
                let format = try VersionReaders.detectFormat(
                    path: file.diskPath, componentKind: ComponentKind.document.rawValue, displayPath: file.relativePath)
            else { continue }
            let readings: [VersionReading]
            if format == .frontMatter || format == .titleLine {
                readings = try VersionReaders.readDocument(
                    path: file.diskPath, displayPath: file.relativePath, key: c.version.key)
            } else {
                readings = [
                    try VersionReaders.read(
                        format, path: file.diskPath, displayPath: file.relativePath, key: c.version.key)
                ]
            }
            let found = readings.filter { $0.found != nil }
            if found.isEmpty {
                let places = readings.map(\.location).joined(separator: " or ")
                result.mismatches.append(
                    mismatch(
                        c, file.relativePath, places.isEmpty ? "document metadata" : places, found: nil,
                        hint: format == .pdfInfo
                            ? "Set the version in the PDF's document properties"
                            : "Put the version in the front matter (version: \(spec.version)) or on the title line"))
            }
            for reading in found {
                record(reading, c, into: &result, hint: "Update the document to the release version")
            }
        }
        if result.evidence.isEmpty && result.mismatches.isEmpty {
            result.mismatches.append(
                mismatch(
                    c, c.paths.joined(separator: ", "), "document metadata", found: nil,
                    hint: "No file of this component is a Markdown or PDF document that can state a version"))
        }
    }

    private func checkDependencies(_ c: ComponentSpec, files: [ReleaseFile], into result: inout ComponentVersionResult)
        throws
    {
        var sawRequirements = false
        for file in files {
            if VersionReaders.isRequirementsFile(file.relativePath) {
                sawRequirements = true
                for p in try VersionReaders.unpinnedRequirements(path: file.diskPath, displayPath: file.relativePath) {
                    result.mismatches.append(
                        VersionMismatch(
                            component: c.name, file: file.relativePath, location: "line \(p.line)",
                            expected: "one exact version (name==X.Y.Z)",
                            found: "\"\(Display.name(p.requirement))\": \(p.problem)",
                            hint: "Pin every dependency to the exact version the release was validated with"))
                }
                continue
            }
            guard
                let format = try VersionReaders.detectFormat(
                    path: file.diskPath, componentKind: c.kind.rawValue, displayPath: file.relativePath)
            else { continue }
            let reading = try VersionReaders.read(
                format, path: file.diskPath, displayPath: file.relativePath, productName: spec.product.name)
            record(reading, c, into: &result, hint: "Regenerate the SBOM for version \(spec.version)")
        }
        if result.evidence.isEmpty && result.mismatches.isEmpty && !sawRequirements {
            result.mismatches.append(
                mismatch(
                    c, c.paths.joined(separator: ", "), "SBOM version", found: nil,
                    hint:
                        "A dependency-manifest component needs a CycloneDX or SPDX JSON SBOM or a pinned requirements file"
                ))
        }
    }
}
