/// The labels file of a reference dataset (format `ivpack-qualification-labels/1`,
/// Schemas/qualification-labels.schema.json): each case's ID, its input file (release-relative)
/// and the answer expected.
///
///     {"format": "ivpack-qualification-labels/1",
///      "cases": [{"id": "case-01", "input": "qualification/cases/case-01.pgm", "expected": "nodule"}]}
public struct ReferenceLabels: Sendable, Equatable {
    public static let format = "ivpack-qualification-labels/1"
    public static let maxBytes = 4 << 20
    public static let maxCases = 100_000

    public struct Case: Sendable, Equatable {
        public var id: String
        public var input: String
        public var expected: JSONValue
    }

    public var cases: [Case]

    /// Reads the labels `bytes` of `file`; every input must be a file of the dataset's component
    /// (`isDatasetFile`), every ID unique.
    public static func parse(_ bytes: [UInt8], file: String, isDatasetFile: (String) -> Bool) throws -> ReferenceLabels
    {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes, limits: JSONLimits(maxBytes: maxBytes, maxDepth: 6))
        } catch {
            throw InputError(
                .qualification,
                Diagnostic(
                    file: file, problem: "is not valid JSON: \(error)",
                    hint: "The labels file comes from the vendor's release; ask the vendor for a corrected release"))
        }
        let reader = StrictJSONReader(fail: { pointer, problem in
            InputError(
                .qualification,
                Diagnostic(
                    file: file, location: .member(of: "labels", pointer: pointer), problem: problem,
                    hint: "The labels file comes from the vendor's release; ask the vendor for a corrected release"))
        })
        let top = try reader.object(value, "", required: ["format", "cases"])
        let format = try reader.string(top["format"], "/format")
        guard format == Self.format else {
            throw reader.fail("/format", "is \"\(format)\"; expected \"\(Self.format)\"")
        }
        let items = try reader.array(top["cases"], "/cases")
        guard !items.isEmpty, items.count <= maxCases else {
            throw reader.fail("/cases", "must hold 1 to \(maxCases) cases")
        }
        var seen = Set<String>()
        var cases: [Case] = []
        for (i, item) in items.enumerated() {
            let p = "/cases/\(i)"
            let o = try reader.object(item, p, required: ["id", "input", "expected"])
            let id = try reader.string(o["id"], "\(p)/id")
            guard QualificationSpec.checkText(id) == nil, id.utf8.count <= 128 else {
                throw reader.fail("\(p)/id", "must be 1 to 128 printable characters")
            }
            guard seen.insert(id).inserted else { throw reader.fail("\(p)/id", "\"\(id)\" is used by an earlier case") }
            let input = try reader.string(o["input"], "\(p)/input")
            guard RelativePath.isCanonical(input), isDatasetFile(input) else {
                throw reader.fail("\(p)/input", "\"\(input)\" is not a file of the dataset's component")
            }
            let expected = o["expected"]!
            switch expected {
            case .string, .number, .bool, .null: break
            default: throw reader.fail("\(p)/expected", "must be a string, number, boolean or null")
            }
            cases.append(Case(id: id, input: input, expected: expected))
        }
        return ReferenceLabels(cases: cases)
    }
}
