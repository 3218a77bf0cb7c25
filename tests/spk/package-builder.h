/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Builds Sandstorm packages for tests, byte by byte, independently of the pack code: an archive from a
 * tree description (with contents optionally in segments of their own, reached through far or
 * double-far pointers, as the official packer writes them), a Signature message, and the xz framing.
 * Used by tests/spk/test-spk-package.c and tests/fuzz/fuzz-spk-verify.c. Test code: asserts on
 * anything unexpected rather than returning errors.
 */

#include <assert.h>
#include <lzma.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macro.h"
#include "capnp/capnp.h"
#include "spk/package.h"

typedef enum TestEntryType {
        TEST_REGULAR = 0,
        TEST_EXECUTABLE = 1,
        TEST_SYMLINK = 2,
        TEST_DIRECTORY = 3,
} TestEntryType;

typedef enum TestPlacement {
        TEST_INLINE,     /* contents in segment 0 */
        TEST_FAR,        /* in a segment of its own, single-far pointer */
        TEST_DOUBLE_FAR, /* contents in one segment, the two-word landing pad in another */
        TEST_SHARED,     /* a far pointer to the previous external content's landing pad (overlap) */
        TEST_PACKED,     /* spk/pack.c's layout: every such content in one segment, each behind its landing
                          * pad, reached through a single-far pointer */
} TestPlacement;

typedef struct TestEntry {
        const char *name;
        size_t name_len; /* 0: strlen(name); for names with inner NULs */
        unsigned type;   /* TestEntryType, or anything else for an unknown union tag */
        const void *content;
        size_t content_len; /* regular/executable data, symlink target */
        int64_t mtime_ns;
        const struct TestEntry *children;
        size_t n_children;
        TestPlacement placement; /* directories: TEST_INLINE, or TEST_DOUBLE_FAR for a children list
                                  * in segment 0 reached through a landing pad in a segment of its own */
        bool null_name;
} TestEntry;

#define TEST_MAX_SEGMENTS 256

typedef struct TestArchive {
        CapnpBuilder b;
        uint8_t *segs[TEST_MAX_SEGMENTS];
        uint32_t seg_words[TEST_MAX_SEGMENTS];
        uint32_t n_segs; /* external segments, numbered from 1 */
        uint32_t last_far_segment;
        uint32_t packed_segment; /* TEST_PACKED's, once there is one */
} TestArchive;

static inline uint32_t test_add_segment(TestArchive *a, const void *p, size_t n_bytes) {
        size_t words = (n_bytes + 7) / 8;

        assert(a->n_segs + 1 < TEST_MAX_SEGMENTS);
        a->segs[a->n_segs] = calloc(words ? words : 1, 8);
        assert(a->segs[a->n_segs]);
        if (n_bytes)
                memcpy(a->segs[a->n_segs], p, n_bytes);
        a->seg_words[a->n_segs] = (uint32_t) words;
        return ++a->n_segs; /* segment id */
}

static inline uint64_t test_list_pointer(int32_t offset, unsigned size, uint32_t count) {
        return ((uint64_t) (uint32_t) (offset * 4) | 1u) | ((uint64_t) size << 32) |
               ((uint64_t) count << 35);
}

static inline uint64_t test_far_pointer(bool double_far, uint32_t landing_word, uint32_t segment) {
        return 2u | (double_far ? 4u : 0u) | ((uint64_t) landing_word << 3) | ((uint64_t) segment << 32);
}

static inline void test_set_pointer_word(const CapnpBuilderStruct *s, uint16_t ptr_index, uint64_t v) {
        unaligned_write_le64(s->b->buf + ((size_t) s->data_word + s->data_words + ptr_index) * 8, v);
}

