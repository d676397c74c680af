import Foundation
import IVPack
import IVPackTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `install.destinations` (issue 15): where each component's files go in the release folder.
/// Real bundles signed by a development PKI, installed into temporary roots; collisions refused
/// by the build and, in a hostile signed manifest, by both manifest readers.
@Suite(.serialized) struct InstallDestinationTests {
    static let v1 = ReleaseFixture.defaultVersion

    /// The fixture's manuals, licence and service moved; the detector model stays where it is.
    static let install = """
        destinations:
          manuals: share/doc/pulmoscan/
          licences: share/licences
          inference-service: opt/app
        hooks:
          healthCheck:
            run: [service/hooks/health-check, --quick]
            timeout: 20s
        """

    static let healthCheck = "#!/bin/sh\necho \"health check $0 $1 in $(pwd)\"\ntest -f opt/app/service/app.py\n"

    static func bundle(_ f: InstallFixture) throws -> String {
        try f.bundle(
            version: v1, big: false, install: install,
            files: [("service/hooks/health-check", healthCheck, 0o755)])
    }

    static func mode(_ path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        return String(format: "%04o", Int(st.st_mode) & 0o7777)
    }

    // MARK: - Install

    @Test func filesLandUnderTheirComponentsDestinationWithTheManifestsBytesAndModes() throws {
        let f = try InstallFixture()
        let bundle = try Self.bundle(f)
        let outcome = try Installer.install(try f.request(bundle))
        #expect(outcome.failure == nil)
        let tree = f.root + "/releases/" + outcome.release.name
        let manifest = try Manifest.decode(
            Array(try #require(FileManager.default.contents(atPath: tree + ".manifest.json"))), source: "kept")
        #expect(
            manifest.install?.destinations
                == ["manuals": "share/doc/pulmoscan", "licences": "share/licences", "inference-service": "opt/app"])

        // Each file at its installed path, with the manifest's bytes and mode; nothing else in the tree.
        for (file, installed) in zip(manifest.allFiles, manifest.installedPaths) {
            let bytes = try #require(FileManager.default.contents(atPath: tree + "/" + installed), "\(installed)")
            #expect(SHA256Digest.of(Array(bytes)) == file.sha256, "\(installed)")
            #expect(Self.mode(tree + "/" + installed) == file.mode, "\(installed)")
        }
        let files = InstallFixture.listing(tree).filter { Self.mode(tree + "/" + $0) != nil }
        #expect(files == manifest.installedPaths.sorted())
        for path in [
            "share/doc/pulmoscan/docs/manual.md", "share/doc/pulmoscan/docs/guide.pdf", "share/licences/LICENSE.txt",
            "opt/app/service/app.py", "models/detector.safetensors", "release-notes.md",
        ] {
            #expect(files.contains(path), "\(path) not in \(files)")
        }
        #expect(Self.mode(tree + "/opt/app/service/run.sh") == "0755")
        #expect(!FileManager.default.fileExists(atPath: tree + "/docs"))
        #expect(!FileManager.default.fileExists(atPath: tree + "/service"))

        // The hook is named by its payload path and run from where it is installed.
        let health = try #require(outcome.hooks.first { $0.hook == .healthCheck })
        #expect(health.passed, "\(health.outcome) \(health.excerpt)")
        #expect(health.command == ["service/hooks/health-check", "--quick"])
        #expect(
            health.excerpt == ["health check \(tree)/opt/app/service/hooks/health-check --quick in \(tree)"],
            "\(health.excerpt)")

        let status = try Installer.status(root: f.root, check: true)
        #expect(status.drift?.clean == true, "\(String(describing: status.drift))")
        #expect(status.drift?.files == manifest.allFiles.count)

        let inspected = ivpack(["inspect", bundle])
        #expect(inspected.stdout.contains("  destination manuals: share/doc/pulmoscan/ (in the release folder)"))
    }

