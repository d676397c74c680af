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


/* copy_file_range(2) is declared by glibc only under _GNU_SOURCE, which this header does not set;
   the system call itself is there since Linux 4.5 (ENOSYS before: the caller copies itself). */
#include <sys/syscall.h>
#include <unistd.h>
static inline long ivpack_copy_file_range(int in, long *offset_in, int out, unsigned long count) {
    return syscall(SYS_copy_file_range, in, offset_in, out, (long *)0, count, 0u);
}
