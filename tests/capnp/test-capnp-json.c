/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The JSON writer on messages built by hand: the `spk verify` dialect (VerifiedInfo with its AppId,
 * PackageId, Base64, LargeDataBlob and LargeTextBlob forms, unions in place), the `capnp eval` dialect
 * (unions last, null members as defaults), JsonCodec's line-breaking rule, string escaping, number
 * formatting, and refusals.
 */

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "basic/hex.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "capnp/json.h"
#include "capnp/schema.h"

/* A built message, parsed back for reading. */
typedef struct Built {
        uint8_t *bytes;
        size_t size;
        CapnpMessage msg;
        CapnpStruct root;
} Built;

static void built_done(Built *b) {
        capnp_message_done(&b->msg);
        free(b->bytes);
}

static void built_read(CapnpBuilder *b, Built *ret) {
        size_t used;

        assert_int_equal(capnp_builder_finish(b, &ret->bytes, &ret->size), 0);
        assert_int_equal(capnp_message_parse(&ret->msg, ret->bytes, ret->size, NULL, &used), 0);
        assert_int_equal(capnp_message_root(&ret->msg, &ret->root), 0);
}

static char *render(const Built *b, const char *type, CapnpJsonStyle style, int *ret_r) {
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        CapnpStruct root = b->root;

        /* Reading charges the traversal budget: start afresh each time. */
        ((Built *) b)->msg.traversal_left = b->msg.total_words * 4;
        *ret_r = capnp_json_write_struct(&out, &root, type, style);
        return strbuf_steal(&out, NULL);
}

static void assert_render(const Built *b, const char *type, CapnpJsonStyle style, const char *expected) {
        _cleanup_free_ char *s = NULL;
        int r;

        s = render(b, type, style, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s, expected);
}

static void set_localized(const CapnpBuilderStruct *s, uint16_t slot, const char *text) {
        CapnpBuilderStruct lt;

        assert_int_equal(capnp_build_init_struct(s, slot, 0, 2, &lt), 0);
        assert_int_equal(capnp_build_set_text(&lt, 0, text, strlen(text)), 0);
}

/* ---- spk verify ---- */

static void build_verified_info(CapnpBuilder *b, size_t svg_len, size_t png_len) {
        static const char app_id[] = "vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0";
        static const uint8_t package_id[16] = {0xb5, 0xbb, 0x9d, 0x80, 0x14, 0xa0, 0xf9, 0xb1, 0xd6, 0x1e,
                0x21, 0xe7, 0x96, 0xd7, 0x8d, 0xcc};
        CapnpBuilderStruct root, id, meta, icon, png, shot;
        CapnpBuilderList l;
        uint8_t key[32];
        _cleanup_free_ char *svg = malloc(svg_len + 1);
        _cleanup_free_ uint8_t *data = malloc(png_len + 1);

        assert_non_null(svg);
        assert_non_null(data);
        memset(svg, 'x', svg_len);
        for (size_t i = 0; i < png_len; i++)
                data[i] = (uint8_t) i;

        capnp_builder_init(b, 0);
        assert_int_equal(capnp_builder_init_root(b, 1, 6, &root), 0);

        assert_int_equal(app_id_from_string(app_id, strlen(app_id), key), 0);
        assert_int_equal(capnp_build_init_struct(&root, 0, 4, 0, &id), 0);
        for (unsigned i = 0; i < 4; i++)
                capnp_build_set_u64(&id, 8 * i, unaligned_read_le64(key + 8 * i));
        assert_int_equal(capnp_build_init_struct(&root, 1, 2, 0, &id), 0);
        capnp_build_set_u64(&id, 0, unaligned_read_le64(package_id));
        capnp_build_set_u64(&id, 8, unaligned_read_le64(package_id + 8));

        set_localized(&root, 2, "Example App");
        capnp_build_set_u32(&root, 0, 7);
        set_localized(&root, 3, "1.0.2");

        assert_int_equal(capnp_build_init_struct(&root, 5, 1, 17, &meta), 0);
        /* icons.appGrid: svg; icons.grain: png with one density; license: openSource = mit */
        assert_int_equal(capnp_build_init_struct(&meta, 0, 1, 2, &icon), 0);
        capnp_build_set_u16(&icon, 0, 1);
        assert_int_equal(capnp_build_set_text(&icon, 0, svg, svg_len), 0);
        assert_int_equal(capnp_build_init_struct(&meta, 1, 1, 2, &png), 0);
        capnp_build_set_u16(&png, 0, 2);
        assert_int_equal(capnp_build_set_data(&png, 0, data, png_len), 0);
        assert_int_equal(capnp_build_set_text(&meta, 3, "https://example.org", 19), 0);
        capnp_build_set_u16(&meta, 0, 1);
        capnp_build_set_u16(&meta, 2, 1);
        assert_int_equal(capnp_build_init_list(&meta, 7, CAPNP_ELEMENT_TWO_BYTES, 2, &l), 0);
        capnp_build_list_set_u16(&l, 0, 1);
        capnp_build_list_set_u16(&l, 1, 99); /* not a Category */
        assert_int_equal(capnp_build_set_text(&meta, 8, "me@example.org", 14), 0);
        assert_int_equal(capnp_build_init_struct_list(&meta, 13, 1, 2, 1, &l), 0);
        assert_int_equal(capnp_build_list_get_struct(&l, 0, &shot), 0);
        capnp_build_set_u32(&shot, 0, 640);
        capnp_build_set_u32(&shot, 4, 480);
        capnp_build_set_u16(&shot, 8, 2); /* jpeg, but null */
}

