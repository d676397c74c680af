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

    @Test func theCurrentFileIsNamedAndTheLineFitsTheTerminal() {
        let short = ProgressLine.render(
            label: "install", done: 1 << 30, total: 2 << 30, seconds: 2, plain: true, file: "models/weights.bin",
            width: 80)
        #expect(short == "install 50% 1.00 GiB of 2.00 GiB, 512.0 MiB/s, 2 s left: models/weights.bin\n")
        let deep = String(repeating: "deep/", count: 30) + "weights.safetensors"
        for width in [70, 80, 132] {
            let line = ProgressLine.render(
                label: "install", done: 1 << 30, total: 2 << 30, seconds: 2, plain: false, file: deep, width: width)
            let visible = line.dropFirst().dropLast(3) // "\r" ... ESC [ K
            #expect(visible.count < width, "\(width): \(visible)")
            #expect(visible.contains(": …") && visible.hasSuffix("tensors"), "\(width): \(visible)")
        }
        // Too narrow for any of the name: none of it.
        let narrow = ProgressLine.render(
            label: "install", done: 1 << 30, total: 2 << 30, seconds: 2, plain: true, file: deep, width: 60)
        #expect(narrow == "install 50% 1.00 GiB of 2.00 GiB, 512.0 MiB/s, 2 s left\n")
        // Done: no file any more.
        let done = ProgressLine.render(
            label: "install", done: 2 << 30, total: 2 << 30, seconds: 4, plain: true, file: deep, width: 80)
        #expect(!done.contains("deep/"))
    }
}
