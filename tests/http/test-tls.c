/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "http/tls.h"

static const char *const hostnames[] = { "granary.localhost", "*.granary.localhost", NULL };

typedef struct Fixture {
        char dir[64];
        int dir_fd;
        char *cert, *key;
        TlsContext *tls;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-tls-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        f->dir_fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        f->cert = path_join(f->dir, "cert.pem");
        f->key = path_join(f->dir, "key.pem");
        if (f->dir_fd < 0 || !f->cert || !f->key)
                return -1;
        if (tls_self_signed_ensure(f->dir_fd, "cert.pem", "key.pem", hostnames, NULL) != 1)
                return -1;
        if (tls_context_new(f->cert, f->key, 0, &f->tls, NULL) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r;

        r = rm_rf_path(f->dir);
        close(f->dir_fd);
        tls_context_free(f->tls);
        free(f->cert);
        free(f->key);
        free(f);
        return r < 0 ? -1 : 0;
}

static X509 *cert_load(const char *path) {
        FILE *fp = fopen(path, "re");
        X509 *x;

        assert_non_null(fp);
        x = PEM_read_X509(fp, NULL, NULL, NULL);
        fclose(fp);
        assert_non_null(x);
        return x;
}

/* A client that trusts exactly the certificate at trust_path and checks the name it connects to. */
static SSL_CTX *client_ctx_new(const char *trust_path) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

        assert_non_null(ctx);
        if (trust_path) {
                assert_int_equal(SSL_CTX_load_verify_locations(ctx, trust_path, NULL), 1);
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        }
        return ctx;
}

typedef struct Pair {
        SSL *client, *server;
        unsigned long server_error; /* the first error on the server's side, 0 if none */
} Pair;

static void pair_init(Pair *p, SSL_CTX *client_ctx, TlsContext *tls, const char *sni) {
        BIO *a, *b;

        *p = (Pair) {};
        assert_int_equal(tls_context_new_ssl(tls, &p->server), 0);
        p->client = SSL_new(client_ctx);
        assert_non_null(p->client);
        SSL_set_connect_state(p->client);
        if (sni) {
                assert_int_equal(SSL_set_tlsext_host_name(p->client, sni), 1);
                assert_int_equal(SSL_set1_host(p->client, sni), 1);
        }
        assert_int_equal(BIO_new_bio_pair(&a, 0, &b, 0), 1);
        SSL_set_bio(p->server, a, a);
        SSL_set_bio(p->client, b, b);
}

static void pair_done(Pair *p) {
        SSL_free(p->client);
        SSL_free(p->server);
        ERR_clear_error();
}

/* Steps both ends in turn until both are done or one fails; 0 when the handshake completed. */
static int pair_handshake(Pair *p) {
        bool client_done = false, server_done = false;

        ERR_clear_error();
        for (unsigned i = 0; i < 64 && !(client_done && server_done); i++) {
                int r;

                if (!client_done) {
                        r = SSL_do_handshake(p->client);
                        if (r == 1)
                                client_done = true;
                        else if (SSL_get_error(p->client, r) != SSL_ERROR_WANT_READ)
                                return -1;
                }
                ERR_clear_error();
                if (!server_done) {
                        r = SSL_do_handshake(p->server);
                        if (r == 1)
                                server_done = true;
                        else if (SSL_get_error(p->server, r) != SSL_ERROR_WANT_READ) {
                                p->server_error = ERR_peek_error();
                                return -1;
                        }
                }
        }
        if (!(client_done && server_done))
                return -1;

        /* One application byte each way, so that the TLS 1.3 tickets are read too. */
        char c = 'x';
        assert_int_equal(SSL_write(p->client, &c, 1), 1);
        assert_int_equal(SSL_read(p->server, &c, 1), 1);
        assert_int_equal(SSL_write(p->server, &c, 1), 1);
        assert_int_equal(SSL_read(p->client, &c, 1), 1);
        return 0;
}

