/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The text format evaluator: values, layouts and errors, byte for byte. Expected JSON is what
 * `capnp eval -ojson` prints for the same input with the Sandstorm schemas (checked once by hand and,
 * for whole pkgdefs, continuously by tests/compat/test-compat-eval.sh); non-struct constants, which
 * capnp eval cannot print as JSON, follow the same codec rules.
 */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "capnp/json.h"
#include "capnp/schema.h"
#include "capnp/text.h"

#define HEADER "@0xd5a1f1e2b3c4d5e6;\nusing Spk = import \"/sandstorm/package.capnp\";\n"

static const CapnpTextOptions no_files = {.no_files = true};

/* Evaluates const name of src (named "t.capnp") to JSON; NULL and *ret_error on failure. */
static char *json_of(const char *src, const char *name, int *ret_r, char **ret_error) {
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        char *error = NULL;
        int r;

        r = capnp_text_eval_buffer(
                "t.capnp", src, strlen(src), name, &no_files, NULL, NULL, NULL, &out, &error);
        if (ret_r)
                *ret_r = r;
        if (r < 0) {
                assert_non_null(error);
                if (ret_error)
                        *ret_error = error;
                else {
                        fprintf(stderr, "# unexpected error: %s\n", error);
                        free(error);
                }
                return NULL;
        }
        assert_null(error);
        return strbuf_steal(&out, NULL);
}

static void assert_json(const char *src, const char *name, const char *expected) {
        _cleanup_free_ char *json = json_of(src, name, NULL, NULL);

        assert_non_null(json);
        assert_string_equal(json, expected);
}

static void assert_error(const char *src, const char *name, int expected_r, const char *expected) {
        _cleanup_free_ char *error = NULL, *json = NULL;
        int r = 0;

        json = json_of(src, name, &r, &error);
        if (json)
                fail_msg("expected error '%s', got %s", expected, json);
        assert_string_equal(error, expected);
        assert_int_equal(r, expected_r);
}

/* ---- whole pkgdefs ---- */

static const char template_src[] =
        HEADER "const pkgdef :Spk.PackageDefinition = (\n"
               "  id = \"vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0\",\n"
               "  manifest = (\n"
               "    appTitle = (defaultText = \"Example App\"),\n"
               "    appVersion = 0,  # Increment this for every release.\n"
               "    appMarketingVersion = (defaultText = \"0.0.0\"),\n"
               "    actions = [ ( nounPhrase = (defaultText = \"instance\"), command = .myCommand ) ],\n"
               "    continueCommand = .myCommand,\n"
               "    metadata = (\n"
               "      icons = ( ),\n"
               "      website = \"http://example.com\",\n"
               "      license = (none = void),\n"
               "      categories = [],\n"
               "      author = ( contactEmail = \"youremail@example.com\", upstreamAuthor = \"Example App "
               "Team\" ),\n"
               "      shortDescription = (defaultText = \"one-to-three words\"),\n"
               "      screenshots = [ ],\n"
               "    ),\n"
               "  ),\n"
               "  sourceMap = ( searchPath = [ ( sourcePath = \".\" ), ( sourcePath = \"/\", hidePaths = [ "
               "\"home\", \"proc\" ] ) ] ),\n"
               "  fileList = \"sandstorm-files.list\",\n"
               "  alwaysInclude = [],\n"
               ");\n"
               "const myCommand :Spk.Manifest.Command = (\n"
               "  argv = [\"/sandstorm-http-bridge\", \"8000\", \"--\", \"node\", \"main.js\"],\n"
               "  environ = [ (key = \"PATH\", value = \"/usr/local/bin:/usr/bin:/bin\"), (key = "
               "\"SANDSTORM\", value = \"1\") ]\n"
               ");\n";

static void test_template_json(void **state) {
        assert_json(template_src, "pkgdef",
                "{ \"id\": \"vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0\",\n"
                "  \"manifest\": {\n"
                "    \"minApiVersion\": 0,\n"
                "    \"maxApiVersion\": 0,\n"
                "    \"actions\": [{ \"input\": {\"none\": null},\n"
                "      \"command\": {\n"
                "        \"argv\": [\"/sandstorm-http-bridge\", \"8000\", \"--\", \"node\", \"main.js\"],\n"
                "        \"environ\": [\n"
                "          {\"key\": \"PATH\", \"value\": \"/usr/local/bin:/usr/bin:/bin\"},\n"
                "          {\"key\": \"SANDSTORM\", \"value\": \"1\"} ] },\n"
                "      \"nounPhrase\": {\"defaultText\": \"instance\"} }],\n"
                "    \"continueCommand\": {\n"
                "      \"argv\": [\"/sandstorm-http-bridge\", \"8000\", \"--\", \"node\", \"main.js\"],\n"
                "      \"environ\": [\n"
                "        {\"key\": \"PATH\", \"value\": \"/usr/local/bin:/usr/bin:/bin\"},\n"
                "        {\"key\": \"SANDSTORM\", \"value\": \"1\"} ] },\n"
                "    \"appVersion\": 0,\n"
                "    \"minUpgradableAppVersion\": 0,\n"
                "    \"appMarketingVersion\": {\"defaultText\": \"0.0.0\"},\n"
                "    \"appTitle\": {\"defaultText\": \"Example App\"},\n"
                "    \"metadata\": {\n"
                "      \"icons\": {},\n"
                "      \"website\": \"http://example.com\",\n"
                "      \"license\": {\"none\": null},\n"
                "      \"categories\": [],\n"
                "      \"author\": {\"contactEmail\": \"youremail@example.com\", \"upstreamAuthor\": "
                "\"Example App Team\"},\n"
                "      \"shortDescription\": {\"defaultText\": \"one-to-three words\"},\n"
                "      \"screenshots\": [] } },\n"
                "  \"sourceMap\": {\"searchPath\": [{\"sourcePath\": \".\"}, {\"sourcePath\": \"/\", "
                "\"hidePaths\": [\"home\", \"proc\"]}]},\n"
                "  \"fileList\": \"sandstorm-files.list\",\n"
                "  \"alwaysInclude\": [] }");
        assert_json(template_src, "myCommand",
                "{ \"argv\": [\"/sandstorm-http-bridge\", \"8000\", \"--\", \"node\", \"main.js\"],\n"
                "  \"environ\": [\n"
                "    {\"key\": \"PATH\", \"value\": \"/usr/local/bin:/usr/bin:/bin\"},\n"
                "    {\"key\": \"SANDSTORM\", \"value\": \"1\"} ] }");
}

