/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * One install, and where its tree is at each step (P: packages directory):
 *
 *   apps_job_init() --name picked--> apps_job_run(), in a child:
 *        P/.install-X/ made --spk_package_unpack_fd()--> P/.install-X/tree (whole, or nothing)
 *        --manifest readable, syncfs--> renameat2(NOREPLACE) --> P/<package-id>/
 *             (EEXIST: the tree there is kept, the new one dropped)
 *        --> P/.install-X/ removed --> result
 *   apps_job_finish(), in the parent: result and manifest read, rows written (one transaction) --> recorded
 *   the child killed at any point: apps_job_abandon() renames P/.install-X to P/.removed-Y; apps_purge()
 *   deletes it
 *
 * One removal: rows deleted (one transaction) --> each P/<package-id> renamed to P/.removed-Y --> deleted
 * now, or by apps_purge() (APPS_REMOVE_DEFER).
 *
 * (1) P/<package-id> appears only by a rename of a complete, synced tree, and goes only by a rename: it is
 *     never partial, so a tree found there can be reused once the package is verified again
 * (2) the store never records a package whose tree was not in place when it was recorded
 * (3) rows go before trees: a crash in between leaves a tree without rows (reused by the next install of
 *     that package), never rows without a tree that grains could be started from
 * (4) nothing under P starting with '.' is a package: package ids are hex
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "front/apps.h"
#include "front/worker.h"
#include "spk/package.h"

/* Manifest (2 words, 5 ptrs), spec §3.3. */
#define MANIFEST_ACTIONS 0
#define MANIFEST_APP_VERSION_BYTE 8
#define MANIFEST_MARKETING_VERSION 2
#define MANIFEST_APP_TITLE 3
#define LOCALIZED_TEXT_DEFAULT 0

#define MANIFEST_FILE "sandstorm-manifest"
#define BRIDGE_CONFIG_FILE "sandstorm-http-bridge-config"
/* The name the child unpacks to inside its staging directory. */
#define STAGING_TREE "tree"

bool apps_error_is_package(int error) {
        switch (error) {
        case -EBADMSG:
        case -EKEYREJECTED:
        case -EKEYREVOKED:
        case -EFBIG:
        case -E2BIG:
        case -ELOOP:
                return true;
        default:
                return false;
        }
}

/* ---- text ---- */

/* A copy of s fit to show anywhere (JSON, a terminal, a log): control characters, and every non-ASCII byte
 * when s is not valid UTF-8, become "\xNN". */
static char *text_sanitize(const char *s) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        size_t n = strlen(s);
        bool utf8 = utf8_is_valid(s, n);

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                bool c1 = utf8 && c == 0xc2 && i + 1 < n && (unsigned char) s[i + 1] <= 0x9f;
                int r;

                if (c1) {
                        /* U+0080..U+009F: C1 controls, CSI among them */
                        r = strbuf_printf(&b, "\\xc2\\x%02x", (unsigned char) s[i + 1]);
                        i++;
                } else if (c < 0x20 || c == 0x7f || (!utf8 && c >= 0x80))
                        r = strbuf_printf(&b, "\\x%02x", c);
                else
                        r = strbuf_append_char(&b, (char) c);
                if (r < 0)
                        return NULL;
        }
        return strbuf_steal(&b, NULL);
}

/* error_set() with a message that may quote the package: sanitized. */
static int fail_text(char **ret_error, int r, const char *message) {
        _cleanup_free_ char *clean = NULL;

        if (!ret_error)
                return r;
        clean = text_sanitize(message);
        return error_set(ret_error, r, "%s", clean ?: "The package was refused.");
}

/* ---- manifests ---- */

void apps_manifest_done(AppsManifest *m) {
        if (!m)
                return;
        free(m->title);
        free(m->marketing_version);
        *m = (AppsManifest) {};
}

