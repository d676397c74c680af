import FuzzSupport

// Fuzz target: the release notes (Markdown with YAML front matter), as `check` reads them:
// ReleaseNotesDocument.parse, then every rule of the release gate on a bundle whose notes are the
// input, for both presets (nmpa, semver) and each of their channels, and the gate report's text
// (and, for nmpa's first channel, its JSON and SARIF forms).
@testable import IVPack

@main enum FuzzReleaseNotesMain {
    static func main() { runFuzzer(fuzzReleaseNotes) }
}

let notesPath = "release-notes/V2.3.1.1024.md"
let files: [ReleaseFileInfo] = [
    ReleaseFileInfo(component: "inference-service", kind: .code, path: "service/app.py", sha256: nil),
    ReleaseFileInfo(
        component: "nodule-detector", kind: .model, path: "models/nodule-detector.safetensors", sha256: nil),
    ReleaseFileInfo(
        component: "sbom", kind: .dependencyManifest, path: "sbom/pulmoscan.cdx.json",
        sha256: SHA256Digest(hex: "03451d9a8a6e2b2d6393707f12daef0d3ed7be0ebec28ef2005f5907c2c2ba18")),
    ReleaseFileInfo(component: "licences", kind: .file, path: "LICENSES.txt", sha256: nil),
    ReleaseFileInfo(component: ReleaseNotesComponent.name, kind: .document, path: notesPath, sha256: nil),
]

func fuzzReleaseNotes(_ bytes: [UInt8]) {
    do {
        let doc = try ReleaseNotesDocument.parse(bytes: bytes, file: notesPath)
        _ = doc.bodyLines
        for policy in [GatePolicy.nmpa, GatePolicy.semver] { _ = ChangeItem.items(in: doc, policy: policy) }
    } catch {
        _ = "\(error)"
        return
    }
    for (policy, version) in [(GatePolicy.nmpa, "V2.3.1.1024"), (GatePolicy.semver, "2.3.1")] {
        let release = ReleaseUnderCheck(
            kind: .bundle, path: "pulmoscan-\(version).ivp",
            product: ProductSpec(name: "PulmoScan AI", vendor: "Example Medical AI Co.", model: "PS-AI"),
            version: version, versionLine: nil, notesPath: notesPath, notesDisplay: notesPath, notesBytes: bytes,
            notesProblem: nil,
            files: files, manifest: nil, manifestDigest: nil, signatures: [], root: nil)
        for (i, channel) in policy.channels.enumerated() {
            let context: GateContext
            do {
                context = try GateContext(policy: policy, channel: channel, release: release, now: fuzzNow)
            } catch {
                fuzzCheck(false, "notes that parse alone fail inside the gate context: \(error)")
                return
            }
            let report = ReleaseGate.run(context)
            _ = report.text
            // The JSON and SARIF forms carry the same strings; once per input is enough (they are slow).
            if i == 0 && policy.name == "nmpa" {
                _ = CanonicalJSON.encode(report.json)
                _ = CanonicalJSON.encode(report.sarif(toolVersion: "fuzz"))
            }
        }
    }
}