/* Places bytes (a Data, or a Text if text) out of line and points slot ptr_index of s at them. */
static inline void test_place_external(TestArchive *a, const CapnpBuilderStruct *s, uint16_t ptr_index,
                                       const void *p, size_t len, bool text, TestPlacement placement) {
        size_t n = len + (text ? 1 : 0);
        uint32_t count = (uint32_t) n;

        if (placement == TEST_PACKED) {
                size_t words = 1 + (n + 7) / 8, at;
                uint8_t *seg;

                if (a->packed_segment == 0)
                        a->packed_segment = test_add_segment(a, NULL, 0);
                at = a->seg_words[a->packed_segment - 1];
                seg = realloc(a->segs[a->packed_segment - 1], (at + words) * 8);
                assert(seg);
                memset(seg + at * 8, 0, words * 8);
                unaligned_write_le64(seg + at * 8, test_list_pointer(0, 2, count));
                if (len)
                        memcpy(seg + at * 8 + 8, p, len);
                a->segs[a->packed_segment - 1] = seg;
                a->seg_words[a->packed_segment - 1] = (uint32_t) (at + words);
                test_set_pointer_word(s, ptr_index,
                                      test_far_pointer(false, (uint32_t) at, a->packed_segment));
                return;
        }
        if (placement == TEST_SHARED) {
                assert(a->last_far_segment > 0);
                test_set_pointer_word(s, ptr_index, test_far_pointer(false, 0, a->last_far_segment));
                return;
        }
        if (placement == TEST_FAR) {
                size_t words = 1 + (n + 7) / 8;
                uint8_t *seg = calloc(words, 8);
                uint32_t id;

                assert(seg);
                unaligned_write_le64(seg, test_list_pointer(0, 2, count));
                if (len)
                        memcpy(seg + 8, p, len);
                id = test_add_segment(a, seg, words * 8);
                free(seg);
                test_set_pointer_word(s, ptr_index, test_far_pointer(false, 0, id));
                a->last_far_segment = id;
                return;
        }
        assert(placement == TEST_DOUBLE_FAR);
        {
                uint8_t *content = calloc(n ? n : 1, 1), pad[16];
                uint32_t content_id, pad_id;

                assert(content);
                if (len)
                        memcpy(content, p, len);
                content_id = test_add_segment(a, content, n);
                free(content);
                unaligned_write_le64(pad, test_far_pointer(false, 0, content_id));
                unaligned_write_le64(pad + 8, test_list_pointer(0, 2, count));
                pad_id = test_add_segment(a, pad, sizeof(pad));
                test_set_pointer_word(s, ptr_index, test_far_pointer(true, 0, pad_id));
        }
}

static inline void test_fill_files(TestArchive *a, const CapnpBuilderList *l, const TestEntry *e, size_t n) {
        for (size_t i = 0; i < n; i++) {
                CapnpBuilderStruct f;

                assert(capnp_build_list_get_struct(l, (uint32_t) i, &f) >= 0);
                if (!e[i].null_name)
                        assert(capnp_build_set_text(&f, 0, e[i].name,
                                                    e[i].name_len ?: strlen(e[i].name)) >= 0);
                capnp_build_set_u16(&f, 0, (uint16_t) e[i].type);
                capnp_build_set_u64(&f, 8, (uint64_t) e[i].mtime_ns);

                switch (e[i].type) {
                case TEST_REGULAR:
                case TEST_EXECUTABLE:
                case TEST_SYMLINK: {
                        bool text = e[i].type == TEST_SYMLINK;

                        if (e[i].placement != TEST_INLINE)
                                test_place_external(a, &f, 1, e[i].content, e[i].content_len, text,
                                                    e[i].placement);
                        else if (text)
                                assert(capnp_build_set_text(&f, 1, e[i].content, e[i].content_len) >= 0);
                        else if (e[i].content)
                                assert(capnp_build_set_data(&f, 1, e[i].content, e[i].content_len) >= 0);
                        break;
                }
                case TEST_DIRECTORY: {
                        CapnpBuilderList children;

                        assert(capnp_build_init_struct_list(&f, 1, (uint32_t) e[i].n_children, 2, 2,
                                                            &children) >= 0);
                        test_fill_files(a, &children, e[i].children, e[i].n_children);
                        if (e[i].placement == TEST_DOUBLE_FAR) {
                                /* The list stays where it is; its pointer moves to a landing pad. */
                                size_t at = (size_t) f.data_word + f.data_words + 1;
                                uint64_t ptr = unaligned_read_le64(f.b->buf + at * 8);
                                int32_t offset = (int32_t) (uint32_t) ptr >> 2;
                                uint32_t tag = (uint32_t) ((int64_t) at + 1 + offset), pad_id;
                                uint8_t pad[16];

                                unaligned_write_le64(pad, test_far_pointer(false, tag, 0));
                                unaligned_write_le64(pad + 8, ptr & ~(uint64_t) UINT32_C(0xfffffffc));
                                pad_id = test_add_segment(a, pad, sizeof(pad));
                                test_set_pointer_word(&f, 1, test_far_pointer(true, 0, pad_id));
                        }
                        break;
                }
                default:
                        break;
                }
        }
}

