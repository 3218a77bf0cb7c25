/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * http/tls.h — the front server's TLS: the server SSL_CTX with our protocol rules, its reload, the
 * self-signed certificate of `--https-port` in dev mode, and what a connection needs to know after the
 * handshake (the SNI name to compare with Host, the protocol chosen by ALPN).
 *
 * Owns TlsContext: one SSL_CTX at a time and the paths it was loaded from. Every SSL made from it holds
 * its own reference to the SSL_CTX it was made from (SSL_new() takes one), so tls_context_reload() and
 * tls_context_free() never pull the rug from under a live connection. Does not own connections, sockets
 * or the decision what to do with a mismatched SNI. No I/O except reading and writing the key and
 * certificate files; never logs. Errors are negative errnos with an optional message in *ret_error.
 *
 * The rules (SECURITY.md, "TLS downgrade"):
 * (1) TLS 1.2 is the minimum; renegotiation and compression are off.
 * (2) TLS 1.2 suites are ECDHE with an AEAD only (RFC 9113 §9.2.2: no CBC, no static RSA); the server's
 *     order wins. TLS 1.3 suites are AEAD by definition.
 * (3) ALPN chooses "h2" over "http/1.1" unless the context offers only http/1.1; a client whose list
 *     has neither gets no ALPN answer (and HTTP/1.1), as RFC 7301 allows.
 * (4) The SNI name a client sent is kept, lowercased, on its SSL until SSL_free(); the caller compares
 *     it with Host. A name with bytes other than printable ASCII ends the handshake.
 */

#include <errno.h>
#include <stdbool.h>

#include <openssl/ssl.h>

#include "basic/macro.h"

/* The largest key or certificate file read. */
#define TLS_PEM_FILE_MAX (1024U * 1024U)
/* Validity of the self-signed certificate: the longest that browsers accept. */
#define TLS_SELF_SIGNED_DAYS 825

typedef enum TlsAlpn {
        TLS_ALPN_NONE,  /* no ALPN: the client speaks HTTP/1.1 */
        TLS_ALPN_HTTP1, /* "http/1.1" */
        TLS_ALPN_H2,    /* "h2" */
        _TLS_ALPN_MAX,
        _TLS_ALPN_INVALID = -EINVAL,
} TlsAlpn;

/* The ALPN protocol id ("h2", "http/1.1"), or NULL for TLS_ALPN_NONE and out-of-range values. */
const char *tls_alpn_to_string(TlsAlpn a) _const_;
/* The inverse of tls_alpn_to_string() for n bytes at p; _TLS_ALPN_INVALID for anything else. */
TlsAlpn tls_alpn_from_string(const char *p, size_t n) _pure_;

typedef enum TlsContextFlags {
        /* Offer only "http/1.1" by ALPN (HTTP/2 switched off). */
        TLS_CONTEXT_HTTP1_ONLY = 1 << 0,
} TlsContextFlags;

typedef struct TlsContext TlsContext;

/*
 * Makes dir_fd/key_name (an ECDSA P-256 key, PKCS#8 PEM, mode 0600) and dir_fd/cert_name (a self-signed
 * X.509 v3 certificate in PEM, mode 0644: subject CN the first hostname, subjectAltName one DNS name per
 * hostname, valid from now for TLS_SELF_SIGNED_DAYS days, random positive 128-bit serial, serverAuth)
 * when they are not there, each written atomically, the key first. hostnames is NULL-terminated and not
 * empty; each name is letters, digits, '-', '.', and an optional leading "*." (-EINVAL otherwise).
 *
 * Returns 1 when it made them, 0 when both were there (they are left as they are, whatever they hold).
 * A key without a certificate is what an interrupted first start leaves: both are made again. A
 * certificate without a key is not ours to replace: -ENOKEY.
 */
int tls_self_signed_ensure(
        int dir_fd, const char *cert_name, const char *key_name, const char *const *hostnames, char **ret_error);

/*
 * Builds a server context from a PEM certificate file (the leaf first, then its chain) and a PEM private
 * key file. -ENOENT and the like when a file cannot be read, -EFBIG beyond TLS_PEM_FILE_MAX, -EBADMSG
 * when one does not parse, -EKEYREJECTED when the key does not match the certificate, -ENOMEM.
 */
int tls_context_new(const char *cert_path, const char *key_path, TlsContextFlags flags, TlsContext **ret,
                    char **ret_error);
TlsContext *tls_context_free(TlsContext *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(TlsContext *, tls_context_free);

/*
 * Builds a fresh SSL_CTX from cert_path and key_path (NULL: the paths in use) and puts it in place of
 * the current one only if that worked; on failure the context stays exactly as it was. New SSLs use the
 * new certificate; SSLs made before keep theirs. Session tickets issued before are not accepted after
 * (each SSL_CTX has its own ticket keys): those clients make a full handshake.
 */
int tls_context_reload(TlsContext *c, const char *cert_path, const char *key_path, char **ret_error);

/* The current SSL_CTX, borrowed: valid until the next reload or free. SSL_new() takes its own ref. */
SSL_CTX *tls_context_get_ssl_ctx(TlsContext *c);
/* A new server SSL from the current SSL_CTX, in accept state, without BIOs. -ENOMEM. */
int tls_context_new_ssl(TlsContext *c, SSL **ret);

/* The SNI name the client sent, lowercased (see (4)), or NULL if it sent none. Owned by ssl. */
const char *tls_ssl_server_name(SSL *ssl);
/* The protocol ALPN chose on ssl; TLS_ALPN_NONE before the handshake or without ALPN. */
TlsAlpn tls_ssl_alpn(SSL *ssl);