    @Test func statusCheckNamesDriftByInstalledPath() throws {
        let f = try InstallFixture()
        let outcome = try Installer.install(try f.request(try Self.bundle(f)))
        let tree = f.root + "/releases/" + outcome.release.name
        BundleSurgery.flipByte(in: tree + "/share/doc/pulmoscan/docs/manual.md", at: 3)
        try FileManager.default.removeItem(atPath: tree + "/share/doc/pulmoscan/docs/guide.pdf")
        f.work.write("root/releases/\(outcome.release.name)/docs/manual.md", "where it would be without destinations\n")
        let drift = try #require(try Installer.status(root: f.root, check: true).drift)
        #expect(
            drift.changed.contains { $0.hasPrefix("share/doc/pulmoscan/docs/manual.md: chunk 0") }, "\(drift.changed)")
        #expect(drift.missing == ["share/doc/pulmoscan/docs/guide.pdf"])
        #expect(drift.added == ["docs/manual.md"])
        let r = ivpack(["status", "--root", f.root, "--check"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stdout.contains("changed: share/doc/pulmoscan/docs/manual.md: chunk 0"), "\(r.stdout)")
        #expect(r.stdout.contains("missing: share/doc/pulmoscan/docs/guide.pdf"), "\(r.stdout)")
    }

    // MARK: - Build

    /// Two components of plain files: `service` ships `bin/tool` and `bin/health-check`,
    /// `extras` ships `tool` and `docs/readme.md`.
    final class TwoComponents {
        let folder = TemporaryFolder("ivpack-destinations")
        let out = TemporaryFolder("ivpack-destinations-out")
        var bundlePath: String { out.url("b.ivp") }

        init(destinations: String) {
            folder.write(
                "ivpack.yaml",
                """
                apiVersion: ivpack.dev/v1
                product: {name: PulmoScan AI, vendor: Example Medical AI Co., model: PS-AI}
                version: \(InstallSpecTests.version)
                releaseNotes: release-notes.md
                chunkSize: 64KiB
                components:
                  - {name: service, kind: file, paths: [bin]}
                  - {name: extras, kind: file, paths: [tool, docs]}
                install:
                  destinations: \(destinations)
                  hooks:
                    healthCheck: {run: [bin/health-check]}

                """)
            folder.write("bin/tool", "#!/bin/sh\n", mode: 0o755)
            folder.write("bin/health-check", "#!/bin/sh\nexit 0\n", mode: 0o755)
            folder.write("tool", "another tool\n")
            folder.write("docs/readme.md", "read me\n")
            folder.write(
                "release-notes.md",
                "# PulmoScan AI \(InstallSpecTests.version) release notes\n\n## Changes\n- PS-1 corrective: fix\n")
        }

        func build() throws -> BuildResult {
            try BundleBuilder.build(
                specPath: folder.url("ivpack.yaml"), outputPath: bundlePath, sourceDateEpoch: 1_700_000_000)
        }
    }

    @Test(arguments: [
        (
            "{extras: bin}", "install.destinations.extras",
            #""bin/tool" (component service) and "tool" (component extras) would both be installed at "bin/tool""#
        ),
        (
            "{extras: bin/tool}", "install.destinations.extras",
            #""bin/tool" (component service) would be installed at "bin/tool", a folder that "tool" (component extras) needs: it goes to "bin/tool/tool""#
        ),
        (
            "{service: x, extras: x/bin}", "install.destinations.service",
            #""bin/tool" (component service) and "tool" (component extras) would both be installed at "x/bin/tool""#
        ),
        (
            "{release-notes: tool}", "install.destinations.release-notes",
            #""tool" (component extras) would be installed at "tool", a folder that "release-notes.md" (component release-notes) needs"#
        ),
    ])
    func buildRefusesACollisionNamingBothFiles(destinations: String, field: String, problem: String) throws {
        let release = TwoComponents(destinations: destinations)
        let error = #expect(throws: InputError.self) { try release.build() }
        let text = error.map { "\($0)" } ?? ""
        #expect(error?.field == field, "\(text)")
        #expect(text.contains(problem), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: release.bundlePath), "no bundle is written")
    }

    @Test(arguments: [
        ("{extras: ../share}", "install.destinations.extras", "'..'"),
        ("{extras: /usr/share}", "install.destinations.extras", "absolute"),
        ("{extras: .}", "install.destinations.extras", "empty"),
        ("{extras: \"a\\\\b\"}", "install.destinations.extras", "backslash"),
        ("{nope: share}", "install.destinations.nope", "unknown key \"nope\""),
        ("[share]", "install.destinations", "expected a mapping"),
    ])
    func specRefusesDestinations(destinations: String, field: String, problem: String) throws {
        let release = TwoComponents(destinations: destinations)
        let error = #expect(throws: InputError.self) { try release.build() }
        #expect(error?.field == field, "\(String(describing: error))")
        #expect(error.map { "\($0)" }?.contains(problem) == true, "\(String(describing: error))")
    }

