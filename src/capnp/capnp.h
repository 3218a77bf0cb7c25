/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * capnp/capnp.h — the Cap'n Proto wire format: reading untrusted messages and building new ones.
 *
 * Owns: stream framing (segment tables), pointer decoding (struct, list, far, double-far), bounds,
 * traversal and nesting limits, and a single-segment builder. Does not own schemas (capnp/schema.h),
 * the text format (capnp/text.h) or JSON (capnp/json.h). Never logs. No I/O: bytes in, bytes out.
 *
 * Reading: capnp_message_parse() checks the segment table of a byte buffer without copying it; the
 * accessors below then follow pointers, checking every target against its segment and charging
 * every object to the message's traversal budget (spec §4.2). The first error is sticky: once an
 * accessor fails, every later accessor on the same message fails with the same errno, so callers can
 * check once at the end with capnp_message_error().
 *
 * Errors: -EBADMSG malformed framing or pointer, -EFBIG segment or message too large, -E2BIG traversal
 * limit exceeded, -ELOOP nesting limit exceeded, -ENOMEM, -EMEDIUMTYPE pointer of the wrong kind
 * (a list where a struct was expected, a text without NUL).
 *
 * A null pointer is never an error: it reads as the default (an empty struct, an empty list of
 * element size VOID, a NULL text or data with length 0). capnp_struct_has() tells null from empty.
 *
 * Because callers may check only at the end, an accessor that fails still writes its output: the
 * empty struct or list (no sections, count 0), or NULL and length 0. Nothing read from it can reach
 * outside the message. Builders do the same with their outputs.
 *
 * Errors in detail: too many segments, an offset outside the target's segment, a far pointer to a
 * missing segment or whose landing pad is out of bounds or not a struct or list pointer, a composite
 * list whose tag is not a struct pointer or whose elements do not fit its word count, an unknown
 * pointer kind: -EBADMSG. A truncated buffer is not an error (capnp_message_parse() returns 1).
 * The root of a message whose first segment is empty: -EBADMSG. A message larger than the address
 * space: -EFBIG. A bit list read as structs, a struct where a list was expected and the other way
 * round, a capability where either was expected, a non-byte list read as text or data, a text that is
 * empty or does not end in NUL: -EMEDIUMTYPE.
 *
 * Limits (spec §4.2). Nesting: the root struct is at depth 1, and every struct or list reached from
 * an object at depth d is at d + 1 (a composite list's elements are one level below the list, as in
 * capnp); an object deeper than nesting_limit is -ELOOP. Text and data are leaves and are not
 * counted. Traversal: every read of an object charges the message the words it covers — the root
 * pointer 1, a struct its data and pointer words, a list its content (a composite list also its tag),
 * a far pointer its landing pad — except that lists of zero-width elements (void, zero-sized structs)
 * charge one word per element, so a few bytes cannot claim billions of elements. Reading the same
 * object twice charges it twice. When the budget cannot pay: -E2BIG.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAPNP_MAX_SEGMENTS 512u                 /* capnp's own stream reader refuses more */
#define CAPNP_DEFAULT_NESTING_LIMIT 64u
#define CAPNP_ARCHIVE_NESTING_LIMIT 128u        /* spec §1.5: npm trees are deep */
#define CAPNP_MANIFEST_TRAVERSAL_WORDS 1048576u /* Manifest.sizeLimitInWords */
#define CAPNP_MAX_NESTING_LIMIT 4096u           /* bounds the recursion of generic walkers and copies */
#define CAPNP_MAX_LIST_ELEMENTS 536870911u      /* 29-bit element count (words for composite lists) */

typedef struct CapnpSegment {
        const uint8_t *bytes; /* 8-byte words, not necessarily aligned */
        uint32_t n_words;
} CapnpSegment;

typedef struct CapnpMessage {
        CapnpSegment *segments;
        uint32_t n_segments;
        uint64_t total_words;
        uint64_t traversal_left; /* words still allowed to be read */
        unsigned nesting_limit;
        int error; /* sticky: 0, or the first negative errno */
} CapnpMessage;

typedef struct CapnpReadOptions {
        uint64_t traversal_limit_words; /* 0: the message's own size */
        unsigned nesting_limit;         /* 0: CAPNP_DEFAULT_NESTING_LIMIT; at most CAPNP_MAX_NESTING_LIMIT */
        uint32_t max_segments;          /* 0: CAPNP_MAX_SEGMENTS; -EBADMSG beyond */
} CapnpReadOptions;

