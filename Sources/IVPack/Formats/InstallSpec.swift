/// How a release is installed on the target (issue 15): the spec's `install:` section, carried
/// signed into the manifest's `install` member and obeyed by `ivpack install` and `rollback`.
/// See docs/release-spec.md ("install") and docs/installation.md.
///
/// Manifest form (canonical JSON, keys sorted):
///
///     "install": {"destinations": {"manuals": "share/doc/pulmoscan"},
///                 "hooks": {"healthCheck": {"run": ["service/hooks/health-check"], "timeoutSeconds": 30}},
///                 "root": "/opt/example-medical/pulmoscan", "state": ["etc", "var"]}
public struct InstallSpec: Sendable, Equatable {
    /// The hooks a release may have, in the order an install meets them.
    public enum HookName: String, Sendable, CaseIterable, Comparable {
        case preInstall, postInstall, healthCheck, preRollback, postRollback

        public static func < (a: HookName, b: HookName) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// One hook: a program of the release and its arguments, run without a shell.
    public struct Hook: Sendable, Equatable {
        /// `run[0]` is a payload path (a payload file of mode 0755, the `payload/` prefix left
        /// off), also when its component has a destination: ivpack runs it where it is installed
        /// (`installedPath(ofEntry:component:)`). The rest are its arguments, passed as they are.
        public var run: [String]
        /// Seconds before the hook's process group is killed and the hook counts as failed.
        public var timeoutSeconds: Int

        public init(run: [String], timeoutSeconds: Int = InstallSpec.defaultHookTimeout) {
            self.run = run
            self.timeoutSeconds = timeoutSeconds
        }

        public var program: String { run.first ?? "" }
        public var arguments: [String] { Array(run.dropFirst()) }
    }

    /// Seconds a hook may run when the spec gives no timeout.
    public static let defaultHookTimeout = 60
    /// Longest timeout a spec may give a hook.
    public static let maxHookTimeout = 3600
    /// Most state paths and most hook arguments.
    public static let maxStatePaths = 64
    public static let maxHookArguments = 64

    /// The default install root on the target (absolute); `--root` overrides it on site.
    public var root: String?
    /// Paths under `ROOT/state/` that belong to the site and survive upgrades (configuration,
    /// data): canonical relative paths, none inside another. Snapshotted when a release is left,
    /// restored when it is rolled back to.
    public var state: [String]
    /// The hooks the release has, by name.
    public var hooks: [HookName: Hook]
    /// Where components go in the release folder, by component name: a release-relative folder
    /// (normal form) under which each of the component's files keeps its payload path. A
    /// component not named here is installed as its payload tree is.
    public var destinations: [String: String]

    public init(
        root: String? = nil, state: [String] = [], hooks: [HookName: Hook] = [:], destinations: [String: String] = [:]
    ) {
        self.root = root
        self.state = state
        self.hooks = hooks
        self.destinations = destinations
    }

    /// Whether the section says nothing the manifest would carry (no root, state, hook or destination).
    public var isEmpty: Bool { root == nil && state.isEmpty && hooks.isEmpty && destinations.isEmpty }

    /// The release-relative path at which `ivpack install` puts the payload entry `entry`
    /// (`payload/PATH`) of component `component`: `FOLDER/PATH` when `destinations` gives the
    /// component FOLDER, else PATH. The one mapping from the manifest to a release folder:
    /// extraction, `status --check` and hook programs all go through it.
    public func installedPath(ofEntry entry: String, component: String) -> String {
        let path =
            entry.hasPrefix(Manifest.payloadPrefix) ? String(entry.dropFirst(Manifest.payloadPrefix.count)) : entry
        guard let folder = destinations[component] else { return path }
        return folder + "/" + path
    }

