#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/crypto.h>

/* OPENSSL_free is a macro and does not import into Swift. */
static inline void ivpack_openssl_free(void *p) { OPENSSL_free(p); }
