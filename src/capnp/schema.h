/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * capnp/schema.h — the Sandstorm schemas, compiled in as static tables (spec §3.3, §1.2, §1.5, §1.8,
 * §2, §7.2).
 *
 * Owns: one table per schema file Sandstorm installs under /usr/include/sandstorm/ (package.capnp,
 * util.capnp, grain.capnp, powerbox.capnp, api-session.capnp, identity.capnp, activity.capnp), each
 * listing the file's structs, groups, enums, interfaces, type aliases and constants by their qualified
 * name within the file ("Manifest.Command", "UiView.ViewInfo"). For every field: its name, ordinal,
 * type, where it lives (data bit offset or pointer slot), union membership and default. Fields are in
 * ordinal order, a group at the place of its lowest ordinal: the order of a compiled schema's field
 * list, which is the order Cap'n Proto's JSON writes them in (not declaration order, whatever spec
 * §4.7 says). Read-only data, no state, never logs.
 *
 * Layout facts (§4.4): data fields are found by bit offset in the data section and are stored XOR'd
 * with their default; a union's discriminant is a UInt16 at discriminant_offset (in bits); groups
 * share their parent's sections, so a group's CapnpStructSchema has the parent's sizes.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

typedef enum CapnpTypeKind {
        CAPNP_TYPE_VOID,
        CAPNP_TYPE_BOOL,
        CAPNP_TYPE_INT8,
        CAPNP_TYPE_INT16,
        CAPNP_TYPE_INT32,
        CAPNP_TYPE_INT64,
        CAPNP_TYPE_UINT8,
        CAPNP_TYPE_UINT16,
        CAPNP_TYPE_UINT32,
        CAPNP_TYPE_UINT64,
        CAPNP_TYPE_FLOAT32,
        CAPNP_TYPE_FLOAT64,
        CAPNP_TYPE_TEXT,
        CAPNP_TYPE_DATA,
        CAPNP_TYPE_LIST,
        CAPNP_TYPE_ENUM,
        CAPNP_TYPE_STRUCT,
        CAPNP_TYPE_INTERFACE,
        CAPNP_TYPE_ANY_POINTER,
        _CAPNP_TYPE_KIND_MAX,
        _CAPNP_TYPE_KIND_INVALID = -EINVAL,
} CapnpTypeKind;

typedef struct CapnpStructSchema CapnpStructSchema;
typedef struct CapnpEnumSchema CapnpEnumSchema;
typedef struct CapnpSchemaFile CapnpSchemaFile;

/* A type: a builtin, or a reference to a struct, enum or interface, or a list of a type. */
typedef struct CapnpType {
        CapnpTypeKind kind;
        const struct CapnpType *element;        /* CAPNP_TYPE_LIST */
        const CapnpStructSchema *struct_schema; /* CAPNP_TYPE_STRUCT */
        const CapnpEnumSchema *enum_schema;     /* CAPNP_TYPE_ENUM */
        const char *interface_name;             /* CAPNP_TYPE_INTERFACE, qualified in its file */
} CapnpType;

#define CAPNP_NO_DISCRIMINANT UINT16_MAX

typedef struct CapnpField {
        const char *name;
        int ordinal;                    /* @N; -1 for a group (which has none) */
        CapnpType type;                 /* unused for groups */
        const CapnpStructSchema *group; /* non-NULL: a group or a named union, whose fields these are */
        uint32_t offset;                /* data field: bit offset in the data section; pointer field: slot */
        uint16_t discriminant;          /* tag value inside the enclosing union, or CAPNP_NO_DISCRIMINANT */
        uint64_t default_bits;          /* default of a data field, as its stored bits (usually 0) */
} CapnpField;

struct CapnpStructSchema {
        const char *name; /* qualified within its file: "Manifest.Command", "Metadata.icons" */
        const CapnpSchemaFile *file;
        uint16_t data_words; /* groups: the enclosing struct's sizes */
        uint16_t n_ptrs;
        bool is_group;
        uint16_t n_union_members;     /* 0: the struct has no (unnamed) union of its own */
        uint32_t discriminant_offset; /* bit offset of the union's UInt16 tag */
        const CapnpField *fields;     /* ordinal order (see above) */
        size_t n_fields;
};

typedef struct CapnpEnumerant {
        const char *name;
        uint16_t value;
} CapnpEnumerant;

struct CapnpEnumSchema {
        const char *name; /* qualified within its file: "PowerboxDescriptor.MatchQuality" */
        const CapnpSchemaFile *file;
        const CapnpEnumerant *enumerants; /* declaration order */
        size_t n_enumerants;
};