static void test_template_binary(void **state) {
        _cleanup_free_ uint8_t *msg = NULL;
        _cleanup_(capnp_message_done) CapnpMessage m = {};
        const char *type = NULL, *text;
        CapnpStruct root, manifest, cmd, action;
        CapnpList l;
        size_t size, used, len;

        assert_int_equal(capnp_text_eval_buffer("t.capnp", template_src, strlen(template_src), "pkgdef",
                                 &no_files, &type, &msg, &size, NULL, NULL),
                0);
        assert_string_equal(type, "PackageDefinition");
        assert_int_equal(size % 8, 0);
        /* Single segment, table included. */
        assert_int_equal(msg[0] | msg[1] | msg[2] | msg[3], 0);
        assert_int_equal(capnp_message_parse(&m, msg, size, NULL, &used), 0);
        assert_int_equal(used, size);
        assert_int_equal(m.n_segments, 1);
        assert_int_equal(capnp_message_root(&m, &root), 0);
        assert_int_equal(root.data_bytes, 0);
        assert_int_equal(root.n_ptrs, 6);

        assert_int_equal(capnp_struct_get_text(&root, 0, &text, &len), 0);
        assert_string_equal(text, "vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0");
        assert_int_equal(capnp_struct_get_struct(&root, 1, &manifest), 0);
        assert_int_equal(manifest.data_bytes, 16);
        assert_int_equal(manifest.n_ptrs, 5);
        assert_int_equal(capnp_struct_get_struct(&manifest, 1, &cmd), 0);
        assert_int_equal(capnp_struct_get_list(&cmd, 1, &l), 0);
        assert_int_equal(l.count, 5);
        assert_int_equal(capnp_list_get_text(&l, 4, &text, &len), 0);
        assert_string_equal(text, "main.js");
        assert_int_equal(capnp_struct_get_struct_list(&manifest, 0, &l), 0);
        assert_int_equal(l.count, 1);
        assert_int_equal(l.element_size, CAPNP_ELEMENT_COMPOSITE);
        assert_int_equal(capnp_list_get_struct(&l, 0, &action), 0);
        assert_int_equal(action.data_bytes, 8);
        assert_int_equal(action.n_ptrs, 5);
        /* fileList set, bridgeConfig not. */
        assert_true(capnp_struct_has(&root, 3));
        assert_false(capnp_struct_has(&root, 5));
        /* alwaysInclude = []: an empty list, not null. */
        assert_true(capnp_struct_has(&root, 4));
        assert_int_equal(capnp_message_error(&m), 0);
}

/* ---- literals ---- */

static void test_integers(void **state) {
        static const char src[] = HEADER "const a :UInt32 = 4294967295;\n"
                                         "const b :UInt32 = 0x1F;\n"
                                         "const c :UInt32 = 017;\n"
                                         "const d :Int8 = -128;\n"
                                         "const e :Int64 = -9223372036854775808;\n"
                                         "const f :UInt64 = 18446744073709551615;\n"
                                         "const g :Int16 = 0;\n"
                                         "const h :Int32 = -0;\n"
                                         "const i :UInt8 = 0x0;\n"
                                         "const j :List(Int32) = [1, -2, 0x7fffffff, -2147483648];\n"
                                         "const k :Float64 = -3;\n"
                                         "const l :Float32 = 16777217;\n"
                                         "const m :UInt16 = .b;\n"
                                         "const n :Int64 = .d;\n";

        assert_json(src, "a", "4294967295");
        assert_json(src, "b", "31");
        assert_json(src, "c", "15");
        assert_json(src, "d", "-128");
        assert_json(src, "e", "\"-9223372036854775808\"");
        assert_json(src, "f", "\"18446744073709551615\"");
        assert_json(src, "g", "0");
        assert_json(src, "h", "0");
        assert_json(src, "i", "0");
        assert_json(src, "j", "[1, -2, 2147483647, -2147483648]");
        assert_json(src, "k", "-3");
        assert_json(src, "l", "16777216");
        assert_json(src, "m", "31");
        assert_json(src, "n", "\"-128\"");
}

static void test_integer_errors(void **state) {
        assert_error(HEADER "const a :UInt8 = 256;\n", "a", -ERANGE,
                "t.capnp:3:18: integer 256 is out of range for UInt8");
        assert_error(HEADER "const a :Int8 = -129;\n", "a", -ERANGE,
                "t.capnp:3:18: integer -129 is out of range for Int8");
        assert_error(HEADER "const a :UInt64 = -1;\n", "a", -ERANGE,
                "t.capnp:3:20: integer -1 is out of range for UInt64");
        assert_error(HEADER "const a :Int64 = 9223372036854775808;\n", "a", -ERANGE,
                "t.capnp:3:18: integer 9223372036854775808 is out of range for Int64");
        assert_error(HEADER "const a :UInt64 = 18446744073709551616;\n", "a", -ERANGE,
                "t.capnp:3:19: integer literal is too large");
        assert_error(HEADER "const a :UInt64 = 0x10000000000000000;\n", "a", -ERANGE,
                "t.capnp:3:19: integer literal is too large");
        assert_error(HEADER "const a :Int64 = -9223372036854775809;\n", "a", -ERANGE,
                "t.capnp:3:19: integer is too big to be negative");
        assert_error(HEADER "const a :UInt8 = .b;\nconst b :UInt16 = 300;\n", "a", -ERANGE,
                "t.capnp:3:18: integer 300 is out of range for UInt8");
        assert_error(HEADER "const a :UInt32 = 1.0;\n", "a", -EINVAL,
                "t.capnp:3:19: expected UInt32, got a floating-point number");
        assert_error(HEADER "const a :UInt32 = 1x;\n", "a", -EINVAL, "t.capnp:3:19: invalid number");
        assert_error(
                HEADER "const a :Text = 5;\n", "a", -EINVAL, "t.capnp:3:17: expected Text, got an integer");
}

