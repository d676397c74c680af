internal import CLibGit2

#if canImport(Glibc)
    import Glibc
#endif

/// A failure reported by libgit2, with its own message.
public struct GitError: IVPackError, Equatable {
    /// What ivpack asked libgit2 to do.
    public let operation: String
    /// The path concerned (a repository or a folder inside one).
    public let path: String
    /// libgit2's `git_error_last` message.
    public let reason: String

    public var exitStatus: ExitStatus { .badInput }
    public var description: String { "\(path): cannot \(operation): \(reason)" }

    static func last(_ operation: String, path: String) -> GitError {
        var reason = "libgit2 reported an error without a message"
        if let e = git_error_last(), let m = e.pointee.message { reason = String(cString: m) }
        return GitError(operation: operation, path: path, reason: reason)
    }
}

/// The state of one path in a working tree, relative to HEAD.
public struct GitPathStatus: Sendable, Equatable {
    /// Path relative to the repository's working tree.
    public let path: String
    /// Words for what is different: "modified", "untracked", "ignored", "staged", "deleted", ...
    public let states: [String]
}

/// A git repository opened through libgit2. Read-only: ivpack never changes a repository.
public final class GitRepository {
    private let repository: OpaquePointer
    /// The working tree's root, with a trailing slash as libgit2 gives it.
    public let workingDirectory: String

    private static let initialised: Bool = {
        git_libgit2_init()
        return true
    }()

    /// Opens the repository that contains `path`, searching upwards.
    public init(discoveringFrom path: String) throws(GitError) {
        _ = Self.initialised
        var repo: OpaquePointer?
        guard git_repository_open_ext(&repo, path, 0, nil) == 0, let repo else {
            throw GitError.last(
                "find a git repository containing this folder (a code component must be committed in git)", path: path)
        }
        self.repository = repo
        guard let workdir = git_repository_workdir(repo) else {
            git_repository_free(repo)
            throw GitError(
                operation: "use the repository", path: path, reason: "it is a bare repository, with no working tree")
        }
        self.workingDirectory = String(cString: workdir)
    }

    deinit { git_repository_free(repository) }