/* LocalizedText.defaultText of the struct in slot; NULL when the field or its text is absent. */
static int localized_default(const CapnpStruct *s, uint16_t slot, const char *what, char **ret,
                             char **ret_error) {
        CapnpStruct lt;
        const char *t;
        size_t n;

        if (!capnp_struct_has(s, slot)) {
                *ret = NULL;
                return 0;
        }
        if (capnp_struct_get_struct(s, slot, &lt) < 0 ||
            capnp_struct_get_text(&lt, LOCALIZED_TEXT_DEFAULT, &t, &n) < 0)
                return error_set(ret_error, -EBADMSG, "The manifest's %s cannot be read.", what);
        if (!t) {
                *ret = NULL;
                return 0;
        }
        if (n > STORE_TEXT_MAX)
                return error_set(ret_error, -EBADMSG, "The manifest's %s is longer than %u bytes.", what,
                                 STORE_TEXT_MAX);
        if (strlen(t) != n || !utf8_is_valid(t, n))
                return error_set(ret_error, -EBADMSG, "The manifest's %s is not valid UTF-8 text.", what);
        *ret = strndup(t, n);
        return *ret ? 0 : -ENOMEM;
}

int apps_manifest_parse(const void *buf, size_t size, AppsManifest *ret, char **ret_error) {
        _cleanup_(apps_manifest_done) AppsManifest m = {};
        CapnpReadOptions opts = { .traversal_limit_words = SPK_MAX_MANIFEST_WORDS };
        CapnpMessage msg;
        CapnpStruct root;
        CapnpList actions;
        size_t used;
        int r;

        assert(buf || size == 0);
        assert(ret);

        r = capnp_message_parse(&msg, buf ?: "", size, &opts, &used);
        if (r != 0)
                return error_set(ret_error, -EBADMSG,
                                 "The package's manifest is not a Cap'n Proto message.");
        r = capnp_message_root(&msg, &root);
        if (r < 0)
                r = error_set(ret_error, -EBADMSG, "The package's manifest has no root.");
        if (r >= 0)
                r = localized_default(&root, MANIFEST_APP_TITLE, "appTitle", &m.title, ret_error);
        if (r >= 0)
                r = localized_default(&root, MANIFEST_MARKETING_VERSION, "appMarketingVersion",
                                      &m.marketing_version, ret_error);
        if (r >= 0) {
                m.app_version = capnp_struct_get_u32(&root, MANIFEST_APP_VERSION_BYTE);
                if (capnp_struct_get_list(&root, MANIFEST_ACTIONS, &actions) >= 0)
                        m.n_actions = actions.count;
        }
        if (r >= 0 && capnp_message_error(&msg) < 0)
                r = error_set(ret_error, -EBADMSG, "The package's manifest cannot be read.");
        capnp_message_done(&msg);
        if (r < 0)
                return r == -EBADMSG || r == -ENOMEM ? r : -EBADMSG;
        if (!m.marketing_version) {
                m.marketing_version = strdup("");
                if (!m.marketing_version)
                        return -ENOMEM;
        }

        *ret = m;
        m = (AppsManifest) {};
        return 0;
}

/* ---- describing apps ---- */

AppsApp *apps_app_free(AppsApp *a) {
        if (!a)
                return NULL;
        free(a->id);
        free(a->title);
        free(a->package_id);
        free(a->marketing_version);
        free(a);
        return NULL;
}

AppsApp **apps_app_list_free(AppsApp **l) {
        if (!l)
                return NULL;
        for (AppsApp **i = l; *i; i++)
                apps_app_free(*i);
        free(l);
        return NULL;
}

