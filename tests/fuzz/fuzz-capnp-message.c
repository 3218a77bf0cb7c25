/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzzes capnp/capnp.c with arbitrary bytes read as concatenated stream messages. For each message
 * it walks every pointer generically (structs, lists of every element size, text and data) and checks:
 * (1) capnp_message_measure() agrees with capnp_message_parse();
 * (2) every object handed out lies inside its segment and within the nesting limit, and each read
 *     charges at least the words it covers (the traversal charge never exceeds the limit);
 * (3) the typed accessors (text, data, struct, list, kind, has, list element getters) agree with the
 *     generic view and fail with the documented errno when the kind is wrong;
 * (4) an error is sticky: after the walk fails, the message reports that error;
 * (5) capnp_build_copy_root() of the root performs the same reads as the walk: it fails exactly when
 *     the walk fails, with the same errno and the same budget left, and is no larger than what it was
 *     charged;
 * (6) the copy re-parses, walks to the same values, and copies to the same bytes.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macro.h"
#include "capnp/capnp.h"
#include "fuzz.h"

#define TRAVERSAL_LIMIT (64u * 1024)
#define NESTING_LIMIT 48u
#define MAX_MESSAGES 4

typedef struct Walk {
        uint64_t hash;
        bool probe; /* also check the typed accessors against the generic view */
} Walk;

static void mix(Walk *w, uint64_t v) {
        /* FNV-1a over the value's bytes: order-sensitive, enough to tell walks apart. */
        for (unsigned i = 0; i < 8; i++) {
                w->hash ^= (uint8_t) (v >> (8 * i));
                w->hash *= UINT64_C(0x100000001b3);
        }
}

static const CapnpSegment *segment_of(const CapnpMessage *m, uint32_t segment) {
        CHECK(segment < m->n_segments);
        return &m->segments[segment];
}

static void check_inside(const CapnpMessage *m, uint32_t segment, const uint8_t *p, uint64_t n_bytes) {
        const CapnpSegment *seg = segment_of(m, segment);

        if (n_bytes == 0)
                return;
        CHECK(p >= seg->bytes);
        CHECK((uint64_t) (p - seg->bytes) + n_bytes <= (uint64_t) seg->n_words * 8);
}

static void check_struct(const CapnpStruct *s) {
        CHECK(s->depth <= s->msg->nesting_limit);
        check_inside(s->msg, s->segment, s->data, s->data_bytes);
        check_inside(s->msg, s->segment, s->ptrs, (uint64_t) s->n_ptrs * 8);
        if (s->data_bytes > 0 && s->n_ptrs > 0)
                CHECK(s->ptrs == s->data + s->data_bytes);
}

static uint64_t list_content_bytes(const CapnpList *l) {
        return ((uint64_t) l->count * l->step_bits + 7) / 8;
}

static void check_list(const CapnpList *l) {
        CHECK(l->depth <= l->msg->nesting_limit);
        CHECK(l->element_size >= CAPNP_ELEMENT_VOID && l->element_size < _CAPNP_ELEMENT_MAX);
        check_inside(l->msg, l->segment, l->start, list_content_bytes(l));
}

/* The least a read of p may charge (capnp.h: Limits). */
static uint64_t least_charge(const CapnpPointer *p) {
        switch (p->kind) {
        case CAPNP_POINTER_STRUCT:
                return p->s.data_bytes / 8 + p->s.n_ptrs;
        case CAPNP_POINTER_LIST:
                if (p->l.element_size == CAPNP_ELEMENT_COMPOSITE)
                        return 1 + (p->l.step_bits == 0 ? p->l.count : list_content_bytes(&p->l) / 8);
                if (p->l.element_size == CAPNP_ELEMENT_VOID)
                        return p->l.count;
                return (list_content_bytes(&p->l) + 7) / 8;
        default:
                return 0;
        }
}

static bool is_text(const CapnpPointer *p) {
        return p->kind == CAPNP_POINTER_LIST && p->l.element_size == CAPNP_ELEMENT_BYTE && p->l.count > 0 &&
               p->l.start[p->l.count - 1] == 0;
}