static void test_floats(void **state) {
        static const char src[] = HEADER "const a :Float64 = 0.1;\n"
                                         "const b :Float32 = 0.1;\n"
                                         "const c :List(Float64) = [1e21, 100.0, 1.0e-7, 123456789012.0, "
                                         "1e16, 1e15, 0.5, -0.0, inf, -inf, nan,"
                                         " 1.7976931348623157e308, 5e-324, 2.5e-5, 123.456, 1., 2E+3];\n"
                                         "const d :Float32 = 3;\n";

        assert_json(src, "a", "0.1");
        assert_json(src, "b", "0.10000000149011612");
        assert_json(src, "c",
                "[1e21, 100, 1e-07, 123456789012, 1e16, 1e15, 0.5, -0, \"Infinity\", \"-Infinity\", "
                "\"NaN\", "
                "1.7976931348623157e308, 4.94065645841247e-324, 2.5e-05, 123.456, 1, 2000]");
        assert_json(src, "d", "3");
        assert_error(HEADER "const a :Float64 = 1e;\n", "a", -EINVAL, "t.capnp:3:20: invalid number");
        assert_error(HEADER "const a :Float64 = 1.5.3;\n", "a", -EINVAL, "t.capnp:3:20: invalid number");
        assert_error(
                HEADER "const a :UInt8 = inf;\n", "a", -EINVAL, "t.capnp:3:18: expected UInt8, got inf");
}

static void test_strings(void **state) {
        static const char src[] = HEADER "const a :Text = \"\\a\\b\\f\\n\\r\\t\\v \\\\ \\\" \\' \\? "
                                         "\\x41\\x7e \\101\\60\\0z \\x00 done\";\n"
                                         "const b :Text = \"adjacent \" \"strings\"   \"\";\n"
                                         "const c :Text = \"ünïcödé ✓\";\n"
                                         "const d :Text = \"\";\n"
                                         "const e :Data = \"ab\\xff\";\n"
                                         "const f :Data = 0x\"00 01fe\n  FF\";\n"
                                         "const g :Data = \"\";\n"
                                         "const h :List(Data) = [\"a\", 0x\"62\"];\n"
                                         "const i :Text = \"\\1234\";\n";

        assert_json(src, "a", "\"\\u0007\\b\\f\\n\\r\\t\\u000b \\\\ \\\" ' ? A~ A0\\u0000z \\u0000 done\"");
        assert_json(src, "b", "\"adjacent strings\"");
        assert_json(src, "c", "\"ünïcödé ✓\"");
        assert_json(src, "d", "\"\"");
        assert_json(src, "e", "[97, 98, 255]");
        assert_json(src, "f", "[0, 1, 254, 255]");
        assert_json(src, "g", "[]");
        assert_json(src, "h", "[[97], [98]]");
        /* Octal escapes take at most three digits. */
        assert_json(src, "i", "\"S4\"");

        assert_error(HEADER "const a :Text = \"bad \\q\";\n", "a", -EINVAL,
                "t.capnp:3:23: invalid escape sequence '\\q'");
        assert_error(HEADER "const a :Text = \"\\x4\";\n", "a", -EINVAL,
                "t.capnp:3:18: \\x must be followed by two hex digits");
        assert_error(
                HEADER "const a :Text = \"no end\n\";\n", "a", -EINVAL, "t.capnp:3:17: unterminated string");
        assert_error(HEADER "const a :Text = 0x\"00\";\n", "a", -EINVAL,
                "t.capnp:3:17: expected Text, got a Data literal");
        assert_error(HEADER "const a :Data = 0x\"0\";\n", "a", -EINVAL,
                "t.capnp:3:20: expected two hex digits per byte in Data literal");
        assert_error(HEADER "const a :Data = 0x\"\";\n", "a", -EINVAL,
                "t.capnp:3:17: empty Data literal; write \"\" for empty Data");
        assert_error(HEADER "const a :Data = \"x\" 0x\"00\";\n", "a", -EINVAL,
                "t.capnp:3:21: expected ';', got a Data literal");
}

static void test_bool_void_enum_lists(void **state) {
        static const char src[] =
                HEADER "using Powerbox = import \"/sandstorm/powerbox.capnp\";\n"
                       "const a :Bool = true;\n"
                       "const b :List(Bool) = [true, false, false, true, true, false, true, false, true];\n"
                       "const c :Void = void;\n"
                       "const d :List(Void) = [void, void];\n"
                       "const e :Spk.Category = developerTools;\n"
                       "const f :List(Spk.Category) = [other, graphics, social,];\n"
                       "const g :List(List(Text)) = [[\"a\"], [], [\"b\", \"c\"]];\n"
                       "const h :Powerbox.PowerboxDescriptor.MatchQuality = preferred;\n"
                       "const i :List(Spk.Manifest.Command) = [(argv = [\"x\"]), ()];\n";

        assert_json(src, "a", "true");
        assert_json(src, "b", "[true, false, false, true, true, false, true, false, true]");
        assert_json(src, "c", "null");
        assert_json(src, "d", "[null, null]");
        assert_json(src, "e", "\"developerTools\"");
        assert_json(src, "f", "[\"other\", \"graphics\", \"social\"]");
        assert_json(src, "g", "[[\"a\"], [], [\"b\", \"c\"]]");
        assert_json(src, "h", "\"preferred\"");
        assert_json(src, "i", "[{\"argv\": [\"x\"]}, {}]");

        assert_error(HEADER "const a :Spk.Category = cooking;\n", "a", -EINVAL,
                "t.capnp:3:25: 'cooking' is not an enumerant of Category");
        assert_error(HEADER "const a :Spk.Category = true;\n", "a", -EINVAL,
                "t.capnp:3:25: 'true' is not an enumerant of Category");
        assert_error(
                HEADER "const a :Bool = 1;\n", "a", -EINVAL, "t.capnp:3:17: expected Bool, got an integer");
        assert_error(HEADER "const a :List(Text) = [\"a\", 1];\n", "a", -EINVAL,
                "t.capnp:3:29: expected Text, got an integer");
        assert_error(HEADER "const a :List(Text) = [\"a\",, \"b\"];\n", "a", -EINVAL,
                "t.capnp:3:28: expected a value, got ','");
        assert_error(HEADER "const a :List(Text) = [x = \"a\"];\n", "a", -EINVAL,
                "t.capnp:3:26: expected ',' or ']', got '='");
}

