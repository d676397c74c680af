import IVPack
import IVPackTestSupport
import Testing

/// The one release-version type: what it reads, how it orders, and the range licences and the
/// trust policy's minimum use.
struct ReleaseVersionTests {
    @Test(arguments: [
        ("V2.3.1.1024", [2, 3, 1, 1024], nil as String?), ("2.3.1", [2, 3, 1], nil), ("v2", [2], nil),
        ("V2.3.1.1024-rc.1", [2, 3, 1, 1024], "rc.1"), ("2.3.1-beta.2+build.5", [2, 3, 1], "beta.2"),
        ("2.3.1+build-7", [2, 3, 1], nil), ("999999999.0", [999_999_999, 0], nil),
    ])
    func readsVersionsOfNumericFields(text: String, fields: [Int], preRelease: String?) throws {
        let version = try #require(ReleaseVersion(text))
        #expect(version.fields == fields)
        #expect(version.preRelease == preRelease)
        #expect(version.text == text)
    }

    @Test(arguments: [
        "", "V", "2..1", "2.3.", ".2", "V2.x.1", "release-2", "2.3.1a", "1234567890.1", "２.3", " 2.3", "2.-1",
    ])
    func refusesAnythingElse(text: String) {
        #expect(ReleaseVersion(text) == nil)
    }

    @Test(arguments: [
        ("2.3.1", "2.3.2"), ("2.3.9", "2.10.0"), ("V2.3.1.1024", "V2.3.1.1025"), ("1.9", "2"),
        ("2.3.1-rc.1", "2.3.1"), ("2.3.1-alpha.1", "2.3.1-beta.1"), ("2.3.1-rc.1", "2.3.1-rc.2"),
        ("2.3.1-rc.2", "2.3.1-rc.10"), ("2.3.1-rc", "2.3.1-rc.1"), ("2.3.1-1", "2.3.1-rc"),
    ])
    func ordersByFieldsThenPreRelease(lower: String, higher: String) throws {
        let a = try #require(ReleaseVersion(lower))
        let b = try #require(ReleaseVersion(higher))
        #expect(a < b)
        #expect(!(b < a))
        #expect(a != b)
        #expect(a.compare(to: b) == -1 && b.compare(to: a) == 1)
    }

    @Test func missingFieldsCountAsZeroAndSpellingDoesNotMatter() throws {
        let a = try #require(ReleaseVersion("V2.3.1"))
        let b = try #require(ReleaseVersion("2.3.1.0"))
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(Set([a, b]).count == 1)
        #expect(ReleaseVersion("2.3.1+build.1") == ReleaseVersion("2.3.1"))
        #expect(ReleaseVersion("2.3.1-rc.1") != ReleaseVersion("2.3.1"))
    }

    @Test func preReleaseOrderStaysTotalForIdentifiersSemVerRefuses() throws {
        let a = try #require(ReleaseVersion("2.3.1-rc.01"))
        let b = try #require(ReleaseVersion("2.3.1-rc.1"))
        #expect((a < b) != (b < a))
        #expect(a != b)
    }

    // MARK: Ranges

    @Test(arguments: [
        ("V2.0.0.1", true), ("V2.999.999.999999", true), ("V2.3.1.1024", true), ("V2.0.0.0", false),
        ("V3.0.0.0", false),
        ("V2.0.0.1-rc.1", true), ("V2.999.999.999999-rc.1", true), ("2.0.0.1", true), ("V2.0.0", false),
        ("not a version", false),
    ])
    func rangeIncludesBothEndsAndCountsAPreReleaseAsItsRelease(version: String, inside: Bool) throws {
        let range = try #require(VersionRange(minimum: "V2.0.0.1", maximum: "V2.999.999.999999"))
        #expect(range.contains(version) == inside)
        #expect(VersionRange.covers(version, minimum: "V2.0.0.1", maximum: "V2.999.999.999999") == inside)
    }

    @Test func rangeWithAnUnreadableEndCoversNothing() {
        #expect(VersionRange(minimum: "V2.0.0.1", maximum: "latest") == nil)
        #expect(!VersionRange.covers("V2.3.1.1024", minimum: "V2.0.0.1", maximum: "latest"))
        #expect(!VersionRange.covers("V2.3.1.1024", minimum: "", maximum: "V3"))
    }

    @Test func rangeIsEmptyOnlyWhenItsMinimumIsAboveItsMaximum() throws {
        #expect(try #require(VersionRange(minimum: "2.1", maximum: "2.0")).isEmpty)
        #expect(try !#require(VersionRange(minimum: "2.0", maximum: "2.0.0")).isEmpty)
        #expect(try !#require(VersionRange(minimum: "2.0.0-rc.1", maximum: "2.0")).isEmpty)
        let single = try #require(VersionRange(minimum: "2.0", maximum: "2.0"))
        #expect(single.contains("2.0.0") && single.contains("2.0-rc.1") && !single.contains("2.0.1"))
    }

    @Test func openRangeHasNoUpperEnd() throws {
        let minimum = VersionRange(minimum: try #require(ReleaseVersion("V2.3.1.1024")), maximum: nil)
        #expect(minimum.contains("V99.0.0.1"))
        #expect(minimum.contains("V2.3.1.1024-rc.1"))
        #expect(!minimum.contains("V2.3.1.1023"))
        #expect(!minimum.isEmpty)
        #expect(minimum.description == "V2.3.1.1024 and above")
    }

    @Test func trustPolicyMinimumUsesTheRange() throws {
        let s = try SignedRelease()
        let below = try s.verify(policy: try s.policy(minimumVersions: "PulmoScan AI: V2.3.1.1025"))
        #expect(below.failedIDs == [.versionMinimum])
        let preReleaseOfIt = try s.verify(
            policy: try s.policy(minimumVersions: "PulmoScan AI: \(s.release.version)-rc.1"))
        #expect(preReleaseOfIt.passed, "\(preReleaseOfIt.failureText)")
        let same = try s.verify(policy: try s.policy(minimumVersions: "PulmoScan AI: \(s.release.version)"))
        #expect(same.passed, "\(same.failureText)")
    }
}
