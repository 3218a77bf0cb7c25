/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The HTTP/1.1 request parser. One message, as the states of our lexer (http1_parser_feed() drives it):
 *
 *   START --tchar--> METHOD --SP--> TARGET_START --> TARGET --SP--> VERSION --CR--> REQUEST_LINE_LF
 *     \--CR--> LEADING_LF --LF--> START   (once: an empty line before a request is skipped, RFC 9112 §2.2)
 *   REQUEST_LINE_LF --LF, request_line_finish()--> FIELD_START
 *   FIELD_START --tchar--> FIELD_NAME --':'--> FIELD_OWS --> FIELD_VALUE --CR--> FIELD_LF
 *   FIELD_LF --LF--> FIELD_START
 *   FIELD_START --CR--> SECTION_LF --LF, head_finish(): HEAD event-->
 *        framing none, or length 0 ..............................................> MESSAGE_END
 *        length N .................> BODY --N bytes, BODY events..................> MESSAGE_END
 *        chunked ..................> CHUNK_SIZE_START --hex--> CHUNK_SIZE
 *   CHUNK_SIZE --';'--> CHUNK_EXT_* --CR--> CHUNK_SIZE_LF;  CHUNK_SIZE --CR--> CHUNK_SIZE_LF
 *   CHUNK_SIZE_LF --LF, size > 0--> CHUNK_DATA --size bytes, BODY events--> CHUNK_DATA_CR
 *   CHUNK_DATA_CR --CR--> CHUNK_DATA_LF --LF--> CHUNK_SIZE_START
 *   CHUNK_SIZE_LF --LF, size 0--> FIELD_START (trailers) ... SECTION_LF --LF, COMPLETE event--> COMPLETE
 *   MESSAGE_END --next feed(), COMPLETE event--> COMPLETE
 *   COMPLETE --next feed() with bytes, message_reset()--> START
 *   any state --fail()--> DEAD
 *
 * (1) Each byte is consumed by exactly one event. The consumed counts of a message's events add up to its
 *     length, and no byte of the next message is consumed before its COMPLETE is reported.
 * (2) The head buffer never holds more than request_line_max + header_bytes_max + 4 bytes, and the field
 *     list never more than header_count_max entries: each limit is checked on the byte that would pass
 *     it, before that byte is stored.
 * (3) Every byte goes through our lexer first and through http-parser second, and both must agree on
 *     where the head, each chunk, each body byte and the message end; any disagreement fails with 400.
 *     http-parser reads the head from our buffer in one piece once our lexer has accepted all of it, and
 *     the body in exactly the spans our events report.
 * (4) Where the input is split between calls never changes the outcome: every body byte http-parser
 *     refuses, our lexer has refused already, and our limits fire before http-parser's own (limits.h).
 * (5) After an error the parser is DEAD and stays so; every error closes the connection.
 *
 * What our lexer enforces beyond http-parser (which, built without HTTP_PARSER_STRICT as Debian builds it,
 * accepts these): CRLF only (a bare CR or LF anywhere is an error, also after chunk data and in trailers);
 * exactly one SP between the parts of the request line; a target of visible ASCII without '#', in
 * origin, absolute (http/https, no userinfo) or asterisk (OPTIONS) form; exactly "HTTP/" DIGIT "." DIGIT;
 * no obs-fold and no whitespace before ':' or at the start of a line; at most one Host, Content-Length and
 * Transfer-Encoding; Transfer-Encoding exactly "chunked", never with Content-Length, never on HTTP/1.0; a
 * Host that is a host; chunk lines without whitespace, with well-formed and bounded extensions; trailers
 * bounded, checked like headers, never naming framing or connection headers, and dropped.
 */

#include <errno.h>
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macro.h"
#include "http/http-chars.h"
#include "http/http1.h"

typedef enum State {
        STATE_START,
        STATE_LEADING_LF,
        STATE_METHOD,
        STATE_TARGET_START,
        STATE_TARGET,
        STATE_VERSION,
        STATE_REQUEST_LINE_LF,
        STATE_FIELD_START,
        STATE_FIELD_NAME,
        STATE_FIELD_OWS,
        STATE_FIELD_VALUE,
        STATE_FIELD_LF,
        STATE_SECTION_LF,
        STATE_BODY,
        STATE_CHUNK_SIZE_START,
        STATE_CHUNK_SIZE,
        STATE_CHUNK_EXT_NAME_START,
        STATE_CHUNK_EXT_NAME,
        STATE_CHUNK_EXT_VALUE_START,
        STATE_CHUNK_EXT_TOKEN,
        STATE_CHUNK_EXT_QUOTED,
        STATE_CHUNK_EXT_QUOTED_PAIR,
        STATE_CHUNK_EXT_QUOTED_END,
        STATE_CHUNK_SIZE_LF,
        STATE_CHUNK_DATA,
        STATE_CHUNK_DATA_CR,
        STATE_CHUNK_DATA_LF,
        STATE_MESSAGE_END,
        STATE_COMPLETE,
        STATE_DEAD,
} State;

/* What our lexer says about one byte, when it is not an error. */
enum {
        LEX_OK,          /* part of the message */
        LEX_SKIP,        /* part of the empty line before a request: not stored */
        LEX_SECTION_END, /* the LF that ends the head or the trailer section */
};

/* One field line of the head, as offsets into the head buffer: 32 bits hold any, the head being at most
 * HTTP_HEAD_CEILING bytes (http_limits_check()). */
typedef struct Field {
        uint32_t name_off, name_len;
        uint32_t value_off, value_len;
} Field;
_Static_assert(HTTP_HEAD_CEILING <= UINT32_MAX, "a Field cannot address every byte of a head");

/* A keep-alive connection keeps its head buffer and field array from one message to the next, up to these
 * sizes: larger ones are freed as soon as their head is handed over, so that an idle connection holds at
 * most this much (server.c's (5): idle connections hold no big buffers). */
#define HEAD_KEEP ((size_t) 1024)
#define HEAD_INITIAL ((size_t) 512)
#define FIELDS_KEEP ((size_t) 16)