/* ---- structs, unions, groups ---- */

static void test_unions_and_groups(void **state) {
        static const char src[] = HEADER
                "const a :Spk.Metadata = (license = (openSource = apache2, notices = (defaultText = "
                "\"n\")));\n"
                "const b :Spk.Metadata = (icons = (appGrid = (png = (dpi2x = \"x\"))), author = ());\n"
                "const c :Spk.Metadata.Icon = ();\n"
                "const d :Spk.Metadata.Icon = (svg = \"<svg/>\");\n"
                "const e :Spk.Metadata.Screenshot = (png = \"p\", width = 2);\n"
                "const f :Spk.Manifest.Action = (input = (capability = []));\n"
                "const g :Spk.Metadata = (license = (proprietary = ()));\n";

        assert_json(src, "a",
                "{ \"icons\": {},\n"
                "  \"license\": {\"notices\": {\"defaultText\": \"n\"}, \"openSource\": \"apache2\"},\n"
                "  \"author\": {} }");
        assert_json(src, "b",
                "{\"icons\": {\"appGrid\": {\"png\": {\"dpi2x\": [120]}}}, \"license\": {\"none\": null}, "
                "\"author\": {}}");
        assert_json(src, "c", "{\"unknown\": null}");
        assert_json(src, "d", "{\"svg\": \"<svg/>\"}");
        assert_json(src, "e", "{\"width\": 2, \"height\": 0, \"png\": [112]}");
        assert_json(src, "f", "{\"input\": {\"capability\": []}}");
        assert_json(src, "g", "{\"icons\": {}, \"license\": {\"proprietary\": {}}, \"author\": {}}");

        assert_error(HEADER "const a :Spk.Metadata = (license = (none = void, openSource = mit));\n", "a",
                -EINVAL,
                "t.capnp:3:50: 'openSource' and 'none' (at 3:37) are members of the same union; only one "
                "can be set");
        assert_error(HEADER "const a :Spk.Metadata.Icon = (svg = \"a\", png = (dpi1x = \"b\"));\n", "a",
                -EINVAL,
                "t.capnp:3:42: 'png' and 'svg' (at 3:31) are members of the same union; only one can be "
                "set");
        assert_error(HEADER "const a :Spk.Metadata = (website = \"a\",\n  website = \"b\");\n", "a", -EINVAL,
                "t.capnp:4:3: field 'website' is already set (at 3:26)");
        assert_error(HEADER "const a :Spk.Metadata = (author = \"me\");\n", "a", -EINVAL,
                "t.capnp:3:35: expected a group, ( … ), for 'author'");
        assert_error(HEADER "const a :Spk.Metadata = (authors = ());\n", "a", -EINVAL,
                "t.capnp:3:26: Metadata has no field named 'authors'");
        assert_error(HEADER "const a :Spk.Metadata = (license = (notice = ()));\n", "a", -EINVAL,
                "t.capnp:3:37: Metadata.license has no field named 'notice'");
        assert_error(HEADER "const a :Spk.Metadata = (\"x\");\n", "a", -EINVAL,
                "t.capnp:3:26: expected Metadata, got a string");
        assert_error(HEADER "const a :Spk.Metadata = (website = \"x\", \"y\");\n", "a", -EINVAL,
                "t.capnp:3:41: missing field name: write (name = value, …)");
        assert_error(HEADER "const a :Spk.Manifest = (appTitle = (defaultText = (x = 1)));\n", "a", -EINVAL,
                "t.capnp:3:52: expected Text, got a struct literal");
        assert_error(HEADER "const a :Spk.Manifest = (appTitle = [\"x\"]);\n", "a", -EINVAL,
                "t.capnp:3:37: expected LocalizedText, got a list");
}

/* ---- names and references ---- */

