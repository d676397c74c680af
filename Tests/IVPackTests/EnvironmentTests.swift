import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Environment requirements (IQ protocol, clause 4.1.1) checked against a machine: a fake root
/// describes CPU, memory, OS and kernel; disk, tools and nvidia-smi use real probes and programs.
@Suite(.clause("IQ 4.1.1", "IQ 6.1.1")) struct EnvironmentTests {
    // MARK: Fixtures

    /// A fake machine: the system files under a temporary root, and an empty tool folder.
    final class FakeMachine: Sendable {
        let folder = TemporaryFolder("ivpack-env")
        var root: String { folder.url("root") }
        var bin: String { folder.url("bin") }

        init(
            cores: Int = 4, flags: [String] = ["fpu", "sse4_2", "avx2"], memTotalKB: UInt64 = 16_303_412,
            osRelease: String =
                "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
            kernel: String = "6.1.0-28-amd64"
        ) {
            var cpuinfo = ""
            for i in 0..<cores {
                cpuinfo +=
                    "processor\t: \(i)\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU\nflags\t\t: \(flags.joined(separator: " "))\n\n"
            }
            folder.write("root/proc/cpuinfo", cpuinfo)
            folder.write("root/proc/meminfo", "MemTotal:       \(memTotalKB) kB\nMemFree:         1000000 kB\n")
            folder.write("root/etc/os-release", osRelease)
            folder.write("root/proc/sys/kernel/osrelease", kernel + "\n")
            try! FileManager.default.createDirectory(atPath: folder.url("bin"), withIntermediateDirectories: true)
        }

        /// Puts an executable shell script named `name` in the tool folder.
        func tool(_ name: String, _ script: String) {
            folder.write("bin/\(name)", "#!/bin/sh\n" + script + "\n", mode: 0o755)
        }

        func probe(timeoutSeconds: Int = 10) -> LiveSystem {
            LiveSystem(root: root, searchPath: bin, timeoutSeconds: timeoutSeconds)
        }
    }

    /// Parses a YAML-free JSON requirements text.
    func requirements(_ json: String) -> EnvironmentRequirements {
        EnvironmentRequirements(json: try! JSONParser.parse(Array(json.utf8)))
    }

    func only(_ checks: [Check], _ id: CheckID, sourceLocation: SourceLocation = #_sourceLocation) -> Check? {
        let matching = checks.filter { $0.id == id }
        #expect(matching.count == 1, "expected one \(id) in \(checks.map(\.id))", sourceLocation: sourceLocation)
        return matching.first
    }

    func evidence(_ check: Check?, _ key: String) -> String? { check?.evidence.first { $0.key == key }?.value }

    // MARK: Versions

    @Test(arguments: [
        ("5.10", "5.15"), ("5.15", "6.1"), ("5.9", "5.10"), ("3.9.18", "3.11"), ("9", "10"),
        ("535.104.05", "535.129.03"), ("1.2", "1.2.1"),
    ])
    func dottedVersionsCompareNumberByNumber(lower: String, higher: String) throws {
        let a = try #require(DottedVersion(lower))
        let b = try #require(DottedVersion(higher))
        #expect(a < b)
        #expect(!(b < a))
        #expect(a != b)
    }

    @Test func dottedVersionsEqualIgnoringTrailingZerosAndLeadingZeros() {
        #expect(DottedVersion("5.10") == DottedVersion("5.10.0"))
        #expect(DottedVersion("535.104.05") == DottedVersion("535.104.5"))
        #expect(DottedVersion("5.10+") == nil)
        #expect(DottedVersion("v5") == nil)
        #expect(DottedVersion("5..1") == nil)
    }

    @Test(arguments: [
        ("6.1.0-28-amd64", "6.1.0"), ("6.18.44-fc-v669", "6.18.44"), ("5.15.0+", "5.15.0"), ("4.19.0.", "4.19.0"),
    ])
    func kernelReleasesGiveTheirLeadingVersion(release: String, version: String) {
        #expect(DottedVersion.leading(in: release)?.description == version)
    }

    @Test(arguments: [
        ("Python 3.11.7", "3.11.7"),
        ("openjdk version \"17.0.9\" 2023-10-17", "17.0.9"),
        ("java version \"1.8.0_392\"", "1.8.0"),
        ("Docker version 24.0.7, build afdd53b", "24.0.7"),
        ("go version go1.21.5 linux/amd64", "1.21.5"),
        ("x264 0.164.3095", "0.164.3095"),
    ])
    func toolOutputGivesItsFirstDottedNumber(output: String, version: String) {
        #expect(DottedVersion.first(in: output)?.description == version)
    }

    @Test func outputWithoutADottedNumberGivesNoVersion() {
        #expect(DottedVersion.first(in: "build 2023-10-17, revision 7") == nil)
        #expect(DottedVersion.leading(in: "linux-6.1") == nil)
    }

    @Test func exactVersionsMatchAtTheWrittenPrecision() throws {
        let found = try #require(DottedVersion("3.11.7"))
        #expect(found.matches(exact: DottedVersion("3.11")!))
        #expect(found.matches(exact: DottedVersion("3.11.7")!))
        #expect(!found.matches(exact: DottedVersion("3.1")!))
        #expect(!found.matches(exact: DottedVersion("3.12")!))
        #expect(!found.matches(exact: DottedVersion("3.11.8")!))
        #expect(!DottedVersion("3")!.matches(exact: DottedVersion("3.11")!))
    }

    // MARK: No requirements

    @Test func noRequirementsGiveNoChecks() {
        let m = FakeMachine()
        #expect(EnvironmentCheck.evaluate(requirements: nil, probe: m.probe()).isEmpty)
        #expect(EnvironmentCheck.evaluate(requirements: requirements("{}"), probe: m.probe()).isEmpty)
    }

    @Test func anUnknownRequirementKindFails() {
        let m = FakeMachine()
        let checks = EnvironmentCheck.evaluate(
            requirements: requirements(#"{"fpga": {"model": "x"}}"#), probe: m.probe())
        let c = only(checks, .environment("fpga"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.contains("cannot check the requirement \"fpga\"") == true)
    }

    @Test func requirementsAreReadOnceIntoTypedValuesAndKeepTheirJSON() throws {
        let text =
            #"{"cpu":{"flags":["avx2"],"minCores":4},"fpga":{"model":"x"},"kernel":{"minimum":"5.x"},"tools":[{"minimum":"3.9","name":"python3"},{"exact":"1.0"}]}"#
        let r = requirements(text)
        #expect(r.cpu?.value.minCores == 4)
        #expect(r.cpu?.value.flags == ["avx2"])
        #expect(r.cpu?.isReadable == true)
        #expect(r.kernel?.value.minimum == nil)
        #expect(
            r.kernel?.problems == [
                #"requirements.kernel.minimum in the manifest "5.x" is not a dotted version; the bundle is damaged or was not made by ivpack"#
            ])
        guard case .list(let tools) = r.tools else {
            Issue.record("tools should be a list")
            return
        }
        #expect(tools.map(\.value.displayName) == ["python3", "#2"])
        #expect(tools[0].value.minimum == DottedVersion("3.9"))
        #expect(
            tools[1].problems == [
                "requirements.tools[1].name in the manifest is missing; the bundle is damaged or was not made by ivpack"
            ])
        #expect(r.unknownKinds == ["fpga"])
        // The JSON travels as signed, unknown kind included, so the manifest bytes round-trip.
        #expect(CanonicalJSON.encode(r.json) == Array(text.utf8))
        #expect(requirements("[]").notAnObject == "an array")
    }

    @Test func aMalformedRequirementFailsWithoutReadingTheMachine() {
        let m = FakeMachine()
        let c = only(
            EnvironmentCheck.evaluate(requirements: requirements(#"{"cpu": {"minCores": "four"}}"#), probe: m.probe()),
            .environment("cpu"))
        #expect(c?.status == .fail)
        #expect(
            c?.details == [
                "requirements.cpu.minCores in the manifest is a string, not a whole number; the bundle is damaged or was not made by ivpack"
            ])
        #expect(evidence(c, "found.cores") == nil)
    }

    // MARK: CPU

    @Test func cpuCoresAndFlagsMet() {
        let m = FakeMachine(cores: 4, flags: ["fpu", "sse4_2", "avx2"])
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(
                    #"{"cpu": {"minCores": 4, "recommendedCores": 4, "flags": ["avx2", "sse4_2"]}}"#), probe: m.probe()),
            .environment("cpu"))
        #expect(c?.status == .pass, "\(c?.details ?? [])")
        #expect(evidence(c, "found.cores") == "4")
        #expect(evidence(c, "required.minCores") == "4")
        #expect(evidence(c, "found.missingFlags") == "none")
        #expect(evidence(c, "source") == m.root + "/proc/cpuinfo")
    }

    @Test(.clause("IQ 4.1.2 a", "IQ 4.1.2 b")) func cpuWithTooFewCoresFails() {
        let m = FakeMachine(cores: 2)
        let c = only(
            EnvironmentCheck.evaluate(requirements: requirements(#"{"cpu": {"minCores": 4}}"#), probe: m.probe()),
            .environment("cpu"))
        #expect(c?.status == .fail)
        #expect(c?.details == ["2 processors, at least 4 required"])
    }

    @Test func cpuBelowTheRecommendedCoresWarns() {
        let m = FakeMachine(cores: 4)
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"cpu": {"minCores": 2, "recommendedCores": 8}}"#), probe: m.probe()),
            .environment("cpu"))
        #expect(c?.status == .warn)
        #expect(c?.details.first?.contains("8 recommended") == true)
    }

    @Test func cpuMissingAFlagFails() {
        let m = FakeMachine(cores: 8, flags: ["fpu", "sse4_2"])
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"cpu": {"minCores": 2, "flags": ["sse4_2", "avx512f"]}}"#),
                probe: m.probe()), .environment("cpu"))
        #expect(c?.status == .fail)
        #expect(evidence(c, "found.missingFlags") == "avx512f")
        #expect(c?.details.contains { $0.contains("CPU flag missing") && $0.contains("avx512f") } == true)
    }

    // MARK: Memory

    @Test func memoryMet() {
        let m = FakeMachine(memTotalKB: 16 << 20) // 16 GiB
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"memory": {"minimum": 4294967296, "recommended": 8589934592}}"#),
                probe: m.probe()), .environment("memory"))
        #expect(c?.status == .pass, "\(c?.details ?? [])")
        #expect(evidence(c, "found.memTotal") == "17179869184 (16.0 GiB)")
        #expect(evidence(c, "required.minimum") == "4294967296 (4.0 GiB)")
    }

    @Test(.clause("IQ 4.1.2 b")) func memoryBelowTheMinimumFails() {
        let m = FakeMachine(memTotalKB: 2 << 20) // 2 GiB
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"memory": {"minimum": 4294967296}}"#), probe: m.probe()),
            .environment("memory"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.hasPrefix("2.0 GiB of memory (MemTotal), at least 4.0 GiB required") == true)
    }

    @Test func memoryBelowTheRecommendationWarns() {
        let m = FakeMachine(memTotalKB: 6 << 20)
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"memory": {"minimum": 4294967296, "recommended": 8589934592}}"#),
                probe: m.probe()), .environment("memory"))
        #expect(c?.status == .warn)
    }

    @Test func unreadableMemoryFails() throws {
        let m = FakeMachine()
        try FileManager.default.removeItem(atPath: m.root + "/proc/meminfo")
        let c = only(
            EnvironmentCheck.evaluate(requirements: requirements(#"{"memory": {"minimum": 1}}"#), probe: m.probe()),
            .environment("memory"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.contains("cannot read \(m.root)/proc/meminfo") == true)
    }

    // MARK: Operating system and kernel

    @Test func operatingSystemMet() {
        let m = FakeMachine()
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"os": {"id": "debian", "versions": ["11", "12"]}}"#), probe: m.probe()),
            .environment("os"))
        #expect(c?.status == .pass)
        #expect(evidence(c, "found.id") == "debian")
        #expect(evidence(c, "found.versionID") == "12")
        #expect(evidence(c, "found.prettyName") == "Debian GNU/Linux 12 (bookworm)")
    }

    @Test(.clause("IQ 4.1.2 a")) func anotherOperatingSystemFails() {
        let m = FakeMachine(osRelease: "ID=ubuntu\nID_LIKE=debian\nVERSION_ID='22.04'\n")
        let c = only(
            EnvironmentCheck.evaluate(requirements: requirements(#"{"os": {"id": "debian"}}"#), probe: m.probe()),
            .environment("os"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.contains("ID=ubuntu") == true)
    }

    @Test func anUnlistedOperatingSystemVersionFails() {
        let m = FakeMachine(osRelease: "ID=debian\nVERSION_ID=\"11\"\n")
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"os": {"id": "debian", "versions": ["12"]}}"#), probe: m.probe()),
            .environment("os"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.contains("VERSION_ID=11") == true)
    }

    @Test func osReleaseFallsBackToUsrLib() throws {
        let m = FakeMachine()
        try FileManager.default.removeItem(atPath: m.root + "/etc/os-release")
        m.folder.write("root/usr/lib/os-release", "ID=rocky\nVERSION_ID=\"9.3\"\n")
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"os": {"id": "rocky", "versions": ["9.3"]}}"#), probe: m.probe()),
            .environment("os"))
        #expect(c?.status == .pass)
        #expect(evidence(c, "source") == m.root + "/usr/lib/os-release")
    }

    @Test func kernelMet() {
        let m = FakeMachine(kernel: "6.1.0-28-amd64")
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"kernel": {"minimum": "5.10"}}"#), probe: m.probe()),
            .environment("kernel"))
        #expect(c?.status == .pass)
        #expect(evidence(c, "found.release") == "6.1.0-28-amd64")
    }

    @Test func anOlderKernelFails() {
        // 5.4 < 5.10 numerically, although "5.4" > "5.10" as text.
        let m = FakeMachine(kernel: "5.4.0-150-generic")
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"kernel": {"minimum": "5.10"}}"#), probe: m.probe()),
            .environment("kernel"))
        #expect(c?.status == .fail)
        #expect(c?.details == ["kernel 5.4.0-150-generic (version 5.4.0), at least 5.10 required"])
    }

    // MARK: Disk (real file system)

    @Test func diskWithOneByteFreeIsMetAtTmp() {
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"disk": {"path": "/tmp", "minimumFree": 1}}"#), probe: LiveSystem()),
            .environment("disk"))
        #expect(c?.status == .pass, "\(c?.details ?? [])")
        #expect(evidence(c, "found.measuredAt") == "/tmp")
    }

    @Test(.clause("IQ 4.1.2 b")) func diskWithOnePebibyteFreeIsNotMetAtTmp() {
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"disk": {"path": "/tmp", "minimumFree": 1125899906842624}}"#),
                probe: LiveSystem()), .environment("disk"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.contains("at least 1.0 PiB required") == true)
    }

    @Test(.clause("IQ 6.3.1")) func diskBelowTheRecommendationWarns() {
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(
                    #"{"disk": {"path": "/tmp", "minimumFree": 1, "recommendedFree": 1125899906842624}}"#),
                probe: LiveSystem()), .environment("disk"))
        #expect(c?.status == .warn)
    }

    @Test func aPathNotYetCreatedIsMeasuredAtItsNearestExistingParent() {
        let t = TemporaryFolder()
        let path = t.url("opt/pulmoscan/releases")
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"disk": {"path": "\#(path)", "minimumFree": 1}}"#), probe: LiveSystem()),
            .environment("disk"))
        #expect(c?.status == .pass, "\(c?.details ?? [])")
        #expect(evidence(c, "found.measuredAt") == t.path)
        #expect(c?.details.first?.contains("nearest existing folder of \(path)") == true)
    }

    // MARK: GPU (a fake nvidia-smi)

    func nvidiaSMI(_ m: FakeMachine, _ lines: [String]) {
        // Answers only the query ivpack makes, so a changed query fails the test.
        m.tool(
            "nvidia-smi",
            """
            [ "$1" = "--query-gpu=name,memory.total,driver_version" ] && [ "$2" = "--format=csv,noheader,nounits" ] || { echo "unexpected arguments: $*" >&2; exit 2; }
            \(lines.map { "echo '\($0)'" }.joined(separator: "\n"))
            """)
    }

    @Test func gpuMet() {
        let m = FakeMachine()
        nvidiaSMI(m, ["NVIDIA A100-SXM4-80GB, 81920, 535.104.05", "NVIDIA A100-SXM4-80GB, 81920, 535.104.05"])
        let r = requirements(
            #"{"gpu": {"vendor": "nvidia", "model": "A100", "minCount": 2, "minMemory": 42949672960, "minDriver": "535.54"}}"#
        )
        let c = only(EnvironmentCheck.evaluate(requirements: r, probe: m.probe()), .environment("gpu"))
        #expect(c?.status == .pass, "\(c?.details ?? [])")
        #expect(evidence(c, "found.driver") == "535.104.05")
        #expect(evidence(c, "found.gpus")?.contains("NVIDIA A100-SXM4-80GB (80.0 GiB, driver 535.104.05)") == true)
    }

    @Test(.clause("IQ 4.1.2 b")) func tooFewGPUsWithEnoughMemoryFail() {
        let m = FakeMachine()
        nvidiaSMI(m, ["NVIDIA A100-PCIE-40GB, 40960, 535.104.05", "Tesla T4, 15360, 535.104.05"])
        let r = requirements(#"{"gpu": {"model": "A100", "minCount": 1, "minMemory": 85899345920}}"#)
        let c = only(EnvironmentCheck.evaluate(requirements: r, probe: m.probe()), .environment("gpu"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.contains("0 of 2 GPUs found fit") == true)
        #expect(c?.details.first?.contains("1 matching GPU has less memory") == true)
    }

    @Test func anOldGPUDriverFails() {
        let m = FakeMachine()
        nvidiaSMI(m, ["Tesla T4, 15360, 470.82.01"])
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"gpu": {"minDriver": "535.54"}}"#), probe: m.probe()), .environment("gpu")
        )
        #expect(c?.status == .fail)
        #expect(c?.details.contains("GPU driver 470.82.01, at least 535.54 required") == true)
    }

    @Test func aFailingNvidiaSMIFails() {
        let m = FakeMachine()
        m.tool(
            "nvidia-smi",
            "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'; exit 9")
        let c = only(
            EnvironmentCheck.evaluate(requirements: requirements(#"{"gpu": {"minCount": 1}}"#), probe: m.probe()),
            .environment("gpu"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.contains("exited with status 9: NVIDIA-SMI has failed") == true)
    }

    /// A requirement that cannot be checked is not shown to be met: it fails (issue 16), unless the
    /// site accepts it unchecked by name with a reason, which the check then states.
    @Test func gpuWithoutNvidiaSMIFailsUnlessTheSiteAcceptsItUnchecked() {
        let m = FakeMachine() // an empty tool folder
        let gpu = requirements(#"{"gpu": {"vendor": "nvidia", "minCount": 1}, "memory": {"minimum": 1}}"#)
        let c = only(EnvironmentCheck.evaluate(requirements: gpu, probe: m.probe()), .environment("gpu"))
        #expect(c?.status == .fail)
        #expect(evidence(c, "found.gpus") == "not checkable")
        #expect(c?.details.first?.hasPrefix("GPU not checkable: nvidia-smi was not found on the search path") == true)
        #expect(c?.details.first?.contains("--accept-unchecked gpu --reason TEXT") == true)
        for name in ["gpu", "environment.gpu"] {
            let accepted = only(
                EnvironmentCheck.evaluate(
                    requirements: gpu, probe: m.probe(),
                    accepting: [.init(requirement: name, reason: "CR-77: inference runs on the CPU at this site")]),
                .environment("gpu"))
            #expect(accepted?.status == .warn)
            #expect(
                accepted?.details.last
                    == "accepted unchecked by the site (--accept-unchecked \(name)): CR-77: inference runs on the CPU at this site"
            )
            #expect(evidence(accepted, "accepted.unchecked") == "CR-77: inference runs on the CPU at this site")
        }
        // An acceptance names one requirement: another one's failure stands, and a requirement that
        // is checked and not met is never accepted.
        let other = EnvironmentCheck.evaluate(
            requirements: gpu, probe: m.probe(), accepting: [.init(requirement: "disk", reason: "x")])
        #expect(only(other, .environment("gpu"))?.status == .fail)
        let unmet = requirements(#"{"memory": {"minimum": 1125899906842624}}"#)
        let stillFailed = EnvironmentCheck.evaluate(
            requirements: unmet, probe: LiveSystem(), accepting: [.init(requirement: "memory", reason: "x")])
        #expect(only(stillFailed, .environment("memory"))?.status == .fail)
    }

    @Test func aGPUOfAnotherVendorIsNotCheckableAndFails() {
        let m = FakeMachine()
        nvidiaSMI(m, ["Tesla T4, 15360, 535.104.05"])
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"gpu": {"vendor": "AMD", "minCount": 1}}"#), probe: m.probe()),
            .environment("gpu"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.contains("ivpack reads only NVIDIA GPUs") == true)
    }

    // MARK: Tools

    @Test func python3OnThisMachineMeetsAnOldMinimum() throws {
        let checks = EnvironmentCheck.evaluate(
            requirements: requirements(#"{"tools": [{"name": "python3", "minimum": "3.0"}]}"#), probe: LiveSystem())
        let c = try #require(only(checks, .environment("tool.python3")))
        #expect(c.status == .pass, "\(c.details)")
        let found = try #require(evidence(c, "found.version").flatMap(DottedVersion.init))
        #expect(found >= DottedVersion("3.0")!)
        #expect(evidence(c, "found.output")?.hasPrefix("Python ") == true)
    }

    @Test func python3OnThisMachineFailsAFutureMinimumAndAnotherExactVersion() {
        let checks = EnvironmentCheck.evaluate(
            requirements: requirements(
                #"{"tools": [{"name": "python3", "minimum": "99.1"}, {"name": "python3", "exact": "2.7"}]}"#),
            probe: LiveSystem())
        #expect(checks.map(\.id) == [.environment("tool.python3"), .environment("tool.python3.2")])
        #expect(checks.map(\.status) == [.fail, .fail])
        #expect(checks.first?.details.first?.contains("version 99.1 or later required") == true)
        #expect(checks.last?.details.first?.contains("exactly 2.7 required") == true)
    }

    @Test(.clause("IQ 4.1.2 a", "IQ 6.3.1")) func aToolThatDoesNotExistFailsWithAClearMessage() {
        let checks = EnvironmentCheck.evaluate(
            requirements: requirements(#"{"tools": [{"name": "ivpack-no-such-tool", "minimum": "1.2"}]}"#),
            probe: LiveSystem())
        let c = only(checks, .environment("tool.ivpack-no-such-tool"))
        #expect(c?.status == .fail)
        #expect(evidence(c, "found.version") == "not found")
        #expect(c?.details.first?.hasPrefix("ivpack-no-such-tool was not found on the search path (") == true)
        #expect(
            c?.details.first?.hasSuffix(
                "install ivpack-no-such-tool version 1.2 or later, or put it on the PATH of the installing user")
                == true)
    }

    @Test func javaIsAskedWithDashVersionAndAnswersOnStandardError() {
        let m = FakeMachine()
        m.tool("java", #"[ "$1" = "-version" ] || exit 3; echo 'openjdk version "17.0.9" 2023-10-17' >&2"#)
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"tools": [{"name": "java", "exact": "17"}]}"#), probe: m.probe()),
            .environment("tool.java"))
        #expect(c?.status == .pass, "\(c?.details ?? [])")
        #expect(evidence(c, "found.version") == "17.0.9")
        #expect(evidence(c, "found.path") == m.bin + "/java")
    }

    @Test func aToolWithoutAVersionInItsOutputFails() {
        let m = FakeMachine()
        m.tool("mytool", "echo 'mytool (no version)'")
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"tools": [{"name": "mytool", "minimum": "1.0"}]}"#), probe: m.probe()),
            .environment("tool.mytool"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.contains("printed no version number (N.N): mytool (no version)") == true)
    }

    @Test func aToolThatHangsIsKilledAtTheTimeout() {
        let m = FakeMachine()
        m.tool("slowtool", "sleep 30; echo 'slowtool 1.0'")
        let started = Date()
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"tools": [{"name": "slowtool", "minimum": "1.0"}]}"#),
                probe: m.probe(timeoutSeconds: 1)), .environment("tool.slowtool"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.contains("did not finish within 1 s") == true)
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test func aToolNameWithAPathIsRefusedWithoutRunningIt() {
        let m = FakeMachine()
        let c = only(
            EnvironmentCheck.evaluate(
                requirements: requirements(#"{"tools": [{"name": "../bin/sh", "minimum": "1.0"}]}"#), probe: m.probe()),
            .environment("tool.../bin/sh"))
        #expect(c?.status == .fail)
        #expect(c?.details.first?.contains("is not a program name") == true)
    }

    // MARK: All together, and the real machine

    @Test func checksComeOutInTheDocumentedOrder() {
        let m = FakeMachine()
        m.tool("docker", #"[ "$1" = "--version" ] || exit 3; echo 'Docker version 24.0.7, build afdd53b'"#)
        let r = requirements(
            #"""
            {"tools": [{"name": "docker", "minimum": "20.10"}], "gpu": {"minCount": 1}, "kernel": {"minimum": "5.10"},
             "os": {"id": "debian"}, "disk": {"path": "/", "minimumFree": 1}, "memory": {"minimum": 1}, "cpu": {"minCores": 1}}
            """#)
        let checks = EnvironmentCheck.evaluate(requirements: r, probe: m.probe())
        #expect(
            checks.map(\.id) == [
                .environment("cpu"), .environment("memory"), .environment("disk"), .environment("os"),
                .environment("kernel"), .environment("gpu"), .environment("tool.docker"),
            ])
        // No nvidia-smi on the fake machine: the GPU requirement cannot be checked, so it fails.
        #expect(checks.map(\.status) == [.pass, .pass, .pass, .pass, .pass, .fail, .pass])
    }

    @Test func theLiveSystemReadsThisMachine() throws {
        let probe = LiveSystem()
        let cpu = try probe.processors()
        #expect(cpu.count == sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let memory = try probe.memory()
        #expect(Int(memory.totalBytes) == sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE)))
        let os = try probe.operatingSystem()
        #expect(os.source == "/etc/os-release" || os.source == "/usr/lib/os-release")
        #expect(!os.id.isEmpty)
        let kernel = try probe.kernelRelease()
        #expect(kernel.release == run("/bin/uname", ["-r"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(DottedVersion.leading(in: kernel.release) != nil)
    }
}