static void test_verify_style(void **state) {
        _cleanup_(built_done) Built b = {};
        CapnpBuilder builder;

        build_verified_info(&builder, 3, 4);
        built_read(&builder, &b);
        capnp_builder_done(&builder);

        assert_render(&b, "VerifiedInfo", CAPNP_JSON_VERIFY,
                "{ \"appId\": \"vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0\",\n"
                "  \"packageId\": \"b5bb9d8014a0f9b1d61e21e796d78dcc\",\n"
                "  \"title\": {\"defaultText\": \"Example App\"},\n"
                "  \"version\": 7,\n"
                "  \"marketingVersion\": {\"defaultText\": \"1.0.2\"},\n"
                "  \"metadata\": {\n"
                "    \"icons\": {\"appGrid\": {\"svg\": \"xxx\"}, \"grain\": {\"png\": {\"dpi1x\": "
                "Base64(\"AAECAw==\")}}},\n"
                "    \"website\": \"https://example.org\",\n"
                "    \"license\": {\"openSource\": \"mit\"},\n"
                "    \"categories\": [\"productivity\", 99],\n"
                "    \"author\": {\"contactEmail\": \"me@example.org\"},\n"
                "    \"screenshots\": [{\"width\": 640, \"height\": 480, \"jpeg\": null}] } }");

        /* The same message as capnp eval prints it: unions after the other fields, a null member as
         * its default. */
        assert_render(&b, "VerifiedInfo", CAPNP_JSON_COMPACT,
                "{ \"appId\": {\"id0\": \"9786990975285556956\", \"id1\": \"11138594945912027472\", "
                "\"id2\": \"16230821960921721755\", \"id3\": \"6681973660755358975\"},\n"
                "  \"packageId\": {\"id0\": \"12824457423831808949\", \"id1\": \"14739674198576275158\"},\n"
                "  \"title\": {\"defaultText\": \"Example App\"},\n"
                "  \"version\": 7,\n"
                "  \"marketingVersion\": {\"defaultText\": \"1.0.2\"},\n"
                "  \"metadata\": {\n"
                "    \"icons\": {\"appGrid\": {\"svg\": \"xxx\"}, \"grain\": {\"png\": {\"dpi1x\": [0, 1, "
                "2, 3]}}},\n"
                "    \"website\": \"https://example.org\",\n"
                "    \"license\": {\"openSource\": \"mit\"},\n"
                "    \"categories\": [\"productivity\", 99],\n"
                "    \"author\": {\"contactEmail\": \"me@example.org\"},\n"
                "    \"screenshots\": [{\"width\": 640, \"height\": 480, \"jpeg\": []}] } }");
}

