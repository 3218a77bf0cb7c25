/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "basic/fileio.h"
#include "basic/macro.h"
#include "basic/string-util.h"
#include "http/tls.h"

/*
 * A TlsContext holds exactly one reference to ssl_ctx. Every SSL holds another, to the SSL_CTX it was
 * made from, so swapping ssl_ctx in tls_context_reload() and dropping our reference frees the old one
 * only once its last connection is gone.
 * (1) ssl_ctx is never NULL once tls_context_new() returned.
 * (2) ssl_ctx, cert_path and key_path change together or not at all.
 */
struct TlsContext {
        SSL_CTX *ssl_ctx;
        TlsContextFlags flags;
        char *cert_path;
        char *key_path;
};

/* RFC 9113 §9.2.2 and Appendix A: ECDHE key exchange with an AEAD, nothing else. */
#define TLS12_CIPHERS                                                                                        \
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                         \
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                                         \
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
#define TLS_GROUPS "X25519:P-256:P-384"
#define TLS_SESSION_ID_CONTEXT "granary"
#define TLS_SERVER_NAME_MAX 253

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free_all);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME *, X509_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(SSL_CTX *, SSL_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free);

static const char *const alpn_table[_TLS_ALPN_MAX] = {
        [TLS_ALPN_NONE] = NULL,
        [TLS_ALPN_HTTP1] = "http/1.1",
        [TLS_ALPN_H2] = "h2",
};

const char *tls_alpn_to_string(TlsAlpn a) {
        if (a < 0 || a >= _TLS_ALPN_MAX)
                return NULL;
        return alpn_table[a];
}

TlsAlpn tls_alpn_from_string(const char *p, size_t n) {
        assert(p || n == 0);

        for (TlsAlpn a = 0; a < _TLS_ALPN_MAX; a++)
                if (alpn_table[a] && strlen(alpn_table[a]) == n && memcmp(alpn_table[a], p, n) == 0)
                        return a;
        return _TLS_ALPN_INVALID;
}

/* Sets *ret_error to "<what>: <the last OpenSSL error>" and empties OpenSSL's error queue, so that
 * nothing of this failure is left for the caller's next SSL_get_error() to trip over. */
static int tls_error(char **ret_error, int r, const char *what) {
        unsigned long e = ERR_peek_last_error();
        char buf[256];

        if (e == 0) {
                ERR_clear_error();
                return error_set(ret_error, r, "%s", what);
        }
        if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
                r = -ENOMEM;
        ERR_error_string_n(e, buf, sizeof(buf));
        ERR_clear_error();
        return error_set(ret_error, r, "%s: %s", what, buf);
}

/* Letters, digits, '-' and '.', with an optional leading "*." — also what keeps the name from being read
 * as anything else by a certificate parser. */
static bool hostname_is_valid(const char *s) {
        size_t n = strlen(s);

        if (startswith(s, "*."))
                s += 2, n -= 2;
        if (n == 0 || n > TLS_SERVER_NAME_MAX || s[0] == '.' || s[0] == '-' || s[n - 1] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.'))
                        return false;
                if (c == '.' && s[i + 1] == '.')
                        return false;
        }
        return true;
}

static bool file_exists_at(int dir_fd, const char *name, int *ret_errno) {
        struct stat st;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                return true;
        *ret_errno = errno == ENOENT ? 0 : negative_errno();
        return false;
}

static int pem_to_buffer(BIO *b, char **ret, size_t *ret_size) {
        char *p;
        long n = BIO_get_mem_data(b, &p);

        if (n <= 0)
                return -EIO;
        *ret = p;
        *ret_size = (size_t) n;
        return 0;
}

