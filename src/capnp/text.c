/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The Cap'n Proto text format of pkgdef files: lexer, parser and a lazy evaluator of constants.
 *
 * Pipeline: bytes --lex()--> tokens --parse_file()--> declarations (const, using, skipped type
 * definitions) --eval_const()--> a Value tree checked against CapnpType --encode_*()--> a single-
 * segment message, and for JSON that message --capnp_json_write_*()--> text.
 *
 * The rules follow Cap'n Proto's compiler (capnp 0.9/1.x), which is what `spk` uses:
 *   - the lexer splits operators as maximal runs of "!$%&*+-./:<=>?@^|~", so `=.foo` is one (bad)
 *     operator token, exactly as in capnp;
 *   - a bare identifier where a value is expected is first an enumerant (if an enum is expected),
 *     then void/true/false/inf/nan, then a constant, which capnp refuses without a leading dot;
 *   - a referenced constant's value is checked against the expected type after evaluation:
 *     integers are range-checked per type, any integer fits a float, structs and lists must have
 *     the same schema, AnyPointer takes a struct or list constant;
 *   - constants are evaluated only when used, so an error in an unused constant of an imported file
 *     does not matter; syntax errors anywhere in a loaded file do.
 * Where capnp is lax we are strict, on purpose: a field or a union set twice is an error (capnp
 * keeps the last), an integer literal beyond 64 bits is an error (capnp wraps it), embedded Text
 * must be UTF-8 without NUL.
 *
 * Invariants:
 * (1) every error is reported once, as the first one found, with the position of the token that
 *     caused it; the message is "FILE:LINE:COLUMN: text" (1-based, columns in bytes);
 * (2) all memory of one evaluation lives in one arena and dies with it;
 * (3) every quantity the file controls is bounded: file and embed sizes, string length, token
 *     count, syntactic nesting, value nesting (also through constant references), name-resolution
 *     depth, number of files, and the size of the encoded message.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/macro.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "capnp/json.h"
#include "capnp/schema.h"
#include "capnp/text.h"

/* Values nest at most this deep, counted in pointer hops as a reader counts them; well below the
 * readers' default nesting limit so that every message we encode can be read back. */
#define CAPNP_TEXT_MAX_VALUE_DEPTH 32u
/* using-aliases may chain at most this far. */
#define CAPNP_TEXT_MAX_RESOLVE_DEPTH 32u

/* ---- arena ---- */

typedef struct ArenaBlock {
        struct ArenaBlock *next;
        size_t used;
        size_t size;
        max_align_t data[];
} ArenaBlock;

typedef struct Arena {
        ArenaBlock *head;
        void **owned; /* malloc'ed buffers adopted from elsewhere */
        size_t n_owned;
        size_t allocated_owned;
} Arena;

#define ARENA_BLOCK_SIZE (64u * 1024u)

static void *arena_alloc(Arena *a, size_t size) {
        ArenaBlock *b = a->head;

        size = ALIGN8(size ? size : 1);
        if (size > SIZE_MAX / 2)
                return NULL;
        if (!b || b->size - b->used < size) {
                size_t bs = MAX(size, (size_t) ARENA_BLOCK_SIZE);

                b = malloc(sizeof(ArenaBlock) + bs);
                if (!b)
                        return NULL;
                b->size = bs;
                b->used = 0;
                if (size >= ARENA_BLOCK_SIZE && a->head) {
                        /* A big allocation gets a block of its own behind the current one, so the
                         * current block's free space stays usable. */
                        b->next = a->head->next;
                        a->head->next = b;
                } else {
                        b->next = a->head;
                        a->head = b;
                }
        }
        void *p = (uint8_t *) b->data + b->used;
        b->used += size;
        memset(p, 0, size);
        return p;
}

static int arena_adopt(Arena *a, void *p) {
        if (a->n_owned == a->allocated_owned) {
                size_t n = MAX((size_t) 8, a->allocated_owned * 2);
                void **o = reallocarray(a->owned, n, sizeof(void *));
                if (!o)
                        return -ENOMEM;
                a->owned = o;
                a->allocated_owned = n;
        }
        a->owned[a->n_owned++] = p;
        return 0;
}

static void arena_done(Arena *a) {
        while (a->head) {
                ArenaBlock *n = a->head->next;
                free(a->head);
                a->head = n;
        }
        for (size_t i = 0; i < a->n_owned; i++)
                free(a->owned[i]);
        free(a->owned);
        *a = (Arena){};
}

static char *arena_strndup(Arena *a, const char *s, size_t n) {
        char *p = arena_alloc(a, n + 1);
        if (p && n > 0)
                memcpy(p, s, n);
        return p;
}

/* ---- tokens ---- */

typedef enum TokenKind {
        TOKEN_END,
        TOKEN_IDENT,
        TOKEN_STRING,
        TOKEN_BINARY,
        TOKEN_INTEGER,
        TOKEN_FLOAT,
        TOKEN_OPERATOR,
        TOKEN_LPAREN,
        TOKEN_RPAREN,
        TOKEN_LBRACKET,
        TOKEN_RBRACKET,
        TOKEN_LBRACE,
        TOKEN_RBRACE,
        TOKEN_COMMA,
        TOKEN_SEMICOLON,
} TokenKind;

typedef struct Token {
        TokenKind kind;
        uint32_t pos;
        const char *text; /* IDENT, OPERATOR: into the source; STRING, BINARY: arena bytes plus a NUL */
        size_t len;
        uint64_t integer;
        double number;
} Token;

/* ---- syntax tree ---- */

typedef enum ExprKind {
        EXPR_INT,
        EXPR_NEG_INT,
        EXPR_FLOAT,
        EXPR_STRING,
        EXPR_BINARY,
        EXPR_LIST,
        EXPR_TUPLE,
        EXPR_IMPORT,
        EXPR_EMBED,
        EXPR_ABS_NAME,
        EXPR_REL_NAME,
        EXPR_MEMBER,
        EXPR_APPLICATION,
} ExprKind;

typedef struct Expr Expr;

typedef struct Param {
        const char *name; /* NULL: unnamed */
        size_t name_len;
        uint32_t name_pos;
        Expr *value;
} Param;

struct Expr {
        ExprKind kind;
        uint32_t pos;      /* where the expression starts */
        uint32_t name_pos; /* names: the identifier; IMPORT, EMBED: the file name; NEG_INT: the digits */
        uint64_t integer;
        double number;
        const char *text; /* STRING, BINARY bytes; IMPORT, EMBED path; names (NUL-terminated) */
        size_t len;
        Expr *base;    /* MEMBER, APPLICATION */
        Param *params; /* LIST, TUPLE, APPLICATION */
        size_t n_params;
};

typedef struct UserFile UserFile;
typedef struct Value Value;

typedef enum DeclKind {
        DECL_CONST,
        DECL_USING,
        DECL_UNSUPPORTED, /* struct, enum, interface, annotation: parsed over, not usable */
} DeclKind;

typedef enum DeclState {
        DECL_UNEVALUATED,
        DECL_EVALUATING,
        DECL_EVALUATED,
} DeclState;

typedef struct Decl {
        DeclKind kind;
        const char *name; /* NUL-terminated, in the arena */
        size_t name_len;
        uint32_t pos;
        const char *what; /* DECL_UNSUPPORTED: "struct", … */
        Expr *type;       /* DECL_CONST */
        Expr *value;      /* DECL_CONST value, DECL_USING target */
        UserFile *file;
        DeclState state;
        const CapnpType *ctype;
        Value *result;
} Decl;

struct UserFile {
        char *path; /* as shown in messages and used as the base of relative paths */
        char *dir;
        const char *data;
        size_t size;
        Token *tokens;
        size_t n_tokens;
        Decl **decls;
        size_t n_decls;
        UserFile *next;
};

/* ---- values ---- */

typedef enum ValueKind {
        VALUE_VOID,
        VALUE_BOOL,
        VALUE_INT,
        VALUE_FLOAT,
        VALUE_ENUM,
        VALUE_TEXT,
        VALUE_DATA,
        VALUE_LIST,
        VALUE_STRUCT, /* a struct or a group */
} ValueKind;

struct Value {
        ValueKind kind;
        const CapnpType *type; /* NULL for groups and for not yet typed literals */
        unsigned depth;        /* pointer hops below and including this value */
        bool negative;         /* VALUE_INT: u is the magnitude of a negative number */
        uint64_t u;            /* VALUE_INT, VALUE_BOOL, VALUE_ENUM */
        double f;              /* VALUE_FLOAT */
        const uint8_t *bytes;  /* VALUE_TEXT, VALUE_DATA */
        size_t len;
        Value **items; /* VALUE_LIST */
        size_t n_items;
        const CapnpStructSchema *schema; /* VALUE_STRUCT */
        Value **fields;                  /* parallel to schema->fields, NULL where unset */
        int which;                       /* index of the union member set, or -1 */
};

/* ---- evaluation context ---- */

typedef struct Ctx {
        Arena arena;
        const CapnpTextOptions *opts;
        UserFile *files;
        unsigned n_files;
        size_t embedded_bytes;
        unsigned const_depth; /* nesting of constant evaluations */
        char *error;
        int error_code;
} Ctx;

/* What a name denotes. */
typedef enum EntityKind {
        ENTITY_USER_FILE,
        ENTITY_SCHEMA_FILE,
        ENTITY_SCHEMA_NODE,
        ENTITY_DECL,
        ENTITY_BUILTIN_TYPE,
        ENTITY_LIST_TYPE, /* the builtin List, only usable applied */
        ENTITY_TYPE_EXPR, /* "using L = List(Text);": a type expression of file, resolved later */
} EntityKind;

typedef struct Entity {
        EntityKind kind;
        UserFile *file;
        const CapnpSchemaFile *schema_file;
        const CapnpSchemaNode *node;
        Decl *decl;
        const CapnpType *type;
        const Expr *expr; /* ENTITY_TYPE_EXPR */
} Entity;

/* ---- errors ---- */

static void position(const UserFile *f, uint32_t pos, unsigned *ret_line, unsigned *ret_column) {
        unsigned line = 1, column = 1;

        for (size_t i = 0; i < pos && i < f->size; i++) {
                if (f->data[i] == '\n') {
                        line++;
                        column = 1;
                } else
                        column++;
        }
        *ret_line = line;
        *ret_column = column;
}

_printf_(5, 6) static int fail(Ctx *c, const UserFile *f, int64_t pos, int error, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        assert(error < 0);

        if (c->error)
                return c->error_code;

        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0) {
                c->error_code = -ENOMEM;
                return -ENOMEM;
        }

        if (f && pos >= 0) {
                unsigned line, column;

                position(f, (uint32_t) pos, &line, &column);
                r = asprintf(&c->error, "%s:%u:%u: %s", f->path, line, column, msg);
        } else if (f)
                r = asprintf(&c->error, "%s: %s", f->path, msg);
        else
                r = asprintf(&c->error, "%s", msg);
        if (r < 0) {
                c->error = NULL;
                c->error_code = -ENOMEM;
                return -ENOMEM;
        }
        c->error_code = error;
        return error;
}

