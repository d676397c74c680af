import ArgumentParser
import Foundation
import IVPack

struct RecipientsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipients",
        abstract: "List or add the recipients of an encrypted bundle's content key.",
        subcommands: [ListRecipients.self, AddRecipient.self]
    )

    struct ListRecipients: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the recipient entries of an encrypted bundle and whom each is wrapped for.",
            discussion: """
                Example:
                  ivpack recipients list out/pulmoscan-V2.3.1.1024.ivp
                """)

        @Argument(help: "The bundle.", completion: .file())
        var bundle: String

        @OptionGroup var outputOptions: JSONOutputOptions

        mutating func run() throws {
            try reportingErrors {
                let reader = try BundleReader(path: bundle, blockSize: 16 << 10)
                var rows: [(entry: String, recipients: [String])] = []
                while let entry = try reader.next() {
                    guard case .recipient(let name) = entry.kind else { continue }
                    let der = try reader.readAll(limit: EnvelopedKey.maxBytes)
                    let who: [String]
                    do {
                        who = try EnvelopedKey.parse(der: der, source: name.path).recipients.map(\.description)
                    } catch {
                        who = ["unreadable: \(error)"]
                    }
                    rows.append((name.path, who))
                }
                let encryption = reader.manifest.encryption
                if outputOptions.json {
                    printJSON(
                        .object([
                            ("bundle", .string(bundle)),
                            ("encrypted", .array((encryption?.components ?? []).map { .string($0) })),
                            (
                                "recipients",
                                .array(
                                    rows.map {
                                        .object([
                                            ("entry", .string($0.entry)),
                                            ("wrappedFor", .array($0.recipients.map { .string($0) })),
                                        ])
                                    })
                            ),
                        ]))
                    return
                }
                guard let encryption else {
                    print("\(bundle): nothing is encrypted; no recipients")
                    return
                }
                print("\(bundle): encrypted components \(encryption.components.joined(separator: ", "))")
                if rows.isEmpty { print("  no recipient entry (only the licence server or a key file can open it)") }
                for row in rows {
                    print("  \(row.entry)")
                    for who in row.recipients { print("    \(who)") }
                }
            }
        }
    }

    struct AddRecipient: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Wrap the content key for one more certificate, appended like a signature.",
            discussion: """
                The payload, the manifest and the signatures are not touched: the new entry \
                ivpack/recipients/NNN-NAME.p7m is appended at the end of the archive. The content key \
                comes from an existing recipient's key or from a key file, and is checked against \
                the manifest's signed key check value first.

                Example:
                  ivpack recipients add out/pulmoscan-V2.3.1.1024.ivp --name site-9 \\
                    --cert site9.pem --recipient-key vendor-escrow.key \\
                    --recipient-cert vendor-escrow.pem
                """)

        @Argument(help: "The encrypted bundle (changed in place, by one appended entry).", completion: .file())
        var bundle: String

        @Option(name: .long, help: "The new recipient entry's name: lower-case letters, digits and '-'.")
        var name: String

        @Option(
            name: .long, help: "The new recipient's certificate (PEM, RSA or EC, allowed to take a key).",
            completion: .file())
        var cert: String

        @OptionGroup var keys: ContentKeyOptions

        mutating func run() throws {
            try reportingErrors {
                let result = try RecipientAdder.add(
                    bundlePath: bundle, name: name,
                    certificate: try BuildCommand.oneCertificate(cert, option: "--cert"),
                    keySources: try keys.sources())
                print("Added \(result.entry): the content key wrapped for \(result.certificate)")
                print(
                    "  \(result.recipientCount) recipient entr\(result.recipientCount == 1 ? "y" : "ies") in \(bundle)")
            }
        }
    }
}
