/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The compiled-in schema tables against `capnp compile -ocapnp` of the reconstructed Sandstorm
 * schemas (tests/compat/schema/sandstorm/, listing committed as data/schema-layout.txt; the compat
 * test checks that listing still matches what capnp compiles). Every struct, group, union, field,
 * enumerant and constant of the listing must be in the tables with the same ordinal, type, slot,
 * bit range and union tag, and the tables must hold nothing the listing lacks.
 */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "capnp/schema.h"

/* ---- the layout listing ---- */

typedef enum ScopeKind {
        SCOPE_FILE,
        SCOPE_STRUCT, /* a struct or a group */
        SCOPE_UNION,
        SCOPE_ENUM,
        SCOPE_INTERFACE,
} ScopeKind;

typedef struct Scope {
        ScopeKind kind;
        char name[300]; /* qualified within the file */
        const CapnpStructSchema *schema;
        const CapnpEnumSchema *enum_schema;
        size_t n_seen;       /* fields or enumerants seen */
        size_t n_union_seen; /* union members seen */
} Scope;

/* scope.name, or name at file scope. */
static void qualify(char *out, size_t n, const char *scope, const char *name) {
        assert_true(strlen(scope) + strlen(name) + 2 <= n);
        strcpy(out, scope);
        if (scope[0])
                strcat(out, ".");
        strcat(out, name);
}

/* Strips `import "/sandstorm/x.capnp".` prefixes from a type as capnp prints it. */
static void strip_imports(char *s) {
        char *p;

        while ((p = strstr(s, "import \""))) {
                char *q = strstr(p + 8, "\".");
                assert_non_null(q);
                memmove(p, q + 2, strlen(q + 2) + 1);
        }
}

/* capnp prints a type relative to the scope it is used in ("Command" inside Manifest); ours is
 * qualified within its file ("Manifest.Command"). */
static bool type_names_match(const char *ours, const char *printed) {
        size_t a = strlen(ours), b = strlen(printed);
        const char *o = ours, *p = printed;

        /* Compare List( … ) wrappers first. */
        while (startswith(o, "List(") && startswith(p, "List(")) {
                o += 5;
                p += 5;
                a -= 6;
                b -= 6;
        }
        if (a == b)
                return strncmp(o, p, a) == 0;
        return a > b && o[a - b - 1] == '.' && strncmp(o + a - b, p, b) == 0;
}

static const CapnpField *expect_field(const Scope *scope, const char *name) {
        const CapnpField *f = capnp_struct_schema_field(scope->schema, name, strlen(name));
        if (!f)
                fail_msg("%s has no field '%s'", scope->schema->name, name);
        return f;
}

