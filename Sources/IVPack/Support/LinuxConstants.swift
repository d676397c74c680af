/// Linux constants that Glibc's Swift module does not export (they are defined only under
/// _GNU_SOURCE or as macros), with the kernel's value for the architecture.
enum LinuxConstants {
    /// O_DIRECT (asm-generic: 040000; arm and arm64: 0200000; powerpc: 0400000).
    #if arch(arm64) || arch(arm)
        static let oDirect: Int32 = 0o200000
    #elseif arch(powerpc64) || arch(powerpc64le) || arch(powerpc)
        static let oDirect: Int32 = 0o400000
    #else
        static let oDirect: Int32 = 0o40000
    #endif
}
