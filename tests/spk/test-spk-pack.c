/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * spk/pack.c: packages are decoded here independently of spk/package.c (liblzma, the Cap'n Proto
 * reader, libsodium), so that a writer bug cannot hide behind the same bug in the reader.
 */

#include <dirent.h>
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
#include <lzma.h>
#include <sodium.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "spk/pack.h"
#include "spk/pkgdef.h"

#define PACK_TIME INT64_C(1600000000000000000)
#define SEC(s) ((int64_t) (s) * INT64_C(1000000000))

static const uint8_t magic[8] = { 0x8F, 0xC6, 0xCD, 0xEF, 0x45, 0x1A, 0xEA, 0x96 };

typedef struct Fixture {
        char dir[64];
        uint8_t pk[32];
        uint8_t sk[64];
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-spk-pack-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        crypto_sign_keypair(f->pk, f->sk);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        int r;

        r = rm_rf_path(f->dir);
        free(f);
        return r < 0 ? -1 : 0;
}

static char *at(const Fixture *f, const char *rel) {
        char *p = path_join(f->dir, rel);

        assert_non_null(p);
        return p;
}

static void put(const Fixture *f, const char *rel, const char *content, mode_t mode, time_t mtime) {
        _cleanup_free_ char *p = at(f, rel), *d = path_dirname(p);
        struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
        int fd;

        assert_int_equal(mkdir_p(d, 0755), 0);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, content, strlen(content)), 0);
        assert_int_equal(fchmod(fd, mode), 0);
        assert_int_equal(futimens(fd, ts), 0);
        close(fd);
}

static void set_mtime(const Fixture *f, const char *rel, time_t mtime) {
        _cleanup_free_ char *p = at(f, rel);
        struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };

        assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* ---- building package definitions ---- */

typedef struct MappingSpec {
        const char *package_path;
        const char *source_path;
        const char *const *hide;
} MappingSpec;

typedef struct PkgdefSpec {
        const char *argv0;
        bool bridge_config;
        const MappingSpec *mappings; /* ends with source_path NULL */
        const char *file_list;
        const char *const *always_include;
} PkgdefSpec;

static void set_text_list(const CapnpBuilderStruct *s, uint16_t slot, const char *const *items) {
        CapnpBuilderList l;
        uint32_t n = 0;

        while (items[n])
                n++;
        assert_int_equal(capnp_build_init_list(s, slot, CAPNP_ELEMENT_POINTER, n, &l), 0);
        for (uint32_t i = 0; i < n; i++)
                assert_int_equal(capnp_build_list_set_text(&l, i, items[i], strlen(items[i])), 0);
}

static void set_localized(const CapnpBuilderStruct *s, uint16_t slot, const char *text) {
        CapnpBuilderStruct lt;

        assert_int_equal(capnp_build_init_struct(s, slot, 0, 2, &lt), 0);
        assert_int_equal(capnp_build_set_text(&lt, 0, text, strlen(text)), 0);
}

