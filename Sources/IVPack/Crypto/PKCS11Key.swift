internal import CLibCrypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension PrivateKey {
    /// The environment variable naming the PKCS#11 module when the URI has no `module-path`.
    public static let pkcs11ModuleVariable = "IVPACK_PKCS11_MODULE"
    /// The PKCS#11 module used when neither the URI nor `IVPACK_PKCS11_MODULE` names one: SoftHSM2
    /// as Debian installs it.
    public static let defaultPKCS11Module = "/usr/lib/softhsm/libsofthsm2.so"

    /// Loads a private key that stays inside an HSM, named by an RFC 7512 PKCS#11 URI such as
    /// `pkcs11:token=release;object=rm`, through OpenSSL's `pkcs11` engine (libp11). The key can
    /// sign (`SignedData.sign`) and be matched against a certificate; its private half never
    /// leaves the token. Do not export it with `pkcs8PEM(passphrase:)`: libp11 puts a zero
    /// private scalar in place of the real one, so what comes out is not a usable key.
    ///
    /// The module is the URI's `module-path` query attribute, else `$IVPACK_PKCS11_MODULE`, else
    /// `defaultPKCS11Module`. The PIN is `pin` only: a URI carrying `pin-value` or `pin-source` is
    /// refused, nothing prompts on a terminal, and the PIN bytes are overwritten after the login.
    /// The key's `source` is the URI. Every failure the user can fix (engine or module missing, no
    /// such token or key, wrong, missing or locked PIN, malformed URI) is a `InputError` (kind `.credential`).
    ///
    /// The engine and its session stay open until the process ends, as the key needs them. A
    /// PKCS#11 login holds for the whole process: once a token is logged in, later loads from it
    /// in the same process find it logged in and do not present the PIN again.
    public static func loadPKCS11(uri: String, pin: [UInt8]?) throws -> PrivateKey {
        let parsed = try PKCS11URI(uri)
        let module =
            parsed.modulePath ?? environmentValue(pkcs11ModuleVariable).flatMap { $0.isEmpty ? nil : $0 }
            ?? defaultPKCS11Module
        guard access(module, R_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            let hint =
                module == defaultPKCS11Module
                ? "Install SoftHSM2 (Debian package softhsm2), or name your HSM's PKCS#11 module with \(pkcs11ModuleVariable) or module-path= in the URI"
                : "Check module-path= in the URI or \(pkcs11ModuleVariable); it names the HSM vendor's PKCS#11 library"
            throw InputError.credential(
                file: uri, problem: "the PKCS#11 module \(module) cannot be read (\(reason))", hint: hint)
        }
        if let pin, pin.contains(0) {
            throw InputError.credential(
                file: uri, problem: "the PIN contains a NUL byte", hint: "Check IVPACK_PKCS11_PIN or the --pin-file")
        }
        return try PKCS11Engines.shared.load(uri: uri, engineURI: parsed.engineURI, module: module, pin: pin)
    }

    private static func environmentValue(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}

/// The parts of a PKCS#11 URI (RFC 7512) that ivpack looks at. The path (token and object
/// attributes) goes to the engine unchanged; of the query, only `module-path` is accepted.
struct PKCS11URI: Equatable {
    /// Longest URI accepted.
    static let maxLength = 4096

    /// The URI without its query, as the engine takes it.
    var engineURI: String
    /// The percent-decoded `module-path` query attribute.
    var modulePath: String?

    init(_ uri: String) throws {
        let lower = uri.lowercased()
        guard lower.hasPrefix("pkcs11:") else {
            throw InputError.credential(
                file: uri, problem: "not a PKCS#11 URI",
                hint: "Write it as pkcs11:token=LABEL;object=KEY-LABEL (RFC 7512)")
        }
        // Checked before anything is echoed: the message must not repeat a PIN.
        for attribute in ["pin-value", "pin-source"] where lower.contains(attribute + "=") {
            throw InputError.credential(
                file: Self.redacted(uri),
                problem:
                    "the PKCS#11 URI carries the PIN (\(attribute)=); ivpack never takes a PIN from the command line",
                hint: "Remove \(attribute) from the URI and give the PIN in IVPACK_PKCS11_PIN or with --pin-file FILE")
        }
        guard uri.utf8.count <= Self.maxLength else {
            throw InputError.credential(
                file: String(uri.prefix(80)) + "...", problem: "the PKCS#11 URI is longer than \(Self.maxLength) bytes",
                hint: "")
        }
        guard uri.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw InputError.credential(
                file: uri, problem: "the PKCS#11 URI contains spaces, control or non-ASCII characters",
                hint: "Percent-encode them as RFC 7512 requires, e.g. %20 for a space")
        }
        guard let question = uri.firstIndex(of: "?") else {
            engineURI = uri
            modulePath = nil
            return
        }
        engineURI = String(uri[..<question])
        var module: String?
        for item in uri[uri.index(after: question)...].split(separator: "&", omittingEmptySubsequences: true) {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2, pair[0].lowercased() == "module-path" else {
                throw InputError.credential(
                    file: uri, problem: "the query attribute \"\(pair[0])\" is not supported",
                    hint:
                        "Only module-path= is accepted after '?'; give the PIN in IVPACK_PKCS11_PIN or with --pin-file FILE"
                )
            }
            guard module == nil, let path = Self.percentDecoded(pair[1]), path.hasPrefix("/") else {
                throw InputError.credential(
                    file: uri, problem: "module-path must be given once, as an absolute path",
                    hint: "e.g. ?module-path=/usr/lib/softhsm/libsofthsm2.so")
            }
            module = path
        }
        modulePath = module
    }

    /// `uri` with the values of `pin-value` and `pin-source` replaced, for messages.
    static func redacted(_ uri: String) -> String {
        var out = ""
        var rest = Substring(uri)
        while let separator = rest.firstIndex(where: { $0 == ";" || $0 == "?" || $0 == "&" }) {
            out += redactedAttribute(rest[..<separator]) + String(rest[separator])
            rest = rest[rest.index(after: separator)...]
        }
        return out + redactedAttribute(rest)
    }

    private static func redactedAttribute(_ attribute: Substring) -> String {
        let lower = attribute.lowercased()
        for name in ["pin-value=", "pin-source="] {
            if let range = lower.range(of: name) { return String(lower[..<range.upperBound]) + "(redacted)" }
        }
        return String(attribute)
    }

    /// RFC 3986 percent-decoding; nil for a malformed escape or a NUL byte.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == 0x25 else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        guard !bytes.contains(0) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
}