static const unsigned char alpn_h2_http1[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_http1[] = "\x08http/1.1";
static const unsigned char alpn_h2[] = "\x02h2";

static void test_self_signed(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *before = NULL, *after = NULL, *key_before = NULL, *key_after = NULL;
        struct stat st;
        X509 *x;
        GENERAL_NAMES *sans;
        const ASN1_INTEGER *serial;
        BIGNUM *bn;
        int days, secs;

        assert_int_equal(fstatat(f->dir_fd, "key.pem", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(fstatat(f->dir_fd, "cert.pem", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0644);

        x = cert_load(f->cert);
        sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        assert_non_null(sans);
        assert_int_equal(sk_GENERAL_NAME_num(sans), 2);
        for (int i = 0; i < 2; i++) {
                const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

                assert_int_equal(gn->type, GEN_DNS);
                assert_int_equal(ASN1_STRING_length(gn->d.dNSName), strlen(hostnames[i]));
                assert_memory_equal(ASN1_STRING_get0_data(gn->d.dNSName), hostnames[i], strlen(hostnames[i]));
        }
        GENERAL_NAMES_free(sans);

        assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
        assert_int_equal(days, 825);
        assert_int_equal(secs, 0);
        assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) <= 0);

        serial = X509_get0_serialNumber(x);
        bn = ASN1_INTEGER_to_BN(serial, NULL);
        assert_non_null(bn);
        assert_false(BN_is_negative(bn));
        assert_int_equal(BN_num_bits(bn), 127);
        BN_free(bn);
        assert_int_equal(X509_get_version(x), X509_VERSION_3);
        assert_int_equal(X509_check_host(x, "granary.localhost", 0, 0, NULL), 1);
        assert_int_equal(X509_check_host(x, "ui-abc.granary.localhost", 0, 0, NULL), 1);
        assert_int_equal(X509_check_host(x, "example.com", 0, 0, NULL), 0);
        X509_free(x);

        /* Present: left alone. */
        assert_int_equal(read_full_file_at(f->dir_fd, "cert.pem", TLS_PEM_FILE_MAX, &before, NULL), 0);
        assert_int_equal(read_full_file_at(f->dir_fd, "key.pem", TLS_PEM_FILE_MAX, &key_before, NULL), 0);
        assert_int_equal(tls_self_signed_ensure(f->dir_fd, "cert.pem", "key.pem", hostnames, NULL), 0);
        assert_int_equal(read_full_file_at(f->dir_fd, "cert.pem", TLS_PEM_FILE_MAX, &after, NULL), 0);
        assert_int_equal(read_full_file_at(f->dir_fd, "key.pem", TLS_PEM_FILE_MAX, &key_after, NULL), 0);
        assert_string_equal(before, after);
        assert_string_equal(key_before, key_after);
}

static void test_self_signed_partial(void **state) {
        Fixture *f = *state;
        const char *const bad[] = { "granary.localhost", "a,DNS:evil.example", NULL };
        const char *const none[] = { NULL };
        _cleanup_free_ char *e = NULL;
        X509 *x1, *x2;
        _cleanup_free_ char *c2 = path_join(f->dir, "c2.pem");

        /* A key without its certificate is an interrupted first start: both are made again. */
        assert_int_equal(write_file_atomic_at(f->dir_fd, "k2.pem", "junk", 4, 0600), 0);
        assert_int_equal(tls_self_signed_ensure(f->dir_fd, "c2.pem", "k2.pem", hostnames, NULL), 1);
        x1 = cert_load(f->cert);
        x2 = cert_load(c2);
        assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(x1), X509_get0_serialNumber(x2)), 0);
        X509_free(x1);
        X509_free(x2);

        /* A certificate without its key is not replaced. */
        assert_int_equal(write_file_atomic_at(f->dir_fd, "c3.pem", "junk", 4, 0644), 0);
        assert_int_equal(tls_self_signed_ensure(f->dir_fd, "c3.pem", "k3.pem", hostnames, &e), -ENOKEY);
        assert_non_null(e);
        assert_int_equal(faccessat(f->dir_fd, "k3.pem", F_OK, 0), -1);

        assert_int_equal(tls_self_signed_ensure(f->dir_fd, "c4.pem", "k4.pem", bad, NULL), -EINVAL);
        assert_int_equal(tls_self_signed_ensure(f->dir_fd, "c4.pem", "k4.pem", none, NULL), -EINVAL);
        assert_int_equal(faccessat(f->dir_fd, "k4.pem", F_OK, 0), -1);
}

static void test_h2(void **state) {
        Fixture *f = *state;
        SSL_CTX *cctx = client_ctx_new(f->cert);
        Pair p;

        assert_int_equal(SSL_CTX_set_alpn_protos(cctx, alpn_h2_http1, sizeof(alpn_h2_http1) - 1), 0);
        pair_init(&p, cctx, f->tls, "granary.localhost");
        assert_int_equal(pair_handshake(&p), 0);
        assert_int_equal(SSL_get_verify_result(p.client), X509_V_OK);
        assert_int_equal(SSL_version(p.server), TLS1_3_VERSION);
        assert_int_equal(tls_ssl_alpn(p.server), TLS_ALPN_H2);
        assert_string_equal(tls_alpn_to_string(tls_ssl_alpn(p.client)), "h2");
        pair_done(&p);
        SSL_CTX_free(cctx);
}