static int oom(Ctx *c) {
        if (!c->error_code)
                c->error_code = -ENOMEM;
        return -ENOMEM;
}

/* Quotes an identifier or short piece of source for messages; long or odd ones are cut. */
static const char *shown(Ctx *c, const char *s, size_t n) {
        char *p;
        size_t k = MIN(n, (size_t) 64);

        p = arena_alloc(&c->arena, k * 4 + 4);
        if (!p)
                return "…";
        for (size_t i = 0, j = 0; i < k; i++) {
                unsigned char ch = (unsigned char) s[i];
                if (ch >= 0x20 && ch < 0x7f)
                        p[j++] = (char) ch;
                else
                        j += (size_t) sprintf(p + j, "\\x%02x", ch);
                if (i + 1 == k && k < n)
                        strcpy(p + j, "...");
        }
        return p;
}

/* ---- lexer ---- */

static bool is_ident_start(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_ident_char(char ch) {
        return is_ident_start(ch) || (ch >= '0' && ch <= '9');
}

static bool is_digit(char ch) {
        return ch >= '0' && ch <= '9';
}

static int hex_value(char ch) {
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

static bool is_space(char ch) {
        return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

static bool is_operator_char(char ch) {
        return ch && strchr("!$%&*+-./:<=>?@^|~", ch);
}

/* After a number, capnp refuses a letter, '_' or '.' right away ("1x", "1.5.3"). */
static bool number_end_ok(const UserFile *f, size_t i) {
        return i >= f->size || !(is_ident_start(f->data[i]) || f->data[i] == '.');
}

/* What a simple escape such as \n stands for (C's escapes; capnp has no \u). */
static char simple_escape(char ch) {
        static const char table[] = "a\ab\bf\fn\nr\rt\tv\v";

        for (size_t i = 0; i + 1 < sizeof(table); i += 2)
                if (table[i] == ch)
                        return table[i + 1];
        return ch; /* the quotes, the backslash and ? stand for themselves */
}

static int lex_string(Ctx *c, UserFile *f, size_t *i, Token *t) {
        const char *d = f->data;
        size_t n = f->size, start = *i, p = *i + 1, len = 0;
        char *out;

        /* Unescaping never makes a string longer than its source. */
        for (size_t q = p;; q++) {
                if (q >= n || d[q] == '\n')
                        return fail(c, f, start, -EINVAL, "unterminated string");
                if (d[q] == '"')
                        break;
                if (d[q] == '\\')
                        q++;
        }
        out = arena_alloc(&c->arena, MIN(n - start, (size_t) CAPNP_TEXT_MAX_STRING) + 1);
        if (!out)
                return oom(c);

        while (d[p] != '"') {
                char ch = d[p];

                if (len >= CAPNP_TEXT_MAX_STRING)
                        return fail(c, f, start, -E2BIG, "string is longer than %u bytes",
                                CAPNP_TEXT_MAX_STRING);
                if (ch != '\\') {
                        out[len++] = ch;
                        p++;
                        continue;
                }
                ch = d[p + 1];
                switch (ch) {
                case 'a':
                case 'b':
                case 'f':
                case 'n':
                case 'r':
                case 't':
                case 'v':
                case '\'':
                case '"':
                case '\\':
                case '?':
                        out[len++] = simple_escape(ch);
                        p += 2;
                        break;
                case 'x': {
                        int h = p + 2 < n ? hex_value(d[p + 2]) : -1,
                            l = p + 3 < n ? hex_value(d[p + 3]) : -1;
                        if (h < 0 || l < 0)
                                return fail(c, f, p, -EINVAL, "\\x must be followed by two hex digits");
                        out[len++] = (char) (h << 4 | l);
                        p += 4;
                        break;
                }
                default:
                        if (ch >= '0' && ch <= '7') {
                                unsigned v = 0, k = 0;
                                p++;
                                while (k < 3 && p < n && d[p] >= '0' && d[p] <= '7') {
                                        v = v << 3 | (unsigned) (d[p] - '0');
                                        p++;
                                        k++;
                                }
                                out[len++] = (char) v;
                                break;
                        }
                        return fail(c, f, p + 1, -EINVAL, "invalid escape sequence '\\%s'",
                                shown(c, d + p + 1, 1));
                }
        }
        t->kind = TOKEN_STRING;
        t->text = out;
        t->len = len;
        *i = p + 1;
        return 0;
}

static int lex_binary(Ctx *c, UserFile *f, size_t *i, Token *t) {
        const char *d = f->data;
        size_t n = f->size, start = *i, p = *i + 3, len = 0;
        uint8_t *out;

        out = arena_alloc(&c->arena, (n - start) / 2 + 1);
        if (!out)
                return oom(c);
        for (;;) {
                while (p < n && is_space(d[p]))
                        p++;
                if (p >= n)
                        return fail(c, f, start, -EINVAL, "unterminated Data literal");
                if (d[p] == '"')
                        break;
                int h = hex_value(d[p]), l = p + 1 < n ? hex_value(d[p + 1]) : -1;
                if (h < 0 || l < 0)
                        return fail(c, f, p, -EINVAL, "expected two hex digits per byte in Data literal");
                if (len >= CAPNP_TEXT_MAX_STRING)
                        return fail(c, f, start, -E2BIG, "Data literal is longer than %u bytes",
                                CAPNP_TEXT_MAX_STRING);
                out[len++] = (uint8_t) (h << 4 | l);
                p += 2;
        }
        if (len == 0)
                return fail(c, f, start, -EINVAL, "empty Data literal; write \"\" for empty Data");
        t->kind = TOKEN_BINARY;
        t->text = (const char *) out;
        t->len = len;
        *i = p + 1;
        return 0;
}

static int lex_number(Ctx *c, UserFile *f, size_t *i, Token *t) {
        const char *d = f->data;
        size_t n = f->size, start = *i, p = *i;

        /* Integers first, as capnp does: 0x…, 0… (octal), [1-9]… */
        if (d[p] == '0' && p + 1 < n && d[p + 1] == 'x' && p + 2 < n && hex_value(d[p + 2]) >= 0) {
                uint64_t v = 0;
                p += 2;
                while (p < n && hex_value(d[p]) >= 0) {
                        if (v >> 60)
                                return fail(c, f, start, -ERANGE, "integer literal is too large");
                        v = v << 4 | (uint64_t) hex_value(d[p]);
                        p++;
                }
                if (number_end_ok(f, p)) {
                        t->kind = TOKEN_INTEGER;
                        t->integer = v;
                        *i = p;
                        return 0;
                }
                return fail(c, f, start, -EINVAL, "invalid number");
        }

        p = start;
        {
                uint64_t v = 0;
                unsigned base = d[p] == '0' ? 8 : 10;
                bool overflow = false;

                if (base == 8)
                        p++;
                while (p < n && is_digit(d[p]) && (base == 10 || d[p] <= '7')) {
                        unsigned digit = (unsigned) (d[p] - '0');
                        if (v > (UINT64_MAX - digit) / base)
                                overflow = true;
                        v = v * base + digit;
                        p++;
                }
                if (number_end_ok(f, p)) {
                        if (overflow)
                                return fail(c, f, start, -ERANGE, "integer literal is too large");
                        t->kind = TOKEN_INTEGER;
                        t->integer = v;
                        *i = p;
                        return 0;
                }
        }

        /* A float: digits, optional fraction, optional exponent. */
        p = start;
        while (p < n && is_digit(d[p]))
                p++;
        if (p < n && d[p] == '.') {
                p++;
                while (p < n && is_digit(d[p]))
                        p++;
        }
        if (p < n && (d[p] == 'e' || d[p] == 'E')) {
                size_t digits;
                p++;
                if (p < n && (d[p] == '+' || d[p] == '-'))
                        p++;
                digits = p;
                while (p < n && is_digit(d[p]))
                        p++;
                if (p == digits)
                        return fail(c, f, start, -EINVAL, "invalid number");
        }
        if (!number_end_ok(f, p) || p - start > 400)
                return fail(c, f, start, -EINVAL, "invalid number");

        char buf[402];
        memcpy(buf, d + start, p - start);
        buf[p - start] = 0;
        t->kind = TOKEN_FLOAT;
        t->number = strtod(buf, NULL);
        *i = p;
        return 0;
}

static int lex(Ctx *c, UserFile *f) {
        const char *d = f->data;
        size_t n = f->size, i = 0, allocated = 0;
        int r;

        for (;;) {
                Token t = {};

                /* Whitespace, UTF-8 byte order marks and comments. */
                for (;;) {
                        if (i < n && is_space(d[i]))
                                i++;
                        else if (i + 2 < n && (uint8_t) d[i] == 0xef && (uint8_t) d[i + 1] == 0xbb &&
                                 (uint8_t) d[i + 2] == 0xbf)
                                i += 3;
                        else if (i < n && d[i] == '#') {
                                while (i < n && d[i] != '\n')
                                        i++;
                        } else
                                break;
                }

                if (f->n_tokens == allocated) {
                        size_t k = MAX((size_t) 256, allocated * 2);
                        Token *nt;

                        if (allocated >= CAPNP_TEXT_MAX_TOKENS)
                                return fail(c, f, i, -E2BIG, "file has more than %u tokens",
                                        CAPNP_TEXT_MAX_TOKENS);
                        nt = arena_alloc(&c->arena, k * sizeof(Token));
                        if (!nt)
                                return oom(c);
                        if (f->n_tokens > 0)
                                memcpy(nt, f->tokens, f->n_tokens * sizeof(Token));
                        f->tokens = nt;
                        allocated = k;
                }

                t.pos = (uint32_t) i;
                if (i >= n) {
                        t.kind = TOKEN_END;
                        f->tokens[f->n_tokens++] = t;
                        return 0;
                }

                char ch = d[i];
                if (is_ident_start(ch)) {
                        size_t s = i;
                        while (i < n && is_ident_char(d[i]))
                                i++;
                        t.kind = TOKEN_IDENT;
                        t.text = d + s;
                        t.len = i - s;
                } else if (ch == '"') {
                        r = lex_string(c, f, &i, &t);
                        if (r < 0)
                                return r;
                } else if (ch == '0' && i + 2 < n && d[i + 1] == 'x' && d[i + 2] == '"') {
                        r = lex_binary(c, f, &i, &t);
                        if (r < 0)
                                return r;
                } else if (is_digit(ch)) {
                        r = lex_number(c, f, &i, &t);
                        if (r < 0)
                                return r;
                } else if (is_operator_char(ch)) {
                        size_t s = i;
                        while (i < n && is_operator_char(d[i]))
                                i++;
                        t.kind = TOKEN_OPERATOR;
                        t.text = d + s;
                        t.len = i - s;
                } else {
                        static const struct {
                                char ch;
                                TokenKind kind;
                        } punct[] = {
                                {'(', TOKEN_LPAREN},
                                {')', TOKEN_RPAREN},
                                {'[', TOKEN_LBRACKET},
                                {']', TOKEN_RBRACKET},
                                {'{', TOKEN_LBRACE},
                                {'}', TOKEN_RBRACE},
                                {',', TOKEN_COMMA},
                                {';', TOKEN_SEMICOLON},
                        };
                        bool found = false;

                        for (size_t k = 0; k < ELEMENTSOF(punct); k++)
                                if (punct[k].ch == ch) {
                                        t.kind = punct[k].kind;
                                        found = true;
                                        break;
                                }
                        if (!found) {
                                if (ch == 0 || (uint8_t) ch == 0xff || (uint8_t) ch == 0xfe)
                                        return fail(c, f, i, -EINVAL,
                                                "non-UTF-8 input; Cap'n Proto schema files must be UTF-8 "
                                                "text");
                                return fail(
                                        c, f, i, -EINVAL, "unexpected character '%s'", shown(c, d + i, 1));
                        }
                        i++;
                }
                f->tokens[f->n_tokens++] = t;
        }
}

/* ---- parser ---- */

typedef struct Parser {
        Ctx *c;
        UserFile *f;
        size_t i;
        unsigned depth;
} Parser;

static const Token *peek(const Parser *p) {
        return &p->f->tokens[p->i];
}

static const Token *peek_at(const Parser *p, size_t k) {
        size_t j = MIN(p->i + k, p->f->n_tokens - 1);
        return &p->f->tokens[j];
}

static const Token *next(Parser *p) {
        const Token *t = &p->f->tokens[p->i];
        if (t->kind != TOKEN_END)
                p->i++;
        return t;
}

static bool token_is_op(const Token *t, const char *op) {
        return t->kind == TOKEN_OPERATOR && t->len == strlen(op) && memcmp(t->text, op, t->len) == 0;
}

static bool token_is_ident(const Token *t, const char *id) {
        return t->kind == TOKEN_IDENT && t->len == strlen(id) && memcmp(t->text, id, t->len) == 0;
}

static const char *token_describe(Parser *p, const Token *t) {
        switch (t->kind) {
        case TOKEN_END:
                return "end of file";
        case TOKEN_IDENT:
        case TOKEN_OPERATOR: {
                const char *s = shown(p->c, t->text, t->len);
                char *q = arena_alloc(&p->c->arena, strlen(s) + 3);
                if (!q)
                        return "token";
                sprintf(q, "'%s'", s);
                return q;
        }
        case TOKEN_STRING:
                return "a string";
        case TOKEN_BINARY:
                return "a Data literal";
        case TOKEN_INTEGER:
                return "an integer";
        case TOKEN_FLOAT:
                return "a number";
        case TOKEN_LPAREN:
                return "'('";
        case TOKEN_RPAREN:
                return "')'";
        case TOKEN_LBRACKET:
                return "'['";
        case TOKEN_RBRACKET:
                return "']'";
        case TOKEN_LBRACE:
                return "'{'";
        case TOKEN_RBRACE:
                return "'}'";
        case TOKEN_COMMA:
                return "','";
        case TOKEN_SEMICOLON:
                return "';'";
        }
        return "token";
}

static int expected(Parser *p, const char *what) {
        const Token *t = peek(p);
        return fail(p->c, p->f, t->pos, -EINVAL, "expected %s, got %s", what, token_describe(p, t));
}

static Expr *expr_new(Parser *p, ExprKind kind, uint32_t pos) {
        Expr *e = arena_alloc(&p->c->arena, sizeof(Expr));
        if (e) {
                e->kind = kind;
                e->pos = pos;
        }
        return e;
}

static int parse_expr(Parser *p, Expr **ret);

/* '(' or '[' already consumed: comma-separated items up to close, a trailing comma allowed. Named
 * items ("name = value") only when named is set. */
static int parse_items(Parser *p, TokenKind close, bool named, Param **ret, size_t *ret_n) {
        Param *items = NULL;
        size_t n = 0, allocated = 0;
        int r;

        if (p->depth >= CAPNP_TEXT_MAX_DEPTH)
                return fail(p->c, p->f, p->f->tokens[p->i - 1].pos, -ELOOP, "nesting deeper than %u levels",
                        CAPNP_TEXT_MAX_DEPTH);
        p->depth++;

        while (peek(p)->kind != close) {
                Param item = {};

                if (n == allocated) {
                        size_t k = MAX((size_t) 4, allocated * 2);
                        Param *ni = arena_alloc(&p->c->arena, k * sizeof(Param));
                        if (!ni)
                                return oom(p->c);
                        if (n > 0)
                                memcpy(ni, items, n * sizeof(Param));
                        items = ni;
                        allocated = k;
                }

                if (named && peek(p)->kind == TOKEN_IDENT && token_is_op(peek_at(p, 1), "=")) {
                        const Token *t = next(p);
                        item.name = arena_strndup(&p->c->arena, t->text, t->len);
                        if (!item.name)
                                return oom(p->c);
                        item.name_len = t->len;
                        item.name_pos = t->pos;
                        next(p);
                }
                r = parse_expr(p, &item.value);
                if (r < 0)
                        return r;
                items[n++] = item;

                if (peek(p)->kind == TOKEN_COMMA)
                        next(p);
                else if (peek(p)->kind != close)
                        return expected(p, close == TOKEN_RPAREN ? "',' or ')'" : "',' or ']'");
        }
        next(p);
        p->depth--;
        *ret = items;
        *ret_n = n;
        return 0;
}

static int parse_expr(Parser *p, Expr **ret) {
        const Token *t = peek(p);
        Expr *e = NULL;
        int r;

        switch (t->kind) {
        case TOKEN_INTEGER:
                next(p);
                e = expr_new(p, EXPR_INT, t->pos);
                if (!e)
                        return oom(p->c);
                e->integer = t->integer;
                break;

        case TOKEN_FLOAT:
                next(p);
                e = expr_new(p, EXPR_FLOAT, t->pos);
                if (!e)
                        return oom(p->c);
                e->number = t->number;
                break;

        case TOKEN_OPERATOR:
                if (token_is_op(t, "-")) {
                        const Token *v = peek_at(p, 1);

                        if (v->kind == TOKEN_INTEGER) {
                                e = expr_new(p, EXPR_NEG_INT, t->pos);
                                if (!e)
                                        return oom(p->c);
                                e->integer = v->integer;
                                e->name_pos = v->pos;
                        } else if (v->kind == TOKEN_FLOAT || token_is_ident(v, "inf")) {
                                e = expr_new(p, EXPR_FLOAT, t->pos);
                                if (!e)
                                        return oom(p->c);
                                e->number = v->kind == TOKEN_FLOAT ? -v->number : -INFINITY;
                        } else
                                return fail(p->c, p->f, v->pos, -EINVAL,
                                        "expected a number after '-', got %s", token_describe(p, v));
                        next(p);
                        next(p);
                        break;
                }
                if (token_is_op(t, ".")) {
                        const Token *v = peek_at(p, 1);

                        if (v->kind != TOKEN_IDENT)
                                return fail(p->c, p->f, v->pos, -EINVAL, "expected a name after '.', got %s",
                                        token_describe(p, v));
                        e = expr_new(p, EXPR_ABS_NAME, t->pos);
                        if (!e)
                                return oom(p->c);
                        e->name_pos = v->pos;
                        e->text = arena_strndup(&p->c->arena, v->text, v->len);
                        if (!e->text)
                                return oom(p->c);
                        e->len = v->len;
                        next(p);
                        next(p);
                        break;
                }
                return expected(p, "a value");

        case TOKEN_STRING: {
                /* Adjacent strings concatenate. */
                size_t total = 0, k = 0;
                char *s;

                for (const Token *q = t; q->kind == TOKEN_STRING; q = peek_at(p, ++k)) {
                        total += q->len;
                        if (total > CAPNP_TEXT_MAX_STRING)
                                return fail(p->c, p->f, t->pos, -E2BIG, "string is longer than %u bytes",
                                        CAPNP_TEXT_MAX_STRING);
                }
                if (k == 1)
                        s = (char *) t->text;
                else {
                        s = arena_alloc(&p->c->arena, total + 1);
                        if (!s)
                                return oom(p->c);
                        total = 0;
                        for (size_t j = 0; j < k; j++) {
                                const Token *q = peek_at(p, j);
                                memcpy(s + total, q->text, q->len);
                                total += q->len;
                        }
                }
                e = expr_new(p, EXPR_STRING, t->pos);
                if (!e)
                        return oom(p->c);
                e->text = s;
                e->len = total;
                for (size_t j = 0; j < k; j++)
                        next(p);
                break;
        }

        case TOKEN_BINARY:
                next(p);
                e = expr_new(p, EXPR_BINARY, t->pos);
                if (!e)
                        return oom(p->c);
                e->text = t->text;
                e->len = t->len;
                break;

        case TOKEN_LBRACKET:
                next(p);
                e = expr_new(p, EXPR_LIST, t->pos);
                if (!e)
                        return oom(p->c);
                r = parse_items(p, TOKEN_RBRACKET, false, &e->params, &e->n_params);
                if (r < 0)
                        return r;
                break;

        case TOKEN_LPAREN:
                next(p);
                e = expr_new(p, EXPR_TUPLE, t->pos);
                if (!e)
                        return oom(p->c);
                r = parse_items(p, TOKEN_RPAREN, true, &e->params, &e->n_params);
                if (r < 0)
                        return r;
                /* "(x)" is just x. */
                if (e->n_params == 1 && !e->params[0].name)
                        e = e->params[0].value;
                break;

        case TOKEN_IDENT:
                if ((token_is_ident(t, "import") || token_is_ident(t, "embed")) &&
                        peek_at(p, 1)->kind == TOKEN_STRING) {
                        const Token *s = peek_at(p, 1);

                        e = expr_new(p, token_is_ident(t, "import") ? EXPR_IMPORT : EXPR_EMBED, t->pos);
                        if (!e)
                                return oom(p->c);
                        if (memchr(s->text, 0, s->len) || s->len == 0)
                                return fail(p->c, p->f, s->pos, -EINVAL, "invalid file name");
                        e->name_pos = s->pos;
                        e->text = s->text;
                        e->len = s->len;
                        next(p);
                        next(p);
                        break;
                }
                next(p);
                e = expr_new(p, EXPR_REL_NAME, t->pos);
                if (!e)
                        return oom(p->c);
                e->name_pos = t->pos;
                e->text = arena_strndup(&p->c->arena, t->text, t->len);
                if (!e->text)
                        return oom(p->c);
                e->len = t->len;
                break;

        default:
                return expected(p, "a value");
        }

        /* Suffixes: ".member" and "(params)". */
        for (;;) {
                const Token *s = peek(p);

                if (token_is_op(s, ".")) {
                        const Token *v = peek_at(p, 1);
                        Expr *m;

                        if (v->kind != TOKEN_IDENT)
                                return fail(p->c, p->f, v->pos, -EINVAL, "expected a name after '.', got %s",
                                        token_describe(p, v));
                        m = expr_new(p, EXPR_MEMBER, e->pos);
                        if (!m)
                                return oom(p->c);
                        m->name_pos = v->pos;
                        m->base = e;
                        m->text = arena_strndup(&p->c->arena, v->text, v->len);
                        if (!m->text)
                                return oom(p->c);
                        m->len = v->len;
                        next(p);
                        next(p);
                        e = m;
                } else if (s->kind == TOKEN_LPAREN) {
                        Expr *a = expr_new(p, EXPR_APPLICATION, s->pos);

                        if (!a)
                                return oom(p->c);
                        next(p);
                        a->base = e;
                        r = parse_items(p, TOKEN_RPAREN, true, &a->params, &a->n_params);
                        if (r < 0)
                                return r;
                        e = a;
                } else
                        break;
        }

        *ret = e;
        return 0;
}

/* Annotations: "$name", "$name(value)", "$Scope.name(value)". Parsed and dropped. */
static int skip_annotations(Parser *p) {
        while (token_is_op(peek(p), "$")) {
                Expr *e;
                int r;

                next(p);
                if (peek(p)->kind != TOKEN_IDENT && !token_is_op(peek(p), "."))
                        return expected(p, "an annotation name");
                r = parse_expr(p, &e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Skips a statement we do not evaluate: up to its ';' or over its '{ … }' block. */
static int skip_statement(Parser *p) {
        unsigned depth = 0;

        for (;;) {
                const Token *t = next(p);

                switch (t->kind) {
                case TOKEN_END:
                        return fail(p->c, p->f, t->pos, -EINVAL, "unexpected end of file");
                case TOKEN_LBRACE:
                        depth++;
                        break;
                case TOKEN_RBRACE:
                        if (depth == 0)
                                return fail(p->c, p->f, t->pos, -EINVAL, "unexpected '}'");
                        if (--depth == 0)
                                return 0; /* a block ends its statement */
                        break;
                case TOKEN_SEMICOLON:
                        if (depth == 0)
                                return 0;
                        break;
                default:
                        break;
                }
        }
}

/* capnp's naming rules, which it enforces: camelCase, constants lower-case, imports capitalized. */
static int check_name(Parser *p, const Decl *d) {
        if (memchr(d->name, '_', d->name_len))
                return fail(p->c, p->f, d->pos, -EINVAL,
                        "names must be camelCase and must not contain underscores, as Cap'n Proto requires");
        if (d->kind == DECL_CONST && !(d->name[0] >= 'a' && d->name[0] <= 'z'))
                return fail(
                        p->c, p->f, d->pos, -EINVAL, "constant names must begin with a lower-case letter");
        if (d->kind == DECL_USING && d->value->kind == EXPR_IMPORT &&
                !(d->name[0] >= 'A' && d->name[0] <= 'Z'))
                return fail(
                        p->c, p->f, d->pos, -EINVAL, "names of imports must begin with a capital letter");
        return 0;
}

static int add_decl(Parser *p, Decl *d) {
        int r;

        r = check_name(p, d);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->f->n_decls; i++)
                if (streq(p->f->decls[i]->name, d->name))
                        return fail(p->c, p->f, d->pos, -EINVAL, "'%s' is already defined in this file",
                                shown(p->c, d->name, d->name_len));
        if ((p->f->n_decls & (p->f->n_decls - 1)) == 0) {
                size_t k = MAX((size_t) 8, p->f->n_decls * 2);
                Decl **nd = arena_alloc(&p->c->arena, k * sizeof(Decl *));
                if (!nd)
                        return oom(p->c);
                if (p->f->n_decls > 0)
                        memcpy(nd, p->f->decls, p->f->n_decls * sizeof(Decl *));
                p->f->decls = nd;
        }
        d->file = p->f;
        p->f->decls[p->f->n_decls++] = d;
        return 0;
}

static Decl *decl_new(Parser *p, DeclKind kind, const Token *name) {
        Decl *d = arena_alloc(&p->c->arena, sizeof(Decl));
        if (!d)
                return NULL;
        d->kind = kind;
        d->name = arena_strndup(&p->c->arena, name->text, name->len);
        if (!d->name)
                return NULL;
        d->name_len = name->len;
        d->pos = name->pos;
        return d;
}

static int parse_file(Ctx *c, UserFile *f) {
        Parser p = {.c = c, .f = f};
        bool have_id = false;
        int r;

        for (;;) {
                const Token *t = peek(&p);

                if (t->kind == TOKEN_END)
                        break;

                if (token_is_op(t, "@")) {
                        const Token *id = peek_at(&p, 1);

                        if (id->kind != TOKEN_INTEGER)
                                return fail(c, f, id->pos, -EINVAL, "expected a file id after '@'");
                        if (have_id)
                                return fail(c, f, t->pos, -EINVAL, "file can only have one id");
                        if (!(id->integer & (UINT64_C(1) << 63)))
                                return fail(c, f, id->pos, -EINVAL,
                                        "invalid file id: the top bit must be set (generate one with 'capnp "
                                        "id')");
                        have_id = true;
                        next(&p);
                        next(&p);
                        r = skip_annotations(&p);
                        if (r < 0)
                                return r;
                        if (peek(&p)->kind != TOKEN_SEMICOLON)
                                return expected(&p, "';'");
                        next(&p);
                        continue;
                }

                if (token_is_op(t, "$")) {
                        r = skip_annotations(&p);
                        if (r < 0)
                                return r;
                        if (peek(&p)->kind != TOKEN_SEMICOLON)
                                return expected(&p, "';'");
                        next(&p);
                        continue;
                }

                if (token_is_ident(t, "using")) {
                        const Token *name = peek_at(&p, 1);
                        Decl *d;

                        if (name->kind != TOKEN_IDENT || !token_is_op(peek_at(&p, 2), "="))
                                return fail(c, f, name->pos, -EINVAL, "expected 'using Name = …;'");
                        d = decl_new(&p, DECL_USING, name);
                        if (!d)
                                return oom(c);
                        next(&p);
                        next(&p);
                        next(&p);
                        r = parse_expr(&p, &d->value);
                        if (r < 0)
                                return r;
                        if (peek(&p)->kind != TOKEN_SEMICOLON)
                                return expected(&p, "';'");
                        next(&p);
                        r = add_decl(&p, d);
                        if (r < 0)
                                return r;
                        continue;
                }

                if (token_is_ident(t, "const")) {
                        const Token *name = peek_at(&p, 1);
                        Decl *d;

                        if (name->kind != TOKEN_IDENT)
                                return fail(c, f, name->pos, -EINVAL, "expected a constant name, got %s",
                                        token_describe(&p, name));
                        d = decl_new(&p, DECL_CONST, name);
                        if (!d)
                                return oom(c);
                        next(&p);
                        next(&p);
                        if (!token_is_op(peek(&p), ":"))
                                return expected(&p, "':' and the constant's type");
                        next(&p);
                        r = parse_expr(&p, &d->type);
                        if (r < 0)
                                return r;
                        if (!token_is_op(peek(&p), "="))
                                return expected(&p, "'='");
                        next(&p);
                        r = parse_expr(&p, &d->value);
                        if (r < 0)
                                return r;
                        r = skip_annotations(&p);
                        if (r < 0)
                                return r;
                        if (peek(&p)->kind != TOKEN_SEMICOLON)
                                return expected(&p, "';'");
                        next(&p);
                        r = add_decl(&p, d);
                        if (r < 0)
                                return r;
                        continue;
                }

                if (token_is_ident(t, "struct") || token_is_ident(t, "enum") ||
                        token_is_ident(t, "interface") || token_is_ident(t, "annotation")) {
                        const Token *name = peek_at(&p, 1);
                        Decl *d;

                        if (name->kind != TOKEN_IDENT)
                                return fail(c, f, name->pos, -EINVAL, "expected a name, got %s",
                                        token_describe(&p, name));
                        d = decl_new(&p, DECL_UNSUPPORTED, name);
                        if (!d)
                                return oom(c);
                        d->what = arena_strndup(&c->arena, t->text, t->len);
                        if (!d->what)
                                return oom(c);
                        r = skip_statement(&p);
                        if (r < 0)
                                return r;
                        r = add_decl(&p, d);
                        if (r < 0)
                                return r;
                        continue;
                }

                return expected(&p, "a declaration ('using', 'const', …)");
        }

        if (!have_id)
                return fail(c, f, 0, -EINVAL,
                        "file does not declare an id; add a line '@0x…;' with one from 'capnp id'");
        return 0;
}

/* ---- files ---- */

static UserFile *file_new(Ctx *c, const char *path, const char *data, size_t size) {
        _cleanup_free_ char *dir = NULL;
        UserFile *f;

        dir = path_dirname(path);
        if (!dir)
                return NULL;
        f = arena_alloc(&c->arena, sizeof(UserFile));
        if (!f)
                return NULL;
        f->path = arena_strndup(&c->arena, path, strlen(path));
        f->dir = arena_strndup(&c->arena, dir, strlen(dir));
        if (!f->path || !f->dir)
                return NULL;
        f->data = data;
        f->size = size;
        f->next = c->files;
        c->files = f;
        c->n_files++;
        return f;
}

static int file_parse(Ctx *c, UserFile *f) {
        int r;

        if (f->size > CAPNP_TEXT_MAX_FILE_SIZE)
                return fail(c, f, -1, -EFBIG, "file is larger than %u bytes", CAPNP_TEXT_MAX_FILE_SIZE);
        r = lex(c, f);
        if (r < 0)
                return r;
        return parse_file(c, f);
}

/* Loads a user file named by an import at (from, pos); files are loaded once per evaluation. */
static int file_import(Ctx *c, const UserFile *from, uint32_t pos, const char *path, UserFile **ret) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        UserFile *f;
        int r;

        for (f = c->files; f; f = f->next)
                if (streq(f->path, path)) {
                        *ret = f;
                        return 0;
                }
        if (c->n_files >= CAPNP_TEXT_MAX_FILES)
                return fail(c, from, pos, -E2BIG, "more than %u files imported", CAPNP_TEXT_MAX_FILES);

        r = read_full_file_at(AT_FDCWD, path, CAPNP_TEXT_MAX_FILE_SIZE, &data, &size);
        if (r == -EFBIG)
                return fail(c, from, pos, r, "imported file '%s' is larger than %u bytes", path,
                        CAPNP_TEXT_MAX_FILE_SIZE);
        if (r < 0)
                return fail(c, from, pos, r, "cannot read imported file '%s': %s", path, strerror(-r));
        if (arena_adopt(&c->arena, data) < 0)
                return oom(c);
        f = file_new(c, path, TAKE_PTR(data), size);
        if (!f)
                return oom(c);
        r = file_parse(c, f);
        if (r < 0)
                return r;
        *ret = f;
        return 0;
}

static Decl *file_find_decl(const UserFile *f, const char *name, size_t len) {
        for (size_t i = 0; i < f->n_decls; i++)
                if (f->decls[i]->name_len == len && memcmp(f->decls[i]->name, name, len) == 0)
                        return f->decls[i];
        return NULL;
}

/* ---- names ---- */

/* "Spk.Manifest.Command", ".myCommand": the source form of a name expression, for messages. */
static const char *expr_name(Ctx *c, const Expr *e) {
        char buf[256];
        size_t n = 0;
        const Expr *parts[16];
        size_t k = 0;

        for (const Expr *x = e; x && k < ELEMENTSOF(parts); x = x->kind == EXPR_MEMBER ? x->base : NULL)
                parts[k++] = x;
        buf[0] = 0;
        while (k > 0 && n < sizeof(buf) - 1) {
                const Expr *x = parts[--k];
                const char *s;

                switch (x->kind) {
                case EXPR_ABS_NAME:
                        n += (size_t) snprintf(buf + n, sizeof(buf) - n, ".%s", x->text);
                        break;
                case EXPR_REL_NAME:
                        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s", x->text);
                        break;
                case EXPR_MEMBER:
                        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s%s", n > 0 ? "." : "", x->text);
                        break;
                case EXPR_IMPORT:
                        s = shown(c, x->text, x->len);
                        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "import \"%s\"", s);
                        break;
                default:
                        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "(…)");
                }
        }
        return arena_strndup(&c->arena, buf, strlen(buf)) ?: "…";
}

static int resolve(Ctx *c, UserFile *f, const Expr *e, unsigned depth, Entity *ret);

static int resolve_decl(Ctx *c, Decl *d, unsigned depth, Entity *ret) {
        if (d->kind == DECL_USING)
                return resolve(c, d->file, d->value, depth + 1, ret);
        *ret = (Entity){.kind = ENTITY_DECL, .decl = d, .file = d->file};
        return 0;
}

static int resolve_import(Ctx *c, UserFile *f, const Expr *e, Entity *ret) {
        const char *path = e->text;
        UserFile *g;
        int r;

        if (path[0] == '/') {
                const CapnpSchemaFile *sf = capnp_schema_file_find(path);

                if (sf) {
                        *ret = (Entity){.kind = ENTITY_SCHEMA_FILE, .schema_file = sf};
                        return 0;
                }
                if (!c->opts->no_files && c->opts->import_path)
                        for (char *const *dir = c->opts->import_path; *dir; dir++) {
                                _cleanup_free_ char *p = path_join(*dir, path + 1);

                                if (!p)
                                        return oom(c);
                                if (file_exists(p)) {
                                        r = file_import(c, f, e->name_pos, p, &g);
                                        if (r < 0)
                                                return r;
                                        *ret = (Entity){.kind = ENTITY_USER_FILE, .file = g};
                                        return 0;
                                }
                        }
                return fail(c, f, e->name_pos, -ENOENT,
                        "cannot find '%s'; built in are /sandstorm/{package,util,grain,powerbox,api-session,"
                        "identity,activity}.capnp",
                        shown(c, path, e->len));
        }

        if (c->opts->no_files)
                return fail(c, f, e->name_pos, -EPERM, "importing other files is disabled");
        _cleanup_free_ char *p = path_join(f->dir, path);
        if (!p)
                return oom(c);
        r = file_import(c, f, e->name_pos, p, &g);
        if (r < 0)
                return r;
        *ret = (Entity){.kind = ENTITY_USER_FILE, .file = g};
        return 0;
}

static int resolve_member(
        Ctx *c, UserFile *f, const Expr *e, const Entity *base, unsigned depth, Entity *ret) {
        const char *name = e->text;
        Decl *d;

        switch (base->kind) {
        case ENTITY_USER_FILE:
                d = file_find_decl(base->file, name, e->len);
                if (!d)
                        return fail(c, f, e->name_pos, -ENOENT, "'%s' is not defined in '%s'", name,
                                base->file->path);
                return resolve_decl(c, d, depth, ret);

        case ENTITY_SCHEMA_FILE: {
                const CapnpSchemaNode *n = capnp_schema_file_lookup(base->schema_file, name, e->len);
                if (!n)
                        return fail(c, f, e->name_pos, -ENOENT, "'%s' is not defined in /sandstorm/%s", name,
                                base->schema_file->name);
                *ret = (Entity){.kind = ENTITY_SCHEMA_NODE, .schema_file = base->schema_file, .node = n};
                return 0;
        }

        case ENTITY_SCHEMA_NODE: {
                const CapnpSchemaNode *n = NULL;
                char q[256];

                if ((base->node->kind == CAPNP_SCHEMA_NODE_STRUCT ||
                            base->node->kind == CAPNP_SCHEMA_NODE_ENUM ||
                            base->node->kind == CAPNP_SCHEMA_NODE_INTERFACE) &&
                        snprintf(q, sizeof(q), "%s.%s", base->node->name, name) < (int) sizeof(q))
                        n = capnp_schema_file_lookup(base->schema_file, q, strlen(q));
                if (!n)
                        return fail(c, f, e->name_pos, -ENOENT, "'%s' has no member named '%s'",
                                base->node->name, name);
                *ret = (Entity){.kind = ENTITY_SCHEMA_NODE, .schema_file = base->schema_file, .node = n};
                return 0;
        }

        default:
                return fail(c, f, e->pos, -EINVAL, "'%s' has no members", expr_name(c, e->base));
        }
}

static int resolve(Ctx *c, UserFile *f, const Expr *e, unsigned depth, Entity *ret) {
        Entity base;
        Decl *d;
        int r;

        if (depth > CAPNP_TEXT_MAX_RESOLVE_DEPTH)
                return fail(
                        c, f, e->pos, -ELOOP, "names refer to each other too deeply (a cycle of 'using'?)");

        switch (e->kind) {
        case EXPR_REL_NAME:
                d = file_find_decl(f, e->text, e->len);
                if (d)
                        return resolve_decl(c, d, depth, ret);
                if (streq(e->text, "List")) {
                        *ret = (Entity){.kind = ENTITY_LIST_TYPE};
                        return 0;
                }
                const CapnpType *t = capnp_type_builtin(e->text, e->len);
                if (t) {
                        *ret = (Entity){.kind = ENTITY_BUILTIN_TYPE, .type = t};
                        return 0;
                }
                return fail(c, f, e->name_pos, -ENOENT, "'%s' is not defined", e->text);

        case EXPR_ABS_NAME:
                d = file_find_decl(f, e->text, e->len);
                if (!d)
                        return fail(c, f, e->name_pos, -ENOENT, "'%s' is not defined in this file", e->text);
                return resolve_decl(c, d, depth, ret);

        case EXPR_IMPORT:
                return resolve_import(c, f, e, ret);

        case EXPR_MEMBER:
                r = resolve(c, f, e->base, depth + 1, &base);
                if (r < 0)
                        return r;
                return resolve_member(c, f, e, &base, depth, ret);

        case EXPR_APPLICATION:
                *ret = (Entity){.kind = ENTITY_TYPE_EXPR, .file = f, .expr = e};
                return 0;

        default:
                return fail(c, f, e->pos, -EINVAL, "expected a name");
        }
}

static int resolve_type(Ctx *c, UserFile *f, const Expr *e, unsigned depth, const CapnpType **ret) {
        Entity ent;
        int r;

        if (depth > CAPNP_TEXT_MAX_DEPTH)
                return fail(c, f, e->pos, -ELOOP, "type refers to itself or nests too deeply");

        if (e->kind == EXPR_APPLICATION) {
                const CapnpType *element;
                CapnpType *t;

                r = resolve(c, f, e->base, 0, &ent);
                if (r < 0)
                        return r;
                if (ent.kind != ENTITY_LIST_TYPE)
                        return fail(c, f, e->pos, -EINVAL, "generic types are not supported");
                if (e->n_params != 1 || e->params[0].name)
                        return fail(c, f, e->pos, -EINVAL, "List takes exactly one type: List(T)");
                r = resolve_type(c, f, e->params[0].value, depth + 1, &element);
                if (r < 0)
                        return r;
                t = arena_alloc(&c->arena, sizeof(CapnpType));
                if (!t)
                        return oom(c);
                t->kind = CAPNP_TYPE_LIST;
                t->element = element;
                *ret = t;
                return 0;
        }

        if (!(e->kind == EXPR_REL_NAME || e->kind == EXPR_ABS_NAME || e->kind == EXPR_MEMBER))
                return fail(c, f, e->pos, -EINVAL, "expected a type");
        r = resolve(c, f, e, 0, &ent);
        if (r < 0)
                return r;
        switch (ent.kind) {
        case ENTITY_BUILTIN_TYPE:
                *ret = ent.type;
                return 0;
        case ENTITY_TYPE_EXPR:
                return resolve_type(c, ent.file, ent.expr, depth + 1, ret);
        case ENTITY_SCHEMA_NODE:
                if (ent.node->kind == CAPNP_SCHEMA_NODE_CONST)
                        break;
                *ret = &ent.node->type;
                return 0;
        case ENTITY_LIST_TYPE:
                return fail(c, f, e->pos, -EINVAL, "List needs an element type: List(T)");
        case ENTITY_DECL:
                if (ent.decl->kind == DECL_UNSUPPORTED)
                        return fail(c, f, e->pos, -EOPNOTSUPP,
                                "'%s' is a %s defined in a text file; only the types of the built-in "
                                "Sandstorm "
                                "schemas can be used",
                                expr_name(c, e), ent.decl->what);
                break;
        default:
                break;
        }
        return fail(c, f, e->pos, -EINVAL, "'%s' is not a type", expr_name(c, e));
}

/* ---- values ---- */

static Value *value_new(Ctx *c, ValueKind kind, const CapnpType *type) {
        Value *v = arena_alloc(&c->arena, sizeof(Value));
        if (v) {
                v->kind = kind;
                v->type = type;
                v->which = -1;
        }
        return v;
}

static const char *type_name(Ctx *c, const CapnpType *t) {
        char buf[256];
        capnp_type_name(t, buf, sizeof(buf));
        return arena_strndup(&c->arena, buf, strlen(buf)) ?: "?";
}

static bool type_is_int(const CapnpType *t, int64_t *ret_min, uint64_t *ret_max) {
        static const struct {
                CapnpTypeKind kind;
                int64_t min;
                uint64_t max;
        } table[] = {
                {CAPNP_TYPE_INT8, INT8_MIN, INT8_MAX},
                {CAPNP_TYPE_INT16, INT16_MIN, INT16_MAX},
                {CAPNP_TYPE_INT32, INT32_MIN, INT32_MAX},
                {CAPNP_TYPE_INT64, INT64_MIN, INT64_MAX},
                {CAPNP_TYPE_UINT8, 0, UINT8_MAX},
                {CAPNP_TYPE_UINT16, 0, UINT16_MAX},
                {CAPNP_TYPE_UINT32, 0, UINT32_MAX},
                {CAPNP_TYPE_UINT64, 0, UINT64_MAX},
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].kind == t->kind) {
                        *ret_min = table[i].min;
                        *ret_max = table[i].max;
                        return true;
                }
        return false;
}

static bool type_is_float(const CapnpType *t) {
        return t->kind == CAPNP_TYPE_FLOAT32 || t->kind == CAPNP_TYPE_FLOAT64;
}

static double float_round(const CapnpType *t, double d) {
        return t->kind == CAPNP_TYPE_FLOAT32 ? (double) (float) d : d;
}

/* Checks v against the expected type and converts numbers, as capnp's compiler does once a value is
 * known. what describes v for messages. */
static int coerce(Ctx *c, const UserFile *f, uint32_t pos, Value *v, const CapnpType *type, const char *what,
        Value **ret) {
        int64_t min;
        uint64_t max;
        Value *n;

        if (v->type && capnp_type_equal(v->type, type)) {
                *ret = v;
                return 0;
        }

        switch (v->kind) {
        case VALUE_VOID:
        case VALUE_BOOL:
        case VALUE_TEXT:
        case VALUE_DATA:
                if ((v->kind == VALUE_VOID && type->kind == CAPNP_TYPE_VOID) ||
                        (v->kind == VALUE_BOOL && type->kind == CAPNP_TYPE_BOOL) ||
                        (v->kind == VALUE_TEXT && type->kind == CAPNP_TYPE_TEXT) ||
                        (v->kind == VALUE_DATA && type->kind == CAPNP_TYPE_DATA)) {
                        n = value_new(c, v->kind, type);
                        if (!n)
                                return oom(c);
                        n->u = v->u;
                        n->bytes = v->bytes;
                        n->len = v->len;
                        n->depth = v->depth;
                        *ret = n;
                        return 0;
                }
                break;

        case VALUE_INT:
                if (type_is_int(type, &min, &max)) {
                        if (v->negative ? (min == 0 || v->u > (uint64_t) 0 - (uint64_t) min) : v->u > max)
                                return fail(c, f, pos, -ERANGE,
                                        "integer %s%" PRIu64 " is out of range for %s",
                                        v->negative ? "-" : "", v->u, type_name(c, type));
                        n = value_new(c, VALUE_INT, type);
                        if (!n)
                                return oom(c);
                        n->negative = v->negative;
                        n->u = v->u;
                        *ret = n;
                        return 0;
                }
                if (type_is_float(type)) {
                        n = value_new(c, VALUE_FLOAT, type);
                        if (!n)
                                return oom(c);
                        n->f = float_round(type, v->negative ? -(double) v->u : (double) v->u);
                        *ret = n;
                        return 0;
                }
                break;

        case VALUE_FLOAT:
                if (type_is_float(type)) {
                        n = value_new(c, VALUE_FLOAT, type);
                        if (!n)
                                return oom(c);
                        n->f = float_round(type, v->f);
                        *ret = n;
                        return 0;
                }
                break;

        case VALUE_ENUM:
        case VALUE_LIST:
        case VALUE_STRUCT:
                /* Same type was handled above; AnyPointer takes a struct or a list. */
                if (type->kind == CAPNP_TYPE_ANY_POINTER && v->kind != VALUE_ENUM) {
                        *ret = v;
                        return 0;
                }
                break;
        }

        return fail(c, f, pos, -EINVAL, "expected %s, got %s", type_name(c, type), what);
}

static int check_depth(Ctx *c, const UserFile *f, uint32_t pos, Value *v) {
        if (v->depth > CAPNP_TEXT_MAX_VALUE_DEPTH)
                return fail(
                        c, f, pos, -ELOOP, "value nests deeper than %u levels", CAPNP_TEXT_MAX_VALUE_DEPTH);
        return 0;
}

static int eval(Ctx *c, UserFile *f, const Expr *e, const CapnpType *type, unsigned depth, Value **ret);

static int eval_const(Ctx *c, Decl *d, Value **ret);

static int schema_const_value(Ctx *c, const CapnpSchemaNode *n, Value **ret) {
        Value *v;

        switch (n->type.kind) {
        case CAPNP_TYPE_TEXT:
        case CAPNP_TYPE_DATA:
                v = value_new(c, n->type.kind == CAPNP_TYPE_TEXT ? VALUE_TEXT : VALUE_DATA, &n->type);
                if (!v)
                        return oom(c);
                v->bytes = n->value_bytes;
                v->len = n->value_size;
                v->depth = 1;
                break;
        default:
                v = value_new(c, VALUE_INT, &n->type);
                if (!v)
                        return oom(c);
                v->u = n->value_bits;
        }
        *ret = v;
        return 0;
}

static const char *value_what(Ctx *c, const Value *v) {
        const char *t = v->type ? type_name(c, v->type) : "?";
        char *s = arena_alloc(&c->arena, strlen(t) + 32);
        if (!s)
                return "a constant";
        sprintf(s, "a constant of type %s", t);
        return s;
}

/* A reference to a constant: ".name", "Scope.name", "import \"x\".name". */
static int eval_reference(Ctx *c, UserFile *f, const Expr *e, const CapnpType *type, Value **ret) {
        Entity ent;
        Value *v;
        int r;

        r = resolve(c, f, e, 0, &ent);
        if (r < 0)
                return r;
        if (ent.kind == ENTITY_DECL && ent.decl->kind == DECL_CONST)
                r = eval_const(c, ent.decl, &v);
        else if (ent.kind == ENTITY_SCHEMA_NODE && ent.node->kind == CAPNP_SCHEMA_NODE_CONST)
                r = schema_const_value(c, ent.node, &v);
        else
                return fail(c, f, e->pos, -EINVAL, "'%s' does not refer to a constant", expr_name(c, e));
        if (r < 0)
                return r;
        /* capnp stores an enum constant as a bare number, which then matches no enum type: the
         * compiler rejects every use of one. So do we, or pkgdefs would not be portable. */
        if (v->kind == VALUE_ENUM)
                return fail(c, f, e->pos, -EINVAL,
                        "expected %s, got a constant of enum type, which Cap'n Proto cannot use as a value",
                        type_name(c, type));
        return coerce(c, f, e->pos, v, type, value_what(c, v), ret);
}

static int eval_embed(Ctx *c, UserFile *f, const Expr *e, const CapnpType *type, Value **ret) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t size;
        Value *v;
        int r;

        if (type->kind == CAPNP_TYPE_STRUCT)
                return fail(c, f, e->pos, -EOPNOTSUPP,
                        "embedding a binary message as a struct is not supported");
        if (type->kind != CAPNP_TYPE_TEXT && type->kind != CAPNP_TYPE_DATA)
                return fail(c, f, e->pos, -EINVAL,
                        "embed can only be used where Text or Data is expected, not %s", type_name(c, type));
        if (c->opts->no_files)
                return fail(c, f, e->name_pos, -EPERM, "embedding files is disabled");

        if (e->text[0] == '/') {
                /* Absolute embeds resolve against the import path, like absolute imports. */
                if (c->opts->import_path)
                        for (char *const *dir = c->opts->import_path; *dir && !path; dir++) {
                                _cleanup_free_ char *p = path_join(*dir, e->text + 1);

                                if (!p)
                                        return oom(c);
                                if (file_exists(p))
                                        path = TAKE_PTR(p);
                        }
                if (!path)
                        return fail(c, f, e->name_pos, -ENOENT,
                                "cannot find embedded file '%s' in the import path",
                                shown(c, e->text, e->len));
        } else {
                path = path_join(f->dir, e->text);
                if (!path)
                        return oom(c);
        }

        r = read_full_file_at(AT_FDCWD, path, CAPNP_TEXT_MAX_EMBED_SIZE, &data, &size);
        if (r == -EFBIG)
                return fail(c, f, e->name_pos, r, "embedded file '%s' is larger than %u bytes", path,
                        CAPNP_TEXT_MAX_EMBED_SIZE);
        if (r < 0)
                return fail(c, f, e->name_pos, r, "cannot read embedded file '%s': %s", path, strerror(-r));
        if (size > CAPNP_TEXT_MAX_TOTAL_EMBED - c->embedded_bytes)
                return fail(c, f, e->name_pos, -EFBIG, "embedded files add up to more than %u bytes",
                        CAPNP_TEXT_MAX_TOTAL_EMBED);
        c->embedded_bytes += size;

        if (type->kind == CAPNP_TYPE_TEXT) {
                if (memchr(data, 0, size))
                        return fail(c, f, e->name_pos, -EINVAL,
                                "embedded file '%s' contains a NUL byte, not allowed in Text", path);
                if (!utf8_is_valid(data, size))
                        return fail(c, f, e->name_pos, -EINVAL,
                                "embedded file '%s' is not valid UTF-8, as Text must be", path);
        }
        if (arena_adopt(&c->arena, data) < 0)
                return oom(c);

        v = value_new(c, type->kind == CAPNP_TYPE_TEXT ? VALUE_TEXT : VALUE_DATA, type);
        if (!v)
                return oom(c);
        v->bytes = (const uint8_t *) TAKE_PTR(data);
        v->len = size;
        v->depth = 1;
        *ret = v;
        return 0;
}