static void test_references(void **state) {
        static const char src[] = HEADER
                "using Util = import \"/sandstorm/util.capnp\";\n"
                "using Cmd = Spk.Manifest.Command;\n"
                "using Self = .title;\n"
                "const title :Util.LocalizedText = (defaultText = \"T\");\n"
                "const a :Spk.Manifest = (appTitle = .title, appMarketingVersion = .title);\n"
                "const b :Cmd = (argv = .args);\n"
                "const args :List(Text) = [\"x\", .word];\n"
                "const word :Text = \"w\";\n"
                "const c :UInt64 = Spk.Manifest.sizeLimitInWords;\n"
                "const d :Data = Spk.magicNumber;\n"
                "const e :Util.LocalizedText = import \"/sandstorm/package.capnp\".pkgdefDoesNotExist;\n"
                "const f :List(Bool) = import \"/sandstorm/identity.capnp\".PermissionSet;\n"
                "const g :Util.LocalizedText = Self;\n";

        /* Many short fields stay on one line, however long it gets. */
        assert_json(src, "a",
                "{\"minApiVersion\": 0, \"maxApiVersion\": 0, \"appVersion\": 0, "
                "\"minUpgradableAppVersion\": 0, "
                "\"appMarketingVersion\": {\"defaultText\": \"T\"}, \"appTitle\": {\"defaultText\": "
                "\"T\"}}");
        assert_json(src, "b", "{\"argv\": [\"x\", \"w\"]}");
        assert_json(src, "c", "\"1048576\"");
        assert_json(src, "d", "[143, 198, 205, 239, 69, 26, 234, 150]");
        assert_error(src, "e", -ENOENT,
                "t.capnp:13:65: 'pkgdefDoesNotExist' is not defined in /sandstorm/package.capnp");
        assert_error(src, "f", -EINVAL,
                "t.capnp:14:23: 'import \"/sandstorm/identity.capnp\".PermissionSet' does not refer to a "
                "constant");
        assert_error(src, "g", -EINVAL,
                "t.capnp:15:31: constant names must be qualified: write '.Self' for the constant of this "
                "file");

        assert_error(HEADER "const a :Text = b;\nconst b :Text = \"x\";\n", "a", -EINVAL,
                "t.capnp:3:17: constant names must be qualified: write '.b' for the constant of this file");
        assert_error(HEADER "const a :Text = .b;\n", "a", -ENOENT,
                "t.capnp:3:18: 'b' is not defined in this file");
        assert_error(HEADER "const a :Text = b;\n", "a", -ENOENT, "t.capnp:3:17: 'b' is not defined");
        assert_error(HEADER "const a :Text = .b;\nconst b :Text = .a;\n", "a", -ELOOP,
                "t.capnp:3:7: constant 'a' is defined in terms of itself");
        assert_error(HEADER "using A = B;\nusing B = A;\nconst a :A = ();\n", "a", -ELOOP,
                "t.capnp:3:11: names refer to each other too deeply (a cycle of 'using'?)");
        assert_error(HEADER "const a :Spk.Manifest.Command = .b;\nconst b :Spk.Manifest = ();\n", "a",
                -EINVAL, "t.capnp:3:33: expected Manifest.Command, got a constant of type Manifest");
        assert_error(HEADER "const a :Spk.Category = .b;\nconst b :Spk.Category = office;\n", "a", -EINVAL,
                "t.capnp:3:25: expected Category, got a constant of enum type, which Cap'n Proto cannot use "
                "as a value");
        assert_error(HEADER "const a :Spk.Nothing = ();\n", "a", -ENOENT,
                "t.capnp:3:14: 'Nothing' is not defined in /sandstorm/package.capnp");
        assert_error(HEADER "const a :Spk.Manifest.Foo = ();\n", "a", -ENOENT,
                "t.capnp:3:23: 'Manifest' has no member named 'Foo'");
        assert_error(HEADER "const a :Spk.magicNumber = ();\n", "a", -EINVAL,
                "t.capnp:3:10: 'Spk.magicNumber' is not a type");
        assert_error(HEADER "const a :List = [];\n", "a", -EINVAL,
                "t.capnp:3:10: List needs an element type: List(T)");
        assert_error(HEADER "const a :List(Text, Data) = [];\n", "a", -EINVAL,
                "t.capnp:3:14: List takes exactly one type: List(T)");
        assert_error(HEADER "struct Local { x @0 :Text; }\nconst a :Local = ();\n", "a", -EOPNOTSUPP,
                "t.capnp:4:10: 'Local' is a struct defined in a text file; only the types of the built-in "
                "Sandstorm schemas can be used");
        assert_error(HEADER "const a :Text = \"x\";\nconst a :Text = \"y\";\n", "a", -EINVAL,
                "t.capnp:4:7: 'a' is already defined in this file");
        assert_error(HEADER "const A :Text = \"x\";\n", "A", -EINVAL,
                "t.capnp:3:7: constant names must begin with a lower-case letter");
        assert_error(HEADER "const a_b :Text = \"x\";\n", "a_b", -EINVAL,
                "t.capnp:3:7: names must be camelCase and must not contain underscores, as Cap'n Proto "
                "requires");
        assert_error(HEADER "using util = import \"/sandstorm/util.capnp\";\n", "a", -EINVAL,
                "t.capnp:3:7: names of imports must begin with a capital letter");
}

static void test_imports_builtin(void **state) {
        static const char src[] =
                "@0xd5a1f1e2b3c4d5e6;\n"
                "using G = import \"/sandstorm/grain.capnp\";\n"
                "using P = import \"/sandstorm/powerbox.capnp\";\n"
                "using A = import \"/sandstorm/api-session.capnp\";\n"
                "using I = import \"/sandstorm/identity.capnp\";\n"
                "using X = import \"/sandstorm/activity.capnp\";\n"
                "const a :G.UiView.ViewInfo = (permissions = [(name = \"e\", obsolete = true)], "
                "deniedPermissions = [true]);\n"
                "const b :A.ApiSession.PowerboxTag = (oauthScopes = [(name = \"s\")]);\n"
                "const c :X.ActivityTypeDef = (requiredPermission = (explicitList = void));\n"
                "const d :I.Identity.PowerboxTag = (permissions = [false]);\n"
                "const e :P.PowerboxDescriptor = (tags = [(id = 0xc879e379c625cdc7)]);\n"
                "const f :G.RoleDef = (default = true);\n";

        assert_json(src, "a",
                "{\"permissions\": [{\"obsolete\": true, \"name\": \"e\"}], \"deniedPermissions\": [true]}");
        assert_json(src, "b", "{\"oauthScopes\": [{\"name\": \"s\"}]}");
        /* The named union is a group: it sits at its lowest ordinal, before obsolete @6. */
        assert_json(src, "c",
                "{\"requiredPermission\": {\"explicitList\": null}, \"obsolete\": false, "
                "\"notifySubscribers\": false, "
                "\"autoSubscribeToThread\": false, \"autoSubscribeToGrain\": false, \"suppressUnread\": "
                "false}");
        assert_json(src, "d", "{\"permissions\": [false]}");
        assert_json(
                src, "e", "{\"tags\": [{\"id\": \"14445827391922490823\"}], \"quality\": \"acceptable\"}");
        assert_json(src, "f", "{\"obsolete\": false, \"default\": true}");
        assert_error("@0xd5a1f1e2b3c4d5e6;\nusing W = import \"/sandstorm/web-session.capnp\";\nconst a "
                     ":W.X = ();\n",
                "a", -ENOENT,
                "t.capnp:2:18: cannot find '/sandstorm/web-session.capnp'; built in are "
                "/sandstorm/{package,util,grain,powerbox,api-session,identity,activity}.capnp");
}

/* ---- AnyPointer ---- */