/* The Archive message (with as many segments as the placements ask for) for the root entries. */
static inline void test_build_archive(const TestEntry *root, size_t n, uint8_t **ret, size_t *ret_size) {
        TestArchive a = {};
        CapnpBuilderStruct r;
        CapnpBuilderList files;
        uint32_t sizes[TEST_MAX_SEGMENTS];
        const uint8_t *seg0;
        size_t seg0_words, table, total;
        uint8_t *out, *p;

        capnp_builder_init(&a.b, 0);
        assert(capnp_builder_init_root(&a.b, 0, 1, &r) >= 0);
        assert(capnp_build_init_struct_list(&r, 0, (uint32_t) n, 2, 2, &files) >= 0);
        test_fill_files(&a, &files, root, n);
        assert(a.b.error == 0);

        seg0 = capnp_builder_segment(&a.b, &seg0_words);
        sizes[0] = (uint32_t) seg0_words;
        for (uint32_t i = 0; i < a.n_segs; i++)
                sizes[i + 1] = a.seg_words[i];
        table = capnp_segment_table_size(a.n_segs + 1);
        total = table;
        for (uint32_t i = 0; i <= a.n_segs; i++)
                total += (size_t) sizes[i] * 8;
        out = calloc(total, 1);
        assert(out);
        assert(capnp_segment_table_write(out, a.n_segs + 1, sizes) == table);
        p = out + table;
        memcpy(p, seg0, seg0_words * 8);
        p += seg0_words * 8;
        for (uint32_t i = 0; i < a.n_segs; i++) {
                memcpy(p, a.segs[i], (size_t) a.seg_words[i] * 8);
                p += (size_t) a.seg_words[i] * 8;
                free(a.segs[i]);
        }
        capnp_builder_done(&a.b);
        *ret = out;
        *ret_size = total;
}

/* A Signature message with the given public key and combined signature bytes (any lengths). */
static inline void test_build_signature(const uint8_t *pk, size_t pk_len, const uint8_t *sm, size_t sm_len,
                                        uint8_t **ret, size_t *ret_size) {
        CapnpBuilder b;
        CapnpBuilderStruct r;

        capnp_builder_init(&b, 0);
        assert(capnp_builder_init_root(&b, 0, 2, &r) >= 0);
        assert(capnp_build_set_data(&r, 0, pk, pk_len) >= 0);
        assert(capnp_build_set_data(&r, 1, sm, sm_len) >= 0);
        assert(capnp_builder_finish(&b, ret, ret_size) >= 0);
        capnp_builder_done(&b);
}

/* The combined signature (spec §1.2) of SHA-512(bytes). */
static inline void test_sign(const uint8_t sk[64], const void *bytes, size_t n, uint8_t ret[128]) {
        uint8_t hash[64];
        unsigned long long len;

        assert(sodium_init() >= 0);
        crypto_hash_sha512(hash, bytes, n);
        assert(crypto_sign(ret, &len, hash, 64, sk) == 0);
        assert(len == 128);
}

