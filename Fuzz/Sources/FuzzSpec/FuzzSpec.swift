import FuzzSupport

// Fuzz target: the release spec (ivpack.yaml), as `build` and `check` read it: YAML through
// Yams and YAMLReader, ReleaseSpec.parse (components, paths, version sources, requirements, install),
// then the version-naming rules and the environment check on the normalised requirements.
// Parsing touches no file: the spec's folder is a path that does not exist.
@testable import IVPack

@main enum FuzzSpecMain {
    static func main() { runFuzzer(fuzzSpec) }
}

func fuzzSpec(_ bytes: [UInt8]) {
    let spec: ReleaseSpec
    do {
        spec = try ReleaseSpec.parse(bytes: bytes, file: "ivpack.yaml", root: "/nonexistent/ivpack-fuzz")
    } catch {
        _ = "\(error)"
        return
    }
    fuzzCheck(
        spec.chunkSize >= ReleaseSpec.chunkSizeRange.lowerBound
            && spec.chunkSize <= ReleaseSpec.chunkSizeRange.upperBound,
        "chunk size \(spec.chunkSize) accepted outside the range")
    for c in spec.components {
        for p in c.paths {
            fuzzCheck(!p.hasPrefix("/") && !p.split(separator: "/").contains(".."), "unsafe path \(p) accepted")
        }
    }
    if let install = spec.install {
        // What the spec accepts must be what the manifest readers accept (the payload aside).
        let spec = install.spec
        if let root = spec.root { fuzzCheck(InstallSpec.normalizeRoot(root) == .success(root), "unsafe root \(root)") }
        for path in spec.state + install.executables + spec.hooks.values.map(\.program) {
            fuzzCheck(RelativePath.isCanonical(path), "unsafe path \(path) accepted in install")
        }
        fuzzCheck(InstallSpec.firstOverlap(in: spec.state) == nil, "overlapping state paths accepted")
        for hook in spec.hooks.values {
            fuzzCheck((1...InstallSpec.maxHookTimeout).contains(hook.timeoutSeconds), "timeout out of range")
            fuzzCheck(hook.run.count <= 1 + InstallSpec.maxHookArguments, "too many hook arguments")
        }
    }
    if let requirements = spec.requirements {
        // The normalised requirements go into the manifest, which must stay canonical JSON.
        fuzzCheck(requirements.json.hasOnlyIntegerNumbers, "normalised requirements hold a non-integer number")
        _ = EnvironmentCheck.evaluate(requirements: requirements, probe: FixedProbe())
    }
    for policy in [GatePolicy.nmpa, GatePolicy.semver] {
        for channel in policy.channels {
            _ = VersionNaming.check(
                spec.version, policy: policy, channel: channel, file: spec.file, line: 1, what: "the release version")
        }
    }
}
