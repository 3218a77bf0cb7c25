/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lzma.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "spk/pack.h"
#include "spk/package.h"

/*
 * Writing a package, in order:
 *
 *   spk_pack_build_tree()  fixed entries, then alwaysInclude (recursive), then fileList lines
 *   pack_encode()          segment 0 built in memory; the list of files whose contents stream into
 *                          segment 1, with their sizes, fixes every landing pad's position
 *   pass 1                 segment table + segment 0 + segment 1 (files read) → SHA-512;
 *                          each file's BLAKE2b-128 remembered
 *   sign                   crypto_sign(SHA-512) → Signature message
 *   pass 2                 magic, then xz(Signature message + the same archive bytes); each file's
 *                          size and BLAKE2b-128 must match pass 1
 *
 * (1) pass 1 and pass 2 emit the archive bytes through the same function, so the signed bytes are the
 *     compressed bytes unless a file changed, and that is detected per file;
 * (2) no memory grows with the size of file contents: segment 1 only ever exists as a stream.
 */

/* What our own reader (spk/package.h) accepts, so that every package spk writes can be installed. */
_Static_assert(SPK_ARCHIVE_MAX_SIZE == SPK_MAX_ARCHIVE_BYTES, "archive limits differ");
_Static_assert(SPK_FILE_MAX_SIZE - 1 == SPK_MAX_FILE_BYTES, "file limits differ");
_Static_assert(SPK_TREE_MAX_DEPTH <= SPK_MAX_DEPTH, "depth limits differ");

/* Archive.File (2 words, 2 ptrs), spec §1.5. */
#define FILE_DATA_WORDS 2u
#define FILE_PTRS 2u
#define FILE_NAME 0u
#define FILE_CONTENT 1u
#define FILE_WHICH_BYTE 0u
#define FILE_MTIME_BYTE 8u
enum {
        FILE_REGULAR = 0,
        FILE_EXECUTABLE = 1,
        FILE_SYMLINK = 2,
        FILE_DIRECTORY = 3,
};

#define CONTENT_SEGMENT 1u
#define IO_BUFFER_SIZE ((size_t) 1 << 20)
#define FILE_DIGEST_SIZE 16u

/* ---- the tree ---- */

static bool strv_has(char *const *l, const char *s) {
        return l && strv_contains(l, s);
}

static int add_bridge(SpkTree *t, const SpkPackOptions *opts, char **ret_error) {
        _cleanup_free_ char *real = NULL;
        struct stat st;
        SpkNode *n;
        int r;

        if (!opts->bridge_path)
                return error_set(ret_error, -ENOENT,
                            "The package needs sandstorm-http-bridge, but none was found; set SPK_BRIDGE_PATH to one");
        real = realpath(opts->bridge_path, NULL);
        if (!real || stat(real, &st) < 0) {
                r = negative_errno();
                return error_set(ret_error, r, "The package needs sandstorm-http-bridge, but '%s' cannot be used: %s",
                            opts->bridge_path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode))
                return error_set(ret_error, -EINVAL,
                            "The package needs sandstorm-http-bridge, but '%s' is not a regular file",
                            opts->bridge_path);
        if ((uint64_t) st.st_size >= SPK_FILE_MAX_SIZE)
                return error_set(ret_error, -EFBIG, "'%s' is too big to pack", opts->bridge_path);

        r = spk_tree_add_fixed(t, "sandstorm-http-bridge", SPK_NODE_EXECUTABLE, SPK_ORIGIN_BRIDGE, &n);
        if (r < 0)
                return r;
        free(n->source);
        n->source = TAKE_PTR(real);
        n->size = (uint64_t) st.st_size;
        n->mtime_ns = (int64_t) st.st_mtim.tv_sec * INT64_C(1000000000) + st.st_mtim.tv_nsec;
        return 0;
}

