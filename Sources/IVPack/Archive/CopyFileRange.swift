internal import CLibArchive

/// copy_file_range(2) from `source` at `offset` (advanced by what was copied) to `destination` at
/// its file position: bytes copied, 0 at the end of `source`, -1 with `errno` set.
func copyFileRange(from source: Int32, at offset: inout Int, to destination: Int32, count: Int) -> Int {
    ivpack_copy_file_range(source, &offset, destination, UInt(count))
}