/* A PackageDefinition as spk_pkgdef_from_message() reads it, for a pkgdef in f->dir. */
static void load_pkgdef(const Fixture *f, const uint8_t pk[32], const PkgdefSpec *spec, SpkPkgdef *ret) {
        CapnpBuilderStruct root, manifest, command, source_map, bc;
        CapnpBuilderList search_path;
        _cleanup_free_ uint8_t *msg = NULL;
        _cleanup_free_ char *path = at(f, "sandstorm-pkgdef.capnp"), *error = NULL;
        char id[APP_ID_TEXT_SIZE + 1];
        CapnpBuilder b;
        size_t size, n = 0;

        capnp_builder_init(&b, 0);
        assert_int_equal(capnp_builder_init_root(&b, 0, 6, &root), 0);
        app_id_to_string(pk, id);
        assert_int_equal(capnp_build_set_text(&root, 0, id, strlen(id)), 0);

        assert_int_equal(capnp_build_init_struct(&root, 1, 2, 5, &manifest), 0);
        set_localized(&manifest, 3, "Test App");
        set_localized(&manifest, 2, "1.0");
        capnp_build_set_u32(&manifest, 8, 3); /* appVersion */
        assert_int_equal(capnp_build_init_struct(&manifest, 1, 0, 3, &command), 0);
        set_text_list(&command, 1, (const char *const[]) { spec->argv0 ?: "/bin/app", "--serve", NULL });

        assert_int_equal(capnp_build_init_struct(&root, 2, 0, 1, &source_map), 0);
        while (spec->mappings && spec->mappings[n].source_path)
                n++;
        assert_int_equal(capnp_build_init_struct_list(&source_map, 0, (uint32_t) n, 0, 3, &search_path), 0);
        for (size_t i = 0; i < n; i++) {
                CapnpBuilderStruct m;

                assert_int_equal(capnp_build_list_get_struct(&search_path, (uint32_t) i, &m), 0);
                if (spec->mappings[i].package_path)
                        assert_int_equal(capnp_build_set_text(&m, 0, spec->mappings[i].package_path,
                                                              strlen(spec->mappings[i].package_path)),
                                         0);
                assert_int_equal(capnp_build_set_text(&m, 1, spec->mappings[i].source_path,
                                                      strlen(spec->mappings[i].source_path)),
                                 0);
                if (spec->mappings[i].hide)
                        set_text_list(&m, 2, spec->mappings[i].hide);
        }

        if (spec->file_list)
                assert_int_equal(capnp_build_set_text(&root, 3, spec->file_list, strlen(spec->file_list)), 0);
        if (spec->always_include)
                set_text_list(&root, 4, spec->always_include);
        if (spec->bridge_config) {
                assert_int_equal(capnp_build_init_struct(&root, 5, 1, 3, &bc), 0);
                assert_int_equal(capnp_build_set_text(&bc, 1, "/api/", 5), 0);
        }

        assert_int_equal(capnp_builder_finish(&b, &msg, &size), 0);
        capnp_builder_done(&b);
        assert_int_equal(spk_pkgdef_from_message(path, "pkgdef", msg, size, ret, &error), 0);
}

/* ---- decoding packages ---- */

typedef struct Decoded {
        uint8_t *bytes; /* everything after the magic, decompressed */
        size_t size;
        size_t signature_size;
        CapnpMessage archive;
        CapnpStruct root;
} Decoded;

static void decoded_done(Decoded *d) {
        capnp_message_done(&d->archive);
        free(d->bytes);
}

static void read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        char *buf = NULL;

        assert_int_equal(read_full_file_at(AT_FDCWD, path, SIZE_MAX, &buf, ret_size), 0);
        *ret = (uint8_t *) buf;
}