/* Element size codes of list pointers (spec §4.3). */
typedef enum CapnpElementSize {
        CAPNP_ELEMENT_VOID = 0,
        CAPNP_ELEMENT_BIT = 1,
        CAPNP_ELEMENT_BYTE = 2,
        CAPNP_ELEMENT_TWO_BYTES = 3,
        CAPNP_ELEMENT_FOUR_BYTES = 4,
        CAPNP_ELEMENT_EIGHT_BYTES = 5,
        CAPNP_ELEMENT_POINTER = 6,
        CAPNP_ELEMENT_COMPOSITE = 7,
        _CAPNP_ELEMENT_MAX,
        _CAPNP_ELEMENT_INVALID = -EINVAL,
} CapnpElementSize;

/* A struct as read: where its sections are. An empty struct (null pointer) has both sizes 0. */
typedef struct CapnpStruct {
        CapnpMessage *msg;
        uint32_t segment;
        const uint8_t *data; /* data section */
        const uint8_t *ptrs; /* pointer section */
        uint32_t data_bytes;
        uint16_t n_ptrs;
        uint16_t depth; /* nesting level, for the nesting limit */
} CapnpStruct;

/* A list as read. For composite lists, elements are structs of data_bytes/n_ptrs each. Every list
 * can be seen as a list of structs (spec's upgrade rules): element i starts step_bits * i bits after
 * start, has data_bytes of data (1, 2, 4 or 8 for primitive lists, 0 for void and pointer lists) and
 * n_ptrs pointers after them (1 for pointer lists). The typed element getters use that view, so
 * capnp_list_get_u32() on a composite list reads the first 4 bytes of each element's data, and
 * capnp_list_get_text() the first pointer; a value the element has no room for reads as 0/NULL. */
typedef struct CapnpList {
        CapnpMessage *msg;
        uint32_t segment;
        const uint8_t *start;
        uint32_t count;
        CapnpElementSize element_size;
        uint32_t step_bits;  /* distance between elements in bits */
        uint32_t data_bytes; /* composite (or struct-compatible) element data size */
        uint16_t n_ptrs;     /* composite element pointer count */
        uint16_t depth;
} CapnpList;

/*
 * Parses the stream framing at the start of buf (spec §4.2) and fills msg with segments that point
 * into buf (buf must outlive msg). On success *ret_size is the number of bytes the message took, so
 * concatenated messages (keyrings, SPK streams) can be walked. Returns 1 instead of 0 — and sets
 * *ret_size to the number of bytes needed, when known, else 0 — if buf is a truncated message.
 * opts may be NULL (all defaults). msg is written only when 0 is returned; it then owns a heap array
 * that capnp_message_done() frees.
 */
int capnp_message_parse(CapnpMessage *msg, const void *buf, size_t size, const CapnpReadOptions *opts,
                        size_t *ret_size);
/* Reads only a segment table: the number of bytes the whole message needs, or 1 if more bytes of the
 * table itself are needed (then *ret_size is 0). Used when messages arrive from a stream. Errors as
 * capnp_message_parse(); max_segments 0 means CAPNP_MAX_SEGMENTS. */
int capnp_message_measure(const void *buf, size_t size, uint32_t max_segments, size_t *ret_size);
void capnp_message_done(CapnpMessage *msg);
static inline int capnp_message_error(const CapnpMessage *msg) {
        return msg->error;
}

int capnp_message_root(CapnpMessage *msg, CapnpStruct *ret);

/* Data-section fields: out of range reads as 0/false (schema evolution, spec §4.4). Offsets in bytes
 * for integers, in bits for bools. Defaults are XOR'd by the caller where non-zero. */
uint8_t capnp_struct_get_u8(const CapnpStruct *s, uint32_t byte_offset);
uint16_t capnp_struct_get_u16(const CapnpStruct *s, uint32_t byte_offset);
uint32_t capnp_struct_get_u32(const CapnpStruct *s, uint32_t byte_offset);
uint64_t capnp_struct_get_u64(const CapnpStruct *s, uint32_t byte_offset);
bool capnp_struct_get_bool(const CapnpStruct *s, uint32_t bit_offset);

/* Pointer-section fields. false when the slot is beyond the struct or null. */
bool capnp_struct_has(const CapnpStruct *s, uint16_t ptr_index);
int capnp_struct_get_struct(const CapnpStruct *s, uint16_t ptr_index, CapnpStruct *ret);
/* Any list; check ret->element_size, or use the typed getters below. */
int capnp_struct_get_list(const CapnpStruct *s, uint16_t ptr_index, CapnpList *ret);
/* A list whose elements can be read as structs (composite, or any non-bit list per the spec's
 * upgrade rules). */
int capnp_struct_get_struct_list(const CapnpStruct *s, uint16_t ptr_index, CapnpList *ret);
/* Text: byte list ending in NUL. *ret is NUL-terminated; *ret_len excludes the NUL. A null pointer
 * gives *ret = NULL, *ret_len = 0. A text with an inner NUL is returned as is (callers that care
 * check strlen). */
