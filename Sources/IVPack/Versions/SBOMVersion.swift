import Yams

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - SBOMs

extension VersionReaders {
    /// CycloneDX and SPDX 2.x JSON SBOMs.
    enum SBOM {
        /// Largest SBOM read; SBOMs are read whole.
        static let maxSBOMBytes = 64 << 20
        /// How much of a `.json` file is looked at to tell CycloneDX from SPDX.
        static let sniffBytes = 64 << 10

        static func sniff(path: String, displayPath: String) throws -> VersionFormat {
            let file = try InputFile(path: path)
            let start = try window(file, at: 0, count: sniffBytes)
            let isCycloneDX = firstIndex(of: Array("\"bomFormat\"".utf8), in: start) != nil
            let isSPDX = firstIndex(of: Array("\"spdxVersion\"".utf8), in: start) != nil
            switch (isCycloneDX, isSPDX) {
            case (true, false): return .cycloneDX
            case (false, true): return .spdx
            case (true, true):
                throw fail(
                    displayPath, at: "the first \(kibibytes(sniffBytes))",
                    "JSON file has both \"bomFormat\" (CycloneDX) and \"spdxVersion\" (SPDX)",
                    hint: "Name the file *.cdx.json or *.spdx.json to say which it is.")
            case (false, false):
                throw fail(
                    displayPath, at: "the first \(kibibytes(sniffBytes))",
                    "JSON dependency manifest is neither a CycloneDX SBOM (no \"bomFormat\") nor an SPDX 2.x document (no \"spdxVersion\")",
                    hint:
                        "ivpack reads dependency versions from CycloneDX JSON and SPDX 2.x JSON SBOMs and pip requirements files; convert the manifest to one of them or leave it out of the dependency-manifest component."
                )
            }
        }

        static func document(path: String, displayPath: String, what: String) throws -> JSONValue {
            let bytes = try readWhole(path: path, displayPath: displayPath, limit: maxSBOMBytes, what: what)
            let json: JSONValue
            do { json = try JSONParser.parse(bytes, limits: JSONLimits(maxBytes: maxSBOMBytes)) } catch {
                throw jsonError(
                    error, file: displayPath, what: what,
                    hint: "Generate the SBOM again; ivpack accepts strict JSON only.")
            }
            guard json.objectValue != nil else {
                throw fail(
                    displayPath, at: "byte 0", "\(what) is \(json.typeName), not a JSON object",
                    hint: "Generate the SBOM again.")
            }
            return json
        }

        static func readCycloneDX(path: String, displayPath: String) throws -> VersionReading {
            let json = try document(path: path, displayPath: displayPath, what: "CycloneDX SBOM")
            let location = "CycloneDX metadata.component.version"
            guard json["bomFormat"]?.stringValue == "CycloneDX" else {
                let found = json["bomFormat"].map { $0.stringValue.map { "\"\($0)\"" } ?? $0.typeName } ?? "absent"
                throw fail(
                    displayPath, at: "top-level key \"bomFormat\"", "bomFormat is \(found), not \"CycloneDX\"",
                    hint:
                        "This is not a CycloneDX JSON SBOM; name it so ivpack reads it as what it is (*.spdx.json for SPDX)."
                )
            }
            func object(_ value: JSONValue?, _ path: String) throws -> JSONValue? {
                guard let value, value != .null else { return nil }
                guard value.objectValue != nil else {
                    throw fail(
                        displayPath, at: "key \(path)", "\(path) is \(value.typeName), not an object",
                        hint: "Generate the SBOM again with a CycloneDX tool.")
                }
                return value
            }
            guard let metadata = try object(json["metadata"], "metadata"),
                let component = try object(metadata["component"], "metadata.component")
            else {
                return VersionReading(format: .cycloneDX, file: displayPath, location: location, found: nil)
            }
            switch component["version"] {
            case nil, .null?:
                return VersionReading(format: .cycloneDX, file: displayPath, location: location, found: nil)
            case .string(let s)?:
                return VersionReading(format: .cycloneDX, file: displayPath, location: location, found: s)
            case let other?:
                throw fail(
                    displayPath, at: "key metadata.component.version",
                    "metadata.component.version is \(other.typeName), not a string",
                    hint: "Write the version as a string, e.g. \"version\": \"2.3.1\".")
            }
        }