static void check_listing(void) {
        _cleanup_free_ char *text = NULL;
        const CapnpSchemaFile *file = NULL;
        Scope stack[16];
        size_t depth = 0, n_structs = 0, n_fields = 0, n_enumerants = 0;
        char *line, *save = NULL;
        size_t size;

        assert_int_equal(
                read_full_file_at(AT_FDCWD, TEST_DATA_DIR "/schema-layout.txt", 1 << 20, &text, &size), 0);

        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char name[128], type[256], kind[16], rest[256];
                unsigned a, b, ordinal;
                unsigned long long id;
                const char *s = line;
                Scope *top = depth > 0 ? &stack[depth - 1] : NULL;

                while (*s == ' ')
                        s++;

                if (startswith(s, "# sandstorm/")) {
                        file = capnp_schema_file_find(s + 2);
                        if (!file)
                                fail_msg("no compiled-in file for %s", s + 2);
                        depth = 1;
                        stack[0] = (Scope){.kind = SCOPE_FILE};
                        continue;
                }
                assert_non_null(file);

                if (sscanf(s, "@0x%llx;", &id) == 1) {
                        assert_true(id == file->id);
                        continue;
                }

                if (streq(s, "}")) {
                        assert_true(depth > 1);
                        if (top->kind == SCOPE_STRUCT)
                                assert_int_equal(top->n_seen, top->schema->n_fields);
                        if (top->kind == SCOPE_UNION)
                                assert_int_equal(top->n_union_seen, top->schema->n_union_members);
                        if (top->kind == SCOPE_ENUM)
                                assert_int_equal(top->n_seen, top->enum_schema->n_enumerants);
                        if (top->kind == SCOPE_UNION)
                                stack[depth - 2].n_seen += top->n_seen;
                        depth--;
                        continue;
                }

                if (startswith(s, "annotation "))
                        continue;

                if (sscanf(s, "const %127s @0x%llx :%255s = %255[^;];", name, &id, type, rest) == 4) {
                        char q[300];
                        const CapnpSchemaNode *n;

                        qualify(q, sizeof(q), top->name, name);
                        n = capnp_schema_file_lookup(file, q, strlen(q));
                        if (!n)
                                fail_msg("no constant %s", q);
                        assert_int_equal(n->kind, CAPNP_SCHEMA_NODE_CONST);
                        if (n->type.kind == CAPNP_TYPE_UINT64)
                                assert_true(n->value_bits == strtoull(rest, NULL, 10));
                        else
                                assert_int_equal(n->value_size, 8); /* magicNumber */
                        continue;
                }

                if (sscanf(s, "%15s %127s @0x%llx {", kind, name, &id) == 3 &&
                        (streq(kind, "struct") || streq(kind, "enum") || streq(kind, "interface"))) {
                        Scope *n = &stack[depth++];
                        const CapnpSchemaNode *node;

                        assert_true(depth < ELEMENTSOF(stack));
                        *n = (Scope){};
                        qualify(n->name, sizeof(n->name), top->name, name);
                        node = capnp_schema_file_lookup(file, n->name, strlen(n->name));
                        if (!node)
                                fail_msg("no node %s in %s", n->name, file->name);
                        if (streq(kind, "struct")) {
                                unsigned bytes, ptrs;

                                assert_int_equal(node->kind, CAPNP_SCHEMA_NODE_STRUCT);
                                n->kind = SCOPE_STRUCT;
                                n->schema = node->type.struct_schema;
                                assert_string_equal(n->schema->name, n->name);
                                assert_ptr_equal(n->schema->file, file);
                                assert_false(n->schema->is_group);
                                assert_int_equal(
                                        sscanf(strchr(s, '#'), "# %u bytes, %u ptrs", &bytes, &ptrs), 2);
                                assert_int_equal(n->schema->data_words * 8u, bytes);
                                assert_int_equal(n->schema->n_ptrs, ptrs);
                                if (n->schema->n_union_members == 0)
                                        assert_null(strstr(s, "union"));
                                n_structs++;
                        } else if (streq(kind, "enum")) {
                                assert_int_equal(node->kind, CAPNP_SCHEMA_NODE_ENUM);
                                n->kind = SCOPE_ENUM;
                                n->enum_schema = node->type.enum_schema;
                                assert_string_equal(n->enum_schema->name, n->name);
                        } else {
                                assert_int_equal(node->kind, CAPNP_SCHEMA_NODE_INTERFACE);
                                n->kind = SCOPE_INTERFACE;
                        }
                        continue;
                }

                if (startswith(s, "union {")) {
                        Scope *n = &stack[depth++];

                        assert_int_equal(top->kind, SCOPE_STRUCT);
                        assert_int_equal(sscanf(s, "union {  # tag bits [%u, %u)", &a, &b), 2);
                        assert_true(top->schema->n_union_members > 0);
                        assert_int_equal(top->schema->discriminant_offset, a);
                        assert_int_equal(b, a + 16);
                        *n = (Scope){.kind = SCOPE_UNION, .schema = top->schema};
                        strcpy(n->name, top->name);
                        continue;
                }

                if (sscanf(s, "%127s :group {", name) == 1 && strstr(s, ":group {")) {
                        const CapnpField *f = expect_field(top, name);
                        const char *tag = strstr(s, "union tag = ");
                        Scope *n = &stack[depth++];

                        top->n_seen++;
                        assert_non_null(f->group);
                        assert_int_equal(f->ordinal, -1);
                        assert_true(f->group->is_group);
                        assert_int_equal(f->group->data_words, top->schema->data_words);
                        assert_int_equal(f->group->n_ptrs, top->schema->n_ptrs);
                        if (tag) {
                                assert_int_equal(top->kind, SCOPE_UNION);
                                assert_int_equal(f->discriminant, strtoul(tag + 12, NULL, 10));
                                top->n_union_seen++;
                        } else
                                assert_int_equal(f->discriminant, CAPNP_NO_DISCRIMINANT);
                        *n = (Scope){.kind = SCOPE_STRUCT, .schema = f->group};
                        qualify(n->name, sizeof(n->name), top->name, name);
                        assert_string_equal(f->group->name, n->name);
                        continue;
                }

                if (top->kind == SCOPE_ENUM) {
                        const CapnpEnumerant *e;

                        assert_int_equal(sscanf(s, "%127s @%u", name, &ordinal), 2);
                        e = capnp_enum_schema_by_name(top->enum_schema, name, strlen(name));
                        if (!e)
                                fail_msg("%s has no enumerant %s", top->name, name);
                        assert_int_equal(e->value, ordinal);
                        assert_ptr_equal(
                                capnp_enum_schema_by_value(top->enum_schema, (uint16_t) ordinal), e);
                        top->n_seen++;
                        n_enumerants++;
                        continue;
                }

                if (sscanf(s, "%127s @%u :%255[^;];", name, &ordinal, type) == 3) {
                        const CapnpField *f = expect_field(top, name);
                        const char *loc = strstr(s, "# "), *tag = strstr(s, "union tag = ");
                        char ours[256];
                        unsigned slot;

                        strip_imports(type);
                        capnp_type_name(&f->type, ours, sizeof(ours));
                        if (!type_names_match(ours, type))
                                fail_msg("%s.%s: type %s, listing says %s", top->name, name, ours, type);
                        assert_int_equal(f->ordinal, (int) ordinal);
                        assert_null(f->group);
                        assert_non_null(loc);
                        if (sscanf(loc, "# ptr[%u]", &slot) == 1) {
                                assert_true(capnp_type_is_pointer(&f->type));
                                assert_int_equal(f->offset, slot);
                                assert_true(slot < top->schema->n_ptrs);
                        } else {
                                assert_int_equal(sscanf(loc, "# bits[%u, %u)", &a, &b), 2);
                                assert_false(capnp_type_is_pointer(&f->type));
                                assert_int_equal(capnp_type_data_bits(&f->type), b - a);
                                if (b > a)
                                        assert_int_equal(f->offset, a);
                                assert_true(b <= top->schema->data_words * 64u);
                        }
                        if (tag) {
                                assert_int_equal(top->kind, SCOPE_UNION);
                                assert_int_equal(f->discriminant, strtoul(tag + 12, NULL, 10));
                                top->n_union_seen++;
                        } else
                                assert_int_equal(f->discriminant, CAPNP_NO_DISCRIMINANT);
                        assert_int_equal(f->default_bits, 0);
                        top->n_seen++;
                        n_fields++;
                        continue;
                }

                fail_msg("unexpected listing line: %s", line);
        }

        /* Nothing in the tables that the listing lacks. */
        size_t n_table_structs = 0;
        for (const CapnpSchemaFile *const *f = capnp_schema_files(); *f; f++)
                for (size_t i = 0; i < (*f)->n_nodes; i++)
                        n_table_structs += (*f)->nodes[i].kind == CAPNP_SCHEMA_NODE_STRUCT;
        assert_int_equal(n_structs, n_table_structs);
        assert_int_equal(n_structs, 37);
        assert_int_equal(n_fields, 156);
        assert_int_equal(n_enumerants, 19 + 11 + 3 + 4 + 2);
}