static void test_verify_blobs(void **state) {
        _cleanup_(built_done) Built small = {}, large = {};
        _cleanup_free_ char *s = NULL;
        CapnpBuilder builder;
        int r;

        /* 256 bytes is still shown; 257 is not. */
        build_verified_info(&builder, 256, 256);
        built_read(&builder, &small);
        capnp_builder_done(&builder);
        s = render(&small, "VerifiedInfo", CAPNP_JSON_VERIFY, &r);
        assert_int_equal(r, 0);
        assert_non_null(strstr(s,
                "\"dpi1x\": Base64(\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEy"));
        assert_non_null(strstr(s, "+/w==\")"));
        assert_null(strstr(s, "LargeTextBlob"));
        free(s);
        s = NULL;

        build_verified_info(&builder, 257, 257);
        built_read(&builder, &large);
        capnp_builder_done(&builder);
        assert_render(&large, "VerifiedInfo", CAPNP_JSON_VERIFY,
                "{ \"appId\": \"vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0\",\n"
                "  \"packageId\": \"b5bb9d8014a0f9b1d61e21e796d78dcc\",\n"
                "  \"title\": {\"defaultText\": \"Example App\"},\n"
                "  \"version\": 7,\n"
                "  \"marketingVersion\": {\"defaultText\": \"1.0.2\"},\n"
                "  \"metadata\": {\n"
                "    \"icons\": {\"appGrid\": {\"svg\": LargeTextBlob(257)}, \"grain\": {\"png\": "
                "{\"dpi1x\": LargeDataBlob(257)}}},\n"
                "    \"website\": \"https://example.org\",\n"
                "    \"license\": {\"openSource\": \"mit\"},\n"
                "    \"categories\": [\"productivity\", 99],\n"
                "    \"author\": {\"contactEmail\": \"me@example.org\"},\n"
                "    \"screenshots\": [{\"width\": 640, \"height\": 480, \"jpeg\": null}] } }");
}

/* Union members: VERIFY omits a null first member and shows another null member as null; COMPACT
 * always shows the member, a null one as its default. */
static void test_union_members(void **state) {
        _cleanup_(built_done) Built b = {};
        CapnpBuilder builder;
        CapnpBuilderStruct root;

        /* Archive.File with tag 0 (regular) and no content, and a name. */
        capnp_builder_init(&builder, 0);
        assert_int_equal(capnp_builder_init_root(&builder, 2, 2, &root), 0);
        assert_int_equal(capnp_build_set_text(&root, 0, "f", 1), 0);
        capnp_build_set_u64(&root, 8, UINT64_C(1700000000000000000));
        built_read(&builder, &b);
        capnp_builder_done(&builder);

        assert_render(&b, "Archive.File", CAPNP_JSON_VERIFY,
                "{\"name\": \"f\", \"lastModificationTimeNs\": \"1700000000000000000\"}");
        assert_render(&b, "Archive.File", CAPNP_JSON_COMPACT,
                "{\"name\": \"f\", \"lastModificationTimeNs\": \"1700000000000000000\", \"regular\": []}");

        /* Tag 3 (directory), null: shown in place as null; with an unknown tag, not at all. */
        {
                _cleanup_(built_done) Built d = {}, u = {};

                capnp_builder_init(&builder, 0);
                assert_int_equal(capnp_builder_init_root(&builder, 2, 2, &root), 0);
                capnp_build_set_u16(&root, 0, 3);
                built_read(&builder, &d);
                capnp_builder_done(&builder);
                assert_render(&d, "Archive.File", CAPNP_JSON_VERIFY,
                        "{\"directory\": null, \"lastModificationTimeNs\": \"0\"}");
                assert_render(&d, "Archive.File", CAPNP_JSON_COMPACT,
                        "{\"lastModificationTimeNs\": \"0\", \"directory\": []}");

                capnp_builder_init(&builder, 0);
                assert_int_equal(capnp_builder_init_root(&builder, 2, 2, &root), 0);
                capnp_build_set_u16(&root, 0, 9);
                built_read(&builder, &u);
                capnp_builder_done(&builder);
                assert_render(&u, "Archive.File", CAPNP_JSON_VERIFY, "{\"lastModificationTimeNs\": \"0\"}");
                assert_render(&u, "Archive.File", CAPNP_JSON_COMPACT, "{\"lastModificationTimeNs\": \"0\"}");
        }
}