static int self_signed_make(const char *const *hostnames, BIO *key_pem, BIO *cert_pem, char **ret_error) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *sans = NULL;
        _cleanup_(BN_freep) BIGNUM *serial_bn = NULL;
        _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *serial = NULL;
        X509V3_CTX v3;
        uint8_t serial_bytes[16];

        pkey = EVP_EC_gen("P-256");
        if (!pkey)
                return tls_error(ret_error, -EIO, "Failed to make an ECDSA P-256 key");

        x = X509_new();
        if (!x)
                return tls_error(ret_error, -ENOMEM, "Failed to make a certificate");
        if (X509_set_version(x, X509_VERSION_3) != 1)
                return tls_error(ret_error, -EIO, "Failed to set the certificate version");

        /* 128 random bits, top bit clear so that the DER integer is positive and at most 16 bytes long
         * (RFC 5280 §4.1.2.2 allows 20), never zero. */
        if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1)
                return tls_error(ret_error, -EIO, "Failed to get random bytes for the serial number");
        serial_bytes[0] = (uint8_t) ((serial_bytes[0] & 0x7f) | 0x40);
        serial_bn = BN_bin2bn(serial_bytes, sizeof(serial_bytes), NULL);
        if (!serial_bn)
                return tls_error(ret_error, -ENOMEM, "Failed to make the serial number");
        serial = BN_to_ASN1_INTEGER(serial_bn, NULL);
        if (!serial || X509_set_serialNumber(x, serial) != 1)
                return tls_error(ret_error, -ENOMEM, "Failed to set the serial number");

        if (!X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
            !X509_time_adj_ex(X509_getm_notAfter(x), TLS_SELF_SIGNED_DAYS, 0, NULL))
                return tls_error(ret_error, -EIO, "Failed to set the validity");

        /* The common name is limited to 64 characters (RFC 5280 ub-common-name); the SANs are what
         * clients check, so a longer first name just leaves the subject empty. */
        name = X509_NAME_new();
        if (!name)
                return tls_error(ret_error, -ENOMEM, "Failed to make the subject");
        if (strlen(hostnames[0]) <= 64 &&
            X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC, (const unsigned char *) hostnames[0],
                                       -1, -1, 0) != 1)
                return tls_error(ret_error, -ENOMEM, "Failed to set the subject");
        if (X509_set_subject_name(x, name) != 1 || X509_set_issuer_name(x, name) != 1)
                return tls_error(ret_error, -ENOMEM, "Failed to set the subject");
        if (X509_set_pubkey(x, pkey) != 1)
                return tls_error(ret_error, -EIO, "Failed to set the public key");

        /* SANs built as values, not as a configuration string, so that no name can add another entry. */
        sans = GENERAL_NAMES_new();
        if (!sans)
                return tls_error(ret_error, -ENOMEM, "Failed to make the subject alternative names");
        for (const char *const *h = hostnames; *h; h++) {
                GENERAL_NAME *gn = GENERAL_NAME_new();
                ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

                if (!gn || !ia5 || ASN1_STRING_set(ia5, *h, -1) != 1) {
                        GENERAL_NAME_free(gn);
                        ASN1_IA5STRING_free(ia5);
                        return tls_error(ret_error, -ENOMEM, "Failed to make a subject alternative name");
                }
                GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
                if (sk_GENERAL_NAME_push(sans, gn) <= 0) {
                        GENERAL_NAME_free(gn);
                        return tls_error(ret_error, -ENOMEM, "Failed to make a subject alternative name");
                }
        }
        if (X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 0, X509V3_ADD_DEFAULT) != 1)
                return tls_error(ret_error, -ENOMEM, "Failed to add the subject alternative names");

        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        static const struct {
                int nid;
                const char *value;
        } exts[] = {
                { NID_basic_constraints, "critical,CA:FALSE" },
                { NID_key_usage, "critical,digitalSignature" },
                { NID_ext_key_usage, "serverAuth" },
                { NID_subject_key_identifier, "hash" },
        };
        for (size_t i = 0; i < ELEMENTSOF(exts); i++) {
                X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
                int k;

                if (!e)
                        return tls_error(ret_error, -ENOMEM, "Failed to make a certificate extension");
                k = X509_add_ext(x, e, -1);
                X509_EXTENSION_free(e);
                if (k != 1)
                        return tls_error(ret_error, -ENOMEM, "Failed to add a certificate extension");
        }

        if (X509_sign(x, pkey, EVP_sha256()) <= 0)
                return tls_error(ret_error, -EIO, "Failed to sign the certificate");

        if (PEM_write_bio_PrivateKey(key_pem, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
            PEM_write_bio_X509(cert_pem, x) != 1)
                return tls_error(ret_error, -ENOMEM, "Failed to write PEM");
        return 0;
}

