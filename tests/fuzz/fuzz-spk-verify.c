/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzzes package verification and unpacking.
 *
 * An input starting with the SPK magic is a whole package: it goes through spk_package_verify_fd()
 * and spk_package_unpack_fd() as read from a file. Random mutations rarely get past the signature,
 * so any other input is taken as an archive message: it is checked with spk_archive_check(), then
 * signed with a fixed key and compressed into a real package that goes through the same two calls.
 *
 * Invariants checked, beyond "no crash, no leak":
 * (1) verify and unpack agree: both succeed or both fail with the same errno and message;
 * (2) a verified package's id is SHA-256(input)[0:16], its app id round-trips through base32 and is
 *     the signer's (the fixed key is not in the replacement table), its manifest is within limits;
 * (3) for a signed archive, verification succeeds exactly when the archive check and the manifest
 *     check do, with the same entry and byte counts;
 * (4) an unpack that succeeds creates exactly n_entries entries; one that fails leaves nothing.
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/string-util.h"
#include "spk/package.h"
#include "../spk/package-builder.h"
#include "fuzz.h"

static char work_dir[64];
static int work_fd = -EBADF;
static uint8_t pk[32], sk[64];

static void setup_once(void) {
        uint8_t seed[32];

        if (work_fd >= 0)
                return;
        strcpy(work_dir, "/tmp/fuzz-spk-verify-XXXXXX");
        CHECK(mkdtemp(work_dir));
        work_fd = open(work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(work_fd >= 0);
        memset(seed, 0x5a, sizeof(seed));
        CHECK(sodium_init() >= 0);
        CHECK(crypto_sign_seed_keypair(pk, sk, seed) == 0);
}

static __attribute__((destructor)) void cleanup_once(void) {
        if (work_fd < 0)
                return;
        safe_close(work_fd);
        (void) rm_rf_path(work_dir);
}

static uint64_t count_entries(int dfd) {
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        uint64_t n = 0;

        CHECK(fd >= 0);
        d = fdopendir(fd);
        CHECK(d);
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                n++;
                if (de->d_type == DT_DIR) {
                        int cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        CHECK(cfd >= 0);
                        n += count_entries(cfd);
                        safe_close(cfd);
                }
        }
        closedir(d);
        return n;
}

static int memfd_with(const void *p, size_t n) {
        int fd = memfd_create("fuzz-spk", MFD_CLOEXEC);

        CHECK(fd >= 0);
        CHECK(loop_write(fd, p, n) == 0);
        CHECK(lseek(fd, 0, SEEK_SET) == 0);
        return fd;
}

/* Verifies and unpacks pkg; returns verify's result with *ret filled on success. */
static int run_package(const uint8_t *pkg, size_t n, SpkPackageInfo *ret) {
        SpkVerifyOptions opts = { .tmp_dir = work_dir, .threads = 1 };
        SpkPackageInfo info = {}, info2 = {};
        SpkError e1 = {}, e2 = {};
        int fd, r, k;

        fd = memfd_with(pkg, n);
        r = spk_package_verify_fd(fd, &opts, &info, &e1);
        safe_close(fd);

        fd = memfd_with(pkg, n);
        k = spk_package_unpack_fd(fd, work_fd, "out", &opts, &info2, &e2);
        safe_close(fd);

        /* (1) */
        CHECK(r == k);
        CHECK(streq(e1.message, e2.message));

        if (r >= 0) {
                uint8_t h[32], id[APP_ID_SIZE];
                unsigned len;
                char text[APP_ID_TEXT_SIZE + 1];
                int dfd;

                /* (2) */
                CHECK(EVP_Digest(pkg, n, h, &len, EVP_sha256(), NULL) == 1);
                CHECK(memcmp(info.package_id, h, 16) == 0);
                CHECK(strlen(info.package_id_text) == 32);
                CHECK(app_id_from_string(info.app_id_text, strlen(info.app_id_text), id) == 0);
                CHECK(memcmp(id, info.app_id, 32) == 0);
                CHECK(streq(app_id_to_string(info.app_id, text), info.app_id_text));
                CHECK(info.manifest && info.manifest_size <= SPK_MAX_MANIFEST_BYTES);
                CHECK(spk_manifest_check(info.manifest, info.manifest_size, NULL) == 0);
                CHECK(info.content_bytes <= info.archive_bytes);
                CHECK(memcmp(info.package_id, info2.package_id, 16) == 0);

                /* (4) */
                dfd = openat(work_fd, "out", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                CHECK(dfd >= 0);
                CHECK(count_entries(dfd) == info.n_entries);
                safe_close(dfd);
                CHECK(rm_rf_at(work_fd, "out") >= 0);
        }
        CHECK(count_entries(work_fd) == 0);

        spk_package_info_done(&info2);
        if (r >= 0)
                *ret = info;
        else
                spk_package_info_done(&info);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SpkPackageInfo info = {};
        int r;

        setup_once();

        if (size >= SPK_MAGIC_SIZE && memcmp(data, spk_magic, SPK_MAGIC_SIZE) == 0) {
                if (run_package(data, size, &info) >= 0)
                        spk_package_info_done(&info);
                return 0;
        }

        /* An archive message: checked directly, then as a signed package. */
        {
                SpkPackageInfo checked = {};
                uint8_t *pkg;
                size_t n;
                int c, m = -1;

                if (size > 256 * 1024)
                        return 0;
                c = spk_archive_check(data, size, NULL, &checked, NULL);
                if (c >= 0)
                        m = spk_manifest_check(checked.manifest, checked.manifest_size, NULL);

                test_build_package(pk, sk, data, size, NULL, 0, &pkg, &n);
                r = run_package(pkg, n, &info);
                free(pkg);

                /* (3) */
                CHECK((r >= 0) == (c >= 0 && m >= 0));
                if (r >= 0) {
                        CHECK(memcmp(info.app_id, pk, 32) == 0);
                        CHECK(memcmp(info.signer, pk, 32) == 0);
                        CHECK(info.n_entries == checked.n_entries);
                        CHECK(info.content_bytes == checked.content_bytes);
                        CHECK(info.archive_bytes == size);
                        CHECK(info.manifest_size == checked.manifest_size);
                        CHECK(memcmp(info.manifest, checked.manifest, info.manifest_size) == 0);
                        CHECK((info.bridge_config == NULL) == (checked.bridge_config == NULL));
                        spk_package_info_done(&info);
                }
                spk_package_info_done(&checked);
        }
        return 0;
}