static void test_alpn(void **state) {
        Fixture *f = *state;
        SSL_CTX *cctx = client_ctx_new(f->cert);
        TlsContext *http1 = NULL;
        Pair p;

        /* A client offering only http/1.1 gets it. */
        assert_int_equal(SSL_CTX_set_alpn_protos(cctx, alpn_http1, sizeof(alpn_http1) - 1), 0);
        pair_init(&p, cctx, f->tls, "granary.localhost");
        assert_int_equal(pair_handshake(&p), 0);
        assert_int_equal(tls_ssl_alpn(p.server), TLS_ALPN_HTTP1);
        pair_done(&p);

        /* No ALPN at all. */
        assert_int_equal(SSL_CTX_set_alpn_protos(cctx, NULL, 0), 0);
        pair_init(&p, cctx, f->tls, "granary.localhost");
        assert_int_equal(pair_handshake(&p), 0);
        assert_int_equal(tls_ssl_alpn(p.server), TLS_ALPN_NONE);
        pair_done(&p);

        /* A context offering only http/1.1 chooses it over h2, and answers nothing to h2 alone. */
        assert_int_equal(tls_context_new(f->cert, f->key, TLS_CONTEXT_HTTP1_ONLY, &http1, NULL), 0);
        assert_int_equal(SSL_CTX_set_alpn_protos(cctx, alpn_h2_http1, sizeof(alpn_h2_http1) - 1), 0);
        pair_init(&p, cctx, http1, "granary.localhost");
        assert_int_equal(pair_handshake(&p), 0);
        assert_int_equal(tls_ssl_alpn(p.server), TLS_ALPN_HTTP1);
        pair_done(&p);
        assert_int_equal(SSL_CTX_set_alpn_protos(cctx, alpn_h2, sizeof(alpn_h2) - 1), 0);
        pair_init(&p, cctx, http1, "granary.localhost");
        assert_int_equal(pair_handshake(&p), 0);
        assert_int_equal(tls_ssl_alpn(p.server), TLS_ALPN_NONE);
        assert_int_equal(tls_ssl_alpn(p.client), TLS_ALPN_NONE);
        pair_done(&p);

        tls_context_free(http1);
        SSL_CTX_free(cctx);

        assert_int_equal(tls_alpn_from_string("h2", 2), TLS_ALPN_H2);
        assert_int_equal(tls_alpn_from_string("http/1.1", 8), TLS_ALPN_HTTP1);
        assert_int_equal(tls_alpn_from_string("h2c", 3), _TLS_ALPN_INVALID);
        assert_int_equal(tls_alpn_from_string("h", 1), _TLS_ALPN_INVALID);
        assert_null(tls_alpn_to_string(TLS_ALPN_NONE));
        assert_null(tls_alpn_to_string(_TLS_ALPN_MAX));
}

static void test_old_versions_refused(void **state) {
        Fixture *f = *state;
        SSL_CTX *cctx = client_ctx_new(NULL);
        Pair p;

        /* Security level 0 so that the refusal is the server's, not the client's own. */
        assert_int_equal(SSL_CTX_set_cipher_list(cctx, "DEFAULT:@SECLEVEL=0"), 1);
        assert_int_equal(SSL_CTX_set_min_proto_version(cctx, TLS1_VERSION), 1);
        assert_int_equal(SSL_CTX_set_max_proto_version(cctx, TLS1_1_VERSION), 1);
        pair_init(&p, cctx, f->tls, NULL);
        assert_int_equal(pair_handshake(&p), -1);
        assert_int_equal(ERR_GET_REASON(p.server_error), SSL_R_UNSUPPORTED_PROTOCOL);
        pair_done(&p);
        SSL_CTX_free(cctx);
}

