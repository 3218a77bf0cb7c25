/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Reading commands, actions and bridge configs (front/manifest.h): from the example packages the build
 * makes (installed with front/apps.h into a temporary directory, so the messages are exactly what spk
 * packed), and from messages built here with capnp's builder for every case a package could get wrong. */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sodium.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "front/apps.h"
#include "front/manifest.h"

#define T0 UINT64_C(1700000000000000)

/* ---- the example packages ---- */

typedef struct Installed {
        uint8_t *manifest, *bridge_config;
        size_t manifest_size, bridge_config_size;
} Installed;

static void installed_done(Installed *i) {
        free(i->manifest);
        free(i->bridge_config);
}

/* Installs build/contrib/apps/<name>/<name>.spk into a temporary state directory; false when the build has
 * no such package (the test then skips). */
static bool install_example(const char *name, Installed *ret) {
        _cleanup_free_ char *spk = NULL, *db = NULL, *packages = NULL, *tree = NULL;
        _cleanup_close_ int spk_fd = -EBADF, packages_fd = -EBADF;
        _cleanup_(apps_install_result_done) AppsInstallResult res = {};
        _cleanup_free_ char *error = NULL;
        char dir[] = "/tmp/test-manifest-XXXXXX";
        const char *build = getenv("BUILD_ROOT");
        Store *s = NULL;
        size_t n;
        char *p;

        if (!build)
                return false;
        assert_true(asprintf(&spk, "%s/contrib/apps/%s/%s.spk", build, name, name) > 0);
        spk_fd = open(spk, O_RDONLY | O_CLOEXEC);
        if (spk_fd < 0)
                return false;

        assert_non_null(mkdtemp(dir));
        db = path_join(dir, "db.sqlite");
        packages = path_join(dir, "packages");
        assert_non_null(db);
        assert_non_null(packages);
        assert_int_equal(mkdir(packages, 0755), 0);
        packages_fd = open(packages, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(packages_fd >= 0);
        assert_int_equal(store_open(db, STORE_OPEN_CREATE, &s), 0);
        assert_int_equal(apps_install_fd(s, packages_fd, spk_fd, T0, &res, &error), 0);

        /* What the store recorded is what the tree holds. */
        tree = path_join(packages, res.package_id);
        assert_non_null(tree);
        p = path_join(tree, "sandstorm-manifest");
        assert_int_equal(read_full_file_at(AT_FDCWD, p, 1 << 24, (char **) &ret->manifest, &n), 0);
        free(p);
        ret->manifest_size = n;
        p = path_join(tree, "sandstorm-http-bridge-config");
        assert_int_equal(read_full_file_at(AT_FDCWD, p, 1 << 24, (char **) &ret->bridge_config, &n), 0);
        free(p);
        ret->bridge_config_size = n;

        store_close(s);
        assert_int_equal(rm_rf_path(dir), 0);
        return true;
}

static void assert_strv_equal(char **l, const char *const *expected) {
        size_t i = 0;

        assert_non_null(l);
        for (; expected[i]; i++) {
                assert_non_null(l[i]);
                assert_string_equal(l[i], expected[i]);
        }
        assert_null(l[i]);
}

static void test_notes(void **state) {
        _cleanup_(installed_done) Installed in = {};
        _cleanup_(manifest_command_done) ManifestCommand c = {}, k = {};
        _cleanup_(manifest_bridge_config_done) ManifestBridgeConfig bc = {};
        ManifestAction *a = NULL;
        size_t n = 99;
        static const char *const argv[] = { "/sandstorm-http-bridge", "8000", "--", "/notes", "8000", NULL };
        static const char *const env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "SANDSTORM=1", NULL };

        if (!install_example("notes", &in))
                skip();

        assert_int_equal(manifest_action_command(in.manifest, in.manifest_size, 0, &c), 0);
        assert_strv_equal(c.argv, argv);
        assert_strv_equal(c.environ, env);
        assert_int_equal(manifest_continue_command(in.manifest, in.manifest_size, &k), 0);
        assert_strv_equal(k.argv, argv);
        assert_strv_equal(k.environ, env);
        assert_int_equal(manifest_action_command(in.manifest, in.manifest_size, 1, &k), -ERANGE);
        assert_int_equal(manifest_action_command(in.manifest, in.manifest_size, SIZE_MAX, &k), -ERANGE);

        assert_int_equal(manifest_actions(in.manifest, in.manifest_size, &a, &n), 0);
        assert_int_equal(n, 1);
        assert_null(a[0].title);
        assert_string_equal(a[0].noun_phrase, "notebook");
        manifest_actions_free(a, n);

        /* No bridgeConfig in the pkgdef: spk packs an empty struct. */
        assert_int_equal(manifest_bridge_config_parse(in.bridge_config, in.bridge_config_size, &bc), 0);
        assert_non_null(bc.permissions);
        assert_null(bc.permissions[0]);
        assert_null(bc.api_path);
}