static void test_any_pointer(void **state) {
        static const char src[] =
                HEADER "using P = import \"/sandstorm/powerbox.capnp\";\n"
                       "using G = import \"/sandstorm/grain.capnp\";\n"
                       "const tag :P.PowerboxDescriptor.Tag = (id = 5, value = .v);\n"
                       "const v :G.UiView.PowerboxTag = (title = \"t\");\n"
                       "const list :P.PowerboxDescriptor.Tag = (value = .words);\n"
                       "const words :List(Text) = [\"a\"];\n"
                       "const none :P.PowerboxDescriptor.Tag = (id = 1);\n"
                       "const bad1 :P.PowerboxDescriptor.Tag = (value = \"x\");\n"
                       "const bad2 :P.PowerboxDescriptor.Tag = (value = (title = \"t\"));\n"
                       "const bad3 :P.PowerboxDescriptor.Tag = (value = .w);\nconst w :Text = \"x\";\n";
        _cleanup_free_ uint8_t *msg = NULL;
        _cleanup_(capnp_message_done) CapnpMessage m = {};
        CapnpStruct root, value;
        const char *text;
        size_t size, used, len;

        assert_int_equal(capnp_text_eval_buffer("t.capnp", src, strlen(src), "tag", &no_files, NULL, &msg,
                                 &size, NULL, NULL),
                0);
        assert_int_equal(capnp_message_parse(&m, msg, size, NULL, &used), 0);
        assert_int_equal(capnp_message_root(&m, &root), 0);
        assert_int_equal(capnp_struct_get_u64(&root, 0), 5);
        assert_int_equal(capnp_struct_get_struct(&root, 0, &value), 0);
        assert_int_equal(value.n_ptrs, 1);
        assert_int_equal(capnp_struct_get_text(&value, 0, &text, &len), 0);
        assert_string_equal(text, "t");

        assert_error(src, "tag", -EOPNOTSUPP,
                "t.capnp: 'tag' holds an AnyPointer or capability value, which Cap'n Proto's JSON cannot "
                "encode");
        assert_error(src, "list", -EOPNOTSUPP,
                "t.capnp: 'list' holds an AnyPointer or capability value, which Cap'n Proto's JSON cannot "
                "encode");
        assert_json(src, "none", "{\"id\": \"1\"}");
        assert_error(src, "bad1", -EINVAL, "t.capnp:10:49: expected AnyPointer, got a string");
        assert_error(src, "bad2", -EINVAL, "t.capnp:11:49: expected AnyPointer, got a struct literal");
        assert_error(
                src, "bad3", -EINVAL, "t.capnp:12:49: expected AnyPointer, got a constant of type Text");
}

/* ---- syntax ---- */

static void test_syntax(void **state) {
        static const char bom[] =
                "\xef\xbb\xbf@0xd5a1f1e2b3c4d5e6 # id\r\n;\r\n"
                "annotation note @0xd1b2c3d4e5f60718 (*) :Text;\r\n"
                "$note(\"file\");\r\n"
                "struct S { a @0 :Text; inner :group { b @1 :Bool; } }\r\n"
                "enum E { x @0; }\r\n"
                "interface I { m @0 () -> (); }\r\n"
                "const\ta\t:Text=\"x\"$note(\"c\") $note ( \"d\" );\r\n"
                "const b :List(Text) = [ # comment\r\n \"a\" , # c\r\n ( \"b\" ) , ] ;\r\n";

        assert_json(bom, "a", "\"x\"");
        assert_json(bom, "b", "[\"a\", \"b\"]");

        assert_error("const a :Text = \"x\";\n", "a", -EINVAL,
                "t.capnp:1:1: file does not declare an id; add a line '@0x…;' with one from 'capnp id'");
        assert_error("@0x1234567890abcdef;\n", "a", -EINVAL,
                "t.capnp:1:2: invalid file id: the top bit must be set (generate one with 'capnp id')");
        assert_error("@0xd5a1f1e2b3c4d5e6;\n@0xd5a1f1e2b3c4d5e6;\n", "a", -EINVAL,
                "t.capnp:2:1: file can only have one id");
        assert_error(HEADER "const a :Text = \"x\"\n", "a", -EINVAL,
                "t.capnp:4:1: expected ';', got end of file");
        assert_error(HEADER "const a :Text = (\"x\";\n", "a", -EINVAL,
                "t.capnp:3:21: expected ',' or ')', got ';'");
        /* An operator run ends at a quote: this is "=" and a string. */
        assert_json(HEADER "const a :Text =\"x\";\n", "a", "\"x\"");
        assert_error(HEADER "const a :\"Text\" = \"x\";\n", "a", -EINVAL, "t.capnp:3:10: expected a type");
        assert_error(HEADER "const a :Text =.b;\n", "a", -EINVAL, "t.capnp:3:15: expected '=', got '=.'");
        assert_error(HEADER "const a :Text = ~;\n", "a", -EINVAL, "t.capnp:3:17: expected a value, got '~'");
        assert_error(
                HEADER "const a :Text = \"x\"; `\n", "a", -EINVAL, "t.capnp:3:22: unexpected character '`'");
        assert_error(HEADER "const a :Text = \"x\";\n\xff\xfe", "a", -EINVAL,
                "t.capnp:4:1: non-UTF-8 input; Cap'n Proto schema files must be UTF-8 text");
        assert_error(HEADER "foo bar;\n", "a", -EINVAL,
                "t.capnp:3:1: expected a declaration ('using', 'const', …), got 'foo'");
        assert_error(HEADER "struct S { x @0 :Text;\n", "a", -EINVAL, "t.capnp:4:1: unexpected end of file");
        assert_error(HEADER "const a :Text = - 5;\n", "a", -EINVAL,
                "t.capnp:3:19: expected Text, got an integer");
        assert_error(HEADER "const a :Text = -x;\n", "a", -EINVAL,
                "t.capnp:3:18: expected a number after '-', got 'x'");
        assert_error(HEADER "const a :Text = \"x\";\n", "b", -ENOENT, "t.capnp: 'b' is not defined");
        assert_error(
                HEADER "const a :Text = \"x\";\n", "Spk", -EINVAL, "t.capnp:2:7: 'Spk' is not a constant");
}

static void test_non_struct_binary_refused(void **state) {
        static const char src[] = HEADER "const a :Text = \"x\";\n";
        _cleanup_free_ uint8_t *msg = NULL;
        _cleanup_free_ char *error = NULL;
        size_t size = 0;

        assert_int_equal(capnp_text_eval_buffer("t.capnp", src, strlen(src), "a", &no_files, NULL, &msg,
                                 &size, NULL, &error),
                -EINVAL);
        assert_string_equal(error, "t.capnp: 'a' is not a struct constant (its type is Text)");
        assert_null(msg);
        assert_int_equal(size, 0);
}

/* ---- limits ---- */

