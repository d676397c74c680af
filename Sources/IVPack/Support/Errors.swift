/// The process exit statuses ivpack documents. argument-parser itself uses 64 for usage errors.
public enum ExitStatus: Int32, Sendable {
    /// Everything checked passed.
    case success = 0
    /// A check failed: the bundle, the policy or the licence said no.
    case checkFailed = 1
    /// An input does not parse or breaks its schema, or names something that is not there.
    case badInput = 2
    /// The environment failed: I/O, a full disk, a library that would not start.
    case environment = 3
}

/// An error that stops an ivpack command. Its description says what, where and what to do.
public protocol IVPackError: Error, CustomStringConvertible, Sendable {
    /// The exit status the command line reports for this error.
    var exitStatus: ExitStatus { get }
}

/// A failure of a system call on a named file.
public struct FileSystemError: IVPackError, Equatable {
    /// What ivpack was doing, e.g. "open for reading".
    public let operation: String
    /// The file concerned.
    public let path: String
    /// The `errno` value reported by the system.
    public let code: Int32
    /// Whether the file was an input (bad input, exit 2) or an output (environment, exit 3).
    public let isInput: Bool

    public init(operation: String, path: String, code: Int32, isInput: Bool) {
        self.operation = operation
        self.path = path
        self.code = code
        self.isInput = isInput
    }

    public var exitStatus: ExitStatus { isInput ? .badInput : .environment }

    public var description: String {
        let reason = String(cString: strerror(code))
        var hint = ""
        switch code {
        case ENOENT:
            hint =
                isInput
                ? " Check the path: a relative path is taken from the current folder, or, inside a spec or policy file, from that file's folder."
                : " Create the folder first."
        case EACCES, EPERM: hint = " Check the file's permissions and the user ivpack runs as."
        case ENOSPC, EDQUOT: hint = " Free space on that file system or write the output elsewhere."
        case EROFS: hint = " The file system is read-only; write the output elsewhere."
        default: break
        }
        return "\(path): cannot \(operation): \(reason).\(hint)"
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
