import Foundation
import Testing

@testable import IVPack

/// Programs ivpack runs (install hooks, tool probes, qualification programs) get standard input,
/// output and error only: a descriptor ivpack holds without close-on-exec made a killed ivpack's
/// leftover hook hold a test for 60 s (InstallHooksTests, before posix_spawn's closefrom).
@Suite struct ProgramRunnerTests {
    @Test func aProgramInheritsNoDescriptorButTheStandardThree() throws {
        let leaked = open("/dev/null", O_RDONLY) // no O_CLOEXEC, on purpose
        #expect(leaked > 2)
        defer { close(leaked) }
        let outcome = try ProgramRunner.run("/bin/sh", ["-c", "ls /proc/self/fd"], timeoutSeconds: 10)
        #expect(outcome.status == 0)
        let fds = String(decoding: outcome.output, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap {
            Int($0)
        }
        // 0-2, and the descriptor ls opens to list the folder (the leaked one would be a second).
        #expect(fds.filter { $0 > 2 }.count <= 1, "\(fds)")
    }
}