/* Checks magic, xz, signature and hash, and parses the archive. */
static void decode(const char *path, const uint8_t pk[32], Decoded *d) {
        _cleanup_free_ uint8_t *file = NULL;
        lzma_stream strm = LZMA_STREAM_INIT;
        CapnpMessage sig = {};
        CapnpStruct sig_root;
        const uint8_t *p;
        size_t file_size, n, allocated = 1 << 20;
        uint8_t hash[64], opened[128];
        unsigned long long opened_size;
        lzma_ret ret;

        *d = (Decoded) {};
        read_file(path, &file, &file_size);
        assert_true(file_size > 8);
        assert_memory_equal(file, magic, 8);

        assert_int_equal(lzma_stream_decoder(&strm, UINT64_MAX, LZMA_CONCATENATED), LZMA_OK);
        d->bytes = malloc(allocated);
        strm.next_in = file + 8;
        strm.avail_in = file_size - 8;
        strm.next_out = d->bytes;
        strm.avail_out = allocated;
        for (;;) {
                ret = lzma_code(&strm, LZMA_FINISH);
                if (ret == LZMA_STREAM_END)
                        break;
                assert_int_equal(ret, LZMA_OK);
                if (strm.avail_out == 0) {
                        d->bytes = realloc(d->bytes, allocated * 2);
                        strm.next_out = d->bytes + allocated;
                        strm.avail_out = allocated;
                        allocated *= 2;
                }
        }
        d->size = allocated - strm.avail_out;
        lzma_end(&strm);

        /* Signature (spec §1.2). */
        assert_int_equal(capnp_message_parse(&sig, d->bytes, d->size, &(CapnpReadOptions) {}, &d->signature_size),
                         0);
        assert_int_equal(capnp_message_root(&sig, &sig_root), 0);
        assert_int_equal(capnp_struct_get_data(&sig_root, 0, &p, &n), 0);
        assert_int_equal(n, 32);
        assert_memory_equal(p, pk, 32);
        assert_int_equal(capnp_struct_get_data(&sig_root, 1, &p, &n), 0);
        assert_int_equal(n, 128);
        assert_int_equal(crypto_sign_open(opened, &opened_size, p, 128, pk), 0);
        assert_int_equal(opened_size, 64);
        crypto_hash_sha512(hash, d->bytes + d->signature_size, d->size - d->signature_size);
        assert_memory_equal(hash, opened, 64);
        capnp_message_done(&sig);

        /* The archive is everything after it, exactly. */
        assert_int_equal(capnp_message_parse(&d->archive, d->bytes + d->signature_size,
                                             d->size - d->signature_size,
                                             &(CapnpReadOptions) { .nesting_limit = 128, .traversal_limit_words = UINT64_C(1) << 40 }, &n),
                         0);
        assert_int_equal(n, d->size - d->signature_size);
        assert_int_equal(capnp_message_root(&d->archive, &d->root), 0);
}

typedef struct Entry {
        const char *name;
        size_t name_len;
        unsigned which;
        int64_t mtime;
        const uint8_t *data;
        size_t size;
        CapnpStruct s;
} Entry;

static void entry_read(const CapnpStruct *s, Entry *e) {
        const char *t;

        *e = (Entry) { .s = *s };
        assert_int_equal(capnp_struct_get_text(s, 0, &e->name, &e->name_len), 0);
        e->which = capnp_struct_get_u16(s, 0);
        e->mtime = (int64_t) capnp_struct_get_u64(s, 8);
        if (e->which <= 1)
                assert_int_equal(capnp_struct_get_data(s, 1, &e->data, &e->size), 0);
        else if (e->which == 2) {
                assert_int_equal(capnp_struct_get_text(s, 1, &t, &e->size), 0);
                e->data = (const uint8_t *) t;
        }
}

/* Looks path up, checking on the way that every directory is sorted. */
static bool lookup(const Decoded *d, const char *path, Entry *ret) {
        CapnpList files;
        const char *p = path;
        CapnpStruct dir = d->root;
        uint16_t slot = 0;

        for (;;) {
                size_t len = strcspn(p, "/");
                bool found = false;
                Entry e, prev = {};

                assert_int_equal(capnp_struct_get_struct_list(&dir, slot, &files), 0);
                for (uint32_t i = 0; i < files.count; i++) {
                        CapnpStruct s;

                        assert_int_equal(capnp_list_get_struct(&files, i, &s), 0);
                        entry_read(&s, &e);
                        if (i > 0)
                                assert_true(strcmp(prev.name, e.name) < 0);
                        prev = e;
                        if (!found && e.name_len == len && memcmp(e.name, p, len) == 0) {
                                found = true;
                                *ret = e;
                        }
                }
                if (!found)
                        return false;
                if (p[len] == '\0')
                        return true;
                assert_int_equal(ret->which, 3);
                dir = ret->s;
                slot = 1;
                p += len + 1;
        }
}