    @Test func aValidLayoutTravelsIntoTheManifestInCanonicalForm() throws {
        let release = TwoComponents(destinations: "{extras: share/extras/, release-notes: share/doc}")
        let built = try release.build()
        #expect(built.manifest.install?.destinations == ["extras": "share/extras", "release-notes": "share/doc"])
        let text = String(decoding: built.manifest.canonicalBytes, as: UTF8.self)
        #expect(
            text.contains(
                #""install":{"destinations":{"extras":"share/extras","release-notes":"share/doc"},"hooks":{"#),
            "\(text)")
        #expect(
            built.manifest.installedPaths.sorted() == [
                "bin/health-check", "bin/tool", "share/doc/release-notes.md", "share/extras/docs/readme.md",
                "share/extras/tool",
            ])
        #expect(built.manifest.installedPath(ofPayloadPath: "tool") == "share/extras/tool")
        #expect(built.manifest.installedPath(ofPayloadPath: "nope") == nil)
        #expect(Manifest.readCanonical(built.manifest.canonicalBytes) == built.manifest)
        #expect(try Manifest.decodeGeneral(built.manifest.canonicalBytes, source: "b.ivp") == built.manifest)
        let root = SchemaTests.repositoryRoot
        let r = run(
            "/usr/bin/env",
            [
                "python3", root + "/scripts/check-schemas.py", "--spec", release.folder.url("ivpack.yaml"),
                release.bundlePath,
            ], in: root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    // MARK: - Hostile signed manifests

    @Test func hostileDestinationsAreRefusedByBothReaders() throws {
        let base = try TwoComponents(destinations: "{extras: share}").build().manifest
        let d = "/install/destinations"
        let long = String(repeating: "d", count: RelativePath.maxBytes - 4)
        let cases: [(String, String, (inout InstallSpec?) -> Void)] = [
            ("same path", "\(d)/extras", { $0?.destinations = ["extras": "bin"] }),
            ("file where a folder is needed", "\(d)/extras", { $0?.destinations = ["extras": "bin/tool"] }),
            ("both moved onto each other", "\(d)/service", { $0?.destinations = ["extras": "x/bin", "service": "x"] }),
            ("parent", "\(d)/extras", { $0?.destinations = ["extras": "../share"] }),
            ("parent inside", "\(d)/extras", { $0?.destinations = ["extras": "share/../../x"] }),
            ("absolute", "\(d)/extras", { $0?.destinations = ["extras": "/usr/share"] }),
            ("dot", "\(d)/extras", { $0?.destinations = ["extras": "."] }),
            ("not normal", "\(d)/extras", { $0?.destinations = ["extras": "share//x/"] }),
            ("no such component", "\(d)/nope", { $0?.destinations = ["nope": "share"] }),
            ("installed path too long", d, { $0?.destinations = ["extras": long] }),
        ]
        for (what, pointer, change) in cases {
            InstallSpecTests.expectRefused(InstallSpecTests.hostile(base, change), pointer: pointer, what)
        }
        let text = String(decoding: base.canonicalBytes, as: UTF8.self)
        for (from, to, pointer) in [
            (#""destinations":{"extras":"share"}"#, #""destinations":{}"#, d),
            (#""destinations":{"extras":"share"}"#, #""destinations":["share"]"#, d),
            (#""destinations":{"extras":"share"}"#, #""destinations":{"extras":7}"#, "\(d)/extras"),
        ] {
            #expect(text.contains(from), "\(from)")
            InstallSpecTests.expectRefused(
                Array(text.replacingOccurrences(of: from, with: to).utf8), pointer: pointer, to)
        }
        // The collision message names both files, as the build's does.
        let colliding = InstallSpecTests.hostile(base) { $0?.destinations = ["extras": "bin"] }
        let error = #expect(throws: InputError.self) { try Manifest.decode(colliding, source: "hostile.ivp") }
        #expect(
            error.map { "\($0)" }?.contains(
                #""bin/tool" (component service) and "tool" (component extras) would both be installed at "bin/tool""#)
                == true, "\(String(describing: error))")
    }
}
