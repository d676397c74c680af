internal import CIVPackBuildStamp

/// What this ivpack is: its version, the commit and time it was built from, and the C libraries it
/// runs with, read from the loaded libraries at run time (the ones a site's installation actually
/// uses, which may differ from the ones it was built against).
public struct BuildInfo: Sendable, Equatable {
    /// ivpack's own version (`IVPackVersion.current`).
    public let version: String
    /// The git commit of the build (`make release`), "-dirty" appended for a modified tree; "unknown"
    /// for a plain `swift build`.
    public let commit: String
    /// When the build was made (UTC, ISO 8601; SOURCE_DATE_EPOCH when set); "unknown" for a plain
    /// `swift build`.
    public let date: String
    /// The linked libraries' own version texts, in a fixed order: OpenSSL, libarchive, libgit2.
    public let libraries: [String]

    /// This process's build.
    public static var current: BuildInfo {
        BuildInfo(
            version: IVPackVersion.current,
            commit: String(cString: ivpack_build_commit()),
            date: String(cString: ivpack_build_date()),
            libraries: [OpenSSLLibrary.runtimeVersion, LibArchiveLibrary.runtimeVersion, LibGit2Library.runtimeVersion])
    }

    /// What `ivpack --version` prints: the version on the first line (what scripts read), then the
    /// build and one line per library.
    public var versionText: String {
        ([version, "commit \(commit), built \(date)"] + libraries).joined(separator: "\n")
    }
}
