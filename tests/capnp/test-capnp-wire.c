/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Tests of capnp/capnp.h: the spec's Signature vector, messages written by Debian's capnp tool
 * (tests/capnp/data/wire-*.bin, from wire-test.capnp), hand-made multi-segment messages with far and
 * double-far pointers, every malformed case with its errno, the limits, and the builder and deep
 * copy byte for byte.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "basic/macro.h"
#include "capnp/capnp.h"

/* ---------------------------------------------------------------------------------------------------
 * Helpers. Pointer words are encoded here by hand from spec §4.3, independently of the library.
 */

#define SP(offset, data_words, n_ptrs)                                                                       \
        ((uint64_t) ((uint32_t) (int32_t) (offset) << 2) | (uint64_t) (data_words) << 32 |                   \
         (uint64_t) (n_ptrs) << 48)
#define LP(offset, size, count)                                                                              \
        ((uint64_t) ((uint32_t) (int32_t) (offset) << 2) | 1 | (uint64_t) (size) << 32 |                     \
         (uint64_t) (count) << 35)
#define FP(double_far, pad_word, segment)                                                                    \
        (2 | (uint64_t) (double_far) << 2 | (uint64_t) (pad_word) << 3 | (uint64_t) (segment) << 32)
#define CP(index) (3 | (uint64_t) (index) << 32)

/* Text bytes as a little-endian word, first byte lowest. */
#define TEXT_A UINT64_C(0x61)
#define TEXT_BC UINT64_C(0x6362)
#define TEXT_FAR UINT64_C(0x726166)
#define TEXT_ABC UINT64_C(0x636261)
#define TEXT_HI UINT64_C(0x6968)
#define TEXT_DIGITS UINT64_C(0x3837363534333231) /* "12345678" */

/* Frames segments as a stream message: sizes[i] words each, taken in order from words. */
static uint8_t *frame(uint32_t n_segments, const uint32_t *sizes, const uint64_t *words, size_t *ret_size) {
        size_t table = 8 * (n_segments / 2 + 1), total = 0;
        uint8_t *p;

        for (uint32_t i = 0; i < n_segments; i++)
                total += sizes[i];
        p = calloc(1, table + 8 * total);
        assert_non_null(p);
        unaligned_write_le32(p, n_segments - 1);
        for (uint32_t i = 0; i < n_segments; i++)
                unaligned_write_le32(p + 4 + 4 * i, sizes[i]);
        for (size_t i = 0; i < total; i++)
                unaligned_write_le64(p + table + 8 * i, words[i]);
        *ret_size = table + 8 * total;
        return p;
}

#define FRAME1(words, ret_size) frame(1, (const uint32_t[]) { ELEMENTSOF(words) }, (words), (ret_size))

/* A parsed single-segment message held by the test. */
typedef struct Msg {
        uint8_t *buf;
        size_t size;
        CapnpMessage m;
} Msg;

static void msg_done(Msg *t) {
        capnp_message_done(&t->m);
        free(t->buf);
        *t = (Msg) {};
}
#define _cleanup_msg_ _cleanup_(msg_done)

static void msg_parse(Msg *t, uint8_t *buf, size_t size, const CapnpReadOptions *opts) {
        size_t used = 0;

        t->buf = buf;
        t->size = size;
        assert_int_equal(capnp_message_parse(&t->m, buf, size, opts, &used), 0);
        assert_int_equal(used, size);
}

static void msg_words(Msg *t, const uint64_t *words, size_t n, const CapnpReadOptions *opts) {
        size_t size;
        uint8_t *buf = frame(1, (const uint32_t[]) { (uint32_t) n }, words, &size);

        msg_parse(t, buf, size, opts);
}

#define MSG_WORDS(t, words, opts) msg_words((t), (words), ELEMENTSOF(words), (opts))

static uint8_t *read_data_file(const char *name, size_t *ret_size) {
        char path[4096];
        uint8_t *buf;
        long n;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
        f = fopen(path, "re");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n > 0);
        rewind(f);
        buf = malloc(n);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, n, f), (size_t) n);
        fclose(f);
        *ret_size = n;
        return buf;
}

static void msg_file(Msg *t, const char *name, const CapnpReadOptions *opts) {
        size_t size;
        uint8_t *buf = read_data_file(name, &size);

        msg_parse(t, buf, size, opts);
}

static void assert_text(const CapnpStruct *s, uint16_t i, const char *expected) {
        const char *text = (const char *) 1;
        size_t len = 1;

        assert_int_equal(capnp_struct_get_text(s, i, &text, &len), 0);
        if (!expected) {
                assert_null(text);
                assert_int_equal(len, 0);
                return;
        }
        assert_non_null(text);
        assert_int_equal(len, strlen(expected));
        assert_memory_equal(text, expected, len + 1);
}

static void assert_list_text(const CapnpList *l, uint32_t i, const char *expected) {
        const char *text;
        size_t len;

        assert_int_equal(capnp_list_get_text(l, i, &text, &len), 0);
        if (!expected) {
                assert_null(text);
                assert_int_equal(len, 0);
                return;
        }
        assert_non_null(text);
        assert_int_equal(len, strlen(expected));
        assert_memory_equal(text, expected, len + 1);
}

static const uint8_t signature_vector[] = {
        0x00, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, /* table: 1 segment of 23 words */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, /* root: struct, 0 data words, 2 pointers */
        0x05, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, 0x00, /* p[0]: +1, bytes, 32 */
        0x11, 0x00, 0x00, 0x00, 0x02, 0x04, 0x00, 0x00, /* p[1]: +4, bytes, 128 */
        [32 ... 63] = 0x11,
        [64 ... 191] = 0x22,
};

/* ---------------------------------------------------------------------------------------------------
 * The spec's test vector
 */

static void test_signature_vector_decode(void **state) {
        _cleanup_msg_ Msg t = {};
        const uint8_t *data;
        uint8_t expected[128];
        CapnpStruct root;
        size_t len;

        uint8_t *buf = malloc(sizeof(signature_vector));
        assert_non_null(buf);
        memcpy(buf, signature_vector, sizeof(signature_vector));
        msg_parse(&t, buf, sizeof(signature_vector), NULL);

        assert_int_equal(t.m.n_segments, 1);
        assert_int_equal(t.m.total_words, 23);
        assert_int_equal(capnp_message_root(&t.m, &root), 0);
        assert_int_equal(root.data_bytes, 0);
        assert_int_equal(root.n_ptrs, 2);

        assert_int_equal(capnp_struct_get_data(&root, 0, &data, &len), 0);
        assert_int_equal(len, 32);
        memset(expected, 0x11, 32);
        assert_memory_equal(data, expected, 32);

        assert_int_equal(capnp_struct_get_data(&root, 1, &data, &len), 0);
        assert_int_equal(len, 128);
        memset(expected, 0x22, 128);
        assert_memory_equal(data, expected, 128);

        /* The traversal limit defaults to the message's size, which a tree walk spends exactly. */
        assert_int_equal(t.m.traversal_left, 0);
        assert_int_equal(capnp_message_error(&t.m), 0);
}

static void test_signature_vector_build(void **state) {
        _cleanup_(capnp_builder_done) CapnpBuilder b;
        _cleanup_free_ uint8_t *out = NULL;
        uint8_t pk[32], sig[128];
        CapnpBuilderStruct root;
        size_t size;

        memset(pk, 0x11, sizeof(pk));
        memset(sig, 0x22, sizeof(sig));
        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_builder_init_root(&b, 0, 2, &root), 0);
        assert_int_equal(capnp_build_set_data(&root, 0, pk, sizeof(pk)), 0);
        assert_int_equal(capnp_build_set_data(&root, 1, sig, sizeof(sig)), 0);
        assert_int_equal(capnp_builder_finish(&b, &out, &size), 0);

        assert_int_equal(size, sizeof(signature_vector));
        assert_memory_equal(out, signature_vector, size);
}

static void test_signature_vector_matches_capnp_tool(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;

        buf = read_data_file("wire-signature.bin", &size);
        assert_int_equal(size, sizeof(signature_vector));
        assert_memory_equal(buf, signature_vector, size);
}

/* ---------------------------------------------------------------------------------------------------
 * Messages written by capnp
 */