    private static func hex(_ oid: UnsafePointer<git_oid>) -> String {
        var buffer = [CChar](repeating: 0, count: Int(GIT_OID_HEXSZ) + 1)
        git_oid_tostr(&buffer, buffer.count, oid)
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The commit id HEAD resolves to.
    public func headCommit() throws(GitError) -> String {
        var object: OpaquePointer?
        guard git_revparse_single(&object, repository, "HEAD^{commit}") == 0, let object else {
            throw GitError.last("resolve HEAD to a commit (is anything committed?)", path: workingDirectory)
        }
        defer { git_object_free(object) }
        return Self.hex(git_object_id(object))
    }

    /// The committer time of HEAD, in seconds since 1970.
    public func headCommitTime() throws(GitError) -> Int64 {
        var object: OpaquePointer?
        guard git_revparse_single(&object, repository, "HEAD^{commit}") == 0, let object else {
            throw GitError.last("resolve HEAD to a commit (is anything committed?)", path: workingDirectory)
        }
        defer { git_object_free(object) }
        return Int64(git_commit_time(object))
    }

    /// A tag as found in the repository.
    public struct Tag: Sendable, Equatable {
        public let name: String
        /// The commit the tag points at, after peeling an annotated tag.
        public let commit: String
        /// Whether the tag is an annotated tag object (as opposed to a lightweight ref).
        public let annotated: Bool
    }

    /// The tag `name` (without `refs/tags/`), or nil when there is no such tag.
    public func tag(named name: String) throws(GitError) -> Tag? {
        var reference: OpaquePointer?
        let status = git_reference_lookup(&reference, repository, "refs/tags/\(name)")
        if status == GIT_ENOTFOUND.rawValue || status == GIT_EINVALIDSPEC.rawValue { return nil }
        guard status == 0, let reference else { throw GitError.last("look up tag \(name)", path: workingDirectory) }
        defer { git_reference_free(reference) }
        var resolved: OpaquePointer?
        guard git_reference_resolve(&resolved, reference) == 0, let resolved else {
            throw GitError.last("resolve tag \(name)", path: workingDirectory)
        }
        defer { git_reference_free(resolved) }
        var target: OpaquePointer?
        guard let oid = git_reference_target(resolved),
            git_object_lookup(&target, repository, oid, GIT_OBJECT_ANY) == 0, let target
        else {
            throw GitError.last("read tag \(name)", path: workingDirectory)
        }
        defer { git_object_free(target) }
        let annotated = git_object_type(target) == GIT_OBJECT_TAG
        var commit: OpaquePointer?
        guard git_object_peel(&commit, target, GIT_OBJECT_COMMIT) == 0, let commit else {
            throw GitError.last("peel tag \(name) to a commit", path: workingDirectory)
        }
        defer { git_object_free(commit) }
        return Tag(name: name, commit: Self.hex(git_object_id(commit)), annotated: annotated)
    }

    /// The names of all tags of the repository, sorted.
    public func tagNames() throws(GitError) -> [String] {
        var names = git_strarray()
        guard git_tag_list(&names, repository) == 0 else { throw GitError.last("list tags", path: workingDirectory) }
        defer { git_strarray_dispose(&names) }
        var found: [String] = []
        for i in 0..<names.count {
            if let c = names.strings[i] { found.append(String(cString: c)) }
        }
        return found.sorted()
    }

    /// The names of all tags that peel to `commit`, sorted.
    public func tags(pointingAt commit: String) throws(GitError) -> [String] {
        var names = git_strarray()
        guard git_tag_list(&names, repository) == 0 else { throw GitError.last("list tags", path: workingDirectory) }
        defer { git_strarray_dispose(&names) }
        var found: [String] = []
        for i in 0..<names.count {
            guard let c = names.strings[i] else { continue }
            let name = String(cString: c)
            if let tag = try tag(named: name), tag.commit == commit { found.append(name) }
        }
        return found.sorted()
    }

    /// Every path under `pathspecs` (relative to the working tree) that differs from HEAD:
    /// staged or unstaged changes, untracked files, and ignored files (which a bundle would
    /// otherwise pick up without their being in any commit).
    public func changes(under pathspecs: [String]) throws(GitError) -> [GitPathStatus] {
        var options = git_status_options()
        git_status_options_init(&options, UInt32(GIT_STATUS_OPTIONS_VERSION))
        options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR
        options.flags =
            GIT_STATUS_OPT_INCLUDE_UNTRACKED.rawValue
            | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS.rawValue
            | GIT_STATUS_OPT_INCLUDE_IGNORED.rawValue
            | GIT_STATUS_OPT_RECURSE_IGNORED_DIRS.rawValue
            | GIT_STATUS_OPT_DISABLE_PATHSPEC_MATCH.rawValue
        // With pathspec matching disabled, each entry is a literal path prefix (a file or a folder).
        let cStrings = pathspecs.map { strdup($0) }
        defer { for p in cStrings { free(p) } }
        var pointerArray = cStrings.map { UnsafeMutablePointer<CChar>($0) }
        var list: OpaquePointer?
        let status = pointerArray.withUnsafeMutableBufferPointer { buffer -> Int32 in
            options.pathspec = git_strarray(strings: buffer.baseAddress, count: buffer.count)
            return git_status_list_new(&list, repository, &options)
        }
        guard status == 0, let list else { throw GitError.last("read the working tree status", path: workingDirectory) }
        defer { git_status_list_free(list) }
        var result: [GitPathStatus] = []
        for i in 0..<git_status_list_entrycount(list) {
            guard let entry = git_status_byindex(list, i) else { continue }
            let flags = entry.pointee.status.rawValue
            if flags == GIT_STATUS_CURRENT.rawValue { continue }
            var states: [String] = []
            let names: [(git_status_t, String)] = [
                (GIT_STATUS_INDEX_NEW, "staged new file"), (GIT_STATUS_INDEX_MODIFIED, "staged change"),
                (GIT_STATUS_INDEX_DELETED, "staged deletion"), (GIT_STATUS_INDEX_RENAMED, "staged rename"),
                (GIT_STATUS_INDEX_TYPECHANGE, "staged type change"),
                (GIT_STATUS_WT_NEW, "untracked"), (GIT_STATUS_WT_MODIFIED, "modified"),
                (GIT_STATUS_WT_DELETED, "deleted"), (GIT_STATUS_WT_TYPECHANGE, "type changed"),
                (GIT_STATUS_WT_RENAMED, "renamed"), (GIT_STATUS_IGNORED, "ignored"),
                (GIT_STATUS_CONFLICTED, "conflicted"),
            ]
            for (flag, word) in names where flags & flag.rawValue != 0 { states.append(word) }
            let delta = entry.pointee.index_to_workdir ?? entry.pointee.head_to_index
            var path = "?"
            if let delta {
                if let p = delta.pointee.new_file.path {
                    path = String(cString: p)
                } else if let p = delta.pointee.old_file.path {
                    path = String(cString: p)
                }
            }
            result.append(GitPathStatus(path: path, states: states))
        }
        return result.sorted { $0.path < $1.path }
    }
}

/// The libgit2 that this process runs with.
enum LibGit2Library {
    /// The loaded library's version (`git_libgit2_version`), e.g. "libgit2 1.5.1".
    static var runtimeVersion: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var revision: Int32 = 0
        guard git_libgit2_version(&major, &minor, &revision) == 0 else { return "libgit2 (version unknown)" }
        return "libgit2 \(major).\(minor).\(revision)"
    }
}
