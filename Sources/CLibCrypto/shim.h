#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/pkcs12.h>
#include <openssl/engine.h>
#include <openssl/objects.h>

/* Macros and stack helpers that do not import into Swift. */
static inline void ivpack_openssl_free(void *p) { OPENSSL_free(p); }

static inline STACK_OF(X509) *ivpack_sk_X509_new(void) { return sk_X509_new_null(); }
static inline int ivpack_sk_X509_push(STACK_OF(X509) *s, X509 *x) { return sk_X509_push(s, x); }
static inline int ivpack_sk_X509_num(const STACK_OF(X509) *s) { return sk_X509_num(s); }
static inline X509 *ivpack_sk_X509_value(const STACK_OF(X509) *s, int i) { return sk_X509_value(s, i); }
/* Frees the stack only; the certificates are owned elsewhere. */
static inline void ivpack_sk_X509_free(STACK_OF(X509) *s) { sk_X509_free(s); }
/* Frees the stack and drops one reference of each certificate. */
static inline void ivpack_sk_X509_pop_free(STACK_OF(X509) *s) { sk_X509_pop_free(s, X509_free); }

static inline STACK_OF(X509_CRL) *ivpack_sk_X509_CRL_new(void) { return sk_X509_CRL_new_null(); }
static inline int ivpack_sk_X509_CRL_push(STACK_OF(X509_CRL) *s, X509_CRL *x) { return sk_X509_CRL_push(s, x); }
static inline void ivpack_sk_X509_CRL_free(STACK_OF(X509_CRL) *s) { sk_X509_CRL_free(s); }

static inline int ivpack_sk_CMS_SignerInfo_num(STACK_OF(CMS_SignerInfo) *s) { return sk_CMS_SignerInfo_num(s); }
static inline CMS_SignerInfo *ivpack_sk_CMS_SignerInfo_value(STACK_OF(CMS_SignerInfo) *s, int i) { return sk_CMS_SignerInfo_value(s, i); }

static inline int ivpack_sk_ASN1_OBJECT_num(STACK_OF(ASN1_OBJECT) *s) { return sk_ASN1_OBJECT_num(s); }
static inline ASN1_OBJECT *ivpack_sk_ASN1_OBJECT_value(STACK_OF(ASN1_OBJECT) *s, int i) { return sk_ASN1_OBJECT_value(s, i); }
static inline void ivpack_EXTENDED_KEY_USAGE_free(EXTENDED_KEY_USAGE *e) { EXTENDED_KEY_USAGE_free(e); }

static inline int ivpack_sk_POLICYINFO_num(STACK_OF(POLICYINFO) *s) { return sk_POLICYINFO_num(s); }
static inline POLICYINFO *ivpack_sk_POLICYINFO_value(STACK_OF(POLICYINFO) *s, int i) { return sk_POLICYINFO_value(s, i); }
static inline void ivpack_CERTIFICATEPOLICIES_free(CERTIFICATEPOLICIES *p) { CERTIFICATEPOLICIES_free(p); }

/* CMS EnvelopedData recipients (EnvelopedKey.swift). */
static inline int ivpack_sk_CMS_RecipientInfo_num(STACK_OF(CMS_RecipientInfo) *s) { return sk_CMS_RecipientInfo_num(s); }
static inline CMS_RecipientInfo *ivpack_sk_CMS_RecipientInfo_value(STACK_OF(CMS_RecipientInfo) *s, int i) { return sk_CMS_RecipientInfo_value(s, i); }
static inline int ivpack_sk_CMS_RecipientEncryptedKey_num(STACK_OF(CMS_RecipientEncryptedKey) *s) { return sk_CMS_RecipientEncryptedKey_num(s); }
static inline CMS_RecipientEncryptedKey *ivpack_sk_CMS_RecipientEncryptedKey_value(STACK_OF(CMS_RecipientEncryptedKey) *s, int i) { return sk_CMS_RecipientEncryptedKey_value(s, i); }

static inline long ivpack_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }

static const unsigned long ivpack_xn_flag_rfc2253 = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
static inline EVP_PKEY *ivpack_generate_p256(void) { return EVP_EC_gen("P-256"); }

/* Certificate and CRL issuing (CertificateBuilder.swift). */
static const int ivpack_mbstring_utf8 = MBSTRING_UTF8;
static inline int ivpack_sk_X509_REVOKED_num(const STACK_OF(X509_REVOKED) *s) { return sk_X509_REVOKED_num(s); }
static inline X509_REVOKED *ivpack_sk_X509_REVOKED_value(const STACK_OF(X509_REVOKED) *s, int i) { return sk_X509_REVOKED_value(s, i); }

