/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <getopt.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/string-util.h"
#include "spk/spk-tool.h"

int spk_option_error(int opt, char *const argv[]) {
        const char *arg = optind > 0 ? argv[optind - 1] : "";

        if (opt == ':')
                log_error("%s: option '%s' needs an argument", argv[0], arg);
        else if (optopt > 0)
                log_error("%s: unknown option '-%c'; see 'spk %s --help'", argv[0], optopt, argv[0]);
        else
                log_error("%s: unknown option '%s'; see 'spk %s --help'", argv[0], arg, argv[0]);
        return 1;
}

char *spk_find_bridge(void) {
        _cleanup_free_ char *exe = NULL, *bindir = NULL, *rel = NULL;
        const char *e = getenv("SPK_BRIDGE_PATH");

        if (!isempty(e))
                return strdup(e);

        exe = realpath("/proc/self/exe", NULL);
        if (exe) {
                bindir = path_dirname(exe);
                if (bindir) {
                        rel = path_join(bindir, "../libexec/granary/granary-grain");
                        if (rel && access(rel, X_OK) >= 0)
                                return TAKE_PTR(rel);
                }
        }
        if (access(LIBEXECDIR "/granary-grain", X_OK) >= 0)
                return strdup(LIBEXECDIR "/granary-grain");
        return NULL;
}

char *spk_keyring_path(const char *arg) {
        const char *home;

        if (arg)
                return strdup(arg);
        home = getenv("HOME");
        if (isempty(home))
                home = "/";
        return path_join(home, ".sandstorm-keyring");
}

int spk_pkgdef_arg_parse(const char *arg, char **ret_file, char **ret_const) {
        _cleanup_free_ char *file = NULL, *name = NULL;
        const char *colon;

        assert(ret_file);
        assert(ret_const);

        if (!arg)
                arg = "sandstorm-pkgdef.capnp";
        colon = strrchr(arg, ':');
        if (colon) {
                file = strndup_safe(arg, (size_t) (colon - arg));
                name = strdup(colon + 1);
        } else {
                file = strdup(arg);
                name = strdup("pkgdef");
        }
        if (!file || !name)
                return -ENOMEM;
        if (isempty(file) || isempty(name))
                return -EINVAL;

        *ret_file = TAKE_PTR(file);
        *ret_const = TAKE_PTR(name);
        return 0;
}

int spk_pkgdef_arg_load(const char *arg, char ***import_path, SpkPkgdef *ret) {
        _cleanup_free_ char *file = NULL, *name = NULL, *error = NULL;
        int r;

        assert(import_path);
        assert(ret);

        if (strv_extend(import_path, "/usr/local/include") < 0 || strv_extend(import_path, "/usr/include") < 0)
                return log_oom();
        r = spk_pkgdef_arg_parse(arg, &file, &name);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Invalid package definition '%s': expected FILE or FILE:CONST", arg);
        r = spk_pkgdef_load(file, name, *import_path, ret, &error);
        if (r < 0 && error)
                return log_error_errno(r, "%s", error);
        if (r < 0)
                return log_error_errno(r, "Failed to load '%s': %m", file);
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

void spk_progress_init(SpkProgress *p, const char *label, uint64_t total, bool quiet) {
        *p = (SpkProgress) {
                .label = label,
                .total = total,
                .enabled = !quiet && isatty(STDERR_FILENO),
        };
}

void spk_progress_update(SpkProgress *p, uint64_t done) {
        uint64_t now;

        p->done = done;
        if (!p->enabled)
                return;
        now = now_usec();
        if (p->drawn && now - p->last_draw_usec < 100000)
                return;
        p->last_draw_usec = now;
        p->drawn = true;

        if (p->total > 0)
                fprintf(stderr, "\r\033[K%s %3u%% %.1f MiB / %.1f MiB", p->label,
                        (unsigned) (MIN(done, p->total) * 100 / p->total), done / 1048576.0,
                        p->total / 1048576.0);
        else
                fprintf(stderr, "\r\033[K%s %.1f MiB", p->label, done / 1048576.0);
        fflush(stderr);
}

void spk_progress_finish(SpkProgress *p) {
        if (p->enabled && p->drawn) {
                fputs("\r\033[K", stderr);
                fflush(stderr);
        }
        p->drawn = false;
}

void spk_progress_callback(void *userdata, uint64_t done, uint64_t total) {
        SpkProgress *p = userdata;

        if (total)
                p->total = total;
        spk_progress_update(p, done);
}
