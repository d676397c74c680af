#include "ivpack_build_stamp.h"

/* `make release` writes generated/build_stamp.h (ignored by git) with IVPACK_BUILD_COMMIT and
   IVPACK_BUILD_DATE, touches this file so that it is compiled again, and removes the header after
   the build. A plain `swift build` finds no header and says "unknown". A C target rather than a
   -D define on every compilation: only this file is compiled again when the stamp changes. */
#if __has_include("generated/build_stamp.h")
#include "generated/build_stamp.h"
#endif

#ifndef IVPACK_BUILD_COMMIT
#define IVPACK_BUILD_COMMIT "unknown"
#endif
#ifndef IVPACK_BUILD_DATE
#define IVPACK_BUILD_DATE "unknown"
#endif

const char *ivpack_build_commit(void) { return IVPACK_BUILD_COMMIT; }
const char *ivpack_build_date(void) { return IVPACK_BUILD_DATE; }