static int eval_struct(Ctx *c, UserFile *f, const Expr *e, const CapnpStructSchema *schema,
        const CapnpType *type, unsigned depth, Value **ret) {
        unsigned inner = 0;
        uint32_t *where;
        Value *v;
        int r;

        v = value_new(c, VALUE_STRUCT, type);
        if (!v)
                return oom(c);
        v->schema = schema;
        v->fields = arena_alloc(&c->arena, schema->n_fields * sizeof(Value *));
        where = arena_alloc(&c->arena, schema->n_fields * sizeof(uint32_t));
        if (!v->fields || !where)
                return oom(c);

        for (size_t i = 0; i < e->n_params; i++) {
                const Param *p = &e->params[i];
                const CapnpField *field;
                size_t k;
                Value *fv;

                if (!p->name)
                        return fail(
                                c, f, p->value->pos, -EINVAL, "missing field name: write (name = value, …)");
                field = capnp_struct_schema_field(schema, p->name, p->name_len);
                if (!field)
                        return fail(c, f, p->name_pos, -EINVAL, "%s has no field named '%s'", schema->name,
                                p->name);
                k = (size_t) (field - schema->fields);
                if (v->fields[k]) {
                        unsigned line, column;
                        position(f, where[k], &line, &column);
                        return fail(c, f, p->name_pos, -EINVAL, "field '%s' is already set (at %u:%u)",
                                p->name, line, column);
                }
                if (field->discriminant != CAPNP_NO_DISCRIMINANT) {
                        if (v->which >= 0) {
                                unsigned line, column;
                                position(f, where[v->which], &line, &column);
                                return fail(c, f, p->name_pos, -EINVAL,
                                        "'%s' and '%s' (at %u:%u) are members of the same union; only one "
                                        "can be set",
                                        p->name, schema->fields[v->which].name, line, column);
                        }
                        v->which = (int) k;
                }

                if (field->group) {
                        if (p->value->kind != EXPR_TUPLE)
                                return fail(c, f, p->value->pos, -EINVAL,
                                        "expected a group, ( … ), for '%s'", p->name);
                        if (depth >= CAPNP_TEXT_MAX_DEPTH)
                                return fail(c, f, p->value->pos, -ELOOP, "nesting deeper than %u levels",
                                        CAPNP_TEXT_MAX_DEPTH);
                        r = eval_struct(c, f, p->value, field->group, NULL, depth + 1, &fv);
                } else
                        r = eval(c, f, p->value, &field->type, depth + 1, &fv);
                if (r < 0)
                        return r;
                inner = MAX(inner, fv->depth);
                v->fields[k] = fv;
                where[k] = p->name_pos;
        }

        /* A group lives in its parent's sections: it adds no level. */
        v->depth = schema->is_group ? inner : inner + 1;
        *ret = v;
        return check_depth(c, f, e->pos, v);
}

