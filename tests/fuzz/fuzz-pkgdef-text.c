/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzzes capnp/text.c with arbitrary bytes as a pkgdef file (embeds and imports of other files
 * disabled), evaluating the constant "pkgdef". Checks:
 * (1) a failure comes with exactly one line "fuzz.capnp:LINE:COLUMN: text" or "fuzz.capnp: text";
 * (2) a successful binary evaluation gives a message capnp_message_parse() accepts, whole and single-
 *     segment, whose root has the sizes of the reported type;
 * (3) that message renders to JSON deterministically (twice, from fresh parses, the same bytes);
 * (4) the JSON entry point agrees: the same text, or the same refusal of AnyPointer;
 * (5) binary and JSON evaluation fail together, except that JSON also takes non-struct constants.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macro.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "capnp/json.h"
#include "capnp/schema.h"
#include "capnp/text.h"
#include "fuzz.h"

#define NAME "fuzz.capnp"

static void check_error(const char *error) {
        const char *p;

        CHECK(error);
        CHECK(!strchr(error, '\n'));
        p = startswith(error, NAME);
        CHECK(p);
        if (*p == ':' && p[1] >= '1' && p[1] <= '9') {
                p++;
                while (*p >= '0' && *p <= '9')
                        p++;
                CHECK(*p == ':');
                p++;
                CHECK(*p >= '1' && *p <= '9');
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        CHECK(startswith(p, ": "));
        CHECK(p[2] != 0);
}

static int render(const uint8_t *msg, size_t size, const CapnpStructSchema *schema, StrBuf *out) {
        /* The allowance text.c makes for Void list elements, which reading charges a word each. */
        const CapnpReadOptions ro = {.traversal_limit_words = size / 4 + 65536};
        CapnpMessage m = {};
        CapnpStruct root;
        size_t used;
        int r;

        r = capnp_message_parse(&m, msg, size, &ro, &used);
        CHECK(r == 0);
        CHECK(used == size);
        CHECK(m.n_segments == 1);
        r = capnp_message_root(&m, &root);
        CHECK(r == 0);
        CHECK(root.data_bytes == schema->data_words * 8u);
        CHECK(root.n_ptrs == schema->n_ptrs);
        r = capnp_json_write_struct_schema(out, &root, schema, CAPNP_JSON_COMPACT);
        capnp_message_done(&m);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const CapnpTextOptions opts = {.no_files = true};
        _cleanup_free_ uint8_t *msg = NULL;
        _cleanup_free_ char *error = NULL, *json_error = NULL;
        _cleanup_strbuf_ StrBuf a = STRBUF_INIT, b = STRBUF_INIT, direct = STRBUF_INIT;
        const CapnpStructSchema *schema;
        const char *type = NULL;
        size_t msg_size = 0;
        int r, rj;

        if (size > 64 * 1024)
                return 0;

        r = capnp_text_eval_buffer(NAME, data, size, "pkgdef", &opts, &type, &msg, &msg_size, NULL, &error);
        rj = capnp_text_eval_buffer(
                NAME, data, size, "pkgdef", &opts, NULL, NULL, NULL, &direct, &json_error);

        if (r < 0) {
                check_error(error);
                CHECK(!msg);
                if (rj < 0) {
                        check_error(json_error);
                        return 0;
                }
                /* Only a non-struct constant evaluates to JSON but not to a message. */
                CHECK(strstr(error, "is not a struct constant"));
                return 0;
        }

        CHECK(!error);
        CHECK(type);
        schema = capnp_schema_find_struct(type);
        CHECK(schema);
        CHECK(msg_size % 8 == 0);

        r = render(msg, msg_size, schema, &a);
        if (r == -EOPNOTSUPP) {
                CHECK(rj == -EOPNOTSUPP);
                check_error(json_error);
                return 0;
        }
        CHECK(r == 0);
        CHECK(render(msg, msg_size, schema, &b) == 0);
        CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        CHECK(rj == 0);
        CHECK(!json_error);
        CHECK(direct.len == a.len && memcmp(direct.data, a.data, a.len) == 0);
        return 0;
}