static void test_tables_match_capnp_listing(void **state) {
        check_listing();
}

/* ---- order ---- */

static int lowest_ordinal(const CapnpField *f) {
        int lowest = INT32_MAX;

        if (!f->group)
                return f->ordinal;
        for (size_t i = 0; i < f->group->n_fields; i++)
                lowest = MIN(lowest, lowest_ordinal(&f->group->fields[i]));
        return lowest;
}

static void check_order(const CapnpStructSchema *s) {
        for (size_t i = 0; i < s->n_fields; i++) {
                if (i > 0)
                        assert_true(lowest_ordinal(&s->fields[i - 1]) < lowest_ordinal(&s->fields[i]));
                if (s->fields[i].group)
                        check_order(s->fields[i].group);
        }
}

/* A union's tags are the ranks of its members by (lowest) ordinal (spec §4.4). */
static void check_tags(const CapnpStructSchema *s) {
        uint16_t next = 0;

        for (size_t i = 0; i < s->n_fields; i++) {
                if (s->fields[i].discriminant != CAPNP_NO_DISCRIMINANT)
                        assert_int_equal(s->fields[i].discriminant, next++);
                if (s->fields[i].group)
                        check_tags(s->fields[i].group);
        }
        assert_int_equal(next, s->n_union_members);
}

static void test_fields_in_ordinal_order(void **state) {
        for (const CapnpSchemaFile *const *f = capnp_schema_files(); *f; f++)
                for (size_t i = 0; i < (*f)->n_nodes; i++)
                        if ((*f)->nodes[i].kind == CAPNP_SCHEMA_NODE_STRUCT) {
                                check_order((*f)->nodes[i].type.struct_schema);
                                check_tags((*f)->nodes[i].type.struct_schema);
                        }

        /* The JSON order of Manifest starts with the lowest ordinals, not with appTitle. */
        assert_string_equal(capnp_schema_Manifest.fields[0].name, "minApiVersion");
        assert_string_equal(capnp_schema_Manifest.fields[8].name, "metadata");
}