int capnp_struct_get_text(const CapnpStruct *s, uint16_t ptr_index, const char **ret, size_t *ret_len);
int capnp_struct_get_data(const CapnpStruct *s, uint16_t ptr_index, const uint8_t **ret, size_t *ret_len);

/* The kind of an arbitrary pointer slot, for generic walkers (JSON, deep copy). Follows a far pointer,
 * charging its landing pad like any read. */
typedef enum CapnpPointerKind {
        CAPNP_POINTER_NULL,
        CAPNP_POINTER_STRUCT,
        CAPNP_POINTER_LIST,
        CAPNP_POINTER_CAPABILITY,
        _CAPNP_POINTER_KIND_MAX,
        _CAPNP_POINTER_KIND_INVALID = -EINVAL,
} CapnpPointerKind;
int capnp_struct_pointer_kind(const CapnpStruct *s, uint16_t ptr_index, CapnpPointerKind *ret);

/* Any pointer, followed: what generic walkers (JSON, deep copy, the fuzz target) use. A list comes
 * with the element size it was written with; text and data are byte lists. */
typedef struct CapnpPointer {
        CapnpPointerKind kind;
        uint32_t capability; /* CAPNP_POINTER_CAPABILITY: index into the message's capability table */
        CapnpStruct s;       /* CAPNP_POINTER_STRUCT (else empty) */
        CapnpList l;         /* CAPNP_POINTER_LIST (else empty) */
} CapnpPointer;
int capnp_struct_get_pointer(const CapnpStruct *s, uint16_t ptr_index, CapnpPointer *ret);
/* The element's pointer (its first one for composite lists); NULL kind for lists without pointers. */
int capnp_list_get_pointer(const CapnpList *l, uint32_t i, CapnpPointer *ret);

/* List elements. i must be < l->count (asserted). */
int capnp_list_get_struct(const CapnpList *l, uint32_t i, CapnpStruct *ret);
bool capnp_list_get_bool(const CapnpList *l, uint32_t i);
uint8_t capnp_list_get_u8(const CapnpList *l, uint32_t i);
uint16_t capnp_list_get_u16(const CapnpList *l, uint32_t i);
uint32_t capnp_list_get_u32(const CapnpList *l, uint32_t i);
uint64_t capnp_list_get_u64(const CapnpList *l, uint32_t i);
/* For lists of pointers (List(Text), List(Data), List(List(…))). */
int capnp_list_get_text(const CapnpList *l, uint32_t i, const char **ret, size_t *ret_len);
int capnp_list_get_data(const CapnpList *l, uint32_t i, const uint8_t **ret, size_t *ret_len);
int capnp_list_get_list(const CapnpList *l, uint32_t i, CapnpList *ret);
/* A byte list's bytes (Text or Data seen as List(UInt8)); NULL for other element sizes. */
const uint8_t *capnp_list_bytes(const CapnpList *l);

/*
 * Building. One growing segment, zeroed, root pointer at word 0 (spec §4.5). Positions are word
 * offsets, not pointers, because the buffer moves as it grows. Errors are sticky like the reader's:
 * each call returns the builder's error, and capnp_builder_finish() returns it too.
 *
 * Errors: -E2BIG when the segment would pass max_words or 2^29 words (what a 30-bit offset can span),
 * or a list would pass CAPNP_MAX_LIST_ELEMENTS (text counts its NUL; composite lists their words);
 * -ENOMEM. A call that fails hands out a struct or list with no room, so later writes through it are
 * dropped. Writing outside a struct's sections or a list's elements, or an element of the wrong size,
 * is the caller's mistake: asserted unless the builder has already failed, then dropped. Objects are
 * laid out in the order they are created; an empty struct's pointer has offset -1, as capnp writes
 * it, so that it is never the null word.
 */
typedef struct CapnpBuilder {
        uint8_t *buf;
        size_t n_words;
        size_t allocated_words;
        size_t max_words; /* 0: no limit other than memory; else -E2BIG beyond */
        int error;
} CapnpBuilder;

typedef struct CapnpBuilderStruct {
        CapnpBuilder *b;
        uint32_t data_word; /* word offset of the data section */
        uint16_t data_words;
        uint16_t n_ptrs;
} CapnpBuilderStruct;

typedef struct CapnpBuilderList {
        CapnpBuilder *b;
        uint32_t start_word; /* first element (after the tag word for composite lists) */
        uint32_t count;
        CapnpElementSize element_size;
        uint16_t data_words; /* composite */
        uint16_t n_ptrs;     /* composite */
} CapnpBuilderList;

void capnp_builder_init(CapnpBuilder *b, size_t max_words);
void capnp_builder_done(CapnpBuilder *b);
int capnp_builder_init_root(CapnpBuilder *b, uint16_t data_words, uint16_t n_ptrs, CapnpBuilderStruct *ret);
/* The single-segment message with its segment table, in a new heap buffer. The builder is left
 * usable. */