/* An empty (null-pointer) root reads as all defaults. */
static void test_empty_struct(void **state) {
        static const uint8_t empty[] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        _cleanup_(capnp_message_done) CapnpMessage m = {};
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        CapnpStruct root;
        size_t used;

        assert_int_equal(capnp_message_parse(&m, empty, sizeof(empty), NULL, &used), 0);
        assert_int_equal(capnp_message_root(&m, &root), 0);
        assert_int_equal(capnp_json_write_struct(&out, &root, "Manifest", CAPNP_JSON_COMPACT), 0);
        assert_string_equal(out.data, "{\"minApiVersion\": 0, \"maxApiVersion\": 0, \"appVersion\": 0, "
                                      "\"minUpgradableAppVersion\": 0}");
        strbuf_truncate(&out, 0);
        assert_int_equal(capnp_json_write_struct(&out, &root, "Metadata.Icon", CAPNP_JSON_VERIFY), 0);
        assert_string_equal(out.data, "{\"unknown\": null}");
        strbuf_truncate(&out, 0);
        assert_int_equal(capnp_json_write_struct(&out, &root, "AppId", CAPNP_JSON_VERIFY), 0);
        assert_string_equal(out.data, "\"0000000000000000000000000000000000000000000000000000\"");
}

/* ---- layout ---- */

static void test_line_breaking(void **state) {
        _cleanup_(built_done) Built b = {}, c = {};
        CapnpBuilder builder;
        CapnpBuilderStruct root;
        CapnpBuilderList l;
        char s50[51], s51[52];

        /* "argv": two texts; a quoted text of 50 bytes keeps one line, 51 breaks it. */
        memset(s50, 'a', 48);
        s50[48] = 0;
        memset(s51, 'b', 49);
        s51[49] = 0;

        capnp_builder_init(&builder, 0);
        assert_int_equal(capnp_builder_init_root(&builder, 0, 3, &root), 0);
        assert_int_equal(capnp_build_init_list(&root, 1, CAPNP_ELEMENT_POINTER, 2, &l), 0);
        assert_int_equal(capnp_build_list_set_text(&l, 0, s50, 48), 0);
        assert_int_equal(capnp_build_list_set_text(&l, 1, "x", 1), 0);
        built_read(&builder, &b);
        capnp_builder_done(&builder);
        assert_render(&b, "Manifest.Command", CAPNP_JSON_COMPACT,
                "{\"argv\": [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"x\"]}");

        capnp_builder_init(&builder, 0);
        assert_int_equal(capnp_builder_init_root(&builder, 0, 3, &root), 0);
        assert_int_equal(capnp_build_init_list(&root, 1, CAPNP_ELEMENT_POINTER, 2, &l), 0);
        assert_int_equal(capnp_build_list_set_text(&l, 0, s51, 49), 0);
        assert_int_equal(capnp_build_list_set_text(&l, 1, "x", 1), 0);
        assert_int_equal(capnp_build_set_text(&root, 0, "/bin/x", 6), 0);
        built_read(&builder, &c);
        capnp_builder_done(&builder);
        /* The long array breaks (after the field name: its first element on a new line), and the
         * object holding a multi-line value breaks too. */
        assert_render(&c, "Manifest.Command", CAPNP_JSON_COMPACT,
                "{ \"deprecatedExecutablePath\": \"/bin/x\",\n"
                "  \"argv\": [\n"
                "    \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\n"
                "    \"x\" ] }");
}

/* ---- scalars ---- */

static void test_string_escapes(void **state) {
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        static const char in[] = "a\"\\\x01\x7f é\t/<>&'\n\r\b\f\x1f\0z\a\v";

        assert_int_equal(capnp_json_write_string(&out, in, sizeof(in) - 1), 0);
        assert_string_equal(
                out.data, "\"a\\\"\\\\\\u0001\x7f é\\t/<>&'\\n\\r\\b\\f\\u001f\\u0000z\\u0007\\u000b\"");
        strbuf_truncate(&out, 0);
        assert_int_equal(capnp_json_write_string(&out, NULL, 0), 0);
        assert_string_equal(out.data, "\"\"");
}

