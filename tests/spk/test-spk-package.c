/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/string-util.h"
#include "package-builder.h"
#include "spk/package.h"

/* tests/spk/data/known.spk: `sha256sum known.spk | head -c 32`, and the app id of its signer (the
 * key from seed 32×0x42). */
#define KNOWN_PACKAGE_ID "1e30343895437e22a5f8e714575adb24"
#define KNOWN_APP_ID "459gjndvg4fk8j9k8chpycpcekvwzymve9ge604rks70e641vd90"

/* ---- fixture: a fresh directory per test, and a fixed signing key ---- */

typedef struct Fixture {
        char path[64];
        int fd;
        uint8_t pk[32];
        uint8_t sk[64];
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        uint8_t seed[32];

        if (!f)
                return -1;
        strcpy(f->path, "/tmp/test-spk-package-XXXXXX");
        if (!mkdtemp(f->path))
                return -1;
        f->fd = open(f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->fd < 0)
                return -1;
        memset(seed, 0x42, sizeof(seed));
        if (sodium_init() < 0 || crypto_sign_seed_keypair(f->pk, f->sk, seed) != 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *parent = path_dirname(f->path);
        int pfd, r;

        pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = rm_rf_at(pfd, path_basename(f->path));
        safe_close(pfd);
        safe_close(f->fd);
        free(f);
        return r < 0 ? -1 : 0;
}

static int memfd_with(const void *p, size_t n) {
        int fd = memfd_create("spk", MFD_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, p, n), 0);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static int verify_bytes(Fixture *f, const void *p, size_t n, const SpkVerifyOptions *opts,
        SpkPackageInfo *info, SpkError *error) {
        SpkVerifyOptions o = opts ? *opts : (SpkVerifyOptions) {};
        int fd = memfd_with(p, n), r;

        o.tmp_dir = o.tmp_dir ?: f->path;
        r = spk_package_verify_fd(fd, &o, info, error);
        safe_close(fd);
        return r;
}

static int unpack_bytes(Fixture *f, const void *p, size_t n, const char *name, const SpkVerifyOptions *opts,
                        SpkPackageInfo *info, SpkError *error) {
        int fd = memfd_with(p, n), r;

        r = spk_package_unpack_fd(fd, f->fd, name, opts, info, error);
        safe_close(fd);
        return r;
}

static size_t count_dir(int dfd) {
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fdopendir(fd);
        size_t n = 0;

        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

/* ---- the reference tree ---- */

static uint8_t big[300 * 1024];
static uint8_t medium[140 * 1024];
static uint8_t *manifest;
static size_t manifest_size;

static const TestEntry deep_c[] = {
        { .name = "deep.txt", .type = TEST_REGULAR, .content = "deep\n", .content_len = 5, .mtime_ns = 5 },
};
static const TestEntry deep_b[] = {
        { .name = "c", .type = TEST_DIRECTORY, .children = deep_c, .n_children = 1, .mtime_ns = 4000000000 },
};
static const TestEntry deep_a[] = {
        { .name = "b", .type = TEST_DIRECTORY, .children = deep_b, .n_children = 1, .mtime_ns = 3 },
};
static const TestEntry bin_entries[] = {
        { .name = "tool", .type = TEST_EXECUTABLE, .content = "#!/bin/sh\necho hi\n", .content_len = 18,
          .mtime_ns = INT64_C(1700000000123456789) },
        { .name = "link", .type = TEST_SYMLINK, .content = "tool", .content_len = 4,
          .mtime_ns = INT64_C(1600000000000000001) },
        { .name = "escape", .type = TEST_SYMLINK, .content = "../../../../etc/passwd", .content_len = 22,
          .mtime_ns = 7 },
};
static const TestEntry proc_entries[] = {
        { .name = "cpuinfo", .type = TEST_REGULAR },
};
static TestEntry root_entries[] = {
        { .name = "sandstorm-manifest", .type = TEST_REGULAR },
        { .name = "bin", .type = TEST_DIRECTORY, .children = bin_entries, .n_children = 3,
          .mtime_ns = INT64_C(1234567890123456789) },
        { .name = "a", .type = TEST_DIRECTORY, .children = deep_a, .n_children = 1, .mtime_ns = 2 },
        { .name = "big.bin", .type = TEST_REGULAR, .content = big, .content_len = sizeof(big),
          .placement = TEST_FAR, .mtime_ns = 1000000000 },
        { .name = "medium.bin", .type = TEST_EXECUTABLE, .content = medium, .content_len = sizeof(medium),
          .placement = TEST_DOUBLE_FAR, .mtime_ns = 11 },
        { .name = "far-link", .type = TEST_SYMLINK, .content = "big.bin", .content_len = 7,
          .placement = TEST_FAR, .mtime_ns = 12 },
        { .name = "old", .type = TEST_REGULAR, .content = "1969", .content_len = 4,
          .mtime_ns = INT64_C(-1500000000) },
        { .name = "empty", .type = TEST_REGULAR, .mtime_ns = -1 },
        { .name = "dev", .type = TEST_DIRECTORY },
        { .name = "tmp", .type = TEST_DIRECTORY },
        { .name = "var", .type = TEST_DIRECTORY },
        { .name = "proc", .type = TEST_DIRECTORY, .children = proc_entries, .n_children = 1 },
        { .name = "ünïcode ☃", .type = TEST_REGULAR, .content = "x", .content_len = 1, .mtime_ns = 13 },
};

static int group_setup(void **state) {
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (uint8_t) (i * 7 + (i >> 9));
        for (size_t i = 0; i < sizeof(medium); i++)
                medium[i] = (uint8_t) (i ^ (i >> 8));
        test_build_manifest(7, "Test App", "https://example.com", "http://example.com/code", &manifest,
                            &manifest_size);
        root_entries[0].content = manifest;
        root_entries[0].content_len = manifest_size;
        (void) umask(022);
        return 0;
}

static uint8_t *early_big;

static int group_teardown(void **state) {
        free(manifest);
        free(early_big);
        return 0;
}

static void build_package(Fixture *f, const TestEntry *e, size_t n, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *archive = NULL;
        size_t archive_size;

        test_build_archive(e, n, &archive, &archive_size);
        test_build_package(f->pk, f->sk, archive, archive_size, NULL, 0, ret, ret_size);
}

static void expect_mtime(const struct stat *st, int64_t ns) {
        int64_t sec = ns / 1000000000, rem = ns % 1000000000;

        if (rem < 0) {
                rem += 1000000000;
                sec--;
        }
        assert_int_equal((int64_t) st->st_mtim.tv_sec, sec);
        assert_int_equal((int64_t) st->st_mtim.tv_nsec, rem);
}

/* The unpacked tree beneath dfd is exactly entries: names, types, modes, contents, targets, mtimes. */
static void check_tree(int dfd, const TestEntry *e, size_t n, mode_t mask) {
        assert_int_equal(count_dir(dfd), n);

        for (size_t i = 0; i < n; i++) {
                struct stat st;

                assert_int_equal(fstatat(dfd, e[i].name, &st, AT_SYMLINK_NOFOLLOW), 0);
                switch (e[i].type) {
                case TEST_REGULAR:
                case TEST_EXECUTABLE: {
                        _cleanup_free_ char *buf = NULL;
                        size_t size;

                        assert_true(S_ISREG(st.st_mode));
                        assert_int_equal(st.st_mode & 07777, (e[i].type ? 0777 : 0666) & ~mask);
                        assert_int_equal(read_full_file_at(dfd, e[i].name, 16 << 20, &buf, &size), 0);
                        assert_int_equal(size, e[i].content_len);
                        if (size)
                                assert_memory_equal(buf, e[i].content, size);
                        break;
                }
                case TEST_SYMLINK: {
                        char target[4096];
                        ssize_t k = readlinkat(dfd, e[i].name, target, sizeof(target));

                        assert_true(S_ISLNK(st.st_mode));
                        assert_int_equal(k, (ssize_t) e[i].content_len);
                        assert_memory_equal(target, e[i].content, (size_t) k);
                        break;
                }
                case TEST_DIRECTORY: {
                        int cfd = openat(dfd, e[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        assert_true(cfd >= 0);
                        assert_true(S_ISDIR(st.st_mode));
                        assert_int_equal(st.st_mode & 07777, 0777 & ~mask);
                        check_tree(cfd, e[i].children, e[i].n_children, mask);
                        safe_close(cfd);
                        break;
                }
                default:
                        fail();
                }
                expect_mtime(&st, e[i].mtime_ns);
        }
}

static void sha256_prefix(const void *p, size_t n, uint8_t ret[16]) {
        uint8_t h[32];
        unsigned len;

        assert_int_equal(EVP_Digest(p, n, h, &len, EVP_sha256(), NULL), 1);
        memcpy(ret, h, 16);
}

/* ---- valid packages ---- */

static void test_verify_valid(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *pkg = NULL;
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        char text[APP_ID_TEXT_SIZE + 1];
        uint8_t id[16];
        SpkError error = {};
        size_t n;

        build_package(f, root_entries, ELEMENTSOF(root_entries), &pkg, &n);

        for (unsigned threads = 0; threads <= 1; threads++) {
                spk_package_info_done(&info);
                assert_int_equal(
                        verify_bytes(f, pkg, n, &(SpkVerifyOptions){.threads = threads}, &info, &error), 0);
                assert_memory_equal(info.signer, f->pk, 32);
                assert_memory_equal(info.app_id, f->pk, 32);
                assert_string_equal(info.app_id_text, app_id_to_string(f->pk, text));
                sha256_prefix(pkg, n, id);
                assert_memory_equal(info.package_id, id, 16);
                assert_int_equal(strlen(info.package_id_text), 32);
                assert_int_equal(info.manifest_size, manifest_size);
                assert_memory_equal(info.manifest, manifest, manifest_size);
                assert_null(info.bridge_config);
                assert_int_equal(info.n_entries, 20);
                assert_int_equal(info.content_bytes,
                                 manifest_size + 18 + 5 + sizeof(big) + sizeof(medium) + 4 + 1);
                assert_null(info.author_pgp_key_fingerprint);
        }
        /* Nothing left in the temporary directory. */
        assert_int_equal(count_dir(f->fd), 0);
}

static void test_unpack_valid(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *pkg = NULL;
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        SpkError error = {};
        int dfd;
        size_t n;

        build_package(f, root_entries, ELEMENTSOF(root_entries), &pkg, &n);
        assert_int_equal(unpack_bytes(f, pkg, n, "out", NULL, &info, &error), 0);
        assert_memory_equal(info.app_id, f->pk, 32);

        /* Exactly the new directory, nothing else (no temporary files or directories). */
        assert_int_equal(count_dir(f->fd), 1);
        dfd = openat(f->fd, "out", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        assert_true(dfd >= 0);
        check_tree(dfd, root_entries, ELEMENTSOF(root_entries), 022);
        {
                struct stat st;
                assert_int_equal(fstat(dfd, &st), 0);
                assert_int_equal(st.st_mode & 07777, 0755);
        }
        safe_close(dfd);

        /* A second unpack to the same name fails and leaves the first alone. */
        assert_int_equal(unpack_bytes(f, pkg, n, "out", NULL, NULL, &error), -EEXIST);
        assert_string_equal(error.message, "Output directory already exists: 'out'.");
        assert_int_equal(count_dir(f->fd), 1);
}

static void test_unpack_umask(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *pkg = NULL;
        SpkError error = {};
        mode_t old = umask(027);
        int dfd;
        size_t n;

        build_package(f, root_entries, ELEMENTSOF(root_entries), &pkg, &n);
        assert_int_equal(unpack_bytes(f, pkg, n, "out", &(SpkVerifyOptions){.threads = 1}, NULL, &error), 0);
        dfd = openat(f->fd, "out", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        check_tree(dfd, root_entries, ELEMENTSOF(root_entries), 027);
        safe_close(dfd);
        umask(old);
}

static void test_bridge_config_and_trailing(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *archive = NULL, *pkg = NULL;
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        static const uint8_t bridge[16] = { 0, 0, 0, 0, 1, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
        TestEntry e[] = {
                root_entries[0],
                { .name = "sandstorm-http-bridge-config", .type = TEST_REGULAR, .content = bridge,
                  .content_len = sizeof(bridge) },
        };
        SpkError error = {};
        size_t archive_size, n;

        /* Bytes after the archive message are covered by the signature and otherwise ignored. */
        test_build_archive(e, ELEMENTSOF(e), &archive, &archive_size);
        test_build_package(f->pk, f->sk, archive, archive_size, "trailing garbage", 16, &pkg, &n);
        assert_int_equal(verify_bytes(f, pkg, n, NULL, &info, &error), 0);
        assert_int_equal(info.bridge_config_size, sizeof(bridge));
        assert_memory_equal(info.bridge_config, bridge, sizeof(bridge));
        assert_int_equal(info.archive_bytes, archive_size + 16);
}

static void test_concatenated_streams(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *archive = NULL, *sig = NULL, *x1 = NULL, *x2 = NULL, *pkg = NULL;
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        uint8_t sm[128];
        SpkError error = {};
        size_t archive_size, sig_size, n1, n2;

        /* Signature in one xz stream, archive in a second, then stream padding: `xz -dc` accepts it. */
        test_build_archive(root_entries, 1, &archive, &archive_size);
        test_sign(f->sk, archive, archive_size, sm);
        test_build_signature(f->pk, 32, sm, 128, &sig, &sig_size);
        test_xz_wrap(sig, sig_size, 1, &x1, &n1);
        test_xz_wrap(archive, archive_size, 6, &x2, &n2);
        pkg = malloc(n1 + n2 - 8 + 4);
        memcpy(pkg, x1, n1);
        memcpy(pkg + n1, x2 + 8, n2 - 8);
        memset(pkg + n1 + n2 - 8, 0, 4);
        assert_int_equal(verify_bytes(f, pkg, n1 + n2 - 8 + 4, NULL, &info, &error), 0);
}

static void test_pipe_input(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *pkg = NULL;
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        SpkError error = {};
        int fds[2];
        pid_t pid;
        size_t n;

        build_package(f, root_entries, ELEMENTSOF(root_entries), &pkg, &n);
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                safe_close(fds[0]);
                _exit(loop_write(fds[1], pkg, n) < 0 ? 1 : 0);
        }
        safe_close(fds[1]);
        assert_int_equal(
                spk_package_verify_fd(fds[0], &(SpkVerifyOptions){.tmp_dir = f->path}, &info, &error), 0);
        safe_close(fds[0]);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        {
                uint8_t id[16];
                sha256_prefix(pkg, n, id);
                assert_memory_equal(info.package_id, id, 16);
        }
}

static uint64_t progress_done, progress_total;
static unsigned progress_calls;

static void progress_cb(void *userdata, uint64_t done, uint64_t total) {
        assert_ptr_equal(userdata, &progress_calls);
        assert_true(done >= progress_done);
        progress_done = done;
        progress_total = total;
        progress_calls++;
}

static void test_progress(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *pkg = NULL;
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        SpkError error = {};
        size_t n;

        build_package(f, root_entries, ELEMENTSOF(root_entries), &pkg, &n);
        assert_int_equal(verify_bytes(f, pkg, n,
                                 &(SpkVerifyOptions){.progress = progress_cb, .userdata = &progress_calls},
                                 &info, &error),
                0);
        assert_true(progress_calls >= 1);
        assert_int_equal(progress_done, n);
        assert_int_equal(progress_total, n);
}

/* The package id of a committed file, as `sha256sum known.spk | head -c 32` gives it. */
static void test_known_package_id(void **state) {
        Fixture *f = *state;
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        SpkError error = {};
        int fd, r;

        fd = open(TEST_DATA_DIR "/known.spk", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        r = spk_package_verify_fd(fd, &(SpkVerifyOptions) { .tmp_dir = f->path }, &info, &error);
        safe_close(fd);
        assert_int_equal(r, 0);
        assert_string_equal(info.package_id_text, KNOWN_PACKAGE_ID);
        assert_string_equal(info.app_id_text, KNOWN_APP_ID);
}

/* ---- bad packages: each fails with its message and leaves nothing behind ---- */

static void expect_failure(Fixture *f, const uint8_t *pkg, size_t n, const SpkLimits *limits,
        int errno_expected, const char *message) {
        SpkPackageInfo info = {};
        SpkError error = {};

        for (unsigned threads = 0; threads <= 1; threads++) {
                SpkVerifyOptions o = { .limits = limits, .threads = threads };

                memset(&error, 0, sizeof(error));
                assert_int_equal(verify_bytes(f, pkg, n, &o, &info, &error), errno_expected);
                assert_string_equal(error.message, message);

                memset(&error, 0, sizeof(error));
                assert_int_equal(unpack_bytes(f, pkg, n, "out", &o, &info, &error), errno_expected);
                assert_string_equal(error.message, message);
                assert_int_equal(count_dir(f->fd), 0);
        }
}

static void expect_bad_archive(Fixture *f, const TestEntry *e, size_t n, const SpkLimits *limits,
        int errno_expected, const char *message) {
        _cleanup_free_ uint8_t *pkg = NULL;
        size_t size;

        build_package(f, e, n, &pkg, &size);
        expect_failure(f, pkg, size, limits, errno_expected, message);
}

static void test_bad_magic(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *pkg = NULL;
        size_t n;

        build_package(f, root_entries, 1, &pkg, &n);
        pkg[0] ^= 1;
        expect_failure(f, pkg, n, NULL, -EBADMSG, "Not a Sandstorm package (bad magic number).");
        pkg[0] ^= 1;
        expect_failure(f, pkg, 5, NULL, -EBADMSG, "Not a Sandstorm package (bad magic number).");
        expect_failure(f, pkg, 0, NULL, -EBADMSG, "Not a Sandstorm package (bad magic number).");
}

static void test_bad_xz(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *pkg = NULL;
        size_t n;

        build_package(f, root_entries, ELEMENTSOF(root_entries), &pkg, &n);
        expect_failure(f, pkg, SPK_MAGIC_SIZE, NULL, -EBADMSG, "Package is truncated.");
        expect_failure(f, pkg, n - 10, NULL, -EBADMSG, "Package is truncated.");
        expect_failure(f, pkg, n / 2, NULL, -EBADMSG, "Package is truncated.");
        pkg[n / 2] ^= 0x55;
        expect_failure(f, pkg, n, NULL, -EBADMSG, "Package is corrupt: xz data error.");
        pkg[n / 2] ^= 0x55;
        {
                uint8_t saved = pkg[SPK_MAGIC_SIZE];

                /* Neither xz nor a valid legacy .lzma header (properties byte > 224). */
                pkg[SPK_MAGIC_SIZE] = 0xff;
                expect_failure(f, pkg, n, NULL, -EBADMSG, "Package is corrupt: not an xz stream.");
                pkg[SPK_MAGIC_SIZE] = saved;
        }

        /* Garbage after the xz stream. */
        pkg = realloc(pkg, n + 24);
        memcpy(pkg + n, "garbage after the stream", 24);
        expect_failure(f, pkg, n + 24, NULL, -EBADMSG, "Package is corrupt: xz data error.");
}

static void test_bad_signature(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *archive = NULL;
        uint8_t sm[128];
        size_t archive_size;
        struct {
                size_t pk_len, sm_len;
                int flip; /* byte of the combined signature to flip, or -1 */
                int errno_expected;
                const char *message;
        } cases[] = {
                { 31, 128, -1, -EBADMSG, "Invalid public key." },
                { 33, 128, -1, -EBADMSG, "Invalid public key." },
                { 32, 127, -1, -EBADMSG, "Invalid signature format." },
                { 32, 64, -1, -EBADMSG, "Invalid signature format." },
                { 32, 128, 3, -EKEYREJECTED, "Invalid signature." },
                { 32, 128, 100, -EKEYREJECTED, "Invalid signature." },
        };

        test_build_archive(root_entries, ELEMENTSOF(root_entries), &archive, &archive_size);
        test_sign(f->sk, archive, archive_size, sm);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ uint8_t *sig = NULL, *payload = NULL, *pkg = NULL;
                uint8_t pk[33] = {}, s[128];
                size_t sig_size, n;

                memcpy(pk, f->pk, 32);
                memcpy(s, sm, 128);
                if (cases[i].flip >= 0)
                        s[cases[i].flip] ^= 1;
                test_build_signature(pk, cases[i].pk_len, s, cases[i].sm_len, &sig, &sig_size);
                payload = malloc(sig_size + archive_size);
                memcpy(payload, sig, sig_size);
                memcpy(payload + sig_size, archive, archive_size);
                test_xz_wrap(payload, sig_size + archive_size, 0, &pkg, &n);
                expect_failure(f, pkg, n, NULL, cases[i].errno_expected, cases[i].message);
        }

        /* Signed by another key than the one it names. */
        {
                _cleanup_free_ uint8_t *pkg = NULL;
                uint8_t pk2[32], sk2[64];
                size_t n;

                crypto_sign_keypair(pk2, sk2);
                test_build_package(pk2, f->sk, archive, archive_size, NULL, 0, &pkg, &n);
                expect_failure(f, pkg, n, NULL, -EKEYREJECTED, "Invalid signature.");
        }

        /* The signature covers other bytes than the archive. */
        {
                _cleanup_free_ uint8_t *sig = NULL, *payload = NULL, *pkg = NULL;
                size_t sig_size, n;

                test_build_signature(f->pk, 32, sm, 128, &sig, &sig_size);
                payload = malloc(sig_size + archive_size + 1);
                memcpy(payload, sig, sig_size);
                memcpy(payload + sig_size, archive, archive_size);
                payload[sig_size + archive_size] = 0; /* one trailing byte, not signed */
                test_xz_wrap(payload, sig_size + archive_size + 1, 0, &pkg, &n);
                expect_failure(f, pkg, n, NULL, -EKEYREJECTED, "Signature didn't match package contents.");
                /* … or the archive was changed after signing. */
                free(pkg);
                payload[sig_size + 20] ^= 1;
                test_xz_wrap(payload, sig_size + archive_size, 0, &pkg, &n);
                expect_failure(f, pkg, n, NULL, -EKEYREJECTED, "Signature didn't match package contents.");
        }

        /* The decompressed stream ends inside the Signature message. */
        {
                _cleanup_free_ uint8_t *sig = NULL, *pkg = NULL;
                size_t sig_size, n;

                test_build_signature(f->pk, 32, sm, 128, &sig, &sig_size);
                test_xz_wrap(sig, sig_size - 8, 0, &pkg, &n);
                expect_failure(
                        f, pkg, n, NULL, -EBADMSG, "Package is truncated: its signature is incomplete.");
                free(pkg);
                test_xz_wrap(sig, 4, 0, &pkg, &n);
                expect_failure(
                        f, pkg, n, NULL, -EBADMSG, "Package is truncated: its signature is incomplete.");
        }

        /* A Signature message too big to be one. */
        {
                _cleanup_free_ uint8_t *sig = NULL, *pkg = NULL, *huge = calloc(8192, 1);
                size_t sig_size, n;

                test_build_signature(f->pk, 32, huge, 8192, &sig, &sig_size);
                test_xz_wrap(sig, sig_size, 0, &pkg, &n);
                expect_failure(f, pkg, n, NULL, -EBADMSG, "Package signature is malformed.");
        }
}

static void test_too_big(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *pkg = NULL, *archive = NULL;
        SpkLimits limits = SPK_LIMITS_DEFAULT;
        size_t n, archive_size;

        build_package(f, root_entries, ELEMENTSOF(root_entries), &pkg, &n);
        test_build_archive(root_entries, ELEMENTSOF(root_entries), &archive, &archive_size);

        limits.max_archive_bytes = archive_size - 1;
        expect_failure(f, pkg, n, &limits, -EFBIG, "App too big after decompress.");
        limits.max_archive_bytes = 1000;
        expect_failure(f, pkg, n, &limits, -EFBIG, "App too big after decompress.");

        /* Exactly at the limit is fine. */
        {
                _cleanup_spk_package_info_ SpkPackageInfo info = {};
                SpkError error = {};

                limits.max_archive_bytes = archive_size;
                assert_int_equal(
                        verify_bytes(f, pkg, n, &(SpkVerifyOptions){.limits = &limits}, &info, &error), 0);
        }

        limits = SPK_LIMITS_DEFAULT;
        limits.max_file_bytes = sizeof(big) - 1;
        expect_failure(f, pkg, n, &limits, -EFBIG, "File 'big.bin' in archive is too big (307200 bytes).");
}

static void test_bad_names(void **state) {
        Fixture *f = *state;
        char long_name[257];
        static const struct {
                const char *name;
                size_t len;
                const char *message;
        } cases[] = {
                { "", 0, "Archive contains an invalid file name ''." },
                { ".", 1, "Archive contains an invalid file name '.'." },
                { "..", 2, "Archive contains an invalid file name '..'." },
                { "a/b", 3, "Archive contains an invalid file name 'a/b'." },
                { "/etc", 4, "Archive contains an invalid file name '/etc'." },
                { "a\0b", 3, "Archive contains an invalid file name 'a\\x00b'." },
                { "x/", 2, "Archive contains an invalid file name 'x/'." },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                TestEntry e[] = {
                        root_entries[0],
                        { .name = cases[i].name, .name_len = cases[i].len, .type = TEST_REGULAR },
                };

                /* An empty name must still be a (non-null) text: the builder writes one when len is 0 … */
                if (cases[i].len == 0)
                        e[1].name = "";
                expect_bad_archive(f, e, ELEMENTSOF(e), NULL, -EBADMSG, cases[i].message);
        }

        /* … and a null one is the same mistake. */
        {
                TestEntry e[] = { root_entries[0], { .null_name = true, .type = TEST_REGULAR } };
                expect_bad_archive(
                        f, e, ELEMENTSOF(e), NULL, -EBADMSG, "Archive contains an invalid file name ''.");
        }

        /* In a subdirectory, the message says where. */
        {
                static const TestEntry sub[] = {
                        {.name = "..", .type = TEST_SYMLINK, .content = "x", .content_len = 1}};
                TestEntry e[] = {root_entries[0],
                        {.name = "dir", .type = TEST_DIRECTORY, .children = sub, .n_children = 1}};
                expect_bad_archive(f, e, ELEMENTSOF(e), NULL, -EBADMSG,
                                   "Archive contains an invalid file name '..' in 'dir'.");
        }

        memset(long_name, 'n', 256);
        long_name[256] = 0;
        {
                TestEntry e[] = { root_entries[0], { .name = long_name, .type = TEST_REGULAR } };
                _cleanup_free_ uint8_t *pkg = NULL;
                _cleanup_spk_package_info_ SpkPackageInfo info = {};
                SpkError error = {};
                size_t n;

                build_package(f, e, ELEMENTSOF(e), &pkg, &n);
                assert_int_equal(verify_bytes(f, pkg, n, NULL, &info, &error), -EBADMSG);
                assert_non_null(startswith(error.message, "Archive contains an invalid file name 'nnnn"));
                assert_int_equal(unpack_bytes(f, pkg, n, "out", NULL, NULL, &error), -EBADMSG);
                assert_int_equal(count_dir(f->fd), 0);

                /* 255 bytes is fine. */
                long_name[255] = 0;
                free(pkg);
                spk_package_info_done(&info);
                build_package(f, e, ELEMENTSOF(e), &pkg, &n);
                assert_int_equal(verify_bytes(f, pkg, n, NULL, &info, &error), 0);
        }
}

static void test_duplicates(void **state) {
        Fixture *f = *state;
        static const TestEntry x[] = {
                {.name = "x", .type = TEST_REGULAR, .content = "pwned", .content_len = 5}};
        static const TestEntry dup_in_sub[] = {
                { .name = "same", .type = TEST_REGULAR },
                { .name = "other", .type = TEST_REGULAR },
                { .name = "same", .type = TEST_EXECUTABLE },
        };

        /* A symlink "a" to /etc, then a directory "a" holding "x": must never write /etc/x. */
        {
                TestEntry e[] = {
                        root_entries[0],
                        { .name = "a", .type = TEST_SYMLINK, .content = "/etc", .content_len = 4 },
                        { .name = "a", .type = TEST_DIRECTORY, .children = x, .n_children = 1 },
                };
                expect_bad_archive(
                        f, e, ELEMENTSOF(e), NULL, -EBADMSG, "Archive contains the name 'a' twice.");
        }
        {
                TestEntry e[] = {
                        root_entries[0],
                        { .name = "d", .type = TEST_DIRECTORY, .children = dup_in_sub, .n_children = 3 },
                };
                expect_bad_archive(
                        f, e, ELEMENTSOF(e), NULL, -EBADMSG, "Archive contains the name 'd/same' twice.");
        }
        {
                TestEntry e[] = { root_entries[0], root_entries[0] };
                expect_bad_archive(f, e, ELEMENTSOF(e), NULL, -EBADMSG,
                                   "Archive contains the name 'sandstorm-manifest' twice.");
        }
        assert_int_equal(access("/etc/x", F_OK), -1);
}

static void test_types(void **state) {
        Fixture *f = *state;

        {
                TestEntry e[] = { root_entries[0], { .name = "weird", .type = 4 } };
                expect_bad_archive(f, e, ELEMENTSOF(e), NULL, -EBADMSG,
                        "Archive entry 'weird' has an unknown type (4).");
        }
        {
                TestEntry e[] = { root_entries[0], { .name = "weird", .type = 0xffff } };
                expect_bad_archive(f, e, ELEMENTSOF(e), NULL, -EBADMSG,
                                   "Archive entry 'weird' has an unknown type (65535).");
        }
        {
                TestEntry e[] = { root_entries[0], { .name = "l", .type = TEST_SYMLINK } };
                expect_bad_archive(
                        f, e, ELEMENTSOF(e), NULL, -EBADMSG, "Archive contains an invalid symlink: 'l'.");
        }
        {
                TestEntry e[] = {root_entries[0],
                        {.name = "l", .type = TEST_SYMLINK, .content = "a\0b", .content_len = 3}};
                expect_bad_archive(
                        f, e, ELEMENTSOF(e), NULL, -EBADMSG, "Archive contains an invalid symlink: 'l'.");
        }
}

static void test_depth(void **state) {
        Fixture *f = *state;
        TestEntry chain[130];
        SpkLimits limits = SPK_LIMITS_DEFAULT;

        /* chain[i] is directory "d" holding chain[i + 1]; the last is a file. Root level is 1. */
        for (size_t i = 0; i < ELEMENTSOF(chain); i++)
                chain[i] = (TestEntry){
                        .name = "d", .type = TEST_DIRECTORY, .children = &chain[i + 1], .n_children = 1};

        /* 128 levels: fine, and unpacks. */
        chain[127] = (TestEntry) { .name = "f", .type = TEST_REGULAR, .content = "deep", .content_len = 4 };
        {
                TestEntry e[] = { root_entries[0], chain[0] };
                _cleanup_free_ uint8_t *pkg = NULL;
                _cleanup_spk_package_info_ SpkPackageInfo info = {};
                SpkError error = {};
                size_t n;

                build_package(f, e, ELEMENTSOF(e), &pkg, &n);
                assert_int_equal(verify_bytes(f, pkg, n, NULL, &info, &error), 0);
                assert_int_equal(unpack_bytes(f, pkg, n, "out", NULL, NULL, &error), 0);
                assert_int_equal(rm_rf_at(f->fd, "out"), 0);
        }

        /* 129 levels: too deep. */
        chain[127] =
                (TestEntry){.name = "d", .type = TEST_DIRECTORY, .children = &chain[128], .n_children = 1};
        chain[128] = (TestEntry) { .name = "f", .type = TEST_REGULAR };
        {
                TestEntry e[] = { root_entries[0], chain[0] };
                _cleanup_free_ char *where = NULL;
                StrBuf s = STRBUF_INIT;
                char message[600];

                for (unsigned i = 0; i < 128; i++)
                        strbuf_append_str(&s, i ? "/d" : "d");
                where = strbuf_steal(&s, NULL);
                /* Long paths are shortened in messages. */
                snprintf(message, sizeof(message),
                        "Archive nests directories more than 128 deep (at '%.*s...').", 248, where);
                expect_bad_archive(f, e, ELEMENTSOF(e), NULL, -ELOOP, message);

                limits.max_depth = 3;
                expect_bad_archive(f, e, ELEMENTSOF(e), &limits, -ELOOP,
                                   "Archive nests directories more than 3 deep (at 'd/d/d').");
        }
}

static void test_counts(void **state) {
        Fixture *f = *state;
        SpkLimits limits = SPK_LIMITS_DEFAULT;
        _cleanup_free_ uint8_t *pkg = NULL;
        size_t n;

        build_package(f, root_entries, ELEMENTSOF(root_entries), &pkg, &n);

        limits.max_entries = 19;
        expect_failure(f, pkg, n, &limits, -E2BIG, "Archive has too many entries (limit 19).");
        limits.max_entries = 12;
        expect_failure(f, pkg, n, &limits, -E2BIG, "Archive has too many entries (limit 12).");

        limits = SPK_LIMITS_DEFAULT;
        limits.max_total_path_bytes = 100;
        expect_failure(
                f, pkg, n, &limits, -E2BIG, "Archive's file paths are too long in total (limit 100 bytes).");

        {
                _cleanup_spk_package_info_ SpkPackageInfo info = {};
                SpkError error = {};

                limits = SPK_LIMITS_DEFAULT;
                limits.max_entries = 20;
                assert_int_equal(
                        verify_bytes(f, pkg, n, &(SpkVerifyOptions){.limits = &limits}, &info, &error), 0);
        }
}

static void test_overlap(void **state) {
        Fixture *f = *state;
        TestEntry e[] = {
                root_entries[0],
                {.name = "one",
                        .type = TEST_REGULAR,
                        .content = big,
                        .content_len = sizeof(big),
                        .placement = TEST_FAR},
                {.name = "two", .type = TEST_REGULAR, .placement = TEST_SHARED},
        };

        /* Reading the blob a second time overdraws the traversal budget (the message's own size). */
        expect_bad_archive(f, e, ELEMENTSOF(e), NULL, -EBADMSG,
                           "Archive is malformed at 'two': it reads more data than it holds.");
}

static void test_malformed_archive(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *pkg = NULL;
        static const uint8_t bad_root[16] = { 0, 0, 0, 0, 1, 0, 0, 0, 0x7c, 0, 0, 0, 0, 0, 1, 0 };
        static const uint8_t truncated[12] = { 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0 };
        static const uint8_t list_root[16] = { 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
        size_t n;

        /* Root struct pointer far outside its segment. */
        test_build_package(f->pk, f->sk, bad_root, sizeof(bad_root), NULL, 0, &pkg, &n);
        expect_failure(
                f, pkg, n, NULL, -EBADMSG, "Archive is malformed: it is not a valid Cap'n Proto message.");
        free(pkg);
        test_build_package(f->pk, f->sk, truncated, sizeof(truncated), NULL, 0, &pkg, &n);
        expect_failure(f, pkg, n, NULL, -EBADMSG, "Archive is truncated.");
        free(pkg);
        test_build_package(f->pk, f->sk, NULL, 0, NULL, 0, &pkg, &n);
        expect_failure(f, pkg, n, NULL, -EBADMSG, "Archive is truncated.");
        free(pkg);
        test_build_package(f->pk, f->sk, list_root, sizeof(list_root), NULL, 0, &pkg, &n);
        expect_failure(f, pkg, n, NULL, -EBADMSG, "Archive is malformed: a field has the wrong type.");
}

static void test_manifest(void **state) {
        Fixture *f = *state;

        {
                TestEntry e[] = { root_entries[2] };
                expect_bad_archive(f, e, ELEMENTSOF(e), NULL, -EBADMSG, "SPK contains no manifest file.");
        }
        {
                TestEntry e[] = { { .name = "sandstorm-manifest", .type = TEST_DIRECTORY } };
                expect_bad_archive(
                        f, e, ELEMENTSOF(e), NULL, -EBADMSG, "sandstorm-manifest is not a regular file");
        }
        {
                TestEntry e[] = {{.name = "sandstorm-manifest",
                        .type = TEST_EXECUTABLE,
                        .content = manifest,
                        .content_len = manifest_size}};
                expect_bad_archive(
                        f, e, ELEMENTSOF(e), NULL, -EBADMSG, "sandstorm-manifest is not a regular file");
        }
        {
                /* Only the root one counts. */
                static TestEntry sub[1];
                TestEntry e[] = {{.name = "sub", .type = TEST_DIRECTORY, .children = sub, .n_children = 1}};
                sub[0] = root_entries[0];
                expect_bad_archive(f, e, ELEMENTSOF(e), NULL, -EBADMSG, "SPK contains no manifest file.");
        }
        {
                TestEntry e[] = { { .name = "sandstorm-manifest", .type = TEST_REGULAR, .content = "garbage",
                                    .content_len = 7 } };
                expect_bad_archive(f, e, ELEMENTSOF(e), NULL, -EBADMSG,
                        "sandstorm-manifest is malformed: it is not a valid Cap'n Proto message.");
        }

        static const struct {
                const char *website, *code_url, *message;
        } urls[] = {
                {"ftp://example.com", NULL, "Manifest's website URL must begin with http:// or https://."},
                {"javascript:alert(1)", NULL, "Manifest's website URL must begin with http:// or https://."},
                {"", NULL, "Manifest's website URL must begin with http:// or https://."},
                {"https://ok", "HTTP://x", "Manifest's codeUrl must begin with http:// or https://."},
        };
        for (size_t i = 0; i < ELEMENTSOF(urls); i++) {
                _cleanup_free_ uint8_t *m = NULL;
                size_t m_size;

                test_build_manifest(1, "T", urls[i].website, urls[i].code_url, &m, &m_size);
                TestEntry e[] = { { .name = "sandstorm-manifest", .type = TEST_REGULAR, .content = m,
                                    .content_len = m_size } };
                expect_bad_archive(f, e, ELEMENTSOF(e), NULL, -EBADMSG, urls[i].message);
        }
}

static void test_verified_info(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *pkg = NULL, *vi = NULL;
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        CapnpMessage msg = {};
        CapnpStruct root, id, title;
        SpkError error = {};
        const char *text;
        size_t n, vi_size, used, len;

        build_package(f, root_entries, ELEMENTSOF(root_entries), &pkg, &n);
        assert_int_equal(verify_bytes(f, pkg, n, NULL, &info, &error), 0);
        assert_int_equal(spk_verified_info_build(&info, &vi, &vi_size), 0);

        assert_int_equal(capnp_message_parse(&msg, vi, vi_size, NULL, &used), 0);
        assert_int_equal(used, vi_size);
        assert_int_equal(capnp_message_root(&msg, &root), 0);
        assert_int_equal(capnp_struct_get_struct(&root, 0, &id), 0);
        assert_int_equal(id.data_bytes, 32);
        assert_memory_equal(id.data, f->pk, 32);
        assert_int_equal(capnp_struct_get_struct(&root, 1, &id), 0);
        assert_int_equal(id.data_bytes, 16);
        assert_memory_equal(id.data, info.package_id, 16);
        assert_int_equal(capnp_struct_get_struct(&root, 2, &title), 0);
        assert_int_equal(capnp_struct_get_text(&title, 0, &text, &len), 0);
        assert_string_equal(text, "Test App");
        assert_int_equal(capnp_struct_get_u32(&root, 0), 7);
        assert_false(capnp_struct_has(&root, 4));
        assert_true(capnp_struct_has(&root, 5));
        capnp_message_done(&msg);
}

static void test_unpack_destination(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *pkg = NULL;
        SpkError error = {};
        size_t n;

        build_package(f, root_entries, 1, &pkg, &n);
        assert_int_equal(unpack_bytes(f, pkg, n, "a/b", NULL, NULL, &error), -EINVAL);
        assert_string_equal(error.message, "Invalid output directory name 'a/b'.");
        assert_int_equal(unpack_bytes(f, pkg, n, "..", NULL, NULL, &error), -EINVAL);

        /* A dangling symlink counts as existing, and is not followed. */
        assert_int_equal(symlinkat("/nonexistent-target", f->fd, "link"), 0);
        assert_int_equal(unpack_bytes(f, pkg, n, "link", NULL, NULL, &error), -EEXIST);
        assert_string_equal(error.message, "Output directory already exists: 'link'.");
        assert_int_equal(count_dir(f->fd), 1);
}


/* ---- the tree made while the archive streams in (EARLY, spk/package.c) ---- */

/* Directories and regular files beneath dfd (symlinks are not counted: EARLY does not make them). */
static size_t count_made(int dfd) {
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fdopendir(fd);
        size_t n = 0;

        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                assert_int_equal(fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
                if (S_ISREG(st.st_mode))
                        n++;
                else if (S_ISDIR(st.st_mode)) {
                        int cfd = openat(dirfd(d), de->d_name,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        assert_true(cfd >= 0);
                        n += 1 + count_made(cfd);
                        safe_close(cfd);
                }
        }
        closedir(d);
        return n;
}

/* The hidden directory an unpack is building beneath dfd, or -EBADF when there is none. */
static int open_unpack_dir(int dfd) {
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = -EBADF;
        DIR *d = fdopendir(fd);

        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));)
                if (strneq(de->d_name, ".spk-unpack-", 12)) {
                        r = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        assert_true(r >= 0);
                        break;
                }
        closedir(d);
        return r;
}

/* Looks into the unpack in progress from its progress callback, which runs in the thread that
 * decompresses, while the sink and EARLY go on. Once the first MiB of the archive has surely been
 * handed on (3 MiB of incompressible input read), waits up to 10 s for the hidden directory to hold
 * `expect` directories and files, and then a little longer to see that no more come; calls check
 * on what it found. */
typedef struct Watch {
        int dfd;
        size_t expect;
        size_t seen; /* what was there; SIZE_MAX until looked */
        void (*check)(int root);
} Watch;

static void watch_cb(void *userdata, uint64_t done, uint64_t total) {
        Watch *w = userdata;
        int root;

        if (w->seen != SIZE_MAX || done >= total || done < (UINT64_C(3) << 20))
                return;
        root = open_unpack_dir(w->dfd);
        assert_true(root >= 0);
        for (unsigned i = 0; i < 1000 && count_made(root) < w->expect; i++)
                usleep(10000);
        usleep(w->expect > 0 ? 50000 : 300000);
        w->seen = count_made(root);
        if (w->check)
                w->check(root);
        safe_close(root);
}

static uint8_t *random_bytes(size_t n) {
        uint8_t *p = malloc(n);

        assert_non_null(p);
        randombytes_buf(p, n);
        return p;
}

/* Both trees are the same: names, types, modes, sizes, contents, symlink targets and times. */
static void assert_same_tree(int a, int b) {
        int fd = openat(a, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fdopendir(fd);
        size_t n = 0;

        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));) {
                struct stat sa, sb;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                n++;
                assert_int_equal(fstatat(a, de->d_name, &sa, AT_SYMLINK_NOFOLLOW), 0);
                assert_int_equal(fstatat(b, de->d_name, &sb, AT_SYMLINK_NOFOLLOW), 0);
                assert_int_equal(sa.st_mode, sb.st_mode);
                assert_int_equal(sa.st_size, sb.st_size);
                assert_int_equal((int64_t) sa.st_mtim.tv_sec, (int64_t) sb.st_mtim.tv_sec);
                assert_int_equal(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
                if (S_ISREG(sa.st_mode)) {
                        _cleanup_free_ char *ca = NULL, *cb = NULL;
                        size_t la, lb;

                        assert_int_equal(read_full_file_at(a, de->d_name, 16 << 20, &ca, &la), 0);
                        assert_int_equal(read_full_file_at(b, de->d_name, 16 << 20, &cb, &lb), 0);
                        assert_int_equal(la, lb);
                        assert_memory_equal(ca, cb, la);
                } else if (S_ISLNK(sa.st_mode)) {
                        char ta[4096], tb[4096];
                        ssize_t ka = readlinkat(a, de->d_name, ta, sizeof(ta)),
                                kb = readlinkat(b, de->d_name, tb, sizeof(tb));

                        assert_true(ka > 0);
                        assert_int_equal(ka, kb);
                        assert_memory_equal(ta, tb, (size_t) ka);
                } else {
                        int ca = openat(a, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                            cb = openat(b, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        assert_true(S_ISDIR(sa.st_mode));
                        assert_true(ca >= 0 && cb >= 0);
                        assert_same_tree(ca, cb);
                        safe_close(ca);
                        safe_close(cb);
                }
        }
        closedir(d);
        assert_int_equal(count_dir(b), n);
}

/* A tree like our packer's output (with TEST_PACKED: contents in one segment after the tree): 2 × 40
 * files in src/, nested and empty directories, executables, symlinks, times before 1970, and one 6 MiB
 * file of random bytes so that the package streams in over several MiB. */
#define EARLY_BIG_SIZE (6u << 20)
static TestEntry early_d0[40], early_d1[40];
static char early_names[80][16], early_contents[80][64];

static const TestEntry early_nested3[] = {
        { .name = "leaf", .type = TEST_REGULAR, .content = "leaf\n", .content_len = 5, .mtime_ns = 77,
          .placement = TEST_PACKED },
        { .name = "link-up", .type = TEST_SYMLINK, .content = "../../../x", .content_len = 10,
          .mtime_ns = 78 },
};
static const TestEntry early_nested2[] = {
        { .name = "n3", .type = TEST_DIRECTORY, .children = early_nested3, .n_children = 2, .mtime_ns = 79 },
};
static const TestEntry early_nested1[] = {
        { .name = "n2", .type = TEST_DIRECTORY, .children = early_nested2, .n_children = 1,
          .mtime_ns = INT64_C(-2000000001) },
        { .name = "empty-dir", .type = TEST_DIRECTORY, .mtime_ns = 80 },
};
static TestEntry early_src[] = {
        { .name = "d0", .type = TEST_DIRECTORY, .children = early_d0, .n_children = 40, .mtime_ns = 81 },
        { .name = "d1", .type = TEST_DIRECTORY, .children = early_d1, .n_children = 40,
          .mtime_ns = INT64_C(1700000000999999999) },
};
static TestEntry early_root[] = {
        { .name = "sandstorm-manifest", .type = TEST_REGULAR },
        { .name = "src", .type = TEST_DIRECTORY, .children = early_src, .n_children = 2, .mtime_ns = 82 },
        { .name = "n1", .type = TEST_DIRECTORY, .children = early_nested1, .n_children = 2, .mtime_ns = 83 },
        { .name = "big.bin", .type = TEST_REGULAR, .content_len = EARLY_BIG_SIZE, .mtime_ns = 84,
          .placement = TEST_PACKED },
        { .name = "run", .type = TEST_EXECUTABLE, .content = "#!/bin/sh\n", .content_len = 10,
          .mtime_ns = 85, .placement = TEST_PACKED },
        { .name = "empty", .type = TEST_REGULAR, .mtime_ns = 86 },
        { .name = "lib", .type = TEST_SYMLINK, .content = "src/d0", .content_len = 6, .mtime_ns = 87 },
        { .name = "dev", .type = TEST_DIRECTORY },
        { .name = "tmp", .type = TEST_DIRECTORY },
        { .name = "var", .type = TEST_DIRECTORY },
};
/* Its directories and regular files: 5 + 4 at the root, 2 + 80 in src/, 3 + 1 in n1/. */
#define EARLY_MADE 95u

static void early_tree_init(TestPlacement placement) {
        if (!early_big)
                early_big = random_bytes(EARLY_BIG_SIZE);
        for (size_t i = 0; i < 80; i++) {
                TestEntry *e = i < 40 ? &early_d0[i] : &early_d1[i - 40];

                snprintf(early_names[i], sizeof(early_names[i]), "f%02zu.txt", i);
                snprintf(early_contents[i], sizeof(early_contents[i]), "file %zu: %.*s\n", i, (int) (i % 40),
                         "0123456789012345678901234567890123456789");
                *e = (TestEntry) {
                        .name = early_names[i],
                        .type = i % 7 == 3 ? TEST_EXECUTABLE : TEST_REGULAR,
                        .content = early_contents[i],
                        .content_len = strlen(early_contents[i]),
                        .mtime_ns = (int64_t) i * 1000000007,
                        .placement = placement,
                };
        }
        early_root[0].content = manifest;
        early_root[0].content_len = manifest_size;
        early_root[3].content = early_big;
        early_root[3].placement = placement;
        early_root[4].placement = placement;
}

/* Unpacks pkg to name three ways: as it comes (EARLY on), with EARLY turned off, and all in one
 * thread; the three trees must be the same. Returns how many entries EARLY had made when watched. */
static size_t unpack_three_ways(Fixture *f, const uint8_t *pkg, size_t n, size_t expect_early) {
        Watch w = { .dfd = f->fd, .expect = expect_early, .seen = SIZE_MAX };
        Watch off = { .dfd = f->fd, .expect = 0, .seen = SIZE_MAX };
        SpkError error = {};
        int a, b, c;

        assert_int_equal(unpack_bytes(f, pkg, n, "early", &(SpkVerifyOptions) { .progress = watch_cb,
                                                                                 .userdata = &w },
                                      NULL, &error),
                         0);
        assert_int_equal(setenv("SPK_UNPACK_EARLY_TREE", "0", 1), 0);
        assert_int_equal(unpack_bytes(f, pkg, n, "late", &(SpkVerifyOptions) { .progress = watch_cb,
                                                                                .userdata = &off },
                                      NULL, &error),
                         0);
        assert_int_equal(unsetenv("SPK_UNPACK_EARLY_TREE"), 0);
        assert_int_equal(
                unpack_bytes(f, pkg, n, "single", &(SpkVerifyOptions) { .threads = 1 }, NULL, &error), 0);
        /* Turned off, nothing is made while the archive streams in. */
        assert_int_equal(off.seen, 0);

        assert_int_equal(count_dir(f->fd), 3);
        a = openat(f->fd, "early", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        b = openat(f->fd, "late", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        c = openat(f->fd, "single", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        assert_true(a >= 0 && b >= 0 && c >= 0);
        check_tree(a, early_root, ELEMENTSOF(early_root), 022);
        assert_same_tree(a, b);
        assert_same_tree(a, c);
        {
                struct stat sa, sb;

                assert_int_equal(fstat(a, &sa), 0);
                assert_int_equal(fstat(b, &sb), 0);
                assert_int_equal(sa.st_mode, sb.st_mode);
        }
        safe_close(a);
        safe_close(b);
        safe_close(c);
        assert_int_equal(rm_rf_at(f->fd, "early"), 0);
        assert_int_equal(rm_rf_at(f->fd, "late"), 0);
        assert_int_equal(rm_rf_at(f->fd, "single"), 0);
        return w.seen;
}

static void test_unpack_early_same_tree(void **state) {
        Fixture *f = *state;

        /* Our packer's layout: EARLY makes every directory and regular file before the archive is
         * through, and WRITE takes them over. */
        {
                _cleanup_free_ uint8_t *pkg = NULL;
                size_t n;

                early_tree_init(TEST_PACKED);
                build_package(f, early_root, ELEMENTSOF(early_root), &pkg, &n);
                assert_int_equal(unpack_three_ways(f, pkg, n, EARLY_MADE), EARLY_MADE);
        }

        /* Every content in a segment of its own: the tree is still all in segment 0. */
        {
                _cleanup_free_ uint8_t *pkg = NULL;
                size_t n;

                early_tree_init(TEST_FAR);
                early_root[4].placement = TEST_DOUBLE_FAR;
                build_package(f, early_root, ELEMENTSOF(early_root), &pkg, &n);
                assert_int_equal(unpack_three_ways(f, pkg, n, EARLY_MADE), EARLY_MADE);
        }

        /* Sandstorm's own packer: one segment, contents among the tree. EARLY makes nothing. */
        {
                _cleanup_free_ uint8_t *pkg = NULL;
                size_t n;

                early_tree_init(TEST_INLINE);
                build_package(f, early_root, ELEMENTSOF(early_root), &pkg, &n);
                assert_int_equal(unpack_three_ways(f, pkg, n, 0), 0);
        }

        /* A directory whose list is reached through a segment EARLY does not have: EARLY stops there,
         * having made sandstorm-manifest and src/ (1 + 83), and WRITE makes the rest. */
        {
                _cleanup_free_ uint8_t *pkg = NULL;
                size_t n;

                early_tree_init(TEST_PACKED);
                early_root[2].placement = TEST_DOUBLE_FAR;
                build_package(f, early_root, ELEMENTSOF(early_root), &pkg, &n);
                early_root[2].placement = TEST_INLINE;
                assert_int_equal(unpack_three_ways(f, pkg, n, 84), 84);
        }

        /* And the reference tree, far and double-far contents among inline ones. */
        {
                _cleanup_free_ uint8_t *pkg = NULL;
                SpkError error = {};
                int dfd;
                size_t n;

                build_package(f, root_entries, ELEMENTSOF(root_entries), &pkg, &n);
                assert_int_equal(setenv("SPK_UNPACK_EARLY_TREE", "0", 1), 0);
                assert_int_equal(unpack_bytes(f, pkg, n, "late", NULL, NULL, &error), 0);
                assert_int_equal(unsetenv("SPK_UNPACK_EARLY_TREE"), 0);
                assert_int_equal(unpack_bytes(f, pkg, n, "early", NULL, NULL, &error), 0);
                dfd = openat(f->fd, "early", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                check_tree(dfd, root_entries, ELEMENTSOF(root_entries), 022);
                {
                        int late = openat(f->fd, "late", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        assert_same_tree(dfd, late);
                        safe_close(late);
                }
                safe_close(dfd);
        }
}

/* What EARLY made of a tree cut short by the entry limit: sandstorm-manifest, src/d0 and its 40 files,
 * then src/d1, whose 40 entries are too many, empty. */
static void check_entry_limit_tree(int root) {
        int src = openat(root, "src", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), d;

        assert_true(src >= 0);
        assert_int_equal(count_dir(root), 2);
        assert_int_equal(faccessat(root, "sandstorm-manifest", F_OK, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(count_dir(src), 2);
        d = openat(src, "d0", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        assert_int_equal(count_dir(d), 40);
        safe_close(d);
        d = openat(src, "d1", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        assert_int_equal(count_dir(d), 0);
        safe_close(d);
        safe_close(src);
}

/* What EARLY made of a chain deeper than the depth limit (5): c1/…/c5 with f1…f4 beside c2…c5, each
 * file empty, and nothing in c5. */
static void check_depth_limit_tree(int root) {
        int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        for (unsigned level = 1; level <= 5; level++) {
                char name[8];
                int next;

                snprintf(name, sizeof(name), "c%u", level);
                assert_int_equal(count_dir(fd), level == 1 ? 1 : 2);
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                assert_true(next >= 0);
                safe_close(fd);
                fd = next;
        }
        assert_int_equal(count_dir(fd), 0);
        safe_close(fd);
}

/* Fails as expected, EARLY having made `made` entries meanwhile (checked by check), and nothing is
 * left: not the tree, not the hidden directory. */
static void expect_early_failure(Fixture *f, const uint8_t *pkg, size_t n, const SpkLimits *limits,
                                 size_t made, void (*check)(int root), int errno_expected,
                                 const char *message) {
        Watch w = { .dfd = f->fd, .expect = made, .seen = SIZE_MAX, .check = check };
        SpkError error = {};

        SpkVerifyOptions o = { .limits = limits, .progress = watch_cb, .userdata = &w };

        assert_int_equal(unpack_bytes(f, pkg, n, "out", &o, NULL, &error), errno_expected);
        assert_string_equal(error.message, message);
        /* Refused before 3 MiB were read: not watched, and nothing could have been made. */
        if (made > 0 || w.seen != SIZE_MAX)
                assert_int_equal(w.seen, made);
        assert_int_equal(count_dir(f->fd), 0);
}

static void test_unpack_early_failures(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *archive = NULL, *pkg = NULL;
        size_t archive_size, n;

        early_tree_init(TEST_PACKED);
        test_build_archive(early_root, ELEMENTSOF(early_root), &archive, &archive_size);

        /* Contents changed after signing: the whole tree was made, then the hash does not match. */
        {
                _cleanup_free_ uint8_t *sig = NULL, *payload = NULL, *bad = NULL;
                uint8_t sm[128];
                size_t sig_size;

                test_sign(f->sk, archive, archive_size, sm);
                test_build_signature(f->pk, 32, sm, 128, &sig, &sig_size);
                payload = malloc(sig_size + archive_size);
                assert_non_null(payload);
                memcpy(payload, sig, sig_size);
                memcpy(payload + sig_size, archive, archive_size);
                payload[sig_size + archive_size - 100] ^= 1; /* in big.bin's bytes, near the end */
                test_xz_wrap(payload, sig_size + archive_size, 0, &bad, &n);
                expect_early_failure(f, bad, n, NULL, EARLY_MADE, NULL, -EKEYREJECTED,
                                     "Signature didn't match package contents.");
        }

        /* Signed by one key, naming another: refused at the signature, before any name is made. */
        {
                _cleanup_free_ uint8_t *bad = NULL;
                uint8_t pk2[32], sk2[64];

                crypto_sign_keypair(pk2, sk2);
                test_build_package(pk2, f->sk, archive, archive_size, NULL, 0, &bad, &n);
                expect_early_failure(f, bad, n, NULL, 0, NULL, -EKEYREJECTED, "Invalid signature.");
        }

        /* The package cut short in its contents. */
        test_build_package(f->pk, f->sk, archive, archive_size, NULL, 0, &pkg, &n);
        expect_early_failure(f, pkg, n * 4 / 5, NULL, EARLY_MADE, NULL, -EBADMSG, "Package is truncated.");

        /* A limit only CHECK can tell, after the signature: the tree was made, and goes. */
        {
                SpkLimits limits = SPK_LIMITS_DEFAULT;

                limits.max_file_bytes = EARLY_BIG_SIZE - 1;
                expect_early_failure(f, pkg, n, &limits, EARLY_MADE, NULL, -EFBIG,
                                     "File 'big.bin' in archive is too big (6291456 bytes).");
        }

        /* Limits hold in EARLY as in WRITE: it stops where WRITE would. 10 root entries, src's 2, d0's
         * 40 make 52; d1's 40 more are too many with a limit of 91. */
        {
                SpkLimits limits = SPK_LIMITS_DEFAULT;

                limits.max_entries = 91;
                expect_early_failure(f, pkg, n, &limits, 44, check_entry_limit_tree, -E2BIG,
                                     "Archive has too many entries (limit 91).");
        }
        {
                static TestEntry c[7][2];
                TestEntry chain[] = {
                        { .name = "c1", .type = TEST_DIRECTORY, .children = c[1], .n_children = 2 },
                        early_root[3],
                };
                SpkLimits limits = SPK_LIMITS_DEFAULT;
                _cleanup_free_ uint8_t *deep_archive = NULL, *deep = NULL;
                size_t deep_size;

                for (unsigned level = 1; level < 7; level++) {
                        static char names[7][2][8];

                        snprintf(names[level][0], sizeof(names[level][0]), "f%u", level);
                        snprintf(names[level][1], sizeof(names[level][1]), "c%u", level + 1);
                        c[level][0] = (TestEntry) { .name = names[level][0], .type = TEST_REGULAR,
                                                    .content = "x", .content_len = 1,
                                                    .placement = TEST_PACKED };
                        c[level][1] = (TestEntry) { .name = names[level][1], .type = TEST_DIRECTORY,
                                                    .children = level < 6 ? c[level + 1] : NULL,
                                                    .n_children = level < 6 ? 2 : 0 };
                }
                test_build_archive(chain, ELEMENTSOF(chain), &deep_archive, &deep_size);
                test_build_package(f->pk, f->sk, deep_archive, deep_size, NULL, 0, &deep, &n);
                limits.max_depth = 5;
                expect_early_failure(f, deep, n, &limits, 9, check_depth_limit_tree, -ELOOP,
                                     "Archive nests directories more than 5 deep (at 'c1/c2/c3/c4/c5').");
        }
}

/* Called once the whole input is read (the archive is in the temporary file, not yet checked): lets
 * EARLY finish, waiting until what it made stops growing, and counts it. */
typedef struct Settle {
        int dfd;
        size_t made;
} Settle;

static void settle_cb(void *userdata, uint64_t done, uint64_t total) {
        Settle *s = userdata;
        size_t last = SIZE_MAX, n;
        int root;

        if (done < total)
                return;
        root = open_unpack_dir(s->dfd);
        assert_true(root >= 0);
        for (unsigned same = 0, i = 0; same < 3 && i < 200; i++) {
                usleep(5000);
                n = count_made(root);
                same = n == last ? same + 1 : 0;
                last = n;
        }
        s->made = last;
        safe_close(root);
}

/* EARLY reads segment 0 before anything checked it. Whatever a signed archive's segment 0 holds,
 * unpacking with EARLY and without it must agree: the same result, the same message, the same tree,
 * and nothing left after a failure. Bytes of segment 0 and the segment table are changed at random
 * (a fixed seed), then signed. */
static void test_unpack_early_mutations(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *archive = NULL;
        TestEntry e[ELEMENTSOF(early_root)];
        size_t archive_size, seg0_end;
        uint64_t x = UINT64_C(0x9e3779b97f4a7c15);
        unsigned ok = 0, made_some = 0;

        early_tree_init(TEST_PACKED);
        memcpy(e, early_root, sizeof(e));
        e[3].content_len = 4000;
        test_build_archive(e, ELEMENTSOF(e), &archive, &archive_size);
        assert_int_equal(unaligned_read_le32(archive), 1); /* two segments */
        seg0_end = 16 + (size_t) unaligned_read_le32(archive + 4) * 8;

        for (unsigned i = 0; i < 100; i++) {
                _cleanup_free_ uint8_t *mutated = malloc(archive_size), *pkg = NULL;
                Settle settle = { .dfd = f->fd };
                SpkVerifyOptions o = { .progress = settle_cb, .userdata = &settle };
                SpkError ea = {}, eb = {};
                size_t n;
                int a, b;

                assert_non_null(mutated);
                memcpy(mutated, archive, archive_size);
                for (unsigned k = 0; k < 1 + i % 3; k++) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        mutated[(x >> 8) % seg0_end] ^= (uint8_t) (1u << (x % 8));
                }
                test_build_package(f->pk, f->sk, mutated, archive_size, NULL, 0, &pkg, &n);

                a = unpack_bytes(f, pkg, n, "a", &o, NULL, &ea);
                made_some += settle.made > 0 && settle.made != SIZE_MAX;
                assert_int_equal(setenv("SPK_UNPACK_EARLY_TREE", "0", 1), 0);
                b = unpack_bytes(f, pkg, n, "b", NULL, NULL, &eb);
                assert_int_equal(unsetenv("SPK_UNPACK_EARLY_TREE"), 0);
                assert_int_equal(a, b);
                assert_string_equal(ea.message, eb.message);
                if (a >= 0) {
                        int da = openat(f->fd, "a", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                            db = openat(f->fd, "b", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        assert_same_tree(da, db);
                        safe_close(da);
                        safe_close(db);
                        assert_int_equal(rm_rf_at(f->fd, "a"), 0);
                        assert_int_equal(rm_rf_at(f->fd, "b"), 0);
                        ok++;
                }
                assert_int_equal(count_dir(f->fd), 0);
        }
        /* Both outcomes were seen, and EARLY made something most of the time. */
        print_message("# %u of 100 unpacked, EARLY made entries in %u\n", ok, made_some);
        assert_true(ok > 0 && ok < 100);
        assert_true(made_some > 50);
}

/* The author's PGP signature (spec §1.8), with a signature and keyring made once by gpg for the
 * fixture's app id (tests/spk/data/pgp-*.gpg; key fingerprint below). */
#define PGP_FINGERPRINT "6043FB7DAF723993882F2EB56CCDE684209C4A66"

static int pgp_verify(Fixture *f, const char *sig_file, bool with_keyring, bool check, SpkPackageInfo *info,
                      SpkError *error) {
        _cleanup_free_ char *sig = NULL, *keyring = NULL;
        _cleanup_free_ uint8_t *m = NULL, *pkg = NULL;
        size_t sig_len, keyring_len, m_size, n;

        assert_int_equal(read_full_file_at(AT_FDCWD, sig_file, 1 << 16, &sig, &sig_len), 0);
        assert_int_equal(read_full_file_at(AT_FDCWD, TEST_DATA_DIR "/pgp-keyring.gpg", 1 << 16, &keyring,
                                 &keyring_len),
                0);
        test_build_manifest_pgp(sig, sig_len, with_keyring ? keyring : NULL, keyring_len, &m, &m_size);
        TestEntry e[] = {
                {.name = "sandstorm-manifest", .type = TEST_REGULAR, .content = m, .content_len = m_size}};
        build_package(f, e, ELEMENTSOF(e), &pkg, &n);
        return verify_bytes(f, pkg, n, &(SpkVerifyOptions) { .check_pgp = check }, info, error);
}

static void test_pgp(void **state) {
        Fixture *f = *state;
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        _cleanup_free_ char *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
        SpkError error = {};

        /* Not asked for: neither checked nor reported. */
        assert_int_equal(pgp_verify(f, TEST_DATA_DIR "/pgp-signature.gpg", true, false, &info, &error), 0);
        assert_null(info.author_pgp_key_fingerprint);
        spk_package_info_done(&info);

        /* No gpg to be found. */
        assert_int_equal(setenv("PATH", "/nonexistent", 1), 0);
        assert_int_equal(
                pgp_verify(f, TEST_DATA_DIR "/pgp-signature.gpg", true, true, &info, &error), -ENOPKG);
        assert_string_equal(
                error.message, "Package has an author PGP signature, but gpg is not installed to check it.");
        assert_int_equal(setenv("PATH", old_path ?: "/usr/bin:/bin", 1), 0);

        /* A signature without a keyring. */
        assert_int_equal(
                pgp_verify(f, TEST_DATA_DIR "/pgp-signature.gpg", false, true, &info, &error), -EBADMSG);
        assert_string_equal(error.message, "Metadata has an author PGP signature but no PGP keyring.");

        if (access("/usr/bin/gpg", X_OK) < 0 && access("/bin/gpg", X_OK) < 0)
                skip();

        assert_int_equal(pgp_verify(f, TEST_DATA_DIR "/pgp-signature.gpg", true, true, &info, &error), 0);
        assert_string_equal(info.author_pgp_key_fingerprint, PGP_FINGERPRINT);
        spk_package_info_done(&info);

        /* A good signature over a statement naming another app. */
        assert_int_equal(
                pgp_verify(f, TEST_DATA_DIR "/pgp-signature-other-id.gpg", true, true, &info, &error),
                -EKEYREJECTED);
        assert_string_equal(
                error.message, "Author PGP signature is invalid or does not name this app's ID.");

        /* Nothing left behind by gpg. */
        assert_int_equal(count_dir(f->fd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_verify_valid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unpack_valid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unpack_umask, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bridge_config_and_trailing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concatenated_streams, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pipe_input, setup, teardown),
                cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
                cmocka_unit_test_setup_teardown(test_known_package_id, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_magic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_xz, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_signature, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
                cmocka_unit_test_setup_teardown(test_types, setup, teardown),
                cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
                cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_overlap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_malformed_archive, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_verified_info, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unpack_destination, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unpack_early_same_tree, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unpack_early_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unpack_early_mutations, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pgp, setup, teardown),
        };

        if (getenv("TEST_FILTER"))
                cmocka_set_test_filter(getenv("TEST_FILTER"));
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
