/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "spk/pkgdef.h"

#define FULL TEST_DATA_DIR "/pkgdef-full.capnp"

static const char header[] = "@0xc3c8f1a2b4d5e6f8;\n"
                             "using Spk = import \"/sandstorm/package.capnp\";\n";
static const char good_id[] = "id = \"vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0\", ";
static const char good_manifest[] = "manifest = (appTitle = (defaultText = \"T\"), "
                                    "appMarketingVersion = (defaultText = \"1\"))";

typedef struct Fixture {
        char dir[64];
        char *path; /* dir/sandstorm-pkgdef.capnp */
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-spk-pkgdef-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        f->path = path_join(f->dir, "sandstorm-pkgdef.capnp");
        *state = f;
        return f->path ? 0 : -1;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r;

        r = rm_rf_path(f->dir);
        free(f->path);
        free(f);
        return r < 0 ? -1 : 0;
}

static void write_text(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, text, strlen(text)), 0);
        close(fd);
}

/* Writes header + body to the fixture's pkgdef and loads it. */
static int load(const Fixture *f, const char *body, SpkPkgdef *ret, char **ret_error) {
        _cleanup_free_ char *text = strjoin(header, body);

        assert_non_null(text);
        write_text(f->path, text);
        return spk_pkgdef_load(f->path, NULL, NULL, ret, ret_error);
}

/* Loads "const pkgdef :Spk.PackageDefinition = (FIELDS);" and expects failure r with message
 * "<path>: <want>". */
static void load_fails(const Fixture *f, const char *fields, int r, const char *want) {
        _cleanup_free_ char *body = strjoin("const pkgdef :Spk.PackageDefinition = (", fields, ");\n"),
                            *error = NULL, *full = strjoin(f->path, ": ", want);
        SpkPkgdef p = {};

        assert_int_equal(load(f, body, &p, &error), r);
        assert_non_null(error);
        assert_string_equal(error, full);
}

static void get_text(const CapnpStruct *s, uint16_t slot, const char *want) {
        const char *t;
        size_t n;

        assert_int_equal(capnp_struct_get_text(s, slot, &t, &n), 0);
        assert_non_null(t);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(t, want, n);
}

static void test_full(void **state) {
        _cleanup_(spk_pkgdef_donep) SpkPkgdef p = {};
        CapnpMessage m = {};
        CapnpStruct root, s, meta;
        char *error = NULL;
        size_t n;

        assert_int_equal(spk_pkgdef_load(FULL, "pkgdef", NULL, &p, &error), 0);
        assert_null(error);
        assert_string_equal(p.id_text, "vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0");
        assert_int_equal(p.app_id[0], 0xdc);
        assert_int_equal(p.app_id[31], 0x5c);
        assert_true(p.has_bridge_config);
        assert_true(p.uses_http_bridge);
        assert_string_equal(p.file_list, "sandstorm-files.list");

        /* Canonical paths: "opt/app/static/" loses its slash, "." is the root. */
        assert_int_equal(strv_length(p.always_include), 3);
        assert_string_equal(p.always_include[0], "opt/app/static");
        assert_string_equal(p.always_include[1], "");
        assert_string_equal(p.always_include[2], "sandstorm-manifest");

        /* The source dir is the pkgdef's directory. */
        assert_string_equal(p.source_map.source_dir, TEST_DATA_DIR);
        assert_int_equal(p.source_map.n_mappings, 2);
        assert_string_equal(p.source_map.mappings[0].package_path, "opt/app");
        assert_string_equal(p.source_map.mappings[0].source_path, "app");
        assert_null(p.source_map.mappings[0].hide_paths);
        assert_string_equal(p.source_map.mappings[1].package_path, "");
        assert_string_equal(p.source_map.mappings[1].source_path, "/");
        assert_int_equal(strv_length(p.source_map.mappings[1].hide_paths), 2);
        assert_string_equal(p.source_map.mappings[1].hide_paths[0], "home");
        assert_string_equal(p.source_map.mappings[1].hide_paths[1], "etc/passwd");

        /* The manifest is a message of its own, with the embedded description. */
        assert_int_equal(capnp_message_parse(&m, p.manifest, p.manifest_size, &(CapnpReadOptions) {}, &n), 0);
        assert_int_equal(n, p.manifest_size);
        assert_int_equal(capnp_message_root(&m, &root), 0);
        assert_int_equal(capnp_struct_get_u32(&root, 8), 7);
        assert_int_equal(capnp_struct_get_struct(&root, 3, &s), 0);
        get_text(&s, 0, "Full App");
        assert_int_equal(capnp_struct_get_struct(&root, 4, &meta), 0);
        get_text(&meta, 3, "https://example.org");
        assert_int_equal(capnp_struct_get_struct(&meta, 11, &s), 0);
        get_text(&s, 0, "A *note-taking* app.\n");
        assert_int_equal(capnp_message_error(&m), 0);
        capnp_message_done(&m);

        assert_int_equal(capnp_message_parse(&m, p.bridge_config, p.bridge_config_size, &(CapnpReadOptions) {},
                                             &n),
                         0);
        assert_int_equal(n, p.bridge_config_size);
        assert_int_equal(capnp_message_root(&m, &root), 0);
        get_text(&root, 1, "/api/");
        capnp_message_done(&m);
}

