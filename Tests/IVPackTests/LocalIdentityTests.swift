import Foundation
import IVPack
import Testing

/// The one user and host identity.
struct LocalIdentityTests {
    @Test func userAndHostAreTheAuditLogsAndTheReports() throws {
        let expected = String(cString: try #require(getpwuid(geteuid())).pointee.pw_name)
        #expect(LocalIdentity.userName() == expected)
        if geteuid() != 0 { #expect(LocalIdentity.sudoUser() == nil) }
        #expect(AuditLog.currentOperator().hasPrefix(expected))
        let host = try #require(LocalIdentity.hostName())
        #expect(!host.isEmpty)
        #expect(AuditLog.currentHost() == host)
        #expect(LocalIdentity.operatingSystem().hasPrefix("Linux "))
    }
}