/* What http-parser reported while it read one head or one span of body. */
typedef struct Check {
        bool head; /* reading the head (else a body span) */
        bool mismatch;
        bool url_seen;
        bool headers_complete;
        bool message_complete;
        size_t n_names, n_values;
        const char *body; /* the body bytes it reported, which must be one contiguous run */
        size_t body_len;
        size_t n_chunk_headers;
        uint64_t chunk_size; /* of the last chunk header */
} Check;

/* Trailer names are kept lowercased up to this length: enough for every name we refuse. */
#define TRAILER_NAME_KEEP 24

struct Http1Parser {
        HttpLimits limits;
        State state;
        Http1Error error;

        bool leading_crlf; /* the one empty line allowed before the request line was seen */
        bool trailers;     /* the field states read a trailer section, not the head */

        /* The head as received, from the method's first byte to the LF that ends it. head_len counts the
         * bytes our lexer has taken into it, head_stored those copied into head so far: feed_head() copies
         * what it took from one input in one piece, before anything reads head and before it returns. */
        uint8_t *head;
        size_t head_len, head_stored, head_allocated;

        /* The request line, as offsets into head. */
        size_t line_len;
        size_t method_len;
        size_t target_off, target_len;
        size_t version_len;
        HttpMethod method;
        HttpVersion version;
        HttpTargetForm target_form;
        size_t authority_off, authority_len, path_off; /* absolute-form only */

        /* The field section being read (head or trailers); positions count from its first byte. */
        size_t section_start; /* head only: where the section starts in head */
        size_t section_len;
        size_t n_lines;
        size_t name_start, name_len, value_start, value_end;
        Field *fields; /* head only */
        size_t n_fields, n_fields_allocated;
        char trailer_name[TRAILER_NAME_KEEP];

        /* The body. */
        uint64_t remaining;  /* BODY: of the Content-Length; CHUNK_DATA: of the chunk */
        uint64_t body_total; /* chunked: the sizes of the chunks so far, this one included */
        uint64_t chunk_size;
        unsigned chunk_digits;
        size_t ext_len;
        size_t span_chunk_lines; /* chunk-size lines completed in the current span */

        http_parser hp;
        Check check;
};

static int fail(Http1Parser *p, int error, const char *what) {
        assert(error < 0);

        p->state = STATE_DEAD;
        p->error = (Http1Error){
                .error = error,
                .status = http_status_from_errno(error),
                .must_close = true,
                .what = what,
        };
        return error;
}

#define FAIL_400(p, what) fail((p), -EBADMSG, (what))

/* http-parser's callbacks. They only record; the verdict is given after http_parser_execute() returns. */

static Check *check_of(http_parser *hp) {
        return &((Http1Parser *) hp->data)->check;
}

static int on_url(http_parser *hp, const char *at, size_t len) {
        Http1Parser *p = hp->data;
        Check *c = &p->check;

        if (!c->head || c->url_seen || at != (const char *) p->head + p->target_off || len != p->target_len)
                c->mismatch = true;
        c->url_seen = true;
        return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len) {
        Http1Parser *p = hp->data;
        Check *c = &p->check;
        size_t i = c->n_names++;

        if (!c->head) /* a trailer: ours are checked and dropped by our lexer */
                return 0;
        if (i >= p->n_fields || at != (const char *) p->head + p->fields[i].name_off ||
                len != p->fields[i].name_len)
                c->mismatch = true;
        return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len) {
        Http1Parser *p = hp->data;
        Check *c = &p->check;
        size_t i = c->n_values++;
        const Field *f;

        if (!c->head)
                return 0;
        if (i >= p->n_fields || i + 1 != c->n_names) {
                c->mismatch = true;
                return 0;
        }

        /* http-parser keeps trailing whitespace that we trim; an empty value it reports anywhere. */
        f = p->fields + i;
        if (f->value_len == 0 && len == 0)
                return 0;
        if (at != (const char *) p->head + f->value_off || len < f->value_len) {
                c->mismatch = true;
                return 0;
        }
        for (size_t k = f->value_len; k < len; k++)
                if (!http_char_is((uint8_t) at[k], HTTP_CHAR_WS))
                        c->mismatch = true;
        return 0;
}

static int on_headers_complete(http_parser *hp) {
        Http1Parser *p = hp->data;
        Check *c = &p->check;
        const char *method = http_method_str((enum http_method) hp->method);

        if (!c->head || c->headers_complete || !method || !streq(method, http_method_to_string(p->method)) ||
                hp->http_major != 1 || hp->http_minor != (p->version == HTTP_VERSION_1_1 ? 1 : 0))
                c->mismatch = true;
        c->headers_complete = true;
        return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len) {
        Check *c = check_of(hp);

        if (c->head || (c->body && at != c->body + c->body_len))
                c->mismatch = true;
        if (!c->body)
                c->body = at;
        c->body_len += len;
        return 0;
}

static int on_message_complete(http_parser *hp) {
        Check *c = check_of(hp);

        if (c->message_complete)
                c->mismatch = true;
        c->message_complete = true;
        return 0;
}

static int on_chunk_header(http_parser *hp) {
        Check *c = check_of(hp);

        c->n_chunk_headers++;
        c->chunk_size = hp->content_length;
        return 0;
}

static const http_parser_settings hp_settings = {
        .on_url = on_url,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
        .on_chunk_header = on_chunk_header,
};

/* Runs http-parser over the whole head from our buffer; it must end exactly where ours did, with the same
 * request line, the same fields and the same framing. */
static int check_head(Http1Parser *p, HttpFraming framing, uint64_t content_length) {
        bool chunked, has_length;
        size_t n;

        http_parser_init(&p->hp, HTTP_REQUEST);
        p->hp.data = p;
        p->check = (Check){.head = true};

        n = http_parser_execute(&p->hp, &hp_settings, (const char *) p->head, p->head_len);

        chunked = p->hp.flags & F_CHUNKED;
        has_length = p->hp.flags & F_CONTENTLENGTH;
        if (n != p->head_len || HTTP_PARSER_ERRNO(&p->hp) != HPE_OK || p->check.mismatch ||
                !p->check.url_seen || !p->check.headers_complete || p->check.n_names != p->n_fields ||
                p->check.n_values != p->n_fields || chunked != (framing == HTTP_FRAMING_CHUNKED) ||
                has_length != (framing == HTTP_FRAMING_LENGTH) ||
                (has_length && p->hp.content_length != content_length) ||
                p->check.message_complete !=
                        (framing == HTTP_FRAMING_NONE ||
                                (framing == HTTP_FRAMING_LENGTH && content_length == 0)))
                return FAIL_400(p, "http-parser disagrees about the head");
        return 0;
}

