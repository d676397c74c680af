import Foundation
import IVPack

/// A small, complete, consistent release in a temporary git repository: code tagged with the
/// version, a safetensors model, a Markdown and a PDF manual, a CycloneDX SBOM, a pinned
/// requirements file, release notes and a plain file. Tests break one thing at a time.
public final class ReleaseFixture: @unchecked Sendable {
    public let folder: TemporaryFolder
    public let version: String
    public var root: String { folder.path }
    public var specPath: String { folder.url("ivpack.yaml") }

    public static let defaultVersion = "V2.3.1.1024"
    public static let longModuleName =
        "very_long_module_name_for_nodule_candidate_filtering_and_ranking_by_malignancy_score.py"

    public static func spec(version: String, extraComponents: String = "") -> String {
        """
        apiVersion: ivpack.dev/v1
        product:
          name: PulmoScan AI
          vendor: Example Medical AI Co.
          model: PS-AI
        version: \(version)
        releaseNotes: release-notes.md
        chunkSize: 64KiB
        components:
          - name: inference-service
            kind: code
            paths: [service]
          - name: nodule-detector
            kind: model
            paths: [models/detector.safetensors]
          - name: manuals
            kind: document
            paths: [docs/manual.md, docs/guide.pdf]
          - name: sbom
            kind: dependency-manifest
            paths: [sbom/bom.cdx.json, deps/requirements.txt]
          - name: licences
            kind: file
            paths: [LICENSE.txt]
        \(extraComponents)
        requirements:
          cpu: {minCores: 1}
          memory: {minimum: 1GiB}
          tools:
            - {name: python3, minimum: "3.9"}
        """
    }

    /// Writes the release, commits it and tags the commit with `version` (annotated).
    public init(version: String = ReleaseFixture.defaultVersion, tag: Bool = true) {
        self.folder = TemporaryFolder("ivpack-release")
        self.version = version
        folder.write("ivpack.yaml", Self.spec(version: version))
        folder.write("service/app.py", "VERSION = open('VERSION').read().strip()\nprint('PulmoScan', VERSION)\n")
        folder.write("service/VERSION", "\(version)\n")
        folder.write("service/run.sh", "#!/bin/sh\nexec python3 app.py\n", mode: 0o755)
        folder.write("service/lib/util.py", "def clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n")
        // A path longer than the ustar name field and a non-ASCII name: both need pax records.
        folder.write("service/lib/pipeline_stages/postprocessing/" + Self.longModuleName, "RANK = 3\n")
        folder.write("service/locale/zh_CN/说明.txt", "肺结节检测\n")
        writeModel(version: version)
        folder.write(
            "docs/manual.md",
            "---\ntitle: Installation manual\nversion: \(version)\n---\n# Installation manual \(version)\n\nInstall with ivpack.\n"
        )
        folder.write("docs/guide.pdf", FormatFixtures.pdf(info: ["Title": "User guide", "Version": version]))
        folder.write("sbom/bom.cdx.json", FormatFixtures.cycloneDX(version: version))
        folder.write("deps/requirements.txt", "numpy==1.26.4\npydicom==2.4.4 ; python_version >= \"3.9\"\n")
        folder.write(
            "release-notes.md", "# PulmoScan AI \(version) release notes\n\n## Changes\n- PS-101 corrective: fix\n")
        folder.write("LICENSE.txt", "Example licence text.\n")
        git(["init", "-q", "-b", "main"], in: root)
        git(["add", "-A"], in: root)
        git(["commit", "-q", "-m", "Release \(version)"], in: root)
        if tag { git(["tag", "-a", version, "-m", "Release \(version)"], in: root) }
    }

    /// Rewrites the model with `version` in its metadata (nil: no version metadata).
    public func writeModel(version: String?) {
        folder.write(
            "models/detector.safetensors",
            FormatFixtures.safetensors(
                metadata: version.map { ["version": $0, "arch": "unet"] } ?? ["arch": "unet"], tensorBytes: 4096))
    }

    /// Builds the bundle to `output` (relative to a fresh folder when nil) through the library.
    public func build(
        to output: String, epoch: Int64? = 1_700_000_000, encryption: BuildEncryption = BuildEncryption()
    ) throws -> BuildResult {
        try BundleBuilder.build(specPath: specPath, outputPath: output, sourceDateEpoch: epoch, encryption: encryption)
    }
}