static void expect(const Decoded *d, const char *path, unsigned which, int64_t mtime, const char *content) {
        Entry e;

        if (!lookup(d, path, &e))
                fail_msg("'%s' is not in the package", path);
        assert_int_equal(e.which, which);
        assert_true(e.mtime == mtime);
        if (content) {
                assert_int_equal(e.size, strlen(content));
                assert_memory_equal(e.data, content, e.size);
        }
}

static size_t root_names(const Decoded *d, char *buf, size_t size) {
        CapnpList files;
        size_t used = 0;

        assert_int_equal(capnp_struct_get_struct_list(&d->root, 0, &files), 0);
        buf[0] = '\0';
        for (uint32_t i = 0; i < files.count; i++) {
                CapnpStruct s;
                Entry e;

                assert_int_equal(capnp_list_get_struct(&files, i, &s), 0);
                entry_read(&s, &e);
                used += (size_t) snprintf(buf + used, size - used, "%s%.*s", i ? " " : "", (int) e.name_len,
                                          e.name);
        }
        return files.count;
}

static void assert_dir_entries(const char *dir, size_t want) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        assert_int_equal(n, want);
}

static SpkPackOptions options(const char *bridge) {
        return (SpkPackOptions) {
                .pack_time_ns = PACK_TIME,
                .bridge_path = bridge,
                .threads = 2,
        };
}

/* A tree with every kind of entry, and a fake bridge. */
static void make_app(const Fixture *f) {
        _cleanup_free_ char *l = at(f, "app/bin/link");

        put(f, "app/bin/server", "#!/bin/sh\necho hello\n", 0755, 1000);
        put(f, "app/bin/data.txt", "plain", 0644, 2000);
        put(f, "app/empty", "", 0600, 3000);
        put(f, "app/secret/key", "hidden", 0644, 1);
        put(f, "app/var/state", "mounted over", 0644, 1);
        put(f, "app/sandstorm-manifest", "never from disk", 0644, 1);
        assert_int_equal(symlink("server", l), 0);
        set_mtime(f, "app/bin/link", 4000);
        set_mtime(f, "app/bin", 5000);
        put(f, "bridge/sandstorm-http-bridge", "BRIDGE", 0755, 6000);
}

static void test_pack_everything(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_pkgdef_donep) SpkPkgdef pkgdef = {};
        _cleanup_free_ char *out = at(f, "out/app.spk"), *bridge = at(f, "bridge/sandstorm-http-bridge"),
                            *error = NULL, *outdir = at(f, "out");
        _cleanup_(decoded_done) Decoded d = {};
        const MappingSpec mappings[] = {
                { .source_path = "app", .hide = (const char *const[]) { "secret", NULL } },
                {},
        };
        SpkPackOptions opts = options(bridge);
        char names[512];
        Entry e;

        make_app(f);
        assert_int_equal(mkdir(outdir, 0755), 0);
        load_pkgdef(f, f->pk,
                    &(PkgdefSpec) { .argv0 = "/sandstorm-http-bridge", .mappings = mappings,
                                    .always_include = (const char *const[]) { ".", NULL } },
                    &pkgdef);
        assert_true(pkgdef.uses_http_bridge);

        assert_int_equal(spk_pack(&pkgdef, f->pk, f->sk, out, &opts, &error), 0);
        assert_null(error);
        assert_dir_entries(outdir, 1);
        decode(out, f->pk, &d);

        /* Root: sorted, the fixed entries, no hidden or reserved paths from the source. */
        assert_int_equal(root_names(&d, names, sizeof(names)), 9);
        assert_string_equal(names, "bin dev empty proc sandstorm-http-bridge sandstorm-http-bridge-config "
                                   "sandstorm-manifest tmp var");
        expect(&d, "bin/server", 1, SEC(1000), "#!/bin/sh\necho hello\n");
        expect(&d, "bin/data.txt", 0, SEC(2000), "plain");
        expect(&d, "bin/link", 2, SEC(4000), "server");
        expect(&d, "bin", 3, SEC(5000), NULL);
        expect(&d, "empty", 0, SEC(3000), "");
        expect(&d, "dev", 3, PACK_TIME, NULL);
        expect(&d, "tmp", 3, PACK_TIME, NULL);
        expect(&d, "var", 3, PACK_TIME, NULL);
        expect(&d, "proc", 3, PACK_TIME, NULL);
        expect(&d, "proc/cpuinfo", 0, 0, "");
        expect(&d, "sandstorm-http-bridge", 1, SEC(6000), "BRIDGE");
        assert_false(lookup(&d, "var/state", &e));

        /* The generated files: mtime 0, the pkgdef's own bytes. */
        assert_true(lookup(&d, "sandstorm-manifest", &e));
        assert_int_equal(e.which, 0);
        assert_true(e.mtime == 0);
        assert_int_equal(e.size, pkgdef.manifest_size);
        assert_memory_equal(e.data, pkgdef.manifest, e.size);
        /* No bridgeConfig in the pkgdef: an empty BridgeConfig (1 word, 3 ptrs). */
        assert_true(lookup(&d, "sandstorm-http-bridge-config", &e));
        assert_true(e.mtime == 0);
        assert_int_equal(e.size, 48);
        assert_memory_equal(e.data,
                            "\0\0\0\0\5\0\0\0"                       /* one segment of 5 words */
                            "\0\0\0\0\1\0\3\0"                       /* root: 1 data word, 3 ptrs */
                            "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0" /* all zero */
                            "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                            48);

        /* Two segments: the tree, then the contents behind far pointers. */
        assert_int_equal(d.archive.n_segments, 2);
}

