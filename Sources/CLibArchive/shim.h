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

/* O_DIRECT, which Glibc's <fcntl.h> defines only under _GNU_SOURCE; the kernel's value for the
   architecture (asm-generic: 040000; arm and arm64: 0200000; powerpc: 0400000). */
#if defined(__aarch64__) || defined(__arm__)
static const int ivpack_o_direct = 0200000;
#elif defined(__powerpc__) || defined(__powerpc64__)
static const int ivpack_o_direct = 0400000;
#else
static const int ivpack_o_direct = 040000;
#endif