    /// The manifest member's value (keys in canonical order once encoded).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        if !destinations.isEmpty {
            members.append(
                ("destinations", .object(destinations.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        if !hooks.isEmpty {
            members.append(
                (
                    "hooks",
                    .object(
                        hooks.sorted { $0.key < $1.key }.map { name, hook in
                            (
                                name.rawValue,
                                .object([
                                    ("run", .array(hook.run.map { .string($0) })),
                                    ("timeoutSeconds", .number(String(hook.timeoutSeconds))),
                                ])
                            )
                        })
                ))
        }
        if let root { members.append(("root", .string(root))) }
        if !state.isEmpty { members.append(("state", .array(state.map { .string($0) }))) }
        return .object(members)
    }
}

// MARK: - Rules

extension InstallSpec {
    /// Why a value of the install section is refused: the same rules for the spec, the build and
    /// both manifest readers, so that a signed manifest cannot carry what `build` would refuse.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        /// An install root that does not start with `/`.
        case rootNotAbsolute
        /// An install root that is `/` itself.
        case rootIsFileSystemRoot
        /// A state path that starts with `/`.
        case absoluteStatePath
        /// A `..` segment anywhere in the path.
        case parentSegment
        /// Empty, absolute (for a state path), a backslash, a control character, too long.
        case unsafe(RelativePath.Problem)
        /// A manifest value that is not in normal form; `normal` is what ivpack would have written.
        case notNormal(normal: String)
        /// A state path equal to, inside or around another one.
        case overlaps(String)
        case tooManyStatePaths
        case tooManyArguments
        /// An empty `run`: no program.
        case noProgram
        case argumentHasNUL
        /// A timeout text that is not a whole number followed by `s` or `m`.
        case timeoutNotDuration
        /// A timeout of this many seconds, outside 1 s to `maxHookTimeout`.
        case timeoutOutOfRange(Int64)
        /// A hook program that is not a file of the release.
        case programNotInPayload
        /// A hook program whose manifest mode is this, not `0755`.
        case programNotExecutable(mode: String)
        /// A destination that starts with `/`.
        case absoluteDestination
        /// A destination for a name that is no component of the release.
        case unknownComponent
        /// Two files installed at one path, or a file installed where another needs a folder.
        case collision(Collision)
        /// A file whose installed path (destination and payload path) is longer than 4096 bytes.
        case installedPathTooLong(file: String)

        public var description: String {
            switch self {
            case .rootNotAbsolute: return "the path is not absolute"
            case .rootIsFileSystemRoot: return "the path is the root of the file system"
            case .absoluteStatePath: return "the path is absolute; state paths are relative to ROOT/state"
            case .parentSegment: return "the path contains a '..' segment"
            case .unsafe(let problem): return "\(problem)"
            case .notNormal(let normal): return "the path is not in normal form (\"\(normal)\")"
            case .overlaps(let other): return "the same path as \"\(other)\", or one inside the other"
            case .tooManyStatePaths: return "more than \(InstallSpec.maxStatePaths) state paths"
            case .tooManyArguments: return "more than \(InstallSpec.maxHookArguments) arguments"
            case .noProgram: return "no program"
            case .argumentHasNUL: return "contains a NUL character"
            case .timeoutNotDuration: return "not a duration with a unit, such as 30s or 5m"
            case .timeoutOutOfRange(let seconds):
                return "\(seconds) s is outside 1 s to \(InstallSpec.maxHookTimeout) s"
            case .programNotInPayload: return "not a file of the release"
            case .programNotExecutable(let mode): return "not executable: its mode is \(mode), a hook program's is 0755"
            case .absoluteDestination: return "the path is absolute; a destination is relative to the release folder"
            case .unknownComponent: return "names no component of the release"
            case .collision(let collision): return "\(collision)"
            case .installedPathTooLong(let file):
                return "\"\(file)\" would be installed at a path longer than \(RelativePath.maxBytes) bytes"
            }
        }

        /// What the author of the spec should do.
        public var hint: String {
            switch self {
            case .rootNotAbsolute, .rootIsFileSystemRoot, .absoluteStatePath, .parentSegment, .unsafe, .notNormal:
                return "Write an absolute folder such as /opt/vendor/product for the root, and paths relative to "
                    + "ROOT/state without '..' for state"
            case .overlaps: return "List each state folder or file once, and not also a folder around it"
            case .tooManyStatePaths: return "Keep the site's state in fewer folders"
            case .tooManyArguments, .argumentHasNUL, .noProgram:
                return "Write run as [PROGRAM, ARG...]: a program of the release and at most "
                    + "\(InstallSpec.maxHookArguments) arguments"
            case .timeoutNotDuration, .timeoutOutOfRange:
                return "Write a whole number of seconds or minutes, e.g. 30s or 5m, at most "
                    + "\(InstallSpec.maxHookTimeout / 60)m"
            case .programNotInPayload:
                return "Name a file one of the components ships, relative to the spec's folder, without payload/"
            case .programNotExecutable:
                return "Add it to install.executables, or chmod +x it in the release folder"
            case .absoluteDestination, .installedPathTooLong: return InstallSpec.destinationHint
            case .unknownComponent: return "Name a component of the spec's components (or release-notes)"
            case .collision:
                return "Give the components destinations under which their files do not meet, or rename one file"
            }
        }
    }

    /// The normal form of an install root (`/opt//x/` is `/opt/x`), or why it is refused: a
    /// relative path, `/` itself, a `..` segment, a backslash or control character, more than
    /// 4096 bytes.
    public static func normalizeRoot(_ text: String) -> Result<String, Problem> {
        guard text.hasPrefix("/") else { return .failure(.rootNotAbsolute) }
        guard text.utf8.count <= RelativePath.maxBytes else { return .failure(.unsafe(.tooLong)) }
        if text.split(separator: "/").contains("..") { return .failure(.parentSegment) }
        switch RelativePath.normalize(String(text.drop { $0 == "/" })) {
        case .success(let rest): return .success("/" + rest)
        case .failure(.empty): return .failure(.rootIsFileSystemRoot)
        case .failure(let problem): return .failure(.unsafe(problem))
        }
    }

    /// The normal form of a state path (`etc/` is `etc`), or why it is refused: absolute, empty
    /// or `.`, a `..` segment, a backslash or control character, more than 4096 bytes.
    public static func normalizeStatePath(_ text: String) -> Result<String, Problem> {
        if text.hasPrefix("/") { return .failure(.absoluteStatePath) }
        if text.split(separator: "/").contains("..") { return .failure(.parentSegment) }
        return RelativePath.normalize(text).mapError { .unsafe($0) }
    }

    /// What the author of a refused destination should write.
    public static let destinationHint =
        "Write a folder relative to the release folder, without '..', such as share/doc/pulmoscan"

    /// The normal form of a destination (`share/doc/` is `share/doc`), or why it is refused:
    /// absolute, empty or `.`, a `..` segment, a backslash or control character, over 4096 bytes.
    public static func normalizeDestination(_ text: String) -> Result<String, Problem> {
        if text.hasPrefix("/") { return .failure(.absoluteDestination) }
        if text.split(separator: "/").contains("..") { return .failure(.parentSegment) }
        return RelativePath.normalize(text).mapError { .unsafe($0) }
    }

    /// One payload file and where it would be installed.
    public struct Placement: Sendable, Equatable {
        /// The payload path without `payload/`.
        public var path: String
        public var component: String
        /// The release-relative path it would be installed at.
        public var installedPath: String
    }

    /// Two files that cannot both be installed: `second` at the same path as `first`, or `first`
    /// at a path `second` needs as a folder.
    public struct Collision: Sendable, Equatable, CustomStringConvertible {
        public var first: Placement
        public var second: Placement
        /// Whether both land on one path (else `first` lands where `second` needs a folder).
        public var samePath: Bool

        public var description: String {
            let a = "\"\(first.path)\" (component \(first.component))"
            let b = "\"\(second.path)\" (component \(second.component))"
            if samePath { return "\(a) and \(b) would both be installed at \"\(first.installedPath)\"" }
            return "\(a) would be installed at \"\(first.installedPath)\", a folder that \(b) needs: it goes to "
                + "\"\(second.installedPath)\""
        }

        /// The components the two files belong to, the first one's first.
        public var components: [String] { [first.component, second.component] }
    }

    /// The first problem of installing `components`' files with `destinations`, in bundle order:
    /// an installed path over 4096 bytes, two files at one path, or a file where another needs a
    /// folder. Nil when every file has a path of its own. The rule for the build and both
    /// manifest readers; about 10 ms for 20,000 files.
    public static func firstCollision(destinations: [String: String], components: [Manifest.Component]) -> Problem? {
        let spec = InstallSpec(destinations: destinations)
        var placed: [String: Placement] = [:]
        placed.reserveCapacity(components.reduce(0) { $0 + $1.files.count })
        var order: [Placement] = []
        order.reserveCapacity(placed.capacity)
        for c in components {
            for f in c.files {
                let installed = spec.installedPath(ofEntry: f.path, component: c.name)
                let here = Placement(
                    path: String(f.path.dropFirst(Manifest.payloadPrefix.count)), component: c.name,
                    installedPath: installed)
                guard installed.utf8.count <= RelativePath.maxBytes else {
                    return .installedPathTooLong(file: here.path)
                }
                if let other = placed[installed] {
                    return .collision(Collision(first: other, second: here, samePath: true))
                }
                placed[installed] = here
                order.append(here)
            }
        }
        for here in order {
            var folder = Substring(here.installedPath)
            while let slash = folder.lastIndex(of: "/") {
                folder = folder[..<slash]
                if let file = placed[String(folder)] {
                    return .collision(Collision(first: file, second: here, samePath: false))
                }
            }
        }
        return nil
    }

    /// The normal form of a hook program (a release-relative path), or why it is refused.
    public static func normalizeProgram(_ text: String) -> Result<String, Problem> {
        RelativePath.normalize(text).mapError { .unsafe($0) }
    }

    /// The first state path (by index) that equals or lies inside or around an earlier one, with
    /// that earlier one's index; nil when the paths are disjoint.
    public static func firstOverlap(in paths: [String]) -> (index: Int, earlier: Int)? {
        for (j, b) in paths.enumerated() {
            for (i, a) in paths[..<j].enumerated() where a == b || b.hasPrefix(a + "/") || a.hasPrefix(b + "/") {
                return (j, i)
            }
        }
        return nil
    }

    /// Seconds in a spec's timeout: a whole number followed by `s` or `m` (`30s`, `5m`), from 1 s
    /// to `maxHookTimeout`.
    public static func parseTimeout(_ text: String) -> Result<Int, Problem> {
        guard let unit = text.last, unit == "s" || unit == "m" else { return .failure(.timeoutNotDuration) }
        let digits = text.dropLast()
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let number = Int64(digits)
        else { return .failure(.timeoutNotDuration) }
        let seconds = unit == "m" ? number * 60 : number
        guard (1...Int64(maxHookTimeout)).contains(seconds) else { return .failure(.timeoutOutOfRange(seconds)) }
        return .success(Int(seconds))
    }

    /// Whether a hook's program can run: `mode` is the manifest mode of its payload file, nil when
    /// the release has no such file.
    public static func checkProgram(mode: String?) -> Result<Void, Problem> {
        guard let mode else { return .failure(.programNotInPayload) }
        return mode == "0755" ? .success(()) : .failure(.programNotExecutable(mode: mode))
    }
}

// MARK: - Manifest member

extension InstallSpec {
    /// Reads a manifest's `install` member and checks every rule of the spec again: a signed
    /// manifest is trusted for what it says, not for being well formed. `components` are the
    /// manifest's: hook programs must be files of them, destinations must name them, and their
    /// files must not collide once installed. Refuses an empty member and empty lists or
    /// objects, which ivpack never writes.
    static func decode(
        _ v: JSONValue, _ reader: StrictJSONReader, components: [Manifest.Component]
    ) throws -> InstallSpec {
        let p = "/install"
        let m = try reader.object(v, p, required: [], optional: ["destinations", "hooks", "root", "state"])
        guard !m.isEmpty else {
            throw reader.fail(p, "is empty; ivpack leaves out an install member with nothing in it")
        }
        func canonical(_ text: String, _ normal: Result<String, Problem>, _ pointer: String) throws {
            switch normal {
            case .success(let n) where n == text: return
            case .success(let n): throw reader.fail(pointer, "is \"\(text)\": \(Problem.notNormal(normal: n))")
            case .failure(let problem): throw reader.fail(pointer, "is \"\(text)\": \(problem)")
            }
        }
        var install = InstallSpec()
        if let r = m["root"] {
            let root = try reader.string(r, "\(p)/root")
            try canonical(root, normalizeRoot(root), "\(p)/root")
            install.root = root
        }
        if let s = m["state"] {
            let items = try reader.array(s, "\(p)/state")
            guard !items.isEmpty else { throw reader.fail("\(p)/state", "is empty; ivpack leaves it out") }
            guard items.count <= maxStatePaths else {
                throw reader.fail("\(p)/state", "has \(Problem.tooManyStatePaths)")
            }
            for (i, item) in items.enumerated() {
                let path = try reader.string(item, "\(p)/state/\(i)")
                try canonical(path, normalizeStatePath(path), "\(p)/state/\(i)")
                install.state.append(path)
            }
            if let (j, i) = firstOverlap(in: install.state) {
                throw reader.fail(
                    "\(p)/state/\(j)",
                    "is \"\(install.state[j])\": \(Problem.overlaps(install.state[i])) (\(p)/state/\(i))")
            }
        }
        if let d = m["destinations"] {
            guard let members = d.objectValue else {
                throw reader.fail("\(p)/destinations", "must be an object, found \(d.typeName)")
            }
            guard !members.isEmpty else { throw reader.fail("\(p)/destinations", "is empty; ivpack leaves it out") }
            let names = Set(components.map(\.name))
            for (name, value) in members {
                let dp = "\(p)/destinations/\(name)"
                guard names.contains(name) else { throw reader.fail(dp, "\(Problem.unknownComponent)") }
                let folder = try reader.string(value, dp)
                try canonical(folder, normalizeDestination(folder), dp)
                install.destinations[name] = folder
            }
            if let problem = firstCollision(destinations: install.destinations, components: components) {
                var pointer = "\(p)/destinations"
                if case .collision(let c) = problem,
                    let named = c.components.first(where: { install.destinations[$0] != nil })
                {
                    pointer += "/" + named
                }
                throw reader.fail(pointer, "\(problem)")
            }
        }
        if let h = m["hooks"] {
            let names = HookName.allCases.map(\.rawValue)
            let hooks = try reader.object(h, "\(p)/hooks", required: [], optional: names)
            guard !hooks.isEmpty else { throw reader.fail("\(p)/hooks", "is empty; ivpack leaves it out") }
            for name in HookName.allCases {
                guard let hv = hooks[name.rawValue] else { continue }
                let hp = "\(p)/hooks/\(name.rawValue)"
                let hook = try reader.object(hv, hp, required: ["run", "timeoutSeconds"])
                let run = try reader.array(hook["run"], "\(hp)/run")
                guard !run.isEmpty else { throw reader.fail("\(hp)/run", "has \(Problem.noProgram)") }
                guard run.count <= 1 + maxHookArguments else {
                    throw reader.fail("\(hp)/run", "has \(Problem.tooManyArguments)")
                }
                let program = try reader.string(run[0], "\(hp)/run/0")
                try canonical(program, normalizeProgram(program), "\(hp)/run/0")
                let entry = Manifest.payloadPrefix + program
                let mode = components.lazy.flatMap(\.files).first { $0.path == entry }?.mode
                if case .failure(let problem) = checkProgram(mode: mode) {
                    throw reader.fail("\(hp)/run/0", "is \"\(program)\": \(problem)")
                }
                var strings = [program]
                for (i, a) in run.enumerated().dropFirst() {
                    let argument = try reader.string(a, "\(hp)/run/\(i)")
                    guard !argument.utf8.contains(0) else {
                        throw reader.fail("\(hp)/run/\(i)", "\(Problem.argumentHasNUL)")
                    }
                    strings.append(argument)
                }
                let timeout = try reader.int(hook["timeoutSeconds"], "\(hp)/timeoutSeconds", min: 1)
                guard timeout <= maxHookTimeout else {
                    throw reader.fail("\(hp)/timeoutSeconds", "\(Problem.timeoutOutOfRange(timeout))")
                }
                install.hooks[name] = Hook(run: strings, timeoutSeconds: Int(timeout))
            }
        }
        return install
    }
}
