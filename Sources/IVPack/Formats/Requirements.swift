import Yams

/// The target-environment requirements of a release (IQ protocol, clause 4.1.1), as declared in the
/// spec's `requirements:` and carried into the manifest, where `verify` checks them on site.
///
/// The manifest form is a JSON object with the same keys as the spec; sizes are written in bytes.
public enum Requirements {
    /// Most tools that one release may require.
    static let maxTools = 100

    static func parse(_ reader: YAMLReader, _ node: Node) throws -> JSONValue {
        let f = "requirements"
        let m = try reader.mapping(node, f, allowed: ["cpu", "memory", "disk", "os", "kernel", "gpu", "tools"])
        var out: [(key: String, value: JSONValue)] = []
        if let n = m["cpu"] {
            let c = try reader.mapping(n, "\(f).cpu", allowed: ["minCores", "recommendedCores", "flags"])
            var o: [(key: String, value: JSONValue)] = []
            if let v = c["minCores"] {
                o.append(("minCores", .integer(try reader.integer(v, "\(f).cpu.minCores", range: 1...4096))))
            }
            if let v = c["recommendedCores"] {
                o.append(
                    ("recommendedCores", .integer(try reader.integer(v, "\(f).cpu.recommendedCores", range: 1...4096))))
            }
            if let v = c["flags"] {
                o.append(("flags", .array(try reader.strings(v, "\(f).cpu.flags").map { .string($0) })))
            }
            out.append(("cpu", .object(o)))
        }
        if let n = m["memory"] {
            let c = try reader.mapping(n, "\(f).memory", allowed: ["minimum", "recommended"])
            var o: [(key: String, value: JSONValue)] = []
            if let v = c["minimum"] { o.append(("minimum", .integer(try reader.size(v, "\(f).memory.minimum")))) }
            if let v = c["recommended"] {
                o.append(("recommended", .integer(try reader.size(v, "\(f).memory.recommended"))))
            }
            out.append(("memory", .object(o)))
        }
        if let n = m["disk"] {
            let c = try reader.mapping(
                n, "\(f).disk", allowed: ["path", "minimumFree", "recommendedFree"], required: ["path"])
            var o: [(key: String, value: JSONValue)] = [
                ("path", .string(try reader.string(c["path"]!, "\(f).disk.path")))
            ]
            if let v = c["minimumFree"] {
                o.append(("minimumFree", .integer(try reader.size(v, "\(f).disk.minimumFree"))))
            }
            if let v = c["recommendedFree"] {
                o.append(("recommendedFree", .integer(try reader.size(v, "\(f).disk.recommendedFree"))))
            }
            out.append(("disk", .object(o)))
        }
        if let n = m["os"] {
            let c = try reader.mapping(n, "\(f).os", allowed: ["id", "versions"], required: ["id"])
            var o: [(key: String, value: JSONValue)] = [("id", .string(try reader.string(c["id"]!, "\(f).os.id")))]
            if let v = c["versions"] {
                o.append(("versions", .array(try reader.strings(v, "\(f).os.versions").map { .string($0) })))
            }
            out.append(("os", .object(o)))
        }
        if let n = m["kernel"] {
            let c = try reader.mapping(n, "\(f).kernel", allowed: ["minimum"], required: ["minimum"])
            out.append(
                ("kernel", .object([("minimum", .string(try dotted(reader, c["minimum"]!, "\(f).kernel.minimum")))])))
        }
        if let n = m["gpu"] {
            let c = try reader.mapping(
                n, "\(f).gpu", allowed: ["vendor", "model", "minCount", "minMemory", "minDriver"])
            var o: [(key: String, value: JSONValue)] = []
            if let v = c["vendor"] { o.append(("vendor", .string(try reader.string(v, "\(f).gpu.vendor")))) }
            if let v = c["model"] { o.append(("model", .string(try reader.string(v, "\(f).gpu.model")))) }
            if let v = c["minCount"] {
                o.append(("minCount", .integer(try reader.integer(v, "\(f).gpu.minCount", range: 1...1024))))
            }
            if let v = c["minMemory"] { o.append(("minMemory", .integer(try reader.size(v, "\(f).gpu.minMemory")))) }
            if let v = c["minDriver"] { o.append(("minDriver", .string(try dotted(reader, v, "\(f).gpu.minDriver")))) }
            out.append(("gpu", .object(o)))
        }
        if let n = m["tools"] {
            let items = try reader.sequence(n, "\(f).tools")
            guard items.count <= maxTools else { throw reader.error(n, "\(f).tools", "more than \(maxTools) tools") }
            var tools: [JSONValue] = []
            for (i, item) in items.enumerated() {
                let tf = "\(f).tools[\(i)]"
                let c = try reader.mapping(item, tf, allowed: ["name", "exact", "minimum"], required: ["name"])
                var o: [(key: String, value: JSONValue)] = [
                    ("name", .string(try reader.string(c["name"]!, "\(tf).name")))
                ]
                switch (c["exact"], c["minimum"]) {
                case (let e?, nil): o.append(("exact", .string(try dotted(reader, e, "\(tf).exact"))))
                case (nil, let m?): o.append(("minimum", .string(try dotted(reader, m, "\(tf).minimum"))))
                case (nil, nil):
                    throw reader.error(
                        item, tf, "a tool needs \"exact\" or \"minimum\"",
                        hint: "State the version the product was validated with")
                default: throw reader.error(item, tf, "give either \"exact\" or \"minimum\", not both")
                }
                tools.append(.object(o))
            }
            out.append(("tools", .array(tools)))
        }
        return .object(out)
    }

    /// A dotted numeric version such as `5.10` or `535.104.05`; ranges and words are refused.
    private static func dotted(_ reader: YAMLReader, _ node: Node, _ field: String) throws -> String {
        let text = try reader.string(node, field)
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.count <= 6,
            parts.allSatisfy({ !$0.isEmpty && $0.count <= 9 && $0.allSatisfy { $0.isASCII && $0.isNumber } })
        else {
            throw reader.error(
                node, field, "\"\(text)\" is not a version of dot-separated numbers",
                hint: "Write one version such as 3.11 or 535.104.05; 'or later' is said by using \"minimum\"")
        }
        return text
    }
}