int tls_self_signed_ensure(
        int dir_fd, const char *cert_name, const char *key_name, const char *const *hostnames, char **ret_error) {
        _cleanup_(BIO_free_allp) BIO *key_pem = NULL, *cert_pem = NULL;
        bool have_cert, have_key;
        char *p;
        size_t n;
        int r = 0;

        assert(dir_fd >= 0 || dir_fd == AT_FDCWD);
        assert(cert_name);
        assert(key_name);
        assert(hostnames);

        if (!hostnames[0])
                return error_set(ret_error, -EINVAL, "No host name for the certificate");
        for (const char *const *h = hostnames; *h; h++)
                if (!hostname_is_valid(*h))
                        return error_set(ret_error, -EINVAL, "Not a host name for a certificate: '%s'", *h);

        have_cert = file_exists_at(dir_fd, cert_name, &r);
        if (r < 0)
                return error_set(ret_error, r, "Failed to look at '%s': %s", cert_name, strerror(-r));
        have_key = file_exists_at(dir_fd, key_name, &r);
        if (r < 0)
                return error_set(ret_error, r, "Failed to look at '%s': %s", key_name, strerror(-r));
        if (have_cert && have_key)
                return 0;
        if (have_cert)
                return error_set(ret_error, -ENOKEY, "'%s' exists without its key '%s'", cert_name, key_name);

        key_pem = BIO_new(BIO_s_secmem());
        cert_pem = BIO_new(BIO_s_mem());
        if (!key_pem || !cert_pem)
                return tls_error(ret_error, -ENOMEM, "Failed to make a buffer");
        r = self_signed_make(hostnames, key_pem, cert_pem, ret_error);
        if (r < 0)
                return r;

        /* The key first: a crash in between leaves a key without a certificate, which the next call
         * replaces, never a certificate whose key is lost. */
        r = pem_to_buffer(key_pem, &p, &n);
        if (r < 0)
                return error_set(ret_error, r, "Failed to write the key");
        r = write_file_atomic_at(dir_fd, key_name, p, n, 0600);
        if (r < 0)
                return error_set(ret_error, r, "Failed to write '%s': %s", key_name, strerror(-r));
        r = pem_to_buffer(cert_pem, &p, &n);
        if (r < 0)
                return error_set(ret_error, r, "Failed to write the certificate");
        r = write_file_atomic_at(dir_fd, cert_name, p, n, 0644);
        if (r < 0)
                return error_set(ret_error, r, "Failed to write '%s': %s", cert_name, strerror(-r));
        return 1;
}

/* The SNI name of an SSL lives in its ex_data slot and is freed with it. */
static int server_name_index = -1;
static CRYPTO_ONCE server_name_once = CRYPTO_ONCE_STATIC_INIT;

static void server_name_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
        free(ptr);
}

static void server_name_index_init(void) {
        server_name_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, server_name_free);
}

static int server_name_index_get(void) {
        if (!CRYPTO_THREAD_run_once(&server_name_once, server_name_index_init) || server_name_index < 0)
                return -ENOMEM;
        return server_name_index;
}