/* Runs http-parser over one span of body bytes: it must report exactly the body bytes we do, end the
 * message exactly where we do, and read the same chunk sizes. */
static int check_span(
        Http1Parser *p, const uint8_t *span, size_t n, const uint8_t *body, size_t body_len, bool complete) {
        size_t k;

        assert(n > 0); /* zero bytes would tell http-parser that the connection ended */

        p->check = (Check){};
        k = http_parser_execute(&p->hp, &hp_settings, (const char *) span, n);

        if (k != n || HTTP_PARSER_ERRNO(&p->hp) != HPE_OK || p->check.mismatch ||
                p->check.body_len != body_len || (body_len > 0 && p->check.body != (const char *) body) ||
                p->check.message_complete != complete || p->check.n_chunk_headers != p->span_chunk_lines ||
                (p->span_chunk_lines > 0 && p->check.chunk_size != p->chunk_size))
                return FAIL_400(p, "http-parser disagrees about the body framing");
        return 0;
}

/* Copies the bytes our lexer took into the head and that are not in the buffer yet: the last
 * head_len - head_stored bytes of the input before end (all of them from one input, as feed_head() calls
 * this before it returns, and the bytes it skips come before any it takes). */
static int head_store(Http1Parser *p, const uint8_t *end) {
        size_t max = p->limits.request_line_max + p->limits.header_bytes_max + 4, n, k;
        uint8_t *h;

        n = p->head_len - p->head_stored;
        if (n == 0)
                return 0;

        if (p->head_len > p->head_allocated) {
                /* (2): our limits stop every head before this. */
                assert(p->head_len <= max);
                k = MAX(p->head_allocated * 2, HEAD_INITIAL);
                while (k < p->head_len)
                        k *= 2;
                k = MIN(k, max);
                h = realloc(p->head, k);
                if (!h)
                        return fail(p, -ENOMEM, "out of memory");
                p->head = h;
                p->head_allocated = k;
        }

        memcpy(p->head + p->head_stored, end - n, n);
        p->head_stored = p->head_len;
        return 0;
}

static int fields_append(Http1Parser *p) {
        if (p->n_fields == p->n_fields_allocated) {
                size_t n = MIN(MAX(p->n_fields_allocated * 2, FIELDS_KEEP), p->limits.header_count_max);
                Field *f;

                /* (2): the line count stops every head before this. */
                assert(p->n_fields < n);
                f = reallocarray(p->fields, n, sizeof(Field));
                if (!f)
                        return fail(p, -ENOMEM, "out of memory");
                p->fields = f;
                p->n_fields_allocated = n;
        }
        p->fields[p->n_fields++] = (Field){
                .name_off = p->section_start + p->name_start,
                .name_len = p->name_len,
                .value_off = p->section_start + p->value_start,
                .value_len = p->value_end - p->value_start,
        };
        return 0;
}

static bool head_is(const Http1Parser *p, size_t off, size_t len, const char *s) {
        size_t n = strlen(s); /* inlined: a constant */

        /* Most names differ in length: no call for those. */
        return len == n && http_strcaseeq((const char *) p->head + off, len, s, n);
}

/* The request line is complete: version, method, and the form of the target. */
static int request_line_finish(Http1Parser *p) {
        const char *target = (const char *) p->head + p->target_off;
        size_t version_off = p->target_off + p->target_len + 1, scheme;
        uint8_t major = p->head[version_off + 5] - '0', minor = p->head[version_off + 7] - '0';

        if (major == 1 && minor == 1)
                p->version = HTTP_VERSION_1_1;
        else if (major == 1 && minor == 0)
                p->version = HTTP_VERSION_1_0;
        else
                return fail(p, -EPROTONOSUPPORT, "HTTP version not supported");

        p->method = http_method_from_string((const char *) p->head, p->method_len);
        if (p->method < 0)
                return fail(p, -EOPNOTSUPP, "unknown method");
        /* We are no proxy, and the authority-form target and tunnel that CONNECT needs are not ours. */
        if (p->method == HTTP_METHOD_CONNECT)
                return fail(p, -EOPNOTSUPP, "CONNECT");

        if (p->target_len == 1 && target[0] == '*') {
                if (p->method != HTTP_METHOD_OPTIONS)
                        return FAIL_400(p, "asterisk-form target on a method other than OPTIONS");
                p->target_form = HTTP_TARGET_ASTERISK;
                return 0;
        }
        if (target[0] == '/') {
                p->target_form = HTTP_TARGET_ORIGIN;
                return 0;
        }

        if (p->target_len >= 7 && head_is(p, p->target_off, 7, "http://"))
                scheme = 7;
        else if (p->target_len >= 8 && head_is(p, p->target_off, 8, "https://"))
                scheme = 8;
        else
                return FAIL_400(p, "request target in no known form");

        p->target_form = HTTP_TARGET_ABSOLUTE;
        p->authority_off = p->target_off + scheme;
        p->authority_len = 0;
        while (scheme + p->authority_len < p->target_len && target[scheme + p->authority_len] != '/' &&
                target[scheme + p->authority_len] != '?')
                p->authority_len++;
        p->path_off = p->authority_off + p->authority_len;
        /* Refuses userinfo too: '@' is no host character. */
        if (p->authority_len == 0 ||
                !http_host_is_valid((const char *) p->head + p->authority_off, p->authority_len))
                return FAIL_400(p, "absolute-form target without a valid authority");
        return 0;
}

/* The name just read is one a trailer must not carry: framing, routing and connection management, which
 * a recipient merging trailers would get wrong. */
static bool trailer_name_is_forbidden(const Http1Parser *p, size_t len) {
        static const char *const names[] = {
                "content-length",
                "transfer-encoding",
                "host",
                "connection",
                "keep-alive",
                "proxy-connection",
                "te",
                "trailer",
                "upgrade",
        };

        if (len > TRAILER_NAME_KEEP)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strlen(names[i]) == len && memcmp(p->trailer_name, names[i], len) == 0)
                        return true;
        return false;
}