static void pack_to(const Fixture *f, const SpkPkgdef *pkgdef, const char *name, SpkPackOptions *opts,
                    uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ char *out = at(f, name), *error = NULL;

        assert_int_equal(spk_pack(pkgdef, f->pk, f->sk, out, opts, &error), 0);
        read_file(out, ret, ret_size);
}

static void test_pack_reproducible(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_pkgdef_donep) SpkPkgdef pkgdef = {};
        _cleanup_free_ char *bridge = at(f, "bridge/sandstorm-http-bridge");
        _cleanup_free_ uint8_t *a = NULL, *b = NULL, *c = NULL, *later = NULL;
        size_t as, bs, cs, ls;
        const MappingSpec mappings[] = { { .source_path = "app" }, {} };
        SpkPackOptions opts = options(bridge);
        char big[300000];

        make_app(f);
        /* Enough incompressible bytes to make several xz blocks would be slow; one big file checks the
         * streaming across buffers. */
        randombytes_buf_deterministic((uint8_t *) big, sizeof(big) - 1,
                                      (const uint8_t[randombytes_SEEDBYTES]) { 1 });
        for (size_t i = 0; i < sizeof(big) - 1; i++)
                big[i] = (char) ('a' + (uint8_t) big[i] % 26);
        big[sizeof(big) - 1] = '\0';
        put(f, "app/big", big, 0644, 100);
        load_pkgdef(f, f->pk,
                    &(PkgdefSpec) { .argv0 = "/sandstorm-http-bridge", .mappings = mappings,
                                    .always_include = (const char *const[]) { ".", NULL } },
                    &pkgdef);

        pack_to(f, &pkgdef, "a.spk", &opts, &a, &as);
        pack_to(f, &pkgdef, "b.spk", &opts, &b, &bs);
        opts.threads = 1;
        pack_to(f, &pkgdef, "c.spk", &opts, &c, &cs);
        assert_int_equal(as, bs);
        assert_memory_equal(a, b, as);
        assert_int_equal(as, cs);
        assert_memory_equal(a, c, as);

        /* The pack time shows in synthesized directories. */
        opts.pack_time_ns = PACK_TIME + 1;
        pack_to(f, &pkgdef, "later.spk", &opts, &later, &ls);
        assert_false(ls == as && memcmp(a, later, as) == 0);
}

