import FuzzSupport

// Fuzz target: the bundle reader, from a tar stream to verified entries. The input is written to
// one file in a private temporary folder and read as `verify`, `inspect` and `check` read a
// bundle: BundleVerifier.verify (TarReader through libarchive, the manifest, every entry and chunk
// digest, every CMS signature against the fuzzing PKI's trust policy, roles, versions, the
// environment against a fixed probe), BundleInspector.inspect, and ReleaseUnderCheck.loadBundle
// with the release gate on it (entry names only, no second signature check). The time is fixed
// (Fuzz/pki/now), so signatures in the seeds verify.
//
// Invariant: verify throws only when the file cannot be opened (documented); for an existing file
// any byte string gives a report.
@testable import IVPack

@main enum FuzzBundleReaderMain {
    static func main() { runFuzzer(fuzzBundle) }
}

let scratch = ScratchFile(name: "bundle.ivp")

func fuzzBundle(_ bytes: [UInt8]) {
    scratch.write(bytes)
    let path = scratch.path
    do {
        let report = try BundleVerifier.verify(
            bundlePath: path, policy: fuzzTrustPolicy, now: fuzzNow, probe: FixedProbe(), hashWorkers: 1)
        _ = CanonicalJSON.encode(report.json)
        _ = report.passed
    } catch {
        fuzzCheck(false, "verify threw for a readable file: \(error)")
    }
    do {
        let inspection = try BundleInspector.inspect(path: path)
        _ = inspection.manifest.allFiles.count
    } catch {
        _ = "\(error)"
    }
    do {
        let release = try ReleaseUnderCheck.loadBundle(path: path)
        // Without a trust policy the gate checks signature entry names only: verify above has
        // already checked every signature, and a second check would halve the executions.
        let context = try GateContext(
            policy: .nmpa, channel: GatePolicy.nmpa.channels[0], release: release, now: fuzzNow)
        let report = ReleaseGate.run(context)
        _ = report.text
    } catch {
        _ = "\(error)"
    }
}