/* ---- lookups ---- */

static void test_file_find(void **state) {
        const CapnpSchemaFile *f;

        f = capnp_schema_file_find("/sandstorm/package.capnp");
        assert_non_null(f);
        assert_string_equal(f->name, "package.capnp");
        assert_true(f->id == UINT64_C(0xdf9bc20172856a3a));
        assert_ptr_equal(capnp_schema_file_find("sandstorm/package.capnp"), f);

        assert_non_null(capnp_schema_file_find("/sandstorm/util.capnp"));
        assert_non_null(capnp_schema_file_find("/sandstorm/grain.capnp"));
        assert_non_null(capnp_schema_file_find("/sandstorm/powerbox.capnp"));
        assert_non_null(capnp_schema_file_find("/sandstorm/api-session.capnp"));
        assert_non_null(capnp_schema_file_find("/sandstorm/identity.capnp"));
        assert_non_null(capnp_schema_file_find("/sandstorm/activity.capnp"));

        assert_null(capnp_schema_file_find("/sandstorm/web-session.capnp"));
        assert_null(capnp_schema_file_find("/capnp/c++.capnp"));
        assert_null(capnp_schema_file_find("/package.capnp"));
        assert_null(capnp_schema_file_find("/sandstorm/package.capnp/"));
        assert_null(capnp_schema_file_find("/sandstorm/"));
        assert_null(capnp_schema_file_find(""));
        assert_null(capnp_schema_file_find(NULL));
}

static void test_lookup(void **state) {
        const CapnpSchemaFile *f = capnp_schema_file_find("/sandstorm/package.capnp");
        const CapnpSchemaNode *n;

        n = capnp_schema_file_lookup(f, "Manifest.Command", 16);
        assert_non_null(n);
        assert_int_equal(n->kind, CAPNP_SCHEMA_NODE_STRUCT);
        assert_int_equal(n->type.struct_schema->n_ptrs, 3);
        /* Lengths are honoured: "Manifest" out of "Manifest.Command". */
        n = capnp_schema_file_lookup(f, "Manifest.Command", 8);
        assert_non_null(n);
        assert_ptr_equal(n->type.struct_schema, &capnp_schema_Manifest);
        assert_null(capnp_schema_file_lookup(f, "Manifest.Comman", 15));
        assert_null(capnp_schema_file_lookup(f, "Command", 7));
        assert_null(capnp_schema_file_lookup(f, "", 0));

        n = capnp_schema_file_lookup(f, "magicNumber", 11);
        assert_non_null(n);
        assert_int_equal(n->kind, CAPNP_SCHEMA_NODE_CONST);
        assert_memory_equal(n->value_bytes, "\x8f\xc6\xcd\xef\x45\x1a\xea\x96", 8);

        n = capnp_schema_file_lookup(
                capnp_schema_file_find("/sandstorm/identity.capnp"), "PermissionSet", 13);
        assert_non_null(n);
        assert_int_equal(n->kind, CAPNP_SCHEMA_NODE_ALIAS);
        assert_int_equal(n->type.kind, CAPNP_TYPE_LIST);
        assert_int_equal(n->type.element->kind, CAPNP_TYPE_BOOL);

        n = capnp_schema_file_lookup(capnp_schema_file_find("/sandstorm/grain.capnp"), "UiView", 6);
        assert_non_null(n);
        assert_int_equal(n->kind, CAPNP_SCHEMA_NODE_INTERFACE);

        assert_ptr_equal(capnp_schema_find_struct("VerifiedInfo"), &capnp_schema_VerifiedInfo);
        assert_ptr_equal(capnp_schema_find_struct("package.capnp:Metadata"), &capnp_schema_Metadata);
        assert_non_null(capnp_schema_find_struct("UiView.ViewInfo"));
        assert_non_null(capnp_schema_find_struct("grain.capnp:UiView.PowerboxTag"));
        assert_non_null(capnp_schema_find_struct("ApiSession.PowerboxTag"));
        assert_null(capnp_schema_find_struct("util.capnp:Metadata"));
        assert_null(capnp_schema_find_struct("OpenSourceLicense")); /* an enum */
        assert_null(capnp_schema_find_struct("Metadata.icons"));    /* a group, not a declaration */
        assert_null(capnp_schema_find_struct("Nothing"));
        assert_non_null(capnp_schema_find_enum("OpenSourceLicense"));
        assert_non_null(capnp_schema_find_enum("PowerboxDescriptor.MatchQuality"));
        assert_null(capnp_schema_find_enum("Manifest"));
}

