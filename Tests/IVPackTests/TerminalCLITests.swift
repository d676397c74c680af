import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Issue 19's conventions as a person at a terminal meets them: `--quiet` prints the verdict only,
/// `--verbose` the evidence, and an encrypted key's passphrase is asked for on a terminal.
@Suite struct TerminalCLITests {
    @Test func quietPrintsTheVerdictAndVerbosePrintsTheEvidence() throws {
        let s = try SignedRelease()
        let normal = ivpack(["verify", s.bundle, "--trust", s.pki.trustPolicy])
        #expect(normal.status == 0, "\(normal.stdout)\(normal.stderr)")
        #expect(normal.stdout.contains("PASS  payload"))
        // Evidence (each signer's subject, the payload's byte count) only with --verbose.
        #expect(!normal.stdout.contains("      bytes: "), "\(normal.stdout)")
        let verbose = ivpack(["verify", s.bundle, "--trust", s.pki.trustPolicy, "-v"])
        #expect(verbose.status == 0)
        #expect(verbose.stdout.contains("      bytes: "), "\(verbose.stdout)")
        #expect(verbose.stdout.split(separator: "\n").count > normal.stdout.split(separator: "\n").count)
        let quiet = ivpack(["verify", s.bundle, "--trust", s.pki.trustPolicy, "-q"])
        #expect(quiet.status == 0)
        let lines = quiet.stdout.split(separator: "\n")
        #expect(lines.count == 1, "\(quiet.stdout)")
        #expect(lines.first?.hasPrefix("Result: PASS (") == true, "\(quiet.stdout)")
        #expect(quiet.stderr.isEmpty, "\(quiet.stderr)")
        // Both at once is a usage error, before any work.
        let both = ivpack(["verify", s.bundle, "--trust", s.pki.trustPolicy, "-q", "-v"])
        #expect(both.status == 64, "\(both.status) \(both.stderr)")
        #expect(both.stderr.contains("--quiet and --verbose"))
    }

    @Test func quietNamesTheFailedChecks() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let quiet = ivpack(["verify", s.bundle, "--trust", s.pki.trustPolicy, "--quiet"])
        #expect(quiet.status == 1)
        #expect(quiet.stdout.split(separator: "\n").count == 1, "\(quiet.stdout)")
        #expect(quiet.stdout.contains("Result: FAIL (1 of "), "\(quiet.stdout)")
        #expect(quiet.stdout.contains("failed: roles)"), "\(quiet.stdout)")
    }

    /// Runs `arguments` under a pseudo-terminal (`script`), waits for the passphrase prompt on it,
    /// then types `typed` and a newline; returns the exit status and everything the terminal showed.
    func atATerminal(_ arguments: [String], typing typed: String) throws -> (status: Int32, screen: String) {
        let command = ([ivpackExecutable] + arguments).map {
            "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
        .joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", command, "/dev/null"]
        var environment = ProcessInfo.processInfo.environment
        environment["IVPACK_KEY_PASSPHRASE"] = nil
        environment["TERM"] = "dumb"
        process.environment = environment
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        var screen = Data()
        let deadline = Date().addingTimeInterval(60)
        // The prompt first: typed before it, the terminal's input is discarded (as ssh does).
        while !String(decoding: screen, as: UTF8.self).contains("Passphrase for"), Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            screen += chunk
        }
        input.fileHandleForWriting.write(Data((typed + "\n").utf8))
        screen += output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
        return (process.terminationStatus, String(decoding: screen, as: UTF8.self))
    }

    @Test func anEncryptedKeysPassphraseIsAskedForOnATerminalWithoutEcho() throws {
        let s = try SignedRelease(signedBy: [])
        let sign = [
            "sign", s.bundle, "--role", "release-manager", "--key", s.pki.releaseManagerEncryptedKey, "--cert",
            s.signer("release-manager").certificate, "--chain", s.pki.intermediateCertificate,
        ]
        let wrong = try atATerminal(sign, typing: "not-the-passphrase")
        #expect(wrong.status == 2, "\(wrong.screen)")
        #expect(wrong.screen.contains("the passphrase does not decrypt this key"), "\(wrong.screen)")
        #expect(!wrong.screen.contains("not-the-passphrase"), "echoed: \(wrong.screen)")
        #expect(try s.verify().checks.contains { $0.id.rawValue.hasPrefix("signature.") } == false)

        let right = try atATerminal(sign, typing: DevelopmentPKILayout.encryptedKeyPassphrase)
        #expect(right.status == 0, "\(right.screen)")
        #expect(right.screen.contains("Passphrase for \(s.pki.releaseManagerEncryptedKey): "))
        #expect(right.screen.contains("Signed \(s.bundle) as release-manager"), "\(right.screen)")
        #expect(!right.screen.contains(DevelopmentPKILayout.encryptedKeyPassphrase), "echoed: \(right.screen)")

        // Off a terminal nothing is asked: the refusal names the two non-interactive sources.
        let offTerminal = ivpack(sign)
        #expect(offTerminal.status == 2)
        #expect(offTerminal.stderr.contains("the key is encrypted and no passphrase was given"))
        #expect(!offTerminal.stderr.contains("Passphrase for"))
    }

    @Test func checkQuietPrintsTheVerdictWithTheBlockingRules() throws {
        let folder = TemporaryFolder()
        let made = ivpack(["init", "--policy", "semver", "--product", "Demo AI"], in: folder.path)
        #expect(made.status == 0, "\(made.stderr)")
        let quiet = ivpack(["check", "ivpack.yaml", "--policy", "semver", "-q"], in: folder.path)
        #expect(quiet.status == 1, "\(quiet.stdout)\(quiet.stderr)")
        let lines = quiet.stdout.split(separator: "\n")
        #expect(lines.count == 1, "\(quiet.stdout)")
        #expect(lines.first?.hasPrefix("Result: FAIL (") == true)
        #expect(
            lines.first?.contains("NOTES-018") == true && lines.first?.contains("SPEC-001") == true, "\(quiet.stdout)")
        #expect(lines.first?.hasSuffix(")") == true)
        let both = ivpack(["check", "ivpack.yaml", "-q", "--json"], in: folder.path)
        #expect(both.status == 64, "\(both.stderr)")
    }
}
