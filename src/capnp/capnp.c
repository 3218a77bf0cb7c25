/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The Cap'n Proto wire format (spec §4): a reader of untrusted stream messages and a single-segment
 * builder. See capnp.h for the contract.
 *
 * Reader. A pointer slot is resolved in two steps: ref_resolve() turns the 64-bit word (following
 * at most one far or double-far hop) into "this struct or list pointer describes an object that
 * starts at word W of segment S"; ref_struct(), ref_list() and ref_bytes() then check the object's
 * extent against S, the nesting depth and the traversal budget, and describe it. Invariants:
 * (1) every byte an accessor dereferences lies inside the segment the object was found in: objects
 *     are bounds-checked when read, and element and field accessors stay inside what was checked
 *     (fields beyond a struct's sections read as 0, list indices are asserted);
 * (2) msg->traversal_left only decreases, and only by what an object covers (see capnp.h), so a walk
 *     costs at most the limit given, whatever the message's sharing or cycles;
 * (3) every object handed out has depth <= msg->nesting_limit <= CAPNP_MAX_NESTING_LIMIT, so a
 *     recursive walker's stack is bounded;
 * (4) msg->error goes from 0 to the first failure and never changes again; every int-returning
 *     accessor returns it once set.
 *
 * Builder. Objects are appended to one zeroed, geometrically growing buffer; everything is addressed
 * by word offsets so that growth may move it. Invariants:
 * (5) b->n_words <= BUILDER_MAX_WORDS (2^29), so every intra-segment offset fits the pointer's signed
 *     30-bit field;
 * (6) b->error goes from 0 to the first failure and never changes again; after it nothing more is
 *     allocated, and every output handed out on failure has no room (sizes 0), so writes to it are
 *     dropped.
 */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macro.h"
#include "capnp/capnp.h"

#define WORD_BYTES 8u
#define BUILDER_MAX_WORDS (UINT32_C(1) << 29)

/* Pointer word fields (spec §4.3). */
#define PTR_KIND_STRUCT 0u
#define PTR_KIND_LIST 1u
#define PTR_KIND_FAR 2u
#define PTR_KIND_OTHER 3u

static inline unsigned ptr_kind(uint64_t w) {
        return (unsigned) (w & 3);
}

/* Bits 2–31 as a signed word offset. The arithmetic shift of a negative int is a GNU C guarantee. */
static inline int64_t ptr_offset(uint64_t w) {
        return (int64_t) ((int32_t) (uint32_t) w >> 2);
}

static inline uint16_t ptr_struct_data_words(uint64_t w) {
        return (uint16_t) (w >> 32);
}

static inline uint16_t ptr_struct_n_ptrs(uint64_t w) {
        return (uint16_t) (w >> 48);
}

static inline CapnpElementSize ptr_list_element_size(uint64_t w) {
        return (CapnpElementSize) ((w >> 32) & 7);
}

static inline uint32_t ptr_list_count(uint64_t w) {
        return (uint32_t) (w >> 35);
}

/* Per element size code: distance between elements, and the data bytes an element offers when the
 * list is seen as a list of structs. */
static const uint8_t element_bits[_CAPNP_ELEMENT_MAX] = { 0, 1, 8, 16, 32, 64, 64, 0 };
static const uint8_t element_data_bytes[_CAPNP_ELEMENT_MAX] = { 0, 0, 1, 2, 4, 8, 0, 0 };

/* ---------------------------------------------------------------------------------------------------
 * Framing
 */

/* Reads the segment table. 1: the table itself is incomplete. */
static int table_read(const uint8_t *buf, size_t size, uint32_t max_segments, uint32_t *ret_n_segments,
                      size_t *ret_table_bytes, size_t *ret_message_bytes) {
        uint64_t n, table_bytes, total_words = 0, message_bytes;

        if (size < 4)
                return 1;
        n = (uint64_t) unaligned_read_le32(buf) + 1;
        if (n > max_segments)
                return -EBADMSG;

        table_bytes = (n / 2 + 1) * WORD_BYTES;
        if (size < table_bytes)
                return 1;

        for (uint64_t i = 0; i < n; i++)
                total_words += unaligned_read_le32(buf + 4 + 4 * i);

        /* At most 2^32 segments of 2^32 words: the sum cannot overflow 64 bits, the byte count can. */
        if (!MUL_SAFE(&message_bytes, total_words, (uint64_t) WORD_BYTES) ||
            !ADD_SAFE(&message_bytes, message_bytes, table_bytes) || message_bytes > SIZE_MAX)
                return -EFBIG;

        *ret_n_segments = (uint32_t) n;
        *ret_table_bytes = (size_t) table_bytes;
        *ret_message_bytes = (size_t) message_bytes;
        return 0;
}

int capnp_message_measure(const void *buf, size_t size, uint32_t max_segments, size_t *ret_size) {
        size_t table_bytes, message_bytes;
        uint32_t n;
        int r;

        assert(buf || size == 0);
        assert(ret_size);

        r = table_read(buf, size, max_segments ?: CAPNP_MAX_SEGMENTS, &n, &table_bytes, &message_bytes);
        if (r < 0)
                return r;
        if (r > 0) {
                *ret_size = 0;
                return 1;
        }

        *ret_size = message_bytes;
        return 0;
}

int capnp_message_parse(CapnpMessage *msg, const void *buf, size_t size, const CapnpReadOptions *opts,
                        size_t *ret_size) {
        const CapnpReadOptions defaults = {};
        const uint8_t *p = buf;
        size_t table_bytes, message_bytes, offset;
        uint64_t total_words = 0;
        unsigned nesting_limit;
        uint32_t n;
        int r;

        assert(msg);
        assert(buf || size == 0);
        assert(ret_size);

        if (!opts)
                opts = &defaults;
        nesting_limit = opts->nesting_limit ?: CAPNP_DEFAULT_NESTING_LIMIT;
        if (nesting_limit > CAPNP_MAX_NESTING_LIMIT)
                return -EINVAL;

        r = table_read(p, size, opts->max_segments ?: CAPNP_MAX_SEGMENTS, &n, &table_bytes, &message_bytes);
        if (r < 0)
                return r;
        if (r > 0) {
                *ret_size = 0;
                return 1;
        }
        if (size < message_bytes) {
                *ret_size = message_bytes;
                return 1;
        }

        _cleanup_free_ CapnpSegment *segments = calloc(n, sizeof(CapnpSegment));
        if (!segments)
                return -ENOMEM;

        offset = table_bytes;
        for (uint32_t i = 0; i < n; i++) {
                uint32_t words = unaligned_read_le32(p + 4 + 4 * (size_t) i);

                segments[i] = (CapnpSegment) {
                        .bytes = p + offset,
                        .n_words = words,
                };
                offset += (size_t) words * WORD_BYTES;
                total_words += words;
        }
        assert(offset == message_bytes);

        *msg = (CapnpMessage) {
                .segments = TAKE_PTR(segments),
                .n_segments = n,
                .total_words = total_words,
                .traversal_left = opts->traversal_limit_words ?: total_words,
                .nesting_limit = nesting_limit,
        };
        *ret_size = message_bytes;
        return 0;
}

void capnp_message_done(CapnpMessage *msg) {
        if (!msg)
                return;
        free(msg->segments);
        *msg = (CapnpMessage) {};
}

/* ---------------------------------------------------------------------------------------------------
 * Reading pointers
 */

/* Records the first error; returns the one that sticks. */
static int msg_fail(CapnpMessage *m, int r) {
        assert(r < 0);
        if (m->error == 0)
                m->error = r;
        return m->error;
}

static inline int msg_charge(CapnpMessage *m, uint64_t words) {
        if (_unlikely_(words > m->traversal_left))
                return -E2BIG;
        m->traversal_left -= words;
        return 0;
}

/* A resolved pointer: the struct or list pointer that describes the object (the landing pad or
 * double-far tag for far pointers), and where the object starts. ptr == 0: null. */
typedef struct Ref {
        uint64_t ptr;
        uint32_t segment;
        uint32_t word; /* <= the segment's n_words */
} Ref;

/* Follows the pointer word at p, which lies in segment `segment`. Checks that the object's first word
 * is inside its segment; its extent is checked by the caller, which knows the kind it wants. */
static int ref_resolve(CapnpMessage *m, uint32_t segment, const uint8_t *p, Ref *ret) {
        const CapnpSegment *seg = &m->segments[segment];
        uint64_t w = unaligned_read_le64(p);
        int64_t target;
        int r;

        switch (ptr_kind(w)) {

        case PTR_KIND_STRUCT:
        case PTR_KIND_LIST:
                if (_unlikely_(w == 0)) {
                        *ret = (Ref) {};
                        return 0;
                }
                target = (int64_t) ((size_t) (p - seg->bytes) / WORD_BYTES) + 1 + ptr_offset(w);
                break;

        case PTR_KIND_FAR: {
                uint32_t pad_segment = (uint32_t) (w >> 32);
                uint64_t pad_word = (w >> 3) & 0x1fffffff;
                bool double_far = w & 4;
                const CapnpSegment *ps;
                const uint8_t *pad;
                uint64_t pw;

                if (pad_segment >= m->n_segments)
                        return -EBADMSG;
                ps = &m->segments[pad_segment];
                if (pad_word + 1 + double_far > ps->n_words)
                        return -EBADMSG;
                r = msg_charge(m, 1 + double_far);
                if (r < 0)
                        return r;

                pad = ps->bytes + pad_word * WORD_BYTES;
                pw = unaligned_read_le64(pad);
                if (!double_far) {
                        /* The pad is an ordinary pointer, relative to its own position. */
                        if (ptr_kind(pw) > PTR_KIND_LIST)
                                return -EBADMSG;
                        segment = pad_segment;
                        seg = ps;
                        target = (int64_t) pad_word + 1 + ptr_offset(pw);
                        w = pw;
                } else {
                        /* A far pointer to the content itself, then a tag whose offset is unused. */
                        uint64_t tag = unaligned_read_le64(pad + WORD_BYTES);

                        if ((pw & 7) != PTR_KIND_FAR || ptr_kind(tag) > PTR_KIND_LIST)
                                return -EBADMSG;
                        segment = (uint32_t) (pw >> 32);
                        if (segment >= m->n_segments)
                                return -EBADMSG;
                        seg = &m->segments[segment];
                        target = (int64_t) ((pw >> 3) & 0x1fffffff);
                        w = tag;
                }
                break;
        }

        default: /* PTR_KIND_OTHER: only capabilities are defined */
                if ((uint32_t) w != PTR_KIND_OTHER)
                        return -EBADMSG;
                *ret = (Ref) {
                        .ptr = w,
                };
                return 0;
        }

        if (_unlikely_(target < 0 || target > (int64_t) seg->n_words))
                return -EBADMSG;

        *ret = (Ref) {
                .ptr = w,
                .segment = segment,
                .word = (uint32_t) target,
        };
        return 0;
}

static inline uint16_t depth_next(uint16_t depth) {
        /* Saturates so that following null pointers forever cannot wrap around. */
        return depth < UINT16_MAX ? depth + 1 : depth;
}

static inline void struct_empty(CapnpMessage *m, uint16_t depth, CapnpStruct *ret) {
        *ret = (CapnpStruct) {
                .msg = m,
                .depth = depth,
        };
}

static inline void list_empty(CapnpMessage *m, uint16_t depth, CapnpList *ret) {
        *ret = (CapnpList) {
                .msg = m,
                .element_size = CAPNP_ELEMENT_VOID,
                .depth = depth,
        };
}

/* depth: the depth the struct will have. ref->ptr != 0. */
static int ref_struct(CapnpMessage *m, const Ref *ref, uint16_t depth, CapnpStruct *ret) {
        const CapnpSegment *seg;
        uint32_t data_words, n_ptrs;
        const uint8_t *data;
        int r;

        if (_unlikely_(ptr_kind(ref->ptr) != PTR_KIND_STRUCT))
                return -EMEDIUMTYPE;
        if (_unlikely_(depth > m->nesting_limit))
                return -ELOOP;

        seg = &m->segments[ref->segment];
        data_words = ptr_struct_data_words(ref->ptr);
        n_ptrs = ptr_struct_n_ptrs(ref->ptr);
        if (_unlikely_((uint64_t) ref->word + data_words + n_ptrs > seg->n_words))
                return -EBADMSG;
        r = msg_charge(m, data_words + n_ptrs);
        if (r < 0)
                return r;

        data = seg->bytes + (size_t) ref->word * WORD_BYTES;
        *ret = (CapnpStruct) {
                .msg = m,
                .segment = ref->segment,
                .data = data,
                .ptrs = data + (size_t) data_words * WORD_BYTES,
                .data_bytes = data_words * WORD_BYTES,
                .n_ptrs = (uint16_t) n_ptrs,
                .depth = depth,
        };
        return 0;
}

/* depth: the depth the list will have. ref->ptr != 0. */
static int ref_list(CapnpMessage *m, const Ref *ref, uint16_t depth, CapnpList *ret) {
        const CapnpSegment *seg;
        CapnpElementSize size;
        const uint8_t *start;
        uint64_t words, charge;
        uint32_t count, step_bits, data_bytes, n_ptrs;
        int r;

        if (_unlikely_(ptr_kind(ref->ptr) != PTR_KIND_LIST))
                return -EMEDIUMTYPE;
        if (_unlikely_(depth > m->nesting_limit))
                return -ELOOP;

        seg = &m->segments[ref->segment];
        start = seg->bytes + (size_t) ref->word * WORD_BYTES;
        size = ptr_list_element_size(ref->ptr);
        count = ptr_list_count(ref->ptr);

        if (size == CAPNP_ELEMENT_COMPOSITE) {
                uint64_t tag, per_element;

                /* count is the number of content words; the tag word comes first. */
                words = count;
                if (_unlikely_((uint64_t) ref->word + 1 + words > seg->n_words))
                        return -EBADMSG;
                tag = unaligned_read_le64(start);
                if (_unlikely_(ptr_kind(tag) != PTR_KIND_STRUCT))
                        return -EBADMSG;

                count = (uint32_t) (tag >> 2) & 0x3fffffff;
                data_bytes = ptr_struct_data_words(tag) * WORD_BYTES;
                n_ptrs = ptr_struct_n_ptrs(tag);
                per_element = ptr_struct_data_words(tag) + n_ptrs;
                if (_unlikely_((uint64_t) count * per_element > words))
                        return -EBADMSG;

                step_bits = (uint32_t) per_element * 64;
                charge = 1 + words + (per_element == 0 ? count : 0);
                start += WORD_BYTES;
        } else {
                step_bits = element_bits[size];
                words = ((uint64_t) count * step_bits + 63) / 64;
                if (_unlikely_((uint64_t) ref->word + words > seg->n_words))
                        return -EBADMSG;

                data_bytes = element_data_bytes[size];
                n_ptrs = size == CAPNP_ELEMENT_POINTER;
                charge = size == CAPNP_ELEMENT_VOID ? count : words;
        }

        r = msg_charge(m, charge);
        if (r < 0)
                return r;

        *ret = (CapnpList) {
                .msg = m,
                .segment = ref->segment,
                .start = start,
                .count = count,
                .element_size = size,
                .step_bits = step_bits,
                .data_bytes = data_bytes,
                .n_ptrs = (uint16_t) n_ptrs,
                .depth = depth,
        };
        return 0;
}

/* A byte list's content, for text (needs its NUL) and data. ref->ptr != 0. */
static int ref_bytes(CapnpMessage *m, const Ref *ref, bool text, const uint8_t **ret, size_t *ret_len) {
        const CapnpSegment *seg;
        const uint8_t *start;
        uint32_t count;
        uint64_t words;
        int r;

        if (_unlikely_(ptr_kind(ref->ptr) != PTR_KIND_LIST ||
                       ptr_list_element_size(ref->ptr) != CAPNP_ELEMENT_BYTE))
                return -EMEDIUMTYPE;

        seg = &m->segments[ref->segment];
        count = ptr_list_count(ref->ptr);
        words = ((uint64_t) count + 7) / 8;
        if (_unlikely_((uint64_t) ref->word + words > seg->n_words))
                return -EBADMSG;
        r = msg_charge(m, words);
        if (r < 0)
                return r;

        start = seg->bytes + (size_t) ref->word * WORD_BYTES;
        if (text) {
                if (_unlikely_(count == 0 || start[count - 1] != 0))
                        return -EMEDIUMTYPE;
                count--;
        }

        *ret = start;
        *ret_len = count;
        return 0;
}

/* The struct view of a list element: where its data starts. */
static inline const uint8_t *list_element(const CapnpList *l, uint32_t i) {
        return l->start + (((uint64_t) i * l->step_bits) >> 3);
}

/* Where a slot's pointer word is, or NULL when the object has no such slot. */
static inline const uint8_t *struct_slot(const CapnpStruct *s, uint16_t i) {
        return i < s->n_ptrs ? s->ptrs + (size_t) i * WORD_BYTES : NULL;
}

static inline const uint8_t *list_slot(const CapnpList *l, uint32_t i) {
        assert(i < l->count);
        return l->n_ptrs > 0 ? list_element(l, i) + l->data_bytes : NULL;
}

/* ---------------------------------------------------------------------------------------------------
 * Slot readers, shared by the struct and list accessors. m may be NULL only when p is NULL (a
 * zero-initialized struct has no slots).
 */

static int slot_get_struct(CapnpMessage *m, uint32_t segment, const uint8_t *p, uint16_t depth,
                           CapnpStruct *ret) {
        Ref ref;
        int r;

        if (_unlikely_(m && m->error < 0)) {
                struct_empty(m, depth, ret);
                return m->error;
        }
        if (!p) {
                struct_empty(m, depth, ret);
                return 0;
        }

        r = ref_resolve(m, segment, p, &ref);
        if (r >= 0) {
                if (ref.ptr == 0) {
                        struct_empty(m, depth, ret);
                        return 0;
                }
                r = ref_struct(m, &ref, depth, ret);
        }
        if (r < 0) {
                struct_empty(m, depth, ret);
                return msg_fail(m, r);
        }
        return 0;
}

static int slot_get_list(CapnpMessage *m, uint32_t segment, const uint8_t *p, uint16_t depth, bool structs,
                         CapnpList *ret) {
        Ref ref;
        int r;

        if (_unlikely_(m && m->error < 0)) {
                list_empty(m, depth, ret);
                return m->error;
        }
        if (!p) {
                list_empty(m, depth, ret);
                return 0;
        }

        r = ref_resolve(m, segment, p, &ref);
        if (r >= 0) {
                if (ref.ptr == 0) {
                        list_empty(m, depth, ret);
                        return 0;
                }
                r = ref_list(m, &ref, depth, ret);
                /* Bools are bits, not structs: capnp no longer upgrades them. */
                if (r >= 0 && structs && ret->element_size == CAPNP_ELEMENT_BIT)
                        r = -EMEDIUMTYPE;
        }
        if (r < 0) {
                list_empty(m, depth, ret);
                return msg_fail(m, r);
        }
        return 0;
}

static int slot_get_bytes(CapnpMessage *m, uint32_t segment, const uint8_t *p, bool text,
                          const uint8_t **ret, size_t *ret_len) {
        Ref ref;
        int r;

        assert(ret);
        assert(ret_len);

        if (_unlikely_(m && m->error < 0)) {
                r = m->error;
                goto fail;
        }
        if (!p)
                goto null;

        r = ref_resolve(m, segment, p, &ref);
        if (r < 0)
                goto fail_sticky;
        if (ref.ptr == 0)
                goto null;
        r = ref_bytes(m, &ref, text, ret, ret_len);
        if (r < 0)
                goto fail_sticky;
        return 0;

null:
        *ret = NULL;
        *ret_len = 0;
        return 0;

fail_sticky:
        r = msg_fail(m, r);
fail:
        *ret = NULL;
        *ret_len = 0;
        return r;
}

static int slot_get_pointer(CapnpMessage *m, uint32_t segment, const uint8_t *p, uint16_t depth,
                            CapnpPointer *ret) {
        Ref ref;
        int r;

        *ret = (CapnpPointer) {
                .kind = CAPNP_POINTER_NULL,
        };
        struct_empty(m, depth, &ret->s);
        list_empty(m, depth, &ret->l);

        if (_unlikely_(m && m->error < 0))
                return m->error;
        if (!p)
                return 0;

        r = ref_resolve(m, segment, p, &ref);
        if (r < 0)
                return msg_fail(m, r);
        if (ref.ptr == 0)
                return 0;

        switch (ptr_kind(ref.ptr)) {
        case PTR_KIND_STRUCT:
                r = ref_struct(m, &ref, depth, &ret->s);
                if (r < 0)
                        break;
                ret->kind = CAPNP_POINTER_STRUCT;
                return 0;
        case PTR_KIND_LIST:
                r = ref_list(m, &ref, depth, &ret->l);
                if (r < 0)
                        break;
                ret->kind = CAPNP_POINTER_LIST;
                return 0;
        default:
                ret->kind = CAPNP_POINTER_CAPABILITY;
                ret->capability = (uint32_t) (ref.ptr >> 32);
                return 0;
        }

        /* A failing ref_struct()/ref_list() may have written part of its output. */
        struct_empty(m, depth, &ret->s);
        list_empty(m, depth, &ret->l);
        return msg_fail(m, r);
}

/* ---------------------------------------------------------------------------------------------------
 * Reader API
 */

int capnp_message_root(CapnpMessage *msg, CapnpStruct *ret) {
        int r;

        assert(msg);
        assert(ret);

        if (msg->error < 0) {
                struct_empty(msg, 1, ret);
                return msg->error;
        }
        if (msg->n_segments == 0 || msg->segments[0].n_words == 0) {
                struct_empty(msg, 1, ret);
                return msg_fail(msg, -EBADMSG);
        }
        r = msg_charge(msg, 1);
        if (r < 0) {
                struct_empty(msg, 1, ret);
                return msg_fail(msg, r);
        }

        return slot_get_struct(msg, 0, msg->segments[0].bytes, 1, ret);
}

uint8_t capnp_struct_get_u8(const CapnpStruct *s, uint32_t byte_offset) {
        if ((uint64_t) byte_offset + 1 > s->data_bytes)
                return 0;
        return s->data[byte_offset];
}

uint16_t capnp_struct_get_u16(const CapnpStruct *s, uint32_t byte_offset) {
        if ((uint64_t) byte_offset + 2 > s->data_bytes)
                return 0;
        return unaligned_read_le16(s->data + byte_offset);
}

uint32_t capnp_struct_get_u32(const CapnpStruct *s, uint32_t byte_offset) {
        if ((uint64_t) byte_offset + 4 > s->data_bytes)
                return 0;
        return unaligned_read_le32(s->data + byte_offset);
}

uint64_t capnp_struct_get_u64(const CapnpStruct *s, uint32_t byte_offset) {
        if ((uint64_t) byte_offset + 8 > s->data_bytes)
                return 0;
        return unaligned_read_le64(s->data + byte_offset);
}

bool capnp_struct_get_bool(const CapnpStruct *s, uint32_t bit_offset) {
        if (bit_offset / 8 >= s->data_bytes)
                return false;
        return (s->data[bit_offset / 8] >> (bit_offset % 8)) & 1;
}

bool capnp_struct_has(const CapnpStruct *s, uint16_t ptr_index) {
        const uint8_t *p = struct_slot(s, ptr_index);

        return p && unaligned_read_le64(p) != 0;
}

int capnp_struct_get_struct(const CapnpStruct *s, uint16_t ptr_index, CapnpStruct *ret) {
        assert(s);
        assert(ret);

        return slot_get_struct(s->msg, s->segment, struct_slot(s, ptr_index), depth_next(s->depth), ret);
}

int capnp_struct_get_list(const CapnpStruct *s, uint16_t ptr_index, CapnpList *ret) {
        assert(s);
        assert(ret);

        return slot_get_list(s->msg, s->segment, struct_slot(s, ptr_index), depth_next(s->depth), false,
                             ret);
}

int capnp_struct_get_struct_list(const CapnpStruct *s, uint16_t ptr_index, CapnpList *ret) {
        assert(s);
        assert(ret);

        return slot_get_list(s->msg, s->segment, struct_slot(s, ptr_index), depth_next(s->depth), true, ret);
}

int capnp_struct_get_text(const CapnpStruct *s, uint16_t ptr_index, const char **ret, size_t *ret_len) {
        assert(s);

        return slot_get_bytes(s->msg, s->segment, struct_slot(s, ptr_index), true, (const uint8_t **) ret,
                              ret_len);
}

int capnp_struct_get_data(const CapnpStruct *s, uint16_t ptr_index, const uint8_t **ret, size_t *ret_len) {
        assert(s);

        return slot_get_bytes(s->msg, s->segment, struct_slot(s, ptr_index), false, ret, ret_len);
}

int capnp_struct_get_pointer(const CapnpStruct *s, uint16_t ptr_index, CapnpPointer *ret) {
        assert(s);
        assert(ret);

        return slot_get_pointer(s->msg, s->segment, struct_slot(s, ptr_index), depth_next(s->depth), ret);
}

int capnp_struct_pointer_kind(const CapnpStruct *s, uint16_t ptr_index, CapnpPointerKind *ret) {
        CapnpMessage *m;
        const uint8_t *p;
        Ref ref;
        int r;

        assert(s);
        assert(ret);

        m = s->msg;

        if (m && m->error < 0) {
                *ret = CAPNP_POINTER_NULL;
                return m->error;
        }
        p = struct_slot(s, ptr_index);
        if (!p) {
                *ret = CAPNP_POINTER_NULL;
                return 0;
        }

        r = ref_resolve(m, s->segment, p, &ref);
        if (r < 0) {
                *ret = CAPNP_POINTER_NULL;
                return msg_fail(m, r);
        }

        if (ref.ptr == 0)
                *ret = CAPNP_POINTER_NULL;
        else if (ptr_kind(ref.ptr) == PTR_KIND_STRUCT)
                *ret = CAPNP_POINTER_STRUCT;
        else if (ptr_kind(ref.ptr) == PTR_KIND_LIST)
                *ret = CAPNP_POINTER_LIST;
        else
                *ret = CAPNP_POINTER_CAPABILITY;
        return 0;
}

int capnp_list_get_struct(const CapnpList *l, uint32_t i, CapnpStruct *ret) {
        CapnpMessage *m = l->msg;
        uint16_t depth = depth_next(l->depth);
        const uint8_t *data;
        int r = 0;

        assert(ret);
        assert(i < l->count);

        if (_unlikely_(m->error < 0))
                r = m->error;
        else if (_unlikely_(l->element_size == CAPNP_ELEMENT_BIT))
                r = msg_fail(m, -EMEDIUMTYPE);
        else if (_unlikely_(depth > m->nesting_limit))
                r = msg_fail(m, -ELOOP);
        if (r < 0) {
                struct_empty(m, depth, ret);
                return r;
        }

        data = list_element(l, i);
        *ret = (CapnpStruct) {
                .msg = m,
                .segment = l->segment,
                .data = data,
                .ptrs = data + l->data_bytes,
                .data_bytes = l->data_bytes,
                .n_ptrs = l->n_ptrs,
                .depth = depth,
        };
        return 0;
}

bool capnp_list_get_bool(const CapnpList *l, uint32_t i) {
        assert(i < l->count);

        if (l->element_size == CAPNP_ELEMENT_BIT)
                return (l->start[i / 8] >> (i % 8)) & 1;
        if (l->data_bytes == 0)
                return false;
        return list_element(l, i)[0] & 1;
}

uint8_t capnp_list_get_u8(const CapnpList *l, uint32_t i) {
        assert(i < l->count);

        if (l->data_bytes < 1)
                return 0;
        return list_element(l, i)[0];
}

uint16_t capnp_list_get_u16(const CapnpList *l, uint32_t i) {
        assert(i < l->count);

        if (l->data_bytes < 2)
                return 0;
        return unaligned_read_le16(list_element(l, i));
}

uint32_t capnp_list_get_u32(const CapnpList *l, uint32_t i) {
        assert(i < l->count);

        if (l->data_bytes < 4)
                return 0;
        return unaligned_read_le32(list_element(l, i));
}

uint64_t capnp_list_get_u64(const CapnpList *l, uint32_t i) {
        assert(i < l->count);

        if (l->data_bytes < 8)
                return 0;
        return unaligned_read_le64(list_element(l, i));
}

int capnp_list_get_text(const CapnpList *l, uint32_t i, const char **ret, size_t *ret_len) {
        return slot_get_bytes(l->msg, l->segment, list_slot(l, i), true, (const uint8_t **) ret, ret_len);
}

int capnp_list_get_data(const CapnpList *l, uint32_t i, const uint8_t **ret, size_t *ret_len) {
        return slot_get_bytes(l->msg, l->segment, list_slot(l, i), false, ret, ret_len);
}

int capnp_list_get_list(const CapnpList *l, uint32_t i, CapnpList *ret) {
        assert(ret);

        return slot_get_list(l->msg, l->segment, list_slot(l, i), depth_next(l->depth), false, ret);
}

int capnp_list_get_pointer(const CapnpList *l, uint32_t i, CapnpPointer *ret) {
        assert(ret);

        return slot_get_pointer(l->msg, l->segment, list_slot(l, i), depth_next(l->depth), ret);
}

const uint8_t *capnp_list_bytes(const CapnpList *l) {
        return l->element_size == CAPNP_ELEMENT_BYTE ? l->start : NULL;
}

/* ---------------------------------------------------------------------------------------------------
 * Builder
 */

static int builder_fail(CapnpBuilder *b, int r) {
        assert(r < 0);
        if (b->error == 0)
                b->error = r;
        return b->error;
}

static inline uint8_t *builder_at(const CapnpBuilder *b, uint32_t word) {
        return b->buf + (size_t) word * WORD_BYTES;
}

/* Appends words zeroed words; *ret_word is where they start. */
static int builder_alloc(CapnpBuilder *b, uint64_t words, uint32_t *ret_word) {
        uint64_t limit = BUILDER_MAX_WORDS, need;

        if (b->error < 0)
                return b->error;

        if (b->max_words > 0 && b->max_words < limit)
                limit = b->max_words;
        if (!ADD_SAFE(&need, (uint64_t) b->n_words, words) || need > limit)
                return builder_fail(b, -E2BIG);

        if (need > b->allocated_words) {
                uint64_t n = MAX(MAX(need, (uint64_t) b->allocated_words * 2), (uint64_t) 64);
                size_t bytes;
                uint8_t *p;

                n = MIN(n, limit);
                if (!MUL_SAFE(&bytes, n, (uint64_t) WORD_BYTES))
                        return builder_fail(b, -ENOMEM);
                p = realloc(b->buf, bytes);
                if (!p)
                        return builder_fail(b, -ENOMEM);
                memset(p + b->allocated_words * WORD_BYTES, 0, (n - b->allocated_words) * WORD_BYTES);
                b->buf = p;
                b->allocated_words = n;
        }

        *ret_word = (uint32_t) b->n_words;
        b->n_words = need;
        return 0;
}

/* Pointer words. Targets are in the same segment, so offsets fit by invariant (5). */
static inline uint64_t offset_bits(uint32_t at, uint32_t target) {
        int64_t offset = (int64_t) target - at - 1;

        return (uint32_t) ((uint32_t) offset << 2);
}

static void put_struct_ptr(CapnpBuilder *b, uint32_t at, uint32_t target, uint16_t data_words,
                           uint16_t n_ptrs) {
        uint64_t w;

        /* An empty struct points at itself (offset -1), so its pointer is never the null word. */
        if (data_words == 0 && n_ptrs == 0)
                w = UINT64_C(0xfffffffc);
        else
                w = offset_bits(at, target) | PTR_KIND_STRUCT | (uint64_t) data_words << 32 |
                    (uint64_t) n_ptrs << 48;
        unaligned_write_le64(builder_at(b, at), w);
}

static void put_list_ptr(CapnpBuilder *b, uint32_t at, uint32_t target, CapnpElementSize size,
                         uint32_t count) {
        uint64_t w = offset_bits(at, target) | PTR_KIND_LIST | (uint64_t) size << 32 | (uint64_t) count << 35;

        unaligned_write_le64(builder_at(b, at), w);
}

static void builder_struct_dead(CapnpBuilder *b, CapnpBuilderStruct *ret) {
        *ret = (CapnpBuilderStruct) {
                .b = b,
        };
}

static void builder_list_dead(CapnpBuilder *b, CapnpBuilderList *ret) {
        *ret = (CapnpBuilderList) {
                .b = b,
                .element_size = CAPNP_ELEMENT_VOID,
        };
}

/* The slot writers: at is the word offset of the pointer to write. */

static int slot_init_struct(CapnpBuilder *b, uint32_t at, uint16_t data_words, uint16_t n_ptrs,
                            CapnpBuilderStruct *ret) {
        uint32_t word = 0;
        int r;

        r = builder_alloc(b, (uint64_t) data_words + n_ptrs, &word);
        if (r < 0) {
                builder_struct_dead(b, ret);
                return r;
        }
        put_struct_ptr(b, at, word, data_words, n_ptrs);

        *ret = (CapnpBuilderStruct) {
                .b = b,
                .data_word = word,
                .data_words = data_words,
                .n_ptrs = n_ptrs,
        };
        return 0;
}

static int slot_init_list(CapnpBuilder *b, uint32_t at, CapnpElementSize size, uint32_t count,
                          CapnpBuilderList *ret) {
        uint32_t word = 0;
        int r;

        assert(size >= CAPNP_ELEMENT_VOID && size < CAPNP_ELEMENT_COMPOSITE);

        if (b->error < 0)
                r = b->error;
        else if (count > CAPNP_MAX_LIST_ELEMENTS)
                r = builder_fail(b, -E2BIG);
        else
                r = builder_alloc(b, ((uint64_t) count * element_bits[size] + 63) / 64, &word);
        if (r < 0) {
                builder_list_dead(b, ret);
                return r;
        }
        put_list_ptr(b, at, word, size, count);

        *ret = (CapnpBuilderList) {
                .b = b,
                .start_word = word,
                .count = count,
                .element_size = size,
        };
        return 0;
}

static int slot_init_struct_list(CapnpBuilder *b, uint32_t at, uint32_t count, uint16_t data_words,
                                 uint16_t n_ptrs, CapnpBuilderList *ret) {
        uint64_t words = (uint64_t) count * (data_words + n_ptrs);
        uint32_t tag;
        int r;

        if (b->error < 0)
                r = b->error;
        else if (words > CAPNP_MAX_LIST_ELEMENTS || count > 0x3fffffff)
                r = builder_fail(b, -E2BIG);
        else
                r = builder_alloc(b, 1 + words, &tag);
        if (r < 0) {
                builder_list_dead(b, ret);
                return r;
        }
        put_list_ptr(b, at, tag, CAPNP_ELEMENT_COMPOSITE, (uint32_t) words);
        /* The tag is a struct pointer whose offset field holds the element count. */
        unaligned_write_le64(builder_at(b, tag), (uint64_t) count << 2 | PTR_KIND_STRUCT |
                                                         (uint64_t) data_words << 32 |
                                                         (uint64_t) n_ptrs << 48);

        *ret = (CapnpBuilderList) {
                .b = b,
                .start_word = tag + 1,
                .count = count,
                .element_size = CAPNP_ELEMENT_COMPOSITE,
                .data_words = data_words,
                .n_ptrs = n_ptrs,
        };
        return 0;
}

static int slot_set_bytes(CapnpBuilder *b, uint32_t at, const void *p, size_t len, bool text) {
        CapnpBuilderList l;
        size_t count;
        int r;

        assert(p || len == 0);

        if (b->error < 0)
                return b->error;
        if (!ADD_SAFE(&count, len, (size_t) text) || count > CAPNP_MAX_LIST_ELEMENTS)
                return builder_fail(b, -E2BIG);

        r = slot_init_list(b, at, CAPNP_ELEMENT_BYTE, (uint32_t) count, &l);
        if (r < 0)
                return r;
        if (len > 0)
                memcpy(builder_at(b, l.start_word), p, len);
        return 0;
}

static int slot_set_far(CapnpBuilder *b, uint32_t at, uint32_t segment_id, uint32_t landing_word) {
        if (b->error < 0)
                return b->error;
        if (landing_word > 0x1fffffff)
                return builder_fail(b, -E2BIG);

        unaligned_write_le64(builder_at(b, at),
                             PTR_KIND_FAR | (uint64_t) landing_word << 3 | (uint64_t) segment_id << 32);
        return 0;
}

/* The word of a struct's pointer slot; UINT32_MAX when it has no such slot (a dead struct from an
 * earlier failure, or a caller's mistake, asserted unless the builder has failed). */
static uint32_t builder_struct_slot(const CapnpBuilderStruct *s, uint16_t ptr_index) {
        if (_unlikely_(ptr_index >= s->n_ptrs)) {
                assert(s->b->error < 0);
                return UINT32_MAX;
        }
        return s->data_word + s->data_words + ptr_index;
}

static uint32_t builder_list_slot(const CapnpBuilderList *l, uint32_t i) {
        if (_unlikely_(i >= l->count || l->element_size != CAPNP_ELEMENT_POINTER)) {
                assert(l->b->error < 0);
                return UINT32_MAX;
        }
        return l->start_word + i;
}

void capnp_builder_init(CapnpBuilder *b, size_t max_words) {
        assert(b);

        *b = (CapnpBuilder) {
                .max_words = max_words,
        };
}

void capnp_builder_done(CapnpBuilder *b) {
        if (!b)
                return;
        free(b->buf);
        *b = (CapnpBuilder) {};
}

int capnp_builder_init_root(CapnpBuilder *b, uint16_t data_words, uint16_t n_ptrs, CapnpBuilderStruct *ret) {
        uint32_t root;
        int r;

        assert(b);
        assert(ret);

        if (b->n_words == 0) {
                r = builder_alloc(b, 1, &root);
                if (r < 0) {
                        builder_struct_dead(b, ret);
                        return r;
                }
                assert(root == 0);
        }
        return slot_init_struct(b, 0, data_words, n_ptrs, ret);
}

int capnp_builder_finish(CapnpBuilder *b, uint8_t **ret, size_t *ret_size) {
        size_t words, size;
        uint8_t *p;

        assert(b);
        assert(ret);
        assert(ret_size);

        if (b->error < 0)
                return b->error;

        /* Without a root the message is one null pointer. */
        words = MAX(b->n_words, (size_t) 1);
        size = WORD_BYTES + words * WORD_BYTES;
        p = calloc(1, size);
        if (!p)
                return builder_fail(b, -ENOMEM);

        unaligned_write_le32(p + 4, (uint32_t) words);
        if (b->n_words > 0)
                memcpy(p + WORD_BYTES, b->buf, b->n_words * WORD_BYTES);

        *ret = p;
        *ret_size = size;
        return 0;
}

const uint8_t *capnp_builder_segment(const CapnpBuilder *b, size_t *ret_n_words) {
        assert(b);
        assert(ret_n_words);

        *ret_n_words = b->n_words;
        return b->buf;
}

/* Data-section writers: a field beyond the section is dropped (see builder_struct_slot()). */
static uint8_t *builder_field(const CapnpBuilderStruct *s, uint32_t byte_offset, uint32_t size) {
        if (_unlikely_((uint64_t) byte_offset + size > (uint64_t) s->data_words * WORD_BYTES)) {
                assert(s->b->error < 0);
                return NULL;
        }
        return builder_at(s->b, s->data_word) + byte_offset;
}

void capnp_build_set_u8(const CapnpBuilderStruct *s, uint32_t byte_offset, uint8_t v) {
        uint8_t *p = builder_field(s, byte_offset, 1);

        if (p)
                *p = v;
}

void capnp_build_set_u16(const CapnpBuilderStruct *s, uint32_t byte_offset, uint16_t v) {
        uint8_t *p = builder_field(s, byte_offset, 2);

        if (p)
                unaligned_write_le16(p, v);
}

void capnp_build_set_u32(const CapnpBuilderStruct *s, uint32_t byte_offset, uint32_t v) {
        uint8_t *p = builder_field(s, byte_offset, 4);

        if (p)
                unaligned_write_le32(p, v);
}

void capnp_build_set_u64(const CapnpBuilderStruct *s, uint32_t byte_offset, uint64_t v) {
        uint8_t *p = builder_field(s, byte_offset, 8);

        if (p)
                unaligned_write_le64(p, v);
}

static inline void set_bit(uint8_t *p, uint32_t bit, bool v) {
        uint8_t mask = (uint8_t) (1u << (bit % 8));

        p[bit / 8] = v ? (p[bit / 8] | mask) : (p[bit / 8] & ~mask);
}

void capnp_build_set_bool(const CapnpBuilderStruct *s, uint32_t bit_offset, bool v) {
        uint8_t *p = builder_field(s, bit_offset / 8, 1);

        if (p)
                set_bit(p, bit_offset % 8, v);
}

int capnp_build_init_struct(const CapnpBuilderStruct *s, uint16_t ptr_index, uint16_t data_words,
                            uint16_t n_ptrs, CapnpBuilderStruct *ret) {
        uint32_t at;

        assert(s);
        assert(ret);

        at = builder_struct_slot(s, ptr_index);
        if (s->b->error < 0 || at == UINT32_MAX) {
                builder_struct_dead(s->b, ret);
                return s->b->error;
        }
        return slot_init_struct(s->b, at, data_words, n_ptrs, ret);
}

int capnp_build_set_text(const CapnpBuilderStruct *s, uint16_t ptr_index, const char *text, size_t len) {
        uint32_t at;

        assert(s);

        at = builder_struct_slot(s, ptr_index);
        if (s->b->error < 0 || at == UINT32_MAX)
                return s->b->error;
        return slot_set_bytes(s->b, at, text, len, true);
}

int capnp_build_set_data(const CapnpBuilderStruct *s, uint16_t ptr_index, const void *data, size_t len) {
        uint32_t at;

        assert(s);

        at = builder_struct_slot(s, ptr_index);
        if (s->b->error < 0 || at == UINT32_MAX)
                return s->b->error;
        return slot_set_bytes(s->b, at, data, len, false);
}

int capnp_build_init_list(const CapnpBuilderStruct *s, uint16_t ptr_index, CapnpElementSize size,
                          uint32_t count, CapnpBuilderList *ret) {
        uint32_t at;

        assert(s);
        assert(ret);

        at = builder_struct_slot(s, ptr_index);
        if (s->b->error < 0 || at == UINT32_MAX) {
                builder_list_dead(s->b, ret);
                return s->b->error;
        }
        return slot_init_list(s->b, at, size, count, ret);
}

int capnp_build_init_struct_list(const CapnpBuilderStruct *s, uint16_t ptr_index, uint32_t count,
                                 uint16_t data_words, uint16_t n_ptrs, CapnpBuilderList *ret) {
        uint32_t at;

        assert(s);
        assert(ret);

        at = builder_struct_slot(s, ptr_index);
        if (s->b->error < 0 || at == UINT32_MAX) {
                builder_list_dead(s->b, ret);
                return s->b->error;
        }
        return slot_init_struct_list(s->b, at, count, data_words, n_ptrs, ret);
}

int capnp_build_set_far(const CapnpBuilderStruct *s, uint16_t ptr_index, uint32_t segment_id,
                        uint32_t landing_word) {
        uint32_t at;

        assert(s);

        at = builder_struct_slot(s, ptr_index);
        if (s->b->error < 0 || at == UINT32_MAX)
                return s->b->error;
        return slot_set_far(s->b, at, segment_id, landing_word);
}

int capnp_build_list_get_struct(const CapnpBuilderList *l, uint32_t i, CapnpBuilderStruct *ret) {
        assert(l);
        assert(ret);

        if (_unlikely_(i >= l->count || l->element_size != CAPNP_ELEMENT_COMPOSITE)) {
                assert(l->b->error < 0);
                builder_struct_dead(l->b, ret);
                return l->b->error;
        }

        *ret = (CapnpBuilderStruct) {
                .b = l->b,
                .data_word = l->start_word + i * (uint32_t) (l->data_words + l->n_ptrs),
                .data_words = l->data_words,
                .n_ptrs = l->n_ptrs,
        };
        return l->b->error;
}

/* The element's byte address in a primitive list of the given size; NULL as builder_field(). */
static uint8_t *builder_element(const CapnpBuilderList *l, uint32_t i, CapnpElementSize size) {
        if (_unlikely_(i >= l->count || l->element_size != size)) {
                assert(l->b->error < 0);
                return NULL;
        }
        return builder_at(l->b, l->start_word) + (((uint64_t) i * element_bits[size]) >> 3);
}

void capnp_build_list_set_bool(const CapnpBuilderList *l, uint32_t i, bool v) {
        uint8_t *p = builder_element(l, i, CAPNP_ELEMENT_BIT);

        if (p)
                set_bit(p, i % 8, v);
}

void capnp_build_list_set_u8(const CapnpBuilderList *l, uint32_t i, uint8_t v) {
        uint8_t *p = builder_element(l, i, CAPNP_ELEMENT_BYTE);

        if (p)
                *p = v;
}

void capnp_build_list_set_u16(const CapnpBuilderList *l, uint32_t i, uint16_t v) {
        uint8_t *p = builder_element(l, i, CAPNP_ELEMENT_TWO_BYTES);

        if (p)
                unaligned_write_le16(p, v);
}

void capnp_build_list_set_u32(const CapnpBuilderList *l, uint32_t i, uint32_t v) {
        uint8_t *p = builder_element(l, i, CAPNP_ELEMENT_FOUR_BYTES);

        if (p)
                unaligned_write_le32(p, v);
}

void capnp_build_list_set_u64(const CapnpBuilderList *l, uint32_t i, uint64_t v) {
        uint8_t *p = builder_element(l, i, CAPNP_ELEMENT_EIGHT_BYTES);

        if (p)
                unaligned_write_le64(p, v);
}

int capnp_build_list_set_text(const CapnpBuilderList *l, uint32_t i, const char *text, size_t len) {
        uint32_t at;

        assert(l);

        at = builder_list_slot(l, i);
        if (l->b->error < 0 || at == UINT32_MAX)
                return l->b->error;
        return slot_set_bytes(l->b, at, text, len, true);
}

int capnp_build_list_set_data(const CapnpBuilderList *l, uint32_t i, const void *data, size_t len) {
        uint32_t at;

        assert(l);

        at = builder_list_slot(l, i);
        if (l->b->error < 0 || at == UINT32_MAX)
                return l->b->error;
        return slot_set_bytes(l->b, at, data, len, false);
}

int capnp_build_list_init_list(const CapnpBuilderList *l, uint32_t i, CapnpElementSize size, uint32_t count,
                               CapnpBuilderList *ret) {
        uint32_t at;

        assert(l);
        assert(ret);

        at = builder_list_slot(l, i);
        if (l->b->error < 0 || at == UINT32_MAX) {
                builder_list_dead(l->b, ret);
                return l->b->error;
        }
        return slot_init_list(l->b, at, size, count, ret);
}

int capnp_build_list_init_struct_list(const CapnpBuilderList *l, uint32_t i, uint32_t count,
                                      uint16_t data_words, uint16_t n_ptrs, CapnpBuilderList *ret) {
        uint32_t at;

        assert(l);
        assert(ret);

        at = builder_list_slot(l, i);
        if (l->b->error < 0 || at == UINT32_MAX) {
                builder_list_dead(l->b, ret);
                return l->b->error;
        }
        return slot_init_struct_list(l->b, at, count, data_words, n_ptrs, ret);
}

/* ---------------------------------------------------------------------------------------------------
 * Deep copy. Recursion depth is bounded by the reader's nesting limit, invariant (3). A reader
 * failure also fails the builder: a half-copied message must not finish as if it were whole.
 */

static int copy_pointer(CapnpBuilder *b, uint32_t at, const CapnpPointer *src);

/* Copies src's sections into the struct just allocated at dst, then its pointers. */
static int copy_struct_body(CapnpBuilder *b, const CapnpBuilderStruct *dst, const CapnpStruct *src) {
        int r;

        if (src->data_bytes > 0)
                memcpy(builder_at(b, dst->data_word), src->data, src->data_bytes);

        for (uint16_t i = 0; i < src->n_ptrs; i++) {
                CapnpPointer p;

                r = capnp_struct_get_pointer(src, i, &p);
                if (r < 0)
                        return builder_fail(b, r);
                r = copy_pointer(b, dst->data_word + dst->data_words + i, &p);
                if (r < 0)
                        return r;
        }
        return 0;
}

static inline uint16_t struct_data_words(const CapnpStruct *s) {
        return (uint16_t) ((s->data_bytes + WORD_BYTES - 1) / WORD_BYTES);
}

static int copy_list(CapnpBuilder *b, uint32_t at, const CapnpList *src) {
        CapnpBuilderList dst;
        int r;

        switch (src->element_size) {

        case CAPNP_ELEMENT_COMPOSITE:
                r = slot_init_struct_list(b, at, src->count, (uint16_t) (src->data_bytes / WORD_BYTES),
                                          src->n_ptrs, &dst);
                if (r < 0)
                        return r;
                for (uint32_t i = 0; i < src->count; i++) {
                        CapnpBuilderStruct d;
                        CapnpStruct s;

                        r = capnp_list_get_struct(src, i, &s);
                        if (r < 0)
                                return builder_fail(b, r);
                        r = capnp_build_list_get_struct(&dst, i, &d);
                        if (r < 0)
                                return r;
                        r = copy_struct_body(b, &d, &s);
                        if (r < 0)
                                return r;
                }
                return 0;

        case CAPNP_ELEMENT_POINTER:
                r = slot_init_list(b, at, CAPNP_ELEMENT_POINTER, src->count, &dst);
                if (r < 0)
                        return r;
                for (uint32_t i = 0; i < src->count; i++) {
                        CapnpPointer p;

                        r = capnp_list_get_pointer(src, i, &p);
                        if (r < 0)
                                return builder_fail(b, r);
                        r = copy_pointer(b, dst.start_word + i, &p);
                        if (r < 0)
                                return r;
                }
                return 0;

        default: {
                uint64_t bits = (uint64_t) src->count * element_bits[src->element_size];
                size_t bytes = (size_t) ((bits + 7) / 8);
                uint8_t *p;

                r = slot_init_list(b, at, src->element_size, src->count, &dst);
                if (r < 0)
                        return r;
                if (bytes == 0)
                        return 0;

                p = builder_at(b, dst.start_word);
                memcpy(p, src->start, bytes);
                /* Bits past the last bool are padding: keep the copy's zero. */
                if (bits % 8 != 0)
                        p[bytes - 1] &= (uint8_t) ((1u << (bits % 8)) - 1);
                return 0;
        }
        }
}

static int copy_pointer(CapnpBuilder *b, uint32_t at, const CapnpPointer *src) {
        CapnpBuilderStruct dst;
        int r;

        if (b->error < 0)
                return b->error;

        switch (src->kind) {

        case CAPNP_POINTER_NULL:
                unaligned_write_le64(builder_at(b, at), 0);
                return 0;

        case CAPNP_POINTER_STRUCT:
                r = slot_init_struct(b, at, struct_data_words(&src->s), src->s.n_ptrs, &dst);
                if (r < 0)
                        return r;
                return copy_struct_body(b, &dst, &src->s);

        case CAPNP_POINTER_LIST:
                return copy_list(b, at, &src->l);

        default:
                assert(src->kind == CAPNP_POINTER_CAPABILITY);
                /* Position-independent: the index means the same in the copy. */
                unaligned_write_le64(builder_at(b, at), PTR_KIND_OTHER | (uint64_t) src->capability << 32);
                return 0;
        }
}

int capnp_build_copy_pointer(const CapnpBuilderStruct *dst, uint16_t dst_index, const CapnpStruct *src,
                             uint16_t src_index) {
        CapnpPointer p;
        uint32_t at;
        int r;

        assert(dst);
        assert(src);

        at = builder_struct_slot(dst, dst_index);
        if (dst->b->error < 0 || at == UINT32_MAX)
                return dst->b->error;

        r = capnp_struct_get_pointer(src, src_index, &p);
        if (r < 0)
                return builder_fail(dst->b, r);
        return copy_pointer(dst->b, at, &p);
}

int capnp_build_copy_root(CapnpBuilder *b, const CapnpStruct *src) {
        CapnpBuilderStruct root;
        int r;

        assert(b);
        assert(src);

        if (src->msg && src->msg->error < 0)
                return builder_fail(b, src->msg->error);

        r = capnp_builder_init_root(b, struct_data_words(src), src->n_ptrs, &root);
        if (r < 0)
                return r;
        return copy_struct_body(b, &root, src);
}

/* ---------------------------------------------------------------------------------------------------
 * Segment tables for multi-segment writers
 */

size_t capnp_segment_table_size(uint32_t n_segments) {
        assert(n_segments > 0);

        return ((size_t) n_segments / 2 + 1) * WORD_BYTES;
}

size_t capnp_segment_table_write(uint8_t *buf, uint32_t n_segments, const uint32_t *segment_words) {
        size_t size = capnp_segment_table_size(n_segments);

        assert(buf);
        assert(segment_words);

        unaligned_write_le32(buf, n_segments - 1);
        for (uint32_t i = 0; i < n_segments; i++)
                unaligned_write_le32(buf + 4 + 4 * (size_t) i, segment_words[i]);
        if (n_segments % 2 == 0)
                unaligned_write_le32(buf + size - 4, 0);
        return size;
}