static void test_fields_and_enumerants(void **state) {
        const CapnpField *f;
        const CapnpEnumSchema *e = capnp_schema_find_enum("Category");

        f = capnp_struct_schema_field(&capnp_schema_Metadata, "license", 7);
        assert_non_null(f);
        assert_non_null(f->group);
        assert_int_equal(f->group->n_union_members, 4);
        f = capnp_struct_schema_field(f->group, "openSource", 10);
        assert_non_null(f);
        assert_int_equal(f->discriminant, 1);
        assert_int_equal(f->offset, 16);
        assert_int_equal(f->type.kind, CAPNP_TYPE_ENUM);
        assert_null(capnp_struct_schema_field(&capnp_schema_Metadata, "openSource", 10));
        assert_null(capnp_struct_schema_field(&capnp_schema_Metadata, "licens", 6));

        assert_int_equal(capnp_enum_schema_by_name(e, "other", 5)->value, 0);
        assert_int_equal(capnp_enum_schema_by_name(e, "graphics", 8)->value, 10);
        assert_string_equal(capnp_enum_schema_by_value(e, 6)->name, "developerTools");
        assert_null(capnp_enum_schema_by_value(e, 11));
        assert_null(capnp_enum_schema_by_name(e, "Other", 5));
}

static void test_types(void **state) {
        char buf[64];
        const CapnpType list_text = {.kind = CAPNP_TYPE_LIST, .element = capnp_type_builtin("Text", 4)};
        const CapnpType list_list = {.kind = CAPNP_TYPE_LIST, .element = &list_text};
        const CapnpType cmd = {
                .kind = CAPNP_TYPE_STRUCT, .struct_schema = capnp_schema_find_struct("Manifest.Command")};

        assert_string_equal(capnp_type_name(&list_list, buf, sizeof(buf)), "List(List(Text))");
        assert_string_equal(capnp_type_name(&cmd, buf, sizeof(buf)), "Manifest.Command");
        assert_string_equal(capnp_type_name(&list_list, buf, 8), "List(Li");
        assert_string_equal(capnp_type_name(capnp_type_builtin("UInt64", 6), buf, sizeof(buf)), "UInt64");

        assert_null(capnp_type_builtin("List", 4));
        assert_null(capnp_type_builtin("text", 4));
        assert_non_null(capnp_type_builtin("AnyPointer", 10));

        assert_true(capnp_type_equal(&list_text, &list_text));
        assert_false(capnp_type_equal(&list_text, &list_list));
        assert_true(capnp_type_is_pointer(&list_text));
        assert_false(capnp_type_is_pointer(capnp_type_builtin("Float64", 7)));
        assert_int_equal(capnp_type_list_element_size(&list_text), CAPNP_ELEMENT_POINTER);
        assert_int_equal(capnp_type_list_element_size(&cmd), CAPNP_ELEMENT_COMPOSITE);
        assert_int_equal(capnp_type_list_element_size(capnp_type_builtin("Bool", 4)), CAPNP_ELEMENT_BIT);
        assert_int_equal(capnp_type_list_element_size(capnp_type_builtin("Void", 4)), CAPNP_ELEMENT_VOID);
        assert_int_equal(
                capnp_type_list_element_size(capnp_type_builtin("Int16", 5)), CAPNP_ELEMENT_TWO_BYTES);
        assert_int_equal(capnp_type_data_bits(capnp_type_builtin("Float32", 7)), 32);

        assert_string_equal(capnp_type_kind_to_string(CAPNP_TYPE_ANY_POINTER), "AnyPointer");
        assert_int_equal(capnp_type_kind_from_string("UInt16"), CAPNP_TYPE_UINT16);
        assert_int_equal(capnp_type_kind_from_string("uint16"), _CAPNP_TYPE_KIND_INVALID);
        assert_null(capnp_type_kind_to_string(_CAPNP_TYPE_KIND_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tables_match_capnp_listing),
                cmocka_unit_test(test_fields_in_ordinal_order),
                cmocka_unit_test(test_file_find),
                cmocka_unit_test(test_lookup),
                cmocka_unit_test(test_fields_and_enumerants),
                cmocka_unit_test(test_types),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
