/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Reading a package, in three stages, and for unpacking a fourth beside the first:
 *
 *   STREAM  --input EOF, xz end, hash ok, key not revoked-->  CHECK  --tree and manifest ok-->  DONE
 *      \--any failure--> FAILED            CHECK --unpacking--> WRITE --renamed into place--> DONE
 *   EARLY (beside STREAM, unpacking only)                          \--any failure--> FAILED (tree removed)
 *
 * STREAM (stream_package()): one pass over the input. The producer (the calling thread) reads,
 * hashes the raw bytes with SHA-256 and decompresses; the sink (sink_feed(), in a helper thread unless
 * threads == 1) splits off the Signature message, checks it, and sends every later byte to SHA-512 and
 * to an unnamed temporary file. CHECK (walk_dir() in check mode) maps that file and walks the whole
 * archive. WRITE (walk_dir() in unpack mode) walks it again and creates each entry; unless threads == 1,
 * regular files are handed to a small pool of workers (see FilePool) and directory times are set once
 * the pool is done.
 *
 * EARLY (early_thread()): beyond verifying, unpacking spends its time creating files, nearly all of
 * it in the kernel, and that need not wait for the contents. Our packer (spk/pack.c) puts the whole
 * tree in segment 0 and every file's contents behind it in segment 1, so the names are known long
 * before xz is done. While STREAM goes on, a thread walks segment 0 as soon as it is in the temporary
 * file and creates the directories and empty regular files in the private directory WRITE fills
 * later. It stops when STREAM ends, or earlier at whatever it cannot read from segment 0 alone (with
 * the single segment of Sandstorm's own packer it makes nothing) or at any error; WRITE then takes
 * over what it made (opens it, writes the contents, sets the times) and creates the rest, symlinks
 * included, as it always does. SPK_UNPACK_EARLY_TREE=0 in the environment turns EARLY off (for tests
 * and benchmarks).
 *
 * (1) Nothing of the archive is interpreted before the signature over it has been verified, except
 *     by EARLY, and EARLY's reading has no effect outside a directory nobody else sees: see (5).
 * (2) Entries are created only beneath a directory fd that this code created itself, each with
 *     O_EXCL/mkdirat/mknodat/symlinkat semantics and O_NOFOLLOW, so an existing name, a symlink
 *     included, can never be written through. WRITE takes over an existing entry only when EARLY made
 *     some, only with O_NOFOLLOW, only a directory where it wants one and an empty regular file where
 *     it wants a file, and checks that it took over exactly as many entries as EARLY made: so EARLY
 *     made nothing that is not in the verified tree.
 * (3) The sum of file contents written never exceeds the archive's size, so blobs shared by several
 *     entries cannot multiply what reaches the disk.
 * (4) Memory is bounded by the limits, not by the package: the archive is mapped, never copied, and
 *     mapped pages are dropped as the walk goes. EARLY maps only segment 0 and trims as the others
 *     do, and it is joined before CHECK starts, so its walk never adds to CHECK's.
 * (5) Why EARLY is safe before the signature check: it runs the same walk_dir() as CHECK and WRITE,
 *     so every limit (entries, depth, name validity and length, total path length, duplicates,
 *     nesting, traversal) holds before a name is made, exactly as in WRITE; it writes no byte of
 *     content, only names and the modes WRITE would give them, in the mode-0700 directory that
 *     unpacking creates anyway, beneath directory fds it made itself, with mkdirat()/mknodat(), which
 *     never follow a symlink; and on any failure, of STREAM, CHECK or WRITE, that directory is
 *     removed whole after EARLY has been stopped and joined. Its errors are its own: they never reach
 *     the caller, who hears only what CHECK finds, after the signature.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <lzma.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "spk/package.h"
#include "spk/replacements.h"

extern char **environ;

const uint8_t spk_magic[SPK_MAGIC_SIZE] = { 0x8f, 0xc6, 0xcd, 0xef, 0x45, 0x1a, 0xea, 0x96 };

/* Archive.File (2 data words, 2 ptrs, spec §1.5). */
#define FILE_NAME_PTR 0
#define FILE_CONTENT_PTR 1
#define FILE_TAG_OFFSET 0
#define FILE_MTIME_OFFSET 8
enum {
        FILE_REGULAR = 0,
        FILE_EXECUTABLE = 1,
        FILE_SYMLINK = 2,
        FILE_DIRECTORY = 3,
};

/* Manifest (2 words, 5 ptrs) and Metadata (1 word, 17 ptrs), spec §3.3. */
#define MANIFEST_APP_VERSION_OFFSET 8
#define MANIFEST_MARKETING_VERSION_PTR 2
#define MANIFEST_APP_TITLE_PTR 3
#define MANIFEST_METADATA_PTR 4
#define METADATA_WEBSITE_PTR 3
#define METADATA_CODE_URL_PTR 4
#define METADATA_PGP_SIGNATURE_PTR 9
#define METADATA_PGP_KEYRING_PTR 10

#define IO_BUFFER_SIZE (1u << 20)
#define PIPE_SLOTS 4u
#define ARCHIVE_WRITE_CHUNK (64u * 1024u)
/* Each entry maps a few pages of the archive (its struct, its name; with fault-around, 64 KiB each):
 * drop them every so many entries to keep the resident set small. */
#define TRIM_EVERY_ENTRIES 64u
#define FULL_TRIM_EVERY 64u
#define FAULT_AROUND_BYTES ((uintptr_t) 64u * 1024u)
#define PGP_OUTPUT_MAX (64u * 1024u)

/* copy_file_range() cannot do this pair of files: fall back to write(). */
#define IN_SET_COPY_FALLBACK(e)                                                                             \
        ((e) == EXDEV || (e) == EINVAL || (e) == ENOSYS || (e) == EOPNOTSUPP || (e) == EBADF)
#define PAGE_MASK_ ((uintptr_t) sysconf(_SC_PAGESIZE) - 1)
#define ALIGN_UP_PAGE(p) (((p) + PAGE_MASK_) & ~PAGE_MASK_)
#define ALIGN_DOWN_PAGE(p) ((p) & ~PAGE_MASK_)

#define MANIFEST_NAME "sandstorm-manifest"
#define BRIDGE_CONFIG_NAME "sandstorm-http-bridge-config"

/* ---- messages ---- */

_printf_(3, 4) static int fail(SpkError *error, int r, const char *fmt, ...) {
        assert(r < 0);

        if (error) {
                va_list ap;

                va_start(ap, fmt);
                (void) vsnprintf(error->message, sizeof(error->message), fmt, ap);
                va_end(ap);
        }
        return r;
}

/* A name or path from a package, made safe to print: control bytes escaped, long ones shortened. */
static const char *escape_name(const char *p, size_t n, char *buf, size_t size) {
        size_t j = 0;

        assert(size >= 16);

        for (size_t i = 0; i < n; i++) {
                uint8_t c = (uint8_t) p[i];

                if (j + 8 >= size) {
                        memcpy(buf + j, "...", 3);
                        j += 3;
                        break;
                }
                if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
                        j += (size_t) snprintf(buf + j, size - j, "\\x%02x", c);
                else
                        buf[j++] = (char) c;
        }
        buf[j] = 0;
        return buf;
}

static const char *capnp_strerror(int r) {
        switch (r) {
        case -E2BIG:
                return "it reads more data than it holds";
        case -ELOOP:
                return "it nests too deeply";
        case -EFBIG:
                return "a segment is too large";
        case -EMEDIUMTYPE:
                return "a field has the wrong type";
        case -ENOMEM:
                return "out of memory";
        default:
                return "it is not a valid Cap'n Proto message";
        }
}

void spk_package_info_done(SpkPackageInfo *info) {
        if (!info)
                return;
        free(info->manifest);
        free(info->bridge_config);
        free(info->author_pgp_key_fingerprint);
        *info = (SpkPackageInfo) {};
}

static const SpkLimits *limits_or_default(const SpkLimits *limits, SpkLimits *buf) {
        if (limits)
                return limits;
        *buf = SPK_LIMITS_DEFAULT;
        return buf;
}

static struct timespec timespec_from_ns(int64_t ns) {
        int64_t sec = ns / 1000000000, rem = ns % 1000000000;

        /* C division truncates toward zero; a file from before 1970 needs a non-negative remainder. */
        if (rem < 0) {
                rem += 1000000000;
                sec--;
        }
        return (struct timespec) { .tv_sec = (time_t) sec, .tv_nsec = (long) rem };
}

/* ---- the archive walk (CHECK and WRITE) ---- */

/* One entry of the directory being walked. Sorting by a keyed hash rather than by name keeps qsort()
 * from touching every name page of a huge directory over and over; names are compared only when
 * hashes are equal, which an attacker cannot arrange without the key. */
typedef struct NameRef {
        uint64_t hash;
        const char *name;
        uint32_t len;
        uint32_t index;
} NameRef;

typedef struct Walker {
        const SpkLimits *limits;
        SpkError *error;
        StrBuf path; /* of the entry being looked at, for messages and path-length accounting */
        uint64_t n_entries;
        uint64_t total_path_bytes;
        uint64_t content_bytes;
        uint64_t max_content_bytes;
        const uint8_t *manifest;
        size_t manifest_size;
        bool has_manifest;
        const uint8_t *bridge_config;
        size_t bridge_config_size;
        bool has_bridge_config;

        /* EARLY only (with unpack): makes directories and empty regular files, reads no contents
         * and no symlink targets; stops when *cancel is set. */
        bool early;
        const atomic_bool *cancel;
        uint64_t n_made; /* directories and regular files made */

        /* WRITE only */
        bool unpack;
        bool adopt;         /* EARLY made some directories and regular files: take those over */
        uint64_t n_adopted; /* directories taken over (files: the pool's, or create_file()'s result) */
        int archive_fd; /* the file the archive is mapped from */
        const uint8_t *map;
        size_t map_size;
        uint64_t entries_since_trim;
        bool no_copy_file_range;
        uint8_t hash_key[crypto_shorthash_KEYBYTES];
        const uint8_t *touched_lo, *touched_hi; /* the tree: structs, names, lists */
        const uint8_t *pads_lo, *pads_hi;       /* far pointers' landing pads, beside the contents */
        uint64_t trims;
        struct FilePool *pool; /* NULL: files are created by the walking thread */
        bool pool_failed;      /* the walk stopped because a worker failed: report the pool's error */
        unsigned pool_worker, pool_next_worker; /* the worker of the directory being walked (P1a) */
        struct DirTime *dir_times; /* with a pool: directory times, applied once the pool is done */
        size_t n_dir_times, dir_times_cap;
} Walker;

typedef struct DirTime {
        char *path; /* beneath the root */
        struct timespec ts[2];
} DirTime;

static void walker_done(Walker *w) {
        for (size_t i = 0; i < w->n_dir_times; i++)
                free(w->dir_times[i].path);
        free(w->dir_times);
        w->dir_times = NULL;
        w->n_dir_times = w->dir_times_cap = 0;
        strbuf_done(&w->path);
}

static const char *walker_path(Walker *w, char *buf, size_t size) {
        return escape_name(w->path.data ?: "", w->path.len, buf, size);
}

static int walker_fail_malformed(Walker *w, int r) {
        char buf[256];

        if (r == -ENOMEM)
                return fail(w->error, r, "Out of memory.");
        if (w->path.len > 0)
                return fail(w->error, -EBADMSG, "Archive is malformed at '%s': %s.",
                            walker_path(w, buf, sizeof(buf)), capnp_strerror(r));
        return fail(w->error, -EBADMSG, "Archive is malformed: %s.", capnp_strerror(r));
}

/* Notes that the walk read the archive at p (a struct, a name, a list), for walker_trim(). */
static void walker_touch(Walker *w, const void *p) {
        const uint8_t *b = p;

        if (!w->map || b < w->map || b >= w->map + w->map_size)
                return;
        if (!w->touched_lo || b < w->touched_lo)
                w->touched_lo = b;
        if (b > w->touched_hi)
                w->touched_hi = b;
}

/* Notes a far pointer's landing pad, which sits beside file contents rather than in the tree. Kept in
 * an interval of its own: one interval over both would span from the tree to the contents, and each
 * trim would then drop tree pages the walk is about to read again. */
static void walker_touch_pad(Walker *w, const void *p) {
        const uint8_t *b = p;

        if (!w->map || b < w->map || b >= w->map + w->map_size)
                return;
        if (!w->pads_lo || b < w->pads_lo)
                w->pads_lo = b;
        if (b > w->pads_hi)
                w->pads_hi = b;
}

static void trim_range(const Walker *w, const uint8_t *lo, const uint8_t *hi) {
        uintptr_t a, b;

        a = ALIGN_DOWN_PAGE((uintptr_t) lo);
        b = ALIGN_UP_PAGE((uintptr_t) hi + 1);
        a = a > (uintptr_t) w->map + FAULT_AROUND_BYTES ? a - FAULT_AROUND_BYTES : (uintptr_t) w->map;
        b = MIN(b + FAULT_AROUND_BYTES, ALIGN_UP_PAGE((uintptr_t) w->map + w->map_size));
        (void) madvise((void *) a, b - a, MADV_DONTNEED);
}

/* Drops the mapped pages the walk has touched since the last call: they come back from the page cache
 * if needed again. Only the range noted by walker_touch() (plus the kernel's fault-around on either
 * side) most times, which is cheap; the whole mapping now and then, for what the reader touched on its
 * own (far-pointer landing pads, segment tables). */
static void walker_trim(Walker *w) {
        w->entries_since_trim = 0;
        if (!w->map || w->map_size == 0)
                return;

        if (++w->trims % FULL_TRIM_EVERY == 0 || !w->touched_lo)
                (void) madvise((void *) w->map, w->map_size, MADV_DONTNEED);
        else {
                trim_range(w, w->touched_lo, w->touched_hi);
                if (w->pads_lo)
                        trim_range(w, w->pads_lo, w->pads_hi);
        }
        w->touched_lo = w->touched_hi = NULL;
        w->pads_lo = w->pads_hi = NULL;
}

static int compare_names(const void *a, const void *b) {
        const NameRef *x = a, *y = b;
        int c;

        if (x->hash != y->hash)
                return x->hash < y->hash ? -1 : 1;
        c = memcmp(x->name, y->name, MIN(x->len, y->len));
        if (c != 0)
                return c;
        return x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
}
static int compare_index(const void *a, const void *b) {
        const NameRef *x = a, *y = b;

        return x->index < y->index ? -1 : x->index > y->index ? 1 : 0;
}

/* In-place heapsort: qsort() may allocate a copy of the whole array, which for a directory of a
 * million entries doubles the walk's memory. */
static void sift_down(NameRef *a, size_t root, size_t n, int (*cmp)(const void *, const void *)) {
        for (;;) {
                size_t child = 2 * root + 1;
                NameRef t;

                if (child >= n)
                        return;
                if (child + 1 < n && cmp(&a[child], &a[child + 1]) < 0)
                        child++;
                if (cmp(&a[root], &a[child]) >= 0)
                        return;
                t = a[root];
                a[root] = a[child];
                a[child] = t;
                root = child;
        }
}

static void sort_refs(NameRef *a, size_t n, int (*cmp)(const void *, const void *)) {
        if (n < 2)
                return;
        for (size_t i = n / 2; i-- > 0;)
                sift_down(a, i, n, cmp);
        for (size_t end = n - 1; end > 0; end--) {
                NameRef t = a[0];

                a[0] = a[end];
                a[end] = t;
                sift_down(a, 0, end, cmp);
        }
}

static bool name_is_valid(const char *name, size_t len) {
        if (!name || len == 0 || len > SPK_MAX_NAME_BYTES)
                return false;
        if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
                return false;
        return !memchr(name, '/', len) && !memchr(name, 0, len);
}

static int walker_push(Walker *w, const char *name, size_t len, size_t *ret_old_len) {
        size_t old = w->path.len;
        int r;

        if (old > 0) {
                r = strbuf_append_char(&w->path, '/');
                if (r < 0)
                        return fail(w->error, r, "Out of memory.");
        }
        r = strbuf_append(&w->path, name, len);
        if (r < 0)
                return fail(w->error, r, "Out of memory.");

        if (!ADD_SAFE(&w->total_path_bytes, w->total_path_bytes, (uint64_t) w->path.len) ||
            w->total_path_bytes > w->limits->max_total_path_bytes)
                return fail(w->error, -E2BIG, "Archive's file paths are too long in total (limit %" PRIu64
                            " bytes).", w->limits->max_total_path_bytes);
        *ret_old_len = old;
        return 0;
}

/* Where file contents come from: the archive's temporary file and its mapping. Read-only, so any
 * number of threads may use it. */
typedef struct ContentSource {
        int archive_fd;
        const uint8_t *map;
        size_t map_size;
} ContentSource;

/* *no_copy_file_range belongs to the calling thread. */
static int write_content(const ContentSource *src, bool *no_copy_file_range, int fd, const uint8_t *data,
                         size_t len) {
        size_t off, done = 0;

        if (len == 0)
                return 0;
        assert(data >= src->map && data + len <= src->map + src->map_size);
        off = (size_t) (data - src->map);

        /* In-kernel copy from the temporary file: the contents never pass through this process. */
        while (done < len && !*no_copy_file_range) {
                loff_t in_off = (loff_t) (off + done);
                ssize_t n = copy_file_range(src->archive_fd, &in_off, fd, NULL, len - done, 0);

                if (n < 0) {
                        if (IN_SET_COPY_FALLBACK(errno)) {
                                *no_copy_file_range = true;
                                break;
                        }
                        return negative_errno();
                }
                if (n == 0)
                        return -EIO;
                done += (size_t) n;
        }

        /* The mapping is private and never written: pages dropped here or by the walker's trims
         * concurrently come back from the page cache, so this is safe from any thread. */
        while (done < len) {
                size_t chunk = MIN(len - done, (size_t) 8u << 20);
                int r = loop_write(fd, data + done, chunk);

                if (r < 0)
                        return r;
                done += chunk;
                /* Drop what was copied: page-aligned inner part only. */
                uintptr_t a = ALIGN_UP_PAGE((uintptr_t) (data + done - chunk)),
                          b = ALIGN_DOWN_PAGE((uintptr_t) (data + done));
                if (b > a)
                        (void) madvise((void *) a, b - a, MADV_DONTNEED);
        }
        return 0;
}

/* Creates one regular file beneath dfd; path (escaped) is for messages only. With adopt, the file may
 * exist already, made empty by EARLY: then it is opened instead, and 1 returned rather than 0. */
static int create_file(const ContentSource *src, bool *no_copy_file_range, int dfd, const char *name,
                       const char *path, size_t path_len, bool adopt, bool executable, const uint8_t *data,
                       size_t len, const struct timespec ts[2], SpkError *error) {
        _cleanup_close_ int fd = -EBADF;
        bool adopted = false;
        char buf[256];
        int r;

        if (adopt) {
                /* Whatever is there was made by EARLY, from the bytes now verified, in a directory only
                 * this process writes to; still, only an empty regular file is taken over, and never
                 * through a symlink (invariant 2). */
                fd = openat(dfd, name, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
                if (fd < 0 && errno != ENOENT)
                        return fail(error, negative_errno(), "Failed to open '%s': %s",
                                    escape_name(path, path_len, buf, sizeof(buf)), strerror(errno));
                if (fd >= 0) {
                        struct stat st;

                        if (fstat(fd, &st) < 0)
                                return fail(error, negative_errno(), "Failed to look at '%s': %s",
                                            escape_name(path, path_len, buf, sizeof(buf)), strerror(errno));
                        if (!S_ISREG(st.st_mode) || st.st_size != 0 || st.st_nlink != 1)
                                return fail(error, -EEXIST, "Failed to create '%s': %s",
                                            escape_name(path, path_len, buf, sizeof(buf)), strerror(EEXIST));
                        adopted = true;
                }
        }
        if (fd < 0) {
                fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
                            executable ? 0777 : 0666);
                if (fd < 0)
                        return fail(error, negative_errno(), "Failed to create '%s': %s",
                                    escape_name(path, path_len, buf, sizeof(buf)), strerror(errno));
        }
        r = write_content(src, no_copy_file_range, fd, data, len);
        if (r < 0)
                return fail(error, r, "Failed to write '%s': %s",
                            escape_name(path, path_len, buf, sizeof(buf)), strerror(-r));
        if (futimens(fd, ts) < 0)
                return fail(error, negative_errno(), "Failed to set the time of '%s': %s",
                            escape_name(path, path_len, buf, sizeof(buf)), strerror(errno));
        return adopted;
}

/*
 * The file pool: creating a file costs far more kernel time than anything else the WRITE walk does, so
 * with threads != 1 the walking thread queues regular files and a few workers create them, while the
 * walk goes on making directories and symlinks in order.
 *
 * (P1) A job owns everything it needs: a duplicate of its directory's fd (a directory this code made,
 *      so invariant (2) holds in the worker too), a copy of its path, and where its contents lie. The
 *      queues are bounded, so the fds and memory held are too.
 * (P1a) Each worker has a queue of its own, and all files of one directory go to the same worker:
 *      creating entries in one directory serializes on that directory's lock in the kernel, so workers
 *      gain only when they work in different directories.
 * (P2) Workers write contents with copy_file_range() from the archive fd, or else from the read-only
 *      private mapping, which the walker's trims may drop at any time without harm.
 * (P3) The first failure wins: it is kept in the pool, later jobs are dropped unrun, and the walker
 *      stops at its next submission. The caller removes the tree after joining the pool.
 * (P4) A directory's time is set only after the pool has been joined, since its files may still be in
 *      the queue until then: the walk records it (in post-order) and walker_apply_dir_times() sets it.
 */
#define POOL_MAX_THREADS 4u
#define POOL_QUEUE_SLOTS 64u /* per worker */

typedef struct FileJob {
        int dfd;
        char *path; /* the entry's path; its name is the last component */
        size_t path_len, name_off;
        bool executable;
        const uint8_t *data;
        size_t len;
        struct timespec ts[2];
} FileJob;

typedef struct FileQueue {
        struct FilePool *pool;
        pthread_cond_t not_empty;
        FileJob jobs[POOL_QUEUE_SLOTS];
        size_t head, count;
} FileQueue;

typedef struct FilePool {
        ContentSource src;
        bool adopt;                    /* create_file()'s */
        atomic_uint_fast64_t n_adopted; /* files create_file() took over */
        pthread_mutex_t lock; /* guards everything below */
        pthread_cond_t not_full;
        FileQueue queues[POOL_MAX_THREADS];
        bool closing;
        int r; /* the first failure, or 0 */
        SpkError error;
        pthread_t threads[POOL_MAX_THREADS];
        unsigned n_threads;
} FilePool;

static void file_job_done(FileJob *j) {
        j->dfd = safe_close(j->dfd);
        free(j->path);
        j->path = NULL;
}

static void *pool_worker(void *userdata) {
        FileQueue *q = userdata;
        FilePool *p = q->pool;
        bool no_copy_file_range = false;

        for (;;) {
                FileJob j;
                SpkError error;
                bool failed;
                int r;

                pthread_mutex_lock(&p->lock);
                while (q->count == 0 && !p->closing)
                        pthread_cond_wait(&q->not_empty, &p->lock);
                if (q->count == 0) {
                        pthread_mutex_unlock(&p->lock);
                        return NULL;
                }
                j = q->jobs[q->head];
                q->head = (q->head + 1) % POOL_QUEUE_SLOTS;
                q->count--;
                failed = p->r < 0;
                pthread_cond_signal(&p->not_full);
                pthread_mutex_unlock(&p->lock);

                if (!failed) {
                        r = create_file(&p->src, &no_copy_file_range, j.dfd, j.path + j.name_off, j.path,
                                        j.path_len, p->adopt, j.executable, j.data, j.len, j.ts, &error);
                        if (r > 0)
                                atomic_fetch_add_explicit(&p->n_adopted, 1, memory_order_relaxed);
                        if (r < 0) {
                                pthread_mutex_lock(&p->lock);
                                if (p->r >= 0) {
                                        p->r = r;
                                        p->error = error;
                                }
                                pthread_cond_broadcast(&p->not_full);
                                pthread_mutex_unlock(&p->lock);
                        }
                }
                file_job_done(&j);
        }
}

static unsigned pool_size(const SpkVerifyOptions *opts) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned n = cpus > 0 ? (unsigned) MIN(cpus, (long) POOL_MAX_THREADS) : 1;

        if (opts && opts->threads > 1)
                n = MIN(n, opts->threads);
        return n;
}