static const char *expr_what(const Expr *e) {
        switch (e->kind) {
        case EXPR_INT:
        case EXPR_NEG_INT:
                return "an integer";
        case EXPR_FLOAT:
                return "a floating-point number";
        case EXPR_STRING:
                return "a string";
        case EXPR_BINARY:
                return "a Data literal";
        case EXPR_LIST:
                return "a list";
        case EXPR_TUPLE:
                return "a struct literal";
        default:
                return "a value";
        }
}

static int eval(Ctx *c, UserFile *f, const Expr *e, const CapnpType *type, unsigned depth, Value **ret) {
        Value *v;
        int r;

        switch (e->kind) {
        case EXPR_REL_NAME: {
                Decl *d;

                if (type->kind == CAPNP_TYPE_ENUM) {
                        const CapnpEnumerant *en =
                                capnp_enum_schema_by_name(type->enum_schema, e->text, e->len);

                        if (en) {
                                v = value_new(c, VALUE_ENUM, type);
                                if (!v)
                                        return oom(c);
                                v->u = en->value;
                                *ret = v;
                                return 0;
                        }
                } else {
                        static const char *const keywords[] = {"void", "true", "false", "nan", "inf"};

                        for (size_t i = 0; i < ELEMENTSOF(keywords); i++) {
                                if (!streq(e->text, keywords[i]))
                                        continue;
                                v = value_new(c,
                                        i == 0   ? VALUE_VOID
                                        : i <= 2 ? VALUE_BOOL
                                                 : VALUE_FLOAT,
                                        NULL);
                                if (!v)
                                        return oom(c);
                                v->u = i == 1;
                                v->f = i == 3 ? NAN : INFINITY;
                                return coerce(c, f, e->pos, v, type, shown(c, e->text, e->len), ret);
                        }
                }

                d = file_find_decl(f, e->text, e->len);
                if (d && d->kind == DECL_USING) {
                        /* An alias of a constant is still an unqualified constant name. */
                        Entity ent;
                        int r2 = resolve_decl(c, d, 0, &ent);
                        if (r2 < 0)
                                return r2;
                        if ((ent.kind == ENTITY_DECL && ent.decl->kind == DECL_CONST) ||
                                (ent.kind == ENTITY_SCHEMA_NODE &&
                                        ent.node->kind == CAPNP_SCHEMA_NODE_CONST))
                                d = ent.decl ?: d;
                        if (ent.kind == ENTITY_SCHEMA_NODE && ent.node->kind == CAPNP_SCHEMA_NODE_CONST)
                                return fail(c, f, e->pos, -EINVAL,
                                        "constant names must be qualified: write '.%s' for the constant of "
                                        "this "
                                        "file",
                                        e->text);
                }
                if (d && d->kind == DECL_CONST)
                        return fail(c, f, e->pos, -EINVAL,
                                "constant names must be qualified: write '.%s' for the constant of this "
                                "file",
                                e->text);
                if (!d && type->kind == CAPNP_TYPE_ENUM)
                        return fail(c, f, e->name_pos, -EINVAL, "'%s' is not an enumerant of %s", e->text,
                                type->enum_schema->name);
                if (!d)
                        return fail(c, f, e->name_pos, -ENOENT, "'%s' is not defined", e->text);
                return eval_reference(c, f, e, type, ret);
        }

        case EXPR_ABS_NAME:
        case EXPR_MEMBER:
        case EXPR_IMPORT:
                return eval_reference(c, f, e, type, ret);

        case EXPR_APPLICATION:
                return fail(c, f, e->pos, -EINVAL, "expected a value, got a generic type application");

        case EXPR_EMBED:
                return eval_embed(c, f, e, type, ret);

        case EXPR_INT:
        case EXPR_NEG_INT:
                if (e->kind == EXPR_NEG_INT && e->integer > (UINT64_C(1) << 63))
                        return fail(c, f, e->name_pos, -ERANGE, "integer is too big to be negative");
                v = value_new(c, VALUE_INT, NULL);
                if (!v)
                        return oom(c);
                v->u = e->integer;
                v->negative = e->kind == EXPR_NEG_INT && e->integer != 0;
                return coerce(
                        c, f, e->kind == EXPR_NEG_INT ? e->name_pos : e->pos, v, type, "an integer", ret);

        case EXPR_FLOAT:
                v = value_new(c, VALUE_FLOAT, NULL);
                if (!v)
                        return oom(c);
                v->f = e->number;
                return coerce(c, f, e->pos, v, type, "a floating-point number", ret);

        case EXPR_STRING:
        case EXPR_BINARY:
                if (type->kind != CAPNP_TYPE_DATA &&
                        (e->kind == EXPR_BINARY || type->kind != CAPNP_TYPE_TEXT))
                        return fail(c, f, e->pos, -EINVAL, "expected %s, got %s", type_name(c, type),
                                expr_what(e));
                v = value_new(c, type->kind == CAPNP_TYPE_DATA ? VALUE_DATA : VALUE_TEXT, type);
                if (!v)
                        return oom(c);
                v->bytes = (const uint8_t *) e->text;
                v->len = e->len;
                v->depth = 1;
                *ret = v;
                return 0;

        case EXPR_LIST:
                if (type->kind != CAPNP_TYPE_LIST)
                        return fail(c, f, e->pos, -EINVAL, "expected %s, got %s", type_name(c, type),
                                expr_what(e));
                if (depth >= CAPNP_TEXT_MAX_DEPTH)
                        return fail(
                                c, f, e->pos, -ELOOP, "nesting deeper than %u levels", CAPNP_TEXT_MAX_DEPTH);
                v = value_new(c, VALUE_LIST, type);
                if (!v)
                        return oom(c);
                v->items = arena_alloc(&c->arena, e->n_params * sizeof(Value *));
                if (!v->items)
                        return oom(c);
                v->n_items = e->n_params;
                v->depth = 1;
                for (size_t i = 0; i < e->n_params; i++) {
                        if (e->params[i].name)
                                return fail(
                                        c, f, e->params[i].name_pos, -EINVAL, "list elements have no names");
                        r = eval(c, f, e->params[i].value, type->element, depth + 1, &v->items[i]);
                        if (r < 0)
                                return r;
                        v->depth = MAX(v->depth, v->items[i]->depth + 1);
                }
                *ret = v;
                return check_depth(c, f, e->pos, v);

        case EXPR_TUPLE:
                if (type->kind != CAPNP_TYPE_STRUCT)
                        return fail(c, f, e->pos, -EINVAL, "expected %s, got %s", type_name(c, type),
                                expr_what(e));
                if (depth >= CAPNP_TEXT_MAX_DEPTH)
                        return fail(
                                c, f, e->pos, -ELOOP, "nesting deeper than %u levels", CAPNP_TEXT_MAX_DEPTH);
                return eval_struct(c, f, e, type->struct_schema, type, depth + 1, ret);
        }

        return fail(c, f, e->pos, -EINVAL, "expected a value");
}