static void test_cbc_refused(void **state) {
        Fixture *f = *state;
        SSL_CTX *cctx = client_ctx_new(NULL);
        Pair p;

        assert_int_equal(SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION), 1);
        assert_int_equal(SSL_CTX_set_cipher_list(cctx, "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
                                                       "ECDHE-ECDSA-AES128-SHA:AES128-GCM-SHA256:AES128-SHA"),
                         1);
        pair_init(&p, cctx, f->tls, NULL);
        assert_int_equal(pair_handshake(&p), -1);
        assert_int_equal(ERR_GET_REASON(p.server_error), SSL_R_NO_SHARED_CIPHER);
        pair_done(&p);

        /* The same client with one ECDHE AEAD suite gets TLS 1.2 with it. */
        assert_int_equal(SSL_CTX_set_cipher_list(cctx, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256"), 1);
        pair_init(&p, cctx, f->tls, NULL);
        assert_int_equal(pair_handshake(&p), 0);
        assert_int_equal(SSL_version(p.server), TLS1_2_VERSION);
        assert_string_equal(SSL_get_cipher_name(p.server), "ECDHE-ECDSA-AES128-GCM-SHA256");
        assert_int_equal(SSL_get_secure_renegotiation_support(p.server), 1);
        /* No renegotiation. */
        assert_int_equal(SSL_renegotiate(p.server), 0);
        pair_done(&p);
        SSL_CTX_free(cctx);
}

static void test_sni(void **state) {
        Fixture *f = *state;
        SSL_CTX *cctx = client_ctx_new(f->cert);
        Pair p;

        pair_init(&p, cctx, f->tls, "UI-Abc.Granary.localhost");
        assert_null(tls_ssl_server_name(p.server));
        assert_int_equal(pair_handshake(&p), 0);
        assert_int_equal(SSL_get_verify_result(p.client), X509_V_OK);
        assert_string_equal(tls_ssl_server_name(p.server), "ui-abc.granary.localhost");
        pair_done(&p);

        pair_init(&p, cctx, f->tls, NULL);
        SSL_set_verify(p.client, SSL_VERIFY_NONE, NULL);
        assert_int_equal(pair_handshake(&p), 0);
        assert_null(tls_ssl_server_name(p.server));
        pair_done(&p);
        SSL_CTX_free(cctx);
}

static void test_reload(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *e = NULL, *new_cert = path_join(f->dir, "new-cert.pem"),
                            *new_key = path_join(f->dir, "new-key.pem"), *missing = path_join(f->dir, "missing.pem");
        SSL_CTX *old_ctx = tls_context_get_ssl_ctx(f->tls);
        SSL_CTX *cctx = client_ctx_new(NULL);
        X509 *old_x = cert_load(f->cert), *new_x;
        Pair p, early;

        /* A bad key path fails and leaves the context as it was. */
        assert_int_equal(tls_context_reload(f->tls, NULL, missing, &e), -ENOENT);
        assert_non_null(e);
        assert_ptr_equal(tls_context_get_ssl_ctx(f->tls), old_ctx);
        free(e);
        e = NULL;
        /* A key that does not belong to the certificate too. */
        assert_int_equal(tls_self_signed_ensure(f->dir_fd, "new-cert.pem", "new-key.pem", hostnames, NULL), 1);
        assert_int_equal(tls_context_reload(f->tls, NULL, new_key, &e), -EKEYREJECTED);
        assert_non_null(e);
        assert_int_equal(tls_context_reload(f->tls, new_key, new_key, NULL), -EBADMSG);
        assert_ptr_equal(tls_context_get_ssl_ctx(f->tls), old_ctx);
        assert_int_equal(ERR_peek_error(), 0);

        pair_init(&p, cctx, f->tls, NULL);
        assert_int_equal(pair_handshake(&p), 0);
        assert_int_equal(X509_cmp(SSL_get0_peer_certificate(p.client), old_x), 0);
        pair_done(&p);

        /* A new certificate is used by new handshakes; an SSL made before keeps the old one. */
        pair_init(&early, cctx, f->tls, NULL);
        assert_int_equal(tls_context_reload(f->tls, new_cert, new_key, NULL), 0);
        assert_ptr_not_equal(tls_context_get_ssl_ctx(f->tls), old_ctx);
        new_x = cert_load(new_cert);
        pair_init(&p, cctx, f->tls, NULL);
        assert_int_equal(pair_handshake(&p), 0);
        assert_int_equal(X509_cmp(SSL_get0_peer_certificate(p.client), new_x), 0);
        pair_done(&p);
        assert_int_equal(pair_handshake(&early), 0);
        assert_int_equal(X509_cmp(SSL_get0_peer_certificate(early.client), old_x), 0);
        pair_done(&early);

        /* NULL paths reload what is in use now. */
        assert_int_equal(tls_context_reload(f->tls, NULL, NULL, NULL), 0);
        pair_init(&p, cctx, f->tls, NULL);
        assert_int_equal(pair_handshake(&p), 0);
        assert_int_equal(X509_cmp(SSL_get0_peer_certificate(p.client), new_x), 0);
        pair_done(&p);

        X509_free(old_x);
        X509_free(new_x);
        SSL_CTX_free(cctx);
}

static void test_context_new_errors(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *e = NULL, *missing = path_join(f->dir, "missing.pem");
        TlsContext *c = NULL;

        assert_int_equal(tls_context_new(missing, f->key, 0, &c, &e), -ENOENT);
        assert_non_null(e);
        assert_null(c);
        assert_int_equal(tls_context_new(f->key, f->key, 0, &c, NULL), -EBADMSG);
        assert_int_equal(tls_context_new(f->cert, f->cert, 0, &c, NULL), -EBADMSG);
        assert_null(c);
        assert_int_equal(ERR_peek_error(), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_self_signed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_self_signed_partial, setup, teardown),
                cmocka_unit_test_setup_teardown(test_h2, setup, teardown),
                cmocka_unit_test_setup_teardown(test_alpn, setup, teardown),
                cmocka_unit_test_setup_teardown(test_old_versions_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cbc_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sni, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_context_new_errors, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
