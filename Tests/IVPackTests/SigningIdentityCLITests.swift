import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// The commands that sign load their identity the same way: the same refusals, the same warnings.
@Suite(.serialized) struct SigningIdentityCLITests {
    @Test func signAndSignReportRefuseAKeyThatDoesNotBelongToTheCertificateAlike() throws {
        let folder = TemporaryFolder()
        let pki = try DevelopmentPKI.create(in: folder.url("pki"), now: Timestamp.now() - 3600)
        let report = folder.write("iq.json", "{}\n")
        let subject = try Certificate.load(file: pki.installer.certificate)[0].subject
        let expected = "error: \(pki.quality.key): the private key does not belong to the certificate \"\(subject)\""
        let sign = ivpack([
            "sign", folder.url("b.ivp"), "--role", "quality", "--key", pki.quality.key, "--cert",
            pki.installer.certificate,
        ])
        let signReport = ivpack([
            "sign-report", report, "--role", "installer", "--key", pki.quality.key, "--cert", pki.installer.certificate,
        ])
        for result in [sign, signReport] {
            #expect(result.status == ExitStatus.badInput.rawValue, "\(result.stderr)")
            #expect(result.stderr.hasPrefix(expected), "\(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }

    @Test func signAndSignReportWarnOfAKeyFileItsGroupCanRead() throws {
        let folder = TemporaryFolder()
        let pki = try DevelopmentPKI.create(in: folder.url("pki"), now: Timestamp.now() - 3600)
        let report = folder.write("iq.json", "{}\n")
        let key = folder.write(
            "installer.key", Array(try Data(contentsOf: URL(fileURLWithPath: pki.installer.key))), mode: 0o640)
        let warning = "warning: \(key): the private key file can be read by its group (mode 640)"
        let sign = ivpack([
            "sign", folder.url("b.ivp"), "--role", "quality", "--key", key, "--cert", pki.installer.certificate,
        ])
        let signReport = ivpack([
            "sign-report", report, "--role", "installer", "--key", key, "--cert", pki.installer.certificate,
        ])
        for result in [sign, signReport] {
            #expect(result.stderr.hasPrefix(warning), "\(result.stderr)")
        }
    }
}