static int servername_cb(SSL *ssl, int *alert, void *arg) {
        const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        int idx = server_name_index_get();
        char *copy;
        size_t n;

        if (idx < 0) {
                *alert = SSL_AD_INTERNAL_ERROR;
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        }

        /* Called for every ClientHello, the second one after a HelloRetryRequest too: keep the last. */
        free(SSL_get_ex_data(ssl, idx));
        (void) SSL_set_ex_data(ssl, idx, NULL);
        if (!name)
                return SSL_TLSEXT_ERR_OK;

        n = strlen(name);
        if (n == 0 || n > TLS_SERVER_NAME_MAX || !string_is_printable(name, n) || memchr(name, '\t', n)) {
                *alert = SSL_AD_UNRECOGNIZED_NAME;
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        copy = strndup_safe(name, n);
        if (!copy) {
                *alert = SSL_AD_INTERNAL_ERROR;
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        for (size_t i = 0; i < n; i++)
                if (copy[i] >= 'A' && copy[i] <= 'Z')
                        copy[i] = (char) (copy[i] - 'A' + 'a');
        if (SSL_set_ex_data(ssl, idx, copy) != 1) {
                free(copy);
                *alert = SSL_AD_INTERNAL_ERROR;
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        /* The name is acknowledged; whether it fits Host is the caller's check. */
        return SSL_TLSEXT_ERR_OK;
}

/* Walks the client's list (untrusted: length-prefixed entries, checked against inlen) once per protocol we
 * offer, best first, so that our order wins (3). */
static int alpn_select(const unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned inlen,
                       const TlsAlpn *offer, size_t n_offer) {
        for (size_t k = 0; k < n_offer; k++) {
                const char *want = tls_alpn_to_string(offer[k]);
                size_t want_len = strlen(want);

                for (unsigned i = 0; i < inlen;) {
                        unsigned len = in[i];

                        if (len == 0 || len > inlen - i - 1)
                                return SSL_TLSEXT_ERR_NOACK; /* malformed list: answer nothing */
                        if (len == want_len && memcmp(in + i + 1, want, len) == 0) {
                                *out = in + i + 1;
                                *outlen = (unsigned char) len;
                                return SSL_TLSEXT_ERR_OK;
                        }
                        i += 1 + len;
                }
        }
        return SSL_TLSEXT_ERR_NOACK;
}

static int alpn_cb_h2(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                      unsigned inlen, void *arg) {
        static const TlsAlpn offer[] = { TLS_ALPN_H2, TLS_ALPN_HTTP1 };

        return alpn_select(out, outlen, in, inlen, offer, ELEMENTSOF(offer));
}

static int alpn_cb_http1(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                         unsigned inlen, void *arg) {
        static const TlsAlpn offer[] = { TLS_ALPN_HTTP1 };

        return alpn_select(out, outlen, in, inlen, offer, ELEMENTSOF(offer));
}

static int load_certificates(SSL_CTX *ctx, const char *cert_path, char **ret_error) {
        _cleanup_free_ char *pem = NULL;
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        _cleanup_(X509_freep) X509 *leaf = NULL;
        size_t n;
        int r;

        r = read_full_file_at(AT_FDCWD, cert_path, TLS_PEM_FILE_MAX, &pem, &n);
        if (r < 0)
                return error_set(ret_error, r, "Failed to read '%s': %s", cert_path, strerror(-r));
        b = BIO_new_mem_buf(pem, (int) n);
        if (!b)
                return tls_error(ret_error, -ENOMEM, "Failed to read the certificate");

        leaf = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL);
        if (!leaf)
                return tls_error(ret_error, -EBADMSG, "No certificate in the certificate file");
        if (SSL_CTX_use_certificate(ctx, leaf) != 1)
                return tls_error(ret_error, -EBADMSG, "Certificate refused");

        for (;;) {
                X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);

                if (!ca) {
                        unsigned long e = ERR_peek_last_error();

                        /* The end of the file, not a broken certificate. */
                        if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                                ERR_clear_error();
                                break;
                        }
                        return tls_error(ret_error, -EBADMSG, "Bad chain certificate in the certificate file");
                }
                if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
                        X509_free(ca);
                        return tls_error(ret_error, -EBADMSG, "Chain certificate refused");
                }
        }
        return 0;
}

static int load_key(SSL_CTX *ctx, const char *key_path, char **ret_error) {
        _cleanup_free_ char *pem = NULL;
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        size_t n = 0;
        int r;

        r = read_full_file_at(AT_FDCWD, key_path, TLS_PEM_FILE_MAX, &pem, &n);
        if (r < 0)
                return error_set(ret_error, r, "Failed to read '%s': %s", key_path, strerror(-r));
        b = BIO_new_mem_buf(pem, (int) n);
        if (b)
                pkey = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        explicit_bzero_safe(pem, n);
        if (!b)
                return tls_error(ret_error, -ENOMEM, "Failed to read the key");
        if (!pkey)
                return tls_error(ret_error, -EBADMSG, "No private key in the key file");
        if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1)
                return tls_error(ret_error, -EKEYREJECTED, "The key does not match the certificate");
        return 0;
}