/// The started `pkcs11` engines, one per module path, for the life of the process: keys loaded
/// through an engine point into its PKCS#11 session, and libp11 cannot finish an engine (or
/// re-enumerate its slots) while such keys live. Calls are serialised: the PIN is engine state.
private final class PKCS11Engines: @unchecked Sendable {
    static let shared = PKCS11Engines()

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var engines: [String: OpaquePointer] = [:]
    private var noPrompt: OpaquePointer?

    private init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    func load(uri: String, engineURI: String, module: String, pin: [UInt8]?) throws -> PrivateKey {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        ERR_clear_error()
        if noPrompt == nil { noPrompt = ivpack_ui_no_prompt() }
        let engine = try engines[module] ?? start(module: module, uri: uri)
        engines[module] = engine
        var pinBytes: [CChar] = (pin ?? []).map { CChar(bitPattern: $0) } + [0]
        let key = pinBytes.withUnsafeBufferPointer { pinPointer in
            ivpack_pkcs11_load_private_key(engine, engineURI, pinPointer.baseAddress, noPrompt)
        }
        for i in pinBytes.indices { pinBytes[i] = 0 }
        guard let key else { throw Self.loadError(uri: uri, module: module, pinGiven: pin != nil) }
        // The module leaves unrelated errors behind (SoftHSM looks for an rdrand engine).
        ERR_clear_error()
        return PrivateKey(owning: key, source: uri)
    }

