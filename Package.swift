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
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
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
        // The commit and build time of a `make release` build ("unknown" otherwise); see stamp.c.
        .target(name: "CIVPackBuildStamp"),
        .target(
            name: "IVPack",
            dependencies: [
                "CLibCrypto", "CLibArchive", "CLibGit2", "CIVPackBuildStamp",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The licence server and client: HTTPS with mutual TLS, SQLite or PostgreSQL store.
        .target(
            name: "IVPackLicense",
            dependencies: [
                "IVPack",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Bundles through OCI registries (distribution API over HTTPS): `ivpack push` / `pull`.
        .target(
            name: "IVPackDistribution",
            dependencies: [
                "IVPack",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "ivpack",
            dependencies: [
                "IVPack", "IVPackLicense", "IVPackDistribution",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Benchmarks: `swift run -c release license-load` (see Benchmarks/README.md).
        .executableTarget(
            name: "license-load",
            dependencies: ["IVPack", "IVPackLicense"],
            path: "Benchmarks/LicenseLoad"
        ),
        // `swift run -c release cipher-speed`: AES-256-GCM chunk throughput against `openssl speed`.
        .executableTarget(
            name: "cipher-speed",
            dependencies: ["IVPack"],
            path: "Benchmarks/CipherSpeed"
        ),
        // `swift run -c release chunker-speed FILE`: content-defined chunking against SHA-256 alone.
        .executableTarget(
            name: "chunker-speed",
            dependencies: ["IVPack"],
            path: "Benchmarks/ChunkerSpeed"
        ),
        .target(
            name: "IVPackTestSupport",
            // CLibArchive for ReferenceTarWriter: libarchive's own writer, to compare with ivpack's.
            // PostgresNIO for PostgresTestDatabase: each test's own database on the test server.
            dependencies: [
                "IVPack", "IVPackLicense", "IVPackDistribution", "CLibArchive",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/IVPackTestSupport"
        ),
        .testTarget(
            name: "IVPackTests",
            dependencies: ["IVPack", "IVPackLicense", "IVPackDistribution", "IVPackTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
