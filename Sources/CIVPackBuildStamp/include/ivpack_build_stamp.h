#ifndef IVPACK_BUILD_STAMP_H
#define IVPACK_BUILD_STAMP_H

/* The commit and time of a stamped build (`make release`), or "unknown" for a plain `swift build`. */
const char *ivpack_build_commit(void);
const char *ivpack_build_date(void);

#endif
