import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// The audit log as the commands write it: real processes, real concurrency.
@Suite struct AuditIntegrationTests {
    @Test func eightProcessesAppendingAThousandEventsEachLeaveAnIntactChain() async throws {
        let folder = TemporaryFolder("ivpack-audit")
        let log = folder.url("audit.jsonl")
        let results = await withTaskGroup(of: Int32.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    await runForStatus(ivpackExecutable, ["audit", "append-test", "--log", log, "--count", "1000"])
                }
            }
            var all: [Int32] = []
            for await r in group { all.append(r) }
            return all
        }
        #expect(results == Array(repeating: 0, count: 8))
        let verification = try AuditLog.verify(path: log)
        #expect(verification.isIntact, "\(String(describing: verification.problem))")
        #expect(verification.lineCount == 8000)
    }

    @Test(.clause("IQ 5.4.1", "IQ 6.2.2 g")) func commandsAppendTheirEventsWithSecretsRedacted() throws {
        let s = try SignedRelease(signedBy: [])
        let log = s.folder.url("audit.jsonl")
        s.folder.write("pass.txt", DevelopmentPKILayout.encryptedKeyPassphrase + "\n", mode: 0o600)
        let env = ["IVPACK_AUDIT_LOG": log]
        let signed = ivpack(
            [
                "sign", s.bundle, "--role", "release-manager", "--key", s.pki.releaseManagerEncryptedKey,
                "--cert", s.pki.releaseManager.certificate, "--chain", s.pki.intermediateCertificate,
                "--passphrase-file", s.folder.url("pass.txt"),
            ], environment: env)
        #expect(signed.status == 0, "\(signed.stderr)")
        let refused = ivpack(["verify", s.bundle, "--trust", s.pki.trustPolicy], environment: env)
        #expect(refused.status == 1)
        let text = String(decoding: s.folder.read("audit.jsonl"), as: UTF8.self)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2)
        let first = try JSONParser.parse(Array(lines[0].utf8))
        let second = try JSONParser.parse(Array(lines[1].utf8))
        #expect(first["command"] == .string("ivpack sign"))
        #expect(first["result"]?.int64Value == 0)
        #expect(second["command"] == .string("ivpack verify"))
        #expect(second["result"]?.int64Value == 1)
        // The passphrase file's path is redacted, and the passphrase never appears.
        #expect(!text.contains("pass.txt"))
        #expect(!text.contains(DevelopmentPKILayout.encryptedKeyPassphrase))
        #expect(try AuditLog.verify(path: log).isIntact)
    }
}