static void test_headers(void **state) {
        _cleanup_(installed_done) Installed in = {};
        _cleanup_(manifest_bridge_config_done) ManifestBridgeConfig bc = {};
        _cleanup_(manifest_command_done) ManifestCommand c = {};
        static const char *const perms[] = { "read", "write", NULL };

        if (!install_example("headers", &in))
                skip();

        assert_int_equal(manifest_bridge_config_parse(in.bridge_config, in.bridge_config_size, &bc), 0);
        assert_strv_equal(bc.permissions, perms);
        assert_string_equal(bc.api_path, "/api/");
        assert_int_equal(manifest_continue_command(in.manifest, in.manifest_size, &c), 0);
        assert_string_equal(c.argv[3], "/headers");
}

/* ---- messages built here ---- */

typedef struct KV {
        const char *key, *value;
        size_t key_len, value_len; /* 0: strlen */
} KV;

typedef struct Cmd {
        bool null;              /* no Command struct at all */
        const char *exec_path;  /* deprecatedExecutablePath */
        const char *const *argv;
        size_t argv0_len;       /* > 0: argv[0] is this long (to put a NUL inside) */
        const KV *env;
        size_t n_env;
        bool argv_bytes;        /* argv as a List(UInt8) instead of a List(Text) */
} Cmd;

static void set_localized(const CapnpBuilderStruct *s, uint16_t slot, const char *text) {
        CapnpBuilderStruct t;

        assert_true(capnp_build_init_struct(s, slot, 0, 2, &t) >= 0);
        assert_true(capnp_build_set_text(&t, 0, text, strlen(text)) >= 0);
}

static void build_command(const CapnpBuilderStruct *parent, uint16_t slot, const Cmd *c) {
        CapnpBuilderStruct cmd, kv;
        CapnpBuilderList l;
        size_t n = 0;

        if (c->null)
                return;
        assert_true(capnp_build_init_struct(parent, slot, 0, 3, &cmd) >= 0);
        if (c->exec_path)
                assert_true(capnp_build_set_text(&cmd, 0, c->exec_path, strlen(c->exec_path)) >= 0);
        if (c->argv_bytes)
                assert_true(capnp_build_init_list(&cmd, 1, CAPNP_ELEMENT_BYTE, 3, &l) >= 0);
        else if (c->argv) {
                while (c->argv[n])
                        n++;
                assert_true(capnp_build_init_list(&cmd, 1, CAPNP_ELEMENT_POINTER, (uint32_t) n, &l) >= 0);
                for (size_t i = 0; i < n; i++) {
                        size_t len = i == 0 && c->argv0_len > 0 ? c->argv0_len : strlen(c->argv[i]);

                        assert_true(capnp_build_list_set_text(&l, (uint32_t) i, c->argv[i], len) >= 0);
                }
        }
        if (c->n_env > 0) {
                assert_true(capnp_build_init_struct_list(&cmd, 2, (uint32_t) c->n_env, 0, 2, &l) >= 0);
                for (size_t i = 0; i < c->n_env; i++) {
                        const KV *e = &c->env[i];

                        assert_true(capnp_build_list_get_struct(&l, (uint32_t) i, &kv) >= 0);
                        if (e->key)
                                assert_true(capnp_build_set_text(&kv, 0, e->key,
                                                                 e->key_len ?: strlen(e->key)) >= 0);
                        if (e->value)
                                assert_true(capnp_build_set_text(&kv, 1, e->value,
                                                                 e->value_len ?: strlen(e->value)) >= 0);
                }
        }
}

/* A Manifest with the given actions (their commands and titles) and continueCommand. */
static void build_manifest(const Cmd *actions, const char *const *titles, size_t n_actions, const Cmd *cont,
                           uint8_t **ret, size_t *ret_size) {
        CapnpBuilder b;
        CapnpBuilderStruct root, action;
        CapnpBuilderList l;

        capnp_builder_init(&b, 0);
        assert_true(capnp_builder_init_root(&b, 2, 5, &root) >= 0);
        capnp_build_set_u32(&root, 8, 3);
        if (n_actions > 0) {
                assert_true(capnp_build_init_struct_list(&root, 0, (uint32_t) n_actions, 1, 5, &l) >= 0);
                for (size_t i = 0; i < n_actions; i++) {
                        assert_true(capnp_build_list_get_struct(&l, (uint32_t) i, &action) >= 0);
                        build_command(&action, 1, &actions[i]);
                        if (titles && titles[i]) {
                                set_localized(&action, 2, titles[i]);
                                set_localized(&action, 4, titles[i] + 4); /* "New thing" → "thing" */
                        }
                }
        }
        if (cont)
                build_command(&root, 1, cont);
        assert_int_equal(capnp_builder_finish(&b, ret, ret_size), 0);
        capnp_builder_done(&b);
}

