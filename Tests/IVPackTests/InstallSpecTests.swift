import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// The spec's `install:` section: read from YAML, applied by the build (executables), carried
/// signed in the manifest's `install` member and checked again by both manifest readers.
@Suite struct InstallSpecTests {
    static let version = "V2.3.1.1024"

    static let head = """
        apiVersion: ivpack.dev/v1
        product: {name: PulmoScan AI, vendor: Example Medical AI Co., model: PS-AI}
        version: \(version)
        releaseNotes: release-notes.md
        chunkSize: 64KiB
        components:
          - {name: service, kind: file, paths: [bin, etc]}

        """

    static let install = """
        install:
          root: /opt/example-medical//pulmoscan/
          executables: [bin/migrate]
          state: [etc, var/db/]
          hooks:
            preInstall: {run: [bin/migrate, --check, "two words"], timeout: 5m}
            healthCheck:
              run: [bin/health-check]
              timeout: 30s
            postRollback:
              run: [./bin/health-check, --after-rollback]

        """

    /// A release of plain files in a temporary folder: no git, no models, quick to build.
    final class SmallRelease {
        let folder = TemporaryFolder("ivpack-install-spec")
        let out = TemporaryFolder("ivpack-install-spec-out")
        var specPath: String { folder.url("ivpack.yaml") }
        var bundlePath: String { out.url("b.ivp") }

        init(install: String = InstallSpecTests.install) {
            folder.write("ivpack.yaml", InstallSpecTests.head + install)
            folder.write("bin/health-check", "#!/bin/sh\nexit 0\n", mode: 0o755)
            folder.write("bin/migrate", "#!/bin/sh\nexit 0\n", mode: 0o644)
            folder.write("etc/app.conf", "threshold=0.5\n")
            folder.write(
                "release-notes.md",
                "# PulmoScan AI \(InstallSpecTests.version) release notes\n\n## Changes\n- PS-1 corrective: fix\n")
        }

        func build() throws -> BuildResult {
            try BundleBuilder.build(specPath: specPath, outputPath: bundlePath, sourceDateEpoch: 1_700_000_000)
        }
    }

    static let expected = InstallSpec(
        root: "/opt/example-medical/pulmoscan", state: ["etc", "var/db"],
        hooks: [
            .preInstall: .init(run: ["bin/migrate", "--check", "two words"], timeoutSeconds: 300),
            .healthCheck: .init(run: ["bin/health-check"], timeoutSeconds: 30),
            .postRollback: .init(run: ["bin/health-check", "--after-rollback"], timeoutSeconds: 60),
        ])

    /// The mode field of the tar header of `entry` in `bundle` (`000755 \0` is "000755").
    static func headerMode(_ bundle: [UInt8], _ entry: String) -> String? {
        let name = Array(entry.utf8) + [0]
        for start in stride(from: 0, to: bundle.count - 512, by: 512)
        where bundle[start..<(start + name.count)].elementsEqual(name) {
            return String(decoding: bundle[(start + 100)..<(start + 106)], as: UTF8.self)
        }
        return nil
    }

    // MARK: Spec to manifest and back

