import Foundation
import IVPack

#if canImport(Glibc)
    import Glibc
#endif

/// Asks for a key's passphrase on the terminal, with echo off, when nothing else gave one: no
/// `--passphrase-file`, no environment variable, standard input is a terminal and the key file is
/// an encrypted PEM. Off a terminal (CI, scripts) nothing is asked and the key's refusal names the
/// two non-interactive sources. The passphrase goes no further than the key loader; the terminal's
/// settings are restored afterwards, also when Ctrl-C interrupts the prompt.
enum TerminalPrompt {
    /// Longest passphrase read; more is refused rather than cut.
    static let maxBytes = 1024

    /// The passphrase typed for `keyPath`, or nil when no prompt is due (see above).
    static func passphrase(forKey keyPath: String) throws -> [UInt8]? {
        guard isatty(0) == 1, isEncryptedPEM(keyPath) else { return nil }
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)
        guard tty >= 0 else { return nil }
        defer { close(tty) }
        var saved = termios()
        guard tcgetattr(tty, &saved) == 0 else { return nil }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        quiet.c_lflag |= tcflag_t(ECHONL)
        Restore.remember(tty: tty, settings: saved)
        defer { Restore.now() }
        guard tcsetattr(tty, TCSAFLUSH, &quiet) == 0 else { return nil }
        let prompt = Array("Passphrase for \(Display.name(keyPath)): ".utf8)
        _ = prompt.withUnsafeBytes { write(tty, $0.baseAddress, $0.count) }
        var typed: [UInt8] = []
        var byte: UInt8 = 0
        while read(tty, &byte, 1) == 1, byte != 0x0A, byte != 0x0D {
            guard typed.count < maxBytes else {
                for i in typed.indices { typed[i] = 0 }
                throw InputError.credential(
                    file: keyPath, problem: "the passphrase typed is longer than \(maxBytes) bytes",
                    hint: "Type the key's passphrase, or give it with --passphrase-file FILE")
            }
            typed.append(byte)
        }
        return typed
    }

    /// Whether the file at `path` looks like an encrypted PEM key (its first 4 KiB say so).
    static func isEncryptedPEM(_ path: String) -> Bool {
        guard let input = try? InputFile(path: path),
            let head = try? input.readBytes(count: Int(min(input.size, 4096)), at: 0)
        else { return false }
        return String(decoding: head, as: UTF8.self).contains("ENCRYPTED")
    }

    /// The terminal settings to put back, reachable from the SIGINT handler.
    private enum Restore {
        nonisolated(unsafe) static var tty: Int32 = -1
        nonisolated(unsafe) static var settings = termios()

        static func remember(tty fd: Int32, settings s: termios) {
            tty = fd
            settings = s
            signal(SIGINT) { _ in
                if Restore.tty >= 0 { tcsetattr(Restore.tty, TCSAFLUSH, &Restore.settings) }
                _exit(130)
            }
        }

        static func now() {
            if tty >= 0 { tcsetattr(tty, TCSAFLUSH, &settings) }
            tty = -1
            signal(SIGINT, SIG_DFL)
        }
    }
}
