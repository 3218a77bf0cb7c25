/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/static.h — the shell's static files (src/shell), served from memory.
 *
 * Owns StaticSite: a directory loaded whole (bytes, validators, content type, gzip copy of every file), then
 * immutable and reference-counted, so that a reload builds a new site while responses still being sent keep
 * the old one alive. Serving a request looks names up in that loaded set only: nothing touches the
 * filesystem per request, so no request can name a file that was not loaded. Does not own the response on
 * the wire: a StaticResult is a status, header fields and a body span, and granaryd adds Date, framing and
 * its security headers and writes its own error pages. Pure apart from static_site_load() reading the
 * directory: no global state, never logs.
 */

#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"
#include "http/http.h"

/* Limits of a loaded site. Past any of them static_site_load() fails, loading nothing. */
#define STATIC_FILES_MAX ((size_t) 4096)          /* files and directories: -E2BIG */
#define STATIC_FILE_SIZE_MAX ((size_t) 8 << 20)   /* bytes of one file: -EFBIG */
#define STATIC_TOTAL_SIZE_MAX ((size_t) 64 << 20) /* bytes of all files, gzip copies not counted: -EFBIG */
#define STATIC_DEPTH_MAX 16                       /* directories below the top one: -ELOOP */
#define STATIC_NAME_MAX ((size_t) 255)            /* bytes of one file or directory name: -E2BIG */

/* Bytes of a request's path, without its query; longer: 404. */
#define STATIC_PATH_MAX ((size_t) 1024)
/* Files at least this long, of a compressible type, get a gzip copy if it is at most 90% of their size. */
#define STATIC_GZIP_MIN_SIZE ((size_t) 256)

typedef struct StaticSite StaticSite;

/*
 * Loads everything beneath dir_fd (which stays the caller's): regular files and directories, each opened
 * beneath its parent without following symlinks. Symlinks, devices, FIFOs and sockets are skipped, and so
 * are names starting with '.' (editor and VCS droppings are not part of a site) and names no request could
 * reach (control characters, '\', invalid UTF-8). The limits above give -E2BIG, -EFBIG or -ELOOP; a file or
 * directory that cannot be read gives its errno.
 */
int static_site_load(int dir_fd, StaticSite **ret);
StaticSite *static_site_ref(StaticSite *s);
StaticSite *static_site_unref(StaticSite *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(StaticSite *, static_site_unref);

#define STATIC_HEADERS_MAX 8

typedef struct StaticResult {
        int status; /* 200, 206, 303, 304, 404, 405, 416 */
        /* Content-Type, ETag, Last-Modified, Cache-Control, Accept-Ranges, Content-Range, Content-Encoding,
         * Vary, Location, Allow: whatever applies; never Date, Content-Length, framing or security headers,
         * which are granaryd's. Names and values are NUL-terminated, and values point into the site, into
         * buf or at constants: valid while the site is referenced and this struct is not moved. */
        HttpHeader headers[STATIC_HEADERS_MAX];
        size_t n_headers;
        const uint8_t *body; /* into the site (keep a ref while sending); NULL for no body */
        size_t body_size;    /* the representation's length (for HEAD too: body NULL, size set, so the
                                caller can send Content-Length); 0 with no body */
        char buf[256];       /* storage for header values built per request (Content-Range) */
} StaticResult;

/*
 * Answers one request. path: the request's path with query, n bytes, untrusted (HttpRequest.path); headers:
 * the request's header fields (If-None-Match, If-Modified-Since, Range, If-Range, Accept-Encoding are read).
 *
 * GET and HEAD only: 405 with "Allow: GET, HEAD" otherwise. The query is dropped, percent-escapes are
 * decoded exactly once, and the path is 404 when it is longer than STATIC_PATH_MAX, does not start with
 * '/', has an invalid escape, an encoded '/', a NUL or other control character, a '\' (raw or encoded), an
 * empty, "." or ".." segment, or is not valid UTF-8 once decoded. "/dir/" serves dir/index.html; "/dir"
 * for a directory is 303 to "/dir/" (the loaded name, percent-encoded again); "/name" with no '.' in its
 * last segment serves name.html when there is no file "name".
 *
 * 304 for If-None-Match (weak comparison, "*"), else If-Modified-Since. A single "bytes" Range on GET
 * (honouring If-Range) is 206 or 416, from the uncompressed bytes; several ranges or a malformed one are
 * ignored. A gzip copy is sent when Accept-Encoding allows gzip (q-values, "*"); every response for a file
 * that has one says "Vary: Accept-Encoding". 303, 404, 405 and 416 have no body from this module.
 * Returns 0; *ret is always filled.
 */
int static_site_serve(StaticSite *s, HttpMethod method, const char *path, size_t n,
        const HttpHeader *headers, size_t n_headers, StaticResult *ret);