static void test_numbers(void **state) {
        static const struct {
                const char *type;
                uint64_t bits;
                const char *json;
        } cases[] = {
                {"Int8", 0x80, "-128"},
                {"Int16", 0xffff, "-1"},
                {"Int32", 0x80000000, "-2147483648"},
                {"Int64", UINT64_C(0x8000000000000000), "\"-9223372036854775808\""},
                {"UInt8", 255, "255"},
                {"UInt32", 4294967295u, "4294967295"},
                {"UInt64", UINT64_MAX, "\"18446744073709551615\""},
                {"Float32", 0x3dcccccd, "0.10000000149011612"},
                {"Float32", 0x7f800000, "\"Infinity\""},
                {"Float32", 0xff800000, "\"-Infinity\""},
                {"Float32", 0x7fc00000, "\"NaN\""},
                {"Float64", UINT64_C(0x3fb999999999999a), "0.1"},
                {"Float64", UINT64_C(0x444b1ae4d6e2ef50), "1e21"},
                {"Float64", UINT64_C(0x3e7ad7f29abcaf48), "1e-07"},
                {"Float64", UINT64_C(0x0000000000000001), "4.94065645841247e-324"},
                {"Float64", UINT64_C(0x8000000000000000), "-0"},
                {"Float64", UINT64_C(0x4059000000000000), "100"},
                {"Bool", 1, "true"},
                {"Void", 0, "null"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
                _cleanup_(capnp_message_done) CapnpMessage m = {};
                _cleanup_free_ uint8_t *bytes = NULL;
                CapnpBuilder b;
                CapnpBuilderStruct root;
                CapnpStruct r;
                size_t size, used;
                const CapnpType *t = capnp_type_builtin(cases[i].type, strlen(cases[i].type));

                capnp_builder_init(&b, 0);
                assert_int_equal(capnp_builder_init_root(&b, 1, 0, &root), 0);
                capnp_build_set_u64(&root, 0, cases[i].bits);
                assert_int_equal(capnp_builder_finish(&b, &bytes, &size), 0);
                capnp_builder_done(&b);
                assert_int_equal(capnp_message_parse(&m, bytes, size, NULL, &used), 0);
                assert_int_equal(capnp_message_root(&m, &r), 0);
                assert_int_equal(capnp_json_write_field_value(&out, &r, t, 0, CAPNP_JSON_COMPACT), 0);
                assert_string_equal(out.data, cases[i].json);
        }
}

/* ---- refusals ---- */

static void test_refusals(void **state) {
        _cleanup_(built_done) Built b = {};
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        _cleanup_free_ char *s = NULL;
        CapnpBuilder builder;
        CapnpBuilderStruct root, value;
        int r;

        /* PowerboxDescriptor.Tag with a value: AnyPointer cannot be written, as in capnp. */
        capnp_builder_init(&builder, 0);
        assert_int_equal(capnp_builder_init_root(&builder, 1, 1, &root), 0);
        capnp_build_set_u64(&root, 0, 1);
        assert_int_equal(capnp_build_init_struct(&root, 0, 0, 1, &value), 0);
        built_read(&builder, &b);
        capnp_builder_done(&builder);
        s = render(&b, "PowerboxDescriptor.Tag", CAPNP_JSON_COMPACT, &r);
        assert_int_equal(r, -EOPNOTSUPP);

        assert_int_equal(capnp_json_write_struct(&out, &b.root, "NoSuchType", CAPNP_JSON_COMPACT), -ENOENT);
        assert_int_equal(
                capnp_json_write_struct(&out, &b.root, "PowerboxDescriptor.Tag", _CAPNP_JSON_STYLE_MAX),
                -EINVAL);

        assert_string_equal(capnp_json_style_to_string(CAPNP_JSON_VERIFY), "verify");
        assert_int_equal(capnp_json_style_from_string("compact"), CAPNP_JSON_COMPACT);
        assert_int_equal(capnp_json_style_from_string("pretty"), _CAPNP_JSON_STYLE_INVALID);
        assert_null(capnp_json_style_to_string(_CAPNP_JSON_STYLE_INVALID));
}

/* A pointer past the end of its segment surfaces as the reader's error. */
static void test_malformed(void **state) {
        static const uint8_t bad[] = {
                0, 0, 0, 0, 2, 0, 0, 0,       /* one segment of 2 words */
                0, 0, 0, 0, 0, 0, 1, 0,       /* root: 0 data words, 1 pointer */
                0x11, 0, 0, 0, 0x0a, 0, 0, 0, /* text pointer far beyond the segment */
        };
        _cleanup_(capnp_message_done) CapnpMessage m = {};
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        CapnpStruct root;
        size_t used;

        assert_int_equal(capnp_message_parse(&m, bad, sizeof(bad), NULL, &used), 0);
        assert_int_equal(capnp_message_root(&m, &root), 0);
        assert_int_equal(
                capnp_json_write_struct(&out, &root, "PackageDefinition", CAPNP_JSON_VERIFY), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_verify_style),
                cmocka_unit_test(test_verify_blobs),
                cmocka_unit_test(test_union_members),
                cmocka_unit_test(test_empty_struct),
                cmocka_unit_test(test_line_breaking),
                cmocka_unit_test(test_string_escapes),
                cmocka_unit_test(test_numbers),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_malformed),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
