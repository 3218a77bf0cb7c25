/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The systemd backend (grains-systemd.h). The units of one grain, as this process sees them (SdGrain):
 *
 *   UNKNOWN --grains_systemd_ensure(): GetAll(service)--> CHECKING
 *   CHECKING --answered: if the service is stopped, write its next start (environment, package, root);
 *             StartUnit(socket) (a no-op when it listens; restarts a failed one)--> STARTING
 *   STARTING --its job's JobRemoved, "done"--> READY
 *   STARTING --a failed call, job or write--> UNKNOWN (logged; the next ensure tries again)
 *   READY --the service is seen stopped: its next start rewritten if it changed (first start done, an
 *           upgrade), no unit call--> READY
 *   any --grains_systemd_remove(): StopUnit(socket), StopUnit(service)--> freed
 *
 * The service's properties (ActiveState, MemoryCurrent, CPUUsageNSec) are read with GetAll, at most one
 * call at a time per grain, after every PropertiesChanged of the service and when grains_systemd_info() is
 * asked; what the last answer said is what info returns. A service seen running after a first start's
 * files were written is that first start (first_started).
 *
 * (1) at most one call or job per grain is followed at a time (slot, job); JobRemoved is matched by the
 *     job's object path
 * (2) unit names and object paths are made only from ids that grains_systemd_unit_name() accepts
 * (3) nothing here blocks: every call is asynchronous with GRAINS_SYSTEMD_CALL_TIMEOUT_USEC, except the
 *     journal, read from local files in grains_systemd_log_tail() with a bound on what it reads
 */

#include <inttypes.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <limits.h>
#include <unistd.h>

#include <seccomp.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/string-util.h"
#include "front/grains-systemd.h"

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT_PATH_PREFIX "/org/freedesktop/systemd1/unit"
#define BUS_ERROR_NO_SUCH_UNIT "org.freedesktop.systemd1.NoSuchUnit"
#define BUS_ERROR_UNIT_EXISTS "org.freedesktop.systemd1.UnitExists"
/* The environment file a grain's start may have: a manifest's environment is small. */
#define ENVIRONMENT_FILE_MAX (1024u * 1024u)
/* Journal entries read for one console view, whatever their size. */
#define LOG_ENTRIES_MAX 100000u
#define BUS_PROBE_TIMEOUT_USEC (5u * 1000u * 1000u)

static void *mfree(void *p) {
        free(p);
        return NULL;
}

/* ---- names and the policy ---- */

static bool id_is_valid(const char *id) {
        return store_id_is_valid(id);
}

int grains_systemd_unit_name(const char *id, const char *suffix, char **ret) {
        char *s;

        assert(suffix);
        assert(ret);

        if (!id_is_valid(id) || !(streq(suffix, "socket") || streq(suffix, "service")))
                return -EINVAL;
        s = strjoin(GRAINS_SYSTEMD_UNIT_PREFIX, id, ".", suffix);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* systemd's @resources group (v252): `systemd-analyze security` counts a grain that may call any of them as
 * exposed (weight 700 of about 56000: alone it would take a grain from 0.4 to 0.5), and apps need none of
 * them to run: setrlimit() is prlimit64 in glibc, which stays allowed, and a runtime that cannot change
 * its priority or affinity carries on. So under systemd these answer ENOSYS. */
static const char *const resources_group[] = {
        "ioprio_set", "mbind", "migrate_pages", "move_pages", "nice", "sched_setaffinity", "sched_setattr",
        "sched_setparam", "sched_setscheduler", "set_mempolicy", "set_mempolicy_home_node", "setpriority",
        "setrlimit",
};

static bool in_resources_group(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(resources_group); i++)
                if (streq(resources_group[i], name))
                        return true;
        return false;
}

int grains_systemd_syscall_filter(const Policy *p, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        assert(p);
        assert(ret);

        for (size_t i = 0; i < policy_n_rules(p); i++) {
                const PolicyRule *rule = policy_rule(p, i);

                /* A name libseccomp does not know (mseal for Debian 12's 2.5.4) is one systemd, which reads it
                 * with the same library, would warn about and ignore each time it loads a grain's unit. */
                if (rule->action == POLICY_ERRNO || in_resources_group(rule->name) ||
                    seccomp_syscall_resolve_name(rule->name) == __NR_SCMP_ERROR || strv_contains(l, rule->name))
                        continue;
                r = strv_extend(&l, rule->name);
                if (r < 0)
                        return r;
        }
        if (!strv_contains(l, "seccomp")) {
                r = strv_extend(&l, "seccomp");
                if (r < 0)
                        return r;
        }
        strv_sort(l);
        *ret = TAKE_PTR(l);
        return 0;
}

