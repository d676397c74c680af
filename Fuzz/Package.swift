// swift-tools-version:6.0
// Fuzz targets for ivpack's parsers (issue 8). A separate package, so the main package's build
// and CI never see the sanitizer flags. Build and run with Fuzz/run.sh (or `make fuzz`); see
// docs/fuzzing.md. Every executable is a libFuzzer target: it must be built with
// `-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library`. SwiftPM makes `main` the
// module's Swift entry point, so each target has a `@main` that runs libFuzzer's driver on its
// `LLVMFuzzerTestOneInput` (FuzzSupport.runFuzzer).
import PackageDescription

let targets = ["FuzzManifest", "FuzzSpec", "FuzzReleaseNotes", "FuzzBundleReader", "FuzzTrustPolicy",
               "FuzzLicenseGrant", "FuzzPDFInfo", "FuzzGGUF", "FuzzSafetensors", "FuzzPipRequirements"]

let package = Package(
    name: "ivpack-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "ivpack", path: ".."),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver for Swift.
        .target(name: "CFuzzerDriver"),
        .target(
            name: "FuzzSupport",
            dependencies: ["CFuzzerDriver", .product(name: "IVPack", package: "ivpack")]
        ),
    ] + targets.map { name in
        .executableTarget(
            name: name,
            dependencies: ["FuzzSupport", .product(name: "IVPack", package: "ivpack")]
        )
    },
    swiftLanguageModes: [.v6]
)
