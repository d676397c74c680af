import IVPack
import Testing

/// Issue 19: the first progress frame said "3099890 s left"; TERM=dumb got escape codes.
@Suite struct ProgressLineTests {
    @Test func rateAndTimeLeftAreUnknownUntilHalfASecondOfWork() {
        let first = ProgressLine.render(label: "verify", done: 4096, total: 2 << 30, seconds: 0.001, plain: false)
        #expect(first.contains("-- MiB/s, -- s left"), "\(first)")
        #expect(first.contains("verify 0% "))
        let later = ProgressLine.render(label: "verify", done: 1 << 30, total: 2 << 30, seconds: 2, plain: false)
        #expect(later.contains("verify 50% 1.00 GiB of 2.00 GiB, 512.0 MiB/s, 2 s left"), "\(later)")
        #expect(later.hasPrefix("\r") && later.hasSuffix("\u{1B}[K"))
    }

    @Test func aDumbTerminalGetsPlainLines() {
        for done in [Int64(0), 1 << 29, 2 << 30] {
            let line = ProgressLine.render(label: "build", done: done, total: 2 << 30, seconds: 3, plain: true)
            #expect(!line.contains("\r") && !line.contains("\u{1B}"), "\(line)")
            #expect(line.hasSuffix("\n"))
        }
        #expect(
            ProgressLine.render(label: "build", done: 2 << 30, total: 2 << 30, seconds: 3, plain: true)
                == "build 100% 2.00 GiB of 2.00 GiB, 682.7 MiB/s, done\n")
    }
}