static bool is_bytes(const CapnpPointer *p) {
        return p->kind == CAPNP_POINTER_LIST && p->l.element_size == CAPNP_ELEMENT_BYTE;
}

static void check_same_struct(const CapnpStruct *a, const CapnpStruct *b) {
        CHECK(a->data == b->data || a->data_bytes == 0);
        CHECK(a->ptrs == b->ptrs || a->n_ptrs == 0);
        CHECK(a->data_bytes == b->data_bytes);
        CHECK(a->n_ptrs == b->n_ptrs);
        CHECK(a->segment == b->segment || (a->data_bytes == 0 && a->n_ptrs == 0));
        CHECK(a->depth == b->depth);
}

static void check_same_list(const CapnpList *a, const CapnpList *b) {
        CHECK(a->start == b->start || a->count == 0);
        CHECK(a->count == b->count);
        CHECK(a->element_size == b->element_size);
        CHECK(a->step_bits == b->step_bits);
        CHECK(a->data_bytes == b->data_bytes);
        CHECK(a->n_ptrs == b->n_ptrs);
        CHECK(a->depth == b->depth);
}

/*
 * The typed accessors against the generic view p of the same slot. They run with a saved and
 * restored budget and error, so that the walk's own reads (and those of the copy) stay the same.
 */
static void probe_struct_slot(const CapnpStruct *s, uint16_t i, const CapnpPointer *p) {
        CapnpMessage *m = s->msg;
        uint64_t saved_left = m->traversal_left;
        CapnpPointerKind kind;
        const uint8_t *data;
        const char *text;
        CapnpStruct st;
        CapnpList l;
        size_t len;
        int r;

        CHECK(m->error == 0);
        m->traversal_left = UINT64_MAX / 2;

        CHECK(capnp_struct_pointer_kind(s, i, &kind) == 0);
        CHECK(kind == p->kind);
        if (p->kind != CAPNP_POINTER_NULL)
                CHECK(capnp_struct_has(s, i));

        r = capnp_struct_get_text(s, i, &text, &len);
        if (p->kind == CAPNP_POINTER_NULL) {
                CHECK(r == 0 && !text && len == 0);
        } else if (is_text(p)) {
                CHECK(r == 0 && (const uint8_t *) text == p->l.start && len == p->l.count - 1u);
                CHECK(text[len] == 0);
        } else {
                CHECK(r == -EMEDIUMTYPE && !text && len == 0);
                m->error = 0;
        }

        r = capnp_struct_get_data(s, i, &data, &len);
        if (p->kind == CAPNP_POINTER_NULL) {
                CHECK(r == 0 && !data && len == 0);
        } else if (is_bytes(p)) {
                CHECK(r == 0 && data == p->l.start && len == p->l.count);
        } else {
                CHECK(r == -EMEDIUMTYPE);
                m->error = 0;
        }

        r = capnp_struct_get_struct(s, i, &st);
        if (p->kind == CAPNP_POINTER_STRUCT) {
                CHECK(r == 0);
                check_same_struct(&st, &p->s);
        } else if (p->kind == CAPNP_POINTER_NULL) {
                CHECK(r == 0 && st.data_bytes == 0 && st.n_ptrs == 0);
        } else {
                CHECK(r == -EMEDIUMTYPE && st.data_bytes == 0 && st.n_ptrs == 0);
                m->error = 0;
        }

        r = capnp_struct_get_list(s, i, &l);
        if (p->kind == CAPNP_POINTER_LIST) {
                CHECK(r == 0);
                check_same_list(&l, &p->l);
        } else if (p->kind == CAPNP_POINTER_NULL) {
                CHECK(r == 0 && l.count == 0);
        } else {
                CHECK(r == -EMEDIUMTYPE && l.count == 0);
                m->error = 0;
        }

        r = capnp_struct_get_struct_list(s, i, &l);
        if (p->kind == CAPNP_POINTER_LIST && p->l.element_size != CAPNP_ELEMENT_BIT) {
                CHECK(r == 0);
                check_same_list(&l, &p->l);
        } else if (p->kind == CAPNP_POINTER_NULL) {
                CHECK(r == 0 && l.count == 0);
        } else {
                CHECK(r == -EMEDIUMTYPE && l.count == 0);
                m->error = 0;
        }

        CHECK(m->error == 0);
        m->traversal_left = saved_left;
}

