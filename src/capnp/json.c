/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Cap'n Proto's JSON, as libcapnp's JsonCodec writes it (spec §4.7), rendered straight from a message.
 *
 * Layout (JsonCodec's pretty printer, used by both `capnp eval -ojson` and `spk verify`): an array,
 * object or call is written on one line with ", " between elements, unless it has more than one
 * element and one of them is itself multi-line or longer than 50 bytes; then each element goes on a
 * line of its own, indented two spaces per level, the first element after "[ " — or, when the
 * value follows a field name, on a new line. Hence every value is rendered before its parent decides
 * its separators.
 *
 * Field selection differs between the two dialects, because `capnp eval` registers its handlers by
 * annotation and `spk verify` does not:
 *   COMPACT: fields in ordinal order, null pointers skipped, and the active union member last,
 *            always, a null pointer shown as its default ("" for Text, [] for lists and Data);
 *   VERIFY:  the active union member in its place among the fields, skipped when it is the first member
 *            (tag 0) and a null pointer, shown as null when another member is a null pointer.
 */

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/hex.h"
#include "capnp/json.h"

#define JSON_LARGE_BLOB 256u /* spk verify abbreviates Text and Data longer than this */
#define JSON_LONG_ELEMENT 50u

static const char *const style_table[_CAPNP_JSON_STYLE_MAX] = {
        [CAPNP_JSON_COMPACT] = "compact",
        [CAPNP_JSON_VERIFY] = "verify",
};

const char *capnp_json_style_to_string(CapnpJsonStyle s) {
        if (s < 0 || s >= _CAPNP_JSON_STYLE_MAX)
                return NULL;
        return style_table[s];
}

CapnpJsonStyle capnp_json_style_from_string(const char *s) {
        if (!s)
                return _CAPNP_JSON_STYLE_INVALID;
        for (int i = 0; i < _CAPNP_JSON_STYLE_MAX; i++)
                if (streq(style_table[i], s))
                        return (CapnpJsonStyle) i;
        return _CAPNP_JSON_STYLE_INVALID;
}

int capnp_json_write_string(StrBuf *out, const char *s, size_t len) {
        static const char hexdigits[] = "0123456789abcdef";
        size_t run = 0;
        int r;

        assert(out);
        assert(s || len == 0);

        r = strbuf_reserve(out, len + 2);
        if (r < 0)
                return r;
        r = strbuf_append_char(out, '"');
        if (r < 0)
                return r;
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char) s[i];
                const char *esc = NULL;
                char u[7];

                switch (ch) {
                case '"':
                        esc = "\\\"";
                        break;
                case '\\':
                        esc = "\\\\";
                        break;
                case '\b':
                        esc = "\\b";
                        break;
                case '\f':
                        esc = "\\f";
                        break;
                case '\n':
                        esc = "\\n";
                        break;
                case '\r':
                        esc = "\\r";
                        break;
                case '\t':
                        esc = "\\t";
                        break;
                default:
                        if (ch < 0x20) {
                                u[0] = '\\';
                                u[1] = 'u';
                                u[2] = '0';
                                u[3] = '0';
                                u[4] = hexdigits[ch >> 4];
                                u[5] = hexdigits[ch & 15];
                                u[6] = 0;
                                esc = u;
                        }
                }
                if (!esc) {
                        run++;
                        continue;
                }
                r = strbuf_append(out, s + i - run, run);
                if (r < 0)
                        return r;
                run = 0;
                r = strbuf_append_str(out, esc);
                if (r < 0)
                        return r;
        }
        r = strbuf_append(out, s + len - run, run);
        if (r < 0)
                return r;
        return strbuf_append_char(out, '"');
}

