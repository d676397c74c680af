/// The manifest's `requirements`: what the target machine must offer (IQ protocol, clause 4.1.1),
/// read once into one typed value per requirement kind.
///
/// The JSON as signed is kept beside the typed values, for two reasons: the manifest's canonical
/// bytes must round-trip exactly (they are what the signatures cover), and a kind that a later
/// ivpack adds must travel with the bundle and be refused by name at verify
/// (`unknownKinds`), not silently dropped.
///
/// A malformed field does not make the manifest unreadable: it is a problem of that one
/// requirement, and `EnvironmentCheck` turns it into a failed check that names the field, so that
/// the rest of verification still runs and the IQ report shows what was wrong.
public struct EnvironmentRequirements: Sendable, Equatable {
    /// The requirement kinds this version of ivpack reads, in the order of their checks.
    public static let kinds = ["cpu", "memory", "disk", "os", "kernel", "gpu", "tools"]

    /// The `requirements` value exactly as in the manifest.
    public let json: JSONValue
    /// The JSON type of `json` when it is not an object (the whole value is then unusable).
    public let notAnObject: String?
    public let cpu: Requirement<CPU>?
    public let memory: Requirement<Memory>?
    public let disk: Requirement<Disk>?
    public let os: Requirement<OperatingSystem>?
    public let kernel: Requirement<Kernel>?
    public let gpu: Requirement<GPU>?
    public let tools: Tools?
    /// Members whose kind this version of ivpack cannot check, in manifest order.
    public let unknownKinds: [String]

    /// A requirement's fields as far as they could be read, and what is wrong with the rest: each
    /// problem is a whole sentence naming the manifest field (`requirements.cpu.minCores ...`).
    public struct Requirement<Value: Sendable & Equatable>: Sendable, Equatable {
        public var value: Value
        public var problems: [String]
        /// True when every field read cleanly, so the machine may be read against it.
        public var isReadable: Bool { problems.isEmpty }
    }

    public struct CPU: Sendable, Equatable {
        public var minCores: Int64?
        public var recommendedCores: Int64?
        public var flags: [String]?
    }

    public struct Memory: Sendable, Equatable {
        public var minimum: Int64?
        public var recommended: Int64?
    }

    public struct Disk: Sendable, Equatable {
        /// Required: the folder whose file system is measured.
        public var path: String?
        public var minimumFree: Int64?
        public var recommendedFree: Int64?
    }

    public struct OperatingSystem: Sendable, Equatable {
        /// Required: the os-release `ID`.
        public var id: String?
        /// Accepted os-release `VERSION_ID`s; nil accepts any.
        public var versions: [String]?
    }

    public struct Kernel: Sendable, Equatable {
        /// Required.
        public var minimum: DottedVersion?
    }

    public struct GPU: Sendable, Equatable {
        public var vendor: String?
        public var model: String?
        public var minCount: Int64?
        public var minMemory: Int64?
        public var minDriver: DottedVersion?
    }

    public struct Tool: Sendable, Equatable {
        /// The name as given, or `#N` (1-based) when it is missing or not a text.
        public var displayName: String
        public var exact: DottedVersion?
        public var minimum: DottedVersion?
    }

    /// `requirements.tools`: a list of tools, or a value of another JSON type.
    public enum Tools: Sendable, Equatable {
        case list([Requirement<Tool>])
        case notAnArray(typeName: String)
    }