/* magic ‖ xz(payload), at the given preset. */
static inline void test_xz_wrap(
        const void *payload, size_t n, uint32_t preset, uint8_t **ret, size_t *ret_size) {
        size_t cap = lzma_stream_buffer_bound(n) + SPK_MAGIC_SIZE, pos = SPK_MAGIC_SIZE;
        uint8_t *out = malloc(cap);

        assert(out);
        memcpy(out, spk_magic, SPK_MAGIC_SIZE);
        assert(lzma_easy_buffer_encode(preset, LZMA_CHECK_CRC64, NULL, payload, n, out, &pos, cap) ==
                LZMA_OK);
        *ret = out;
        *ret_size = pos;
}

/* A whole package: magic, xz(Signature ‖ archive ‖ trailing), signed by sk over archive ‖ trailing. */
static inline void test_build_package(const uint8_t pk[32], const uint8_t sk[64], const void *archive,
        size_t n, const void *trailing, size_t n_trailing, uint8_t **ret, size_t *ret_size) {
        uint8_t *signed_bytes = malloc(n + n_trailing + 1), sm[128], *sig, *payload;
        size_t sig_size;

        assert(signed_bytes);
        if (n)
                memcpy(signed_bytes, archive, n);
        if (n_trailing)
                memcpy(signed_bytes + n, trailing, n_trailing);
        test_sign(sk, signed_bytes, n + n_trailing, sm);
        test_build_signature(pk, 32, sm, 128, &sig, &sig_size);
        payload = malloc(sig_size + n + n_trailing);
        assert(payload);
        memcpy(payload, sig, sig_size);
        if (n + n_trailing)
                memcpy(payload + sig_size, signed_bytes, n + n_trailing);
        test_xz_wrap(payload, sig_size + n + n_trailing, 0, ret, ret_size);
        free(payload);
        free(sig);
        free(signed_bytes);
}

/* A Manifest (2 words, 5 ptrs) with appVersion, appTitle, appMarketingVersion and metadata website and
 * codeUrl (either may be NULL). */
static inline void test_build_manifest(uint32_t version, const char *title, const char *website,
                                       const char *code_url, uint8_t **ret, size_t *ret_size) {
        CapnpBuilder b;
        CapnpBuilderStruct r, t, m;

        capnp_builder_init(&b, 0);
        assert(capnp_builder_init_root(&b, 2, 5, &r) >= 0);
        capnp_build_set_u32(&r, 8, version);
        assert(capnp_build_init_struct(&r, 3, 0, 2, &t) >= 0);
        assert(capnp_build_set_text(&t, 0, title, strlen(title)) >= 0);
        assert(capnp_build_init_struct(&r, 2, 0, 2, &t) >= 0);
        assert(capnp_build_set_text(&t, 0, "1.0", 3) >= 0);
        assert(capnp_build_init_struct(&r, 4, 1, 17, &m) >= 0);
        if (website)
                assert(capnp_build_set_text(&m, 3, website, strlen(website)) >= 0);
        if (code_url)
                assert(capnp_build_set_text(&m, 4, code_url, strlen(code_url)) >= 0);
        assert(capnp_builder_finish(&b, ret, ret_size) >= 0);
        capnp_builder_done(&b);
}

/* A Manifest whose metadata carries author.pgpSignature and pgpKeyring (either may be NULL). */
static inline void test_build_manifest_pgp(const void *sig, size_t sig_len, const void *keyring,
        size_t keyring_len, uint8_t **ret, size_t *ret_size) {
        CapnpBuilder b;
        CapnpBuilderStruct r, t, m;

        capnp_builder_init(&b, 0);
        assert(capnp_builder_init_root(&b, 2, 5, &r) >= 0);
        capnp_build_set_u32(&r, 8, 1);
        assert(capnp_build_init_struct(&r, 3, 0, 2, &t) >= 0);
        assert(capnp_build_set_text(&t, 0, "PGP", 3) >= 0);
        assert(capnp_build_init_struct(&r, 4, 1, 17, &m) >= 0);
        if (sig)
                assert(capnp_build_set_data(&m, 9, sig, sig_len) >= 0);
        if (keyring)
                assert(capnp_build_set_data(&m, 10, keyring, keyring_len) >= 0);
        assert(capnp_builder_finish(&b, ret, ret_size) >= 0);
        capnp_builder_done(&b);
}