static int eval_const(Ctx *c, Decl *d, Value **ret) {
        Value *v;
        int r;

        switch (d->state) {
        case DECL_EVALUATED:
                *ret = d->result;
                return 0;
        case DECL_EVALUATING:
                return fail(
                        c, d->file, d->pos, -ELOOP, "constant '%s' is defined in terms of itself", d->name);
        case DECL_UNEVALUATED:
                break;
        }

        if (c->const_depth >= CAPNP_TEXT_MAX_DEPTH)
                return fail(c, d->file, d->pos, -ELOOP,
                        "constants refer to each other more than %u levels deep", CAPNP_TEXT_MAX_DEPTH);
        d->state = DECL_EVALUATING;
        r = resolve_type(c, d->file, d->type, 0, &d->ctype);
        if (r < 0)
                return r;
        c->const_depth++;
        r = eval(c, d->file, d->value, d->ctype, 0, &v);
        c->const_depth--;
        if (r < 0)
                return r;
        d->state = DECL_EVALUATED;
        d->result = v;
        *ret = v;
        return 0;
}

/* ---- encoding ---- */

/* Where a pointer goes: a slot of a struct, or an element of a list of pointers. */
typedef struct Target {
        const CapnpBuilderStruct *s;
        const CapnpBuilderList *l;
        uint32_t index;
} Target;