int spk_pack_build_tree(const SpkPkgdef *pkgdef, const SpkPackOptions *opts, SpkTree *ret, char **ret_error) {
        _cleanup_(spk_tree_done) SpkTree t = {};
        _cleanup_strv_free_ char **file_list = NULL;
        bool root_recursive, want_manifest, want_config, want_bridge;
        SpkNode *n;
        int r;

        assert(pkgdef);
        assert(opts);
        assert(ret);

        spk_tree_init(&t, opts->pack_time_ns);

        if (pkgdef->file_list) {
                r = spk_file_list_read(pkgdef->file_list, &file_list, ret_error);
                if (r < 0)
                        return r;
        }

        /* The entries the supervisor mounts over (spec §1.7). */
        for (const char *const *d = (const char *const[]) { "dev", "tmp", "var", NULL }; *d; d++) {
                r = spk_tree_add_fixed(&t, *d, SPK_NODE_DIRECTORY, SPK_ORIGIN_NONE, NULL);
                if (r < 0)
                        return r;
        }
        r = spk_tree_add_fixed(&t, "proc/cpuinfo", SPK_NODE_REGULAR, SPK_ORIGIN_NONE, NULL);
        if (r < 0)
                return r;

        root_recursive = strv_has(pkgdef->always_include, "");
        want_manifest = root_recursive || strv_has(pkgdef->always_include, "sandstorm-manifest") ||
                        strv_has(file_list, "sandstorm-manifest");
        want_config = (root_recursive && pkgdef->uses_http_bridge) ||
                      strv_has(pkgdef->always_include, "sandstorm-http-bridge-config") ||
                      strv_has(file_list, "sandstorm-http-bridge-config");
        want_bridge = (root_recursive && pkgdef->uses_http_bridge) ||
                      strv_has(pkgdef->always_include, "sandstorm-http-bridge") ||
                      strv_has(file_list, "sandstorm-http-bridge");

        if (!want_manifest)
                return error_set(ret_error, -ENOENT,
                            "The package would have no sandstorm-manifest: add it to the file list or to alwaysInclude");
        r = spk_tree_add_fixed(&t, "sandstorm-manifest", SPK_NODE_REGULAR, SPK_ORIGIN_MANIFEST, &n);
        if (r < 0)
                return r;
        n->size = pkgdef->manifest_size;
        if (want_config) {
                r = spk_tree_add_fixed(&t, "sandstorm-http-bridge-config", SPK_NODE_REGULAR,
                                       SPK_ORIGIN_BRIDGE_CONFIG, &n);
                if (r < 0)
                        return r;
                n->size = pkgdef->bridge_config_size;
        }
        if (want_bridge) {
                r = add_bridge(&t, opts, ret_error);
                if (r < 0)
                        return r;
        } else if (pkgdef->uses_http_bridge) {
                r = strv_extend(&t.warnings, "The app runs sandstorm-http-bridge, but the package does not "
                                             "include it: add sandstorm-http-bridge to the file list");
                if (r < 0)
                        return r;
        }

        STRV_FOREACH(p, pkgdef->always_include) {
                r = spk_tree_include(&t, &pkgdef->source_map, *p, true, ret_error);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH(p, file_list) {
                r = spk_tree_include(&t, &pkgdef->source_map, *p, false, ret_error);
                if (r < 0)
                        return r;
        }

        *ret = t;
        t = (SpkTree) {};
        return 0;
}

/* ---- encoding ---- */

/* A file whose content streams into segment 1, in stream order. */
typedef struct PackFile {
        const SpkNode *node;
        uint8_t digest[FILE_DIGEST_SIZE]; /* of the content read in pass 1 */
} PackFile;

typedef struct Packer {
        const SpkTree *tree;
        const SpkPkgdef *pkgdef;
        CapnpBuilder builder;
        PackFile *files;
        size_t n_files;
        size_t allocated_files;
        uint64_t content_words; /* size of segment 1 */
        uint8_t table[16];      /* segment table, at most two segments */
        size_t table_size;
        const uint8_t *segment0;
        size_t segment0_words;
        uint64_t n_entries;
        uint64_t archive_size; /* table + segments */
        uint8_t *buffer;       /* IO_BUFFER_SIZE, for reading files */
        char **ret_error;
} Packer;

static void packer_done(Packer *p) {
        capnp_builder_done(&p->builder);
        free(p->files);
        free(p->buffer);
}

static uint64_t words_for_bytes(uint64_t n) {
        return (n + 7) / 8;
}

static int packer_add_file(Packer *p, const SpkNode *n, const CapnpBuilderStruct *f) {
        uint64_t words;
        int r;

        if (p->n_files == p->allocated_files) {
                size_t na = MAX(p->allocated_files * 2, (size_t) 64);
                PackFile *v = reallocarray(p->files, na, sizeof(PackFile));

                if (!v)
                        return -ENOMEM;
                p->files = v;
                p->allocated_files = na;
        }

        /* The whole archive is at most 1 GiB, so every position checked here fits a far pointer. */
        words = 1 + words_for_bytes(n->size);
        if ((p->content_words + words) * 8 > SPK_ARCHIVE_MAX_SIZE)
                return error_set(p->ret_error, -EFBIG, "The package is larger than %" PRIu64 " MiB",
                            SPK_ARCHIVE_MAX_SIZE >> 20);

        r = capnp_build_set_far(f, FILE_CONTENT, CONTENT_SEGMENT, (uint32_t) p->content_words);
        if (r < 0)
                return r;
        p->files[p->n_files++] = (PackFile) { .node = n };
        p->content_words += words;
        return 0;
}

static int encode_file(Packer *p, const SpkNode *n, const CapnpBuilderStruct *f);

static int encode_children(Packer *p, const SpkNode *dir, const CapnpBuilderStruct *parent, uint16_t slot) {
        CapnpBuilderList list;
        int r;

        r = capnp_build_init_struct_list(parent, slot, (uint32_t) dir->n_children, FILE_DATA_WORDS, FILE_PTRS,
                                         &list);
        if (r < 0)
                return r;
        p->n_entries += dir->n_children;
        if (p->n_entries > SPK_MAX_ENTRIES)
                return error_set(p->ret_error, -E2BIG, "The package has more than %" PRIu64 " entries",
                            SPK_MAX_ENTRIES);
        for (size_t i = 0; i < dir->n_children; i++) {
                CapnpBuilderStruct f;

                r = capnp_build_list_get_struct(&list, (uint32_t) i, &f);
                if (r < 0)
                        return r;
                r = encode_file(p, dir->children[i], &f);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int encode_file(Packer *p, const SpkNode *n, const CapnpBuilderStruct *f) {
        int r;

        r = capnp_build_set_text(f, FILE_NAME, n->name, strlen(n->name));
        if (r < 0)
                return r;
        capnp_build_set_u64(f, FILE_MTIME_BYTE, (uint64_t) n->mtime_ns);

        switch (n->type) {
        case SPK_NODE_DIRECTORY:
                capnp_build_set_u16(f, FILE_WHICH_BYTE, FILE_DIRECTORY);
                return encode_children(p, n, f, FILE_CONTENT);

        case SPK_NODE_SYMLINK:
                capnp_build_set_u16(f, FILE_WHICH_BYTE, FILE_SYMLINK);
                return capnp_build_set_text(f, FILE_CONTENT, n->link_target, strlen(n->link_target));

        case SPK_NODE_REGULAR:
        case SPK_NODE_EXECUTABLE:
                capnp_build_set_u16(f, FILE_WHICH_BYTE,
                                    n->type == SPK_NODE_EXECUTABLE ? FILE_EXECUTABLE : FILE_REGULAR);
                switch (n->origin) {
                case SPK_ORIGIN_MANIFEST:
                        return capnp_build_set_data(f, FILE_CONTENT, p->pkgdef->manifest,
                                                    p->pkgdef->manifest_size);
                case SPK_ORIGIN_BRIDGE_CONFIG:
                        return capnp_build_set_data(f, FILE_CONTENT, p->pkgdef->bridge_config,
                                                    p->pkgdef->bridge_config_size);
                case SPK_ORIGIN_HOST:
                case SPK_ORIGIN_BRIDGE:
                        if (n->size > 0)
                                return packer_add_file(p, n, f);
                        __attribute__((__fallthrough__));
                default:
                        return capnp_build_set_data(f, FILE_CONTENT, "", 0);
                }

        default:
                return -EINVAL;
        }
}

/* Segment 0 and the layout of segment 1. */
static int pack_encode(Packer *p) {
        CapnpBuilderStruct root;
        uint32_t sizes[2];
        uint32_t n_segments;
        int r;

        capnp_builder_init(&p->builder, SPK_ARCHIVE_MAX_SIZE / 8);
        r = capnp_builder_init_root(&p->builder, 0, 1, &root);
        if (r >= 0)
                r = encode_children(p, &p->tree->root, &root, 0);
        if (r == -E2BIG)
                return error_set(p->ret_error, -EFBIG, "The package is larger than %" PRIu64 " MiB",
                            SPK_ARCHIVE_MAX_SIZE >> 20);
        if (r < 0)
                return r;

        p->segment0 = capnp_builder_segment(&p->builder, &p->segment0_words);
        n_segments = p->content_words > 0 ? 2 : 1;
        sizes[0] = (uint32_t) p->segment0_words;
        sizes[1] = (uint32_t) p->content_words;
        p->table_size = capnp_segment_table_write(p->table, n_segments, sizes);
        p->archive_size = p->table_size + (uint64_t) p->segment0_words * 8 + p->content_words * 8;
        if (p->archive_size > SPK_ARCHIVE_MAX_SIZE)
                return error_set(p->ret_error, -EFBIG, "The package is larger than %" PRIu64 " MiB",
                            SPK_ARCHIVE_MAX_SIZE >> 20);
        return 0;
}

/* ---- streaming ---- */

typedef int (*SinkFn)(void *userdata, const void *p, size_t n);

/* Emits one file's landing pad, content and padding; in pass 2 checks it against pass 1. */
static int stream_file(Packer *p, PackFile *pf, bool second_pass, SinkFn sink, void *userdata) {
        static const uint8_t zeros[8] = {};
        const SpkNode *n = pf->node;
        crypto_generichash_state h;
        uint8_t pad[8], digest[FILE_DIGEST_SIZE];
        _cleanup_close_ int fd = -EBADF;
        uint64_t done = 0;
        struct stat st;
        int r;

        /* A byte list of n->size elements starting right after the pad (spec §4.3). */
        unaligned_write_le64(pad, UINT64_C(1) | ((uint64_t) CAPNP_ELEMENT_BYTE << 32) | (n->size << 35));
        r = sink(userdata, pad, sizeof(pad));
        if (r < 0)
                return r;

        fd = open(n->source, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = negative_errno();
                return error_set(p->ret_error, r, "Failed to open '%s': %s", n->source, strerror(-r));
        }
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size != n->size)
                goto changed;
        (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

        crypto_generichash_init(&h, NULL, 0, sizeof(digest));
        while (done < n->size) {
                size_t want = (size_t) MIN((uint64_t) IO_BUFFER_SIZE, n->size - done);
                ssize_t k = loop_read(fd, p->buffer, want);

                if (k < 0)
                        return error_set(p->ret_error, (int) k, "Failed to read '%s': %s", n->source,
                                    strerror((int) -k));
                if ((size_t) k != want)
                        goto changed; /* shrank */
                crypto_generichash_update(&h, p->buffer, (size_t) k);
                r = sink(userdata, p->buffer, (size_t) k);
                if (r < 0)
                        return r;
                done += (uint64_t) k;
        }
        /* Grown since it was measured? */
        if (loop_read(fd, p->buffer, 1) != 0)
                goto changed;
        crypto_generichash_final(&h, digest, sizeof(digest));

        if (!second_pass)
                memcpy(pf->digest, digest, sizeof(digest));
        else if (memcmp(pf->digest, digest, sizeof(digest)) != 0)
                goto changed;

        if (n->size % 8 != 0) {
                r = sink(userdata, zeros, 8 - n->size % 8);
                if (r < 0)
                        return r;
        }
        return 0;

changed:
        return error_set(p->ret_error, -ESTALE, "'%s' changed while it was being packed", n->source);
}

/* The archive message, exactly as signed. */
static int stream_archive(Packer *p, bool second_pass, SinkFn sink, void *userdata) {
        int r;

        r = sink(userdata, p->table, p->table_size);
        if (r < 0)
                return r;
        r = sink(userdata, p->segment0, p->segment0_words * 8);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n_files; i++) {
                r = stream_file(p, &p->files[i], second_pass, sink, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int sink_sha512(void *userdata, const void *p, size_t n) {
        return EVP_DigestUpdate(userdata, p, n) == 1 ? 0 : -EIO;
}

static void evp_md_ctx_freep(EVP_MD_CTX **c) {
        EVP_MD_CTX_free(*c);
}

/* Pass 1: SHA-512 of the archive message, then the Signature message (spec §1.2). */
static int pack_sign(Packer *p, const uint8_t public_key[32], const uint8_t secret_key[64], uint8_t **ret,
                     size_t *ret_size) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = NULL;
        uint8_t hash[64], signed_hash[crypto_sign_BYTES + sizeof(hash)];
        unsigned long long signed_size;
        CapnpBuilderStruct root;
        unsigned hash_size = 0;
        CapnpBuilder b;
        int r;

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) != 1)
                return -EIO;
        r = stream_archive(p, false, sink_sha512, ctx);
        if (r < 0)
                return r;
        if (EVP_DigestFinal_ex(ctx, hash, &hash_size) != 1 || hash_size != sizeof(hash))
                return -EIO;

        if (crypto_sign(signed_hash, &signed_size, hash, sizeof(hash), secret_key) != 0 ||
            signed_size != sizeof(signed_hash))
                return error_set(p->ret_error, -EIO, "Signing failed");

        capnp_builder_init(&b, 0);
        r = capnp_builder_init_root(&b, 0, 2, &root);
        if (r >= 0)
                r = capnp_build_set_data(&root, 0, public_key, 32);
        if (r >= 0)
                r = capnp_build_set_data(&root, 1, signed_hash, sizeof(signed_hash));
        if (r >= 0)
                r = capnp_builder_finish(&b, ret, ret_size);
        capnp_builder_done(&b);
        return r;
}

typedef struct XzSink {
        lzma_stream strm;
        int fd;
        uint8_t *out;
        uint64_t done;
        uint64_t total;
        const SpkPackOptions *opts;
        char **ret_error;
} XzSink;

static int lzma_ret_to_errno(lzma_ret ret) {
        switch (ret) {
        case LZMA_OK:
        case LZMA_STREAM_END:
                return 0;
        case LZMA_MEM_ERROR:
        case LZMA_MEMLIMIT_ERROR:
                return -ENOMEM;
        case LZMA_OPTIONS_ERROR:
        case LZMA_UNSUPPORTED_CHECK:
                return -EINVAL;
        default:
                return -EIO;
        }
}

static int xz_flush(XzSink *x) {
        size_t n = IO_BUFFER_SIZE - x->strm.avail_out;
        int r;

        if (n == 0)
                return 0;
        r = loop_write(x->fd, x->out, n);
        if (r < 0)
                return error_set(x->ret_error, r, "Failed to write the package: %s", strerror(-r));
        x->strm.next_out = x->out;
        x->strm.avail_out = IO_BUFFER_SIZE;
        return 0;
}

static int xz_code(XzSink *x, lzma_action action) {
        for (;;) {
                lzma_ret ret = lzma_code(&x->strm, action);
                int r;

                if (ret != LZMA_OK && ret != LZMA_STREAM_END)
                        return error_set(x->ret_error, lzma_ret_to_errno(ret), "Compression failed (liblzma error %d)",
                                    (int) ret);
                if (x->strm.avail_out == 0 || ret == LZMA_STREAM_END) {
                        r = xz_flush(x);
                        if (r < 0)
                                return r;
                }
                if (ret == LZMA_STREAM_END)
                        return 0;
                if (action == LZMA_RUN && x->strm.avail_in == 0)
                        return 0;
        }
}

static int sink_xz(void *userdata, const void *p, size_t n) {
        XzSink *x = userdata;
        int r;

        x->strm.next_in = p;
        x->strm.avail_in = n;
        r = xz_code(x, LZMA_RUN);
        if (r < 0)
                return r;
        x->done += n;
        if (x->opts->progress)
                x->opts->progress(x->opts->userdata, x->done, x->total);
        return 0;
}

static uint32_t pack_threads(const SpkPackOptions *opts) {
        long n;

        if (opts->threads > 0)
                return opts->threads;
        n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (uint32_t) MIN(n, 64L) : 1;
}

/* Pass 2. */
static int pack_compress(Packer *p, const uint8_t *signature, size_t signature_size, int fd,
                         const SpkPackOptions *opts) {
        lzma_mt mt = {
                .threads = pack_threads(opts),
                .block_size = SPK_PACK_XZ_BLOCK_SIZE,
                .preset = SPK_PACK_XZ_PRESET,
                .check = LZMA_CHECK_CRC64,
        };
        XzSink x = {
                .strm = LZMA_STREAM_INIT,
                .fd = fd,
                .total = signature_size + p->archive_size,
                .opts = opts,
                .ret_error = p->ret_error,
        };
        lzma_ret ret;
        int r;

        r = loop_write(fd, spk_magic, sizeof(spk_magic));
        if (r < 0)
                return error_set(p->ret_error, r, "Failed to write the package: %s", strerror(-r));

        x.out = malloc(IO_BUFFER_SIZE);
        if (!x.out)
                return -ENOMEM;
        ret = lzma_stream_encoder_mt(&x.strm, &mt);
        if (ret != LZMA_OK) {
                free(x.out);
                return error_set(p->ret_error, lzma_ret_to_errno(ret), "Failed to start the xz encoder (liblzma error %d)",
                            (int) ret);
        }
        x.strm.next_out = x.out;
        x.strm.avail_out = IO_BUFFER_SIZE;

        r = sink_xz(&x, signature, signature_size);
        if (r >= 0)
                r = stream_archive(p, true, sink_xz, &x);
        if (r >= 0) {
                x.strm.next_in = NULL;
                x.strm.avail_in = 0;
                r = xz_code(&x, LZMA_FINISH);
        }

        lzma_end(&x.strm);
        free(x.out);
        return r;
}

int spk_pack_write(const SpkTree *tree, const SpkPkgdef *pkgdef, const uint8_t public_key[32],
                   const uint8_t secret_key[64], int fd, const SpkPackOptions *opts, char **ret_error) {
        _cleanup_free_ uint8_t *signature = NULL;
        size_t signature_size;
        Packer p = {
                .tree = tree,
                .pkgdef = pkgdef,
                .ret_error = ret_error,
        };
        int r;

        assert(tree);
        assert(pkgdef);
        assert(public_key);
        assert(secret_key);
        assert(fd >= 0);
        assert(opts);

        /* libsodium's secret key carries its public half. */
        if (memcmp(secret_key + 32, public_key, 32) != 0)
                return error_set(ret_error, -EINVAL, "The signing key's public and secret halves do not match");

        p.buffer = malloc(IO_BUFFER_SIZE);
        if (!p.buffer)
                return -ENOMEM;

        r = pack_encode(&p);
        if (r >= 0)
                r = pack_sign(&p, public_key, secret_key, &signature, &signature_size);
        if (r >= 0)
                r = pack_compress(&p, signature, signature_size, fd, opts);

        packer_done(&p);
        return r;
}

/* ---- the output file ---- */

/* An unnamed file in dir (O_TMPFILE), linked in at the end, so nothing is left behind even when
 * killed; or, where that is impossible, a dot file there, removed on failure. */
static int open_output(const char *dir, const char *base, char **ret_tmp) {
        _cleanup_free_ char *tmp = NULL;
        mode_t mask;
        int fd;

        if (access("/proc/self/fd", F_OK) >= 0) {
                fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
                if (fd >= 0) {
                        *ret_tmp = NULL;
                        return fd;
                }
                if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                        return negative_errno();
        }

        tmp = strjoin(dir, "/.#", base, ".XXXXXX");
        if (!tmp)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        mask = umask(0);
        umask(mask);
        (void) fchmod(fd, 0666 & ~mask);
        *ret_tmp = TAKE_PTR(tmp);
        return fd;
}

static int link_output(int fd, const char *tmp, const char *output) {
        char proc[64];

        if (tmp)
                return RET_NERRNO(link(tmp, output));
        (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%i", fd);
        return RET_NERRNO(linkat(AT_FDCWD, proc, AT_FDCWD, output, AT_SYMLINK_FOLLOW));
}

int spk_pack(const SpkPkgdef *pkgdef, const uint8_t public_key[32], const uint8_t secret_key[64],
             const char *output, const SpkPackOptions *opts, char **ret_error) {
        _cleanup_(spk_tree_done) SpkTree tree = {};
        _cleanup_free_ char *dir = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *base;
        int r;

        assert(pkgdef);
        assert(output);
        assert(opts);

        base = path_basename(output);
        if (isempty(base) || streq(base, ".") || streq(base, ".."))
                return error_set(ret_error, -EINVAL, "Invalid output file name '%s'", output);
        if (faccessat(AT_FDCWD, output, F_OK, AT_SYMLINK_NOFOLLOW) >= 0)
                return error_set(ret_error, -EEXIST, "Output file '%s' already exists", output);

        r = spk_pack_build_tree(pkgdef, opts, &tree, ret_error);
        if (r < 0)
                return r;
        if (opts->warning)
                STRV_FOREACH(w, tree.warnings)
                        opts->warning(opts->userdata, *w);

        dir = path_dirname(output);
        if (!dir)
                return -ENOMEM;
        fd = open_output(isempty(dir) ? "." : dir, base, &tmp);
        if (fd < 0)
                return error_set(ret_error, fd, "Failed to create a temporary file beside '%s': %s", output,
                            strerror(-fd));

        r = spk_pack_write(&tree, pkgdef, public_key, secret_key, fd, opts, ret_error);
        if (r >= 0) {
                r = RET_NERRNO(fsync(fd));
                if (r < 0)
                        (void) error_set(ret_error, r, "Failed to write '%s': %s", output, strerror(-r));
        }
        if (r >= 0) {
                r = link_output(fd, tmp, output);
                if (r == -EEXIST)
                        (void) error_set(ret_error, r, "Output file '%s' already exists", output);
                else if (r < 0)
                        (void) error_set(ret_error, r, "Failed to create '%s': %s", output, strerror(-r));
        }
        if (tmp)
                (void) unlink(tmp);
        return r;
}
