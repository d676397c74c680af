/// How a release is installed on the target (issue 15): the spec's `install:` section, carried
/// signed into the manifest's `install` member and obeyed by `ivpack install` and `rollback`.
/// See docs/release-spec.md ("install") and docs/installation.md.
///
/// Manifest form (canonical JSON, keys sorted):
///
///     "install": {"hooks": {"healthCheck": {"run": ["service/hooks/health-check"], "timeoutSeconds": 30}},
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
        /// `run[0]` is a release-relative path (a payload file of mode 0755, the `payload/`
        /// prefix left off); the rest are its arguments, passed as they are.
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

    public init(root: String? = nil, state: [String] = [], hooks: [HookName: Hook] = [:]) {
        self.root = root
        self.state = state
        self.hooks = hooks
    }

    /// The manifest member's value (keys in canonical order once encoded).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = []
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
