import FuzzSupport

// Fuzz target: the bundle manifest (ivpack/manifest.json), as `verify`, `inspect` and `check`
// read it: the strict JSON parser, the canonical encoder, then Manifest.decode and the checks
// `verify` runs on a decoded manifest (version consistency, minimum version, environment).
//
// Invariants (a broken one is a crash, so libFuzzer keeps the input):
//   - canonical JSON of any parsed document parses again, to the same canonical bytes;
//   - a manifest that decodes is exactly its own canonical form and decodes again to itself;
//   - the one-pass reader (Manifest.readCanonical) and the general reader (decodeGeneral) agree:
//     same manifest, or both refuse.
@testable import IVPack

@main enum FuzzManifestMain {
    static func main() { runFuzzer(fuzzManifest) }
}

func fuzzManifest(_ bytes: [UInt8]) {
    do {
        let value = try JSONParser.parse(bytes, limits: .metadata)
        let canonical = CanonicalJSON.encode(value)
        do {
            let again = try JSONParser.parse(canonical, limits: .metadata)
            fuzzCheck(CanonicalJSON.encode(again) == canonical, "canonical JSON is not stable under a second parse")
        } catch {
            fuzzCheck(false, "the canonical form of a parsed document does not parse: \(error)")
        }
        _ = PrettyJSON.render(value)
        _ = value.hasOnlyIntegerNumbers
    } catch {
        _ = error.description
    }

    let fast = Manifest.readCanonical(bytes)
    let manifest: Manifest
    do {
        manifest = try Manifest.decodeGeneral(bytes, source: "fuzz.ivp")
    } catch {
        _ = "\(error)"
        fuzzCheck(fast == nil, "the one-pass manifest reader accepted what the general reader refuses: \(error)")
        return
    }
    fuzzCheck(
        fast == manifest,
        "the one-pass manifest reader refused or read differently a manifest the general reader accepts")
    fuzzCheck(manifest.canonicalBytes == bytes, "a decoded manifest is not its own canonical form")
    do {
        let again = try Manifest.decode(manifest.canonicalBytes, source: "fuzz.ivp")
        fuzzCheck(again == manifest, "a manifest does not decode again to itself")
    } catch {
        fuzzCheck(false, "the canonical bytes of a decoded manifest do not decode: \(error)")
    }
    _ = VersionChecks.consistency(manifest)
    _ = VersionChecks.minimum(manifest, policy: fuzzTrustPolicy)
    _ = EnvironmentCheck.evaluate(requirements: manifest.requirements, probe: FixedProbe())
}