/* One more byte of the field section (or of its field lines, to be exact): the section limit. */
static int section_count(Http1Parser *p) {
        if (p->section_len >= p->limits.header_bytes_max)
                return fail(p, -EMSGSIZE,
                        p->trailers ? "trailer section too large" : "header section too large");
        p->section_len++;
        return 0;
}

/* A byte of a field line or of the empty line that ends a section, in the head or in trailers. */
static int lex_field(Http1Parser *p, uint8_t c) {
        size_t pos = p->section_len;
        int r;

        switch (p->state) {
        case STATE_FIELD_START:
                if (c == '\r') {
                        p->state = STATE_SECTION_LF;
                        return LEX_OK;
                }
                if (c == '\n')
                        return FAIL_400(p, "bare LF");
                if (http_char_is(c, HTTP_CHAR_WS))
                        return FAIL_400(p, "obs-fold or whitespace at the start of a field line");
                if (!http_char_is(c, HTTP_CHAR_TCHAR))
                        return FAIL_400(p, "invalid character in a field name");
                if (p->n_lines >= p->limits.header_count_max)
                        return fail(p, -EMSGSIZE,
                                p->trailers ? "too many trailer fields" : "too many header fields");
                r = section_count(p);
                if (r < 0)
                        return r;
                p->n_lines++;
                p->name_start = pos;
                if (p->trailers)
                        p->trailer_name[0] = (char) http_char_lower(c);
                p->state = STATE_FIELD_NAME;
                return LEX_OK;

        case STATE_FIELD_NAME:
                if (c == ':') {
                        size_t len = pos - p->name_start;

                        if (p->trailers && trailer_name_is_forbidden(p, len))
                                return FAIL_400(p, "trailer naming a framing or connection header");
                        r = section_count(p);
                        if (r < 0)
                                return r;
                        p->name_len = len;
                        p->state = STATE_FIELD_OWS;
                        return LEX_OK;
                }
                if (http_char_is(c, HTTP_CHAR_WS))
                        return FAIL_400(p, "whitespace between a field name and ':'");
                if (!http_char_is(c, HTTP_CHAR_TCHAR))
                        return FAIL_400(p, "invalid character in a field name");
                r = section_count(p);
                if (r < 0)
                        return r;
                if (p->trailers && pos - p->name_start < TRAILER_NAME_KEEP)
                        p->trailer_name[pos - p->name_start] = (char) http_char_lower(c);
                return LEX_OK;

        case STATE_FIELD_OWS:
        case STATE_FIELD_VALUE:
                if (c == '\r') {
                        if (p->state == STATE_FIELD_OWS)
                                p->value_start = p->value_end = pos; /* empty */
                        r = section_count(p);
                        if (r < 0)
                                return r;
                        p->state = STATE_FIELD_LF;
                        return LEX_OK;
                }
                if (c == '\n')
                        return FAIL_400(p, "bare LF");
                if (http_char_is(c, HTTP_CHAR_WS))
                        return section_count(p);
                if (!http_char_is(c, HTTP_CHAR_FIELD))
                        return FAIL_400(p, "control character in a field value");
                if (p->state == STATE_FIELD_OWS) {
                        p->value_start = pos;
                        p->state = STATE_FIELD_VALUE;
                }
                if (pos + 1 - p->value_start > p->limits.header_value_max)
                        return fail(p, -EMSGSIZE, "field value too large");
                r = section_count(p);
                if (r < 0)
                        return r;
                p->value_end = pos + 1;
                return LEX_OK;

        case STATE_FIELD_LF:
                if (c != '\n')
                        return FAIL_400(p, "bare CR");
                r = section_count(p);
                if (r < 0)
                        return r;
                if (!p->trailers) {
                        r = fields_append(p);
                        if (r < 0)
                                return r;
                }
                p->state = STATE_FIELD_START;
                return LEX_OK;

        case STATE_SECTION_LF:
                if (c != '\n')
                        return FAIL_400(p, "bare CR");
                return LEX_SECTION_END;

        default:
                assert(false);
                return FAIL_400(p, "internal error");
        }
}

/* One more byte of the request line: its limit. */
static int line_count(Http1Parser *p) {
        if (p->line_len >= p->limits.request_line_max)
                return fail(p, -ENAMETOOLONG, "request line too long");
        p->line_len++;
        return LEX_OK;
}

static int lex_request_line(Http1Parser *p, uint8_t c) {
        static const char version_pattern[] = "HTTP/0.0"; /* '0' stands for any digit */
        int r;

        switch (p->state) {
        case STATE_START:
                if (c == '\r' && !p->leading_crlf) {
                        p->state = STATE_LEADING_LF;
                        return LEX_SKIP;
                }
                if (c == '\r')
                        return FAIL_400(p, "more than one empty line before the request line");
                if (c == '\n')
                        return FAIL_400(p, "bare LF");
                if (!http_char_is(c, HTTP_CHAR_TCHAR))
                        return FAIL_400(p, "invalid character in the method");
                p->state = STATE_METHOD;
                return line_count(p);

        case STATE_LEADING_LF:
                if (c != '\n')
                        return FAIL_400(p, "bare CR");
                p->leading_crlf = true;
                p->state = STATE_START;
                return LEX_SKIP;

        case STATE_METHOD:
                if (c == ' ') {
                        p->method_len = p->head_len;
                        p->state = STATE_TARGET_START;
                } else if (!http_char_is(c, HTTP_CHAR_TCHAR))
                        return FAIL_400(p, "invalid character in the method");
                return line_count(p);

        case STATE_TARGET_START:
                if (c == ' ')
                        return FAIL_400(p, "more than one space in the request line");
                if (!http_char_is(c, HTTP_CHAR_TARGET))
                        return FAIL_400(p, "invalid character in the request target");
                p->target_off = p->head_len;
                p->state = STATE_TARGET;
                return line_count(p);

        case STATE_TARGET:
                if (c == ' ') {
                        p->target_len = p->head_len - p->target_off;
                        p->version_len = 0;
                        p->state = STATE_VERSION;
                } else if (!http_char_is(c, HTTP_CHAR_TARGET))
                        return FAIL_400(p, "invalid character in the request target");
                return line_count(p);

        case STATE_VERSION:
                if (c == '\r') {
                        if (p->version_len != STRLEN(version_pattern))
                                return FAIL_400(p, "malformed HTTP version");
                        p->state = STATE_REQUEST_LINE_LF;
                        return LEX_OK;
                }
                if (p->version_len >= STRLEN(version_pattern) ||
                        (version_pattern[p->version_len] == '0'
                                        ? !http_char_is(c, HTTP_CHAR_DIGIT)
                                        : c != (uint8_t) version_pattern[p->version_len]))
                        return FAIL_400(p, "malformed HTTP version");
                p->version_len++;
                return line_count(p);

        case STATE_REQUEST_LINE_LF:
                if (c != '\n')
                        return FAIL_400(p, "bare CR");
                r = request_line_finish(p);
                if (r < 0)
                        return r;
                p->section_start = p->head_len + 1; /* this LF is stored next */
                p->state = STATE_FIELD_START;
                return LEX_OK;

        default:
                assert(false);
                return FAIL_400(p, "internal error");
        }
}

