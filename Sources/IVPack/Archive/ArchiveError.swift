internal import CLibArchive

/// A failure reported by libarchive, with its own message.
public struct ArchiveError: IVPackError, Equatable {
    /// What ivpack was doing, e.g. "write the header of payload/a.bin".
    public let operation: String
    /// The archive file concerned.
    public let path: String
    /// libarchive's `archive_error_string`, when it gave one.
    public let reason: String
    /// Whether the archive was an input (a bundle being read: exit 2) or an output (exit 3).
    public let isInput: Bool

    public var exitStatus: ExitStatus { isInput ? .badInput : .environment }

    public var description: String { "\(path): cannot \(operation): \(reason)" }

    static func from(_ archive: OpaquePointer?, operation: String, path: String, isInput: Bool) -> ArchiveError {
        var reason = "libarchive reported an error without a message"
        if let archive, let message = archive_error_string(archive) {
            reason = String(cString: message)
        }
        return ArchiveError(operation: operation, path: path, reason: reason, isInput: isInput)
    }
}

/// The libarchive that this process runs with.
enum LibArchiveLibrary {
    /// libarchive's own version text of the loaded library (`archive_version_string`), e.g. "libarchive 3.6.2".
    static var runtimeVersion: String { String(cString: archive_version_string()) }
}