        static func readSPDX(path: String, displayPath: String, productName: String?) throws -> VersionReading {
            let json = try document(path: path, displayPath: displayPath, what: "SPDX document")
            guard let spdxVersion = json["spdxVersion"]?.stringValue, spdxVersion.hasPrefix("SPDX-2.") else {
                let found = json["spdxVersion"].map { $0.stringValue.map { "\"\($0)\"" } ?? $0.typeName } ?? "absent"
                throw fail(
                    displayPath, at: "top-level key \"spdxVersion\"",
                    "spdxVersion is \(found), not an SPDX 2.x version (\"SPDX-2.3\")",
                    hint: "ivpack reads SPDX 2.x JSON documents; export the SBOM as SPDX 2.3 JSON.")
            }
            struct Package {
                var id: String
                var name: String
                var version: JSONValue?
            }
            guard let packageValues = (json["packages"] ?? .array([])).arrayValue else {
                throw fail(
                    displayPath, at: "top-level key \"packages\"",
                    "packages is \(json["packages"]!.typeName), not an array",
                    hint: "Export the SBOM again as SPDX 2.3 JSON.")
            }
            var packages: [Package] = []
            for (i, value) in packageValues.enumerated() {
                guard value.objectValue != nil, let id = value["SPDXID"]?.stringValue else {
                    throw fail(
                        displayPath, at: "packages[\(i)]", "package \(i) is not an object with a string \"SPDXID\"",
                        hint: "Export the SBOM again as SPDX 2.3 JSON.")
                }
                packages.append(Package(id: id, name: value["name"]?.stringValue ?? "", version: value["versionInfo"]))
            }
            var described: [String] = []
            for value in json["documentDescribes"]?.arrayValue ?? [] {
                if let id = value.stringValue, !described.contains(id) { described.append(id) }
            }
            for relationship in json["relationships"]?.arrayValue ?? [] {
                let from = relationship["spdxElementId"]?.stringValue
                let to = relationship["relatedSpdxElement"]?.stringValue
                var id: String?
                switch relationship["relationshipType"]?.stringValue {
                case "DESCRIBES"? where from == "SPDXRef-DOCUMENT": id = to
                case "DESCRIBED_BY"? where to == "SPDXRef-DOCUMENT": id = from
                default: break
                }
                if let id, !described.contains(id) { described.append(id) }
            }
            let describedPackages = described.compactMap { id in packages.first(where: { $0.id == id }) }
            var chosen: Package?
            if describedPackages.count == 1 {
                chosen = describedPackages[0]
            } else {
                let candidates = describedPackages.isEmpty ? packages : describedPackages
                let named = productName.map { name in candidates.filter { $0.name == name } } ?? []
                if named.count == 1 {
                    chosen = named[0]
                } else if named.count > 1 || !describedPackages.isEmpty {
                    let list = (named.count > 1 ? named : describedPackages).map { "\"\($0.name)\" (\($0.id))" }.joined(
                        separator: ", ")
                    throw fail(
                        displayPath, at: "documentDescribes and relationships",
                        "the document describes or names \(named.count > 1 ? named.count : describedPackages.count) packages (\(list)) and ivpack cannot tell which is the product",
                        hint:
                            "Make the SBOM describe only the product's package, or give exactly one of them the product name\(productName.map { " \"\($0)\"" } ?? "")."
                    )
                }
            }
            guard let chosen else {
                let location =
                    productName.map {
                        "SPDX package named \"\($0)\" versionInfo (no such package, and the document describes none)"
                    }
                    ?? "SPDX described package versionInfo (the document describes no package)"
                return VersionReading(format: .spdx, file: displayPath, location: location, found: nil)
            }
            let location = "SPDX package \"\(chosen.name)\" (\(chosen.id)) versionInfo"
            switch chosen.version {
            case nil, .null?:
                return VersionReading(format: .spdx, file: displayPath, location: location, found: nil)
            case .string(let s)?:
                return VersionReading(format: .spdx, file: displayPath, location: location, found: s)
            case let other?:
                throw fail(
                    displayPath, at: "package \(chosen.id)", "versionInfo is \(other.typeName), not a string",
                    hint: "Write the version as a string, e.g. \"versionInfo\": \"2.3.1\".")
            }
        }
    }
}
