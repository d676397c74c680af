import Foundation
import IVPack

/// The OCI image manifest ivpack writes for a bundle (Schemas/oci-manifest.schema.json): an
/// artifact of type `application/vnd.ivpack.bundle.v1` whose config is the empty `{}` blob and
/// whose one layer is the bundle file, annotated with the product, version and manifest digest.
public struct OCIManifest: Codable, Sendable, Equatable {
    public struct Descriptor: Codable, Sendable, Equatable {
        public var mediaType: String
        public var digest: String
        public var size: Int64
        public var annotations: [String: String]?
    }

    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?

    public static let manifestMediaType = "application/vnd.oci.image.manifest.v1+json"
    public static let artifactType = "application/vnd.ivpack.bundle.v1"
    public static let layerMediaType = "application/vnd.ivpack.bundle.v1.tar"
    public static let emptyMediaType = "application/vnd.oci.empty.v1+json"
    /// The empty config blob, `{}`, as the image specification's artifact guidance gives it.
    public static let emptyConfig: [UInt8] = Array("{}".utf8)

    /// Annotation keys.
    public enum Key {
        public static let title = "org.opencontainers.image.title"
        public static let version = "org.opencontainers.image.version"
        public static let product = "io.ivpack.bundle.product"
        public static let bundleVersion = "io.ivpack.bundle.version"
        public static let manifestDigest = "io.ivpack.bundle.manifest.digest"
    }

    /// The largest manifest ivpack reads (the distribution specification suggests registries take 4 MiB).
    public static let maximumSize = 4 << 20

    /// The manifest for a bundle file of `size` bytes with digest `layer`.
    public static func forBundle(
        fileName: String, layer: SHA256Digest, size: Int64, product: String, version: String,
        manifestDigest: SHA256Digest
    ) -> OCIManifest {
        OCIManifest(
            schemaVersion: 2, mediaType: manifestMediaType, artifactType: artifactType,
            config: Descriptor(
                mediaType: emptyMediaType, digest: "sha256:\(SHA256Digest.of(emptyConfig).hex)",
                size: Int64(emptyConfig.count), annotations: nil),
            layers: [
                Descriptor(
                    mediaType: layerMediaType, digest: "sha256:\(layer.hex)", size: size,
                    annotations: [Key.title: fileName])
            ],
            annotations: [
                Key.title: product, Key.version: version, Key.product: product, Key.bundleVersion: version,
                Key.manifestDigest: "sha256:\(manifestDigest.hex)",
            ])
    }

    /// The JSON bytes pushed (sorted keys, so the same bundle gives the same manifest digest).
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    /// Decodes and checks that the manifest describes an ivpack bundle: the OCI manifest media
    /// type, ivpack's artifact type, one layer of the bundle media type with a sha256 digest.
    /// Returns the layer's digest and size.
    public static func bundleLayer(of bytes: [UInt8], reference: String) throws -> (
        manifest: OCIManifest, digest: SHA256Digest, size: Int64
    ) {
        let manifest: OCIManifest
        do {
            manifest = try JSONDecoder().decode(OCIManifest.self, from: Data(bytes))
        } catch {
            throw DistributionError.notABundle(
                reference: reference, detail: "the manifest is not an OCI image manifest: \(error)")
        }
        guard manifest.schemaVersion == 2, manifest.mediaType == nil || manifest.mediaType == manifestMediaType else {
            throw DistributionError.notABundle(
                reference: reference,
                detail:
                    "media type \(manifest.mediaType ?? "(none)"), schema version \(manifest.schemaVersion); expected \(manifestMediaType), 2"
            )
        }
        guard manifest.artifactType == artifactType else {
            throw DistributionError.notABundle(
                reference: reference,
                detail: "artifactType is \(manifest.artifactType ?? "(none)"), expected \(artifactType)")
        }
        guard manifest.layers.count == 1, let layer = manifest.layers.first, layer.mediaType == layerMediaType else {
            throw DistributionError.notABundle(
                reference: reference,
                detail: "expected one layer of media type \(layerMediaType), found \(manifest.layers.map(\.mediaType))")
        }
        guard layer.digest.hasPrefix("sha256:"), let digest = SHA256Digest(hex: String(layer.digest.dropFirst(7))),
            layer.size > 0
        else {
            throw DistributionError.notABundle(
                reference: reference, detail: "the layer's digest \(layer.digest) or size \(layer.size) is invalid")
        }
        return (manifest, digest, layer.size)
    }
}