static void test_limits(void **state) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        char expected[128];

        /* Syntactic nesting. */
        assert_int_equal(strbuf_append_str(&b, HEADER "const a :Text = "), 0);
        for (unsigned i = 0; i <= CAPNP_TEXT_MAX_DEPTH; i++)
                assert_int_equal(strbuf_append_char(&b, '['), 0);
        snprintf(expected, sizeof(expected), "t.capnp:3:%u: nesting deeper than %u levels",
                17 + CAPNP_TEXT_MAX_DEPTH, CAPNP_TEXT_MAX_DEPTH);
        assert_error(b.data, "a", -ELOOP, expected);

        /* Value nesting through references: each constant adds 8 levels, none alone is too deep. */
        strbuf_truncate(&b, 0);
        assert_int_equal(strbuf_append_str(
                                 &b, HEADER "const c0 :List(List(List(List(List(List(List(List(Text)))))))) "
                                            "= [[[[[[[[\"x\"]]]]]]]];\n"),
                0);
        assert_int_equal(
                strbuf_append_str(&b, "const c1 "
                                      ":List(List(List(List(List(List(List(List(List(List(List(List(List("
                                      "List(List(List(Text)))))))))))))))) = [[[[[[[[.c0]]]]]]]];\n"),
                0);
        assert_int_equal(strbuf_append_str(&b, "using L16 = "
                                               "List(List(List(List(List(List(List(List(List(List(List(List("
                                               "List(List(List(List(Text))))))))))))))));\n"),
                0);
        assert_int_equal(
                strbuf_append_str(&b, "const c2 :List(List(List(List(List(List(List(List(L16)))))))) = "
                                      "[[[[[[[[.c1]]]]]]]];\n"),
                0);
        assert_int_equal(
                strbuf_append_str(&b, "const c3 "
                                      ":List(List(List(List(List(List(List(List(List(List(List(List(List("
                                      "List(List(List(L16)))))))))))))))) = [[[[[[[[.c2]]]]]]]];\n"),
                0);
        assert_json(b.data, "c1", "[[[[[[[[[[[[[[[[\"x\"]]]]]]]]]]]]]]]]");
        assert_error(b.data, "c3", -ELOOP, "t.capnp:7:113: value nests deeper than 32 levels");

        /* A long string. */
        strbuf_truncate(&b, 0);
        assert_int_equal(strbuf_append_str(&b, HEADER "const a :Text = \""), 0);
        for (unsigned i = 0; i < CAPNP_TEXT_MAX_STRING / 1024 + 1; i++)
                assert_int_equal(strbuf_printf(&b, "%01024d", 0), 0);
        assert_int_equal(strbuf_append_str(&b, "\";\n"), 0);
        snprintf(expected, sizeof(expected), "t.capnp:3:17: string is longer than %u bytes",
                CAPNP_TEXT_MAX_STRING);
        assert_error(b.data, "a", -E2BIG, expected);

        /* Buffers are read only within their length. */
        {
                static const char src[] = HEADER "const a :Text = \"x\";";
                _cleanup_free_ char *copy = malloc(sizeof(src) - 1);
                _cleanup_strbuf_ StrBuf out = STRBUF_INIT;

                memcpy(copy, src, sizeof(src) - 1);
                assert_int_equal(capnp_text_eval_buffer("t.capnp", copy, sizeof(src) - 1, "a", &no_files,
                                         NULL, NULL, NULL, &out, NULL),
                        0);
                assert_string_equal(out.data, "\"x\"");
        }
}

static void test_message_limit(void **state) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        char expected[128];

        /* Each level holds four copies of the one below: 4^12 texts of 1 KiB each is far beyond the
         * message limit, yet the source is tiny. */
        assert_int_equal(strbuf_append_str(&b, HEADER "const l0 :Text = \""), 0);
        for (unsigned i = 0; i < 64; i++)
                assert_int_equal(strbuf_append_str(&b, "0123456789abcdef"), 0);
        assert_int_equal(strbuf_append_str(&b, "\";\n"), 0);
        assert_int_equal(strbuf_append_str(&b, "using T0 = Text;\n"), 0);
        for (unsigned i = 1; i <= 12; i++) {
                assert_int_equal(strbuf_printf(&b, "using T%u = List(T%u);\n", i, i - 1), 0);
                assert_int_equal(strbuf_printf(&b, "const l%u :T%u = [.l%u, .l%u, .l%u, .l%u];\n", i, i,
                                         i - 1, i - 1, i - 1, i - 1),
                        0);
        }
        snprintf(expected, sizeof(expected), "t.capnp: the value takes more than %u bytes encoded",
                CAPNP_TEXT_MAX_MESSAGE_WORDS * 8u);
        assert_error(b.data, "l12", -E2BIG, expected);
}

/* ---- files ---- */

static char *tmpdir;

static int setup_files(void **state) {
        char t[] = "/tmp/test-capnp-text.XXXXXX";
        _cleanup_free_ char *sub = NULL;

        assert_non_null(mkdtemp(t));
        tmpdir = strdup(t);
        sub = path_join(tmpdir, "sub");
        assert_int_equal(mkdir(sub, 0755), 0);
        return 0;
}

static int teardown_files(void **state) {
        int r = rm_rf_path(tmpdir);

        free(tmpdir);
        tmpdir = NULL;
        return r < 0 ? -1 : 0;
}

static void write_file(const char *name, const void *data, size_t size) {
        _cleanup_free_ char *p = path_join(tmpdir, name);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, data, size), 0);
}

static void write_text(const char *name, const char *text) {
        write_file(name, text, strlen(text));
}