/* Joins the workers, which finish every queued job first, adds the files they took over from EARLY to
 * *n_adopted, and frees the pool. r is the walk's result: its own failure stands unless the pool's
 * caused it (pool_failed); otherwise the pool's failure, if any, is returned. */
static int file_pool_finish(FilePool *p, int r, bool pool_failed, uint64_t *n_adopted, SpkError *error) {
        if (!p)
                return r;

        pthread_mutex_lock(&p->lock);
        p->closing = true;
        for (unsigned i = 0; i < p->n_threads; i++)
                pthread_cond_broadcast(&p->queues[i].not_empty);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->n_threads; i++)
                (void) pthread_join(p->threads[i], NULL);

        /* Workers leave only with their queues empty; this drops jobs of threads never started. */
        for (unsigned i = 0; i < POOL_MAX_THREADS; i++) {
                FileQueue *q = &p->queues[i];

                for (; q->count > 0; q->count--, q->head = (q->head + 1) % POOL_QUEUE_SLOTS)
                        file_job_done(&q->jobs[q->head]);
                pthread_cond_destroy(&q->not_empty);
        }

        if (n_adopted)
                *n_adopted += atomic_load(&p->n_adopted);
        if ((r >= 0 || pool_failed) && p->r < 0) {
                r = p->r;
                if (error)
                        *error = p->error;
        }
        pthread_cond_destroy(&p->not_full);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return r;
}