GrainUnitSpec *grain_unit_spec_free(GrainUnitSpec *s) {
        if (!s)
                return NULL;
        free((char *) s->id);
        free((char *) s->package_id);
        free((char *) s->package_dir);
        free((char *) s->var_dir);
        free((char *) s->grain_dir);
        strv_free((char **) s->argv);
        strv_free((char **) s->envp);
        free(s);
        return NULL;
}

/* ---- the files of a start ---- */

static bool argv_byte_is_plain(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("/._+:=,@%-", c);
}

int grains_systemd_argv_escape(char *const *argv, char **ret) {
        _cleanup_(strbuf_done) StrBuf b = STRBUF_INIT;
        int r = 0;

        assert(ret);

        if (!argv || !argv[0])
                return -EINVAL;
        for (size_t i = 0; argv[i] && r >= 0; i++) {
                if (i > 0)
                        r = strbuf_append_char(&b, ' ');
                if (r >= 0 && argv[i][0] == 0)
                        r = strbuf_append_str(&b, "''");
                for (const char *c = argv[i]; *c && r >= 0; c++)
                        r = argv_byte_is_plain(*c) ? strbuf_append_char(&b, *c)
                                                   : strbuf_printf(&b, "\\x%02x", (unsigned) (unsigned char) *c);
        }
        if (r < 0)
                return r;
        *ret = strbuf_steal(&b, NULL);
        return 0;
}

/* KEY="value" with what systemd's EnvironmentFile= parser unescapes inside double quotes. */
static int env_line(StrBuf *b, const char *name, size_t name_len, const char *value) {
        int r;

        r = strbuf_printf(b, "%.*s=\"", (int) name_len, name);
        for (const char *c = value; *c && r >= 0; c++) {
                if (strchr("\\\"`$", *c))
                        r = strbuf_append_char(b, '\\');
                if (r >= 0)
                        r = strbuf_append_char(b, *c);
        }
        if (r >= 0)
                r = strbuf_append_str(b, "\"\n");
        return r;
}