static int ssl_ctx_build(
        const char *cert_path, const char *key_path, TlsContextFlags flags, SSL_CTX **ret, char **ret_error) {
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
        int r;

        r = server_name_index_get();
        if (r < 0)
                return error_set(ret_error, r, "Failed to allocate the SNI slot");

        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx)
                return tls_error(ret_error, -ENOMEM, "Failed to make an SSL_CTX");

        /* (1) and (2) */
        if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
                return tls_error(ret_error, -EIO, "Failed to set the minimum TLS version");
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                         SSL_OP_CIPHER_SERVER_PREFERENCE);
        SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
        if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
                return tls_error(ret_error, -EIO, "Failed to set the TLS 1.2 ciphers");
        if (SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1)
                return tls_error(ret_error, -EIO, "Failed to set the key exchange groups");
        /* Idle connections give their buffers back: many keep-alive connections must stay small. */
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        if (SSL_CTX_set_session_id_context(ctx, (const unsigned char *) TLS_SESSION_ID_CONTEXT,
                                           STRLEN(TLS_SESSION_ID_CONTEXT)) != 1)
                return tls_error(ret_error, -EIO, "Failed to set the session id context");

        /* (3) and (4) */
        SSL_CTX_set_alpn_select_cb(ctx, (flags & TLS_CONTEXT_HTTP1_ONLY) ? alpn_cb_http1 : alpn_cb_h2,
                                   NULL);
        SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);

        r = load_certificates(ctx, cert_path, ret_error);
        if (r < 0)
                return r;
        r = load_key(ctx, key_path, ret_error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ctx);
        return 0;
}

int tls_context_new(const char *cert_path, const char *key_path, TlsContextFlags flags, TlsContext **ret,
                    char **ret_error) {
        _cleanup_(tls_context_freep) TlsContext *c = NULL;
        int r;

        assert(cert_path);
        assert(key_path);
        assert(ret);

        c = calloc(1, sizeof(TlsContext));
        if (!c)
                return error_set(ret_error, -ENOMEM, "Out of memory");
        c->flags = flags;
        c->cert_path = strdup(cert_path);
        c->key_path = strdup(key_path);
        if (!c->cert_path || !c->key_path)
                return error_set(ret_error, -ENOMEM, "Out of memory");

        r = ssl_ctx_build(cert_path, key_path, flags, &c->ssl_ctx, ret_error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

TlsContext *tls_context_free(TlsContext *c) {
        if (!c)
                return NULL;
        SSL_CTX_free(c->ssl_ctx);
        free(c->cert_path);
        free(c->key_path);
        free(c);
        return NULL;
}

int tls_context_reload(TlsContext *c, const char *cert_path, const char *key_path, char **ret_error) {
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
        _cleanup_free_ char *cp = NULL, *kp = NULL;
        int r;

        assert(c);

        cp = strdup(cert_path ?: c->cert_path);
        kp = strdup(key_path ?: c->key_path);
        if (!cp || !kp)
                return error_set(ret_error, -ENOMEM, "Out of memory");

        r = ssl_ctx_build(cp, kp, c->flags, &ctx, ret_error);
        if (r < 0)
                return r;

        /* Drops only our reference: SSLs made from the old SSL_CTX keep it alive. */
        SSL_CTX_free(c->ssl_ctx);
        c->ssl_ctx = TAKE_PTR(ctx);
        free(c->cert_path);
        c->cert_path = TAKE_PTR(cp);
        free(c->key_path);
        c->key_path = TAKE_PTR(kp);
        return 0;
}

SSL_CTX *tls_context_get_ssl_ctx(TlsContext *c) {
        assert(c);
        return c->ssl_ctx;
}

int tls_context_new_ssl(TlsContext *c, SSL **ret) {
        SSL *ssl;

        assert(c);
        assert(ret);

        ssl = SSL_new(c->ssl_ctx);
        if (!ssl) {
                ERR_clear_error();
                return -ENOMEM;
        }
        SSL_set_accept_state(ssl);
        *ret = ssl;
        return 0;
}

const char *tls_ssl_server_name(SSL *ssl) {
        int idx = server_name_index_get();

        assert(ssl);

        if (idx < 0)
                return NULL;
        return SSL_get_ex_data(ssl, idx);
}

TlsAlpn tls_ssl_alpn(SSL *ssl) {
        const unsigned char *p = NULL;
        unsigned n = 0;
        TlsAlpn a;

        assert(ssl);

        SSL_get0_alpn_selected(ssl, &p, &n);
        if (!p || n == 0)
                return TLS_ALPN_NONE;
        a = tls_alpn_from_string((const char *) p, n);
        /* We only ever select what we offer; anything else would be an OpenSSL bug. */
        return a < 0 ? TLS_ALPN_NONE : a;
}