static void test_validation(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *no_id = strdup(good_manifest), *bad_id = strjoin("id = \"abc\", ", good_manifest),
                            *abs_include = strjoin(good_id, good_manifest, ", alwaysInclude = [\"/etc\"]"),
                            *bad_mapping = strjoin(good_id, good_manifest,
                                                   ", sourceMap = (searchPath = [(packagePath = \"a/../b\")])");

        load_fails(f, "id = \"vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0\", "
                      "manifest = (appMarketingVersion = (defaultText = \"1\"))",
                   -EINVAL, "manifest.appTitle is missing");
        load_fails(f, "id = \"vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0\", "
                      "manifest = (appTitle = (defaultText = \"T\"))",
                   -EINVAL, "manifest.appMarketingVersion is missing");
        load_fails(f, "id = \"vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0\", "
                      "manifest = (appTitle = (defaultText = \"T\"), appMarketingVersion = (defaultText = \"1\"), "
                      "maxApiVersion = 1)",
                   -EINVAL, "the manifest asks for API version 1, but this spk knows versions up to 0");
        load_fails(f, "id = \"vjvekechd398fn1t1kn1dgdnmaekqq9jkjv3zsgzymc4z913ref0\", "
                      "manifest = (appTitle = (defaultText = \"T\"), appMarketingVersion = (defaultText = \"1\"), "
                      "minApiVersion = 2)",
                   -EINVAL, "the manifest asks for API version 2, but this spk knows versions up to 0");
        load_fails(f, no_id, -EINVAL, "pkgdef.id is missing");
        load_fails(f, bad_id, -EINVAL, "pkgdef.id 'abc' is not a valid app id");
        load_fails(f, abs_include, -EINVAL, "invalid alwaysInclude path '/etc'");
        load_fails(f, bad_mapping, -EINVAL, "invalid sourceMap packagePath 'a/../b'");
}

static void test_wrong_constant(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *want = NULL, *prefix = NULL;
        SpkPkgdef p = {};

        assert_int_equal(load(f, "const pkgdef :Spk.Manifest.Command = (argv = [\"x\"]);\n", &p, &e1),
                         -EMEDIUMTYPE);
        assert_true(asprintf(&want, "%s: 'pkgdef' is a Manifest.Command, not a PackageDefinition", f->path) > 0);
        assert_string_equal(e1, want);

        /* Errors inside the file come with their position: line 3 is the one after the header. */
        assert_int_equal(load(f, "const pkgdef :Spk.PackageDefinition = (id = 5);\n", &p, &e2), -EINVAL);
        assert_true(asprintf(&prefix, "%s:3:", f->path) > 0);
        assert_non_null(startswith(e2, prefix));
}

