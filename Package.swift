// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ivpack",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "IVPack", targets: ["IVPack"]),
        .executable(name: "ivpack", targets: ["ivpack"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // One system-library target per C library; only the matching layer in IVPack imports it.
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibArchive",
            pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]
        ),
        .systemLibrary(
            name: "CLibGit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"])]
        ),
        .target(
            name: "IVPack",
            dependencies: [
                "CLibCrypto", "CLibArchive", "CLibGit2",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "ivpack",
            dependencies: [
                "IVPack",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "IVPackTestSupport",
            dependencies: ["IVPack"],
            path: "Tests/IVPackTestSupport"
        ),
        .testTarget(
            name: "IVPackTests",
            dependencies: ["IVPack", "IVPackTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