typedef enum CapnpSchemaNodeKind {
        CAPNP_SCHEMA_NODE_STRUCT,
        CAPNP_SCHEMA_NODE_ENUM,
        CAPNP_SCHEMA_NODE_INTERFACE,
        CAPNP_SCHEMA_NODE_ALIAS, /* using X = <type>; */
        CAPNP_SCHEMA_NODE_CONST,
        _CAPNP_SCHEMA_NODE_KIND_MAX,
        _CAPNP_SCHEMA_NODE_KIND_INVALID = -EINVAL,
} CapnpSchemaNodeKind;

/* A named declaration of a schema file. For STRUCT/ENUM/INTERFACE/ALIAS, type is what the name
 * denotes; for CONST, type is the constant's type and the value is in value_bits (primitives) or
 * value_bytes/value_size (Text, Data). */
typedef struct CapnpSchemaNode {
        const char *name; /* qualified within its file */
        CapnpSchemaNodeKind kind;
        CapnpType type;
        uint64_t value_bits;
        const void *value_bytes;
        size_t value_size;
} CapnpSchemaNode;

struct CapnpSchemaFile {
        const char *name; /* "package.capnp": installed as /usr/include/sandstorm/package.capnp */
        uint64_t id;
        const CapnpSchemaNode *nodes;
        size_t n_nodes;
};

/* The file an absolute import names: "/sandstorm/package.capnp" (or "sandstorm/package.capnp").
 * NULL if it is none of ours. */
const CapnpSchemaFile *capnp_schema_file_find(const char *import_name);
/* All files, for iteration; NULL-terminated. */
const CapnpSchemaFile *const *capnp_schema_files(void);

/* A declaration by its qualified name within file ("Manifest.Command"), given as name[0..len).
 * NULL if none. */
const CapnpSchemaNode *capnp_schema_file_lookup(const CapnpSchemaFile *file, const char *name, size_t len);

/* A struct by qualified name in any file, first match in file order (package.capnp first), or
 * "file.capnp:Name" to pick the file. NULL if none. */
const CapnpStructSchema *capnp_schema_find_struct(const char *name);
const CapnpEnumSchema *capnp_schema_find_enum(const char *name);

/* Field lookup by name among a struct's (or group's) own fields. NULL if none. */
const CapnpField *capnp_struct_schema_field(const CapnpStructSchema *s, const char *name, size_t len);

/* Enumerant by name or by value. NULL if none. */
const CapnpEnumerant *capnp_enum_schema_by_name(const CapnpEnumSchema *e, const char *name, size_t len);
const CapnpEnumerant *capnp_enum_schema_by_value(const CapnpEnumSchema *e, uint16_t value);

/* True for Text, Data, List, Struct, Interface and AnyPointer: types that live in a pointer slot. */
bool capnp_type_is_pointer(const CapnpType *t) _pure_;
/* Size in bits of a data-section type (Void 0, Bool 1, … Float64 64, Enum 16); 0 for pointer types. */
unsigned capnp_type_data_bits(const CapnpType *t) _pure_;
/* Element size code a list of t is encoded with (spec §4.3). */
int capnp_type_list_element_size(const CapnpType *t);
/* Writes the type's name as Cap'n Proto spells it ("Text", "List(UInt16)", "Manifest.Command") into
 * buf of size n (truncating); returns buf. */
char *capnp_type_name(const CapnpType *t, char *buf, size_t n);
bool capnp_type_equal(const CapnpType *a, const CapnpType *b) _pure_;

/* Builtin types by their Cap'n Proto name ("Text", "UInt32", "AnyPointer"…); NULL if none. The
 * returned object is static. */
const CapnpType *capnp_type_builtin(const char *name, size_t len);

const char *capnp_type_kind_to_string(CapnpTypeKind k) _const_;
CapnpTypeKind capnp_type_kind_from_string(const char *s) _pure_;

/* Well-known structs, for callers that build or read these messages directly. */
extern const CapnpStructSchema capnp_schema_PackageDefinition;
extern const CapnpStructSchema capnp_schema_Manifest;
extern const CapnpStructSchema capnp_schema_BridgeConfig;
extern const CapnpStructSchema capnp_schema_Metadata;
extern const CapnpStructSchema capnp_schema_VerifiedInfo;
extern const CapnpStructSchema capnp_schema_AppId;
extern const CapnpStructSchema capnp_schema_PackageId;
