import Foundation
import IVPack

/// Signed bundles of several versions from one development PKI, and an install root in a fresh
/// temporary folder (the root itself is not created: install creates it).
public final class InstallFixture: @unchecked Sendable {
    public let signed: SignedRelease
    public let work: TemporaryFolder
    /// `work/root`.
    public var root: String { work.url("root") }
    private var releases: [ReleaseFixture] = []

    public init() throws {
        signed = try SignedRelease()
        work = TemporaryFolder("ivpack-install")
    }

    /// The payload file that is large enough (2 MiB) for the hashing workers to write it themselves.
    public static let bigFile = "LICENSE.txt"
    public static let bigSize = 2 << 20

    /// Deterministic bytes that differ per seed.
    public static func pattern(_ count: Int, seed: UInt32) -> [UInt8] {
        var x = seed &* 2_654_435_761 | 1
        return (0..<count).map { _ in
            x ^= x << 13
            x ^= x >> 17
            x ^= x << 5
            return UInt8(truncatingIfNeeded: x)
        }
    }

    /// Builds the fixture release at `version` (with a 2 MiB LICENSE.txt when `big`) into
    /// `work/NAME.ivp`, signed by both development roles. `install` is the spec's `install:`
    /// section (YAML, without the key); `files` are more files of the release (path, text, mode),
    /// e.g. hook scripts under `service/`; `extraComponents` are more component entries (YAML,
    /// indented as list items of `components:`), `sections` more top-level spec sections.
    public func bundle(
        version: String, big: Bool = true, name: String? = nil, install: String? = nil,
        files: [(String, String, Int)] = [], extraComponents: String = "", sections: String = "",
        encryption: BuildEncryption = BuildEncryption()
    ) throws -> String {
        let release = ReleaseFixture(version: version)
        if big {
            release.folder.write(
                Self.bigFile,
                Self.pattern(Self.bigSize, seed: version.utf8.reduce(UInt32(7)) { $0 &* 31 &+ UInt32($1) }))
        }
        if install != nil || !files.isEmpty || !sections.isEmpty {
            for (path, text, mode) in files { release.folder.write(path, text, mode: mode) }
            if install != nil || !sections.isEmpty || !extraComponents.isEmpty {
                var spec = ReleaseFixture.spec(version: version, extraComponents: extraComponents)
                if let install {
                    let indented = install.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
                    spec += "\ninstall:\n" + indented.joined(separator: "\n") + "\n"
                }
                release.folder.write("ivpack.yaml", spec + "\n" + sections + "\n")
            }
            // The code component is versioned by the tag on a clean tree: commit and tag again.
            _ = git(["add", "-A"], in: release.root)
            _ = git(["commit", "-q", "--amend", "--no-edit"], in: release.root)
            _ = git(["tag", "-f", "-a", version, "-m", "Release \(version)"], in: release.root)
        }
        releases.append(release)
        let path = work.url((name ?? version) + ".ivp")
        _ = try release.build(to: path, encryption: encryption)
        for role in ["release-manager", "quality"] { try signed.sign(role: role, bundle: path) }
        return path
    }

    /// An install request for `bundle` into the root with the development policy.
    public func request(_ bundle: String) throws -> InstallRequest {
        InstallRequest(bundlePath: bundle, root: root, policy: try signed.policy())
    }

    /// What `current` points to (`releases/NAME`), or nil.
    public var currentTarget: String? { try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/current") }

    /// The names under `root/releases`.
    public func releaseFolderNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root + "/releases")) ?? []).sorted()
    }

    /// The bytes of the state file (empty when absent).
    public var stateBytes: [UInt8] {
        Array(FileManager.default.contents(atPath: root + "/.ivpack/state.json") ?? Data())
    }

    /// Every path under `folder` (relative, sorted), links not followed.
    public static func listing(_ folder: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: folder) else { return [] }
        var out: [String] = []
        while let p = e.nextObject() as? String { out.append(p) }
        return out.sorted()
    }
}