static void test_pack_file_list(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_pkgdef_donep) SpkPkgdef pkgdef = {};
        _cleanup_free_ char *out = at(f, "app.spk"), *list = at(f, "files.list"), *error = NULL;
        _cleanup_(decoded_done) Decoded d = {};
        const MappingSpec mappings[] = {
                { .source_path = "app" },
                { .package_path = "usr/share", .source_path = "share" },
                {},
        };
        SpkPackOptions opts = options(NULL);
        char names[512];
        Entry e;

        make_app(f);
        put(f, "share/doc/a", "a", 0644, 10);
        put(f, "share/doc/b", "b", 0644, 11);
        put(f, "share/other", "o", 0644, 12);
        put(f, "files.list", "# generated\nbin/server\nsandstorm-manifest\n.\nvar/lib/x\n", 0644, 1);
        load_pkgdef(f, f->pk,
                    &(PkgdefSpec) { .mappings = mappings, .file_list = list,
                                    .always_include = (const char *const[]) { "usr/share/doc", NULL } },
                    &pkgdef);
        assert_false(pkgdef.uses_http_bridge);

        assert_int_equal(spk_pack(&pkgdef, f->pk, f->sk, out, &opts, &error), 0);
        decode(out, f->pk, &d);
        assert_int_equal(root_names(&d, names, sizeof(names)), 7);
        assert_string_equal(names, "bin dev proc sandstorm-manifest tmp usr var");
        /* A listed file brings its parent along, synthesized with the pack time. */
        expect(&d, "bin", 3, PACK_TIME, NULL);
        expect(&d, "bin/server", 1, SEC(1000), "#!/bin/sh\necho hello\n");
        assert_false(lookup(&d, "bin/data.txt", &e));
        /* alwaysInclude is recursive; only what it names. */
        expect(&d, "usr", 3, PACK_TIME, NULL);
        expect(&d, "usr/share/doc/a", 0, SEC(10), "a");
        expect(&d, "usr/share/doc/b", 0, SEC(11), "b");
        assert_false(lookup(&d, "usr/share/other", &e));
}

