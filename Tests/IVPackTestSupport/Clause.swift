import Testing

/// The clauses of the IQ draft standard and the rules of the release policy a test proves, e.g.
/// `@Test("…", .clause("IQ 5.2.2", "REL-015"))`; on a suite it covers every test of the suite.
///
/// `make conformance` (scripts/conformance.py) reads these traits from the test sources to write
/// docs/conformance.md, the traceability matrix; every ID must be one of Conformance/clauses.tsv.
/// Only name a clause the test's expectations would catch a break of.
public struct Clause: TestTrait, SuiteTrait {
    /// Register IDs: `IQ 6.3.2 a`, `VER-009`, `NOTES-013`, `REL-015`.
    public let ids: [String]

    public var isRecursive: Bool { true }
}

extension Trait where Self == Clause {
    /// The test (or every test of the suite) proves the clauses or rules `ids`.
    public static func clause(_ ids: String...) -> Self { Clause(ids: ids) }
}