/* A double the way kj prints it: %.15g, or %.17g when that does not read back, without '+'. */
static int write_double(StrBuf *out, double d) {
        char buf[40], *p;

        if (isinf(d))
                return strbuf_append_str(out, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        if (isnan(d))
                return strbuf_append_str(out, "\"NaN\"");

        snprintf(buf, sizeof(buf), "%.15g", d);
        if (strtod(buf, NULL) != d)
                snprintf(buf, sizeof(buf), "%.17g", d);
        /* A locale's decimal comma becomes a point. */
        if (!strchr(buf, '.'))
                for (p = buf; *p; p++)
                        if (!strchr("0123456789eE+-", *p)) {
                                *p = '.';
                                break;
                        }
        for (p = buf; (p = strchr(p, '+'));)
                memmove(p, p + 1, strlen(p + 1) + 1);
        return strbuf_append_str(out, buf);
}

static int write_base64(StrBuf *out, const uint8_t *p, size_t n) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        int r;

        r = strbuf_reserve(out, (n + 2) / 3 * 4);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16;
                char q[4];

                if (i + 1 < n)
                        v |= (uint32_t) p[i + 1] << 8;
                if (i + 2 < n)
                        v |= p[i + 2];
                q[0] = alphabet[v >> 18 & 63];
                q[1] = alphabet[v >> 12 & 63];
                q[2] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
                q[3] = i + 2 < n ? alphabet[v & 63] : '=';
                r = strbuf_append(out, q, 4);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- layout ---- */

typedef struct Pieces {
        StrBuf *items;
        size_t n;
        bool multiline; /* some piece spans lines */
} Pieces;

static void pieces_done(Pieces *p) {
        for (size_t i = 0; i < p->n; i++)
                strbuf_done(&p->items[i]);
        free(p->items);
        *p = (Pieces){};
}

static int pieces_init(Pieces *p, size_t n) {
        *p = (Pieces){};
        if (n == 0)
                return 0;
        p->items = calloc(n, sizeof(StrBuf));
        if (!p->items)
                return -ENOMEM;
        p->n = n;
        return 0;
}

static int write_spaces(StrBuf *out, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                int r = strbuf_append_char(out, ' ');
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Joins rendered elements between open and close with JsonCodec's rules (see the top of the file). */
static int write_joined(StrBuf *out, const Pieces *p, unsigned indent, bool *multiline, bool has_prefix,
        const char *open, char close) {
        size_t longest = 0;
        bool lines;
        int r;

        for (size_t i = 0; i < p->n; i++)
                longest = MAX(longest, p->items[i].len);
        lines = p->n > 1 && (p->multiline || longest > JSON_LONG_ELEMENT);

        r = strbuf_append_str(out, open);
        if (r < 0)
                return r;
        if (lines) {
                *multiline = true;
                if (has_prefix) {
                        r = strbuf_append_char(out, '\n');
                        if (r >= 0)
                                r = write_spaces(out, (indent + 1) * 2);
                } else
                        r = strbuf_append_char(out, ' ');
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < p->n; i++) {
                if (i > 0) {
                        if (lines) {
                                r = strbuf_append_str(out, ",\n");
                                if (r >= 0)
                                        r = write_spaces(out, (indent + 1) * 2);
                        } else
                                r = strbuf_append_str(out, ", ");
                        if (r < 0)
                                return r;
                }
                r = strbuf_append(out, p->items[i].data ?: "", p->items[i].len);
                if (r < 0)
                        return r;
        }
        if (lines) {
                r = strbuf_append_char(out, ' ');
                if (r < 0)
                        return r;
        }
        return strbuf_append_char(out, close);
}

/* ---- values ---- */

typedef struct Writer {
        CapnpJsonStyle style;
} Writer;

static int write_struct(const Writer *w, StrBuf *out, const CapnpStruct *s, const CapnpStructSchema *schema,
        unsigned indent, bool *multiline, bool has_prefix);

static int64_t sign_extend(uint64_t bits, unsigned width) {
        if (width >= 64)
                return (int64_t) bits;
        uint64_t m = UINT64_C(1) << (width - 1);
        bits &= (UINT64_C(1) << width) - 1;
        return (int64_t) ((bits ^ m) - m);
}

static int write_scalar(StrBuf *out, const CapnpType *t, uint64_t bits) {
        switch (t->kind) {
        case CAPNP_TYPE_VOID:
                return strbuf_append_str(out, "null");
        case CAPNP_TYPE_BOOL:
                return strbuf_append_str(out, bits & 1 ? "true" : "false");
        case CAPNP_TYPE_INT8:
        case CAPNP_TYPE_INT16:
        case CAPNP_TYPE_INT32:
                return write_double(out, (double) sign_extend(bits, capnp_type_data_bits(t)));
        case CAPNP_TYPE_UINT8:
        case CAPNP_TYPE_UINT16:
        case CAPNP_TYPE_UINT32:
                return write_double(out, (double) bits);
        case CAPNP_TYPE_INT64:
                return strbuf_printf(out, "\"%" PRId64 "\"", (int64_t) bits);
        case CAPNP_TYPE_UINT64:
                return strbuf_printf(out, "\"%" PRIu64 "\"", bits);
        case CAPNP_TYPE_FLOAT32: {
                uint32_t b = (uint32_t) bits;
                float f;
                memcpy(&f, &b, sizeof(f));
                return write_double(out, (double) f);
        }
        case CAPNP_TYPE_FLOAT64: {
                double d;
                memcpy(&d, &bits, sizeof(d));
                return write_double(out, d);
        }
        case CAPNP_TYPE_ENUM: {
                const CapnpEnumerant *e =
                        t->enum_schema ? capnp_enum_schema_by_value(t->enum_schema, (uint16_t) bits) : NULL;
                if (e)
                        return capnp_json_write_string(out, e->name, strlen(e->name));
                return write_double(out, (double) (uint16_t) bits);
        }
        default:
                return -EINVAL;
        }
}

static int write_text(const Writer *w, StrBuf *out, const char *p, size_t n) {
        if (w->style == CAPNP_JSON_VERIFY && n > JSON_LARGE_BLOB)
                return strbuf_printf(out, "LargeTextBlob(%zu)", n);
        return capnp_json_write_string(out, p ?: "", n);
}

static int write_data(const Writer *w, StrBuf *out, const uint8_t *p, size_t n) {
        int r;

        if (w->style == CAPNP_JSON_VERIFY) {
                if (n > JSON_LARGE_BLOB)
                        return strbuf_printf(out, "LargeDataBlob(%zu)", n);
                r = strbuf_append_str(out, "Base64(\"");
                if (r >= 0)
                        r = write_base64(out, p, n);
                if (r >= 0)
                        r = strbuf_append_str(out, "\")");
                return r;
        }

        /* Byte numbers are short, so the array always stays on one line. */
        r = strbuf_append_char(out, '[');
        for (size_t i = 0; i < n && r >= 0; i++) {
                char buf[6];
                size_t k = 0;

                if (i > 0) {
                        buf[k++] = ',';
                        buf[k++] = ' ';
                }
                if (p[i] >= 100)
                        buf[k++] = (char) ('0' + p[i] / 100);
                if (p[i] >= 10)
                        buf[k++] = (char) ('0' + p[i] / 10 % 10);
                buf[k++] = (char) ('0' + p[i] % 10);
                r = strbuf_append(out, buf, k);
        }
        if (r < 0)
                return r;
        return strbuf_append_char(out, ']');
}

/* The handlers spk verify registers: AppId as its base32 text, PackageId as hex. */
static int write_id(StrBuf *out, const CapnpStruct *s, bool app_id) {
        uint8_t bytes[APP_ID_SIZE];
        char text[APP_ID_TEXT_SIZE + 1];
        size_t n = app_id ? APP_ID_SIZE : PACKAGE_ID_SIZE;

        for (size_t i = 0; i < n / 8; i++)
                unaligned_write_le64(bytes + 8 * i, capnp_struct_get_u64(s, (uint32_t) (8 * i)));
        if (app_id)
                app_id_to_string(bytes, text);
        else
                hex_encode(bytes, n, text);
        return capnp_json_write_string(out, text, strlen(text));
}

static int write_list(const Writer *w, StrBuf *out, const CapnpList *l, const CapnpType *element,
        unsigned indent, bool *multiline, bool has_prefix);

/* Renders one element of l into out. */
static int write_list_element(const Writer *w, StrBuf *out, const CapnpList *l, uint32_t i,
        const CapnpType *element, unsigned indent, bool *multiline) {
        const char *text;
        const uint8_t *data;
        CapnpStruct s;
        CapnpList sub;
        size_t len;
        int r;

        switch (element->kind) {
        case CAPNP_TYPE_VOID:
                return strbuf_append_str(out, "null");
        case CAPNP_TYPE_BOOL:
                return write_scalar(out, element, capnp_list_get_bool(l, i));
        case CAPNP_TYPE_TEXT:
                r = capnp_list_get_text(l, i, &text, &len);
                return r < 0 ? r : write_text(w, out, text, len);
        case CAPNP_TYPE_DATA:
                r = capnp_list_get_data(l, i, &data, &len);
                return r < 0 ? r : write_data(w, out, data, len);
        case CAPNP_TYPE_LIST:
                r = capnp_list_get_list(l, i, &sub);
                return r < 0 ? r : write_list(w, out, &sub, element->element, indent, multiline, false);
        case CAPNP_TYPE_STRUCT:
                r = capnp_list_get_struct(l, i, &s);
                if (r < 0)
                        return r;
                if (w->style == CAPNP_JSON_VERIFY && element->struct_schema == &capnp_schema_AppId)
                        return write_id(out, &s, true);
                if (w->style == CAPNP_JSON_VERIFY && element->struct_schema == &capnp_schema_PackageId)
                        return write_id(out, &s, false);
                return write_struct(w, out, &s, element->struct_schema, indent, multiline, false);
        case CAPNP_TYPE_INTERFACE:
        case CAPNP_TYPE_ANY_POINTER:
                return -EOPNOTSUPP;
        default:
                switch (capnp_type_data_bits(element)) {
                case 8:
                        return write_scalar(out, element, capnp_list_get_u8(l, i));
                case 16:
                        return write_scalar(out, element, capnp_list_get_u16(l, i));
                case 32:
                        return write_scalar(out, element, capnp_list_get_u32(l, i));
                default:
                        return write_scalar(out, element, capnp_list_get_u64(l, i));
                }
        }
}

static int write_list(const Writer *w, StrBuf *out, const CapnpList *l, const CapnpType *element,
        unsigned indent, bool *multiline, bool has_prefix) {
        _cleanup_(pieces_done) Pieces p = {};
        unsigned sub = indent + (l->count > 1);
        int r;

        r = pieces_init(&p, l->count);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < l->count; i++) {
                r = write_list_element(w, &p.items[i], l, i, element, sub, &p.multiline);
                if (r < 0)
                        return r;
        }
        r = capnp_message_error(l->msg);
        if (r < 0)
                return r;
        return write_joined(out, &p, indent, multiline, has_prefix, "[", ']');
}

/* A pointer field: s's slot i read as t. A null pointer renders as t's default. */
static int write_pointer(const Writer *w, StrBuf *out, const CapnpStruct *s, uint16_t i, const CapnpType *t,
        unsigned indent, bool *multiline, bool has_prefix) {
        const char *text;
        const uint8_t *data;
        CapnpStruct child;
        CapnpList l;
        size_t len;
        int r;

        switch (t->kind) {
        case CAPNP_TYPE_TEXT:
                r = capnp_struct_get_text(s, i, &text, &len);
                return r < 0 ? r : write_text(w, out, text, len);
        case CAPNP_TYPE_DATA:
                r = capnp_struct_get_data(s, i, &data, &len);
                return r < 0 ? r : write_data(w, out, data, len);
        case CAPNP_TYPE_LIST:
                if (t->element->kind == CAPNP_TYPE_STRUCT)
                        r = capnp_struct_get_struct_list(s, i, &l);
                else
                        r = capnp_struct_get_list(s, i, &l);
                return r < 0 ? r : write_list(w, out, &l, t->element, indent, multiline, has_prefix);
        case CAPNP_TYPE_STRUCT:
                r = capnp_struct_get_struct(s, i, &child);
                if (r < 0)
                        return r;
                if (w->style == CAPNP_JSON_VERIFY && t->struct_schema == &capnp_schema_AppId)
                        return write_id(out, &child, true);
                if (w->style == CAPNP_JSON_VERIFY && t->struct_schema == &capnp_schema_PackageId)
                        return write_id(out, &child, false);
                return write_struct(w, out, &child, t->struct_schema, indent, multiline, has_prefix);
        default:
                /* Cap'n Proto's JSON codec cannot write capabilities or AnyPointer either. */
                return -EOPNOTSUPP;
        }
}

static uint64_t read_data(const CapnpStruct *s, const CapnpType *t, uint32_t bit_offset) {
        switch (capnp_type_data_bits(t)) {
        case 1:
                return capnp_struct_get_bool(s, bit_offset);
        case 8:
                return capnp_struct_get_u8(s, bit_offset / 8);
        case 16:
                return capnp_struct_get_u16(s, bit_offset / 8);
        case 32:
                return capnp_struct_get_u32(s, bit_offset / 8);
        case 64:
                return capnp_struct_get_u64(s, bit_offset / 8);
        default:
                return 0;
        }
}

static int write_field(const Writer *w, StrBuf *out, const CapnpStruct *s, const CapnpField *f,
        unsigned indent, bool *multiline) {
        if (f->group)
                return write_struct(w, out, s, f->group, indent, multiline, true);
        if (capnp_type_is_pointer(&f->type))
                return write_pointer(w, out, s, (uint16_t) f->offset, &f->type, indent, multiline, true);
        return write_scalar(out, &f->type, read_data(s, &f->type, f->offset) ^ f->default_bits);
}

/* JsonCodec's has(): groups and data fields always, pointers when not null. */
static bool field_has(const CapnpStruct *s, const CapnpField *f) {
        if (f->group || !capnp_type_is_pointer(&f->type))
                return true;
        return capnp_struct_has(s, (uint16_t) f->offset);
}

typedef struct Entry {
        const CapnpField *field;
        bool null;
} Entry;

static int write_struct(const Writer *w, StrBuf *out, const CapnpStruct *s, const CapnpStructSchema *schema,
        unsigned indent, bool *multiline, bool has_prefix) {
        _cleanup_(pieces_done) Pieces p = {};
        _cleanup_free_ Entry *entries = NULL;
        const CapnpField *which = NULL;
        size_t n = 0;
        unsigned sub;
        int r;

        entries = calloc(schema->n_fields, sizeof(Entry));
        if (!entries)
                return -ENOMEM;

        if (schema->n_union_members > 0) {
                uint16_t tag = capnp_struct_get_u16(s, schema->discriminant_offset / 8);

                for (size_t i = 0; i < schema->n_fields; i++)
                        if (schema->fields[i].discriminant == tag) {
                                which = &schema->fields[i];
                                break;
                        }
        }

        if (w->style == CAPNP_JSON_COMPACT) {
                for (size_t i = 0; i < schema->n_fields; i++) {
                        const CapnpField *f = &schema->fields[i];

                        if (f->discriminant == CAPNP_NO_DISCRIMINANT && field_has(s, f))
                                entries[n++] = (Entry){.field = f};
                }
                if (which)
                        entries[n++] = (Entry){.field = which};
        } else {
                bool which_null = which && !field_has(s, which);

                if (which && which->discriminant == 0 && which_null)
                        which = NULL;
                for (size_t i = 0; i < schema->n_fields; i++) {
                        const CapnpField *f = &schema->fields[i];

                        if (f == which)
                                entries[n++] = (Entry){.field = f, .null = which_null};
                        else if (f->discriminant == CAPNP_NO_DISCRIMINANT && field_has(s, f))
                                entries[n++] = (Entry){.field = f};
                }
        }

        r = pieces_init(&p, n);
        if (r < 0)
                return r;
        sub = indent + (n > 1);
        for (size_t i = 0; i < n; i++) {
                StrBuf *b = &p.items[i];

                r = capnp_json_write_string(b, entries[i].field->name, strlen(entries[i].field->name));
                if (r >= 0)
                        r = strbuf_append_str(b, ": ");
                if (r >= 0)
                        r = entries[i].null ? strbuf_append_str(b, "null")
                                            : write_field(w, b, s, entries[i].field, sub, &p.multiline);
                if (r < 0)
                        return r;
        }
        r = capnp_message_error(s->msg);
        if (r < 0)
                return r;
        return write_joined(out, &p, indent, multiline, has_prefix, "{", '}');
}

int capnp_json_write_struct_schema(
        StrBuf *out, const CapnpStruct *s, const CapnpStructSchema *schema, CapnpJsonStyle style) {
        const Writer w = {.style = style};
        bool multiline = false;

        assert(out);
        assert(s);
        assert(schema);

        if (style < 0 || style >= _CAPNP_JSON_STYLE_MAX)
                return -EINVAL;
        if (style == CAPNP_JSON_VERIFY && schema == &capnp_schema_AppId)
                return write_id(out, s, true);
        if (style == CAPNP_JSON_VERIFY && schema == &capnp_schema_PackageId)
                return write_id(out, s, false);
        return write_struct(&w, out, s, schema, 0, &multiline, false);
}

int capnp_json_write_struct(StrBuf *out, const CapnpStruct *s, const char *type_name, CapnpJsonStyle style) {
        const CapnpStructSchema *schema;

        assert(type_name);

        schema = capnp_schema_find_struct(type_name);
        if (!schema)
                return -ENOENT;
        return capnp_json_write_struct_schema(out, s, schema, style);
}

int capnp_json_write_field_value(
        StrBuf *out, const CapnpStruct *s, const CapnpType *type, uint32_t offset, CapnpJsonStyle style) {
        const Writer w = {.style = style};
        bool multiline = false;
        int r;

        assert(out);
        assert(s);
        assert(type);

        if (style < 0 || style >= _CAPNP_JSON_STYLE_MAX)
                return -EINVAL;
        if (capnp_type_is_pointer(type))
                r = write_pointer(&w, out, s, (uint16_t) offset, type, 0, &multiline, false);
        else
                r = write_scalar(out, type, read_data(s, type, offset));
        if (r < 0)
                return r;
        return capnp_message_error(s->msg);
}