/* Starts a pool; *ret is NULL (no pool) when threads == 1 or only one CPU is online. */
static int file_pool_new(const SpkVerifyOptions *opts, const ContentSource *src, bool adopt, FilePool **ret,
                         SpkError *error) {
        unsigned n = opts && opts->threads == 1 ? 1 : pool_size(opts);
        FilePool *p;
        int r;

        *ret = NULL;
        if (n <= 1)
                return 0;

        p = calloc(1, sizeof(FilePool));
        if (!p)
                return fail(error, -ENOMEM, "Out of memory.");
        p->src = *src;
        p->adopt = adopt;
        atomic_init(&p->n_adopted, 0);
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->not_full, NULL);
        for (unsigned i = 0; i < POOL_MAX_THREADS; i++) {
                p->queues[i].pool = p;
                pthread_cond_init(&p->queues[i].not_empty, NULL);
        }

        for (; p->n_threads < n; p->n_threads++) {
                r = pthread_create(&p->threads[p->n_threads], NULL, pool_worker, &p->queues[p->n_threads]);
                if (r != 0) {
                        (void) file_pool_finish(p, 0, false, NULL, NULL);
                        return fail(error, -r, "Failed to start a thread: %s", strerror(r));
                }
        }
        *ret = p;
        return 0;
}

/* Queues the file w->path (beneath dfd) for the worker of its directory. Waits while that worker's
 * queue is full. */