static void test_manifest_too_big(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *md = path_join(f->dir, "big.md"), *text = NULL, *body = NULL, *error = NULL,
                            *want = NULL;
        const size_t size = 8u << 20; /* the description alone fills the limit */
        SpkPkgdef p = {};

        text = malloc(size + 1);
        assert_non_null(text);
        memset(text, 'a', size);
        text[size] = '\0';
        write_text(md, text);
        body = strjoin("const pkgdef :Spk.PackageDefinition = (", good_id,
                       "manifest = (appTitle = (defaultText = \"T\"), appMarketingVersion = (defaultText = \"1\"),"
                       " metadata = (description = (defaultText = embed \"big.md\"))));\n");
        assert_int_equal(load(f, body, &p, &error), -EFBIG);
        assert_non_null(error);
        assert_true(asprintf(&want, "%s: the manifest is ", f->path) > 0);
        assert_non_null(startswith(error, want));
        assert_non_null(endswith(error, " words; at most 1048576 are allowed"));
}

static void bridge_case(const Fixture *f, const char *command, bool want) {
        _cleanup_(spk_pkgdef_donep) SpkPkgdef p = {};
        _cleanup_free_ char *body = strjoin("const pkgdef :Spk.PackageDefinition = (", good_id,
                                            "manifest = (appTitle = (defaultText = \"T\"), ",
                                            "appMarketingVersion = (defaultText = \"1\"), continueCommand = ",
                                            command, "));\n"),
                            *error = NULL;

        assert_int_equal(load(f, body, &p, &error), 0);
        assert_false(p.has_bridge_config);
        assert_true(p.uses_http_bridge == want);
}

static void test_bridge_detection(void **state) {
        Fixture *f = *state;

        bridge_case(f, "(argv = [\"/sandstorm-http-bridge\", \"8000\", \"--\", \"/app\"])", true);
        bridge_case(f, "(argv = [\"./sandstorm-http-bridge\", \"8000\", \"--\", \"/app\"])", true);
        bridge_case(f, "(argv = [\"sandstorm-http-bridge\"])", true);
        bridge_case(f, "(argv = [\"/sandstorm-http-bridge-2\", \"8000\"])", false);
        bridge_case(f, "(argv = [\"/bin/app\", \"/sandstorm-http-bridge\"])", false);
        bridge_case(f, "(argv = [])", false);
        /* deprecatedExecutablePath goes in front of argv. */
        bridge_case(f, "(deprecatedExecutablePath = \"/sandstorm-http-bridge\", argv = [\"8000\"])", true);
        bridge_case(f, "(deprecatedExecutablePath = \"/bin/app\", argv = [\"/sandstorm-http-bridge\"])", false);

        assert_true(spk_argv0_is_http_bridge("sandstorm-http-bridge", 21));
        assert_false(spk_argv0_is_http_bridge("sandstorm-http-bridg", 20));
        assert_false(spk_argv0_is_http_bridge(NULL, 0));
}

static void test_empty_bridge_config(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_pkgdef_donep) SpkPkgdef p = {};
        _cleanup_free_ char *body = strjoin("const pkgdef :Spk.PackageDefinition = (", good_id, good_manifest,
                                            ");\n"),
                            *error = NULL;
        static const uint8_t empty[48] = { [4] = 5, [12] = 1, [14] = 3 };

        assert_int_equal(load(f, body, &p, &error), 0);
        assert_false(p.uses_http_bridge);
        assert_null(p.file_list);
        assert_int_equal(strv_length(p.always_include), 0);
        assert_int_equal(p.bridge_config_size, sizeof(empty));
        assert_memory_equal(p.bridge_config, empty, sizeof(empty));
}

/* A pkgdef named without a directory maps relative to the current one. */
static void test_relative_path(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_pkgdef_donep) SpkPkgdef p = {};
        _cleanup_free_ char *body = strjoin(header, "const pkgdef :Spk.PackageDefinition = (", good_id,
                                            good_manifest, ");\n"),
                            *error = NULL, *cwd = getcwd(NULL, 0);

        write_text(f->path, body);
        assert_int_equal(chdir(f->dir), 0);
        assert_int_equal(spk_pkgdef_load("sandstorm-pkgdef.capnp", "pkgdef", NULL, &p, &error), 0);
        assert_int_equal(chdir(cwd), 0);
        assert_string_equal(p.source_map.source_dir, "");
        assert_string_equal(p.path, "sandstorm-pkgdef.capnp");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full),
                cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_constant, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_too_big, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bridge_detection, setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_bridge_config, setup, teardown),
                cmocka_unit_test_setup_teardown(test_relative_path, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