static void test_pack_failures(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_pkgdef_donep) SpkPkgdef good = {}, no_manifest = {}, bridged = {}, big = {};
        _cleanup_free_ char *out = at(f, "out/app.spk"), *outdir = at(f, "out"), *list = at(f, "files.list"),
                            *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL, *e6 = NULL,
                            *missing = at(f, "nowhere/bridge"), *want3 = NULL, *want6 = NULL,
                            *huge = at(f, "huge");
        const MappingSpec mappings[] = { { .source_path = "app" }, {} };
        SpkPackOptions opts = options(NULL);
        uint8_t sk2[64];

        make_app(f);
        assert_int_equal(mkdir(outdir, 0755), 0);
        put(f, "files.list", "bin/server\n", 0644, 1);

        load_pkgdef(f, f->pk, &(PkgdefSpec) { .mappings = mappings, .file_list = list }, &no_manifest);
        assert_int_equal(spk_pack(&no_manifest, f->pk, f->sk, out, &opts, &e1), -ENOENT);
        assert_string_equal(e1, "The package would have no sandstorm-manifest: add it to the file list or "
                                "to alwaysInclude");

        load_pkgdef(f, f->pk,
                    &(PkgdefSpec) { .bridge_config = true, .mappings = mappings,
                                    .always_include = (const char *const[]) { "", NULL } },
                    &bridged);
        assert_true(bridged.uses_http_bridge);
        assert_int_equal(spk_pack(&bridged, f->pk, f->sk, out, &opts, &e2), -ENOENT);
        assert_string_equal(e2, "The package needs sandstorm-http-bridge, but none was found; set "
                                "SPK_BRIDGE_PATH to one");
        opts.bridge_path = missing;
        assert_int_equal(spk_pack(&bridged, f->pk, f->sk, out, &opts, &e3), -ENOENT);
        assert_true(asprintf(&want3, "The package needs sandstorm-http-bridge, but '%s' cannot be used: %s",
                             missing, strerror(ENOENT)) > 0);
        assert_string_equal(e3, want3);
        opts.bridge_path = NULL;

        /* A key pair whose halves do not match. */
        load_pkgdef(f, f->pk,
                    &(PkgdefSpec) { .mappings = mappings, .always_include = (const char *const[]) { ".", NULL } },
                    &good);
        memcpy(sk2, f->sk, 64);
        sk2[63] ^= 1;
        assert_int_equal(spk_pack(&good, f->pk, sk2, out, &opts, &e4), -EINVAL);
        assert_string_equal(e4, "The signing key's public and secret halves do not match");

        /* An archive over 1 GiB: three sparse files under the per-file limit. */
        assert_int_equal(mkdir(huge, 0755), 0);
        for (int i = 0; i < 3; i++) {
                _cleanup_free_ char *name = NULL, *p = NULL;
                int fd;

                assert_true(asprintf(&name, "huge/f%d", i) > 0);
                p = at(f, name);
                fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                assert_true(fd >= 0);
                assert_int_equal(ftruncate(fd, 400 << 20), 0);
                close(fd);
        }
        load_pkgdef(f, f->pk,
                    &(PkgdefSpec) { .mappings = (const MappingSpec[]) { { .source_path = "huge" }, {} },
                                    .always_include = (const char *const[]) { ".", NULL } },
                    &big);
        assert_int_equal(spk_pack(&big, f->pk, f->sk, out, &opts, &e5), -EFBIG);
        assert_string_equal(e5, "The package is larger than 1024 MiB");

        /* Nothing was left behind by any of these. */
        assert_dir_entries(outdir, 0);

        /* An existing output is never touched. */
        put(f, "out/app.spk", "precious", 0644, 1);
        assert_int_equal(spk_pack(&good, f->pk, f->sk, out, &opts, &e6), -EEXIST);
        assert_true(asprintf(&want6, "Output file '%s' already exists", out) > 0);
        assert_string_equal(e6, want6);
        assert_dir_entries(outdir, 1);
}

/* A file that changes between the signing pass and the compressing pass fails the pack. */
typedef struct ChangeCtx {
        const Fixture *f;
        bool done;
} ChangeCtx;

static void change_file(void *userdata, uint64_t done, uint64_t total) {
        ChangeCtx *c = userdata;

        if (c->done)
                return;
        c->done = true;
        put(c->f, "app/bin/data.txt", "PLAIN", 0644, 2000); /* same size and mtime */
}

static void test_pack_changed(void **state) {
        Fixture *f = *state;
        _cleanup_(spk_pkgdef_donep) SpkPkgdef pkgdef = {};
        _cleanup_free_ char *out = at(f, "out/app.spk"), *outdir = at(f, "out"), *error = NULL, *want = NULL,
                            *src = at(f, "app/bin/data.txt");
        const MappingSpec mappings[] = { { .source_path = "app" }, {} };
        ChangeCtx ctx = { .f = f };
        SpkPackOptions opts = options(NULL);

        make_app(f);
        assert_int_equal(mkdir(outdir, 0755), 0);
        load_pkgdef(f, f->pk,
                    &(PkgdefSpec) { .mappings = mappings,
                                    .always_include = (const char *const[]) { ".", NULL } },
                    &pkgdef);
        opts.progress = change_file;
        opts.userdata = &ctx;

        assert_int_equal(spk_pack(&pkgdef, f->pk, f->sk, out, &opts, &error), -ESTALE);
        assert_true(ctx.done);
        assert_true(asprintf(&want, "'%s' changed while it was being packed", src) > 0);
        assert_string_equal(error, want);
        assert_dir_entries(outdir, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_pack_everything, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pack_reproducible, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pack_file_list, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pack_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pack_changed, setup, teardown),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