static bool env_name_is_valid(const char *name, size_t n) {
        if (n == 0 || (name[0] >= '0' && name[0] <= '9'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
                      (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
                        return false;
        return true;
}

static bool env_name_is_reserved(const char *e) {
        return startswith(e, GRAINS_SYSTEMD_SECCOMP_NAME "=") || startswith(e, GRAINS_SYSTEMD_ARGV_ENV "=") ||
               startswith(e, GRAINS_SYSTEMD_ENV_ENV "=");
}

int grains_systemd_environment(const GrainUnitSpec *s, char **ret) {
        _cleanup_(strbuf_done) StrBuf b = STRBUF_INIT;
        _cleanup_free_ char *argv = NULL, *env = NULL;
        _cleanup_free_ char **kept = NULL;
        size_t n = 0;
        int r;

        assert(s);
        assert(ret);

        if (!id_is_valid(s->id) || !s->package_id)
                return -EINVAL;
        r = grains_systemd_argv_escape(s->argv, &argv);
        if (r < 0)
                return r;

        /* The manifest's variables go into one word list that only --granary-exec unpacks: each line of the
         * file is in the environment of every command of the unit, and ExecStopPost= runs one as root. */
        kept = calloc(strv_length(s->envp) + 1, sizeof(char *));
        if (!kept)
                return -ENOMEM;
        STRV_FOREACH(e, s->envp) {
                const char *eq = strchr(*e, '=');

                if (!eq || !env_name_is_valid(*e, (size_t) (eq - *e)))
                        return -EINVAL;
                if (!env_name_is_reserved(*e))
                        kept[n++] = *e;
        }
        if (n > 0) {
                r = grains_systemd_argv_escape(kept, &env);
                if (r < 0)
                        return r;
        }

        r = strbuf_printf(&b, "# granary grain %s: package %s%s\n", s->id, s->package_id,
                          s->first ? ", first start" : "");
        if (r >= 0)
                r = env_line(&b, GRAINS_SYSTEMD_SECCOMP_NAME, STRLEN(GRAINS_SYSTEMD_SECCOMP_NAME), "1");
        if (r >= 0)
                r = env_line(&b, GRAINS_SYSTEMD_ENV_ENV, STRLEN(GRAINS_SYSTEMD_ENV_ENV), env ?: "");
        if (r >= 0)
                r = env_line(&b, GRAINS_SYSTEMD_ARGV_ENV, STRLEN(GRAINS_SYSTEMD_ARGV_ENV), argv);
        if (r < 0)
                return r;
        *ret = strbuf_steal(&b, NULL);
        return 0;
}

/* Points dir_fd/name at target, atomically: a new link beside it, renamed over it. 0 if it already did. */
static int symlink_atomic_at(int dir_fd, const char *name, const char *target) {
        _cleanup_free_ char *tmp = NULL;
        char buf[PATH_MAX];
        ssize_t n;

        n = readlinkat(dir_fd, name, buf, sizeof(buf) - 1);
        if (n >= 0) {
                buf[n] = 0;
                if (streq(buf, target))
                        return 0;
        }
        tmp = strjoin(".#", name, ".new");
        if (!tmp)
                return -ENOMEM;
        (void) unlinkat(dir_fd, tmp, 0);
        if (symlinkat(target, dir_fd, tmp) < 0)
                return negative_errno();
        if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
                int r = negative_errno();

                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        return 1;
}

/* The grain's root (the template's RootDirectory=). systemd 252 takes no symbolic link there, and the
 * package a grain runs changes, so the root is a small directory of the grain's own:
 *   .granary-package/              the mount point where the template binds the package, read-only (through
 *                                  the grain's `package` link, which systemd follows)
 *   dev/ proc/ sys/ tmp/ var/      mount points of the sandbox's own (sys/: the unit makes it inaccessible)
 *   sandstorm-http-bridge          the bridge's mount point, an empty file
 *   NAME -> .granary-package/NAME  for every other top-level entry of the package
 * so that the app finds the package's files at their paths. systemd adds the mount points it needs (etc,
 * run, …: directories of root's, some with more inside), which stay. The root changes only while the
 * service is stopped, in place: links are added and removed, and a mount point systemd left where the
 * package now has an entry is removed if it can be (an empty directory). */
static const char *const root_dirs[] = { GRAINS_SYSTEMD_PACKAGE_MOUNT, "dev", "proc", "sys", "tmp", "var" };
#define ROOT_BRIDGE "sandstorm-http-bridge"

static bool root_name_is_reserved(const char *name) {
        if (streq(name, ".") || streq(name, "..") || streq(name, ROOT_BRIDGE))
                return true;
        for (size_t i = 0; i < ELEMENTSOF(root_dirs); i++)
                if (streq(name, root_dirs[i]))
                        return true;
        return false;
}

static bool root_link_wanted(const struct dirent *de, void *userdata) {
        return !root_name_is_reserved(de->d_name);
}

/* The names of the package's top-level entries the root links to, sorted. */
static int root_links_wanted(const char *package_dir, char ***ret) {
        DIR *d;
        int r;

        d = opendir(package_dir);
        if (!d)
                return negative_errno();
        r = dir_names(d, root_link_wanted, NULL, ret);
        closedir(d);
        return r;
}

/* Opens dir_fd/root, making it (0755) if it is missing or a link (the layout before roots were
 * directories). */
static int root_open(int dir_fd, bool *changed) {
        int fd;

        fd = openat(dir_fd, GRAINS_SYSTEMD_ROOT_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
                return fd;
        if (errno == ENOTDIR || errno == ELOOP) {
                if (unlinkat(dir_fd, GRAINS_SYSTEMD_ROOT_DIR, 0) < 0)
                        return negative_errno();
        } else if (errno != ENOENT)
                return negative_errno();
        if (mkdirat(dir_fd, GRAINS_SYSTEMD_ROOT_DIR, 0755) < 0)
                return negative_errno();
        *changed = true;
        fd = openat(dir_fd, GRAINS_SYSTEMD_ROOT_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fchmod(fd, 0755) < 0) {
                int r = negative_errno();

                safe_close(fd);
                return r;
        }
        return fd;
}

/* Makes the root match names. *changed is set when anything was written. */
static int root_update(int dir_fd, char **names, bool *changed) {
        _cleanup_close_ int fd = -EBADF, bridge = -EBADF;
        struct dirent *de;
        DIR *d;
        int r = 0;

        fd = root_open(dir_fd, changed);
        if (fd < 0)
                return fd;
        for (size_t i = 0; i < ELEMENTSOF(root_dirs); i++) {
                struct stat st;

                /* a link from before the name was reserved (a package's own "sys") makes way */
                if (fstatat(fd, root_dirs[i], &st, AT_SYMLINK_NOFOLLOW) >= 0 && !S_ISDIR(st.st_mode) &&
                    unlinkat(fd, root_dirs[i], 0) < 0)
                        return negative_errno();
                if (mkdirat(fd, root_dirs[i], 0755) >= 0) {
                        if (fchmodat(fd, root_dirs[i], 0755, 0) < 0)
                                return negative_errno();
                        *changed = true;
                } else if (errno != EEXIST)
                        return negative_errno();
        }
        bridge = openat(fd, ROOT_BRIDGE, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (bridge >= 0) {
                if (fchmod(bridge, 0644) < 0)
                        return negative_errno();
                *changed = true;
        } else if (errno != EEXIST)
                return negative_errno();

        /* What is there that should not be: links elsewhere or to names the package no longer has, and
         * whatever stands where a link must go. */
        d = fdopendir(fcntl(fd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return negative_errno();
        while (r >= 0 && (errno = 0, de = readdir(d))) {
                _cleanup_free_ char *want = NULL;
                char buf[PATH_MAX];
                bool wanted;
                ssize_t n;

                if (root_name_is_reserved(de->d_name))
                        continue;
                wanted = strv_contains(names, de->d_name);
                n = readlinkat(fd, de->d_name, buf, sizeof(buf) - 1);
                if (n < 0 && errno == EINVAL) {
                        struct stat st;

                        /* Not a link: a mount point systemd made. In the way only if the package has the name. */
                        if (wanted && (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                                       unlinkat(fd, de->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0))
                                r = log_error_errno(negative_errno(), "Failed to remove '%s' from a grain's root, "
                                                    "where the package now has an entry: %m", de->d_name);
                        else if (wanted)
                                *changed = true;
                        continue;
                }
                if (n < 0) {
                        r = negative_errno();
                        break;
                }
                buf[n] = 0;
                want = strjoin(GRAINS_SYSTEMD_PACKAGE_MOUNT "/", de->d_name);
                if (!want) {
                        r = -ENOMEM;
                        break;
                }
                if (!wanted || !streq(buf, want)) {
                        if (unlinkat(fd, de->d_name, 0) < 0)
                                r = negative_errno();
                        *changed = true;
                }
        }
        if (r >= 0 && errno != 0)
                r = negative_errno();
        closedir(d);
        if (r < 0)
                return r;

        STRV_FOREACH(name, names) {
                _cleanup_free_ char *target = strjoin(GRAINS_SYSTEMD_PACKAGE_MOUNT "/", *name);

                if (!target)
                        return -ENOMEM;
                if (symlinkat(target, fd, *name) >= 0)
                        *changed = true;
                else if (errno != EEXIST)
                        return negative_errno();
        }
        if (*changed && fsync(fd) < 0)
                return negative_errno();
        return 0;
}

int grains_systemd_storage_prepare(const char *var_dir, gid_t gid) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (!var_dir || var_dir[0] != '/')
                return -EINVAL;
        fd = open(var_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return negative_errno();
        if (st.st_gid != gid && fchown(fd, (uid_t) -1, gid) < 0)
                return negative_errno();
        if ((st.st_gid != gid || (st.st_mode & 07777) != GRAINS_SYSTEMD_STORAGE_MODE) &&
            fchmod(fd, GRAINS_SYSTEMD_STORAGE_MODE) < 0)
                return negative_errno();
        return 0;
}

int grains_systemd_write_start(const GrainUnitSpec *s) {
        _cleanup_free_ char *env = NULL, *old = NULL;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        bool changed = false;
        size_t size = 0;
        int r;

        assert(s);

        if (!s->grain_dir || s->grain_dir[0] != '/' || !s->package_dir || s->package_dir[0] != '/')
                return -EINVAL;
        r = grains_systemd_environment(s, &env);
        if (r < 0)
                return r;
        r = root_links_wanted(s->package_dir, &names);
        if (r < 0)
                return r;
        dir_fd = open(s->grain_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir_fd < 0)
                return negative_errno();

        r = read_full_file_at(dir_fd, GRAINS_SYSTEMD_ENVIRONMENT_FILE, ENVIRONMENT_FILE_MAX, &old, &size);
        if (r < 0 || !streq(old, env)) {
                r = write_file_atomic_at(dir_fd, GRAINS_SYSTEMD_ENVIRONMENT_FILE, env, strlen(env), 0600);
                if (r < 0)
                        return r;
                changed = true;
        }
        r = symlink_atomic_at(dir_fd, GRAINS_SYSTEMD_PACKAGE_LINK, s->package_dir);
        if (r < 0)
                return r;
        changed = changed || r > 0;
        r = root_update(dir_fd, names, &changed);
        if (r < 0)
                return r;
        return changed;
}


/* ---- the runtime ---- */

typedef enum UnitsState {
        UNITS_UNKNOWN,
        UNITS_CHECKING,
        UNITS_STARTING,
        UNITS_READY,
} UnitsState;

typedef struct SdGrain SdGrain;

struct SdGrain {
        GrainsSystemd *owner;
        SdGrain *prev, *next;
        char *id;
        char *socket_unit, *service_unit;
        char *service_path; /* the service's object path */
        UnitsState units;
        sd_bus_slot *call;      /* the call in flight for units, (1) */
        char *job;              /* the job followed, (1) */
        sd_bus_slot *props_call;
        bool first;             /* the files written last are a first start's */
        /* What the last GetAll said. */
        char *active_state;
        uint64_t memory, cpu_nsec;
};

struct GrainsSystemd {
        sd_event *event;
        sd_bus *bus;
        GrainsSystemdConfig config;
        char *sockets_dir, *bridge_path;
        gid_t storage_gid;      /* GRAINS_SYSTEMD_STORAGE_GROUP's, or (gid_t) -1 when there is none */
        GrainsSystemdCallbacks cb;
        sd_bus_slot *job_removed, *properties_changed, *subscribe;
        SdGrain *grains;
};

static SdGrain *sd_grain_free(SdGrain *gr) {
        if (!gr)
                return NULL;
        if (gr->prev)
                gr->prev->next = gr->next;
        else if (gr->owner)
                gr->owner->grains = gr->next;
        if (gr->next)
                gr->next->prev = gr->prev;
        sd_bus_slot_unref(gr->call);
        sd_bus_slot_unref(gr->props_call);
        free(gr->id);
        free(gr->socket_unit);
        free(gr->service_unit);
        free(gr->service_path);
        free(gr->job);
        free(gr->active_state);
        free(gr);
        return NULL;
}

static SdGrain *sd_grain_find(GrainsSystemd *s, const char *id) {
        for (SdGrain *gr = s->grains; gr; gr = gr->next)
                if (streq(gr->id, id))
                        return gr;
        return NULL;
}

static int sd_grain_get(GrainsSystemd *s, const char *id, SdGrain **ret) {
        SdGrain *gr = sd_grain_find(s, id);
        int r;

        if (gr) {
                *ret = gr;
                return 0;
        }
        gr = calloc(1, sizeof(SdGrain));
        if (!gr)
                return -ENOMEM;
        gr->owner = s;
        gr->id = strdup(id);
        if (!gr->id) {
                free(gr);
                return -ENOMEM;
        }
        r = grains_systemd_unit_name(id, "socket", &gr->socket_unit);
        if (r >= 0)
                r = grains_systemd_unit_name(id, "service", &gr->service_unit);
        if (r >= 0)
                r = sd_bus_path_encode(SYSTEMD_UNIT_PATH_PREFIX, gr->service_unit, &gr->service_path);
        if (r < 0) {
                sd_grain_free(gr);
                return r;
        }
        gr->next = s->grains;
        if (s->grains)
                s->grains->prev = gr;
        s->grains = gr;
        *ret = gr;
        return 0;
}

static int manager_call(GrainsSystemd *s, sd_bus_slot **slot, sd_bus_message_handler_t cb, void *userdata,
                        const char *member, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(s->bus, &m, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, member);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        if (r < 0)
                return r;
        return sd_bus_call_async(s->bus, slot, m, cb, userdata, GRAINS_SYSTEMD_CALL_TIMEOUT_USEC);
}

static void sd_grain_refresh(SdGrain *gr);

static void units_failed(SdGrain *gr, const char *what, const sd_bus_error *e, int r) {
        gr->units = UNITS_UNKNOWN;
        gr->job = mfree(gr->job);
        if (e && sd_bus_error_is_set(e))
                log_error("Failed to %s the units of grain %s: %s", what, gr->id, e->message ?: e->name);
        else
                log_error_errno(r, "Failed to %s the units of grain %s: %m", what, gr->id);
}

/* The reply of a call that starts a job: follow it (its JobRemoved moves the grain on). */
static int on_job_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SdGrain *gr = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *path;
        int r;

        gr->call = sd_bus_slot_unref(gr->call);
        if (e) {
                if (sd_bus_error_has_name(e, BUS_ERROR_UNIT_EXISTS)) {
                        /* Another start made them first: they are there. */
                        gr->units = UNITS_READY;
                        sd_grain_refresh(gr);
                        return 0;
                }
                units_failed(gr, "start", e, 0);
                return 0;
        }
        r = sd_bus_message_read(m, "o", &path);
        if (r < 0) {
                units_failed(gr, "start", NULL, r);
                return 0;
        }
        free(gr->job);
        gr->job = strdup(path);
        if (!gr->job)
                units_failed(gr, "start", NULL, -ENOMEM);
        return 0;
}


/* ---- the service's properties ---- */

static bool state_is_running(const char *s) {
        return s && (streq(s, "active") || streq(s, "activating") || streq(s, "reloading") ||
                     streq(s, "deactivating"));
}

static void stop_floating(GrainsSystemd *s, const char *unit);

/* The files of the grain's next start, rewritten only while its service is stopped (a running one keeps
 * what it started with; the new files take effect at its next start). */
static int sd_grain_write_start(SdGrain *gr) {
        GrainsSystemd *s = gr->owner;
        _cleanup_(grain_unit_spec_freep) GrainUnitSpec *spec = NULL;
        int r;

        r = s->cb.spec(gr->id, &spec, s->cb.userdata);
        if (r < 0)
                return r;
        if (s->storage_gid == (gid_t) -1)
                return log_error_errno(-ENOENT, "The group %s does not exist (systemd-sysusers makes it): grain %s "
                                       "cannot start.", GRAINS_SYSTEMD_STORAGE_GROUP, gr->id);
        r = grains_systemd_storage_prepare(spec->var_dir, s->storage_gid);
        if (r < 0)
                return log_error_errno(r, "Failed to give grain %s's storage to the group %s: %m", gr->id,
                                       GRAINS_SYSTEMD_STORAGE_GROUP);
        r = grains_systemd_write_start(spec);
        if (r < 0)
                return r;
        gr->first = spec->first;
        if (r > 0)
                log_debug("Wrote the next start of grain %s (package %s%s).", gr->id, spec->package_id,
                          spec->first ? ", first start" : "");
        return 0;
}

/* The service's state is known (CHECKING's GetAll answered): write its next start if it is stopped, then
 * make sure the socket listens (a no-op when it does; restarts a failed one). */
static void sd_grain_start_socket(SdGrain *gr) {
        int r;

        if (!state_is_running(gr->active_state)) {
                r = sd_grain_write_start(gr);
                if (r < 0)
                        return units_failed(gr, "write the start of", NULL, r);
        }
        r = manager_call(gr->owner, &gr->call, on_job_reply, gr, "StartUnit", "ss", gr->socket_unit, "replace");
        if (r < 0)
                return units_failed(gr, "start", NULL, r);
        gr->units = UNITS_STARTING;
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        GrainsSystemd *s = userdata;
        const char *path, *unit, *result;
        uint32_t id;
        int r;

        r = sd_bus_message_read(m, "uoss", &id, &path, &unit, &result);
        if (r < 0)
                return 0;
        for (SdGrain *gr = s->grains; gr; gr = gr->next) {
                if (!gr->job || !streq(gr->job, path))
                        continue;
                gr->job = mfree(gr->job);
                if (streq(result, "done")) {
                        gr->units = UNITS_READY;
                        sd_grain_refresh(gr);
                } else {
                        gr->units = UNITS_UNKNOWN;
                        log_error("Starting %s for grain %s ended with '%s'.", unit, gr->id, result);
                }
                break;
        }
        return 0;
}

/* After a GetAll: go on from CHECKING; record the first start; while the service is stopped, keep its
 * next start's files current (a first start done, an upgrade). */
static void sd_grain_check_spec(SdGrain *gr) {
        GrainsSystemd *s = gr->owner;
        int r;

        if (gr->units == UNITS_CHECKING && !gr->call) {
                sd_grain_start_socket(gr);
                return;
        }
        if (state_is_running(gr->active_state)) {
                if (gr->first && s->cb.first_started) {
                        gr->first = false;
                        s->cb.first_started(gr->id, s->cb.userdata);
                }
                return;
        }
        if (gr->units != UNITS_READY || gr->call || gr->job)
                return;
        r = sd_grain_write_start(gr);
        if (r < 0)
                log_error_errno(r, "Failed to write the next start of grain %s: %m", gr->id);
}

static int on_get_all(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SdGrain *gr = userdata;
        int r;

        gr->props_call = sd_bus_slot_unref(gr->props_call);
        if (sd_bus_message_is_method_error(m, NULL)) {
                /* Not loaded (yet): nothing to say, except to a check, which goes on as for a stopped one. */
                if (gr->units == UNITS_CHECKING)
                        sd_grain_check_spec(gr);
                return 0;
        }
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return 0;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *value;
                uint64_t n;

                if (sd_bus_message_read(m, "s", &name) < 0)
                        return 0;
                if (streq(name, "ActiveState")) {
                        if (sd_bus_message_read(m, "v", "s", &value) < 0)
                                return 0;
                        free(gr->active_state);
                        gr->active_state = strdup(value);
                } else if (streq(name, "MemoryCurrent") || streq(name, "CPUUsageNSec")) {
                        if (sd_bus_message_read(m, "v", "t", &n) < 0)
                                return 0;
                        /* UINT64_MAX: not known (no accounting, or stopped). */
                        if (streq(name, "MemoryCurrent"))
                                gr->memory = n == UINT64_MAX ? 0 : n;
                        else
                                gr->cpu_nsec = n == UINT64_MAX ? 0 : n;
                } else if (sd_bus_message_skip(m, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        sd_grain_check_spec(gr);
        return 0;
}

static void sd_grain_refresh(SdGrain *gr) {
        int r;

        if (gr->props_call)
                return;
        /* "" is every interface: Unit (ActiveState, Description) and Service (MemoryCurrent, CPUUsageNSec). */
        r = sd_bus_call_method_async(gr->owner->bus, &gr->props_call, SYSTEMD_SERVICE, gr->service_path,
                                     "org.freedesktop.DBus.Properties", "GetAll", on_get_all, gr, "s", "");
        if (r < 0)
                log_debug_errno(r, "Failed to ask for grain %s's state: %m", gr->id);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        GrainsSystemd *s = userdata;
        const char *path = sd_bus_message_get_path(m);

        if (!path)
                return 0;
        for (SdGrain *gr = s->grains; gr; gr = gr->next)
                if (streq(gr->service_path, path)) {
                        sd_grain_refresh(gr);
                        break;
                }
        return 0;
}

/* ---- the API ---- */

static int on_stop_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e && !sd_bus_error_has_name(e, BUS_ERROR_NO_SUCH_UNIT))
                log_warning("Failed to stop a grain's unit: %s", e->message ?: e->name);
        return 0;
}

static void stop_floating(GrainsSystemd *s, const char *unit) {
        int r = manager_call(s, NULL, on_stop_reply, NULL, "StopUnit", "ss", unit, "replace");

        if (r < 0)
                log_warning_errno(r, "Failed to stop %s: %m", unit);
}

int grains_systemd_new(sd_event *e, sd_bus *bus, const GrainsSystemdConfig *c, const GrainsSystemdCallbacks *cb,
                       GrainsSystemd **ret) {
        _cleanup_(grains_systemd_freep) GrainsSystemd *s = NULL;
        struct group *gr;
        int r;

        assert(e);
        assert(bus);
        assert(c);
        assert(cb && cb->spec);
        assert(ret);

        s = calloc(1, sizeof(GrainsSystemd));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(e);
        s->bus = sd_bus_ref(bus);
        s->config = *c;
        s->cb = *cb;
        s->sockets_dir = strdup(c->sockets_dir);
        s->bridge_path = strdup(c->bridge_path);
        if (!s->sockets_dir || !s->bridge_path)
                return -ENOMEM;
        gr = getgrnam(GRAINS_SYSTEMD_STORAGE_GROUP);
        s->storage_gid = gr ? gr->gr_gid : (gid_t) -1;
        s->config.sockets_dir = s->sockets_dir;
        s->config.bridge_path = s->bridge_path;

        if (!sd_bus_get_event(bus)) {
                r = sd_bus_attach_event(bus, e, SD_EVENT_PRIORITY_NORMAL);
                if (r < 0)
                        return r;
        }
        r = sd_bus_match_signal_async(bus, &s->job_removed, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                      "JobRemoved", on_job_removed, NULL, s);
        if (r < 0)
                return r;
        r = sd_bus_match_signal_async(bus, &s->properties_changed, SYSTEMD_SERVICE, NULL,
                                      "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                      on_properties_changed, NULL, s);
        if (r < 0)
                return r;
        /* systemd sends unit and job signals only to subscribers. */
        r = manager_call(s, &s->subscribe, on_stop_reply, NULL, "Subscribe", "");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

GrainsSystemd *grains_systemd_free(GrainsSystemd *s) {
        if (!s)
                return NULL;
        while (s->grains)
                sd_grain_free(s->grains);
        sd_bus_slot_unref(s->job_removed);
        sd_bus_slot_unref(s->properties_changed);
        sd_bus_slot_unref(s->subscribe);
        sd_bus_unref(s->bus);
        sd_event_unref(s->event);
        free(s->sockets_dir);
        free(s->bridge_path);
        free(s);
        return NULL;
}

int grains_systemd_ensure(GrainsSystemd *s, const char *id) {
        SdGrain *gr;
        int r;

        assert(s);

        r = sd_grain_get(s, id, &gr);
        if (r < 0)
                return r;
        if (gr->units == UNITS_READY) {
                sd_grain_refresh(gr);
                return 0;
        }
        if (gr->units != UNITS_UNKNOWN)
                return 1;
        /* CHECKING: the service's state (GetAll) decides whether its next start may be written now. */
        gr->units = UNITS_CHECKING;
        sd_grain_refresh(gr);
        if (!gr->props_call) {
                gr->units = UNITS_UNKNOWN;
                return log_error_errno(-EIO, "Failed to look up the units of grain %s.", id);
        }
        return 1;
}

/* The caller found the socket missing or refusing although the units were thought ready. */
static void sd_grain_lost(SdGrain *gr) {
        if (gr->units == UNITS_READY)
                gr->units = UNITS_UNKNOWN;
}

int grains_systemd_stop(GrainsSystemd *s, const char *id) {
        SdGrain *gr;
        int r;

        assert(s);

        r = sd_grain_get(s, id, &gr);
        if (r < 0)
                return r;
        stop_floating(s, gr->service_unit);
        sd_grain_refresh(gr);
        return 0;
}

int grains_systemd_remove(GrainsSystemd *s, const char *id) {
        _cleanup_free_ char *socket_unit = NULL, *service_unit = NULL;
        int r;

        assert(s);

        r = grains_systemd_unit_name(id, "socket", &socket_unit);
        if (r < 0)
                return r;
        r = grains_systemd_unit_name(id, "service", &service_unit);
        if (r < 0)
                return r;
        stop_floating(s, socket_unit);
        stop_floating(s, service_unit);
        sd_grain_free(sd_grain_find(s, id));
        return 0;
}

int grains_systemd_info(GrainsSystemd *s, const char *id, GrainState *ret_state, uint64_t *ret_memory,
                        uint64_t *ret_cpu_nsec) {
        GrainState state = GRAIN_STOPPED;
        SdGrain *gr;
        int r;

        assert(s);

        r = sd_grain_get(s, id, &gr);
        if (r < 0)
                return r;
        sd_grain_refresh(gr);
        if (gr->active_state && streq(gr->active_state, "deactivating"))
                state = GRAIN_STOPPING;
        else if (state_is_running(gr->active_state))
                state = GRAIN_RUNNING;
        if (ret_state)
                *ret_state = state;
        if (ret_memory)
                *ret_memory = state == GRAIN_STOPPED ? 0 : gr->memory;
        if (ret_cpu_nsec)
                *ret_cpu_nsec = gr->cpu_nsec;
        return 0;
}

void grains_systemd_lost(GrainsSystemd *s, const char *id) {
        SdGrain *gr;

        assert(s);

        gr = sd_grain_find(s, id);
        if (gr)
                sd_grain_lost(gr);
}

/* ---- the console ---- */

int grains_systemd_log_tail(const char *id, size_t max, char **ret, size_t *ret_size) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        _cleanup_free_ char *unit = NULL, *match_unit = NULL, *match_field = NULL, *out = NULL;
        _cleanup_strv_free_ char **lines = NULL; /* newest first */
        size_t total = 0, n = 0, size, skip;
        int r;

        assert(ret);
        assert(ret_size);

        r = grains_systemd_unit_name(id, "service", &unit);
        if (r < 0)
                return r;
        match_unit = strjoin("_SYSTEMD_UNIT=", unit);
        match_field = strjoin("GRANARY_GRAIN=", id);
        if (!match_unit || !match_field)
                return -ENOMEM;

        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
        if (r < 0)
                return r;
        r = sd_journal_add_match(j, match_unit, 0);
        if (r >= 0)
                r = sd_journal_add_disjunction(j);
        if (r >= 0)
                r = sd_journal_add_match(j, match_field, 0);
        if (r < 0)
                return r;
        r = sd_journal_seek_tail(j);
        if (r < 0)
                return r;
        while (total < max && n < LOG_ENTRIES_MAX && (r = sd_journal_previous(j)) > 0) {
                const void *data;
                size_t len;
                char *line;

                if (sd_journal_get_data(j, "MESSAGE", &data, &len) < 0 || len < STRLEN("MESSAGE="))
                        continue;
                line = strndup_safe((const char *) data + STRLEN("MESSAGE="), len - STRLEN("MESSAGE="));
                if (!line)
                        return -ENOMEM;
                r = strv_consume(&lines, line);
                if (r < 0)
                        return r;
                total += strlen(line) + 1;
                n++;
        }
        if (r < 0)
                return r;

        /* Oldest first, and only the last max bytes of that. */
        skip = total > max ? total - max : 0;
        size = total - skip;
        out = malloc(size + 1);
        if (!out)
                return -ENOMEM;
        {
                size_t at = 0, pos = 0;

                for (size_t i = n; i > 0; i--) {
                        const char *l = lines[i - 1];
                        size_t len = strlen(l);

                        for (size_t k = 0; k <= len; k++, pos++)
                                if (pos >= skip)
                                        out[at++] = k < len ? l[k] : '\n';
                }
                out[at] = 0;
        }
        *ret = TAKE_PTR(out);
        *ret_size = size;
        return 0;
}

/* ---- the choice ---- */

int grains_systemd_open_bus(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        assert(ret);

        if (sd_booted() <= 0)
                return -EOPNOTSUPP;
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_method_call_timeout(bus, BUS_PROBE_TIMEOUT_USEC);
        if (r < 0)
                return r;
        /* Does systemd answer there? A cheap call with a short deadline, once, before the loop runs. */
        r = sd_bus_call_method(bus, SYSTEMD_SERVICE, SYSTEMD_PATH, "org.freedesktop.DBus.Peer", "Ping", &error,
                               &reply, "");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}