static void test_capnp_full(void **state) {
        _cleanup_msg_ Msg t = {};
        CapnpStruct root, inner;
        CapnpList l, sub;
        const uint8_t *data;
        size_t len;

        /* Its void list costs a word per element: more than the message's size. */
        msg_file(&t, "wire-full.bin", &(CapnpReadOptions) { .traversal_limit_words = 1000 });
        assert_int_equal(capnp_message_root(&t.m, &root), 0);
        assert_int_equal(root.data_bytes, 40);
        assert_int_equal(root.n_ptrs, 16);

        /* Data section, at the offsets capnp compile -ocapnp gives. */
        assert_int_equal(capnp_struct_get_u8(&root, 0), 200);
        assert_true(capnp_struct_get_bool(&root, 8));
        assert_false(capnp_struct_get_bool(&root, 9));
        assert_int_equal((int16_t) capnp_struct_get_u16(&root, 2), -2);
        assert_int_equal(capnp_struct_get_u32(&root, 4), 0xdeadbeef);
        assert_int_equal((int64_t) capnp_struct_get_u64(&root, 8), INT64_C(-1234567890123));
        assert_int_equal(capnp_struct_get_u32(&root, 16), 0x3fc00000); /* 1.5f */
        assert_int_equal(capnp_struct_get_u16(&root, 20), 2);          /* color = blue */
        assert_int_equal(capnp_struct_get_u16(&root, 22), 2);          /* choice: word */
        assert_int_equal(capnp_struct_get_u64(&root, 24), UINT64_C(0xbfd0000000000000)); /* -0.25 */
        assert_int_equal(capnp_struct_get_u32(&root, 32), 0);

        /* Schema evolution: fields beyond the sections read as defaults. */
        assert_int_equal(capnp_struct_get_u64(&root, 40), 0);
        assert_int_equal(capnp_struct_get_u32(&root, 38), 0);
        assert_int_equal(capnp_struct_get_u8(&root, UINT32_MAX), 0);
        assert_int_equal(capnp_struct_get_u64(&root, UINT32_MAX - 3), 0);
        assert_false(capnp_struct_get_bool(&root, 320));
        assert_false(capnp_struct_has(&root, 16));
        assert_text(&root, 16, NULL);

        assert_text(&root, 0, "hello, world");
        assert_int_equal(capnp_struct_get_data(&root, 1, &data, &len), 0);
        assert_int_equal(len, 4);
        assert_memory_equal(data, "\x00\x01\xfe\xff", 4);

        assert_int_equal(capnp_struct_get_struct(&root, 2, &inner), 0);
        assert_int_equal(inner.data_bytes, 8);
        assert_int_equal(inner.n_ptrs, 1);
        assert_int_equal(inner.depth, 2);
        assert_int_equal(capnp_struct_get_u32(&inner, 0), 7);
        assert_text(&inner, 0, "inner");

        static const bool bools[] = { 1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1 };
        assert_int_equal(capnp_struct_get_list(&root, 3, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_BIT);
        assert_int_equal(l.count, ELEMENTSOF(bools));
        for (uint32_t i = 0; i < l.count; i++)
                assert_int_equal(capnp_list_get_bool(&l, i), bools[i]);

        assert_int_equal(capnp_struct_get_list(&root, 4, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_BYTE);
        assert_int_equal(l.count, 4);
        assert_memory_equal(capnp_list_bytes(&l), "\x01\x02\x03\xff", 4);
        assert_int_equal(capnp_list_get_u8(&l, 3), 255);

        assert_int_equal(capnp_struct_get_list(&root, 5, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_TWO_BYTES);
        assert_int_equal(l.count, 3);
        assert_int_equal(capnp_list_get_u16(&l, 0), 1);
        assert_int_equal(capnp_list_get_u16(&l, 1), 65535);
        assert_int_equal(capnp_list_get_u16(&l, 2), 4660);
        assert_null(capnp_list_bytes(&l));

        assert_int_equal(capnp_struct_get_list(&root, 6, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_FOUR_BYTES);
        assert_int_equal((int32_t) capnp_list_get_u32(&l, 0), -1);
        assert_int_equal(capnp_list_get_u32(&l, 1), 0);
        assert_int_equal(capnp_list_get_u32(&l, 2), INT32_MAX);

        assert_int_equal(capnp_struct_get_list(&root, 7, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_EIGHT_BYTES);
        assert_int_equal(capnp_list_get_u64(&l, 0), 0);
        assert_int_equal(capnp_list_get_u64(&l, 1), UINT64_MAX);
        assert_int_equal(capnp_list_get_u64(&l, 2), UINT64_C(81985529216486895));

        assert_int_equal(capnp_struct_get_list(&root, 8, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_POINTER);
        assert_int_equal(l.count, 3);
        assert_list_text(&l, 0, "a");
        assert_list_text(&l, 1, "");
        assert_list_text(&l, 2, "three");

        assert_int_equal(capnp_struct_get_list(&root, 9, &l), 0);
        assert_int_equal(l.count, 2);
        assert_int_equal(capnp_list_get_data(&l, 0, &data, &len), 0);
        assert_non_null(data); /* empty, not null */
        assert_int_equal(len, 0);
        assert_int_equal(capnp_list_get_data(&l, 1, &data, &len), 0);
        assert_int_equal(len, 2);
        assert_memory_equal(data, "\xaa\xbb", 2);

        assert_int_equal(capnp_struct_get_list(&root, 10, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_POINTER);
        assert_int_equal(l.count, 3);
        assert_int_equal(capnp_list_get_list(&l, 0, &sub), 0);
        assert_int_equal(sub.element_size, CAPNP_ELEMENT_TWO_BYTES);
        assert_int_equal(sub.count, 2);
        assert_int_equal(sub.depth, 3);
        assert_int_equal(capnp_list_get_u16(&sub, 0), 1);
        assert_int_equal(capnp_list_get_u16(&sub, 1), 2);
        assert_int_equal(capnp_list_get_list(&l, 1, &sub), 0);
        assert_int_equal(sub.count, 0);
        assert_int_equal(capnp_list_get_list(&l, 2, &sub), 0);
        assert_int_equal(sub.count, 1);
        assert_int_equal(capnp_list_get_u16(&sub, 0), 3);

        assert_int_equal(capnp_struct_get_struct_list(&root, 11, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_COMPOSITE);
        assert_int_equal(l.count, 3);
        assert_int_equal(l.data_bytes, 8);
        assert_int_equal(l.n_ptrs, 1);
        assert_int_equal(l.step_bits, 128);
        static const char *const names[] = { "one", NULL, "three" };
        for (uint32_t i = 0; i < 3; i++) {
                CapnpStruct e;

                assert_int_equal(capnp_list_get_struct(&l, i, &e), 0);
                assert_int_equal(e.depth, 3);
                assert_int_equal(capnp_struct_get_u32(&e, 0), i + 1);
                assert_text(&e, 0, names[i]);
                assert_int_equal(capnp_struct_has(&e, 0), names[i] != NULL);
        }

        assert_int_equal(capnp_struct_get_list(&root, 12, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_VOID);
        assert_int_equal(l.count, 5);

        assert_text(&root, 13, "chosen");
        assert_true(capnp_struct_has(&root, 14));
        assert_text(&root, 14, "");

        assert_int_equal(capnp_struct_get_list(&root, 15, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_POINTER);
        assert_int_equal(l.count, 3);
        assert_int_equal(capnp_list_get_list(&l, 2, &sub), 0);
        assert_int_equal(sub.element_size, CAPNP_ELEMENT_COMPOSITE);
        assert_int_equal(sub.count, 2);
        assert_int_equal(capnp_list_get_struct(&sub, 0, &inner), 0);
        assert_int_equal(inner.depth, 4);
        assert_int_equal(capnp_struct_get_u32(&inner, 0), 20);
        assert_text(&inner, 0, "x");
        assert_int_equal(capnp_list_get_struct(&sub, 1, &inner), 0);
        assert_int_equal(capnp_struct_get_u32(&inner, 0), 21);
        assert_int_equal(capnp_list_get_list(&l, 1, &sub), 0);
        assert_int_equal(sub.count, 0);

        assert_int_equal(capnp_message_error(&t.m), 0);
}

static void test_capnp_union_and_defaults(void **state) {
        _cleanup_msg_ Msg t = {}, e = {};
        CapnpStruct root, inner;
        CapnpList l;
        const uint8_t *data;
        size_t len;

        msg_file(&t, "wire-numberChoice.bin", NULL);
        assert_int_equal(capnp_message_root(&t.m, &root), 0);
        assert_int_equal(capnp_struct_get_u16(&root, 22), 1);
        assert_int_equal(capnp_struct_get_u32(&root, 32), 42);
        assert_false(capnp_struct_has(&root, 13));

        msg_file(&e, "wire-empty.bin", NULL);
        assert_int_equal(capnp_message_root(&e.m, &root), 0);
        assert_int_equal(capnp_struct_get_u16(&root, 22), 0);
        for (uint16_t i = 0; i < root.n_ptrs; i++)
                assert_false(capnp_struct_has(&root, i));
        assert_text(&root, 0, NULL);
        assert_int_equal(capnp_struct_get_data(&root, 1, &data, &len), 0);
        assert_null(data);
        assert_int_equal(len, 0);
        assert_int_equal(capnp_struct_get_struct(&root, 2, &inner), 0);
        assert_int_equal(inner.data_bytes, 0);
        assert_int_equal(inner.n_ptrs, 0);
        assert_int_equal(capnp_struct_get_u32(&inner, 0), 0);
        assert_int_equal(capnp_struct_get_struct_list(&root, 11, &l), 0);
        assert_int_equal(l.count, 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_VOID);
        assert_int_equal(capnp_message_error(&e.m), 0);
}

static void test_capnp_archive(void **state) {
        _cleanup_msg_ Msg t = {};
        CapnpList files, dir;
        CapnpStruct root, f, g;
        const uint8_t *data;
        size_t len;

        msg_file(&t, "wire-archive.bin", &(CapnpReadOptions) { .nesting_limit = CAPNP_ARCHIVE_NESTING_LIMIT });
        assert_int_equal(capnp_message_root(&t.m, &root), 0);
        assert_int_equal(capnp_struct_get_struct_list(&root, 0, &files), 0);
        assert_int_equal(files.count, 4);

        assert_int_equal(capnp_list_get_struct(&files, 0, &f), 0);
        assert_text(&f, 0, "bin");
        assert_int_equal(capnp_struct_get_u16(&f, 0), 3);
        assert_int_equal(capnp_struct_get_u64(&f, 8), UINT64_C(1700000000000000000));
        assert_int_equal(capnp_struct_get_struct_list(&f, 1, &dir), 0);
        assert_int_equal(dir.count, 2);
        assert_int_equal(capnp_list_get_struct(&dir, 0, &g), 0);
        assert_text(&g, 0, "run");
        assert_int_equal(capnp_struct_get_u16(&g, 0), 1);
        assert_int_equal(capnp_struct_get_data(&g, 1, &data, &len), 0);
        assert_int_equal(len, 10);
        assert_memory_equal(data, "#!/bin/sh\n", 10);
        assert_int_equal(capnp_list_get_struct(&dir, 1, &g), 0);
        assert_text(&g, 0, "link");
        assert_int_equal(capnp_struct_get_u16(&g, 0), 2);
        assert_text(&g, 1, "run");

        assert_int_equal(capnp_list_get_struct(&files, 1, &f), 0);
        assert_text(&f, 0, "dev");
        assert_int_equal(capnp_struct_get_u16(&f, 0), 3);
        assert_true(capnp_struct_has(&f, 1));
        assert_int_equal(capnp_struct_get_struct_list(&f, 1, &dir), 0);
        assert_int_equal(dir.count, 0);
        assert_int_equal(dir.element_size, CAPNP_ELEMENT_COMPOSITE);

        assert_int_equal(capnp_list_get_struct(&files, 2, &f), 0);
        assert_text(&f, 0, "empty");
        assert_int_equal(capnp_struct_get_u16(&f, 0), 0);
        assert_int_equal(capnp_struct_get_data(&f, 1, &data, &len), 0);
        assert_non_null(data);
        assert_int_equal(len, 0);

        assert_int_equal(capnp_list_get_struct(&files, 3, &f), 0);
        assert_text(&f, 0, "readme");
        assert_int_equal((int64_t) capnp_struct_get_u64(&f, 8), -5);
        assert_int_equal(capnp_struct_get_data(&f, 1, &data, &len), 0);
        assert_int_equal(len, 8);
        assert_memory_equal(data, "read me\n", 8);

        assert_int_equal(capnp_message_error(&t.m), 0);
}

/* capnp lays out a copied value depth first, in pointer order, as our copy does: copying its output
 * must give its bytes back exactly. */
static void test_copy_root_reproduces_capnp_bytes(void **state) {
        static const char *const files[] = {
                "wire-full.bin", "wire-numberChoice.bin", "wire-empty.bin",
                "wire-archive.bin", "wire-signature.bin",
        };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_(capnp_builder_done) CapnpBuilder b;
                _cleanup_free_ uint8_t *out = NULL;
                _cleanup_msg_ Msg t = {};
                CapnpStruct root;
                size_t size;

                msg_file(&t, files[i], &(CapnpReadOptions) { .traversal_limit_words = 1000 });
                assert_int_equal(capnp_message_root(&t.m, &root), 0);
                capnp_builder_init(&b, 0);
                assert_int_equal(capnp_build_copy_root(&b, &root), 0);
                assert_int_equal(capnp_builder_finish(&b, &out, &size), 0);
                assert_int_equal(size, t.size);
                assert_memory_equal(out, t.buf, size);
        }
}

/* ---------------------------------------------------------------------------------------------------
 * Framing
 */

static void test_framing_truncated(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        CapnpMessage m = {};
        size_t size, need = 99;

        buf = malloc(sizeof(signature_vector));
        assert_non_null(buf);
        memcpy(buf, signature_vector, sizeof(signature_vector));

        /* Table incomplete: the size is unknown. */
        for (size_t n = 0; n < 8; n++) {
                need = 99;
                assert_int_equal(capnp_message_parse(&m, buf, n, NULL, &need), 1);
                assert_int_equal(need, 0);
                need = 99;
                assert_int_equal(capnp_message_measure(buf, n, 0, &need), 1);
                assert_int_equal(need, 0);
        }
        /* Table complete, segments short: the whole size is known. */
        for (size_t n = 8; n < sizeof(signature_vector); n++) {
                need = 0;
                assert_int_equal(capnp_message_parse(&m, buf, n, NULL, &need), 1);
                assert_int_equal(need, sizeof(signature_vector));
                need = 0;
                assert_int_equal(capnp_message_measure(buf, n, 0, &need), 0);
                assert_int_equal(need, sizeof(signature_vector));
        }
        assert_null(m.segments);

        /* Two segments: the table is 16 bytes, padded. */
        static const uint8_t two[] = { 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0 };
        need = 99;
        assert_int_equal(capnp_message_measure(two, 12, 0, &need), 1);
        assert_int_equal(need, 0);
        assert_int_equal(capnp_message_measure(two, 16, 0, &need), 0);
        assert_int_equal(need, 16 + 3 * 8);
        assert_int_equal(capnp_message_parse(&m, two, 16, NULL, &need), 1);
        assert_int_equal(need, 40);

        size = sizeof(signature_vector);
        assert_int_equal(capnp_message_parse(&m, buf, size, NULL, &need), 0);
        assert_int_equal(need, size);
        capnp_message_done(&m);
        assert_null(m.segments);
        capnp_message_done(&m);
        capnp_message_done(NULL);
}

static void test_framing_concatenated(void **state) {
        uint8_t buf[2 * sizeof(signature_vector) + 3];
        CapnpMessage m;
        CapnpStruct root;
        const uint8_t *data;
        size_t used, len, off = 0;

        memcpy(buf, signature_vector, sizeof(signature_vector));
        memcpy(buf + sizeof(signature_vector), signature_vector, sizeof(signature_vector));
        memset(buf + 2 * sizeof(signature_vector), 0, 3);

        for (int i = 0; i < 2; i++) {
                assert_int_equal(capnp_message_parse(&m, buf + off, sizeof(buf) - off, NULL, &used), 0);
                assert_int_equal(used, sizeof(signature_vector));
                assert_int_equal(capnp_message_root(&m, &root), 0);
                assert_int_equal(capnp_struct_get_data(&root, 1, &data, &len), 0);
                assert_int_equal(len, 128);
                capnp_message_done(&m);
                off += used;
        }
        /* Three trailing bytes: a truncated table. */
        assert_int_equal(capnp_message_parse(&m, buf + off, sizeof(buf) - off, NULL, &used), 1);
        assert_int_equal(used, 0);
}

static void test_framing_segments(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        CapnpMessage m;
        size_t size, need;

        /* 512 segments are fine, 513 are not, nor more than max_segments. */
        buf = calloc(1, 8 * (513 / 2 + 1));
        assert_non_null(buf);
        unaligned_write_le32(buf, 511);
        assert_int_equal(capnp_message_parse(&m, buf, 8 * (512 / 2 + 1), NULL, &need), 0);
        assert_int_equal(m.n_segments, 512);
        assert_int_equal(m.total_words, 0);
        assert_int_equal(need, 8 * 257);
        capnp_message_done(&m);

        unaligned_write_le32(buf, 512);
        assert_int_equal(capnp_message_parse(&m, buf, 8 * (513 / 2 + 1), NULL, &need), -EBADMSG);
        assert_int_equal(capnp_message_measure(buf, 8, 0, &need), -EBADMSG);
        /* Known to be too many before the table is complete. */
        assert_int_equal(capnp_message_parse(&m, buf, 4, NULL, &need), -EBADMSG);
        unaligned_write_le32(buf, UINT32_MAX);
        assert_int_equal(capnp_message_parse(&m, buf, 8, NULL, &need), -EBADMSG);

        unaligned_write_le32(buf, 2);
        assert_int_equal(capnp_message_parse(&m, buf, 16, &(CapnpReadOptions) { .max_segments = 2 }, &need),
                         -EBADMSG);
        assert_int_equal(capnp_message_measure(buf, 16, 2, &need), -EBADMSG);
        assert_int_equal(capnp_message_parse(&m, buf, 16, &(CapnpReadOptions) { .max_segments = 3 }, &need),
                         0);
        capnp_message_done(&m);

        /* Huge segment sizes are a truncated message with an exact need, not an overflow. */
        unaligned_write_le32(buf, 1);
        unaligned_write_le32(buf + 4, UINT32_MAX);
        unaligned_write_le32(buf + 8, UINT32_MAX);
        size = 16;
        assert_int_equal(capnp_message_parse(&m, buf, size, NULL, &need), 1);
        assert_int_equal(need, 16 + 2 * 8 * (size_t) UINT32_MAX);

        /* Out-of-range options. */
        unaligned_write_le32(buf, 0);
        unaligned_write_le32(buf + 4, 0);
        const CapnpReadOptions too_deep = { .nesting_limit = CAPNP_MAX_NESTING_LIMIT + 1 };
        assert_int_equal(capnp_message_parse(&m, buf, 8, &too_deep, &need), -EINVAL);
}

static void test_framing_empty_first_segment(void **state) {
        static const uint8_t buf[8] = { 0 };
        CapnpMessage m;
        CapnpStruct root;
        size_t used;

        assert_int_equal(capnp_message_parse(&m, buf, sizeof(buf), NULL, &used), 0);
        assert_int_equal(used, 8);
        assert_int_equal(capnp_message_root(&m, &root), -EBADMSG);
        assert_int_equal(root.n_ptrs, 0);
        assert_int_equal(capnp_message_error(&m), -EBADMSG);
        capnp_message_done(&m);
}

static void test_segment_table_write(void **state) {
        uint8_t buf[24];

        assert_int_equal(capnp_segment_table_size(1), 8);
        assert_int_equal(capnp_segment_table_size(2), 16);
        assert_int_equal(capnp_segment_table_size(3), 16);
        assert_int_equal(capnp_segment_table_size(4), 24);

        memset(buf, 0xaa, sizeof(buf));
        assert_int_equal(capnp_segment_table_write(buf, 1, (const uint32_t[]) { 23 }), 8);
        assert_memory_equal(buf, "\x00\x00\x00\x00\x17\x00\x00\x00", 8);

        memset(buf, 0xaa, sizeof(buf));
        assert_int_equal(capnp_segment_table_write(buf, 2, (const uint32_t[]) { 1, 0x01020304 }), 16);
        assert_memory_equal(buf, "\x01\x00\x00\x00\x01\x00\x00\x00\x04\x03\x02\x01\x00\x00\x00\x00", 16);
        assert_int_equal(buf[16], 0xaa);

        memset(buf, 0xaa, sizeof(buf));
        assert_int_equal(capnp_segment_table_write(buf, 3, (const uint32_t[]) { 5, 6, 7 }), 16);
        assert_memory_equal(buf, "\x02\x00\x00\x00\x05\x00\x00\x00\x06\x00\x00\x00\x07\x00\x00\x00", 16);
}

/* ---------------------------------------------------------------------------------------------------
 * Far pointers and multiple segments
 */

static void test_far_pointers(void **state) {
        /*
         * seg 0: root -> far (single) to seg 1 word 0.
         * seg 1: [0] landing pad: struct (1 data, 3 ptrs) at +1; [1] data; [2] p0: far to seg 2 pad
         *        at word 1 (a text); [3] p1: double far to seg 2 pads at 3-4 (a composite list in
         *        seg 0); [4] p2: double far to a struct in seg 0.
         * seg 2: [0] text "far", [1] pad: list -2 (byte, 4), [2] unused, [3] far to seg 0 word 1,
         *        [4] tag: composite of 2 words (+ garbage offset, ignored), [5] far to seg 0 word 4,
         *        [6] tag: struct (1 data, 0 ptrs).
         */
        static const uint64_t words[] = {
                /* segment 0 (5 words) */
                FP(false, 0, 1),
                SP(2, 1, 0),       /* tag of the composite list: 2 elements of 1 data word */
                0x1111,
                0x2222,
                0x4444,             /* the struct reached by p2 */
                /* segment 1 (5 words) */
                SP(0, 1, 3),
                UINT64_C(0x0123456789abcdef),
                FP(false, 1, 2),
                FP(true, 3, 2),
                FP(true, 5, 2),
                /* segment 2 (7 words) */
                TEXT_FAR,
                LP(-2, 2, 4),
                0,
                FP(false, 1, 0),
                LP(7, 7, 2),
                FP(false, 4, 0),
                SP(0, 1, 0),
        };
        _cleanup_msg_ Msg t = {};
        CapnpStruct root, s;
        CapnpPointerKind kind;
        CapnpList l;
        size_t size;
        uint8_t *buf = frame(3, (const uint32_t[]) { 5, 5, 7 }, words, &size);

        /* pointer_kind() charges landing pads, like any read: allow for the second walk. */
        msg_parse(&t, buf, size, &(CapnpReadOptions) { .traversal_limit_words = 100 });
        assert_int_equal(t.m.n_segments, 3);
        assert_int_equal(t.m.total_words, 17);

        assert_int_equal(capnp_message_root(&t.m, &root), 0);
        assert_int_equal(root.segment, 1);
        assert_int_equal(root.data_bytes, 8);
        assert_int_equal(root.n_ptrs, 3);
        assert_int_equal(capnp_struct_get_u64(&root, 0), UINT64_C(0x0123456789abcdef));

        assert_int_equal(capnp_struct_pointer_kind(&root, 0, &kind), 0);
        assert_int_equal(kind, CAPNP_POINTER_LIST);
        assert_int_equal(capnp_struct_pointer_kind(&root, 1, &kind), 0);
        assert_int_equal(kind, CAPNP_POINTER_LIST);
        assert_int_equal(capnp_struct_pointer_kind(&root, 2, &kind), 0);
        assert_int_equal(kind, CAPNP_POINTER_STRUCT);

        assert_text(&root, 0, "far");

        assert_int_equal(capnp_struct_get_struct_list(&root, 1, &l), 0);
        assert_int_equal(l.segment, 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_COMPOSITE);
        assert_int_equal(l.count, 2);
        assert_int_equal(capnp_list_get_struct(&l, 0, &s), 0);
        assert_int_equal(capnp_struct_get_u64(&s, 0), 0x1111);
        assert_int_equal(capnp_list_get_struct(&l, 1, &s), 0);
        assert_int_equal(capnp_struct_get_u64(&s, 0), 0x2222);

        assert_int_equal(capnp_struct_get_struct(&root, 2, &s), 0);
        assert_int_equal(s.segment, 0);
        assert_int_equal(capnp_struct_get_u64(&s, 0), 0x4444);

        assert_int_equal(capnp_message_error(&t.m), 0);

        /* A copy is one segment with the same content. */
        _cleanup_(capnp_builder_done) CapnpBuilder b;
        _cleanup_free_ uint8_t *out = NULL;
        _cleanup_msg_ Msg c = {};
        CapnpStruct croot;
        size_t out_size;

        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_message_root(&t.m, &root), 0);
        assert_int_equal(capnp_build_copy_root(&b, &root), 0);
        assert_int_equal(capnp_builder_finish(&b, &out, &out_size), 0);
        msg_parse(&c, TAKE_PTR(out), out_size, NULL);
        assert_int_equal(c.m.n_segments, 1);
        assert_int_equal(capnp_message_root(&c.m, &croot), 0);
        assert_int_equal(capnp_struct_get_u64(&croot, 0), UINT64_C(0x0123456789abcdef));
        assert_text(&croot, 0, "far");
        assert_int_equal(capnp_struct_get_struct_list(&croot, 1, &l), 0);
        assert_int_equal(l.count, 2);
        assert_int_equal(capnp_list_get_struct(&l, 1, &s), 0);
        assert_int_equal(capnp_struct_get_u64(&s, 0), 0x2222);
        assert_int_equal(capnp_struct_get_struct(&croot, 2, &s), 0);
        assert_int_equal(capnp_struct_get_u64(&s, 0), 0x4444);
}

/* A multi-segment writer: one builder per segment, set_far and its own table. */
static void test_build_multi_segment(void **state) {
        _cleanup_(capnp_builder_done) CapnpBuilder b0, b1;
        _cleanup_msg_ Msg t = {};
        CapnpBuilderStruct r0, r1, s;
        const uint8_t *seg0, *seg1, *data;
        size_t n0, n1, len, table, size;
        CapnpStruct root, file;
        uint8_t big[300];

        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (uint8_t) i;

        /* Segment 1 holds the content; its word 0 is the landing pad. */
        capnp_builder_init(&b1, 0);
        assert_int_equal(capnp_builder_init_root(&b1, 2, 2, &r1), 0);
        assert_int_equal(capnp_build_set_text(&r1, 0, "big", 3), 0);
        assert_int_equal(capnp_build_set_data(&r1, 1, big, sizeof(big)), 0);
        capnp_build_set_u64(&r1, 8, 77);

        capnp_builder_init(&b0, 0);
        assert_int_equal(capnp_builder_init_root(&b0, 0, 1, &r0), 0);
        assert_int_equal(capnp_build_init_struct(&r0, 0, 0, 2, &s), 0);
        assert_int_equal(capnp_build_set_text(&s, 0, "small", 5), 0);
        assert_int_equal(capnp_build_set_far(&s, 1, 1, 0), 0);
        assert_int_equal(capnp_build_set_far(&s, 0, 1, 1 << 29), -E2BIG);
        capnp_builder_done(&b0);

        capnp_builder_init(&b0, 0);
        assert_int_equal(capnp_builder_init_root(&b0, 0, 1, &r0), 0);
        assert_int_equal(capnp_build_init_struct(&r0, 0, 0, 2, &s), 0);
        assert_int_equal(capnp_build_set_text(&s, 0, "small", 5), 0);
        assert_int_equal(capnp_build_set_far(&s, 1, 1, 0), 0);

        seg0 = capnp_builder_segment(&b0, &n0);
        seg1 = capnp_builder_segment(&b1, &n1);
        assert_int_equal(n0, 1 + 2 + 1 + 1);
        assert_int_equal(unaligned_read_le64(seg0 + 3 * 8), FP(false, 0, 1));

        table = capnp_segment_table_size(2);
        size = table + 8 * (n0 + n1);
        uint8_t *buf = malloc(size);
        assert_non_null(buf);
        assert_int_equal(capnp_segment_table_write(buf, 2, (const uint32_t[]) { n0, n1 }), table);
        memcpy(buf + table, seg0, 8 * n0);
        memcpy(buf + table + 8 * n0, seg1, 8 * n1);
        msg_parse(&t, buf, size, NULL);

        assert_int_equal(capnp_message_root(&t.m, &root), 0);
        assert_int_equal(capnp_struct_get_struct(&root, 0, &root), 0);
        assert_text(&root, 0, "small");
        assert_int_equal(capnp_struct_get_struct(&root, 1, &file), 0);
        assert_int_equal(file.segment, 1);
        assert_int_equal(capnp_struct_get_u64(&file, 8), 77);
        assert_text(&file, 0, "big");
        assert_int_equal(capnp_struct_get_data(&file, 1, &data, &len), 0);
        assert_int_equal(len, sizeof(big));
        assert_memory_equal(data, big, sizeof(big));
        assert_int_equal(capnp_message_error(&t.m), 0);
}

/* ---------------------------------------------------------------------------------------------------
 * Malformed messages: each case, its errno, and that the error sticks.
 */

typedef struct BadCase {
        const char *name;
        uint64_t words[8];
        size_t n_words;
        int (*read)(CapnpMessage *m); /* returns the accessor's result */
        int expected;
} BadCase;

static int read_struct0(CapnpMessage *m) {
        CapnpStruct root, s;
        int r;

        r = capnp_message_root(m, &root);
        if (r < 0)
                return r;
        r = capnp_struct_get_struct(&root, 0, &s);
        /* The output of a failure is the empty struct. */
        if (r < 0 && (s.data_bytes != 0 || s.n_ptrs != 0 || s.msg != m))
                return -EIO;
        return r;
}

static int read_list0(CapnpMessage *m) {
        CapnpStruct root;
        CapnpList l;
        int r;

        r = capnp_message_root(m, &root);
        if (r < 0)
                return r;
        r = capnp_struct_get_list(&root, 0, &l);
        if (r < 0 && (l.count != 0 || l.msg != m))
                return -EIO;
        return r;
}

static int read_struct_list0(CapnpMessage *m) {
        CapnpStruct root;
        CapnpList l;
        int r;

        r = capnp_message_root(m, &root);
        if (r < 0)
                return r;
        return capnp_struct_get_struct_list(&root, 0, &l);
}

static int read_text0(CapnpMessage *m) {
        const char *text = "x";
        CapnpStruct root;
        size_t len = 1;
        int r;

        r = capnp_message_root(m, &root);
        if (r < 0)
                return r;
        r = capnp_struct_get_text(&root, 0, &text, &len);
        if (r < 0 && (text || len != 0))
                return -EIO;
        return r;
}

static int read_data0(CapnpMessage *m) {
        const uint8_t *data;
        CapnpStruct root;
        size_t len;
        int r;

        r = capnp_message_root(m, &root);
        if (r < 0)
                return r;
        return capnp_struct_get_data(&root, 0, &data, &len);
}

static int read_pointer0(CapnpMessage *m) {
        CapnpStruct root;
        CapnpPointer p;
        int r;

        r = capnp_message_root(m, &root);
        if (r < 0)
                return r;
        r = capnp_struct_get_pointer(&root, 0, &p);
        if (r < 0 && p.kind != CAPNP_POINTER_NULL)
                return -EIO;
        return r;
}

static int read_kind0(CapnpMessage *m) {
        CapnpPointerKind kind;
        CapnpStruct root;
        int r;

        r = capnp_message_root(m, &root);
        if (r < 0)
                return r;
        return capnp_struct_pointer_kind(&root, 0, &kind);
}

static int read_root(CapnpMessage *m) {
        CapnpStruct root;

        return capnp_message_root(m, &root);
}

#define BAD(n, fn, err, ...)                                                                                 \
        {                                                                                                    \
                .name = (n), .words = { __VA_ARGS__ }, .n_words = ELEMENTSOF(((uint64_t[]) { __VA_ARGS__ })), \
                .read = (fn), .expected = (err),                                                             \
        }

static const BadCase bad_cases[] = {
        /* Offsets outside the segment. */
        BAD("root offset past end", read_root, -EBADMSG, SP(2, 0, 1), 0),
        BAD("root struct past end", read_root, -EBADMSG, SP(0, 1, 1), 0),
        BAD("negative offset before start", read_struct0, -EBADMSG, SP(0, 0, 1), SP(-3, 0, 0)),
        BAD("most negative offset", read_struct0, -EBADMSG, SP(0, 0, 1), SP(INT32_MIN / 4, 1, 0)),
        BAD("most positive offset", read_struct0, -EBADMSG, SP(0, 0, 1), SP(INT32_MAX / 4, 1, 0)),
        BAD("struct sections past end", read_struct0, -EBADMSG, SP(0, 0, 1), SP(0, 1, 1), 0),
        BAD("list past end", read_list0, -EBADMSG, SP(0, 0, 1), LP(0, 5, 2), 0),
        BAD("byte list past end", read_data0, -EBADMSG, SP(0, 0, 1), LP(0, 2, 9), 0),
        BAD("bit list past end", read_list0, -EBADMSG, SP(0, 0, 1), LP(0, 1, 65), 0),
        BAD("text past end", read_text0, -EBADMSG, SP(0, 0, 1), LP(0, 2, 17), 0, 0),
        BAD("composite words past end", read_list0, -EBADMSG, SP(0, 0, 1), LP(0, 7, 2), SP(1, 1, 0), 0),
        /* Composite tags. */
        BAD("composite tag not a struct", read_list0, -EBADMSG, SP(0, 0, 1), LP(0, 7, 1), LP(1, 2, 0), 0),
        BAD("composite elements exceed words", read_list0, -EBADMSG, SP(0, 0, 1), LP(0, 7, 2), SP(2, 1, 1), 0,
            0),
        BAD("composite count overflow", read_list0, -EBADMSG, SP(0, 0, 1), LP(0, 7, 1), SP(0x3fffffff, 2, 0),
            0),
        BAD("composite tag missing", read_list0, -EBADMSG, SP(0, 0, 1), LP(0, 7, 0)),
        /* Far pointers. */
        BAD("far to missing segment", read_struct0, -EBADMSG, SP(0, 0, 1), FP(false, 0, 1)),
        BAD("far to missing segment, huge", read_struct0, -EBADMSG, SP(0, 0, 1), FP(false, 0, UINT32_MAX)),
        BAD("far pad past end", read_struct0, -EBADMSG, SP(0, 0, 1), FP(false, 2, 0)),
        BAD("far pad is far", read_struct0, -EBADMSG, SP(0, 0, 1), FP(false, 2, 0), FP(false, 2, 0)),
        BAD("far pad is capability", read_struct0, -EBADMSG, SP(0, 0, 1), FP(false, 2, 0), CP(0)),
        BAD("far pad target past end", read_struct0, -EBADMSG, SP(0, 0, 1), FP(false, 2, 0), SP(0, 1, 0)),
        BAD("double far pad past end", read_struct0, -EBADMSG, SP(0, 0, 1), FP(true, 2, 0), FP(false, 0, 0)),
        BAD("double far first word not far", read_struct0, -EBADMSG, SP(0, 0, 1), FP(true, 2, 0), SP(0, 0, 0),
            SP(0, 1, 0)),
        BAD("double far first word double", read_struct0, -EBADMSG, SP(0, 0, 1), FP(true, 2, 0),
            FP(true, 0, 0), SP(0, 1, 0)),
        BAD("double far to missing segment", read_struct0, -EBADMSG, SP(0, 0, 1), FP(true, 2, 0),
            FP(false, 0, 5), SP(0, 1, 0)),
        BAD("double far tag is far", read_struct0, -EBADMSG, SP(0, 0, 1), FP(true, 2, 0), FP(false, 0, 0),
            FP(false, 0, 0)),
        BAD("double far content past end", read_struct0, -EBADMSG, SP(0, 0, 1), FP(true, 2, 0),
            FP(false, 3, 0), SP(0, 2, 0)),
        BAD("far pointer_kind", read_kind0, -EBADMSG, SP(0, 0, 1), FP(false, 9, 0)),
        /* Other kinds. */
        BAD("unknown other pointer", read_pointer0, -EBADMSG, SP(0, 0, 1), 7),
        BAD("unknown other pointer kind", read_kind0, -EBADMSG, SP(0, 0, 1), 3 | UINT64_C(1) << 20),
        /* Wrong kinds. */
        BAD("list as struct", read_struct0, -EMEDIUMTYPE, SP(0, 0, 1), LP(0, 2, 0)),
        BAD("capability as struct", read_struct0, -EMEDIUMTYPE, SP(0, 0, 1), CP(1)),
        BAD("struct as list", read_list0, -EMEDIUMTYPE, SP(0, 0, 1), SP(-1, 0, 0)),
        BAD("far struct as list", read_list0, -EMEDIUMTYPE, SP(0, 0, 1), FP(false, 2, 0), SP(-1, 0, 0)),
        BAD("capability as list", read_list0, -EMEDIUMTYPE, SP(0, 0, 1), CP(0)),
        BAD("bit list as structs", read_struct_list0, -EMEDIUMTYPE, SP(0, 0, 1), LP(0, 1, 3), 5),
        BAD("struct as text", read_text0, -EMEDIUMTYPE, SP(0, 0, 1), SP(0, 1, 0), 0),
        BAD("u16 list as text", read_text0, -EMEDIUMTYPE, SP(0, 0, 1), LP(0, 3, 1), 0),
        BAD("pointer list as data", read_data0, -EMEDIUMTYPE, SP(0, 0, 1), LP(0, 6, 0)),
        BAD("text without NUL", read_text0, -EMEDIUMTYPE, SP(0, 0, 1), LP(0, 2, 3), TEXT_ABC),
        BAD("text NUL not last", read_text0, -EMEDIUMTYPE, SP(0, 0, 1), LP(0, 2, 4), 0x64630061),
        BAD("empty byte list as text", read_text0, -EMEDIUMTYPE, SP(0, 0, 1), LP(0, 2, 0)),
        /* Root-level. */
        BAD("root is a list", read_root, -EMEDIUMTYPE, LP(0, 2, 0)),
        BAD("root is a capability", read_root, -EMEDIUMTYPE, CP(0)),
        BAD("root far to nowhere", read_root, -EBADMSG, FP(false, 0, 3)),
};

static void test_malformed(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                const BadCase *c = &bad_cases[i];
                _cleanup_msg_ Msg t = {};
                const char *text = "x";
                CapnpStruct root;
                size_t len = 1;
                int r;

                msg_words(&t, c->words, c->n_words,
                          &(CapnpReadOptions) { .traversal_limit_words = 1000 });
                r = c->read(&t.m);
                if (r != c->expected)
                        fail_msg("%s: got %d, expected %d", c->name, r, c->expected);

                /* Sticky: every later accessor fails the same way, and the root is empty. */
                assert_int_equal(capnp_message_error(&t.m), c->expected);
                assert_int_equal(capnp_message_root(&t.m, &root), c->expected);
                assert_int_equal(root.data_bytes, 0);
                assert_int_equal(root.n_ptrs, 0);
                assert_int_equal(capnp_struct_get_text(&root, 0, &text, &len), c->expected);
                assert_null(text);
                assert_int_equal(len, 0);
        }
}

/* A null pointer is not an error, and the empty struct (offset -1) is not null. */
static void test_null_and_empty(void **state) {
        static const uint64_t words[] = {
                SP(0, 0, 4), 0, SP(-1, 0, 0), LP(1, 2, 0), LP(0, 0, 0),
        };
        _cleanup_msg_ Msg t = {};
        CapnpPointer p;
        CapnpStruct root, s;
        const uint8_t *data;
        CapnpList l;
        size_t len;

        MSG_WORDS(&t, words, NULL);
        assert_int_equal(capnp_message_root(&t.m, &root), 0);

        assert_false(capnp_struct_has(&root, 0));
        assert_int_equal(capnp_struct_get_struct(&root, 0, &s), 0);
        assert_int_equal(s.n_ptrs, 0);
        assert_int_equal(capnp_struct_get_list(&root, 0, &l), 0);
        assert_int_equal(l.count, 0);
        assert_int_equal(capnp_struct_get_pointer(&root, 0, &p), 0);
        assert_int_equal(p.kind, CAPNP_POINTER_NULL);

        assert_true(capnp_struct_has(&root, 1));
        assert_int_equal(capnp_struct_get_pointer(&root, 1, &p), 0);
        assert_int_equal(p.kind, CAPNP_POINTER_STRUCT);
        assert_int_equal(p.s.data_bytes, 0);
        assert_int_equal(p.s.n_ptrs, 0);

        assert_int_equal(capnp_struct_get_data(&root, 2, &data, &len), 0);
        assert_non_null(data);
        assert_int_equal(len, 0);

        assert_int_equal(capnp_struct_get_list(&root, 3, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_VOID);
        assert_int_equal(l.count, 0);

        /* Slots beyond the struct read as null. */
        assert_false(capnp_struct_has(&root, 4));
        assert_int_equal(capnp_struct_get_struct(&root, 100, &s), 0);
        assert_int_equal(capnp_message_error(&t.m), 0);
}

static void test_capability(void **state) {
        static const uint64_t words[] = { SP(0, 0, 2), CP(42), 0 };
        _cleanup_msg_ Msg t = {};
        CapnpPointerKind kind;
        CapnpStruct root;
        CapnpPointer p;

        MSG_WORDS(&t, words, NULL);
        assert_int_equal(capnp_message_root(&t.m, &root), 0);
        assert_int_equal(capnp_struct_pointer_kind(&root, 0, &kind), 0);
        assert_int_equal(kind, CAPNP_POINTER_CAPABILITY);
        assert_int_equal(capnp_struct_pointer_kind(&root, 1, &kind), 0);
        assert_int_equal(kind, CAPNP_POINTER_NULL);
        assert_int_equal(capnp_struct_get_pointer(&root, 0, &p), 0);
        assert_int_equal(p.kind, CAPNP_POINTER_CAPABILITY);
        assert_int_equal(p.capability, 42);
        assert_int_equal(capnp_message_error(&t.m), 0);
}

/* ---------------------------------------------------------------------------------------------------
 * Limits
 */

static void test_traversal_limit(void **state) {
        static const uint64_t words[] = { SP(0, 1, 1), 5, LP(0, 2, 8), TEXT_DIGITS };
        CapnpStruct root;
        const uint8_t *data;
        size_t len;

        /* Exactly the message's size: root pointer 1 + struct 2 + bytes 1. */
        {
                _cleanup_msg_ Msg t = {};

                MSG_WORDS(&t, words, NULL);
                assert_int_equal(t.m.traversal_left, 4);
                assert_int_equal(capnp_message_root(&t.m, &root), 0);
                assert_int_equal(t.m.traversal_left, 1);
                assert_int_equal(capnp_struct_get_data(&root, 0, &data, &len), 0);
                assert_int_equal(t.m.traversal_left, 0);
                /* Reading it again costs again: amplification by sharing is refused. */
                assert_int_equal(capnp_struct_get_data(&root, 0, &data, &len), -E2BIG);
                assert_null(data);
                assert_int_equal(capnp_message_error(&t.m), -E2BIG);
                assert_int_equal(capnp_struct_get_u64(&root, 0), 5); /* fields stay readable */
        }
        /* One word short. */
        {
                _cleanup_msg_ Msg t = {};

                MSG_WORDS(&t, words, &(CapnpReadOptions) { .traversal_limit_words = 3 });
                assert_int_equal(capnp_message_root(&t.m, &root), 0);
                assert_int_equal(capnp_struct_get_data(&root, 0, &data, &len), -E2BIG);
        }
        {
                _cleanup_msg_ Msg t = {};

                MSG_WORDS(&t, words, &(CapnpReadOptions) { .traversal_limit_words = 2 });
                assert_int_equal(capnp_message_root(&t.m, &root), -E2BIG);
        }
        {
                _cleanup_msg_ Msg t = {};

                MSG_WORDS(&t, words, &(CapnpReadOptions) { .traversal_limit_words = 0x100000 });
                assert_int_equal(t.m.traversal_left, 0x100000);
        }
}

/* Lists of zero-width elements cost one word per element. */
static void test_traversal_amplified_lists(void **state) {
        static const uint64_t voids[] = { SP(0, 0, 1), LP(0, 0, CAPNP_MAX_LIST_ELEMENTS) };
        static const uint64_t empty_structs[] = { SP(0, 0, 1), LP(0, 7, 0), SP(0x3fffffff, 0, 0) };
        CapnpStruct root;
        CapnpList l;

        {
                _cleanup_msg_ Msg t = {};

                MSG_WORDS(&t, voids, &(CapnpReadOptions) { .traversal_limit_words = 1000 });
                assert_int_equal(capnp_message_root(&t.m, &root), 0);
                assert_int_equal(capnp_struct_get_list(&root, 0, &l), -E2BIG);
        }
        {
                _cleanup_msg_ Msg t = {};

                MSG_WORDS(&t, voids,
                          &(CapnpReadOptions) { .traversal_limit_words = 2 + CAPNP_MAX_LIST_ELEMENTS });
                assert_int_equal(capnp_message_root(&t.m, &root), 0);
                assert_int_equal(capnp_struct_get_list(&root, 0, &l), 0);
                assert_int_equal(l.count, CAPNP_MAX_LIST_ELEMENTS);
                assert_int_equal(t.m.traversal_left, 0);
        }
        {
                _cleanup_msg_ Msg t = {};

                MSG_WORDS(&t, empty_structs, &(CapnpReadOptions) { .traversal_limit_words = 1000 });
                assert_int_equal(capnp_message_root(&t.m, &root), 0);
                assert_int_equal(capnp_struct_get_struct_list(&root, 0, &l), -E2BIG);
        }
        {
                _cleanup_msg_ Msg t = {};

                MSG_WORDS(&t, empty_structs, &(CapnpReadOptions) { .traversal_limit_words = 3 + 0x3fffffff });
                assert_int_equal(capnp_message_root(&t.m, &root), 0);
                assert_int_equal(capnp_struct_get_struct_list(&root, 0, &l), 0);
                assert_int_equal(l.count, 0x3fffffff);
                assert_int_equal(l.step_bits, 0);
                assert_int_equal(t.m.traversal_left, 0);
        }
}

/* A chain root -> s1 -> s2 -> ...: with limit n, depth n reads and n + 1 is -ELOOP. */
static void test_nesting_limit(void **state) {
        uint64_t words[12];
        CapnpStruct s;

        words[0] = SP(0, 0, 1);
        for (size_t i = 1; i < ELEMENTSOF(words) - 1; i++)
                words[i] = SP(0, 0, 1);
        words[ELEMENTSOF(words) - 1] = 0;

        for (unsigned limit = 1; limit <= 10; limit++) {
                _cleanup_msg_ Msg t = {};
                unsigned depth = 1;
                int r;

                MSG_WORDS(&t, words, &(CapnpReadOptions) { .nesting_limit = limit });
                assert_int_equal(capnp_message_root(&t.m, &s), 0);
                for (;;) {
                        r = capnp_struct_get_struct(&s, 0, &s);
                        if (r < 0)
                                break;
                        depth++;
                        assert_int_equal(s.depth, depth);
                }
                assert_int_equal(r, -ELOOP);
                assert_int_equal(depth, limit);
        }
}

/* Lists count as levels, and composite elements one more, as in capnp. */
static void test_nesting_lists(void **state) {
        static const uint64_t words[] = {
                SP(0, 0, 1), LP(0, 6, 1), LP(0, 7, 1), SP(1, 0, 1), LP(0, 2, 1), 0,
        };
        CapnpStruct root, e;
        CapnpList outer, inner, bytes;

        for (unsigned limit = 1; limit <= 5; limit++) {
                _cleanup_msg_ Msg t = {};
                int r;

                MSG_WORDS(&t, words, &(CapnpReadOptions) { .nesting_limit = limit });
                assert_int_equal(capnp_message_root(&t.m, &root), 0);
                r = capnp_struct_get_list(&root, 0, &outer); /* depth 2 */
                if (limit < 2) {
                        assert_int_equal(r, -ELOOP);
                        continue;
                }
                assert_int_equal(r, 0);
                r = capnp_list_get_list(&outer, 0, &inner); /* depth 3 */
                if (limit < 3) {
                        assert_int_equal(r, -ELOOP);
                        continue;
                }
                assert_int_equal(r, 0);
                r = capnp_list_get_struct(&inner, 0, &e); /* depth 4 */
                if (limit < 4) {
                        assert_int_equal(r, -ELOOP);
                        continue;
                }
                assert_int_equal(r, 0);
                r = capnp_struct_get_list(&e, 0, &bytes); /* depth 5 */
                if (limit < 5) {
                        assert_int_equal(r, -ELOOP);
                        continue;
                }
                assert_int_equal(r, 0);
                assert_int_equal(bytes.count, 1);
        }
}

/* A struct whose pointer points at itself: a cycle ends at the nesting or the traversal limit. */
static void test_cycle(void **state) {
        static const uint64_t words[] = { SP(0, 0, 1), SP(-1, 0, 1) };
        CapnpStruct s;
        int r;

        {
                _cleanup_msg_ Msg t = {};
                unsigned n = 0;

                MSG_WORDS(&t, words, &(CapnpReadOptions) { .traversal_limit_words = 1u << 20 });
                assert_int_equal(capnp_message_root(&t.m, &s), 0);
                while ((r = capnp_struct_get_struct(&s, 0, &s)) == 0)
                        n++;
                assert_int_equal(r, -ELOOP);
                assert_int_equal(n, CAPNP_DEFAULT_NESTING_LIMIT - 1);
        }
        {
                _cleanup_msg_ Msg t = {};
                unsigned n = 0;

                MSG_WORDS(&t, words, NULL);
                assert_int_equal(capnp_message_root(&t.m, &s), 0);
                while ((r = capnp_struct_get_struct(&s, 0, &s)) == 0)
                        n++;
                assert_int_equal(r, -E2BIG);
                assert_int_equal(n, 0);
        }
        /* A copy of a cycle fails the same way, and fails the builder. */
        {
                _cleanup_(capnp_builder_done) CapnpBuilder b;
                _cleanup_free_ uint8_t *out = NULL;
                _cleanup_msg_ Msg t = {};
                size_t size;

                MSG_WORDS(&t, words, &(CapnpReadOptions) { .traversal_limit_words = 1u << 20 });
                assert_int_equal(capnp_message_root(&t.m, &s), 0);
                capnp_builder_init(&b, 0);
                assert_int_equal(capnp_build_copy_root(&b, &s), -ELOOP);
                assert_int_equal(capnp_builder_finish(&b, &out, &size), -ELOOP);
                assert_null(out);
        }
}

/* ---------------------------------------------------------------------------------------------------
 * Upgrades: lists read as the other kind
 */

static void test_list_upgrades(void **state) {
        static const uint64_t words[] = {
                SP(0, 0, 3),
                LP(2, 2, 3),    /* bytes 7 8 9 */
                LP(2, 6, 2),    /* two texts */
                LP(5, 7, 4),    /* composite: 2 elements of (1 data, 1 ptr) */
                UINT64_C(0x090807),
                LP(1, 2, 2),    /* "a" */
                LP(1, 2, 3),    /* "bc" */
                TEXT_A,
                TEXT_BC,
                SP(2, 1, 1),    /* the tag */
                UINT64_C(0x1122334455667788),
                LP(-5, 2, 2),   /* shares "a" */
                UINT64_C(0x99),
                0,
        };
        _cleanup_msg_ Msg t = {};
        CapnpStruct root, e;
        CapnpList l;

        MSG_WORDS(&t, words, &(CapnpReadOptions) { .traversal_limit_words = 1000 });
        assert_int_equal(capnp_message_root(&t.m, &root), 0);

        /* A byte list as structs: each struct's data section is one byte. */
        assert_int_equal(capnp_struct_get_struct_list(&root, 0, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_BYTE);
        assert_int_equal(l.count, 3);
        assert_int_equal(capnp_list_get_struct(&l, 2, &e), 0);
        assert_int_equal(e.data_bytes, 1);
        assert_int_equal(e.n_ptrs, 0);
        assert_int_equal(capnp_struct_get_u8(&e, 0), 9);
        assert_int_equal(capnp_struct_get_u16(&e, 0), 0);
        /* ... and read with a wider getter, nothing. */
        assert_int_equal(capnp_list_get_u16(&l, 0), 0);
        assert_true(capnp_list_get_bool(&l, 0));

        /* A pointer list as structs: the element is pointer 0. */
        assert_int_equal(capnp_struct_get_struct_list(&root, 1, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_POINTER);
        assert_int_equal(capnp_list_get_struct(&l, 1, &e), 0);
        assert_int_equal(e.data_bytes, 0);
        assert_int_equal(e.n_ptrs, 1);
        assert_text(&e, 0, "bc");
        assert_int_equal(capnp_list_get_u64(&l, 0), 0);

        /* A composite list as primitives and pointers: the first field of each element. */
        assert_int_equal(capnp_struct_get_list(&root, 2, &l), 0);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_COMPOSITE);
        assert_int_equal(l.count, 2);
        assert_int_equal(capnp_list_get_u64(&l, 0), UINT64_C(0x1122334455667788));
        assert_int_equal(capnp_list_get_u32(&l, 0), 0x55667788);
        assert_int_equal(capnp_list_get_u16(&l, 1), 0x99);
        assert_int_equal(capnp_list_get_u8(&l, 0), 0x88);
        assert_true(capnp_list_get_bool(&l, 1));
        assert_list_text(&l, 0, "a");
        assert_list_text(&l, 1, NULL);
        assert_null(capnp_list_bytes(&l));

        /* Lists without pointers have null pointers. */
        assert_int_equal(capnp_struct_get_list(&root, 0, &l), 0);
        assert_list_text(&l, 0, NULL);

        assert_int_equal(capnp_message_error(&t.m), 0);
}

static void test_bit_list(void **state) {
        static const uint64_t words[] = { SP(0, 0, 1), LP(0, 1, 70), UINT64_C(0x8000000000000001), 0x25 };
        _cleanup_msg_ Msg t = {};
        CapnpStruct root, e;
        CapnpList l;

        MSG_WORDS(&t, words, NULL);
        assert_int_equal(capnp_message_root(&t.m, &root), 0);
        assert_int_equal(capnp_struct_get_list(&root, 0, &l), 0);
        assert_int_equal(l.count, 70);
        for (uint32_t i = 0; i < 70; i++)
                assert_int_equal(capnp_list_get_bool(&l, i),
                                 i == 0 || i == 63 || i == 64 || i == 66 || i == 69);
        assert_int_equal(capnp_list_get_u8(&l, 0), 0);
        assert_int_equal(capnp_list_get_struct(&l, 0, &e), -EMEDIUMTYPE);
        assert_int_equal(capnp_message_error(&t.m), -EMEDIUMTYPE);
}

/* ---------------------------------------------------------------------------------------------------
 * Builder
 */

static void test_build_exact_bytes(void **state) {
        _cleanup_(capnp_builder_done) CapnpBuilder b;
        _cleanup_free_ uint8_t *out = NULL;
        CapnpBuilderStruct root, e;
        CapnpBuilderList l;
        size_t size;

        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_builder_init_root(&b, 1, 4, &root), 0);
        capnp_build_set_u16(&root, 0, 0xbeef);
        capnp_build_set_bool(&root, 17, true);
        capnp_build_set_u32(&root, 4, 0x01020304);
        assert_int_equal(capnp_build_set_text(&root, 0, "hi", 2), 0);
        assert_int_equal(capnp_build_init_struct(&root, 1, 0, 0, &e), 0);
        assert_int_equal(capnp_build_init_struct_list(&root, 2, 2, 1, 0, &l), 0);
        assert_int_equal(capnp_build_list_get_struct(&l, 1, &e), 0);
        capnp_build_set_u8(&e, 7, 0xaa);
        assert_int_equal(capnp_build_init_list(&root, 3, CAPNP_ELEMENT_BIT, 3, &l), 0);
        capnp_build_list_set_bool(&l, 2, true);
        capnp_build_list_set_bool(&l, 0, true);
        capnp_build_list_set_bool(&l, 0, false);
        assert_int_equal(capnp_builder_finish(&b, &out, &size), 0);

        const uint64_t expected[] = {
                SP(0, 1, 4),
                UINT64_C(0x01020304) << 32 | 0x2beef,
                LP(3, 2, 3),
                SP(-1, 0, 0),
                LP(2, 7, 2),
                LP(4, 1, 3),
                TEXT_HI,
                SP(2, 1, 0),
                0,
                UINT64_C(0xaa) << 56,
                0x4,
        };
        assert_int_equal(size, 8 + sizeof(expected));
        assert_memory_equal(out, "\x00\x00\x00\x00\x0b\x00\x00\x00", 8);
        for (size_t i = 0; i < ELEMENTSOF(expected); i++)
                if (unaligned_read_le64(out + 8 + 8 * i) != expected[i])
                        fail_msg("word %zu: %016llx, expected %016llx", i,
                                 (unsigned long long) unaligned_read_le64(out + 8 + 8 * i),
                                 (unsigned long long) expected[i]);

        /* The builder stays usable; finishing again gives the same. */
        _cleanup_free_ uint8_t *again = NULL;
        size_t again_size;
        assert_int_equal(capnp_builder_finish(&b, &again, &again_size), 0);
        assert_int_equal(again_size, size);
        assert_memory_equal(again, out, size);
}

static void test_build_no_root(void **state) {
        _cleanup_(capnp_builder_done) CapnpBuilder b;
        _cleanup_free_ uint8_t *out = NULL;
        size_t size, n;

        capnp_builder_init(&b, 0);
        assert_null(capnp_builder_segment(&b, &n));
        assert_int_equal(n, 0);
        assert_int_equal(capnp_builder_finish(&b, &out, &size), 0);
        assert_int_equal(size, 16);
        assert_memory_equal(out, "\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 16);
}

/* Everything the builder can write, read back through the reader. */
static void test_build_read_back(void **state) {
        _cleanup_(capnp_builder_done) CapnpBuilder b;
        _cleanup_msg_ Msg t = {};
        CapnpBuilderStruct root, child, e;
        CapnpBuilderList l, sub;
        uint8_t *out = NULL;
        size_t size;

        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_builder_init_root(&b, 2, 12, &root), 0);
        capnp_build_set_u8(&root, 0, 0x12);
        capnp_build_set_u16(&root, 2, 0x3456);
        capnp_build_set_u32(&root, 4, 0x789abcde);
        capnp_build_set_u64(&root, 8, UINT64_C(0xfedcba9876543210));
        capnp_build_set_bool(&root, 9, true);
        capnp_build_set_bool(&root, 9, false);
        capnp_build_set_bool(&root, 11, true);
        assert_int_equal(capnp_build_set_text(&root, 0, "text", 4), 0);
        assert_int_equal(capnp_build_set_text(&root, 1, NULL, 0), 0);
        assert_int_equal(capnp_build_set_data(&root, 2, "\x00\x01", 2), 0);
        assert_int_equal(capnp_build_init_struct(&root, 3, 1, 1, &child), 0);
        capnp_build_set_u64(&child, 0, 99);
        assert_int_equal(capnp_build_set_text(&child, 0, "child", 5), 0);

        assert_int_equal(capnp_build_init_list(&root, 4, CAPNP_ELEMENT_BYTE, 3, &l), 0);
        for (uint32_t i = 0; i < 3; i++)
                capnp_build_list_set_u8(&l, i, (uint8_t) (i + 1));
        assert_int_equal(capnp_build_init_list(&root, 5, CAPNP_ELEMENT_TWO_BYTES, 3, &l), 0);
        for (uint32_t i = 0; i < 3; i++)
                capnp_build_list_set_u16(&l, i, (uint16_t) (1000 * i));
        assert_int_equal(capnp_build_init_list(&root, 6, CAPNP_ELEMENT_FOUR_BYTES, 2, &l), 0);
        capnp_build_list_set_u32(&l, 1, UINT32_MAX);
        assert_int_equal(capnp_build_init_list(&root, 7, CAPNP_ELEMENT_EIGHT_BYTES, 2, &l), 0);
        capnp_build_list_set_u64(&l, 0, UINT64_MAX - 1);
        assert_int_equal(capnp_build_init_list(&root, 8, CAPNP_ELEMENT_POINTER, 4, &l), 0);
        assert_int_equal(capnp_build_list_set_text(&l, 0, "zero", 4), 0);
        assert_int_equal(capnp_build_list_set_data(&l, 1, "\xff", 1), 0);
        assert_int_equal(capnp_build_list_init_list(&l, 2, CAPNP_ELEMENT_BIT, 9, &sub), 0);
        capnp_build_list_set_bool(&sub, 8, true);
        assert_int_equal(capnp_build_list_init_struct_list(&l, 3, 2, 0, 1, &sub), 0);
        assert_int_equal(capnp_build_list_get_struct(&sub, 1, &e), 0);
        assert_int_equal(capnp_build_set_text(&e, 0, "deep", 4), 0);
        assert_int_equal(capnp_build_init_struct_list(&root, 9, 3, 0, 0, &l), 0);
        assert_int_equal(capnp_build_init_list(&root, 10, CAPNP_ELEMENT_VOID, 7, &l), 0);
        assert_int_equal(capnp_build_init_list(&root, 11, CAPNP_ELEMENT_BYTE, 0, &l), 0);

        assert_int_equal(capnp_builder_finish(&b, &out, &size), 0);
        msg_parse(&t, out, size, &(CapnpReadOptions) { .traversal_limit_words = 1000 });

        CapnpStruct r, c;
        CapnpList rl, rs;
        const uint8_t *data;
        size_t len;

        assert_int_equal(capnp_message_root(&t.m, &r), 0);
        assert_int_equal(capnp_struct_get_u8(&r, 0), 0x12);
        assert_int_equal(capnp_struct_get_u16(&r, 2), 0x3456);
        assert_int_equal(capnp_struct_get_u32(&r, 4), 0x789abcde);
        assert_int_equal(capnp_struct_get_u64(&r, 8), UINT64_C(0xfedcba9876543210));
        assert_int_equal(capnp_struct_get_u8(&r, 1), 0x08);
        assert_false(capnp_struct_get_bool(&r, 9));
        assert_true(capnp_struct_get_bool(&r, 11));
        assert_text(&r, 0, "text");
        assert_text(&r, 1, "");
        assert_true(capnp_struct_has(&r, 1));
        assert_int_equal(capnp_struct_get_data(&r, 2, &data, &len), 0);
        assert_int_equal(len, 2);
        assert_memory_equal(data, "\x00\x01", 2);
        assert_int_equal(capnp_struct_get_struct(&r, 3, &c), 0);
        assert_int_equal(capnp_struct_get_u64(&c, 0), 99);
        assert_text(&c, 0, "child");

        assert_int_equal(capnp_struct_get_list(&r, 4, &rl), 0);
        assert_memory_equal(capnp_list_bytes(&rl), "\x01\x02\x03", 3);
        assert_int_equal(capnp_struct_get_list(&r, 5, &rl), 0);
        assert_int_equal(capnp_list_get_u16(&rl, 2), 2000);
        assert_int_equal(capnp_struct_get_list(&r, 6, &rl), 0);
        assert_int_equal(capnp_list_get_u32(&rl, 0), 0);
        assert_int_equal(capnp_list_get_u32(&rl, 1), UINT32_MAX);
        assert_int_equal(capnp_struct_get_list(&r, 7, &rl), 0);
        assert_int_equal(capnp_list_get_u64(&rl, 0), UINT64_MAX - 1);
        assert_int_equal(capnp_struct_get_list(&r, 8, &rl), 0);
        assert_int_equal(rl.count, 4);
        assert_list_text(&rl, 0, "zero");
        assert_int_equal(capnp_list_get_data(&rl, 1, &data, &len), 0);
        assert_int_equal(len, 1);
        assert_int_equal(data[0], 0xff);
        assert_int_equal(capnp_list_get_list(&rl, 2, &rs), 0);
        assert_int_equal(rs.element_size, CAPNP_ELEMENT_BIT);
        assert_int_equal(rs.count, 9);
        for (uint32_t i = 0; i < 9; i++)
                assert_int_equal(capnp_list_get_bool(&rs, i), i == 8);
        assert_int_equal(capnp_list_get_list(&rl, 3, &rs), 0);
        assert_int_equal(rs.element_size, CAPNP_ELEMENT_COMPOSITE);
        assert_int_equal(rs.count, 2);
        assert_int_equal(capnp_list_get_struct(&rs, 1, &c), 0);
        assert_text(&c, 0, "deep");
        assert_int_equal(capnp_list_get_struct(&rs, 0, &c), 0);
        assert_false(capnp_struct_has(&c, 0));
        assert_int_equal(capnp_struct_get_struct_list(&r, 9, &rl), 0);
        assert_int_equal(rl.element_size, CAPNP_ELEMENT_COMPOSITE);
        assert_int_equal(rl.count, 3);
        assert_int_equal(capnp_struct_get_list(&r, 10, &rl), 0);
        assert_int_equal(rl.element_size, CAPNP_ELEMENT_VOID);
        assert_int_equal(rl.count, 7);
        assert_int_equal(capnp_struct_get_list(&r, 11, &rl), 0);
        assert_int_equal(rl.element_size, CAPNP_ELEMENT_BYTE);
        assert_int_equal(rl.count, 0);
        assert_true(capnp_struct_has(&r, 11));
        assert_int_equal(capnp_message_error(&t.m), 0);
}

static void test_build_limits(void **state) {
        _cleanup_(capnp_builder_done) CapnpBuilder b;
        _cleanup_free_ uint8_t *out = NULL;
        CapnpBuilderStruct root, s;
        CapnpBuilderList l;
        size_t size = 7;

        /* max_words: the root pointer and a 2-word struct fit in 3, a text does not. */
        capnp_builder_init(&b, 3);
        assert_int_equal(capnp_builder_init_root(&b, 1, 1, &root), 0);
        assert_int_equal(capnp_build_set_text(&root, 0, "x", 1), -E2BIG);
        /* Sticky: nothing works any more, and outputs have no room. */
        assert_int_equal(capnp_build_init_struct(&root, 0, 1, 0, &s), -E2BIG);
        assert_int_equal(s.data_words, 0);
        assert_int_equal(s.n_ptrs, 0);
        capnp_build_set_u64(&s, 0, 1); /* dropped */
        assert_int_equal(capnp_build_init_list(&root, 0, CAPNP_ELEMENT_BYTE, 1, &l), -E2BIG);
        assert_int_equal(l.count, 0);
        capnp_build_list_set_u8(&l, 0, 1); /* dropped */
        assert_int_equal(capnp_build_set_text(&s, 5, "x", 1), -E2BIG);
        assert_int_equal(capnp_builder_finish(&b, &out, &size), -E2BIG);
        assert_null(out);
        assert_int_equal(size, 7);
        capnp_builder_done(&b);

        /* List counts beyond 29 bits. */
        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_builder_init_root(&b, 0, 1, &root), 0);
        assert_int_equal(capnp_build_init_list(&root, 0, CAPNP_ELEMENT_VOID, CAPNP_MAX_LIST_ELEMENTS + 1, &l),
                         -E2BIG);
        capnp_builder_done(&b);

        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_builder_init_root(&b, 0, 1, &root), 0);
        assert_int_equal(capnp_build_init_list(&root, 0, CAPNP_ELEMENT_VOID, CAPNP_MAX_LIST_ELEMENTS, &l), 0);
        assert_int_equal(capnp_build_init_struct_list(&root, 0, 1u << 28, 1, 1, &l), -E2BIG);
        capnp_builder_done(&b);

        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_builder_init_root(&b, 0, 1, &root), 0);
        assert_int_equal(capnp_build_set_data(&root, 0, "", (size_t) CAPNP_MAX_LIST_ELEMENTS + 1), -E2BIG);
        capnp_builder_done(&b);

        /* Growth keeps earlier content and zeroes the new. */
        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_builder_init_root(&b, 1, 1, &root), 0);
        capnp_build_set_u64(&root, 0, 42);
        assert_int_equal(capnp_build_init_list(&root, 0, CAPNP_ELEMENT_EIGHT_BYTES, 100000, &l), 0);
        assert_int_equal(b.n_words, 3 + 100000);
        assert_true(b.allocated_words >= b.n_words);
        for (uint32_t i = 0; i < 100000; i++)
                assert_int_equal(unaligned_read_le64(b.buf + 8 * (3 + i)), 0);
        assert_int_equal(unaligned_read_le64(b.buf + 8), 42);
}

static void test_copy_pointer(void **state) {
        _cleanup_(capnp_builder_done) CapnpBuilder b;
        _cleanup_msg_ Msg src = {}, t = {};
        CapnpBuilderStruct root;
        CapnpStruct s, r, e;
        CapnpList l;
        uint8_t *out;
        size_t size;

        msg_file(&src, "wire-full.bin", NULL);
        assert_int_equal(capnp_message_root(&src.m, &s), 0);

        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_builder_init_root(&b, 0, 4, &root), 0);
        assert_int_equal(capnp_build_copy_pointer(&root, 0, &s, 11), 0); /* List(Inner) */
        assert_int_equal(capnp_build_copy_pointer(&root, 1, &s, 0), 0);  /* Text */
        assert_int_equal(capnp_build_copy_pointer(&root, 2, &s, 3), 0);  /* List(Bool) */
        assert_int_equal(capnp_build_copy_pointer(&root, 3, &s, 99), 0); /* beyond: null */
        assert_int_equal(capnp_builder_finish(&b, &out, &size), 0);

        msg_parse(&t, out, size, NULL);
        assert_int_equal(capnp_message_root(&t.m, &r), 0);
        assert_int_equal(capnp_struct_get_struct_list(&r, 0, &l), 0);
        assert_int_equal(l.count, 3);
        assert_int_equal(capnp_list_get_struct(&l, 2, &e), 0);
        assert_int_equal(capnp_struct_get_u32(&e, 0), 3);
        assert_text(&e, 0, "three");
        assert_text(&r, 1, "hello, world");
        assert_int_equal(capnp_struct_get_list(&r, 2, &l), 0);
        assert_int_equal(l.count, 11);
        assert_true(capnp_list_get_bool(&l, 10));
        assert_false(capnp_struct_has(&r, 3));
        assert_int_equal(capnp_message_error(&t.m), 0);
}

/* Padding bits of a bool list and words beyond a composite list's elements are not copied. */
static void test_copy_canonicalizes(void **state) {
        static const uint64_t words[] = {
                SP(0, 0, 2), LP(1, 1, 3), LP(1, 7, 3), UINT64_C(0xfffffffffffffff5),
                SP(1, 1, 0), 7, 0xdead, 0xbeef,
        };
        _cleanup_(capnp_builder_done) CapnpBuilder b;
        _cleanup_free_ uint8_t *out = NULL;
        _cleanup_msg_ Msg t = {};
        CapnpStruct root;
        size_t size;

        MSG_WORDS(&t, words, NULL);
        assert_int_equal(capnp_message_root(&t.m, &root), 0);
        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_build_copy_root(&b, &root), 0);
        assert_int_equal(capnp_builder_finish(&b, &out, &size), 0);

        const uint64_t expected[] = { SP(0, 0, 2), LP(1, 1, 3), LP(1, 7, 1), 5, SP(1, 1, 0), 7 };
        assert_int_equal(size, 8 + sizeof(expected));
        for (size_t i = 0; i < ELEMENTSOF(expected); i++)
                assert_int_equal(unaligned_read_le64(out + 8 + 8 * i), expected[i]);
}

/* A copy is bounded by the builder's limit and fails it when the source is bad. */
static void test_copy_errors(void **state) {
        static const uint64_t words[] = { SP(0, 0, 2), LP(1, 2, 64), SP(0, 5, 0), 0 };
        _cleanup_(capnp_builder_done) CapnpBuilder b;
        _cleanup_free_ uint8_t *out = NULL;
        _cleanup_msg_ Msg t = {};
        CapnpBuilderStruct root;
        CapnpStruct s;
        size_t size;

        MSG_WORDS(&t, words, &(CapnpReadOptions) { .traversal_limit_words = 100 });
        assert_int_equal(capnp_message_root(&t.m, &s), 0);

        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_builder_init_root(&b, 0, 2, &root), 0);
        assert_int_equal(capnp_build_copy_pointer(&root, 0, &s, 1), -EBADMSG);
        assert_int_equal(capnp_builder_finish(&b, &out, &size), -EBADMSG);
        capnp_builder_done(&b);

        /* A fresh reader: the first one's error sticks. */
        _cleanup_msg_ Msg t2 = {};
        MSG_WORDS(&t2, words, NULL);
        assert_int_equal(capnp_message_root(&t2.m, &s), 0);
        capnp_builder_init(&b, 1);
        assert_int_equal(capnp_build_copy_root(&b, &s), -E2BIG);
        assert_int_equal(capnp_message_error(&t2.m), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_signature_vector_decode),
                cmocka_unit_test(test_signature_vector_build),
                cmocka_unit_test(test_signature_vector_matches_capnp_tool),
                cmocka_unit_test(test_capnp_full),
                cmocka_unit_test(test_capnp_union_and_defaults),
                cmocka_unit_test(test_capnp_archive),
                cmocka_unit_test(test_copy_root_reproduces_capnp_bytes),
                cmocka_unit_test(test_framing_truncated),
                cmocka_unit_test(test_framing_concatenated),
                cmocka_unit_test(test_framing_segments),
                cmocka_unit_test(test_framing_empty_first_segment),
                cmocka_unit_test(test_segment_table_write),
                cmocka_unit_test(test_far_pointers),
                cmocka_unit_test(test_build_multi_segment),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_null_and_empty),
                cmocka_unit_test(test_capability),
                cmocka_unit_test(test_traversal_limit),
                cmocka_unit_test(test_traversal_amplified_lists),
                cmocka_unit_test(test_nesting_limit),
                cmocka_unit_test(test_nesting_lists),
                cmocka_unit_test(test_cycle),
                cmocka_unit_test(test_list_upgrades),
                cmocka_unit_test(test_bit_list),
                cmocka_unit_test(test_build_exact_bytes),
                cmocka_unit_test(test_build_no_root),
                cmocka_unit_test(test_build_read_back),
                cmocka_unit_test(test_build_limits),
                cmocka_unit_test(test_copy_pointer),
                cmocka_unit_test(test_copy_canonicalizes),
                cmocka_unit_test(test_copy_errors),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
