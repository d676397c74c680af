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

