import Foundation
import IVPack

/// What `push` wrote to the registry.
public struct PushedBundle: Sendable {
    public var reference: OCIReference
    /// `sha256:...` of the image manifest: pull by `REPO@<this>` to get exactly this bundle.
    public var manifestDigest: String
    public var layerDigest: SHA256Digest
    public var size: Int64
    /// Whether the registry already held the bundle's bytes (nothing was uploaded).
    public var blobExisted: Bool
    public var product: String
    public var version: String
}

/// What `pull` wrote.
public struct PulledBundle: Sendable {
    public var reference: OCIReference
    public var output: String
    public var manifestDigest: String
    public var layerDigest: SHA256Digest
    public var size: Int64
    public var annotations: [String: String]
}

/// Bundles through OCI registries: push a bundle file as an artifact, pull it back checked.
public enum BundleDistribution {
    /// Pushes `bundle` to `reference` (which must name a tag): the bundle blob (skipped when the
    /// registry has it), the empty config blob, then the manifest under the tag.
    public static func push(bundle: String, to reference: OCIReference, options: RegistryOptions) async throws
        -> PushedBundle
    {
        guard let tag = reference.tag, reference.digest == nil else {
            throw DistributionError.badReference(
                reference.description, reason: "push writes a tag: give oci://HOST/REPOSITORY:TAG without @sha256:")
        }
        // Only the manifest is read: product, version and the manifest's digest for the annotations.
        let opened: BundleReader
        do {
            opened = try BundleReader(path: bundle, blockSize: 16 << 10)
        } catch .manifest(let error) {
            throw error
        }
        let product = opened.manifest.product.name
        let version = opened.manifest.version
        let manifestDigest = opened.manifestDigest
        let (layer, size) = try sha256(ofFile: bundle)
        let client = try RegistryClient(reference: reference, options: options)
        do {
            let existed = try await client.blobExists(repository: reference.repository, digest: layer)
            if !existed {
                try await client.uploadBlob(repository: reference.repository, file: bundle, digest: layer, size: size)
            }
            try await client.pushSmallBlob(repository: reference.repository, bytes: OCIManifest.emptyConfig)
            let manifest = OCIManifest.forBundle(
                fileName: (bundle as NSString).lastPathComponent, layer: layer, size: size, product: product,
                version: version, manifestDigest: manifestDigest)
            let bytes = manifest.encoded()
            let ours = "sha256:\(SHA256Digest.of(bytes).hex)"
            let reported = try await client.putManifest(
                repository: reference.repository, reference: tag, bytes: bytes, mediaType: OCIManifest.manifestMediaType
            )
            guard reported == ours else {
                throw DistributionError.digestMismatch(
                    what: "\(reference) (manifest as stored by the registry)", expected: ours, actual: reported)
            }
            await client.shutdown()
            return PushedBundle(
                reference: reference, manifestDigest: ours, layerDigest: layer, size: size, blobExisted: existed,
                product: product, version: version)
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Pulls the bundle `reference` names to `output`: the manifest (checked against a pinned
    /// digest and the registry's reported digest, then for ivpack's artifact type), then the layer,
    /// resumed from `output.partial` if an earlier pull left one, checked against its digest.
    public static func pull(_ reference: OCIReference, to output: String, options: RegistryOptions) async throws
        -> PulledBundle
    {
        let client = try RegistryClient(reference: reference, options: options)
        do {
            let (bytes, reported) = try await client.getManifest(
                repository: reference.repository, reference: reference.manifestReference, shown: reference.description)
            let computed = "sha256:\(SHA256Digest.of(bytes).hex)"
            if let pinned = reference.digest, computed != "sha256:\(pinned.hex)" {
                throw DistributionError.digestMismatch(
                    what: "\(reference) (manifest)", expected: "sha256:\(pinned.hex)", actual: computed)
            }
            if let reported, reported.hasPrefix("sha256:"), reported != computed {
                throw DistributionError.digestMismatch(
                    what: "\(reference) (manifest, Docker-Content-Digest)", expected: reported, actual: computed)
            }
            let (manifest, layer, size) = try OCIManifest.bundleLayer(of: bytes, reference: reference.description)
            try await client.downloadBlob(repository: reference.repository, digest: layer, size: size, to: output)
            await client.shutdown()
            return PulledBundle(
                reference: reference, output: output, manifestDigest: computed, layerDigest: layer, size: size,
                annotations: manifest.annotations ?? [:])
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Pulls `reference` into a new temporary folder and returns the bundle's path there, for
    /// commands that take a bundle path (`verify`, `install`); `cleanUp` removes it.
    public static func pullToTemporaryFile(_ reference: OCIReference, options: RegistryOptions) async throws -> (
        path: String, cleanUp: @Sendable () -> Void
    ) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ivpack-pull-\(UUID().uuidString)", isDirectory: true
        ).path
        do {
            try FileManager.default.createDirectory(
                atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw DistributionError.file(path: folder, detail: "cannot create a temporary folder: \(error)")
        }
        let cleanUp: @Sendable () -> Void = { try? FileManager.default.removeItem(atPath: folder) }
        let name = reference.repository.split(separator: "/").last.map(String.init) ?? "bundle"
        let path = folder + "/\(name).ivp"
        do {
            _ = try await pull(reference, to: path, options: options)
        } catch {
            cleanUp()
            throw error
        }
        return (path, cleanUp)
    }
}
