#if canImport(Glibc)
    import Glibc
#endif

/// libarchive converts names between the locale's multibyte charset and UTF-8 (pax `path`
/// records). Under the "C" locale a non-ASCII name does not convert, and libarchive's writer then
/// dereferences a null name. Every libarchive call that touches names runs with the calling
/// thread's locale set to C.UTF-8, so bundles are the same bytes whatever the user's locale.
nonisolated(unsafe) private let utf8Locale: locale_t? = {
    for name in ["C.UTF-8", "C.utf8", "en_US.UTF-8"] {
        if let l = newlocale(LC_CTYPE_MASK, name, nil) { return l }
    }
    return nil
}()

/// Runs `body` with the calling thread's LC_CTYPE set to UTF-8.
func withUTF8Locale<T>(_ body: () throws -> T) rethrows -> T {
    guard let utf8Locale else { return try body() }
    let previous = uselocale(utf8Locale)
    defer { uselocale(previous) }
    return try body()
}
