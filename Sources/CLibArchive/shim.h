#include <archive.h>
#include <archive_entry.h>

/* The AE_IF* macros are casts and do not import into Swift. */
static const unsigned int ivpack_ae_ifreg = AE_IFREG;
static const unsigned int ivpack_ae_ifdir = AE_IFDIR;
static const unsigned int ivpack_ae_iflnk = AE_IFLNK;
static const unsigned int ivpack_ae_ifchr = AE_IFCHR;
static const unsigned int ivpack_ae_ifblk = AE_IFBLK;
static const unsigned int ivpack_ae_ififo = AE_IFIFO;
static const unsigned int ivpack_ae_ifsock = AE_IFSOCK;

/* Start write-back of a byte range of an output (an archive being written) without waiting for
   it: sync_file_range(SYNC_FILE_RANGE_WRITE), which Glibc declares only under _GNU_SOURCE. */
#include <sys/syscall.h>
#include <unistd.h>
static inline int ivpack_start_writeback(int fd, long long offset, long long length) {
    return (int)syscall(SYS_sync_file_range, fd, offset, length, 2 /* SYNC_FILE_RANGE_WRITE */);
}