    @Test func installSectionTravelsIntoTheManifestAndBack() throws {
        let release = SmallRelease()
        let spec = try ReleaseSpec.load(path: release.specPath)
        #expect(spec.install?.spec == Self.expected)
        #expect(spec.install?.executables == ["bin/migrate"])

        let built = try release.build()
        #expect(built.manifest.install == Self.expected)
        let modes = Dictionary(uniqueKeysWithValues: built.manifest.allFiles.map { ($0.path, $0.mode) })
        #expect(modes["payload/bin/migrate"] == "0755", "install.executables gives the file mode 0755")
        #expect(modes["payload/bin/health-check"] == "0755")
        #expect(modes["payload/etc/app.conf"] == "0644")
        // The tar header carries the manifest's mode, or verify's header binding would fail.
        let bundle = release.out.read("b.ivp")
        #expect(Self.headerMode(bundle, "payload/bin/migrate") == "000755")

        let bytes = built.manifest.canonicalBytes
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(
            text.contains(
                #","format":"ivpack-manifest/1","install":{"hooks":{"healthCheck":{"run":["bin/health-check"],"timeoutSeconds":30},"#
                    + #""postRollback":{"run":["bin/health-check","--after-rollback"],"timeoutSeconds":60},"#
                    + #""preInstall":{"run":["bin/migrate","--check","two words"],"timeoutSeconds":300}},"#
                    + #""root":"/opt/example-medical/pulmoscan","state":["etc","var/db"]},"product":{"#),
            "\(text)")
        #expect(bytes == CanonicalJSON.encode(built.manifest.json))
        #expect(try Manifest.decode(bytes, source: "b.ivp") == built.manifest)
        #expect(try Manifest.decodeGeneral(bytes, source: "b.ivp") == built.manifest)
        #expect(Manifest.readCanonical(bytes) == built.manifest, "the one-pass reader reads the install member")
    }

    @Test func bundleAndSpecWithInstallValidateAgainstTheSchemas() throws {
        let release = SmallRelease()
        _ = try release.build()
        let root = SchemaTests.repositoryRoot
        let r = run(
            "/usr/bin/env",
            ["python3", root + "/scripts/check-schemas.py", "--spec", release.specPath, release.bundlePath], in: root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test func aSectionWithOnlyExecutablesLeavesNoInstallMember() throws {
        let release = SmallRelease(install: "install:\n  executables: [bin/migrate]\n")
        let built = try release.build()
        #expect(built.manifest.install == nil)
        #expect(built.manifest.allFiles.first { $0.path == "payload/bin/migrate" }?.mode == "0755")
        #expect(!String(decoding: built.manifest.canonicalBytes, as: UTF8.self).contains("\"install\""))
    }

    // MARK: Refused by the spec reader

    @Test(arguments: [
        ("  hooks: {preinstall: {run: [bin/x]}}", "install.hooks.preinstall", "unknown key"),
        ("  colour: blue", "install.colour", "unknown key"),
        ("  root: opt/pulmoscan", "install.root", "not absolute"),
        ("  root: /opt/../etc", "install.root", "'..'"),
        ("  root: /", "install.root", "root of the file system"),
        ("  state: [etc, ../etc]", "install.state[1]", "'..'"),
        ("  state: [/etc]", "install.state[0]", "absolute"),
        ("  state: [var, etc, etc/app]", "install.state[2]", "one inside the other"),
        ("  state: [etc, ./etc/]", "install.state[1]", "the same path"),
        ("  state: [.]", "install.state[0]", "empty"),
        (
            "  hooks: {healthCheck: {run: [bin/health-check], timeout: 0s}}", "install.hooks.healthCheck.timeout",
            "0 s is outside"
        ),
        (
            "  hooks: {healthCheck: {run: [bin/health-check], timeout: 61m}}", "install.hooks.healthCheck.timeout",
            "3660 s is outside"
        ),
        (
            "  hooks: {healthCheck: {run: [bin/health-check], timeout: 30}}", "install.hooks.healthCheck.timeout",
            "with a unit"
        ),
        (
            "  hooks: {healthCheck: {run: [bin/health-check], timeout: 30 s}}", "install.hooks.healthCheck.timeout",
            "with a unit"
        ),
        ("  hooks: {healthCheck: {run: []}}", "install.hooks.healthCheck.run", "empty"),
        ("  hooks: {healthCheck: {timeout: 30s}}", "install.hooks.healthCheck.run", "missing"),
        ("  hooks: {healthCheck: {run: [../outside]}}", "install.hooks.healthCheck.run[0]", "leaves the release"),
        ("  executables: [bin/migrate, bin//migrate]", "install.executables[1]", "listed twice"),
    ])
    func specRefusesInstallValues(line: String, field: String, problem: String) throws {
        let text = Self.head + "install:\n" + line + "\n"
        let error = #expect(throws: InputError.self) {
            try ReleaseSpec.parse(bytes: Array(text.utf8), file: "ivpack.yaml", root: "/nonexistent")
        }
        #expect(error?.kind == .yaml)
        #expect(error?.field == field, "\(String(describing: error))")
        #expect(error?.problem.contains(problem) == true, "\(String(describing: error))")
        // `install:` is line 8 of the spec, the line under test 9.
        #expect(error?.line == 9, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("ivpack.yaml:\(error?.line ?? 0):") == true)
    }

    @Test func tooManyStatePathsOrArgumentsAreRefused() throws {
        let paths = (0...InstallSpec.maxStatePaths).map { "s\($0)" }.joined(separator: ", ")
        let args = (0...InstallSpec.maxHookArguments).map { "a\($0)" }.joined(separator: ", ")
        for (line, field) in [
            ("  state: [\(paths)]", "install.state"),
            ("  hooks: {healthCheck: {run: [bin/health-check, \(args)]}}", "install.hooks.healthCheck.run"),
        ] {
            let text = Self.head + "install:\n" + line + "\n"
            let error = #expect(throws: InputError.self) {
                try ReleaseSpec.parse(bytes: Array(text.utf8), file: "ivpack.yaml", root: "/nonexistent")
            }
            #expect(error?.field == field, "\(String(describing: error))")
            #expect(error?.problem.contains("more than") == true, "\(String(describing: error))")
        }
    }

    // MARK: Refused by the build

    @Test(arguments: [
        (
            "  hooks: {healthCheck: {run: [bin/nope]}}", "install.hooks.healthCheck.run[0]", "bin/nope",
            "not a file of the release"
        ),
        (
            "  hooks: {preInstall: {run: [bin/migrate]}}", "install.hooks.preInstall.run[0]", "bin/migrate",
            "not executable"
        ),
        ("  hooks: {preInstall: {run: [etc]}}", "install.hooks.preInstall.run[0]", "etc", "not a file"),
        ("  executables: [bin/nope]", "install.executables[0]", "bin/nope", "not a file of the release"),
    ])
    func buildRefusesProgramsAndExecutablesThatAreNotFilesOfTheRelease(
        line: String, field: String, path: String, problem: String
    ) throws {
        let release = SmallRelease(install: "install:\n" + line + "\n")
        let error = #expect(throws: InputError.self) { try release.build() }
        #expect(error?.kind == .yaml)
        #expect(error?.field == field, "\(String(describing: error))")
        #expect(error?.problem.contains("\"\(path)\"") == true, "\(String(describing: error))")
        #expect(error?.problem.contains(problem) == true, "\(String(describing: error))")
        #expect(error?.line == 9, "\(String(describing: error))")
        #expect(error?.description.hasPrefix(release.specPath + ":9:") == true, "\(String(describing: error))")
        if field.hasPrefix("install.hooks") {
            #expect(error?.problem.contains(field.split(separator: ".")[2]) == true, "the message names the hook")
        }
        if problem == "not executable" {
            #expect(error?.hint.contains("install.executables") == true)
            #expect(error?.hint.contains("chmod +x") == true)
        }
        #expect(!release.out.exists("b.ivp"), "no bundle is written")
    }

    // MARK: Refused by both manifest readers

    /// A built manifest with `install` replaced: the bytes a hostile vendor could sign.
    static func hostile(_ base: Manifest, _ change: (inout InstallSpec?) -> Void) -> [UInt8] {
        var m = base
        change(&m.install)
        return m.canonicalBytes
    }

    static func expectRefused(_ bytes: [UInt8], pointer: String, _ what: String) {
        #expect(Manifest.readCanonical(bytes) == nil, "one-pass reader accepted: \(what)")
        let error = #expect(throws: InputError.self, "\(what)") { try Manifest.decode(bytes, source: "hostile.ivp") }
        #expect(error?.kind == .manifest, "\(what)")
        #expect(error?.field == pointer, "\(what): \(String(describing: error))")
        #expect(error?.description.contains("manifest member \(pointer) ") == true, "\(what)")
    }

    @Test func hostileInstallMembersAreRefusedWithTheirPointer() throws {
        let release = SmallRelease()
        let base = try release.build().manifest
        let h = "/install/hooks/healthCheck"
        let cases: [(String, String, (inout InstallSpec?) -> Void)] = [
            ("state ../etc", "/install/state/0", { $0?.state = ["../etc"] }),
            ("state a/../../etc", "/install/state/1", { $0?.state = ["etc", "a/../../etc"] }),
            ("state /etc", "/install/state/0", { $0?.state = ["/etc"] }),
            ("state .", "/install/state/0", { $0?.state = ["."] }),
            ("state not normal", "/install/state/0", { $0?.state = ["var//db/"] }),
            ("state nested", "/install/state/2", { $0?.state = ["var", "etc/app", "etc"] }),
            ("state twice", "/install/state/1", { $0?.state = ["etc", "etc"] }),
            (
                "too many state paths", "/install/state",
                { $0?.state = (0...InstallSpec.maxStatePaths).map { "s\($0)" } }
            ),
            ("relative root", "/install/root", { $0?.root = "opt/pulmoscan" }),
            ("root with ..", "/install/root", { $0?.root = "/opt/../etc" }),
            ("root /", "/install/root", { $0?.root = "/" }),
            ("root trailing slash", "/install/root", { $0?.root = "/opt/pulmoscan/" }),
            ("program not in payload", "\(h)/run/0", { $0?.hooks[.healthCheck]?.run[0] = "bin/nope" }),
            ("program 0644", "\(h)/run/0", { $0?.hooks[.healthCheck]?.run[0] = "etc/app.conf" }),
            ("program with payload/", "\(h)/run/0", { $0?.hooks[.healthCheck]?.run[0] = "payload/bin/health-check" }),
            ("program outside", "\(h)/run/0", { $0?.hooks[.healthCheck]?.run[0] = "../bin/health-check" }),
            ("program absolute", "\(h)/run/0", { $0?.hooks[.healthCheck]?.run[0] = "/bin/sh" }),
            ("no program", "\(h)/run", { $0?.hooks[.healthCheck]?.run = [] }),
            ("NUL argument", "\(h)/run/1", { $0?.hooks[.healthCheck]?.run.append("a\u{0}b") }),
            (
                "too many arguments", "\(h)/run",
                { $0?.hooks[.healthCheck]?.run += (0...InstallSpec.maxHookArguments).map { "a\($0)" } }
            ),
            ("timeout 0", "\(h)/timeoutSeconds", { $0?.hooks[.healthCheck]?.timeoutSeconds = 0 }),
            (
                "timeout too large", "\(h)/timeoutSeconds",
                { $0?.hooks[.healthCheck]?.timeoutSeconds = InstallSpec.maxHookTimeout + 1 }
            ),
            ("empty install", "/install", { $0 = InstallSpec() }),
        ]
        for (what, pointer, change) in cases {
            Self.expectRefused(Self.hostile(base, change), pointer: pointer, what)
        }
    }

    @Test func installMembersIvpackNeverWritesAreRefused() throws {
        let release = SmallRelease()
        let text = String(decoding: try release.build().manifest.canonicalBytes, as: UTF8.self)
        for (from, to, pointer) in [
            (#""install":{"#, #""install":{"colour":"blue","#, "/install/colour"),
            (
                #""hooks":{"#, #""hooks":{"deploy":{"run":["bin/health-check"],"timeoutSeconds":30},"#,
                "/install/hooks/deploy"
            ),
            (#""state":["etc","var/db"]"#, #""state":[]"#, "/install/state"),
            (#""timeoutSeconds":30}"#, #""timeoutSeconds":30,"user":"root"}"#, "/install/hooks/healthCheck/user"),
            (#""timeoutSeconds":30}"#, #""timeoutSeconds":"30"}"#, "/install/hooks/healthCheck/timeoutSeconds"),
            (#""root":"/opt/example-medical/pulmoscan""#, #""root":7"#, "/install/root"),
            (#""run":["bin/health-check"]"#, #""run":"bin/health-check""#, "/install/hooks/healthCheck/run"),
        ] {
            #expect(text.contains(from), "\(from)")
            Self.expectRefused(Array(text.replacingOccurrences(of: from, with: to).utf8), pointer: pointer, to)
        }
        // Empty hooks: the general reader names it; nothing else in the member is left.
        var noHooks = try release.build().manifest
        noHooks.install?.hooks = [:]
        let bytes = String(decoding: noHooks.canonicalBytes, as: UTF8.self).replacingOccurrences(
            of: #""install":{"#, with: #""install":{"hooks":{},"#)
        Self.expectRefused(Array(bytes.utf8), pointer: "/install/hooks", "empty hooks")
    }

    @Test func timeoutTextsAreReadAsDurations() {
        #expect(InstallSpec.parseTimeout("30s") == .success(30))
        #expect(InstallSpec.parseTimeout("5m") == .success(300))
        #expect(InstallSpec.parseTimeout("1s") == .success(1))
        #expect(InstallSpec.parseTimeout("60m") == .success(InstallSpec.maxHookTimeout))
        #expect(InstallSpec.parseTimeout("3601s") == .failure(.timeoutOutOfRange(3601)))
        #expect(InstallSpec.parseTimeout("0m") == .failure(.timeoutOutOfRange(0)))
        for text in ["30", "s", "-5s", "1.5m", "5h", "5 m", "9999999999s", "+3s", "٣s"] {
            #expect(InstallSpec.parseTimeout(text) == .failure(.timeoutNotDuration), "\(text)")
        }
    }
}
