import IVPack
import Testing

/// Every input error renders through one `Diagnostic`: the same shape whatever found the problem.
@Suite struct DiagnosticTests {
    @Test func eachLocationRendersInItsPlace() {
        #expect(
            Diagnostic(file: "a.pem", problem: "is not a certificate", hint: "Give a PEM certificate").description
                == "a.pem: is not a certificate. Give a PEM certificate")
        #expect(
            Diagnostic(
                file: "ivpack.yaml", location: .line(12, column: 5, field: "components[2].kind"),
                problem: "unknown kind \"binary\""
            ).description
                == "ivpack.yaml:12:5: components[2].kind: unknown kind \"binary\"")
        #expect(
            Diagnostic(file: "ivpack.yaml", location: .line(0, column: 0, field: ""), problem: "is empty").description
                == "ivpack.yaml: is empty")
        #expect(
            Diagnostic(file: "m.gguf", location: .at("byte 0"), problem: "bad magic", hint: "Export it again")
                .description
                == "m.gguf: bad magic at byte 0. Export it again")
        #expect(
            Diagnostic(
                file: "b.ivp", location: .member(of: "manifest", pointer: "/format"),
                problem: "must be \"ivpack-manifest/1\""
            ).description
                == "b.ivp: manifest member /format must be \"ivpack-manifest/1\"")
        #expect(
            Diagnostic(file: "b.ivp", location: .member(of: "manifest", pointer: ""), problem: "is not valid JSON")
                .description
                == "b.ivp: manifest is not valid JSON")
    }

    @Test func aManifestErrorIsBadInputWithItsPointer() throws {
        let error = #expect(throws: InputError.self) {
            try Manifest.decode(Array(#"{"format":1}"#.utf8), source: "b.ivp")
        }
        #expect(error?.kind == .manifest)
        #expect(error?.exitStatus == .badInput)
        #expect(error?.description.hasPrefix("b.ivp: manifest ") == true, "\(String(describing: error))")
        #expect(
            error?.description.hasSuffix(
                "The bundle is damaged or was not made by ivpack; rebuild it or ask the vendor for a new copy") == true)
    }
}
