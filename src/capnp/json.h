/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * capnp/json.h — Cap'n Proto's JSON form of a message, driven by the compiled-in schemas
 * (capnp/schema.h), in the two dialects granary needs (spec §4.7, §1.8).
 *
 * Owns the rendering only: it reads through capnp/capnp.h and never changes a message. Never logs.
 *
 * CAPNP_JSON_COMPACT is what `capnp eval -ojson` prints: fields in ordinal order (capnp/schema.h),
 * null pointers omitted, primitives always present, Int64/UInt64 as strings, Data as arrays of
 * numbers, enums by name (an unknown value as its number), groups as nested objects, the active union
 * member only, after the other fields. Despite the name it is JsonCodec's pretty layout: short
 * arrays and objects on one line with ", " and ": ", long ones broken over lines.
 *
 * CAPNP_JSON_VERIFY is what `spk verify` prints: the same layout, the active union member in its
 * place among the fields, AppId as its 52-character text, PackageId as 32 hex digits, Data of at most
 * 256 bytes as Base64("…") and longer as LargeDataBlob(N), Text longer than 256 bytes as
 * LargeTextBlob(N). Not strict JSON.
 *
 * -EOPNOTSUPP: the value holds a non-null AnyPointer or capability, which Cap'n Proto's JSON codec
 * refuses too.
 * Other errors: -ENOENT unknown type name, -EINVAL a schema/message mismatch the reader reports, the
 * message's own errno (-EBADMSG, -E2BIG, -ELOOP …) for a malformed message, -ENOMEM. On failure out may
 * hold a partial rendering; callers discard it.
 */

#include <errno.h>

#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "capnp/schema.h"

typedef enum CapnpJsonStyle {
        CAPNP_JSON_COMPACT,
        CAPNP_JSON_VERIFY,
        _CAPNP_JSON_STYLE_MAX,
        _CAPNP_JSON_STYLE_INVALID = -EINVAL,
} CapnpJsonStyle;

const char *capnp_json_style_to_string(CapnpJsonStyle s) _const_;
CapnpJsonStyle capnp_json_style_from_string(const char *s) _pure_;

/* Appends the JSON form of s, read as the schema struct named type_name (e.g. "VerifiedInfo",
 * "Manifest", "Manifest.Command"; see capnp_schema_find_struct()). */
int capnp_json_write_struct(StrBuf *out, const CapnpStruct *s, const char *type_name, CapnpJsonStyle style);

/* The same with the schema given directly. */
int capnp_json_write_struct_schema(
        StrBuf *out, const CapnpStruct *s, const CapnpStructSchema *schema, CapnpJsonStyle style);

/* Appends the JSON form of a value of any type held in s: in pointer slot offset for a pointer type,
 * at bit offset offset of the data section otherwise. Used for non-struct constants, which the text
 * evaluator stores in a one-field wrapper struct. */
int capnp_json_write_field_value(
        StrBuf *out, const CapnpStruct *s, const CapnpType *type, uint32_t offset, CapnpJsonStyle style);

/* Appends s as a JSON string literal, escaped the way capnp's JSON codec escapes. */
int capnp_json_write_string(StrBuf *out, const char *s, size_t len);
