import Yams

/// Where a value was written in a spec: its 1-based line and column and its field
/// (`install.hooks.healthCheck.run[0]`), for problems only the build can see.
public struct SpecLocation: Sendable, Equatable {
    public var line: Int
    public var column: Int
    public var field: String

    public init(line: Int, column: Int, field: String) {
        self.line = line
        self.column = column
        self.field = field
    }
}

/// The spec's `install:` section as read (docs/release-spec.md, "install"): the manifest's
/// `install` member, the files to ship as executables, and where each path was written.
///
/// The spec alone cannot tell whether an executable or a hook program is a file of the release;
/// `check(modes:file:)` does, once `build` has collected the files.
public struct InstallSection: Sendable, Equatable {
    /// What the manifest carries.
    public var spec: InstallSpec
    /// Release-relative files (normal form, no `payload/`) that `build` ships with mode 0755.
    public var executables: [String]
    /// Where each of `executables` was written, in the same order.
    public var executableLocations: [SpecLocation]
    /// Where each hook's program (`run[0]`) was written.
    public var programLocations: [InstallSpec.HookName: SpecLocation]
    /// Where each destination's folder was written, by component name.
    public var destinationLocations: [String: SpecLocation] = [:]

    /// Reads `install:`; every rule that needs no file is checked here. `components` are the
    /// names a destination may give (the spec's components and the release notes').
    static func parse(_ reader: YAMLReader, _ node: Node, components: [String]) throws -> InstallSection {
        let f = "install"
        let m = try reader.mapping(node, f, allowed: ["root", "executables", "state", "destinations", "hooks"])
        func location(_ node: Node, _ field: String) -> SpecLocation {
            SpecLocation(line: node.mark?.line ?? 0, column: node.mark?.column ?? 0, field: field)
        }
        func refuse(_ node: Node, _ field: String, _ text: String, _ problem: InstallSpec.Problem) -> InputError {
            reader.error(node, field, "\"\(text)\": \(problem)", hint: problem.hint)
        }
        var section = InstallSection(
            spec: InstallSpec(), executables: [], executableLocations: [], programLocations: [:])
        if let n = m["root"] {
            let text = try reader.string(n, "\(f).root")
            switch InstallSpec.normalizeRoot(text) {
            case .success(let root): section.spec.root = root
            case .failure(let problem): throw refuse(n, "\(f).root", text, problem)
            }
        }
        if let n = m["executables"] {
            for (i, item) in try reader.sequence(n, "\(f).executables").enumerated() {
                let field = "\(f).executables[\(i)]"
                let path = try ReleaseSpec.path(reader, item, field)
                guard !section.executables.contains(path) else {
                    throw reader.error(item, field, "\"\(path)\" is listed twice", hint: "Keep one of them")
                }
                section.executables.append(path)
                section.executableLocations.append(location(item, field))
            }
        }
        if let n = m["state"] {
            let items = try reader.sequence(n, "\(f).state")
            guard items.count <= InstallSpec.maxStatePaths else {
                throw reader.error(
                    n, "\(f).state", "\(InstallSpec.Problem.tooManyStatePaths)",
                    hint: InstallSpec.Problem.tooManyStatePaths.hint)
            }
            for (i, item) in items.enumerated() {
                let text = try reader.string(item, "\(f).state[\(i)]")
                switch InstallSpec.normalizeStatePath(text) {
                case .success(let path): section.spec.state.append(path)
                case .failure(let problem): throw refuse(item, "\(f).state[\(i)]", text, problem)
                }
            }
            if let (j, i) = InstallSpec.firstOverlap(in: section.spec.state) {
                let problem = InstallSpec.Problem.overlaps(section.spec.state[i])
                throw reader.error(
                    items[j], "\(f).state[\(j)]",
                    "\"\(section.spec.state[j])\": \(problem) (\(f).state[\(i)])", hint: problem.hint)
            }
        }
        if let n = m["destinations"] {
            let destinations = try reader.mapping(n, "\(f).destinations", allowed: components)
            for (name, node) in destinations.sorted(by: { $0.key < $1.key }) {
                let field = "\(f).destinations.\(name)"
                let text = try reader.string(node, field)
                switch InstallSpec.normalizeDestination(text) {
                case .success(let folder): section.spec.destinations[name] = folder
                case .failure(let problem):
                    throw reader.error(node, field, "\"\(text)\": \(problem)", hint: InstallSpec.destinationHint)
                }
                section.destinationLocations[name] = location(node, field)
            }
        }
        if let n = m["hooks"] {
            let hooks = try reader.mapping(n, "\(f).hooks", allowed: InstallSpec.HookName.allCases.map(\.rawValue))
            for name in InstallSpec.HookName.allCases {
                guard let hookNode = hooks[name.rawValue] else { continue }
                let hf = "\(f).hooks.\(name.rawValue)"
                let h = try reader.mapping(hookNode, hf, allowed: ["run", "timeout"], required: ["run"])
                let run = try reader.sequence(h["run"]!, "\(hf).run")
                guard run.count <= 1 + InstallSpec.maxHookArguments else {
                    throw reader.error(
                        h["run"], "\(hf).run", "\(InstallSpec.Problem.tooManyArguments)",
                        hint: InstallSpec.Problem.tooManyArguments.hint)
                }
                let program = try ReleaseSpec.path(reader, run[0], "\(hf).run[0]")
                var strings = [program]
                for (i, a) in run.enumerated().dropFirst() {
                    // The reader's text rules (no control character) already exclude NUL.
                    strings.append(try reader.string(a, "\(hf).run[\(i)]"))
                }
                var timeout = InstallSpec.defaultHookTimeout
                if let t = h["timeout"] {
                    let text = try reader.string(t, "\(hf).timeout")
                    switch InstallSpec.parseTimeout(text) {
                    case .success(let seconds): timeout = seconds
                    case .failure(let problem): throw refuse(t, "\(hf).timeout", text, problem)
                    }
                }
                section.spec.hooks[name] = InstallSpec.Hook(run: strings, timeoutSeconds: timeout)
                section.programLocations[name] = location(run[0], "\(hf).run[0]")
            }
        }
        return section
    }

