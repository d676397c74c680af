/// What an error says about an input, in one shape: the input it is about, where in it, what is
/// wrong, and what to do. Rendered one way, so messages read alike whatever found the problem:
///
///     ivpack.yaml:12:5: components[2].kind: unknown kind "binary". Use one of: code, model, ...
///     m.gguf: bad magic at byte 0. Export the model again
///     bundle.ivp: manifest member /components/0/files/0/path must be a safe relative path. The bundle is ...
///
/// Names inside the texts are escaped by whoever builds the diagnostic (`Display.name`), never here,
/// so that a path that is already shown escaped is not escaped twice.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    /// Where in the input the problem is.
    public enum Location: Sendable, Equatable {
        /// The input as a whole.
        case none
        /// A line and column (1-based; 0 when unknown) of a text file, and the field there as a path
        /// from the document root (`components[2].kind`, empty for the document).
        case line(Int, column: Int, field: String)
        /// A position in words (`byte 8`, `line 3`), told after the problem: `... at byte 8`.
        case at(String)
        /// A member of a JSON document by JSON pointer: `manifest member /components/0/kind ...`
        /// (`manifest ...` when the pointer is empty).
        case member(of: String, pointer: String)
    }

    /// The input, as the user named it (a file path, a bundle, a certificate's subject).
    public var file: String
    public var location: Location
    /// What is wrong, as a sentence fragment without a final full stop.
    public var problem: String
    /// What to do about it; empty when there is nothing more to say.
    public var hint: String

    public init(file: String, location: Location = .none, problem: String, hint: String = "") {
        self.file = file
        self.location = location
        self.problem = problem
        self.hint = hint
    }

    /// `FILE[:LINE:COLUMN]: [FIELD: ]PROBLEM[ at WHERE][. HINT]`.
    public var description: String {
        var s = file
        var what = problem
        switch location {
        case .none:
            break
        case .line(let line, let column, let field):
            if line > 0 { s += ":\(line):\(column)" }
            if !field.isEmpty { what = "\(field): \(problem)" }
        case .at(let place):
            what = "\(problem) at \(place)"
        case .member(let document, let pointer):
            what = pointer.isEmpty ? "\(document) \(problem)" : "\(document) member \(pointer) \(problem)"
        }
        s += ": " + what
        if !hint.isEmpty { s += ". " + hint }
        return s
    }
}

/// An input ivpack cannot use: a spec, policy, manifest, bundle, version source, credential or
/// report that does not parse or breaks its rules. Always exit status 2 (bad input). `kind` says
/// which sort of input, for callers and tests that tell them apart; `diagnostic` says the rest.
public struct InputError: IVPackError, Equatable {
    /// The sort of input.
    public enum Kind: String, Sendable, Equatable {
        /// A YAML input: the release spec, a gate or trust policy, the licence server's configuration.
        case yaml
        /// A bundle's manifest.
        case manifest
        /// A bundle whose structure is wrong for the command (an interrupted signing, not a bundle).
        case bundle
        /// A file a version is read from: model weights, a document, an SBOM, a requirements file.
        case versionSource
        /// The release notes.
        case releaseNotes
        /// A key, certificate or HSM object.
        case credential
        /// An IQ report given to `sign-report` or `verify-report`.
        case report
        /// An install root's installed-state record (`.ivpack/state.json`) or what it names.
        case installState
        /// A release's qualification data on site: the reference dataset's labels file.
        case qualification
    }

    public var kind: Kind
    public var diagnostic: Diagnostic

    public init(_ kind: Kind, _ diagnostic: Diagnostic) {
        self.kind = kind
        self.diagnostic = diagnostic
    }

    public var exitStatus: ExitStatus { .badInput }
    public var description: String { diagnostic.description }

    /// The input, as named.
    public var file: String { diagnostic.file }
    /// What is wrong.
    public var problem: String { diagnostic.problem }
    /// What to do.
    public var hint: String { diagnostic.hint }
    /// The field (for a YAML input) or JSON pointer (for a JSON document); empty otherwise.
    public var field: String {
        switch diagnostic.location {
        case .line(_, _, let field): return field
        case .member(_, let pointer): return pointer
        case .none, .at: return ""
        }
    }
    /// The 1-based line of a text input; 0 when unknown or not a line.
    public var line: Int {
        if case .line(let line, _, _) = diagnostic.location { return line }
        return 0
    }
    /// The position told in words (`byte 8`); empty when the location is not of that sort.
    public var detail: String {
        if case .at(let detail) = diagnostic.location { return detail }
        return ""
    }
}
