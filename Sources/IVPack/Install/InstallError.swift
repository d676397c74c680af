/// Why `install`, `rollback` or `status` stopped. Each case says what, where and what to do; the
/// exit status follows the documented codes (1 refused or check failed, 2 bad input, 3 environment).
public enum InstallError: IVPackError {
    /// A system call on a named file failed.
    case file(FileSystemError)
    /// The bundle, a state record or a manifest kept under the root is bad input.
    case input(InputError)
    /// Verify's checks on manifest, entries and signatures failed: nothing was written.
    case verificationFailed(VerifyReport)
    /// Chunks did not match while extracting: the staging folder was removed.
    case payloadMismatch(bundle: String, problems: [String])
    /// The root is not a folder, or is a link.
    case badRoot(path: String, problem: String)
    /// Another ivpack holds the root's lock.
    case locked(lockFile: String, seconds: Double)
    /// A version below the active one, without `--allow-downgrade --reason`.
    case downgradeRefused(active: String, requested: String, comparable: Bool)
    /// Another product is installed under this root.
    case otherProduct(root: String, installed: String, bundle: String)
    /// Nothing to roll back to, or `--to` names no kept release.
    case noRollbackTarget(root: String, problem: String)
    /// No installation at this root (status, rollback).
    case notInstalled(root: String)
    /// The root's state and its folders disagree in a way ivpack cannot mend by itself.
    case inconsistent(root: String, problem: String)
    /// The site's state cannot be snapshotted or restored (a link, a device).
    case stateRefused(StatePathRefusal)
    /// `--accept-unchecked` names no requirement of the release; nothing was written.
    case unmatchedAcceptance(UnmatchedAcceptance)
    /// An encrypted bundle and no content key that opens it; nothing was written.
    case contentKey(bundle: String, problem: String, hint: String)

    public var exitStatus: ExitStatus {
        switch self {
        case .file(let e): return e.exitStatus
        case .input(let e): return e.exitStatus
        case .verificationFailed, .payloadMismatch, .downgradeRefused, .otherProduct, .noRollbackTarget, .contentKey:
            return .checkFailed
        case .badRoot, .notInstalled, .unmatchedAcceptance: return .badInput
        case .locked, .inconsistent, .stateRefused: return .environment
        }
    }

    public var description: String {
        switch self {
        case .file(let e): return "\(e)"
        case .input(let e): return "\(e)"
        case .verificationFailed(let report):
            let lines = report.checks.filter { $0.status == .fail }.flatMap { check in
                ["FAIL  \(check.id): \(check.title)"] + check.details.map { "      - \($0)" }
            }
            return "\(report.bundle): the bundle does not verify; nothing was installed\n"
                + lines.joined(separator: "\n")
        case .payloadMismatch(let bundle, let problems):
            return
                "\(bundle): the payload does not match the signed manifest; nothing was installed (the staging folder was removed)\n"
                + BundleVerifier.capped(problems).map { "  - \($0)" }.joined(separator: "\n")
        case .badRoot(let path, let problem): return "\(path): \(problem)"
        case .locked(let lockFile, let seconds):
            return
                "\(lockFile): another ivpack (install, rollback) is working on this install root; waited \(Int(seconds)) s for its lock. "
                + "Wait for it to finish and try again"
        case .downgradeRefused(let active, let requested, let comparable):
            return comparable
                ? "version \(requested) is below the active version \(active): a downgrade is refused. To install it anyway, give --allow-downgrade --reason TEXT (recorded in the installed state)"
                : "version \(requested) cannot be compared with the active version \(active), so it may be a downgrade: refused. To install it anyway, give --allow-downgrade --reason TEXT (recorded in the installed state)"
        case .otherProduct(let root, let installed, let bundle):
            return "\(root) holds \(installed); the bundle is \(bundle). Install it under its own root (--root)"
        case .noRollbackTarget(let root, let problem): return "\(root): \(problem)"
        case .unmatchedAcceptance(let e): return "\(e)"
        case .contentKey(let bundle, let problem, let hint):
            return "\(bundle): cannot decrypt: \(problem); nothing was installed. \(hint)"
        case .notInstalled(let root):
            return
                "\(root): nothing is installed here (no .ivpack/state.json). Check --root, or install a bundle first with `ivpack install`"
        case .inconsistent(let root, let problem): return "\(root): \(problem)"
        case .stateRefused(let refusal):
            return
                "\(refusal); nothing was changed by this step (the active release and the site's state are as they were)"
        }
    }
}

extension InstallError {
    /// Runs `body`, giving whatever it throws as an `InstallError` (a file-system error as `.file`).
    static func mapping<T>(_ body: () throws -> T) throws(InstallError) -> T {
        do {
            return try body()
        } catch let error as InstallError {
            throw error
        } catch let error as FileSystemError {
            throw .file(error)
        } catch let error as InputError {
            throw .input(error)
        } catch let error as StatePathRefusal {
            throw .stateRefused(error)
        } catch {
            throw .inconsistent(root: "", problem: "\(error)")
        }
    }
}