static void probe_list_slot(const CapnpList *l, uint32_t i, const CapnpPointer *p) {
        CapnpMessage *m = l->msg;
        uint64_t saved_left = m->traversal_left;
        const uint8_t *data;
        const char *text;
        CapnpList sub;
        size_t len;
        int r;

        CHECK(m->error == 0);
        m->traversal_left = UINT64_MAX / 2;

        r = capnp_list_get_text(l, i, &text, &len);
        if (p->kind == CAPNP_POINTER_NULL)
                CHECK(r == 0 && !text && len == 0);
        else if (is_text(p))
                CHECK(r == 0 && (const uint8_t *) text == p->l.start && len == p->l.count - 1u);
        else {
                CHECK(r == -EMEDIUMTYPE);
                m->error = 0;
        }

        r = capnp_list_get_data(l, i, &data, &len);
        if (p->kind == CAPNP_POINTER_NULL)
                CHECK(r == 0 && !data && len == 0);
        else if (is_bytes(p))
                CHECK(r == 0 && data == p->l.start && len == p->l.count);
        else {
                CHECK(r == -EMEDIUMTYPE);
                m->error = 0;
        }

        r = capnp_list_get_list(l, i, &sub);
        if (p->kind == CAPNP_POINTER_LIST) {
                CHECK(r == 0);
                check_same_list(&sub, &p->l);
        } else if (p->kind == CAPNP_POINTER_NULL)
                CHECK(r == 0 && sub.count == 0);
        else {
                CHECK(r == -EMEDIUMTYPE);
                m->error = 0;
        }

        CHECK(m->error == 0);
        m->traversal_left = saved_left;
}

static int walk_pointer(Walk *w, const CapnpPointer *p);

/* Reads a pointer the way capnp_build_copy_*() does, checking what it was charged. */
static int get_pointer(const CapnpMessage *m, int (*get)(const void *, uint32_t, CapnpPointer *),
                       const void *from, uint32_t i, CapnpPointer *ret) {
        uint64_t before = m->traversal_left;
        int r;

        r = get(from, i, ret);
        if (r < 0) {
                CHECK(m->error == r);
                CHECK(ret->kind == CAPNP_POINTER_NULL);
                return r;
        }
        CHECK(m->traversal_left <= before);
        CHECK(before - m->traversal_left >= least_charge(ret));
        return 0;
}

static int get_struct_pointer(const void *from, uint32_t i, CapnpPointer *ret) {
        return capnp_struct_get_pointer(from, (uint16_t) i, ret);
}

static int get_list_pointer(const void *from, uint32_t i, CapnpPointer *ret) {
        return capnp_list_get_pointer(from, i, ret);
}