static int file_pool_submit(Walker *w, int dfd, bool executable, const uint8_t *data, size_t len,
                            const struct timespec ts[2]) {
        FilePool *p = w->pool;
        FileQueue *q = &p->queues[w->pool_worker % p->n_threads];
        FileJob j = {
                .dfd = -EBADF,
                .path_len = w->path.len,
                .executable = executable,
                .data = data,
                .len = len,
                .ts = { ts[0], ts[1] },
        };
        const char *slash;

        j.path = strndup(w->path.data, w->path.len);
        if (!j.path)
                return fail(w->error, -ENOMEM, "Out of memory.");
        slash = memrchr(j.path, '/', j.path_len);
        j.name_off = slash ? (size_t) (slash - j.path) + 1 : 0;
        j.dfd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (j.dfd < 0) {
                int r = negative_errno();

                free(j.path);
                return fail(w->error, r, "Failed to duplicate a directory fd: %s", strerror(-r));
        }

        pthread_mutex_lock(&p->lock);
        while (q->count == POOL_QUEUE_SLOTS && p->r >= 0)
                pthread_cond_wait(&p->not_full, &p->lock);
        if (p->r < 0) {
                int r = p->r;

                pthread_mutex_unlock(&p->lock);
                file_job_done(&j);
                w->pool_failed = true;
                return r;
        }
        q->jobs[(q->head + q->count) % POOL_QUEUE_SLOTS] = j;
        q->count++;
        pthread_cond_signal(&q->not_empty);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

static int walker_create_file(Walker *w, int dfd, const char *name, bool executable, const uint8_t *data,
                              size_t len, const struct timespec ts[2]) {
        ContentSource src = { .archive_fd = w->archive_fd, .map = w->map, .map_size = w->map_size };
        int r;

        if (w->pool)
                return file_pool_submit(w, dfd, executable, data, len, ts);
        r = create_file(&src, &w->no_copy_file_range, dfd, name, w->path.data, w->path.len, w->adopt,
                        executable, data, len, ts, w->error);
        if (r > 0)
                w->n_adopted++;
        return r < 0 ? r : 0;
}

/* Records the time of directory w->path, to be set by walker_apply_dir_times(). */
static int walker_defer_dir_time(Walker *w, const struct timespec ts[2]) {
        DirTime *d;

        if (w->n_dir_times == w->dir_times_cap) {
                size_t cap = w->dir_times_cap ? w->dir_times_cap * 2 : 64;

                d = reallocarray(w->dir_times, cap, sizeof(DirTime));
                if (!d)
                        return fail(w->error, -ENOMEM, "Out of memory.");
                w->dir_times = d;
                w->dir_times_cap = cap;
        }
        d = &w->dir_times[w->n_dir_times];
        d->path = strndup(w->path.data, w->path.len);
        if (!d->path)
                return fail(w->error, -ENOMEM, "Out of memory.");
        d->ts[0] = ts[0];
        d->ts[1] = ts[1];
        w->n_dir_times++;
        return 0;
}

/* Sets the recorded directory times, children before parents, one fd open at a time. */
static int walker_apply_dir_times(Walker *w, int root) {
        char buf[256];
        int r;

        for (size_t i = 0; i < w->n_dir_times; i++) {
                const DirTime *d = &w->dir_times[i];
                _cleanup_close_ int fd = -EBADF;

                fd = openat_beneath(root, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
                if (fd < 0)
                        return fail(w->error, fd, "Failed to open directory '%s': %s",
                                    escape_name(d->path, strlen(d->path), buf, sizeof(buf)), strerror(-fd));
                if (futimens(fd, d->ts) < 0) {
                        r = negative_errno();
                        return fail(w->error, r, "Failed to set the time of '%s': %s",
                                    escape_name(d->path, strlen(d->path), buf, sizeof(buf)), strerror(-r));
                }
        }
        return 0;
}

static int walk_dir(Walker *w, const CapnpList *files, unsigned depth, int dfd);

static int walk_entry(Walker *w, const CapnpList *files, const NameRef *ref, unsigned depth, int dfd) {
        CapnpStruct f;
        struct timespec ts[2];
        char buf[256];
        uint16_t tag;
        int r;

        r = capnp_list_get_struct(files, ref->index, &f);
        if (r < 0)
                return walker_fail_malformed(w, r);
        walker_touch(w, f.data);
        walker_touch(w, f.ptrs);
        walker_touch(w, ref->name);
        walker_touch(w, ref->name + ref->len);
        tag = capnp_struct_get_u16(&f, FILE_TAG_OFFSET);
        ts[0] = ts[1] = timespec_from_ns((int64_t) capnp_struct_get_u64(&f, FILE_MTIME_OFFSET));

        switch (tag) {

        case FILE_REGULAR:
        case FILE_EXECUTABLE: {
                const uint8_t *data;
                size_t len;

                /* The contents are in a segment EARLY does not have, and no byte of them is written
                 * before the signature check: the file is made empty, with the mode create_file()
                 * would give it. */
                if (w->early) {
                        if (mknodat(dfd, ref->name, S_IFREG | (tag == FILE_EXECUTABLE ? 0777 : 0666), 0) < 0)
                                return fail(w->error, negative_errno(), "Failed to create '%s': %s",
                                            walker_path(w, buf, sizeof(buf)), strerror(errno));
                        w->n_made++;
                        return 0;
                }

                r = capnp_struct_get_data(&f, FILE_CONTENT_PTR, &data, &len);
                if (r < 0)
                        return walker_fail_malformed(w, r);
                /* Reading the Data pointer faulted in the page of its far pointer's landing pad, which
                 * normally sits just before the content, and the kernel maps up to 64 KiB around every
                 * fault. Note both, so the next trim drops them: otherwise a tree of many files spread
                 * over the mapping keeps most of it resident until the full trim. */
                if (data) {
                        walker_touch_pad(w, data);
                        if ((uintptr_t) data - (uintptr_t) w->map >= 8)
                                walker_touch_pad(w, data - 8);
                }
                if (len > w->limits->max_file_bytes)
                        return fail(w->error, -EFBIG, "File '%s' in archive is too big (%zu bytes).",
                                    walker_path(w, buf, sizeof(buf)), len);
                w->content_bytes += len; /* cannot overflow: each len < 2^29 and entries < 2^32 */
                if (w->content_bytes > w->max_content_bytes)
                        return fail(w->error, -EBADMSG,
                                    "Archive is malformed: file contents overlap (at '%s').",
                                    walker_path(w, buf, sizeof(buf)));

                if (depth == 1 && tag == FILE_REGULAR) {
                        if (ref->len == STRLEN(MANIFEST_NAME) &&
                                memcmp(ref->name, MANIFEST_NAME, ref->len) == 0) {
                                w->manifest = data;
                                w->manifest_size = len;
                                w->has_manifest = true;
                        } else if (ref->len == STRLEN(BRIDGE_CONFIG_NAME) &&
                                   memcmp(ref->name, BRIDGE_CONFIG_NAME, ref->len) == 0) {
                                w->bridge_config = data;
                                w->bridge_config_size = len;
                                w->has_bridge_config = true;
                        }
                }

                if (w->unpack)
                        return walker_create_file(w, dfd, ref->name, tag == FILE_EXECUTABLE, data, len, ts);
                return 0;
        }

        case FILE_SYMLINK: {
                const char *target;
                size_t len;

                /* Symlinks are left to WRITE: a target may lie in a segment EARLY does not have. */
                if (w->early)
                        return 0;
                r = capnp_struct_get_text(&f, FILE_CONTENT_PTR, &target, &len);
                if (r < 0)
                        return walker_fail_malformed(w, r);
                walker_touch(w, target);
                if (target)
                        walker_touch(w, target + len);
                if (!target || len == 0 || len > SPK_MAX_SYMLINK_BYTES || memchr(target, 0, len))
                        return fail(w->error, -EBADMSG, "Archive contains an invalid symlink: '%s'.",
                                    walker_path(w, buf, sizeof(buf)));
                if (!w->unpack)
                        return 0;
                if (symlinkat(target, dfd, ref->name) < 0)
                        return fail(w->error, negative_errno(), "Failed to create symlink '%s': %s",
                                    walker_path(w, buf, sizeof(buf)), strerror(errno));
                if (utimensat(dfd, ref->name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return fail(w->error, negative_errno(), "Failed to set the time of '%s': %s",
                                    walker_path(w, buf, sizeof(buf)), strerror(errno));
                return 0;
        }

        case FILE_DIRECTORY: {
                _cleanup_close_ int cfd = -EBADF;
                CapnpList children;

                r = capnp_struct_get_struct_list(&f, FILE_CONTENT_PTR, &children);
                if (r < 0)
                        return walker_fail_malformed(w, r);
                walker_touch(w, children.start);

                if (w->unpack) {
                        /* With adopt, EARLY may have made it: O_DIRECTORY | O_NOFOLLOW below opens
                         * nothing but a directory. */
                        if (mkdirat(dfd, ref->name, 0777) >= 0)
                                w->n_made += w->early;
                        else if (w->adopt && errno == EEXIST)
                                w->n_adopted++;
                        else
                                return fail(w->error, negative_errno(),
                                        "Failed to create directory '%s': %s",
                                        walker_path(w, buf, sizeof(buf)), strerror(errno));
                        cfd = openat(dfd, ref->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0)
                                return fail(w->error, negative_errno(), "Failed to open directory '%s': %s",
                                            walker_path(w, buf, sizeof(buf)), strerror(errno));
                }

                r = walk_dir(w, &children, depth + 1, cfd);
                if (r < 0)
                        return r;

                /* After the children: creating them changed the directory's mtime. With a pool, some
                 * may not exist yet (P4). EARLY leaves times to WRITE. */
                if (w->early)
                        return 0;
                if (w->unpack && w->pool)
                        return walker_defer_dir_time(w, ts);
                if (w->unpack && futimens(cfd, ts) < 0)
                        return fail(w->error, negative_errno(), "Failed to set the time of '%s': %s",
                                    walker_path(w, buf, sizeof(buf)), strerror(errno));
                return 0;
        }

        default:
                return fail(w->error, -EBADMSG, "Archive entry '%s' has an unknown type (%u).",
                            walker_path(w, buf, sizeof(buf)), tag);
        }
}

static int walk_dir(Walker *w, const CapnpList *files, unsigned depth, int dfd) {
        _cleanup_free_ NameRef *refs = NULL;
        char buf[256];
        uint32_t n = files->count;
        unsigned parent_worker;
        int r;

        if (n == 0)
                return 0;
        if (depth > w->limits->max_depth)
                return fail(w->error, -ELOOP, "Archive nests directories more than %u deep (at '%s').",
                            w->limits->max_depth, walker_path(w, buf, sizeof(buf)));
        if (n > w->limits->max_entries || w->n_entries > w->limits->max_entries - n)
                return fail(w->error, -E2BIG, "Archive has too many entries (limit %" PRIu64 ").",
                            w->limits->max_entries);
        w->n_entries += n;

        refs = malloc(sizeof(NameRef) * n);
        if (!refs)
                return fail(w->error, -ENOMEM, "Out of memory.");

        for (uint32_t i = 0; i < n; i++) {
                CapnpStruct f;
                const char *name;
                size_t len;

                r = capnp_list_get_struct(files, i, &f);
                if (r < 0)
                        return walker_fail_malformed(w, r);
                r = capnp_struct_get_text(&f, FILE_NAME_PTR, &name, &len);
                if (r < 0)
                        return walker_fail_malformed(w, r);
                walker_touch(w, f.data);
                walker_touch(w, f.ptrs);
                walker_touch(w, name);
                if (name)
                        walker_touch(w, name + len);
                if (!name_is_valid(name, len)) {
                        size_t old = w->path.len;
                        char nbuf[256];

                        if (!name)
                                len = 0;
                        (void) escape_name(name ?: "", len, nbuf, sizeof(nbuf));
                        if (old > 0)
                                (void) fail(w->error, -EBADMSG,
                                            "Archive contains an invalid file name '%s' in '%s'.", nbuf,
                                            walker_path(w, buf, sizeof(buf)));
                        else
                                (void) fail(w->error, -EBADMSG,
                                        "Archive contains an invalid file name '%s'.", nbuf);
                        return -EBADMSG;
                }
                refs[i] = (NameRef) { .name = name, .len = (uint32_t) len, .index = i };
                crypto_shorthash((uint8_t *) &refs[i].hash, (const uint8_t *) name, len, w->hash_key);

                if (++w->entries_since_trim >= TRIM_EVERY_ENTRIES)
                        walker_trim(w);
        }

        /* Sorted, duplicates are neighbours. */
        sort_refs(refs, n, compare_names);
        for (uint32_t i = 1; i < n; i++)
                if (compare_names(&refs[i - 1], &refs[i]) == 0) {
                        size_t old;

                        r = walker_push(w, refs[i].name, refs[i].len, &old);
                        if (r < 0)
                                return r;
                        return fail(w->error, -EBADMSG, "Archive contains the name '%s' twice.",
                                    walker_path(w, buf, sizeof(buf)));
                }

        /* Back to the archive's order, which is the order of its bytes: the walk then reads the
         * mapping sequentially rather than faulting pages in at random. */
        sort_refs(refs, n, compare_index);

        /* This directory's files go to a worker of their own, the next one round; the parent's
         * worker comes back when the walk returns. */
        parent_worker = w->pool_worker;
        w->pool_worker = w->pool_next_worker++;

        for (uint32_t i = 0; i < n; i++) {
                size_t old;

                if (w->cancel && atomic_load_explicit(w->cancel, memory_order_relaxed))
                        return -ECANCELED;
                r = walker_push(w, refs[i].name, refs[i].len, &old);
                if (r < 0)
                        return r;
                r = walk_entry(w, files, &refs[i], depth, dfd);
                if (r < 0)
                        return r;
                strbuf_truncate(&w->path, old);

                if (++w->entries_since_trim >= TRIM_EVERY_ENTRIES)
                        walker_trim(w);
        }
        w->pool_worker = parent_worker;
        return 0;
}

/* Walks a parsed archive message. In WRITE and EARLY mode, creates the tree beneath dfd. */
static int walk_message(Walker *w, CapnpMessage *msg, int dfd) {
        CapnpStruct root;
        CapnpList files;
        int r;

        if (sodium_init() < 0)
                return fail(w->error, -EIO, "Failed to initialize libsodium.");
        randombytes_buf(w->hash_key, sizeof(w->hash_key));

        r = capnp_message_root(msg, &root);
        if (r >= 0)
                r = capnp_struct_get_struct_list(&root, 0, &files);
        if (r < 0)
                return walker_fail_malformed(w, r);
        r = walk_dir(w, &files, 1, dfd);
        if (r >= 0 && capnp_message_error(msg) < 0)
                r = walker_fail_malformed(w, capnp_message_error(msg));
        return r;
}

/* The reader's nesting limit for a walk: our own depth limit should speak first, and each level costs
 * the reader a list and a struct. */
static unsigned walk_nesting_limit(const SpkLimits *limits) {
        return 2 * limits->max_depth + 8;
}

/* Walks the archive message in buf. In WRITE mode, creates the tree beneath dfd. */
static int walk_archive(Walker *w, const uint8_t *buf, size_t size, int dfd) {
        CapnpMessage msg = {};
        CapnpReadOptions opts = {
                .nesting_limit = walk_nesting_limit(w->limits),
                .max_segments = SPK_MAX_SEGMENTS,
        };
        size_t used;
        int r;

        w->max_content_bytes = size;
        r = capnp_message_parse(&msg, buf, size, &opts, &used);
        if (r > 0) {
                capnp_message_done(&msg);
                return fail(w->error, -EBADMSG, "Archive is truncated.");
        }
        if (r < 0) {
                capnp_message_done(&msg);
                return walker_fail_malformed(w, r);
        }

        r = walk_message(w, &msg, dfd);
        capnp_message_done(&msg);
        return r;
}

static int copy_out(const uint8_t *p, size_t n, uint8_t **ret) {
        uint8_t *c = malloc(n ? n : 1);

        if (!c)
                return -ENOMEM;
        if (n > 0) /* an empty file has no bytes, and p may be NULL */
                memcpy(c, p, n);
        *ret = c;
        return 0;
}

/* Fills the archive part of info from a finished CHECK walk. */
static int walker_result(Walker *w, SpkPackageInfo *info) {
        _cleanup_free_ uint8_t *manifest = NULL, *bridge = NULL;

        if (!w->has_manifest)
                return fail(w->error, -EBADMSG, "SPK contains no manifest file.");
        if (w->manifest_size > SPK_MAX_MANIFEST_BYTES)
                return fail(w->error, -EFBIG, "sandstorm-manifest is too big.");
        if (w->has_bridge_config && w->bridge_config_size > SPK_MAX_BRIDGE_CONFIG_BYTES)
                return fail(w->error, -EFBIG, "sandstorm-http-bridge-config is too big.");

        if (copy_out(w->manifest, w->manifest_size, &manifest) < 0)
                return fail(w->error, -ENOMEM, "Out of memory.");
        if (w->has_bridge_config && copy_out(w->bridge_config, w->bridge_config_size, &bridge) < 0)
                return fail(w->error, -ENOMEM, "Out of memory.");

        free(info->manifest);
        free(info->bridge_config);
        info->manifest = TAKE_PTR(manifest);
        info->manifest_size = w->manifest_size;
        info->bridge_config = TAKE_PTR(bridge);
        info->bridge_config_size = w->has_bridge_config ? w->bridge_config_size : 0;
        info->n_entries = w->n_entries;
        info->content_bytes = w->content_bytes;
        return 0;
}

/* Looks for the manifest at the root; a non-regular one is an error of its own (spec §1.8). */
static int check_manifest_kind(const uint8_t *buf, size_t size, SpkError *error);

int spk_archive_check(const void *buf, size_t size, const SpkLimits *limits, SpkPackageInfo *ret,
                      SpkError *error) {
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        SpkLimits lbuf;
        Walker w = {
                .limits = limits_or_default(limits, &lbuf),
                .error = error,
                .archive_fd = -EBADF,
        };
        int r;

        assert(buf || size == 0);
        assert(ret);

        r = walk_archive(&w, buf, size, -EBADF);
        if (r >= 0 && !w.has_manifest)
                r = check_manifest_kind(buf, size, error);
        if (r >= 0)
                r = walker_result(&w, &info);
        walker_done(&w);
        if (r < 0)
                return r;

        info.archive_bytes = size;
        *ret = info;
        info = (SpkPackageInfo) {};
        return 0;
}

static int check_manifest_kind(const uint8_t *buf, size_t size, SpkError *error) {
        CapnpMessage msg = {};
        CapnpStruct root, f;
        CapnpList files;
        CapnpReadOptions opts = { .max_segments = SPK_MAX_SEGMENTS };
        size_t used;
        int r;

        /* Only reached after a full walk succeeded, so this cannot fail in new ways. */
        r = capnp_message_parse(&msg, buf, size, &opts, &used);
        if (r == 0)
                r = capnp_message_root(&msg, &root);
        if (r == 0)
                r = capnp_struct_get_struct_list(&root, 0, &files);
        for (uint32_t i = 0; r == 0 && i < files.count; i++) {
                const char *name;
                size_t len;

                if (capnp_list_get_struct(&files, i, &f) < 0 ||
                        capnp_struct_get_text(&f, 0, &name, &len) < 0)
                        break;
                if (name && len == STRLEN(MANIFEST_NAME) && memcmp(name, MANIFEST_NAME, len) == 0) {
                        capnp_message_done(&msg);
                        return fail(error, -EBADMSG, "sandstorm-manifest is not a regular file");
                }
        }
        capnp_message_done(&msg);
        return 0; /* walker_result() reports the missing manifest */
}

/* ---- the manifest ---- */

static bool is_http_url(const char *s, size_t len) {
        return (len >= 7 && strncmp(s, "http://", 7) == 0) || (len >= 8 && strncmp(s, "https://", 8) == 0);
}

static int manifest_open(CapnpMessage *msg, const void *buf, size_t size, CapnpStruct *ret_root) {
        CapnpReadOptions opts = { .traversal_limit_words = SPK_MAX_MANIFEST_WORDS };
        size_t used;
        int r;

        if (size > SPK_MAX_MANIFEST_BYTES)
                return -EFBIG;
        r = capnp_message_parse(msg, buf, size, &opts, &used);
        if (r > 0)
                return -EBADMSG;
        if (r < 0)
                return r;
        if (msg->total_words > SPK_MAX_MANIFEST_WORDS)
                return -EFBIG;
        return capnp_message_root(msg, ret_root);
}

int spk_manifest_check(const void *buf, size_t size, SpkError *error) {
        CapnpMessage msg = {};
        CapnpBuilder b;
        CapnpStruct root, metadata;
        const char *url;
        size_t len;
        int r;

        assert(buf || size == 0);

        r = manifest_open(&msg, buf, size, &root);
        if (r < 0) {
                capnp_message_done(&msg);
                if (r == -EFBIG)
                        return fail(error, r, "sandstorm-manifest is too big (limit %" PRIu64 " words).",
                                    SPK_MAX_MANIFEST_WORDS);
                return fail(error, r == -ENOMEM ? r : -EBADMSG, "sandstorm-manifest is malformed: %s.",
                            capnp_strerror(r));
        }

        /* Copying the whole manifest follows every pointer in it once, within the traversal limit:
         * whatever later reads it (JSON, the installer) will find it well-formed. */
        capnp_builder_init(&b, 2 * SPK_MAX_MANIFEST_WORDS);
        r = capnp_build_copy_root(&b, &root);
        capnp_builder_done(&b);
        if (r >= 0)
                r = capnp_struct_get_struct(&root, MANIFEST_METADATA_PTR, &metadata);
        if (r < 0) {
                capnp_message_done(&msg);
                return fail(error, r == -ENOMEM ? r : -EBADMSG, "sandstorm-manifest is malformed: %s.",
                            capnp_strerror(r));
        }

        r = capnp_struct_get_text(&metadata, METADATA_WEBSITE_PTR, &url, &len);
        if (r >= 0 && url && !is_http_url(url, len))
                r = fail(error, -EBADMSG, "Manifest's website URL must begin with http:// or https://.");
        if (r >= 0) {
                r = capnp_struct_get_text(&metadata, METADATA_CODE_URL_PTR, &url, &len);
                if (r >= 0 && url && !is_http_url(url, len))
                        r = fail(error, -EBADMSG, "Manifest's codeUrl must begin with http:// or https://.");
        }
        if (r < 0 && error && !error->message[0])
                (void) fail(error, -EBADMSG, "sandstorm-manifest is malformed: %s.", capnp_strerror(r));
        capnp_message_done(&msg);
        return r < 0 ? (r == -ENOMEM ? r : -EBADMSG) : 0;
}

/* ---- PGP (spec §1.8) ---- */

static char *find_in_path(const char *name) {
        const char *path = getenv("PATH");

        if (isempty(path))
                path = "/usr/local/bin:/usr/bin:/bin";
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, ":");
                _cleanup_free_ char *dir = strndup_safe(p, n);
                char *full;

                if (!dir)
                        return NULL;
                if (n > 0) {
                        full = path_join(dir, name);
                        if (!full)
                                return NULL;
                        if (access(full, X_OK) == 0)
                                return full;
                        free(full);
                }
                p += n;
                if (*p == ':')
                        p++;
        }
        return NULL;
}

static int write_file_at(int dfd, const char *name, const void *p, size_t n) {
        _cleanup_close_ int fd = -EBADF;

        fd = RET_NERRNO(openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (fd < 0)
                return fd;
        return loop_write(fd, p, n);
}

static int read_back(int fd, char **ret, size_t *ret_size) {
        if (lseek(fd, 0, SEEK_SET) < 0)
                return negative_errno();
        return read_full_fd(fd, PGP_OUTPUT_MAX, ret, ret_size);
}

/* The fingerprint from the "[GNUPG:] VALIDSIG" status line: word 11 (the primary key) if present,
 * else word 2. */
static char *parse_validsig(const char *status) {
        for (const char *line = status; line && *line;) {
                const char *eol = strchr(line, '\n');
                size_t n = eol ? (size_t) (eol - line) : strlen(line);

                if (n > 18 && strneq(line, "[GNUPG:] VALIDSIG ", 18)) {
                        const char *words[16];
                        size_t lens[16], count = 0;

                        for (size_t i = 0; i < n && count < ELEMENTSOF(words);) {
                                while (i < n && line[i] == ' ')
                                        i++;
                                if (i >= n)
                                        break;
                                words[count] = line + i;
                                while (i < n && line[i] != ' ' && line[i] != '\r')
                                        i++;
                                lens[count] = (size_t) (line + i - words[count]);
                                count++;
                        }
                        if (count > 11)
                                return strndup_safe(words[11], lens[11]);
                        if (count > 2)
                                return strndup_safe(words[2], lens[2]);
                        return NULL;
                }
                line = eol ? eol + 1 : NULL;
        }
        return NULL;
}

static int check_pgp(
        const SpkPackageInfo *info, const char *tmp_dir, char **ret_fingerprint, SpkError *error) {
        _cleanup_free_ char *gpg = NULL, *dir = NULL, *sig_path = NULL, *keyring_path = NULL, *home = NULL,
                            *out = NULL, *status = NULL, *fingerprint = NULL, *expected = NULL;
        _cleanup_close_ int dfd = -EBADF, out_fd = -EBADF, status_fd = -EBADF, null_fd = -EBADF;
        CapnpMessage msg = {};
        CapnpStruct root, metadata;
        const uint8_t *sig, *keyring;
        size_t sig_len = 0, keyring_len = 0, out_len, status_len;
        bool has_sig, has_keyring;
        int r;

        r = manifest_open(&msg, info->manifest, info->manifest_size, &root);
        if (r >= 0)
                r = capnp_struct_get_struct(&root, MANIFEST_METADATA_PTR, &metadata);
        if (r < 0) {
                capnp_message_done(&msg);
                return fail(error, -EBADMSG, "sandstorm-manifest is malformed: %s.", capnp_strerror(r));
        }
        has_sig = capnp_struct_has(&metadata, METADATA_PGP_SIGNATURE_PTR);
        has_keyring = capnp_struct_has(&metadata, METADATA_PGP_KEYRING_PTR);
        if (has_sig)
                r = capnp_struct_get_data(&metadata, METADATA_PGP_SIGNATURE_PTR, &sig, &sig_len);
        if (r >= 0 && has_keyring)
                r = capnp_struct_get_data(&metadata, METADATA_PGP_KEYRING_PTR, &keyring, &keyring_len);
        if (r < 0) {
                capnp_message_done(&msg);
                return fail(error, -EBADMSG, "sandstorm-manifest is malformed: %s.", capnp_strerror(r));
        }
        if (!has_sig) {
                capnp_message_done(&msg);
                *ret_fingerprint = NULL;
                return 0;
        }
        if (!has_keyring) {
                capnp_message_done(&msg);
                return fail(error, -EBADMSG, "Metadata has an author PGP signature but no PGP keyring.");
        }

        gpg = find_in_path("gpg");
        if (!gpg) {
                capnp_message_done(&msg);
                return fail(error, -ENOPKG,
                            "Package has an author PGP signature, but gpg is not installed to check it.");
        }

        dir = path_join(tmp_dir, "spk-pgp-XXXXXX");
        if (!dir || !mkdtemp(dir)) {
                r = dir ? negative_errno() : -ENOMEM;
                capnp_message_done(&msg);
                return fail(error, r, "Failed to create a temporary directory: %s", strerror(-r));
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                r = negative_errno();
        if (r >= 0)
                r = write_file_at(dfd, "signature", sig, sig_len);
        if (r >= 0)
                r = write_file_at(dfd, "keyring", keyring, keyring_len);
        capnp_message_done(&msg);
        if (r >= 0 && mkdirat(dfd, "home", 0700) < 0)
                r = negative_errno();
        if (r >= 0) {
                out_fd = openat(dfd, "out", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                status_fd = openat(dfd, "status", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (out_fd < 0 || status_fd < 0 || null_fd < 0)
                        r = negative_errno();
        }
        sig_path = path_join(dir, "signature");
        keyring_path = path_join(dir, "keyring");
        home = path_join(dir, "home");
        if (r >= 0 && (!sig_path || !keyring_path || !home))
                r = -ENOMEM;

        if (r >= 0) {
                posix_spawn_file_actions_t fa;
                char *argv[] = { gpg,           (char *) "--homedir",  home,
                                 (char *) "--batch",     (char *) "--status-fd", (char *) "3",
                                 (char *) "--no-default-keyring", (char *) "--keyring", keyring_path,
                                 (char *) "--decrypt", sig_path, NULL };
                pid_t pid;
                int status_code;

                posix_spawn_file_actions_init(&fa);
                posix_spawn_file_actions_adddup2(&fa, null_fd, STDIN_FILENO);
                posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
                posix_spawn_file_actions_adddup2(&fa, null_fd, STDERR_FILENO);
                posix_spawn_file_actions_adddup2(&fa, status_fd, 3);
                r = -posix_spawn(&pid, gpg, &fa, NULL, argv, environ);
                posix_spawn_file_actions_destroy(&fa);
                if (r >= 0) {
                        while (waitpid(pid, &status_code, 0) < 0)
                                if (errno != EINTR) {
                                        r = negative_errno();
                                        break;
                                }
                        if (r >= 0)
                                r = read_back(out_fd, &out, &out_len);
                        if (r >= 0)
                                r = read_back(status_fd, &status, &status_len);
                }
        }
        (void) rm_rf_path(dir);
        if (r < 0)
                return fail(error, r, "Failed to run gpg: %s", strerror(-r));

        {
                const char *p = out;
                size_t n = out_len;

                strip_span(&p, &n);
                expected = strjoin("I am the author of the Sandstorm.io app with the following ID: ",
                                   info->app_id_text);
                if (!expected)
                        return fail(error, -ENOMEM, "Out of memory.");
                if (n != strlen(expected) || memcmp(p, expected, n) != 0)
                        return fail(error, -EKEYREJECTED,
                                    "Author PGP signature is invalid or does not name this app's ID.");
        }
        fingerprint = parse_validsig(status);
        if (!fingerprint)
                return fail(error, -EKEYREJECTED, "Author PGP signature is invalid.");

        *ret_fingerprint = TAKE_PTR(fingerprint);
        return 0;
}

/* ---- EARLY ---- */

/* Shared by the sink, which reports how much of the archive is in the temporary file, EARLY's thread
 * and the unpacking caller. */
typedef struct Early {
        pthread_mutex_t lock; /* guards written, want and stream_over */
        pthread_cond_t cond;
        uint64_t written;    /* archive bytes in the temporary file so far */
        uint64_t want;       /* what the thread waits for: the sink wakes it when written gets there */
        bool stream_over;    /* the sink will write no more */
        atomic_bool cancel;  /* STREAM is over: stop making names */
        bool started;
        pthread_t thread;

        /* Set before the thread starts. */
        int archive_fd; /* the temporary file */
        int root;       /* the private directory WRITE fills */
        const SpkLimits *limits;

        /* The thread's results, for the caller after the join. */
        uint64_t n_made; /* directories and regular files made */
        SpkError error;  /* EARLY's own, never shown: the caller hears what CHECK finds */
} Early;

static bool early_enabled(const SpkVerifyOptions *opts) {
        const char *e;

        if (opts && opts->threads == 1)
                return false;
        e = secure_getenv("SPK_UNPACK_EARLY_TREE");
        return !e || !streq(e, "0");
}

static void early_init(Early *e, int root, const SpkLimits *limits) {
        *e = (Early) {
                .archive_fd = -EBADF,
                .root = root,
                .limits = limits,
        };
        pthread_mutex_init(&e->lock, NULL);
        pthread_cond_init(&e->cond, NULL);
        atomic_init(&e->cancel, false);
}

/* Waits until the temporary file holds the first need bytes of the archive. False when it never will,
 * or when EARLY is cancelled. */
static bool early_wait(Early *e, uint64_t need) {
        bool ok;

        pthread_mutex_lock(&e->lock);
        e->want = need;
        while (e->written < need && !e->stream_over && !atomic_load(&e->cancel))
                pthread_cond_wait(&e->cond, &e->lock);
        ok = e->written >= need && !atomic_load(&e->cancel);
        e->want = UINT64_MAX;
        pthread_mutex_unlock(&e->lock);
        return ok;
}

/* The sink, after each write to the temporary file. */
static void early_advance(Early *e, uint64_t written) {
        pthread_mutex_lock(&e->lock);
        e->written = written;
        if (written >= e->want)
                pthread_cond_signal(&e->cond);
        pthread_mutex_unlock(&e->lock);
}

/* EARLY's walk of segment 0 (already in the temporary file, mapped at map) beneath e->root. */
static int early_walk(Early *e, const uint8_t *map, uint64_t table_bytes, uint32_t n_segments) {
        /* capnp_message_parse() wants the whole message. Segment 0 on its own is that message as far
         * as it is here: a far pointer into any other segment fails (no such segment), which stops the
         * walk. The budgets are those CHECK's parse of the whole message gets. */
        CapnpSegment seg = {
                .bytes = map + table_bytes,
                .n_words = unaligned_read_le32(map + 4),
        };
        CapnpMessage msg = {
                .segments = &seg,
                .n_segments = 1,
                .total_words = seg.n_words,
                .nesting_limit = walk_nesting_limit(e->limits),
        };
        Walker w = {
                .limits = e->limits,
                .error = &e->error,
                .unpack = true,
                .early = true,
                .cancel = &e->cancel,
                .archive_fd = -EBADF,
                .map = map,
                .map_size = table_bytes + (size_t) seg.n_words * 8,
        };
        int r;

        for (uint32_t i = 0; i < n_segments; i++)
                msg.traversal_left += unaligned_read_le32(map + 4 + 4 * (size_t) i);
        if (msg.nesting_limit > CAPNP_MAX_NESTING_LIMIT)
                return -EINVAL;
        r = walk_message(&w, &msg, e->root);
        walker_trim(&w);
        e->n_made = w.n_made;
        walker_done(&w);
        return r;
}

static void *early_thread(void *userdata) {
        Early *e = userdata;
        uint8_t head[8];
        uint32_t n_segments, seg0_words;
        uint64_t table_bytes, seg0_end;
        void *map;

        /* The segment table (spec §4.2): the number of segments minus one, then each one's size in
         * words, padded to a word. Only a tree followed by other segments is worth walking early. */
        if (!early_wait(e, sizeof(head)) || pread(e->archive_fd, head, sizeof(head), 0) != sizeof(head))
                return NULL;
        n_segments = unaligned_read_le32(head) + 1;
        seg0_words = unaligned_read_le32(head + 4);
        if (n_segments < 2 || n_segments > SPK_MAX_SEGMENTS || seg0_words == 0)
                return NULL;
        table_bytes = (4 + 4 * (uint64_t) n_segments + 7) & ~(uint64_t) 7;
        seg0_end = table_bytes + (uint64_t) seg0_words * 8;
        if (seg0_end > e->limits->max_archive_bytes || !early_wait(e, seg0_end))
                return NULL;

        /* Bytes the sink has written stay as they are: it only appends. */
        map = mmap(NULL, seg0_end, PROT_READ, MAP_PRIVATE, e->archive_fd, 0);
        if (map == MAP_FAILED)
                return NULL;
        (void) madvise(map, seg0_end, MADV_RANDOM);
        (void) early_walk(e, map, table_bytes, n_segments);
        (void) munmap(map, seg0_end);
        return NULL;
}

/* Starts EARLY on the archive the sink is about to write to archive_fd. Without a thread, there is
 * simply no EARLY. */
static void early_start(Early *e, int archive_fd) {
        e->archive_fd = archive_fd;
        e->started = pthread_create(&e->thread, NULL, early_thread, e) == 0;
}

/* STREAM is over, failed or not: EARLY stops where it is (WRITE makes the rest), and is joined. */
static void early_stop(Early *e) {
        if (!e || !e->started)
                return;

        pthread_mutex_lock(&e->lock);
        e->stream_over = true;
        atomic_store(&e->cancel, true);
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->lock);
        (void) pthread_join(e->thread, NULL);
        e->started = false;
}

static void early_done(Early *e) {
        early_stop(e);
        pthread_cond_destroy(&e->cond);
        pthread_mutex_destroy(&e->lock);
}

/* ---- STREAM ---- */

typedef struct Sink {
        int r; /* sticky */
        SpkError error;
        uint8_t sig[SPK_MAX_SIGNATURE_BYTES];
        size_t sig_have;
        bool sig_done;
        uint8_t signer[32];
        uint8_t expected_hash[64];
        EVP_MD_CTX *sha512;
        uint64_t archive_bytes;
        uint64_t max_archive_bytes;
        int out_fd;
        Early *early; /* NULL, or told of every write to out_fd */
} Sink;

static int sink_fail(Sink *s, int r, const char *message) {
        s->r = fail(&s->error, r, "%s", message);
        return r;
}

static int sink_archive(Sink *s, const uint8_t *p, size_t n) {
        int r;

        if (n == 0)
                return 0;
        if (n > s->max_archive_bytes - s->archive_bytes)
                return sink_fail(s, -EFBIG, "App too big after decompress.");
        s->archive_bytes += n;
        if (EVP_DigestUpdate(s->sha512, p, n) != 1)
                return sink_fail(s, -EIO, "SHA-512 failed.");
        /* Small writes, because the page cache sizes its folios after them, and a fault on the mapping
         * later maps the whole folio: 1 MiB writes would cost 1 MiB of resident memory per name read. */
        for (size_t done = 0; done < n;) {
                size_t k = MIN(n - done, ARCHIVE_WRITE_CHUNK);

                r = loop_write(s->out_fd, p + done, k);
                if (r < 0) {
                        s->r = fail(&s->error, r, "Failed to write the temporary file: %s", strerror(-r));
                        return r;
                }
                done += k;
        }
        if (s->early)
                early_advance(s->early, s->archive_bytes);
        return 0;
}

static int sink_signature(Sink *s, size_t size) {
        CapnpMessage msg = {};
        CapnpStruct root;
        const uint8_t *pk = NULL, *sm = NULL;
        size_t pk_len = 0, sm_len = 0, used;
        unsigned long long hash_len;
        uint8_t hash[128];
        int r;

        r = capnp_message_parse(&msg, s->sig, size, NULL, &used);
        if (r == 0)
                r = capnp_message_root(&msg, &root);
        if (r == 0)
                r = capnp_struct_get_data(&root, 0, &pk, &pk_len);
        if (r == 0)
                r = capnp_struct_get_data(&root, 1, &sm, &sm_len);
        if (r != 0) {
                capnp_message_done(&msg);
                return sink_fail(s, -EBADMSG, "Package signature is malformed.");
        }
        if (pk_len != 32) {
                capnp_message_done(&msg);
                return sink_fail(s, -EBADMSG, "Invalid public key.");
        }
        if (sm_len != 128) {
                capnp_message_done(&msg);
                return sink_fail(s, -EBADMSG, "Invalid signature format.");
        }
        if (sodium_init() < 0) {
                capnp_message_done(&msg);
                return sink_fail(s, -EIO, "Failed to initialize libsodium.");
        }
        /* The combined form (spec §1.2): the signed message is the SHA-512 the archive must have. */
        if (crypto_sign_open(hash, &hash_len, sm, 128, pk) != 0) {
                capnp_message_done(&msg);
                return sink_fail(s, -EKEYREJECTED, "Invalid signature.");
        }
        if (hash_len != 64) {
                capnp_message_done(&msg);
                return sink_fail(s, -EKEYREJECTED, "Wrong signature size.");
        }
        memcpy(s->signer, pk, 32);
        memcpy(s->expected_hash, hash, 64);
        capnp_message_done(&msg);
        return 0;
}

static int sink_feed(Sink *s, const uint8_t *p, size_t n) {
        int r;

        if (s->r < 0)
                return s->r;

        if (!s->sig_done) {
                size_t k = MIN(n, sizeof(s->sig) - s->sig_have), size = 0;

                memcpy(s->sig + s->sig_have, p, k);
                s->sig_have += k;
                p += k;
                n -= k;

                r = capnp_message_measure(s->sig, s->sig_have, 16, &size);
                if (r < 0 || (r == 0 && size > sizeof(s->sig)) || (r > 0 && s->sig_have == sizeof(s->sig)))
                        return sink_fail(s, -EBADMSG, "Package signature is malformed.");
                if (r > 0 || size > s->sig_have) {
                        assert(n == 0);
                        return 0;
                }

                r = sink_signature(s, size);
                if (r < 0)
                        return r;
                s->sig_done = true;
                r = sink_archive(s, s->sig + size, s->sig_have - size);
                if (r < 0)
                        return r;
        }
        return sink_archive(s, p, n);
}

/* The hand-over between the producer and a helper thread running the sink. */
typedef struct Pipe {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint8_t *bufs[PIPE_SLOTS];
        size_t lens[PIPE_SLOTS];
        unsigned head, count;
        bool eof;
        bool failed;
        Sink *sink;
} Pipe;

static void *pipe_consumer(void *userdata) {
        Pipe *p = userdata;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                unsigned slot;
                int r;

                while (p->count == 0 && !p->eof)
                        pthread_cond_wait(&p->cond, &p->lock);
                if (p->count == 0)
                        break;
                slot = p->head;
                pthread_mutex_unlock(&p->lock);

                r = sink_feed(p->sink, p->bufs[slot], p->lens[slot]);

                pthread_mutex_lock(&p->lock);
                p->head = (p->head + 1) % PIPE_SLOTS;
                p->count--;
                if (r < 0)
                        p->failed = true;
                pthread_cond_broadcast(&p->cond);
                if (r < 0)
                        break;
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

typedef struct Producer {
        Sink *sink;
        Pipe *pipe; /* NULL: the sink runs inline */
        uint8_t *inline_buf;
} Producer;

/* The next buffer to decompress into, or NULL when the sink has failed. */
static uint8_t *producer_get(Producer *pr) {
        Pipe *p = pr->pipe;
        uint8_t *buf;

        if (!p)
                return pr->sink->r < 0 ? NULL : pr->inline_buf;

        pthread_mutex_lock(&p->lock);
        while (p->count == PIPE_SLOTS && !p->failed)
                pthread_cond_wait(&p->cond, &p->lock);
        buf = p->failed ? NULL : p->bufs[(p->head + p->count) % PIPE_SLOTS];
        pthread_mutex_unlock(&p->lock);
        return buf;
}

static bool producer_put(Producer *pr, size_t len) {
        Pipe *p = pr->pipe;
        bool ok;

        if (!p)
                return sink_feed(pr->sink, pr->inline_buf, len) >= 0;

        pthread_mutex_lock(&p->lock);
        /* The consumer moves head and count together, so the slot being filled stays head + count. */
        p->lens[(p->head + p->count) % PIPE_SLOTS] = len;
        p->count++;
        ok = !p->failed;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return ok;
}

static int lzma_fail(SpkError *error, lzma_ret ret) {
        switch (ret) {
        case LZMA_MEM_ERROR:
                return fail(error, -ENOMEM, "Out of memory.");
        case LZMA_MEMLIMIT_ERROR:
                return fail(error, -EFBIG,
                        "Package needs too much memory to decompress (limit %" PRIu64 " MiB).",
                        SPK_XZ_MEMLIMIT >> 20);
        case LZMA_FORMAT_ERROR:
                return fail(error, -EBADMSG, "Package is corrupt: not an xz stream.");
        case LZMA_OPTIONS_ERROR:
                return fail(error, -EBADMSG, "Package is corrupt: unsupported xz options.");
        case LZMA_BUF_ERROR:
                return fail(error, -EBADMSG, "Package is truncated.");
        case LZMA_DATA_ERROR:
        default:
                return fail(error, -EBADMSG, "Package is corrupt: xz data error.");
        }
}

static void report_progress(const SpkVerifyOptions *opts, uint64_t done, uint64_t total) {
        if (opts && opts->progress)
                opts->progress(opts->userdata, done, total);
}

static int stream_package(int fd, const SpkVerifyOptions *opts, Sink *sink, uint8_t ret_package_id[16],
                          SpkError *error) {
        _cleanup_free_ uint8_t *inbuf = NULL, *inline_buf = NULL;
        _cleanup_free_ uint8_t *slots = NULL;
        EVP_MD_CTX *sha256 = NULL;
        lzma_stream strm = LZMA_STREAM_INIT;
        bool lzma_started = false, eof = false, stream_end = false, thread_started = false;
        uint8_t magic[SPK_MAGIC_SIZE];
        size_t magic_have = 0;
        uint64_t done = 0, last_report = 0, total = 0;
        Pipe pipe = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .sink = sink };
        Producer pr = { .sink = sink };
        pthread_t thread;
        SpkError perr = {};
        uint8_t *out;
        struct stat st;
        int r = 0;

        if (fstat(fd, &st) >= 0 && S_ISREG(st.st_mode)) {
                off_t pos = lseek(fd, 0, SEEK_CUR);
                total = (uint64_t) st.st_size - (pos > 0 && pos <= st.st_size ? (uint64_t) pos : 0);
        }

        inbuf = malloc(IO_BUFFER_SIZE);
        sha256 = EVP_MD_CTX_new();
        if (!inbuf || !sha256) {
                EVP_MD_CTX_free(sha256);
                return fail(error, -ENOMEM, "Out of memory.");
        }
        if (EVP_DigestInit_ex(sha256, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(sha256);
                return fail(error, -EIO, "SHA-256 failed.");
        }

        if (!opts || opts->threads != 1) {
                slots = malloc((size_t) IO_BUFFER_SIZE * PIPE_SLOTS);
                if (!slots) {
                        EVP_MD_CTX_free(sha256);
                        return fail(error, -ENOMEM, "Out of memory.");
                }
                for (unsigned i = 0; i < PIPE_SLOTS; i++)
                        pipe.bufs[i] = slots + (size_t) i * IO_BUFFER_SIZE;
                pr.pipe = &pipe;
                r = -pthread_create(&thread, NULL, pipe_consumer, &pipe);
                if (r < 0)
                        pr.pipe = NULL; /* no thread to be had: do it all here */
                else
                        thread_started = true;
                r = 0;
        }
        if (!pr.pipe) {
                inline_buf = pr.inline_buf = malloc(IO_BUFFER_SIZE);
                if (!inline_buf) {
                        EVP_MD_CTX_free(sha256);
                        return fail(error, -ENOMEM, "Out of memory.");
                }
        }

        out = producer_get(&pr);
        strm.next_out = out;
        strm.avail_out = IO_BUFFER_SIZE;

        while (out && !stream_end) {
                const uint8_t *p = inbuf;
                ssize_t n;
                size_t len;

                n = read(fd, inbuf, IO_BUFFER_SIZE);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                /* A non-blocking pipe handed over by a parent: wait for it. */
                                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                                if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
                                        continue;
                        }
                        r = fail(&perr, negative_errno(), "Failed to read the package: %s", strerror(errno));
                        break;
                }
                if (n == 0)
                        eof = true;
                len = (size_t) n;
                done += len;
                if (EVP_DigestUpdate(sha256, inbuf, len) != 1) {
                        r = fail(&perr, -EIO, "SHA-256 failed.");
                        break;
                }
                if (done - last_report >= IO_BUFFER_SIZE) {
                        report_progress(opts, done, total);
                        last_report = done;
                }

                if (magic_have < SPK_MAGIC_SIZE) {
                        size_t k = MIN(len, SPK_MAGIC_SIZE - magic_have);

                        memcpy(magic + magic_have, p, k);
                        magic_have += k;
                        p += k;
                        len -= k;
                        if ((magic_have == SPK_MAGIC_SIZE &&
                                    memcmp(magic, spk_magic, SPK_MAGIC_SIZE) != 0) ||
                                (eof && magic_have < SPK_MAGIC_SIZE)) {
                                r = fail(&perr, -EBADMSG, "Not a Sandstorm package (bad magic number).");
                                break;
                        }
                        if (magic_have < SPK_MAGIC_SIZE)
                                continue;
                }
                if (!lzma_started) {
                        /* The auto decoder also takes legacy .lzma, as `xz -dc` does (spec §1.1). */
                        lzma_ret ret = lzma_auto_decoder(&strm, SPK_XZ_MEMLIMIT, LZMA_CONCATENATED);
                        if (ret != LZMA_OK) {
                                r = lzma_fail(&perr, ret);
                                break;
                        }
                        lzma_started = true;
                }

                strm.next_in = p;
                strm.avail_in = len;
                while (strm.avail_in > 0 || eof) {
                        lzma_ret ret = lzma_code(&strm, eof ? LZMA_FINISH : LZMA_RUN);

                        if (strm.avail_out == 0 || ret == LZMA_STREAM_END) {
                                out = producer_put(&pr, IO_BUFFER_SIZE - strm.avail_out) ? producer_get(&pr)
                                                                                         : NULL;
                                if (!out)
                                        break;
                                strm.next_out = out;
                                strm.avail_out = IO_BUFFER_SIZE;
                        }
                        if (ret == LZMA_STREAM_END) {
                                stream_end = true;
                                break;
                        }
                        if (ret != LZMA_OK) {
                                r = lzma_fail(&perr, ret);
                                break;
                        }
                }
                if (r < 0 || !out)
                        break;
        }
        lzma_end(&strm);

        if (thread_started) {
                pthread_mutex_lock(&pipe.lock);
                pipe.eof = true;
                pthread_cond_broadcast(&pipe.cond);
                pthread_mutex_unlock(&pipe.lock);
                (void) pthread_join(thread, NULL);
        }

        /* The sink works on earlier bytes than the producer, so its failure is the first one. */
        if (sink->r < 0) {
                EVP_MD_CTX_free(sha256);
                if (error)
                        *error = sink->error;
                return sink->r;
        }
        if (r < 0) {
                EVP_MD_CTX_free(sha256);
                if (error)
                        *error = perr;
                return r;
        }
        assert(stream_end);

        if (!sink->sig_done) {
                EVP_MD_CTX_free(sha256);
                return fail(error, -EBADMSG, "Package is truncated: its signature is incomplete.");
        }

        {
                uint8_t sha512[64], sha256_out[32];
                unsigned len = 0;

                if (EVP_DigestFinal_ex(sink->sha512, sha512, &len) != 1 || len != 64 ||
                    EVP_DigestFinal_ex(sha256, sha256_out, &len) != 1 || len != 32) {
                        EVP_MD_CTX_free(sha256);
                        return fail(error, -EIO, "Hashing failed.");
                }
                EVP_MD_CTX_free(sha256);
                if (sodium_memcmp(sha512, sink->expected_hash, 64) != 0)
                        return fail(error, -EKEYREJECTED, "Signature didn't match package contents.");
                memcpy(ret_package_id, sha256_out, 16);
        }

        report_progress(opts, done, total ?: done);
        return 0;
}

/* An unnamed file in dfd; a hidden, immediately unlinked one where O_TMPFILE is not supported. */
static int open_tmpfile(int dfd) {
        char name[32] = ".spk-tmp-";
        uint8_t rnd[8];
        int fd;

        fd = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0)
                return fd;
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                return negative_errno();

        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                return -EIO;
        hex_encode(rnd, sizeof(rnd), name + strlen(name));
        fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        (void) unlinkat(dfd, name, 0);
        return fd;
}

static const char *default_tmp_dir(const SpkVerifyOptions *opts) {
        const char *t;

        if (opts && opts->tmp_dir)
                return opts->tmp_dir;
        t = secure_getenv("TMPDIR");
        return isempty(t) ? "/var/tmp" : t;
}

typedef struct Verified {
        int archive_fd;
        uint8_t *map;
        size_t map_size;
} Verified;

static void verified_done(Verified *v) {
        if (v->map && v->map_size > 0)
                (void) munmap(v->map, v->map_size);
        v->map = NULL;
        v->archive_fd = safe_close(v->archive_fd);
}

/* STREAM and CHECK: everything short of writing the tree. The decompressed archive goes to an unnamed
 * file in tmp_dfd. With early, EARLY runs beside STREAM and is joined before CHECK. */
static int verify_common(int fd, const SpkVerifyOptions *opts, int tmp_dfd, Early *early,
                         SpkPackageInfo *info, Verified *v, SpkError *error) {
        static const uint8_t empty[8];
        SpkLimits lbuf;
        const SpkLimits *limits = limits_or_default(opts ? opts->limits : NULL, &lbuf);
        Sink *sink;
        int r;

        v->archive_fd = open_tmpfile(tmp_dfd);
        if (v->archive_fd < 0)
                return fail(error, v->archive_fd, "Failed to create a temporary file: %s",
                            strerror(-v->archive_fd));

        sink = calloc(1, sizeof(Sink));
        if (!sink)
                return fail(error, -ENOMEM, "Out of memory.");
        sink->out_fd = v->archive_fd;
        sink->max_archive_bytes = limits->max_archive_bytes;
        sink->sha512 = EVP_MD_CTX_new();
        if (!sink->sha512 || EVP_DigestInit_ex(sink->sha512, EVP_sha512(), NULL) != 1) {
                EVP_MD_CTX_free(sink->sha512);
                free(sink);
                return fail(error, -ENOMEM, "Out of memory.");
        }
        sink->early = early;
        if (early)
                early_start(early, v->archive_fd);
        r = stream_package(fd, opts, sink, info->package_id, error);
        early_stop(early);
        memcpy(info->signer, sink->signer, 32);
        info->archive_bytes = sink->archive_bytes;
        EVP_MD_CTX_free(sink->sha512);
        free(sink);
        if (r < 0)
                return r;

        hex_encode(info->package_id, 16, info->package_id_text);
        r = spk_appid_canonicalize(info->signer, info->package_id_text, info->app_id);
        if (r == -EKEYREVOKED)
                return fail(error, r, "Package is signed with an app key that has been revoked.");
        if (r < 0)
                return fail(error, r, "Failed to look up the app id: %s", strerror(-r));
        app_id_to_string(info->app_id, info->app_id_text);

        v->map_size = info->archive_bytes;
        if (v->map_size > 0) {
                void *m = mmap(NULL, v->map_size, PROT_READ, MAP_PRIVATE, v->archive_fd, 0);
                if (m == MAP_FAILED) {
                        v->map_size = 0;
                        return fail(
                                error, negative_errno(), "Failed to map the archive: %s", strerror(errno));
                }
                v->map = m;
                (void) madvise(m, v->map_size, MADV_RANDOM);
        }

        {
                Walker w = {
                        .limits = limits,
                        .error = error,
                        .archive_fd = v->archive_fd,
                        .map = v->map,
                        .map_size = v->map_size,
                };
                const uint8_t *buf = v->map ?: empty;

                r = walk_archive(&w, buf, v->map_size, -EBADF);
                if (r >= 0 && !w.has_manifest)
                        r = check_manifest_kind(buf, v->map_size, error);
                if (r >= 0)
                        r = walker_result(&w, info);
                walker_trim(&w);
                walker_done(&w);
                if (r < 0)
                        return r;
        }

        r = spk_manifest_check(info->manifest, info->manifest_size, error);
        if (r < 0)
                return r;

        if (opts && opts->check_pgp) {
                r = check_pgp(info, default_tmp_dir(opts), &info->author_pgp_key_fingerprint, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int spk_package_verify_fd(int fd, const SpkVerifyOptions *opts, SpkPackageInfo *ret, SpkError *error) {
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        _cleanup_close_ int tmp_dfd = -EBADF;
        Verified v = { .archive_fd = -EBADF };
        const char *tmp_dir;
        int r;

        assert(fd >= 0);
        assert(ret);

        if (error)
                error->message[0] = 0;

        tmp_dir = default_tmp_dir(opts);
        tmp_dfd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tmp_dfd < 0)
                return fail(error, negative_errno(), "Failed to open temporary directory '%s': %s", tmp_dir,
                            strerror(errno));

        r = verify_common(fd, opts, tmp_dfd, NULL, &info, &v, error);
        verified_done(&v);
        if (r < 0)
                return r;

        *ret = info;
        info = (SpkPackageInfo) {};
        return 0;
}

int spk_package_unpack_fd(int fd, int dir_fd, const char *name, const SpkVerifyOptions *opts,
                          SpkPackageInfo *ret, SpkError *error) {
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        _cleanup_close_ int root = -EBADF;
        Verified v = { .archive_fd = -EBADF };
        SpkLimits lbuf;
        const SpkLimits *limits = limits_or_default(opts ? opts->limits : NULL, &lbuf);
        Early early, *e = NULL;
        char tmp_name[32] = ".spk-unpack-", nbuf[256];
        uint8_t rnd[8];
        struct stat st;
        bool created = false;
        int r;

        assert(fd >= 0);
        assert(dir_fd >= 0 || dir_fd == AT_FDCWD);
        assert(name);

        if (error)
                error->message[0] = 0;

        if (!name_is_valid(name, strlen(name)))
                return fail(error, -EINVAL, "Invalid output directory name '%s'.",
                            escape_name(name, strlen(name), nbuf, sizeof(nbuf)));
        if (faccessat(dir_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) >= 0)
                return fail(error, -EEXIST, "Output directory already exists: '%s'.",
                            escape_name(name, strlen(name), nbuf, sizeof(nbuf)));

        /* The directory the tree is built in, made before STREAM for EARLY's sake. */
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                return fail(error, -EIO, "getrandom() failed.");
        hex_encode(rnd, sizeof(rnd), tmp_name + strlen(tmp_name));
        if (mkdirat(dir_fd, tmp_name, 0777) < 0)
                return fail(error, negative_errno(), "Failed to create a directory: %s", strerror(errno));
        created = true;
        root = openat(dir_fd, tmp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (root < 0 || fstat(root, &st) < 0) {
                r = fail(error, negative_errno(), "Failed to open a directory: %s", strerror(errno));
                goto finish;
        }
        /* Private while it fills; the mode mkdirat() gave it (0777 minus the umask) comes back at the end.
         */
        if (fchmod(root, 0700) < 0) {
                r = fail(error, negative_errno(), "Failed to change mode: %s", strerror(errno));
                goto finish;
        }

        if (early_enabled(opts)) {
                early_init(&early, root, limits);
                e = &early;
        }
        r = verify_common(fd, opts, dir_fd, e, &info, &v, error);
        if (r < 0)
                goto finish;

        {
                Walker w = {
                        .limits = limits,
                        .error = error,
                        .unpack = true,
                        /* EARLY has been joined: WRITE takes over what it made and makes the rest. */
                        .adopt = e && e->n_made > 0,
                        .archive_fd = v.archive_fd,
                        .map = v.map,
                        .map_size = v.map_size,
                };
                static const uint8_t empty[8];
                ContentSource src = { .archive_fd = v.archive_fd, .map = v.map, .map_size = v.map_size };

                r = file_pool_new(opts, &src, w.adopt, &w.pool, error);
                if (r >= 0)
                        r = walk_archive(&w, v.map ?: empty, v.map_size, root);
                r = file_pool_finish(w.pool, r, w.pool_failed, &w.n_adopted, error);
                w.pool = NULL;
                if (r >= 0)
                        r = walker_apply_dir_times(&w, root);
                /* Whatever WRITE took over is in the verified tree; if that is all EARLY made, EARLY
                 * made nothing else. Both walks read the same bytes, so this fails only if this code is
                 * wrong. */
                if (r >= 0 && w.adopt && w.n_adopted != e->n_made)
                        r = fail(error, -EIO, "Unpacking went wrong: %" PRIu64 " entries made early, %"
                                 PRIu64 " taken over.", e->n_made, w.n_adopted);
                walker_trim(&w);
                walker_done(&w);
                if (r < 0)
                        goto finish;
        }

        if (fchmod(root, st.st_mode & 07777) < 0) {
                r = fail(error, negative_errno(), "Failed to change mode: %s", strerror(errno));
                goto finish;
        }
        if (renameat2(dir_fd, tmp_name, dir_fd, name, RENAME_NOREPLACE) < 0) {
                r = negative_errno();
                if (r == -EEXIST)
                        r = fail(error, r, "Output directory already exists: '%s'.",
                                 escape_name(name, strlen(name), nbuf, sizeof(nbuf)));
                else
                        r = fail(error, r, "Failed to move the unpacked package into place: %s",
                                strerror(-r));
                goto finish;
        }
        created = false;
        r = 0;

finish:
        /* EARLY is stopped and joined before its directory goes. */
        if (e)
                early_done(e);
        verified_done(&v);
        if (created) {
                root = safe_close(root);
                (void) rm_rf_at(dir_fd, tmp_name);
        }
        if (r < 0)
                return r;
        if (ret) {
                *ret = info;
                info = (SpkPackageInfo) {};
        }
        return 0;
}

/* ---- VerifiedInfo (1 word, 6 ptrs, spec §1.8) ---- */

int spk_verified_info_build(const SpkPackageInfo *info, uint8_t **ret, size_t *ret_size) {
        CapnpMessage msg = {};
        CapnpBuilder b;
        CapnpBuilderStruct root, id;
        CapnpStruct manifest;
        int r;

        assert(info);
        assert(ret);
        assert(ret_size);

        r = manifest_open(&msg, info->manifest, info->manifest_size, &manifest);
        if (r < 0) {
                capnp_message_done(&msg);
                return r;
        }

        capnp_builder_init(&b, 4 * SPK_MAX_MANIFEST_WORDS);
        r = capnp_builder_init_root(&b, 1, 6, &root);
        if (r >= 0)
                r = capnp_build_init_struct(&root, 0, 4, 0, &id);
        if (r >= 0)
                for (unsigned i = 0; i < 4; i++)
                        capnp_build_set_u64(&id, 8 * i, unaligned_read_le64(info->app_id + 8 * i));
        if (r >= 0)
                r = capnp_build_init_struct(&root, 1, 2, 0, &id);
        if (r >= 0)
                for (unsigned i = 0; i < 2; i++)
                        capnp_build_set_u64(&id, 8 * i, unaligned_read_le64(info->package_id + 8 * i));
        if (r >= 0 && capnp_struct_has(&manifest, MANIFEST_APP_TITLE_PTR))
                r = capnp_build_copy_pointer(&root, 2, &manifest, MANIFEST_APP_TITLE_PTR);
        if (r >= 0)
                capnp_build_set_u32(&root, 0, capnp_struct_get_u32(&manifest, MANIFEST_APP_VERSION_OFFSET));
        if (r >= 0 && capnp_struct_has(&manifest, MANIFEST_MARKETING_VERSION_PTR))
                r = capnp_build_copy_pointer(&root, 3, &manifest, MANIFEST_MARKETING_VERSION_PTR);
        if (r >= 0 && info->author_pgp_key_fingerprint)
                r = capnp_build_set_text(&root, 4, info->author_pgp_key_fingerprint,
                                         strlen(info->author_pgp_key_fingerprint));
        if (r >= 0 && capnp_struct_has(&manifest, MANIFEST_METADATA_PTR))
                r = capnp_build_copy_pointer(&root, 5, &manifest, MANIFEST_METADATA_PTR);
        if (r >= 0)
                r = capnp_builder_finish(&b, ret, ret_size);
        capnp_builder_done(&b);
        capnp_message_done(&msg);
        return r < 0 ? r : 0;
}