    private func start(module: String, uri: String) throws -> OpaquePointer {
        // OpenSSL's EC tables set up in this process before the module loads: a PKCS#11 module
        // may run OpenSSL's own initialisation in C_Initialize (SoftHSM2 links libcrypto and sets
        // up engines there). Once in CI (066ba9e, a full `swift test`) every later P-256 key
        // generation of the test process failed ("unknown group") when the first HSM test to run
        // loaded SoftHSM before anything in the process had used EC, while other suites did their
        // first EC work on other threads; not reproduced in 8 runs since. One P-256 key, ~0.1 ms.
        _ = try? PrivateKey.generateP256()
        var stage: Int32 = 0
        if let engine = ivpack_pkcs11_engine_start(module, &stage) { return engine }
        let error = OpenSSLError.drain("start the pkcs11 engine")
        if stage == 1 {
            throw InputError.credential(
                file: uri, problem: "OpenSSL's PKCS#11 engine (pkcs11) is not installed",
                hint: "Install the Debian package libengine-pkcs11-openssl (scripts/install-deps.sh does)")
        }
        throw InputError.credential(
            file: uri,
            problem:
                "OpenSSL's PKCS#11 engine would not start with the module \(module) (\(error.reasons.joined(separator: "; ")))",
            hint: "Check that libengine-pkcs11-openssl matches this OpenSSL")
    }

    /// The reason a load failed, from libp11's and the module's errors in OpenSSL's queue.
    private static func loadError(uri: String, module: String, pinGiven: Bool) -> InputError {
        let reasons = OpenSSLError.drain("load the private key").reasons
        let text = reasons.joined(separator: "; ")
        let lowercased = text.lowercased()
        func has(_ needle: String) -> Bool { lowercased.contains(needle.lowercased()) }
        let pinSource = "IVPACK_PKCS11_PIN or the --pin-file"
        if has("PIN locked") {
            return InputError.credential(
                file: uri, problem: "the token's user PIN is locked after too many wrong PINs",
                hint: "Have the security officer reset it (pkcs11-tool --init-pin, or the HSM's own tool)")
        }
        if !pinGiven && (has("PIN incorrect") || has("PIN len range") || has("PIN invalid") || has("UI_process")) {
            return InputError.credential(
                file: uri, problem: "the token needs a PIN and none was given",
                hint: "Set IVPACK_PKCS11_PIN or pass --pin-file FILE")
        }
        if has("PIN incorrect") || has("PIN len range") || has("PIN invalid") {
            return InputError.credential(
                file: uri, problem: "the token refused the PIN (wrong PIN)",
                hint: "Check \(pinSource); repeated wrong PINs can lock the token")
        }
        // libp11 reports a module that fails to load or to initialise as the engine's "invalid parameter".
        if has("Unable to load PKCS#11 module") || has("pkcs11 engine::invalid parameter") {
            // The module's own reasons only, without the noise OpenSSL's DSO loader leaves for other engines.
            let own = reasons.filter { $0.contains("PKCS#11 module") || $0.contains("libp11") }
                .map { $0.split(separator: ":", omittingEmptySubsequences: true).last.map(String.init) ?? $0 }
            return InputError.credential(
                file: uri,
                problem:
                    "the PKCS#11 module \(module) would not start (\(own.isEmpty ? text : own.joined(separator: "; ")))",
                hint: module.contains("softhsm")
                    ? "Check that SOFTHSM2_CONF (or /etc/softhsm/softhsm2.conf) is readable and its directories.tokendir exists"
                    : "Check that it is the HSM vendor's PKCS#11 library and that the HSM's own configuration is in place"
            )
        }
        if has("invalid id") {
            return InputError.credential(
                file: uri, problem: "the engine does not accept this PKCS#11 URI",
                hint: "Write it as pkcs11:token=LABEL;object=KEY-LABEL or with id=%01 (RFC 7512)")
        }
        if has("object not found") {
            return InputError.credential(
                file: uri,
                problem:
                    "no private key matches this URI in the module \(module): no initialized token matches its token attributes, or that token holds no private key with its object/id",
                hint:
                    "List tokens with `pkcs11-tool --module \(module) --list-token-slots` and keys with `pkcs11-tool --module \(module) --login --list-objects --type privkey`"
            )
        }
        return InputError.credential(
            file: uri,
            problem: "the private key could not be loaded from the HSM (\(text.isEmpty ? "no reason given" : text))",
            hint: "Check the token, the URI and \(pinSource)")
    }
}