static int target_set_bytes(const Target *t, bool text, const uint8_t *p, size_t n) {
        if (t->s)
                return text ? capnp_build_set_text(t->s, (uint16_t) t->index, (const char *) p, n)
                            : capnp_build_set_data(t->s, (uint16_t) t->index, p, n);
        return text ? capnp_build_list_set_text(t->l, t->index, (const char *) p, n)
                    : capnp_build_list_set_data(t->l, t->index, p, n);
}

static int target_init_list(const Target *t, CapnpElementSize size, uint32_t count, CapnpBuilderList *ret) {
        if (t->s)
                return capnp_build_init_list(t->s, (uint16_t) t->index, size, count, ret);
        return capnp_build_list_init_list(t->l, t->index, size, count, ret);
}

static int target_init_struct_list(
        const Target *t, uint32_t count, uint16_t data_words, uint16_t n_ptrs, CapnpBuilderList *ret) {
        if (t->s)
                return capnp_build_init_struct_list(
                        t->s, (uint16_t) t->index, count, data_words, n_ptrs, ret);
        return capnp_build_list_init_struct_list(t->l, t->index, count, data_words, n_ptrs, ret);
}

static uint64_t value_bits(const Value *v, const CapnpType *t) {
        switch (v->kind) {
        case VALUE_INT:
                return v->negative ? (uint64_t) 0 - v->u : v->u;
        case VALUE_FLOAT:
                if (t->kind == CAPNP_TYPE_FLOAT32) {
                        float x = (float) v->f;
                        uint32_t b;
                        memcpy(&b, &x, sizeof(b));
                        return b;
                } else {
                        uint64_t b;
                        memcpy(&b, &v->f, sizeof(b));
                        return b;
                }
        case VALUE_BOOL:
        case VALUE_ENUM:
                return v->u;
        default:
                return 0;
        }
}