static int parse_content_length(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                if (!http_char_is((uint8_t) s[i], HTTP_CHAR_DIGIT))
                        return -EBADMSG;
                if (!MUL_SAFE(&v, v, 10) || !ADD_SAFE(&v, v, (uint64_t) (s[i] - '0')))
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

/* Copies the head into a new request, one allocation holding the request, its headers and their bytes, and
 * terminates every part in place with a NUL: each part is followed by a delimiter (SP, ':', whitespace or
 * CR) nothing needs any more. The parser keeps its buffers for the next message, unless they are large. */
static int head_build(Http1Parser *p, const Field *host, HttpFraming framing, uint64_t content_length,
        bool keep_alive, bool upgrade, HttpRequest **ret) {
        _cleanup_free_ HttpRequest *r = NULL;
        size_t extra = 0, path_len = 0, n = p->n_fields;
        bool slash = false;
        uint8_t *h;

        if (p->target_form == HTTP_TARGET_ABSOLUTE) {
                /* The authority and the path get copies of their own, NUL-terminated, after the head. */
                path_len = p->target_off + p->target_len - p->path_off;
                slash = path_len == 0 || p->head[p->path_off] != '/';
                extra = p->authority_len + 1 + slash + path_len + 1;
        }

        r = malloc(sizeof(HttpRequest) + n * sizeof(HttpHeader) + p->head_len + extra);
        if (!r)
                return fail(p, -ENOMEM, "out of memory");
        h = (uint8_t *) ((HttpHeader *) (r + 1) + n);
        memcpy(h, p->head, p->head_len);

        h[p->method_len] = '\0';
        h[p->target_off + p->target_len] = '\0';
        *r = (HttpRequest){
                .method = p->method,
                .version = p->version,
                .target_form = p->target_form,
                .target = (const char *) h + p->target_off,
                .target_len = p->target_len,
                .path = (const char *) h + p->target_off,
                .path_len = p->target_len,
                .headers = (HttpHeader *) (r + 1),
                .n_headers = n,
                .framing = framing,
                .content_length = framing == HTTP_FRAMING_LENGTH ? content_length : 0,
                .keep_alive = keep_alive,
                .upgrade = upgrade,
        };
        for (size_t i = 0; i < n; i++) {
                const Field *f = p->fields + i;

                h[f->name_off + f->name_len] = '\0';
                h[f->value_off + f->value_len] = '\0';
                r->headers[i] = (HttpHeader){
                        .name = (const char *) h + f->name_off,
                        .name_len = f->name_len,
                        .value = (const char *) h + f->value_off,
                        .value_len = f->value_len,
                };
        }

        if (host) {
                r->authority = (const char *) h + host->value_off;
                r->authority_len = host->value_len;
        }
        if (p->target_form == HTTP_TARGET_ABSOLUTE) {
                uint8_t *a = h + p->head_len, *q = a + p->authority_len + 1;

                memcpy(a, h + p->authority_off, p->authority_len);
                a[p->authority_len] = '\0';
                if (slash)
                        q[0] = '/';
                memcpy(q + slash, h + p->path_off, path_len);
                q[slash + path_len] = '\0';
                r->authority = (const char *) a;
                r->authority_len = p->authority_len;
                r->path = (const char *) q;
                r->path_len = slash + path_len;
        }

        r->storage = NULL; /* the bytes are in r's own allocation */
        p->head_len = p->head_stored = 0;
        if (p->head_allocated > HEAD_KEEP) {
                free(p->head);
                p->head = NULL;
                p->head_allocated = 0;
        }
        p->n_fields = 0;
        if (p->n_fields_allocated > FIELDS_KEEP) {
                free(p->fields);
                p->fields = NULL;
                p->n_fields_allocated = 0;
        }

        *ret = TAKE_PTR(r);
        return 0;
}

/* A well-formed list of transfer codings that is not exactly "chunked": 501, where a malformed one is 400.
 */
static bool list_is_codings(const char *v, size_t n) {
        if (!http_list_is_tokens(v, n))
                return false;
        for (size_t i = 0; i < n; i++)
                if (http_char_is((uint8_t) v[i], HTTP_CHAR_TCHAR))
                        return true;
        return false; /* nothing but commas and whitespace */
}

/* The head is complete and every line of it well-formed: what its fields say together. */
static int head_finish(Http1Parser *p, HttpRequest **ret) {
        const Field *host = NULL, *length = NULL, *te = NULL;
        bool close = false, connection_keep_alive = false, connection_upgrade = false, upgrade = false;
        HttpFraming framing = HTTP_FRAMING_NONE;
        uint64_t content_length = 0;
        int r;

        for (size_t i = 0; i < p->n_fields; i++) {
                const Field *f = p->fields + i;
                const char *v = (const char *) p->head + f->value_off;

                if (head_is(p, f->name_off, f->name_len, "host")) {
                        if (host)
                                return FAIL_400(p, "more than one Host");
                        host = f;
                } else if (head_is(p, f->name_off, f->name_len, "content-length")) {
                        if (length)
                                return FAIL_400(p, "more than one Content-Length");
                        length = f;
                } else if (head_is(p, f->name_off, f->name_len, "transfer-encoding")) {
                        if (te)
                                return FAIL_400(p, "more than one Transfer-Encoding");
                        te = f;
                } else if (head_is(p, f->name_off, f->name_len, "connection")) {
                        if (!http_list_is_tokens(v, f->value_len))
                                return FAIL_400(p, "malformed Connection");
                        close = close || http_list_has_token(v, f->value_len, "close");
                        connection_keep_alive =
                                connection_keep_alive || http_list_has_token(v, f->value_len, "keep-alive");
                        connection_upgrade =
                                connection_upgrade || http_list_has_token(v, f->value_len, "upgrade");
                } else if (head_is(p, f->name_off, f->name_len, "upgrade")) {
                        if (!http_list_is_protocols(v, f->value_len))
                                return FAIL_400(p, "malformed Upgrade");
                        upgrade = true;
                }
        }

        if (length && te)
                return FAIL_400(p, "Content-Length and Transfer-Encoding together");
        if (te) {
                const char *v = (const char *) p->head + te->value_off;

                if (p->version == HTTP_VERSION_1_0)
                        return FAIL_400(p, "Transfer-Encoding in an HTTP/1.0 request");
                if (!http_strcaseeq(v, te->value_len, "chunked", STRLEN("chunked"))) {
                        if (list_is_codings(v, te->value_len))
                                return fail(p, -EOPNOTSUPP, "transfer coding other than chunked");
                        return FAIL_400(p, "malformed Transfer-Encoding");
                }
                framing = HTTP_FRAMING_CHUNKED;
        }
        if (length) {
                if (parse_content_length((const char *) p->head + length->value_off, length->value_len,
                            &content_length) < 0)
                        return FAIL_400(p, "malformed Content-Length");
                framing = HTTP_FRAMING_LENGTH;
        }

        if (!host && p->version == HTTP_VERSION_1_1)
                return FAIL_400(p, "no Host in an HTTP/1.1 request");
        if (host && !http_host_is_valid((const char *) p->head + host->value_off, host->value_len))
                return FAIL_400(p, "malformed Host");
        if (host && p->target_form == HTTP_TARGET_ABSOLUTE &&
                !http_strcaseeq((const char *) p->head + host->value_off, host->value_len,
                        (const char *) p->head + p->authority_off, p->authority_len))
                return FAIL_400(p, "Host disagrees with the target's authority");

        if (framing == HTTP_FRAMING_LENGTH && content_length > p->limits.body_max)
                return fail(p, -EFBIG, "body too large");

        r = check_head(p, framing, content_length);
        if (r < 0)
                return r;

        /* RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive". RFC 9110 §7.8:
         * an Upgrade in an HTTP/1.0 request is ignored. */
        r = head_build(p, host, framing, content_length,
                p->version == HTTP_VERSION_1_1 ? !close : connection_keep_alive && !close,
                upgrade && connection_upgrade && p->version == HTTP_VERSION_1_1, ret);
        if (r < 0)
                return r;

        switch (framing) {
        case HTTP_FRAMING_CHUNKED:
                p->state = STATE_CHUNK_SIZE_START;
                break;
        case HTTP_FRAMING_LENGTH:
                p->remaining = content_length;
                p->state = content_length > 0 ? STATE_BODY : STATE_MESSAGE_END;
                break;
        default:
                p->state = STATE_MESSAGE_END;
        }
        return 0;
}

/* One more byte of a chunk line's extensions: their limit. */
static int ext_count(Http1Parser *p) {
        if (p->ext_len >= p->limits.chunk_ext_max)
                return FAIL_400(p, "chunk extensions too large");
        p->ext_len++;
        return LEX_OK;
}

/* A byte of chunked framing: a chunk-size line, the CRLF after chunk data, or the trailer section. */
static int lex_chunked(Http1Parser *p, uint8_t c) {
        int v;

        switch (p->state) {
        case STATE_CHUNK_SIZE_START:
        case STATE_CHUNK_SIZE:
                v = http_char_hex_value(c);
                if (v >= 0) {
                        if (p->chunk_digits >= HTTP_CHUNK_SIZE_DIGITS_MAX)
                                return FAIL_400(p, "chunk size with too many digits");
                        p->chunk_digits++;
                        /* Cannot overflow: the size so far is at most body_max, itself at most 2^59. */
                        p->chunk_size = p->chunk_size * 16 + (uint64_t) v;
                        if (p->chunk_size > p->limits.body_max - p->body_total)
                                return fail(p, -EFBIG, "body too large");
                        p->state = STATE_CHUNK_SIZE;
                        return LEX_OK;
                }
                if (p->state == STATE_CHUNK_SIZE_START)
                        return FAIL_400(p, "chunk size expected");
                if (c == ';') {
                        p->state = STATE_CHUNK_EXT_NAME_START;
                        return ext_count(p);
                }
                if (c == '\r') {
                        p->state = STATE_CHUNK_SIZE_LF;
                        return LEX_OK;
                }
                return FAIL_400(p, "invalid character after the chunk size");

        case STATE_CHUNK_EXT_NAME_START:
                if (!http_char_is(c, HTTP_CHAR_TCHAR))
                        return FAIL_400(p, "malformed chunk extension");
                p->state = STATE_CHUNK_EXT_NAME;
                return ext_count(p);

        case STATE_CHUNK_EXT_NAME:
        case STATE_CHUNK_EXT_TOKEN:
        case STATE_CHUNK_EXT_QUOTED_END:
                if (c == '\r') {
                        p->state = STATE_CHUNK_SIZE_LF;
                        return LEX_OK;
                }
                if (c == ';')
                        p->state = STATE_CHUNK_EXT_NAME_START;
                else if (c == '=' && p->state == STATE_CHUNK_EXT_NAME)
                        p->state = STATE_CHUNK_EXT_VALUE_START;
                else if (!http_char_is(c, HTTP_CHAR_TCHAR) || p->state == STATE_CHUNK_EXT_QUOTED_END)
                        return FAIL_400(p, "malformed chunk extension");
                return ext_count(p);

        case STATE_CHUNK_EXT_VALUE_START:
                if (c == '"')
                        p->state = STATE_CHUNK_EXT_QUOTED;
                else if (http_char_is(c, HTTP_CHAR_TCHAR))
                        p->state = STATE_CHUNK_EXT_TOKEN;
                else
                        return FAIL_400(p, "malformed chunk extension");
                return ext_count(p);

        case STATE_CHUNK_EXT_QUOTED:
                if (c == '"')
                        p->state = STATE_CHUNK_EXT_QUOTED_END;
                else if (c == '\\')
                        p->state = STATE_CHUNK_EXT_QUOTED_PAIR;
                else if (!http_char_is(c, HTTP_CHAR_QDTEXT))
                        return FAIL_400(p, "malformed chunk extension");
                return ext_count(p);

        case STATE_CHUNK_EXT_QUOTED_PAIR:
                if (!http_char_is(c, HTTP_CHAR_FIELD | HTTP_CHAR_WS))
                        return FAIL_400(p, "malformed chunk extension");
                p->state = STATE_CHUNK_EXT_QUOTED;
                return ext_count(p);

        case STATE_CHUNK_SIZE_LF:
                if (c != '\n')
                        return FAIL_400(p, "bare CR");
                p->span_chunk_lines++;
                if (p->chunk_size == 0) {
                        p->trailers = true;
                        p->section_len = p->n_lines = 0;
                        p->state = STATE_FIELD_START;
                } else {
                        p->body_total += p->chunk_size;
                        p->remaining = p->chunk_size;
                        p->state = STATE_CHUNK_DATA;
                }
                return LEX_OK;

        case STATE_CHUNK_DATA_CR:
                if (c != '\r')
                        return FAIL_400(p, "chunk data not followed by CRLF");
                p->state = STATE_CHUNK_DATA_LF;
                return LEX_OK;

        case STATE_CHUNK_DATA_LF:
                if (c != '\n')
                        return FAIL_400(p, "bare CR");
                p->chunk_size = 0;
                p->chunk_digits = 0;
                p->ext_len = 0;
                p->state = STATE_CHUNK_SIZE_START;
                return LEX_OK;

        default:
                return lex_field(p, c); /* the trailer section */
        }
}

/* How many bytes at the start of d (at most n) are all of class. */
static inline size_t span_of(const uint8_t *d, size_t n, unsigned class) {
        size_t k = 0;

        /* Four at a time while four remain: one bound check for four bytes. */
        while (n - k >= 4 && http_char_is(d[k], class) && http_char_is(d[k + 1], class) &&
                http_char_is(d[k + 2], class) && http_char_is(d[k + 3], class))
                k += 4;
        while (k < n && http_char_is(d[k], class))
                k++;
        return k;
}

/*
 * The run of bytes at the start of d (at most n) that lex_request_line() and lex_field() would accept one by
 * one without changing state and without failing, accounted for at once; 0 in the states without a fast
 * path. Where the bytes of a head go — method, target, version, field names, the whitespace after ':', field
 * values — this takes them in a tight loop.
 *
 * A run stops before any byte that changes the state or is refused, and before the byte that would pass a
 * limit: the per-byte path takes those, so every error fires on the same byte, with the same status and
 * message, as without runs; and since a run ends at the end of the input too, where the input is split
 * changes nothing ((4)). A limit is thus still checked on the byte that would pass it, before it is stored
 * ((2)).
 */
static size_t lex_span(Http1Parser *p, const uint8_t *d, size_t n) {
        static const char version_pattern[] = "HTTP/0.0"; /* as in lex_request_line() */
        size_t k = 0, used, last;

        switch (p->state) {
        /* line_count() per byte */
        case STATE_METHOD:
                k = span_of(d, MIN(n, p->limits.request_line_max - p->line_len), HTTP_CHAR_TCHAR);
                p->line_len += k;
                return k;

        case STATE_TARGET:
                k = span_of(d, MIN(n, p->limits.request_line_max - p->line_len), HTTP_CHAR_TARGET);
                p->line_len += k;
                return k;

        case STATE_VERSION:
                n = MIN(n, p->limits.request_line_max - p->line_len);
                while (k < n && p->version_len < STRLEN(version_pattern) &&
                        (version_pattern[p->version_len] == '0'
                                        ? http_char_is(d[k], HTTP_CHAR_DIGIT)
                                        : d[k] == (uint8_t) version_pattern[p->version_len])) {
                        p->version_len++;
                        k++;
                }
                p->line_len += k;
                return k;

        /* section_count() per byte; the head only, so no trailer_name */
        case STATE_FIELD_NAME:
                assert(!p->trailers);
                k = span_of(d, MIN(n, p->limits.header_bytes_max - p->section_len), HTTP_CHAR_TCHAR);
                p->section_len += k;
                return k;

        case STATE_FIELD_OWS:
                k = span_of(d, MIN(n, p->limits.header_bytes_max - p->section_len), HTTP_CHAR_WS);
                p->section_len += k;
                return k;

        case STATE_FIELD_VALUE:
                /* And per field-vchar the value limit: a run stays below both. Whitespace after a value at
                 * its limit is left to the per-byte path. */
                assert(p->section_len > p->value_start);
                used = p->section_len - p->value_start;
                if (used >= p->limits.header_value_max)
                        return 0;
                n = MIN(n, p->limits.header_bytes_max - p->section_len);
                n = MIN(n, p->limits.header_value_max - used);
                k = span_of(d, n, HTTP_CHAR_FIELD | HTTP_CHAR_WS);
                /* value_end follows the last field-vchar, if the run has one. */
                for (last = k; last > 0 && http_char_is(d[last - 1], HTTP_CHAR_WS); last--)
                        ;
                if (last > 0)
                        p->value_end = p->section_len + last;
                p->section_len += k;
                return k;

        default:
                return 0;
        }
}

static int feed_head(Http1Parser *p, const uint8_t *d, size_t size, Http1Event *ret) {
        int r, k;

        for (size_t i = 0; i < size; i++) {
                HttpRequest *request;
                size_t n;

                n = lex_span(p, d + i, size - i);
                p->head_len += n;
                i += n;
                if (i == size)
                        break;

                /* request_line_finish() reads the request line from head. */
                if (p->state == STATE_REQUEST_LINE_LF) {
                        k = head_store(p, d + i);
                        if (k < 0)
                                return k;
                }

                r = p->state < STATE_FIELD_START ? lex_request_line(p, d[i]) : lex_field(p, d[i]);
                if (r < 0)
                        return r;
                if (r == LEX_SKIP) {
                        assert(p->head_len == 0);
                        continue;
                }
                p->head_len++;
                if (r != LEX_SECTION_END)
                        continue;

                k = head_store(p, d + i + 1);
                if (k < 0)
                        return k;
                k = head_finish(p, &request);
                if (k < 0)
                        return k;
                *ret = (Http1Event){
                        .type = HTTP1_EVENT_HEAD,
                        .consumed = i + 1,
                        .request = request,
                };
                return 0;
        }

        k = head_store(p, d + size);
        if (k < 0)
                return k;
        *ret = (Http1Event){.type = HTTP1_EVENT_NEED_MORE, .consumed = size};
        return 0;
}

static int feed_length(Http1Parser *p, const uint8_t *d, size_t size, Http1Event *ret) {
        size_t n = (size_t) MIN((uint64_t) size, p->remaining);
        int r;

        if (n == 0) {
                *ret = (Http1Event){.type = HTTP1_EVENT_NEED_MORE};
                return 0;
        }

        p->span_chunk_lines = 0;
        r = check_span(p, d, n, d, n, n == p->remaining);
        if (r < 0)
                return r;
        p->remaining -= n;
        if (p->remaining == 0)
                p->state = STATE_MESSAGE_END;

        *ret = (Http1Event){.type = HTTP1_EVENT_BODY, .consumed = n, .data = d, .size = n};
        return 0;
}

static int feed_chunked(Http1Parser *p, const uint8_t *d, size_t size, Http1Event *ret) {
        size_t i = 0;
        int r;

        p->span_chunk_lines = 0;
        while (i < size) {
                if (p->state == STATE_CHUNK_DATA) {
                        const uint8_t *data = d + i;
                        size_t n = (size_t) MIN((uint64_t) (size - i), p->remaining);

                        i += n;
                        r = check_span(p, d, i, data, n, false);
                        if (r < 0)
                                return r;
                        p->remaining -= n;
                        if (p->remaining == 0)
                                p->state = STATE_CHUNK_DATA_CR;
                        *ret = (Http1Event){
                                .type = HTTP1_EVENT_BODY, .consumed = i, .data = data, .size = n};
                        return 0;
                }

                r = lex_chunked(p, d[i++]);
                if (r < 0)
                        return r;
                if (r == LEX_SECTION_END) {
                        r = check_span(p, d, i, NULL, 0, true);
                        if (r < 0)
                                return r;
                        p->state = STATE_COMPLETE;
                        *ret = (Http1Event){.type = HTTP1_EVENT_COMPLETE, .consumed = i};
                        return 0;
                }
        }

        if (size > 0) {
                r = check_span(p, d, size, NULL, 0, false);
                if (r < 0)
                        return r;
        }
        *ret = (Http1Event){.type = HTTP1_EVENT_NEED_MORE, .consumed = size};
        return 0;
}

/* Forgets the last message, keeping the limits and the (small: see head_build()) buffers. */
static void message_reset(Http1Parser *p) {
        HttpLimits limits = p->limits;
        uint8_t *head = p->head;
        size_t head_allocated = p->head_allocated, n_fields_allocated = p->n_fields_allocated;
        Field *fields = p->fields;

        *p = (Http1Parser){
                .limits = limits,
                .state = STATE_START,
                .head = head,
                .head_allocated = head_allocated,
                .fields = fields,
                .n_fields_allocated = n_fields_allocated,
        };
}

int http1_parser_new(const HttpLimits *limits, Http1Parser **ret) {
        static const HttpLimits defaults = HTTP_LIMITS_DEFAULT;
        Http1Parser *p;

        assert(ret);

        if (!limits)
                limits = &defaults;
        if (http_limits_check(limits) < 0)
                return -EINVAL;

        p = malloc(sizeof(Http1Parser));
        if (!p)
                return -ENOMEM;
        *p = (Http1Parser){.limits = *limits, .state = STATE_START};

        *ret = p;
        return 0;
}

Http1Parser *http1_parser_free(Http1Parser *p) {
        if (!p)
                return NULL;
        free(p->head);
        free(p->fields);
        free(p);
        return NULL;
}

int http1_parser_feed(Http1Parser *p, const void *data, size_t size, Http1Event *ret) {
        const uint8_t *d = data;

        assert(p);
        assert(d || size == 0);
        assert(ret);

        switch (p->state) {
        case STATE_DEAD:
                return p->error.error;
        case STATE_MESSAGE_END:
                p->state = STATE_COMPLETE;
                *ret = (Http1Event){.type = HTTP1_EVENT_COMPLETE};
                return 0;
        case STATE_COMPLETE:
                if (size == 0) {
                        *ret = (Http1Event){.type = HTTP1_EVENT_NEED_MORE};
                        return 0;
                }
                message_reset(p);
                return feed_head(p, d, size, ret);
        case STATE_BODY:
                return feed_length(p, d, size, ret);
        default:
                /* The field states read trailers too. */
                if (p->state < STATE_BODY && !p->trailers)
                        return feed_head(p, d, size, ret);
                return feed_chunked(p, d, size, ret);
        }
}

int http1_parser_eof(Http1Parser *p) {
        assert(p);

        if (p->state == STATE_DEAD)
                return p->error.error;
        if (http1_parser_is_idle(p) || p->state == STATE_MESSAGE_END)
                return 0;
        return FAIL_400(p, "connection closed in the middle of a request");
}

bool http1_parser_is_idle(const Http1Parser *p) {
        assert(p);
        return (p->state == STATE_START && !p->leading_crlf) || p->state == STATE_COMPLETE;
}

const Http1Error *http1_parser_get_error(const Http1Parser *p) {
        assert(p);
        return p->state == STATE_DEAD ? &p->error : NULL;
}