static void test_files(void **state) {
        _cleanup_free_ char *main_path = path_join(tmpdir, "main.capnp"), *error = NULL;
        _cleanup_free_ char *abs_dir = path_join(tmpdir, "sub");
        char *const import_path[] = {abs_dir, NULL};
        const CapnpTextOptions opts = {.import_path = import_path};
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        char expected[512];

        write_text("desc.md", "# Hello\n\tworld \"quoted\"\n");
        write_file("binary.bin", "\x00\x01\xff", 3);
        write_file("bad.txt", "\xc3\x28", 2);
        write_file("nul.txt", "a\0b", 3);
        write_text("sub/note.txt", "from the import path");
        write_text("sub/other.capnp",
                HEADER "using Deeper = import \"deeper.capnp\";\n"
                       "const cmd :Spk.Manifest.Command = (argv = [Deeper.word, embed \"../desc.md\"]);\n");
        write_text("sub/deeper.capnp", "@0xd5a1f1e2b3c4d5e7;\nconst word :Text = \"deep\";\n");
        write_text("main.capnp", HEADER "using Other = import \"sub/other.capnp\";\n"
                                        "const a :Spk.Metadata = (description = (defaultText = embed "
                                        "\"desc.md\"), pgpKeyring = embed \"binary.bin\");\n"
                                        "const b :Spk.Manifest.Command = Other.cmd;\n"
                                        "const c :Text = embed \"/note.txt\";\n"
                                        "const d :Text = embed \"bad.txt\";\n"
                                        "const e :Text = embed \"nul.txt\";\n"
                                        "const f :Text = embed \"missing.txt\";\n"
                                        "const g :Spk.Manifest.Command = import \"missing.capnp\".cmd;\n"
                                        "const h :UInt32 = embed \"desc.md\";\n"
                                        "const i :Spk.Manifest = embed \"binary.bin\";\n"
                                        "const j :Data = embed \"/missing\";\n");

        assert_int_equal(capnp_text_eval_json(main_path, "a", &opts, &out, NULL), 0);
        assert_string_equal(out.data,
                "{ \"icons\": {},\n"
                "  \"license\": {\"none\": null},\n"
                "  \"author\": {},\n"
                "  \"pgpKeyring\": [0, 1, 255],\n"
                "  \"description\": {\"defaultText\": \"# Hello\\n\\tworld \\\"quoted\\\"\\n\"} }");
        strbuf_truncate(&out, 0);
        assert_int_equal(capnp_text_eval_json(main_path, "b", &opts, &out, NULL), 0);
        assert_string_equal(out.data, "{\"argv\": [\"deep\", \"# Hello\\n\\tworld \\\"quoted\\\"\\n\"]}");
        strbuf_truncate(&out, 0);
        assert_int_equal(capnp_text_eval_json(main_path, "c", &opts, &out, NULL), 0);
        assert_string_equal(out.data, "\"from the import path\"");

#define FAILS(name, r, fmt, ...)                                                                            \
        do {                                                                                                \
                strbuf_truncate(&out, 0);                                                                   \
                free(error);                                                                                \
                error = NULL;                                                                               \
                assert_int_equal(capnp_text_eval_json(main_path, name, &opts, &out, &error), r);            \
                snprintf(expected, sizeof(expected), fmt, __VA_ARGS__);                                     \
                assert_string_equal(error, expected);                                                       \
        } while (0)

        FAILS("d", -EINVAL, "%s:7:23: embedded file '%s/bad.txt' is not valid UTF-8, as Text must be",
                main_path, tmpdir);
        FAILS("e", -EINVAL, "%s:8:23: embedded file '%s/nul.txt' contains a NUL byte, not allowed in Text",
                main_path, tmpdir);
        FAILS("f", -ENOENT, "%s:9:23: cannot read embedded file '%s/missing.txt': No such file or directory",
                main_path, tmpdir);
        FAILS("g", -ENOENT,
                "%s:10:40: cannot read imported file '%s/missing.capnp': No such file or directory",
                main_path, tmpdir);
        FAILS("h", -EINVAL, "%s:11:19: embed can only be used where Text or Data is expected, not %s",
                main_path, "UInt32");
        FAILS("i", -EOPNOTSUPP, "%s:12:25: embedding a binary message as a struct is not supported%s",
                main_path, "");
        FAILS("j", -ENOENT, "%s:13:23: cannot find embedded file '/missing' in the import path%s", main_path,
                "");

        /* A missing top-level file. */
        free(error);
        error = NULL;
        assert_int_equal(capnp_text_eval_json("/nonexistent/x.capnp", "a", &opts, &out, &error), -ENOENT);
        assert_string_equal(error, "/nonexistent/x.capnp: No such file or directory");

        /* With files disabled, embeds and imports of user files are refused, the built-in schemas are not.
         */
        {
                static const char src[] = HEADER "const a :Text = embed \"desc.md\";\n"
                                                 "const b :Text = import \"x.capnp\".c;\n";
                assert_error(src, "a", -EPERM, "t.capnp:3:23: embedding files is disabled");
                assert_error(src, "b", -EPERM, "t.capnp:4:24: importing other files is disabled");
        }
}

/* ---- invariants ---- */

/* Every successful evaluation gives a message that parses and renders the same JSON twice. */
static void test_roundtrip(void **state) {
        _cleanup_free_ uint8_t *msg = NULL;
        _cleanup_strbuf_ StrBuf a = STRBUF_INIT, b = STRBUF_INIT, direct = STRBUF_INIT;
        _cleanup_(capnp_message_done) CapnpMessage m = {};
        const char *type;
        CapnpStruct root;
        size_t size, used;

        assert_int_equal(capnp_text_eval_buffer("t.capnp", template_src, strlen(template_src), "pkgdef",
                                 &no_files, &type, &msg, &size, NULL, NULL),
                0);
        assert_int_equal(capnp_message_parse(&m, msg, size, NULL, &used), 0);
        assert_int_equal(capnp_message_root(&m, &root), 0);
        assert_int_equal(capnp_json_write_struct(&a, &root, type, CAPNP_JSON_COMPACT), 0);
        /* Reading charges the message's traversal budget: read it afresh. */
        capnp_message_done(&m);
        assert_int_equal(capnp_message_parse(&m, msg, size, NULL, &used), 0);
        assert_int_equal(capnp_message_root(&m, &root), 0);
        assert_int_equal(capnp_json_write_struct(&b, &root, type, CAPNP_JSON_COMPACT), 0);
        assert_string_equal(a.data, b.data);
        assert_int_equal(capnp_text_eval_buffer("t.capnp", template_src, strlen(template_src), "pkgdef",
                                 &no_files, NULL, NULL, NULL, &direct, NULL),
                0);
        assert_string_equal(a.data, direct.data);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_template_json),
                cmocka_unit_test(test_template_binary),
                cmocka_unit_test(test_integers),
                cmocka_unit_test(test_integer_errors),
                cmocka_unit_test(test_floats),
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_bool_void_enum_lists),
                cmocka_unit_test(test_unions_and_groups),
                cmocka_unit_test(test_references),
                cmocka_unit_test(test_imports_builtin),
                cmocka_unit_test(test_any_pointer),
                cmocka_unit_test(test_syntax),
                cmocka_unit_test(test_non_struct_binary_refused),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_message_limit),
                cmocka_unit_test_setup_teardown(test_files, setup_files, teardown_files),
                cmocka_unit_test(test_roundtrip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