    /// Reads `json` (the manifest's `requirements` member). Never throws: problems are recorded
    /// per requirement and reported by the environment check.
    public init(json: JSONValue) {
        self.json = json
        guard let members = json.objectValue else {
            notAnObject = json.typeName
            cpu = nil
            memory = nil
            disk = nil
            os = nil
            kernel = nil
            gpu = nil
            tools = nil
            unknownKinds = []
            return
        }
        notAnObject = nil
        cpu = json["cpu"].map { v in
            Self.read(v, "requirements.cpu") { r in
                CPU(
                    minCores: r.integer("minCores"), recommendedCores: r.integer("recommendedCores"),
                    flags: r.strings("flags"))
            }
        }
        memory = json["memory"].map { v in
            Self.read(v, "requirements.memory") { r in
                Memory(minimum: r.integer("minimum"), recommended: r.integer("recommended"))
            }
        }
        disk = json["disk"].map { v in
            Self.read(v, "requirements.disk") { r in
                Disk(
                    path: r.string("path", required: true), minimumFree: r.integer("minimumFree"),
                    recommendedFree: r.integer("recommendedFree"))
            }
        }
        os = json["os"].map { v in
            Self.read(v, "requirements.os") { r in
                OperatingSystem(id: r.string("id", required: true), versions: r.strings("versions"))
            }
        }
        kernel = json["kernel"].map { v in
            Self.read(v, "requirements.kernel") { r in Kernel(minimum: r.version("minimum", required: true)) }
        }
        gpu = json["gpu"].map { v in
            Self.read(v, "requirements.gpu") { r in
                GPU(
                    vendor: r.string("vendor"), model: r.string("model"), minCount: r.integer("minCount"),
                    minMemory: r.integer("minMemory"), minDriver: r.version("minDriver"))
            }
        }
        tools = json["tools"].map { v in
            guard let items = v.arrayValue else { return .notAnArray(typeName: v.typeName) }
            return .list(
                items.enumerated().map { i, item in
                    let field = "requirements.tools[\(i)]"
                    var tool = Self.read(item, field) { r in
                        _ = r.string("name", required: true)
                        return Tool(
                            displayName: item["name"]?.stringValue ?? "#\(i + 1)", exact: r.version("exact"),
                            minimum: r.version("minimum"))
                    }
                    if tool.isReadable, tool.value.exact == nil, tool.value.minimum == nil {
                        tool.problems.append("\(field) in the manifest has neither \"exact\" nor \"minimum\"")
                    }
                    return tool
                })
        }
        unknownKinds = members.map(\.key).filter { !Self.kinds.contains($0) }
    }

    /// Reads one requirement object with `body`, collecting each malformed field as a problem.
    private static func read<Value>(_ value: JSONValue, _ field: String, _ body: (inout FieldReader) -> Value)
        -> Requirement<Value>
    {
        var reader = FieldReader(field: field, value: value)
        if value.objectValue == nil { reader.malformed("is \(value.typeName), not an object") }
        let result = body(&reader)
        return Requirement(value: result, problems: reader.problems)
    }

    /// Reads the fields of one requirement object; a field of the wrong type is a problem and reads as nil.
    private struct FieldReader {
        let field: String
        let value: JSONValue
        var problems: [String] = []

        mutating func malformed(_ problem: String, key: String? = nil) {
            problems.append(
                "\(field)\(key.map { ".\($0)" } ?? "") in the manifest \(problem); the bundle is damaged or was not made by ivpack"
            )
        }

        mutating func integer(_ key: String) -> Int64? {
            guard let v = value[key] else { return nil }
            guard let i = v.int64Value, i >= 0 else {
                malformed("is \(v.typeName), not a whole number", key: key)
                return nil
            }
            return i
        }

        mutating func string(_ key: String, required: Bool = false) -> String? {
            guard let v = value[key] else {
                if required, value.objectValue != nil { malformed("is missing", key: key) }
                return nil
            }
            guard let s = v.stringValue, !s.isEmpty else {
                malformed("is \(v.typeName), not a text", key: key)
                return nil
            }
            return s
        }

        mutating func strings(_ key: String) -> [String]? {
            guard let v = value[key] else { return nil }
            guard let a = v.arrayValue, case let texts = a.compactMap(\.stringValue), texts.count == a.count else {
                malformed("is not a list of texts", key: key)
                return nil
            }
            return texts
        }

        mutating func version(_ key: String, required: Bool = false) -> DottedVersion? {
            guard let s = string(key, required: required) else { return nil }
            guard let v = DottedVersion(s) else {
                malformed("\"\(s)\" is not a dotted version", key: key)
                return nil
            }
            return v
        }
    }
}