static int app_describe(Store *s, const StoreApp *a, AppsApp **ret) {
        _cleanup_(store_package_freep) StorePackage *p = NULL;
        _cleanup_(apps_app_freep) AppsApp *app = NULL;
        _cleanup_(apps_manifest_done) AppsManifest m = {};
        int r;

        app = calloc(1, sizeof(AppsApp));
        if (!app)
                return -ENOMEM;
        app->id = strdup(a->id);
        if (!app->id)
                return -ENOMEM;
        app->created = a->created;

        if (a->latest_package_id) {
                r = store_package_get(s, a->latest_package_id, &p);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        if (p) {
                app->package_id = strdup(p->id);
                app->marketing_version = strdup(p->marketing_version);
                if (!app->package_id || !app->marketing_version)
                        return -ENOMEM;
                app->version = p->app_version;
                app->installed = p->installed;
                /* A manifest was checked when it was recorded; one that does not read now keeps the old
                 * title. */
                r = apps_manifest_parse(p->manifest, p->manifest_size, &m, NULL);
                if (r == -ENOMEM)
                        return r;
        }
        app->title = strdup(!isempty(m.title) ? m.title : a->title);
        if (!app->title)
                return -ENOMEM;

        *ret = TAKE_PTR(app);
        return 0;
}

int apps_get(Store *s, const char *app_id, AppsApp **ret) {
        _cleanup_(store_app_freep) StoreApp *a = NULL;
        int r;

        assert(s);
        assert(app_id);
        assert(ret);

        r = store_app_get(s, app_id, &a);
        if (r < 0)
                return r;
        return app_describe(s, a, ret);
}

/* 1 when every package of the app is a development one (and it has one): an app recorded only for spk dev,
 * which is not installed. */
static int app_is_dev_only(Store *s, const char *app_id) {
        _cleanup_(store_package_list_freep) StorePackage **l = NULL;
        size_t n = 0;
        int r;

        r = store_package_list_by_app(s, app_id, &l, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (!store_package_id_is_dev(l[i]->id))
                        return 0;
        return n > 0;
}

int apps_list(Store *s, AppsApp ***ret, size_t *ret_n) {
        _cleanup_(store_app_list_freep) StoreApp **l = NULL;
        _cleanup_(apps_app_list_freep) AppsApp **out = NULL;
        size_t n = 0, k = 0;
        int r;

        assert(s);
        assert(ret);

        r = store_app_list(s, &l, &n);
        if (r < 0)
                return r;
        out = calloc(n + 1, sizeof(AppsApp *));
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (!l[i]->latest_package_id) {
                        r = app_is_dev_only(s, l[i]->id);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                continue;
                }
                r = app_describe(s, l[i], &out[k]);
                if (r < 0)
                        return r;
                k++;
        }

        *ret = TAKE_PTR(out);
        if (ret_n)
                *ret_n = k;
        return 0;
}

/* ---- outcomes ---- */

static const char *const outcome_table[_APPS_INSTALL_OUTCOME_MAX] = {
        [APPS_INSTALL_NEW] = "new",
        [APPS_INSTALL_UPGRADE] = "upgrade",
        [APPS_INSTALL_OLDER] = "older",
        [APPS_INSTALL_RESTORED] = "restored",
};

const char *apps_install_outcome_to_string(AppsInstallOutcome o) {
        if (o < 0 || o >= _APPS_INSTALL_OUTCOME_MAX)
                return NULL;
        return outcome_table[o];
}

AppsInstallOutcome apps_install_outcome_from_string(const char *s) {
        if (!s)
                return _APPS_INSTALL_OUTCOME_INVALID;
        for (int i = 0; i < _APPS_INSTALL_OUTCOME_MAX; i++)
                if (streq(outcome_table[i], s))
                        return (AppsInstallOutcome) i;
        return _APPS_INSTALL_OUTCOME_INVALID;
}

void apps_install_result_done(AppsInstallResult *r) {
        if (!r)
                return;
        free(r->marketing_version);
        apps_app_free(r->app);
        *r = (AppsInstallResult) {};
}

/* ---- the child's half ---- */

/*
 * The result the child hands back: this header, then message_size bytes of message (the failure's, when
 * error < 0), then the manifest and the bridge config (unless RESULT_IN_TREE: too big for a worker's result,
 * to be read from the tree).
 */
typedef enum ResultFlags {
        RESULT_EXISTED = 1 << 0,           /* the tree was there already and is reused */
        RESULT_IN_TREE = 1 << 1,           /* the manifest and bridge config are not in the result */
        RESULT_HAS_BRIDGE_CONFIG = 1 << 2, /* the package has a sandstorm-http-bridge-config */
} ResultFlags;

typedef struct ResultHeader {
        int32_t error;
        uint32_t flags;
        uint32_t message_size;
        uint32_t manifest_size;
        uint32_t bridge_config_size;
        char app_id[APP_ID_TEXT_SIZE + 1];
        char package_id[PACKAGE_ID_TEXT_SIZE + 1];
} ResultHeader;

static int spk_fail(SpkError *error, int r, const char *fmt, ...) _printf_(3, 4);
static int spk_fail(SpkError *error, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(error->message, sizeof(error->message), fmt, ap);
        va_end(ap);
        return r;
}

/* The staging directory's work: see the diagram above. */
static int job_unpack(const AppsJob *job, SpkPackageInfo *info, uint32_t *flags, SpkError *error) {
        _cleanup_close_ int staging = -EBADF;
        _cleanup_(apps_manifest_done) AppsManifest m = {};
        _cleanup_free_ char *manifest_error = NULL;
        struct stat st;
        int r;

        if (mkdirat(job->packages_dir_fd, job->staging, 0700) < 0)
                return spk_fail(error, negative_errno(), "Failed to create a directory for the package: %m");
        staging = openat(job->packages_dir_fd, job->staging,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (staging < 0) {
                r = spk_fail(error, negative_errno(), "Failed to open the directory for the package: %m");
                goto finish;
        }

        /* The tree is read by grains running as users of their own (the systemd backend's dynamic users):
         * its modes are 0755 and 0644 whatever granaryd's umask (unpacking gives 0777/0666 minus it). */
        mode_t mask = umask(0022);
        r = spk_package_unpack_fd(job->spk_fd, staging, STAGING_TREE, NULL, info, error);
        (void) umask(mask);
        if (r < 0)
                goto finish;

        /* What the parent will record must be readable before the tree goes into place (2). */
        r = apps_manifest_parse(info->manifest, info->manifest_size, &m, &manifest_error);
        if (r < 0) {
                (void) spk_fail(error, r, "%s", manifest_error ?: "The package's manifest cannot be read.");
                goto finish;
        }

        /* A tree that a power cut could leave half-written must not get the name that says it is
         * whole (1). */
        if (syncfs(staging) < 0) {
                r = spk_fail(error, negative_errno(), "Failed to write the package to disk: %m");
                goto finish;
        }
        if (renameat2(staging, STAGING_TREE, job->packages_dir_fd, info->package_id_text,
                      RENAME_NOREPLACE) < 0) {
                r = negative_errno();
                if (r != -EEXIST) {
                        (void) spk_fail(error, r, "Failed to move the package into place: %m");
                        goto finish;
                }
                if (fstatat(job->packages_dir_fd, info->package_id_text, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode)) {
                        r = spk_fail(error, -ENOTDIR, "'%s' in the packages directory is not a package.",
                                     info->package_id_text);
                        goto finish;
                }
                /* Made by an earlier install of the very same bytes, and whole (1). */
                *flags |= RESULT_EXISTED;
                (void) rm_rf_at(staging, STAGING_TREE);
        } else
                (void) fsync(job->packages_dir_fd);
        r = 0;

finish:
        staging = safe_close(staging);
        (void) rm_rf_at(job->packages_dir_fd, job->staging);
        return r;
}

static int job_result(int error, const char *message, const SpkPackageInfo *info, uint32_t flags, void **ret,
                      size_t *ret_size) {
        ResultHeader h = {
                .error = error < 0 ? error : 0,
                .flags = flags,
                .message_size = error < 0 ? (uint32_t) strlen(message) : 0,
        };
        size_t size;
        uint8_t *buf, *p;

        if (error >= 0) {
                if (info->manifest_size > UINT32_MAX || info->bridge_config_size > UINT32_MAX)
                        return -EINVAL;
                memcpy(h.app_id, info->app_id_text, sizeof(h.app_id));
                memcpy(h.package_id, info->package_id_text, sizeof(h.package_id));
                if (info->bridge_config)
                        h.flags |= RESULT_HAS_BRIDGE_CONFIG;
                if (sizeof(h) + info->manifest_size + info->bridge_config_size > WORKER_RESULT_MAX)
                        h.flags |= RESULT_IN_TREE;
                else {
                        h.manifest_size = (uint32_t) info->manifest_size;
                        h.bridge_config_size = (uint32_t) info->bridge_config_size;
                }
        }

        size = sizeof(h) + h.message_size + h.manifest_size + h.bridge_config_size;
        buf = p = malloc(size);
        if (!buf)
                return -ENOMEM;
        memcpy(p, &h, sizeof(h));
        p += sizeof(h);
        if (h.message_size > 0)
                memcpy(p, message, h.message_size);
        p += h.message_size;
        if (h.manifest_size > 0)
                memcpy(p, info->manifest, h.manifest_size);
        p += h.manifest_size;
        if (h.bridge_config_size > 0)
                memcpy(p, info->bridge_config, h.bridge_config_size);

        *ret = buf;
        *ret_size = size;
        return 0;
}

int apps_job_init(AppsJob *job, int packages_dir_fd, int spk_fd) {
        uint8_t rnd[8];

        assert(job);
        assert(packages_dir_fd >= 0);
        assert(spk_fd >= 0);

        if (random_init() < 0)
                return -EIO;
        random_bytes(rnd, sizeof(rnd));
        *job = (AppsJob) { .packages_dir_fd = packages_dir_fd, .spk_fd = spk_fd };
        memcpy(job->staging, APPS_INSTALL_PREFIX, STRLEN(APPS_INSTALL_PREFIX));
        hex_encode(rnd, sizeof(rnd), job->staging + STRLEN(APPS_INSTALL_PREFIX));
        return 0;
}

int apps_job_run(const void *in, size_t in_size, void **ret, size_t *ret_size) {
        _cleanup_spk_package_info_ SpkPackageInfo info = {};
        SpkError error = {};
        uint32_t flags = 0;
        AppsJob job;
        int r;

        assert(ret);
        assert(ret_size);

        if (!in || in_size != sizeof(job))
                return -EINVAL;
        memcpy(&job, in, sizeof(job));
        if (!memchr(job.staging, 0, sizeof(job.staging)) || !startswith(job.staging, APPS_INSTALL_PREFIX) ||
            strchr(job.staging, '/'))
                return -EINVAL;

        r = job_unpack(&job, &info, &flags, &error);
        if (r < 0 && !error.message[0])
                (void) spk_fail(&error, r, "Failed to install the package: %s", strerror(-r));
        return job_result(r, error.message, &info, flags, ret, ret_size);
}

int apps_job_abandon(const AppsJob *job) {
        char name[APPS_HIDDEN_NAME_SIZE] = APPS_REMOVED_PREFIX;
        uint8_t rnd[8];

        assert(job);

        random_bytes(rnd, sizeof(rnd));
        hex_encode(rnd, sizeof(rnd), name + STRLEN(APPS_REMOVED_PREFIX));
        if (renameat(job->packages_dir_fd, job->staging, job->packages_dir_fd, name) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        return 1;
}

/* ---- the parent's half ---- */

typedef struct Result {
        ResultHeader h;
        const char *message;
        const uint8_t *manifest; /* in the result, or the tree's copy in manifest_buf */
        size_t manifest_size;
        const uint8_t *bridge_config;
        size_t bridge_config_size;
        char *manifest_buf;
        char *bridge_config_buf;
} Result;

static void result_done(Result *r) {
        free(r->manifest_buf);
        free(r->bridge_config_buf);
}

static int result_parse(const void *buf, size_t size, Result *ret) {
        const uint8_t *p = buf;
        uint64_t need;

        if (!buf || size < sizeof(ResultHeader))
                return -EIO;
        memcpy(&ret->h, p, sizeof(ResultHeader));
        need = (uint64_t) sizeof(ResultHeader) + ret->h.message_size + ret->h.manifest_size +
               ret->h.bridge_config_size;
        if (need != size || ret->h.error > 0 || memchr(ret->h.app_id, 0, sizeof(ret->h.app_id)) == NULL ||
            memchr(ret->h.package_id, 0, sizeof(ret->h.package_id)) == NULL)
                return -EIO;
        p += sizeof(ResultHeader);
        ret->message = (const char *) p;
        p += ret->h.message_size;
        ret->manifest = p;
        ret->manifest_size = ret->h.manifest_size;
        p += ret->h.manifest_size;
        ret->bridge_config = ret->h.bridge_config_size > 0 ? p : NULL;
        ret->bridge_config_size = ret->h.bridge_config_size;
        return 0;
}

/* The manifest and bridge config of a result that left them in the tree. The tree is ours and whole (1). */
static int result_read_tree(int packages_dir_fd, Result *res) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!(res->h.flags & RESULT_IN_TREE))
                return 0;

        path = path_join(res->h.package_id, MANIFEST_FILE);
        if (!path)
                return -ENOMEM;
        fd = openat_beneath(packages_dir_fd, path, O_RDONLY | O_NOFOLLOW, 0);
        if (fd < 0)
                return fd;
        r = read_full_fd(fd, SPK_MAX_MANIFEST_BYTES, &res->manifest_buf, &res->manifest_size);
        if (r < 0)
                return r;
        res->manifest = (const uint8_t *) res->manifest_buf;
        fd = safe_close(fd);
        path = (free(path), NULL);

        if (!(res->h.flags & RESULT_HAS_BRIDGE_CONFIG))
                return 0;
        path = path_join(res->h.package_id, BRIDGE_CONFIG_FILE);
        if (!path)
                return -ENOMEM;
        fd = openat_beneath(packages_dir_fd, path, O_RDONLY | O_NOFOLLOW, 0);
        if (fd < 0)
                return fd;
        r = read_full_fd(fd, SPK_MAX_BRIDGE_CONFIG_BYTES, &res->bridge_config_buf, &res->bridge_config_size);
        if (r < 0)
                return r;
        res->bridge_config = (const uint8_t *) res->bridge_config_buf;
        return 0;
}

/* Writes the rows of a package not recorded yet; sets ret's outcome. Inside a transaction of its own. */
static int record_package(Store *s, const Result *res, const AppsManifest *m, uint64_t now,
                          AppsInstallResult *ret) {
        _cleanup_(store_app_freep) StoreApp *app = NULL;
        _cleanup_(store_package_freep) StorePackage *latest = NULL;
        const char *app_id = res->h.app_id, *package_id = res->h.package_id;
        StorePackage p = {
                .id = (char *) package_id,
                .app_id = (char *) app_id,
                .app_version = m->app_version,
                .marketing_version = m->marketing_version,
                .manifest = (void *) res->manifest,
                .manifest_size = res->manifest_size,
                .bridge_config = (void *) res->bridge_config,
                .bridge_config_size = res->bridge_config_size,
                .installed = now,
        };
        AppsInstallOutcome outcome = APPS_INSTALL_NEW;
        int r;

        r = store_begin(s);
        if (r < 0)
                return r;
        r = store_app_get(s, app_id, &app);
        if (r == -ENOENT) {
                outcome = APPS_INSTALL_NEW;
                r = store_app_add(s, app_id, !isempty(m->title) ? m->title : app_id, now);
        } else if (r >= 0) {
                /* An app recorded only for development (spk dev) has no latest package: this is its first
                 * install. */
                outcome = app->latest_package_id ? APPS_INSTALL_UPGRADE : APPS_INSTALL_NEW;
                if (app->latest_package_id) {
                        r = store_package_get(s, app->latest_package_id, &latest);
                        if (r == -ENOENT)
                                r = 0;
                        else if (r >= 0 && m->app_version <= latest->app_version)
                                /* A downgrade, or another build of the same version: kept, not used. */
                                outcome = APPS_INSTALL_OLDER;
                }
        }
        if (r >= 0)
                r = store_package_add(s, &p);
        if (r >= 0 && outcome != APPS_INSTALL_OLDER)
                r = store_app_set_latest_package(s, app_id, package_id);
        if (r < 0) {
                (void) store_rollback(s);
                return r;
        }
        r = store_commit(s);
        if (r < 0)
                return r;
        ret->outcome = outcome;
        return 0;
}

int apps_job_finish(Store *s, const AppsJob *job, int error, const void *result, size_t size, uint64_t now,
                    AppsInstallResult *ret, char **ret_error) {
        _cleanup_(apps_install_result_done) AppsInstallResult out = {};
        _cleanup_(store_package_freep) StorePackage *known = NULL;
        _cleanup_(apps_manifest_done) AppsManifest m = {};
        _cleanup_(result_done) Result res = {};
        int r;

        assert(s);
        assert(job);
        assert(ret);

        if (error == -ETIMEDOUT)
                return error_set(ret_error, error, "Installing the package took too long.");
        if (error < 0)
                return error_set(ret_error, error, "The installer failed: %s", strerror(-error));
        r = result_parse(result, size, &res);
        if (r < 0)
                return error_set(ret_error, r, "The installer's result is garbled.");
        if (res.h.error < 0) {
                _cleanup_free_ char *message = strndup(res.message, res.h.message_size);

                if (!message)
                        return -ENOMEM;
                return fail_text(ret_error, res.h.error, message);
        }

        r = result_read_tree(job->packages_dir_fd, &res);
        if (r < 0)
                return error_set(ret_error, r, "Failed to read the manifest of the unpacked package: %s",
                                 strerror(-r));
        r = apps_manifest_parse(res.manifest, res.manifest_size, &m, ret_error);
        if (r < 0)
                return r;

        memcpy(out.package_id, res.h.package_id, sizeof(out.package_id));
        out.version = m.app_version;
        out.marketing_version = strdup(m.marketing_version);
        if (!out.marketing_version)
                return -ENOMEM;

        r = store_package_get(s, res.h.package_id, &known);
        if (r >= 0) {
                if (res.h.flags & RESULT_EXISTED)
                        return error_set(ret_error, -EEXIST, "This package is installed already.");
                /* Its tree had gone missing; the child has put it back. */
                out.outcome = APPS_INSTALL_RESTORED;
        } else if (r == -ENOENT) {
                r = record_package(s, &res, &m, now, &out);
                if (r == -EEXIST)
                        /* Another install of the same package won the race. */
                        return error_set(ret_error, r, "This package is installed already.");
                if (r < 0)
                        return error_set(ret_error, r, "Failed to record the package: %s", strerror(-r));
        } else
                return error_set(ret_error, r, "Failed to look the package up: %s", strerror(-r));

        r = apps_get(s, res.h.app_id, &out.app);
        if (r < 0)
                return error_set(ret_error, r, "Failed to read the app back: %s", strerror(-r));

        *ret = out;
        out = (AppsInstallResult) {};
        return 0;
}

int apps_install_fd(Store *s, int packages_dir_fd, int spk_fd, uint64_t now, AppsInstallResult *ret,
                    char **ret_error) {
        _cleanup_free_ void *result = NULL;
        size_t size = 0;
        AppsJob job;
        int r;

        assert(s);
        assert(ret);

        r = apps_job_init(&job, packages_dir_fd, spk_fd);
        if (r < 0)
                return error_set(ret_error, r, "No randomness for a temporary name.");
        r = apps_job_run(&job, sizeof(job), &result, &size);
        if (r < 0) {
                (void) rm_rf_at(packages_dir_fd, job.staging);
                return error_set(ret_error, r, "Failed to install the package: %s", strerror(-r));
        }
        return apps_job_finish(s, &job, 0, result, size, now, ret, ret_error);
}

/* ---- removing ---- */

/* Moves packages_dir/name aside under a fresh ".removed-…" name, put in ret_name. 0: there was nothing. */
static int move_aside(int packages_dir_fd, const char *name, char ret_name[static APPS_HIDDEN_NAME_SIZE]) {
        uint8_t rnd[8];

        memcpy(ret_name, APPS_REMOVED_PREFIX, sizeof(APPS_REMOVED_PREFIX));
        random_bytes(rnd, sizeof(rnd));
        hex_encode(rnd, sizeof(rnd), ret_name + STRLEN(APPS_REMOVED_PREFIX));
        if (renameat(packages_dir_fd, name, packages_dir_fd, ret_name) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        return 1;
}

typedef struct RemoveRows {
        const char *app_id;
        char **grains; /* of the app, to delete with it */
} RemoveRows;

static int remove_rows(Store *s, void *userdata) {
        RemoveRows *rr = userdata;
        int r;

        STRV_FOREACH(g, rr->grains) {
                r = store_grain_delete(s, *g);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        return store_app_delete(s, rr->app_id);
}

int apps_remove(Store *s, int packages_dir_fd, const char *app_id, AppsRemoveFlags flags,
                char ***ret_grains) {
        _cleanup_(store_app_freep) StoreApp *app = NULL;
        _cleanup_(store_package_list_freep) StorePackage **packages = NULL;
        _cleanup_(store_grain_list_freep) StoreGrain **grains = NULL;
        _cleanup_strv_free_ char **grain_ids = NULL;
        size_t n_packages = 0, n_grains = 0;
        RemoveRows rr = { .app_id = app_id };
        int r, first_error = 0;

        assert(s);
        assert(packages_dir_fd >= 0);
        assert(app_id);

        r = random_init();
        if (r < 0)
                return r;
        r = store_app_get(s, app_id, &app);
        if (r < 0)
                return r;
        r = store_package_list_by_app(s, app_id, &packages, &n_packages);
        if (r < 0)
                return r;
        r = store_grain_list(s, &grains, &n_grains);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_grains; i++)
                if (grains[i]->app_id && streq(grains[i]->app_id, app_id)) {
                        if (!(flags & APPS_REMOVE_FORCE))
                                return -EBUSY;
                        r = strv_extend(&grain_ids, grains[i]->id);
                        if (r < 0)
                                return r;
                }

        /* Rows first (3). A grain made meanwhile makes store_app_delete() say -EBUSY: then nothing
         * happens. */
        rr.grains = grain_ids;
        r = store_transaction(s, remove_rows, &rr);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n_packages; i++) {
                char aside[APPS_HIDDEN_NAME_SIZE];

                /* Package ids are hex (4); a "dev-…" one was never unpacked here. */
                if (packages[i]->id[0] == '.' || strchr(packages[i]->id, '/'))
                        continue;
                r = move_aside(packages_dir_fd, packages[i]->id, aside);
                if (r > 0 && !(flags & APPS_REMOVE_DEFER))
                        r = rm_rf_at(packages_dir_fd, aside);
                if (r < 0 && first_error == 0)
                        first_error = r;
        }
        if (first_error < 0)
                return first_error;

        if (ret_grains) {
                if (!grain_ids) {
                        grain_ids = calloc(1, sizeof(char *));
                        if (!grain_ids)
                                return -ENOMEM;
                }
                *ret_grains = TAKE_PTR(grain_ids);
        }
        return 0;
}

static bool purge_name(const struct dirent *de, void *userdata) {
        const bool *installs = userdata;

        return startswith(de->d_name, APPS_REMOVED_PREFIX) ||
               (*installs && startswith(de->d_name, APPS_INSTALL_PREFIX));
}

int apps_purge(int packages_dir_fd, bool installs) {
        _cleanup_strv_free_ char **names = NULL;
        DIR *d;
        int fd, r;

        assert(packages_dir_fd >= 0);

        fd = openat(packages_dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                r = negative_errno();
                safe_close(fd);
                return r;
        }
        /* Names first, removals after: a directory is not changed while it is being read. */
        r = dir_names(d, purge_name, &installs, &names);
        closedir(d);
        if (r < 0)
                return r;

        STRV_FOREACH(n, names) {
                int k = rm_rf_at(packages_dir_fd, *n);

                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

int apps_purge_job(const void *in, size_t in_size, void **ret, size_t *ret_size) {
        int fd;

        if (!in || in_size != sizeof(fd))
                return -EINVAL;
        memcpy(&fd, in, sizeof(fd));
        return apps_purge(fd, false);
}