static void set_data_field(
        const CapnpBuilderStruct *b, const CapnpType *t, uint32_t bit_offset, uint64_t bits) {
        switch (capnp_type_data_bits(t)) {
        case 1:
                capnp_build_set_bool(b, bit_offset, bits & 1);
                break;
        case 8:
                capnp_build_set_u8(b, bit_offset / 8, (uint8_t) bits);
                break;
        case 16:
                capnp_build_set_u16(b, bit_offset / 8, (uint16_t) bits);
                break;
        case 32:
                capnp_build_set_u32(b, bit_offset / 8, (uint32_t) bits);
                break;
        case 64:
                capnp_build_set_u64(b, bit_offset / 8, bits);
                break;
        default:
                break;
        }
}

static int encode_pointer(Ctx *c, const Target *t, const Value *v);

static int encode_struct_fields(Ctx *c, const CapnpBuilderStruct *b, const Value *v) {
        const CapnpStructSchema *schema = v->schema;
        int r;

        for (size_t i = 0; i < schema->n_fields; i++) {
                const CapnpField *field = &schema->fields[i];
                const Value *fv = v->fields[i];

                if (!fv)
                        continue;
                if (field->discriminant != CAPNP_NO_DISCRIMINANT)
                        capnp_build_set_u16(b, schema->discriminant_offset / 8, field->discriminant);
                if (field->group)
                        r = encode_struct_fields(c, b, fv);
                else if (capnp_type_is_pointer(&field->type))
                        r = encode_pointer(c, &(Target){.s = b, .index = field->offset}, fv);
                else {
                        set_data_field(b, &field->type, field->offset,
                                value_bits(fv, &field->type) ^ field->default_bits);
                        r = b->b->error;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static int encode_list(Ctx *c, const Target *t, const Value *v) {
        const CapnpType *element = v->type->element;
        CapnpBuilderList l;
        uint32_t n = (uint32_t) v->n_items;
        int r;

        if (element->kind == CAPNP_TYPE_STRUCT) {
                const CapnpStructSchema *s = element->struct_schema;

                r = target_init_struct_list(t, n, s->data_words, s->n_ptrs, &l);
                if (r < 0)
                        return r;
                for (uint32_t i = 0; i < n; i++) {
                        CapnpBuilderStruct es;

                        r = capnp_build_list_get_struct(&l, i, &es);
                        if (r < 0)
                                return r;
                        r = encode_struct_fields(c, &es, v->items[i]);
                        if (r < 0)
                                return r;
                }
                return 0;
        }

        r = target_init_list(t, capnp_type_list_element_size(element), n, &l);
        if (r < 0)
                return r;
        if (element->kind == CAPNP_TYPE_VOID)
                return 0;
        for (uint32_t i = 0; i < n; i++) {
                const Value *item = v->items[i];

                if (capnp_type_is_pointer(element)) {
                        r = encode_pointer(c, &(Target){.l = &l, .index = i}, item);
                        if (r < 0)
                                return r;
                        continue;
                }
                uint64_t bits = value_bits(item, element);
                switch (capnp_type_data_bits(element)) {
                case 1:
                        capnp_build_list_set_bool(&l, i, bits & 1);
                        break;
                case 8:
                        capnp_build_list_set_u8(&l, i, (uint8_t) bits);
                        break;
                case 16:
                        capnp_build_list_set_u16(&l, i, (uint16_t) bits);
                        break;
                case 32:
                        capnp_build_list_set_u32(&l, i, (uint32_t) bits);
                        break;
                default:
                        capnp_build_list_set_u64(&l, i, bits);
                }
        }
        return l.b->error;
}

static int encode_pointer(Ctx *c, const Target *t, const Value *v) {
        CapnpBuilderStruct s;
        int r;

        switch (v->kind) {
        case VALUE_TEXT:
        case VALUE_DATA:
                return target_set_bytes(t, v->kind == VALUE_TEXT, v->bytes, v->len);
        case VALUE_LIST:
                return encode_list(c, t, v);
        case VALUE_STRUCT:
                if (!t->s)
                        return -EOPNOTSUPP; /* a struct as an element of List(AnyPointer) */
                r = capnp_build_init_struct(
                        t->s, (uint16_t) t->index, v->schema->data_words, v->schema->n_ptrs, &s);
                if (r < 0)
                        return r;
                return encode_struct_fields(c, &s, v);
        default:
                return -EINVAL;
        }
}

/* Encodes v as the root of a new message; a value that is not a struct becomes the only field of a
 * wrapper struct (at data offset 0, or in pointer slot 0). */
static int encode_root(Ctx *c, const UserFile *root, const Value *v, const CapnpType *type, uint8_t **ret,
        size_t *ret_size) {
        _cleanup_(capnp_builder_done) CapnpBuilder b = {};
        CapnpBuilderStruct s;
        int r;

        capnp_builder_init(&b, CAPNP_TEXT_MAX_MESSAGE_WORDS);
        if (v->kind == VALUE_STRUCT) {
                r = capnp_builder_init_root(&b, v->schema->data_words, v->schema->n_ptrs, &s);
                if (r >= 0)
                        r = encode_struct_fields(c, &s, v);
        } else if (capnp_type_is_pointer(type)) {
                r = capnp_builder_init_root(&b, 0, 1, &s);
                if (r >= 0)
                        r = encode_pointer(c, &(Target){.s = &s, .index = 0}, v);
        } else {
                r = capnp_builder_init_root(&b, 1, 0, &s);
                if (r >= 0) {
                        set_data_field(&s, type, 0, value_bits(v, type));
                        r = b.error;
                }
        }
        if (r >= 0)
                r = capnp_builder_finish(&b, ret, ret_size);
        if (r == -E2BIG)
                return fail(c, root, -1, r, "the value takes more than %u bytes encoded",
                        CAPNP_TEXT_MAX_MESSAGE_WORDS * 8u);
        if (r == -EOPNOTSUPP)
                return fail(c, root, -1, r, "a struct inside List(AnyPointer) is not supported");
        if (r == -ENOMEM)
                return oom(c);
        if (r < 0)
                return fail(c, root, -1, r, "cannot encode the value: %s", strerror(-r));
        return 0;
}

/* ---- entry points ---- */

static int eval_top(Ctx *c, const char *path, const void *bytes, size_t size, bool have_bytes,
        const char *const_name, Value **ret, const CapnpType **ret_type, UserFile **ret_root) {
        _cleanup_free_ char *data = NULL;
        UserFile *f;
        Decl *d;
        int r;

        if (!have_bytes) {
                r = read_full_file_at(AT_FDCWD, path, CAPNP_TEXT_MAX_FILE_SIZE, &data, &size);
                if (r == -EFBIG)
                        return fail(c, NULL, -1, r, "%s: file is larger than %u bytes", path,
                                CAPNP_TEXT_MAX_FILE_SIZE);
                if (r < 0)
                        return fail(c, NULL, -1, r, "%s: %s", path, strerror(-r));
                if (arena_adopt(&c->arena, data) < 0)
                        return oom(c);
                bytes = TAKE_PTR(data);
        }
        f = file_new(c, path, bytes, size);
        if (!f)
                return oom(c);
        *ret_root = f;
        r = file_parse(c, f);
        if (r < 0)
                return r;

        d = file_find_decl(f, const_name, strlen(const_name));
        if (!d)
                return fail(
                        c, f, -1, -ENOENT, "'%s' is not defined", shown(c, const_name, strlen(const_name)));
        if (d->kind == DECL_USING) {
                /* "using pkgdef = import \"other.capnp\".pkgdef;" names a constant too. */
                Entity ent;

                r = resolve_decl(c, d, 0, &ent);
                if (r < 0)
                        return r;
                if (ent.kind == ENTITY_DECL)
                        d = ent.decl;
        }
        if (d->kind != DECL_CONST)
                return fail(c, f, d->pos, -EINVAL, "'%s' is not a constant", d->name);
        r = eval_const(c, d, ret);
        if (r < 0)
                return r;
        *ret_type = d->ctype;
        return 0;
}

static void ctx_done(Ctx *c) {
        arena_done(&c->arena);
        free(c->error);
}

static int finish(Ctx *c, int r, const char *path, char **ret_error) {
        if (r >= 0)
                return r;
        if (ret_error) {
                if (!c->error && asprintf(&c->error, "%s: %s", path, strerror(-r)) < 0)
                        c->error = NULL;
                *ret_error = TAKE_PTR(c->error);
        }
        return r;
}

static int eval_impl(const char *name, const void *bytes, size_t size, bool have_bytes,
        const char *const_name, const CapnpTextOptions *opts, const char **ret_type_name, uint8_t **ret_msg,
        size_t *ret_size, StrBuf *out, char **ret_error) {
        static const CapnpTextOptions no_options = {};
        _cleanup_(ctx_done) Ctx c = {.opts = opts ?: &no_options};
        _cleanup_free_ uint8_t *msg = NULL;
        const CapnpType *type = NULL;
        UserFile *root = NULL;
        Value *v;
        size_t msg_size;
        int r;

        assert(name);
        assert(const_name);
        assert(out || (ret_msg && ret_size));

        r = eval_top(&c, name, bytes, size, have_bytes, const_name, &v, &type, &root);
        if (r < 0)
                return finish(&c, r, name, ret_error);

        if (!out && v->kind != VALUE_STRUCT)
                return finish(&c,
                        fail(&c, root, -1, -EINVAL, "'%s' is not a struct constant (its type is %s)",
                                const_name, type_name(&c, type)),
                        name, ret_error);

        r = encode_root(&c, root, v, type, &msg, &msg_size);
        if (r < 0)
                return finish(&c, r, name, ret_error);

        if (out) {
                _cleanup_(capnp_message_done) CapnpMessage m = {};
                /* Our own message, of bounded size; Void list elements count one word each when read,
                 * so allow for them, within a bound linear in the message size. */
                const CapnpReadOptions ro = {.traversal_limit_words = msg_size / 4 + 65536};
                size_t consumed;
                CapnpStruct s;

                r = capnp_message_parse(&m, msg, msg_size, &ro, &consumed);
                if (r == 0)
                        r = capnp_message_root(&m, &s);
                if (r == 0) {
                        if (v->kind == VALUE_STRUCT)
                                r = capnp_json_write_struct_schema(out, &s, v->schema, CAPNP_JSON_COMPACT);
                        else
                                r = capnp_json_write_field_value(out, &s, type, 0, CAPNP_JSON_COMPACT);
                }
                if (r == -EOPNOTSUPP)
                        r = fail(&c, root, -1, r,
                                "'%s' holds an AnyPointer or capability value, which Cap'n Proto's JSON "
                                "cannot encode",
                                const_name);
                else if (r == -ENOMEM)
                        r = oom(&c);
                else if (r != 0)
                        r = fail(&c, root, -1, r < 0 ? r : -EBADMSG, "cannot write JSON: %s",
                                strerror(r < 0 ? -r : EBADMSG));
                return finish(&c, r, name, ret_error);
        }

        if (ret_type_name)
                *ret_type_name = v->schema->name;
        *ret_msg = TAKE_PTR(msg);
        *ret_size = msg_size;
        return 0;
}

int capnp_text_eval(const char *path, const char *const_name, const CapnpTextOptions *opts,
        const char **ret_type_name, uint8_t **ret_msg, size_t *ret_size, char **ret_error) {
        assert(path);
        assert(ret_msg);
        assert(ret_size);

        return eval_impl(
                path, NULL, 0, false, const_name, opts, ret_type_name, ret_msg, ret_size, NULL, ret_error);
}

int capnp_text_eval_json(const char *path, const char *const_name, const CapnpTextOptions *opts, StrBuf *out,
        char **ret_error) {
        assert(path);
        assert(out);

        return eval_impl(path, NULL, 0, false, const_name, opts, NULL, NULL, NULL, out, ret_error);
}

int capnp_text_eval_buffer(const char *name, const void *bytes, size_t size, const char *const_name,
        const CapnpTextOptions *opts, const char **ret_type_name, uint8_t **ret_msg, size_t *ret_size,
        StrBuf *out, char **ret_error) {
        assert(bytes || size == 0);

        return eval_impl(name, bytes ?: "", size, true, const_name, opts, ret_type_name, ret_msg, ret_size,
                out, ret_error);
}