static int walk_struct(Walk *w, const CapnpStruct *s) {
        int r;

        check_struct(s);
        mix(w, 'S');
        mix(w, s->data_bytes);
        mix(w, s->n_ptrs);
        for (uint32_t i = 0; i < s->data_bytes; i++)
                mix(w, capnp_struct_get_u8(s, i));
        CHECK(capnp_struct_get_u64(s, s->data_bytes) == 0);
        CHECK(!capnp_struct_get_bool(s, s->data_bytes * 8));
        CHECK(!capnp_struct_has(s, s->n_ptrs));
        if (s->data_bytes >= 8)
                CHECK(capnp_struct_get_u64(s, 0) == unaligned_read_le64(s->data));

        for (uint16_t i = 0; i < s->n_ptrs; i++) {
                CapnpPointer p;

                r = get_pointer(s->msg, get_struct_pointer, s, i, &p);
                if (r < 0)
                        return r;
                if (w->probe)
                        probe_struct_slot(s, i, &p);
                r = walk_pointer(w, &p);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int walk_list(Walk *w, const CapnpList *l) {
        int r;

        check_list(l);
        mix(w, 'L');
        mix(w, (uint64_t) l->element_size);
        mix(w, l->count);

        switch (l->element_size) {

        case CAPNP_ELEMENT_VOID:
                return 0;

        case CAPNP_ELEMENT_BIT:
                for (uint32_t i = 0; i < l->count; i++)
                        mix(w, capnp_list_get_bool(l, i));
                return 0;

        case CAPNP_ELEMENT_BYTE:
                CHECK(capnp_list_bytes(l) == l->start);
                for (uint32_t i = 0; i < l->count; i++) {
                        CHECK(capnp_list_get_u8(l, i) == l->start[i]);
                        mix(w, l->start[i]);
                }
                return 0;

        case CAPNP_ELEMENT_TWO_BYTES:
                for (uint32_t i = 0; i < l->count; i++)
                        mix(w, capnp_list_get_u16(l, i));
                return 0;

        case CAPNP_ELEMENT_FOUR_BYTES:
                for (uint32_t i = 0; i < l->count; i++)
                        mix(w, capnp_list_get_u32(l, i));
                return 0;

        case CAPNP_ELEMENT_EIGHT_BYTES:
                for (uint32_t i = 0; i < l->count; i++)
                        mix(w, capnp_list_get_u64(l, i));
                return 0;

        case CAPNP_ELEMENT_POINTER:
                for (uint32_t i = 0; i < l->count; i++) {
                        CapnpPointer p;

                        r = get_pointer(l->msg, get_list_pointer, l, i, &p);
                        if (r < 0)
                                return r;
                        if (w->probe)
                                probe_list_slot(l, i, &p);
                        r = walk_pointer(w, &p);
                        if (r < 0)
                                return r;
                }
                return 0;

        case CAPNP_ELEMENT_COMPOSITE:
                mix(w, l->data_bytes);
                mix(w, l->n_ptrs);
                CHECK(l->step_bits == (l->data_bytes / 8 + l->n_ptrs) * 64u);
                for (uint32_t i = 0; i < l->count; i++) {
                        CapnpStruct e;

                        r = capnp_list_get_struct(l, i, &e);
                        if (r < 0) {
                                CHECK(r == -ELOOP && l->msg->error == r);
                                return r;
                        }
                        /* The element seen as a primitive is its first data field. */
                        CHECK(capnp_list_get_u64(l, i) == capnp_struct_get_u64(&e, 0));
                        CHECK(capnp_list_get_u16(l, i) == capnp_struct_get_u16(&e, 0));
                        CHECK(capnp_list_get_bool(l, i) == capnp_struct_get_bool(&e, 0));
                        r = walk_struct(w, &e);
                        if (r < 0)
                                return r;
                }
                return 0;

        default:
                abort();
        }
}

static int walk_pointer(Walk *w, const CapnpPointer *p) {
        mix(w, (uint64_t) p->kind);
        switch (p->kind) {
        case CAPNP_POINTER_NULL:
                return 0;
        case CAPNP_POINTER_STRUCT:
                return walk_struct(w, &p->s);
        case CAPNP_POINTER_LIST:
                return walk_list(w, &p->l);
        case CAPNP_POINTER_CAPABILITY:
                mix(w, p->capability);
                return 0;
        default:
                abort();
        }
}

/* Parses, takes the root and walks it. *ret_msg is left for the caller to inspect and free. */
static int walk_message(const uint8_t *buf, size_t size, bool probe, CapnpMessage *ret_msg,
                        uint64_t *ret_hash) {
        const CapnpReadOptions opts = {
                .traversal_limit_words = TRAVERSAL_LIMIT,
                .nesting_limit = NESTING_LIMIT,
        };
        Walk w = {
                .hash = UINT64_C(0xcbf29ce484222325),
                .probe = probe,
        };
        CapnpStruct root;
        size_t used;
        int r;

        CHECK(capnp_message_parse(ret_msg, buf, size, &opts, &used) == 0);
        CHECK(used == size);

        r = capnp_message_root(ret_msg, &root);
        if (r >= 0)
                r = walk_struct(&w, &root);
        CHECK(ret_msg->traversal_left <= TRAVERSAL_LIMIT);
        if (r < 0) {
                /* Sticky. */
                CHECK(capnp_message_error(ret_msg) == r);
                CHECK(capnp_message_root(ret_msg, &root) == r);
                CHECK(root.data_bytes == 0 && root.n_ptrs == 0);
                return r;
        }
        CHECK(capnp_message_error(ret_msg) == 0);
        *ret_hash = w.hash;
        return 0;
}

static void check_message(const uint8_t *buf, size_t size) {
        _cleanup_(capnp_builder_done) CapnpBuilder b = {}, b2 = {};
        _cleanup_free_ uint8_t *copy = NULL, *copy2 = NULL;
        CapnpMessage m1 = {}, m2 = {}, m3 = {};
        uint64_t hash1 = 0, hash3 = 0;
        size_t copy_size, copy2_size;
        CapnpStruct root;
        int r1, r2, r;

        /* The walk, with the typed accessors probed along the way. */
        r1 = walk_message(buf, size, true, &m1, &hash1);

        /* The copy reads exactly what the walk read. */
        CHECK(capnp_message_parse(&m2, buf, size,
                                  &(CapnpReadOptions) {
                                          .traversal_limit_words = TRAVERSAL_LIMIT,
                                          .nesting_limit = NESTING_LIMIT,
                                  },
                                  &copy_size) == 0);
        capnp_builder_init(&b, 0);
        r2 = capnp_message_root(&m2, &root);
        if (r2 >= 0)
                r2 = capnp_build_copy_root(&b, &root);
        CHECK(r2 == r1);
        CHECK(m2.traversal_left == m1.traversal_left);
        CHECK(m2.error == m1.error);
        if (r1 < 0) {
                if (r2 < 0 && b.n_words > 0) {
                        uint8_t *p = NULL;
                        size_t n;

                        CHECK(capnp_builder_finish(&b, &p, &n) == r1);
                        CHECK(!p);
                }
                goto finish;
        }
        CHECK(b.n_words <= TRAVERSAL_LIMIT - m2.traversal_left);
        CHECK(capnp_builder_finish(&b, &copy, &copy_size) == 0);
        CHECK(copy_size == 8 + 8 * b.n_words);

        /* The copy walks to the same values ... */
        r = walk_message(copy, copy_size, false, &m3, &hash3);
        CHECK(r == 0);
        CHECK(hash3 == hash1);
        CHECK(m3.n_segments == 1);

        /* ... and copies to the same bytes. */
        capnp_builder_init(&b2, 0);
        capnp_message_done(&m3);
        CHECK(capnp_message_parse(&m3, copy, copy_size,
                                  &(CapnpReadOptions) {
                                          .traversal_limit_words = TRAVERSAL_LIMIT,
                                          .nesting_limit = NESTING_LIMIT,
                                  },
                                  &copy2_size) == 0);
        CHECK(capnp_message_root(&m3, &root) == 0);
        CHECK(capnp_build_copy_root(&b2, &root) == 0);
        CHECK(capnp_builder_finish(&b2, &copy2, &copy2_size) == 0);
        CHECK(copy2_size == copy_size);
        CHECK(memcmp(copy2, copy, copy_size) == 0);

finish:
        capnp_message_done(&m1);
        capnp_message_done(&m2);
        capnp_message_done(&m3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t offset = 0;

        for (unsigned n = 0; n < MAX_MESSAGES && offset < size; n++) {
                const uint8_t *p = data + offset;
                size_t left = size - offset, used = 0, measured = 0;
                CapnpMessage m;
                int r, k;

                r = capnp_message_parse(&m, p, left, NULL, &used);
                k = capnp_message_measure(p, left, 0, &measured);
                if (r < 0) {
                        CHECK(k == r);
                        return 0;
                }
                if (r > 0) {
                        /* Truncated: measure knows the size iff the table is complete. */
                        CHECK(used == measured);
                        CHECK(k == 1 ? used == 0 : (k == 0 && used > left));
                        return 0;
                }
                CHECK(k == 0 && measured == used);
                CHECK(used >= 8 && used % 8 == 0 && used <= left);
                capnp_message_done(&m);

                check_message(p, used);
                offset += used;
        }
        return 0;
}