static const char *const argv_first[] = { "/sandstorm-http-bridge", "8000", "--", "/app", "--init", NULL };
static const char *const argv_cont[] = { "/sandstorm-http-bridge", "8000", "--", "/app", NULL };

static void test_commands(void **state) {
        static const KV env[] = {
                { "HOME", "/var" },
                { "EMPTY", "" },
                { "NOVALUE", NULL },
                { "X", "a=b=c" },
        };
        static const char *const titles[] = { "New document", "New folder" };
        static const char *const expect_env[] = { "HOME=/var", "EMPTY=", "NOVALUE=", "X=a=b=c", NULL };
        static const char *const expect_exec[] = { "/bin/legacy", "/app", NULL };
        static const char *const only_exec[] = { "/bin/legacy", NULL };
        Cmd actions[2] = {
                { .argv = argv_first, .env = env, .n_env = ELEMENTSOF(env) },
                { .exec_path = "/bin/legacy", .argv = (const char *const[]) { "/app", NULL } },
        };
        Cmd cont = { .argv = argv_cont };
        _cleanup_(manifest_command_done) ManifestCommand c = {};
        _cleanup_free_ uint8_t *m = NULL;
        ManifestAction *a = NULL;
        size_t size, n;

        build_manifest(actions, titles, 2, &cont, &m, &size);

        assert_int_equal(manifest_action_command(m, size, 0, &c), 0);
        assert_strv_equal(c.argv, argv_first);
        assert_strv_equal(c.environ, expect_env);
        manifest_command_done(&c);

        /* deprecatedExecutablePath goes in front of argv (spec §3.3, §6.1). */
        assert_int_equal(manifest_action_command(m, size, 1, &c), 0);
        assert_strv_equal(c.argv, expect_exec);
        assert_non_null(c.environ);
        assert_null(c.environ[0]);
        manifest_command_done(&c);

        assert_int_equal(manifest_continue_command(m, size, &c), 0);
        assert_strv_equal(c.argv, argv_cont);
        assert_null(c.environ[0]);
        manifest_command_done(&c);
        assert_int_equal(manifest_action_command(m, size, 2, &c), -ERANGE);
        assert_null(c.argv);

        assert_int_equal(manifest_actions(m, size, &a, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(a[0].title, "New document");
        assert_string_equal(a[0].noun_phrase, "document");
        assert_string_equal(a[1].title, "New folder");
        manifest_actions_free(a, n);
        free(m);
        m = NULL;

        /* Only deprecatedExecutablePath. */
        actions[0] = (Cmd) { .exec_path = "/bin/legacy" };
        build_manifest(actions, NULL, 1, NULL, &m, &size);
        assert_int_equal(manifest_action_command(m, size, 0, &c), 0);
        assert_strv_equal(c.argv, only_exec);
        manifest_command_done(&c);
        /* No continueCommand: nothing to run. */
        assert_int_equal(manifest_continue_command(m, size, &c), -ENOEXEC);
        assert_int_equal(manifest_actions(m, size, &a, &n), 0);
        assert_int_equal(n, 1);
        assert_null(a[0].title);
        assert_null(a[0].noun_phrase);
        manifest_actions_free(a, n);
}

static void expect_refused(const Cmd *cmd, int error) {
        _cleanup_(manifest_command_done) ManifestCommand c = {};
        _cleanup_free_ uint8_t *m = NULL;
        size_t size;

        build_manifest(cmd, NULL, 1, cmd, &m, &size);
        assert_int_equal(manifest_action_command(m, size, 0, &c), error);
        assert_int_equal(manifest_continue_command(m, size, &c), error);
        assert_null(c.argv);
        assert_null(c.environ);
}

static void test_commands_refused(void **state) {
        static const char *const nul_argv[] = { "/app\0x", NULL };
        static const KV nul_key[] = { { "PA\0TH", "x", 5, 0 } };
        static const KV nul_value[] = { { "PATH", "/bin\0/sbin", 0, 10 } };
        static const KV eq_key[] = { { "A=B", "x" } };
        static const KV empty_key[] = { { "", "x" } };
        static const KV no_key[] = { { NULL, "x" } };
        _cleanup_free_ char *big = NULL;
        _cleanup_free_ const char **many = NULL;

        expect_refused(&(Cmd) { .argv = nul_argv, .argv0_len = 6 }, -EBADMSG);
        expect_refused(&(Cmd) { .exec_path = "", .argv = nul_argv, .argv0_len = 6 }, -EBADMSG);
        expect_refused(&(Cmd) { .argv = argv_cont, .env = nul_key, .n_env = 1 }, -EBADMSG);
        expect_refused(&(Cmd) { .argv = argv_cont, .env = nul_value, .n_env = 1 }, -EBADMSG);
        expect_refused(&(Cmd) { .argv = argv_cont, .env = eq_key, .n_env = 1 }, -EBADMSG);
        expect_refused(&(Cmd) { .argv = argv_cont, .env = empty_key, .n_env = 1 }, -EBADMSG);
        expect_refused(&(Cmd) { .argv = argv_cont, .env = no_key, .n_env = 1 }, -EBADMSG);
        expect_refused(&(Cmd) { .argv_bytes = true }, -EBADMSG);
        expect_refused(&(Cmd) { .argv = (const char *const[]) { NULL } }, -ENOEXEC);
        expect_refused(&(Cmd) { .null = true }, -ENOEXEC);

        /* One string past the byte budget, and more items than allowed. */
        big = malloc(MANIFEST_COMMAND_BYTES_MAX + 1);
        assert_non_null(big);
        memset(big, 'a', MANIFEST_COMMAND_BYTES_MAX);
        big[MANIFEST_COMMAND_BYTES_MAX] = 0;
        expect_refused(&(Cmd) { .argv = (const char *const[]) { big, NULL } }, -E2BIG);
        big[MANIFEST_COMMAND_BYTES_MAX - 1] = 0; /* exactly the budget with its NUL */
        {
                _cleanup_(manifest_command_done) ManifestCommand c = {};
                _cleanup_free_ uint8_t *m = NULL;
                size_t size;
                Cmd cmd = { .argv = (const char *const[]) { big, NULL } };

                build_manifest(&cmd, NULL, 1, NULL, &m, &size);
                assert_int_equal(manifest_action_command(m, size, 0, &c), 0);
                assert_int_equal(strlen(c.argv[0]), MANIFEST_COMMAND_BYTES_MAX - 1);
        }
        many = calloc(MANIFEST_COMMAND_ITEMS_MAX + 2, sizeof(char *));
        assert_non_null(many);
        for (size_t i = 0; i < MANIFEST_COMMAND_ITEMS_MAX + 1; i++)
                many[i] = "x";
        expect_refused(&(Cmd) { .argv = many }, -E2BIG);
        many[MANIFEST_COMMAND_ITEMS_MAX] = NULL;
        {
                _cleanup_(manifest_command_done) ManifestCommand c = {};
                _cleanup_free_ uint8_t *m = NULL;
                size_t size;
                Cmd cmd = { .argv = many };

                build_manifest(&cmd, NULL, 1, NULL, &m, &size);
                assert_int_equal(manifest_action_command(m, size, 0, &c), 0);
                assert_int_equal(strv_length(c.argv), MANIFEST_COMMAND_ITEMS_MAX);
        }
}

static void test_garbage(void **state) {
        static const uint8_t truncated[] = { 0, 0, 0, 0, 4, 0, 0, 0, 1, 2 };
        /* One segment of one word whose root pointer points far outside it. */
        static const uint8_t wild[] = { 0, 0, 0, 0, 1, 0, 0, 0, 0xfc, 0xff, 0xff, 0x7f, 1, 0, 1, 0 };
        _cleanup_(manifest_command_done) ManifestCommand c = {};
        _cleanup_(manifest_bridge_config_done) ManifestBridgeConfig bc = {};
        ManifestAction *a = NULL;
        size_t n;

        assert_int_equal(manifest_continue_command(truncated, sizeof(truncated), &c), -EBADMSG);
        assert_int_equal(manifest_continue_command(wild, sizeof(wild), &c), -EBADMSG);
        assert_int_equal(manifest_action_command("", 0, 0, &c), -EBADMSG);
        assert_int_equal(manifest_actions(wild, sizeof(wild), &a, &n), -EBADMSG);
        assert_int_equal(manifest_bridge_config_parse(wild, sizeof(wild), &bc), -EBADMSG);
        assert_null(c.argv);
        assert_null(bc.permissions);

        /* Every prefix of a real manifest is refused, never misread. */
        {
                _cleanup_free_ uint8_t *m = NULL;
                Cmd cont = { .argv = argv_cont };
                size_t size;

                build_manifest(&cont, NULL, 1, &cont, &m, &size);
                for (size_t i = 0; i < size; i++)
                        assert_int_equal(manifest_continue_command(m, i, &c), -EBADMSG);
                assert_int_equal(manifest_continue_command(m, size, &c), 0);
        }
}

/* A BridgeConfig with viewInfo.permissions named as given (NULL: no name) and apiPath. */
static void build_bridge_config(const char *const *names, size_t n, const char *api_path, size_t api_len,
                                uint8_t **ret, size_t *ret_size) {
        CapnpBuilder b;
        CapnpBuilderStruct root, view, def;
        CapnpBuilderList l;

        capnp_builder_init(&b, 0);
        assert_true(capnp_builder_init_root(&b, 1, 3, &root) >= 0);
        assert_true(capnp_build_init_struct(&root, 0, 0, 8, &view) >= 0);
        assert_true(capnp_build_init_struct_list(&view, 0, (uint32_t) n, 1, 3, &l) >= 0);
        for (size_t i = 0; i < n; i++) {
                assert_true(capnp_build_list_get_struct(&l, (uint32_t) i, &def) >= 0);
                set_localized(&def, 0, "a title");
                capnp_build_set_bool(&def, 0, i == 1); /* obsolete: still listed */
                if (names[i])
                        assert_true(capnp_build_set_text(&def, 2, names[i], strlen(names[i])) >= 0);
        }
        if (api_path)
                assert_true(capnp_build_set_text(&root, 1, api_path, api_len ?: strlen(api_path)) >= 0);
        assert_int_equal(capnp_builder_finish(&b, ret, ret_size), 0);
        capnp_builder_done(&b);
}

static int parse_bridge(const char *const *names, size_t n, const char *api_path, size_t api_len,
                        ManifestBridgeConfig *ret) {
        _cleanup_free_ uint8_t *m = NULL;
        size_t size;

        build_bridge_config(names, n, api_path, api_len, &m, &size);
        return manifest_bridge_config_parse(m, size, ret);
}

static void test_bridge_config(void **state) {
        static const char *const names[] = { "view", "edit2", "Admin", NULL };
        _cleanup_(manifest_bridge_config_done) ManifestBridgeConfig bc = {};

        assert_int_equal(parse_bridge(names, 3, "/api/v1/", 0, &bc), 0);
        assert_strv_equal(bc.permissions, names);
        assert_string_equal(bc.api_path, "/api/v1/");
        manifest_bridge_config_done(&bc);

        assert_int_equal(manifest_bridge_config_parse(NULL, 0, &bc), 0);
        assert_null(bc.permissions[0]);
        assert_null(bc.api_path);
        manifest_bridge_config_done(&bc);

        assert_int_equal(parse_bridge(names, 0, NULL, 0, &bc), 0);
        assert_null(bc.permissions[0]);
        manifest_bridge_config_done(&bc);

        /* Names that could not be told apart or that would break the header; API paths with spaces,
         * controls or a NUL. */
        assert_int_equal(parse_bridge((const char *const[]) { "read", "read" }, 2, NULL, 0, &bc), -EBADMSG);
        assert_int_equal(parse_bridge((const char *const[]) { "read", NULL }, 2, NULL, 0, &bc), -EBADMSG);
        assert_int_equal(parse_bridge((const char *const[]) { "a,b" }, 1, NULL, 0, &bc), -EBADMSG);
        assert_int_equal(parse_bridge((const char *const[]) { "2read" }, 1, NULL, 0, &bc), -EBADMSG);
        assert_int_equal(parse_bridge((const char *const[]) { "re ad" }, 1, NULL, 0, &bc), -EBADMSG);
        assert_int_equal(parse_bridge((const char *const[]) { "read\r\nX" }, 1, NULL, 0, &bc), -EBADMSG);
        assert_int_equal(parse_bridge(names, 1, "/a b", 0, &bc), -EBADMSG);
        assert_int_equal(parse_bridge(names, 1, "/a\nb", 0, &bc), -EBADMSG);
        assert_int_equal(parse_bridge(names, 1, "/a\0b", 4, &bc), -EBADMSG);
        assert_int_equal(parse_bridge(names, 1, "/\xc3\xa9", 0, &bc), -EBADMSG);
        assert_null(bc.permissions);
        assert_null(bc.api_path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_notes),
                cmocka_unit_test(test_headers),
                cmocka_unit_test(test_commands),
                cmocka_unit_test(test_commands_refused),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_bridge_config),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