/* RFC 3161 responder callbacks: a fixed clock (for a TSA whose time is set) and random serials. */
#include <openssl/http.h>
static inline int ivpack_ts_fixed_time_cb(TS_RESP_CTX *ctx, void *data, long *sec, long *usec) {
    (void)ctx; *sec = *(const long *)data; *usec = 0; return 1;
}
static inline void ivpack_ts_set_fixed_time(TS_RESP_CTX *ctx, long *seconds) {
    TS_RESP_CTX_set_time_cb(ctx, ivpack_ts_fixed_time_cb, seconds);
}
static inline ASN1_INTEGER *ivpack_ts_random_serial_cb(TS_RESP_CTX *ctx, void *data) {
    (void)data;
    BIGNUM *bn = BN_new();
    ASN1_INTEGER *serial = NULL;
    if (bn != NULL && BN_rand(bn, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1) serial = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    if (serial == NULL) TS_RESP_CTX_set_status_info(ctx, TS_STATUS_REJECTION, "no serial");
    return serial;
}
static inline void ivpack_ts_set_random_serials(TS_RESP_CTX *ctx) { TS_RESP_CTX_set_serial_cb(ctx, ivpack_ts_random_serial_cb, NULL); }
static const unsigned int ivpack_ts_vfy_token = TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_IMPRINT | TS_VFY_SIGNER;
static const unsigned int ivpack_ts_vfy_response = TS_VFY_VERSION | TS_VFY_IMPRINT | TS_VFY_NONCE;

/* Keys in an HSM through PKCS#11 (PKCS11Key.swift), with libp11's "pkcs11" engine from Debian's
   libengine-pkcs11-openssl: Debian 12 has no PKCS#11 provider for OpenSSL 3.0. The ENGINE API is
   deprecated in OpenSSL 3, so every call stays in these wrappers, where the warning is silenced,
   and Swift never sees a deprecated declaration. */
#include <openssl/ui.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* A UI reader that refuses: libp11 must never prompt on the terminal for a PIN. */
static int ivpack_ui_refuse_reader(UI *ui, UI_STRING *uis) { (void)ui; (void)uis; return 0; }
static inline UI_METHOD *ivpack_ui_no_prompt(void) {
    UI_METHOD *m = UI_create_method("ivpack: no PIN prompt");
    if (m != NULL) UI_method_set_reader(m, ivpack_ui_refuse_reader);
    return m;
}

/* Loads and initialises the pkcs11 engine for `module_path`. Returns a functional reference that
   the caller keeps for the life of the process (keys loaded through it point into its PKCS#11
   session), or NULL with *stage = 1 when the engine is not installed, 2 when it would not start. */
static inline ENGINE *ivpack_pkcs11_engine_start(const char *module_path, int *stage) {
    ENGINE *e = ENGINE_by_id("pkcs11");
    if (e == NULL) { *stage = 1; return NULL; }
    if (!ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module_path, 0) || !ENGINE_init(e)) {
        ENGINE_free(e);
        *stage = 2;
        return NULL;
    }
    ENGINE_free(e); /* the functional reference from ENGINE_init keeps it */
    /* libp11 otherwise prints its own diagnostics on stderr; older versions lack QUIET. */
    ERR_set_mark();
    (void)ENGINE_ctrl_cmd_string(e, "QUIET", NULL, 1);
    ERR_pop_to_mark();
    *stage = 0;
    return e;
}

/* Loads the private key named by the PKCS#11 URI `uri`, logging in with `pin` ("" for none).
   libp11 keeps a copy of the last PIN set: it is overwritten with "" (and the old copy cleansed)
   before returning, so that no PIN outlives the call inside the engine. */
static inline EVP_PKEY *ivpack_pkcs11_load_private_key(ENGINE *e, const char *uri, const char *pin, UI_METHOD *ui) {
    if (!ENGINE_ctrl_cmd_string(e, "PIN", pin, 0)) return NULL;
    EVP_PKEY *key = ENGINE_load_private_key(e, uri, ui, NULL);
    ERR_set_mark();
    (void)ENGINE_ctrl_cmd_string(e, "PIN", "", 0);
    ERR_pop_to_mark();
    return key;
}
#pragma GCC diagnostic pop

/* Certificate signing requests (`ivpack keys csr`): the stack of requested extensions. */
static inline void ivpack_sk_X509_EXTENSION_pop_free(STACK_OF(X509_EXTENSION) *s) {
    sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}

/* The URIs of a certificate's CRL distribution points (full names only), one a line, into `out`. */
static inline void ivpack_crl_distribution_uris(X509 *x, BIO *out) {
    STACK_OF(DIST_POINT) *points = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
    if (points == NULL) { ERR_clear_error(); return; }
    for (int i = 0; i < sk_DIST_POINT_num(points); i++) {
        DIST_POINT *point = sk_DIST_POINT_value(points, i);
        if (point->distpoint == NULL || point->distpoint->type != 0) continue;
        GENERAL_NAMES *names = point->distpoint->name.fullname;
        for (int j = 0; j < sk_GENERAL_NAME_num(names); j++) {
            GENERAL_NAME *name = sk_GENERAL_NAME_value(names, j);
            if (name->type != GEN_URI) continue;
            ASN1_IA5STRING *uri = name->d.uniformResourceIdentifier;
            BIO_write(out, ASN1_STRING_get0_data(uri), ASN1_STRING_length(uri));
            BIO_write(out, "\n", 1);
        }
    }
    CRL_DIST_POINTS_free(points);
}