int capnp_builder_finish(CapnpBuilder *b, uint8_t **ret, size_t *ret_size);
/* The segment's words alone (for multi-segment writers that write their own table). */
const uint8_t *capnp_builder_segment(const CapnpBuilder *b, size_t *ret_n_words);

void capnp_build_set_u8(const CapnpBuilderStruct *s, uint32_t byte_offset, uint8_t v);
void capnp_build_set_u16(const CapnpBuilderStruct *s, uint32_t byte_offset, uint16_t v);
void capnp_build_set_u32(const CapnpBuilderStruct *s, uint32_t byte_offset, uint32_t v);
void capnp_build_set_u64(const CapnpBuilderStruct *s, uint32_t byte_offset, uint64_t v);
void capnp_build_set_bool(const CapnpBuilderStruct *s, uint32_t bit_offset, bool v);

int capnp_build_init_struct(const CapnpBuilderStruct *s, uint16_t ptr_index, uint16_t data_words,
                            uint16_t n_ptrs, CapnpBuilderStruct *ret);
/* Text: len bytes plus a NUL; text may be NULL only when len is 0 (an empty, non-null text). */
int capnp_build_set_text(const CapnpBuilderStruct *s, uint16_t ptr_index, const char *text, size_t len);
int capnp_build_set_data(const CapnpBuilderStruct *s, uint16_t ptr_index, const void *data, size_t len);
/* A primitive or pointer list of count elements (not composite). */
int capnp_build_init_list(const CapnpBuilderStruct *s, uint16_t ptr_index, CapnpElementSize size,
                          uint32_t count, CapnpBuilderList *ret);
int capnp_build_init_struct_list(const CapnpBuilderStruct *s, uint16_t ptr_index, uint32_t count,
                                 uint16_t data_words, uint16_t n_ptrs, CapnpBuilderList *ret);
/* A far pointer in slot ptr_index to a landing pad at word landing_word of segment segment_id
 * (spec §4.3, single far). Used by writers that put big contents in segments of their own.
 * landing_word beyond 2^29 - 1: -E2BIG. */
int capnp_build_set_far(const CapnpBuilderStruct *s, uint16_t ptr_index, uint32_t segment_id,
                        uint32_t landing_word);

int capnp_build_list_get_struct(const CapnpBuilderList *l, uint32_t i, CapnpBuilderStruct *ret);
void capnp_build_list_set_bool(const CapnpBuilderList *l, uint32_t i, bool v);
void capnp_build_list_set_u8(const CapnpBuilderList *l, uint32_t i, uint8_t v);
void capnp_build_list_set_u16(const CapnpBuilderList *l, uint32_t i, uint16_t v);
void capnp_build_list_set_u32(const CapnpBuilderList *l, uint32_t i, uint32_t v);
void capnp_build_list_set_u64(const CapnpBuilderList *l, uint32_t i, uint64_t v);
int capnp_build_list_set_text(const CapnpBuilderList *l, uint32_t i, const char *text, size_t len);
int capnp_build_list_set_data(const CapnpBuilderList *l, uint32_t i, const void *data, size_t len);
int capnp_build_list_init_list(const CapnpBuilderList *l, uint32_t i, CapnpElementSize size, uint32_t count,
                               CapnpBuilderList *ret);
int capnp_build_list_init_struct_list(const CapnpBuilderList *l, uint32_t i, uint32_t count,
                                      uint16_t data_words, uint16_t n_ptrs, CapnpBuilderList *ret);

/* Deep copies: whatever src's slot holds (struct, list, text, data, nested) into dst's slot,
 * schema-free. Used to lift the manifest out of a pkgdef and to re-encode messages. The source is read
 * with its message's limits (so a copy is at most the traversal budget it spends, plus the root
 * pointer); a reader error fails the builder too, so that a half copy never finishes. Lists keep their
 * element size, structs their section sizes, capabilities their index; words a composite list holds
 * beyond its elements, and padding bits, are not copied. The layout is capnp's (depth first, in
 * pointer order), so a copy is reproducible byte for byte. src must not point into dst's buffer. */
int capnp_build_copy_pointer(const CapnpBuilderStruct *dst, uint16_t dst_index, const CapnpStruct *src,
                             uint16_t src_index);
/* A whole struct as the root of a new builder (sections copied, pointers deep-copied). */
int capnp_build_copy_root(CapnpBuilder *b, const CapnpStruct *src);

/* Writes the stream segment table for n segments of the given sizes into buf; returns its length in
 * bytes (always a multiple of 8). buf must hold capnp_segment_table_size(n) bytes. */
size_t capnp_segment_table_size(uint32_t n_segments);
size_t capnp_segment_table_write(uint8_t *buf, uint32_t n_segments, const uint32_t *segment_words);