    /// Checks that the release's files, installed with `destinations`, each get a path of their
    /// own (`InstallSpec.firstCollision`); throws the first problem at the destination of one of
    /// the two files' components in the spec `file`, naming both files.
    public func checkDestinations(components: [Manifest.Component], file: String) throws {
        guard !spec.destinations.isEmpty,
            let problem = InstallSpec.firstCollision(destinations: spec.destinations, components: components)
        else { return }
        var at = SpecLocation(line: 0, column: 0, field: "install.destinations")
        if case .collision(let c) = problem, let named = c.components.first(where: { destinationLocations[$0] != nil })
        {
            at = destinationLocations[named]!
        }
        throw InputError.yaml(
            file: file, line: at.line, column: at.column, field: at.field, problem: "\(problem)", hint: problem.hint)
    }

    /// Checks the section against the release's files, given as the mode each payload entry
    /// (`payload/...`) would have without `executables`: every executable must be one of them,
    /// and every hook's program one whose mode, after `executables`, is 0755. Returns the modes
    /// with `executables` applied; throws the first problem at its place in the spec `file`.
    public func check(modes: [String: String], file: String) throws -> [String: String] {
        var modes = modes
        for (path, at) in zip(executables, executableLocations) {
            let entry = Manifest.payloadPrefix + path
            guard modes[entry] != nil else {
                let problem = InstallSpec.Problem.programNotInPayload
                throw InputError.yaml(
                    file: file, line: at.line, column: at.column, field: at.field, problem: "\"\(path)\": \(problem)",
                    hint: problem.hint)
            }
            modes[entry] = "0755"
        }
        for (name, hook) in spec.hooks.sorted(by: { $0.key < $1.key }) {
            if case .failure(let problem) = InstallSpec.checkProgram(
                mode: modes[Manifest.payloadPrefix + hook.program])
            {
                let at = programLocations[name] ?? SpecLocation(line: 0, column: 0, field: "install.hooks")
                throw InputError.yaml(
                    file: file, line: at.line, column: at.column, field: at.field,
                    problem: "hook \(name.rawValue) runs \"\(hook.program)\": \(problem)", hint: problem.hint)
            }
        }
        return modes
    }
}
