/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The systemd backend without systemd: the unit names, the SystemCallFilter= list a policy gives, the
 * properties of a grain's socket and service byte for byte, and the D-Bus message they become (read back
 * from a sealed message on a bus that never reaches a daemon). */

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "front/grains-systemd.h"
#include "grain/policy.h"

#define POLICY_TEXT                                                                                          \
        "default ENOSYS\n"                                                                                   \
        "allow write read openat setrlimit no_such_call\n"                                                   \
        "errno EPERM mount chown\n"                                                                          \
        "errno 0 sync\n"                                                                                     \
        "errno ENOSYS bpf seccomp\n"                                                                         \
        "filter ioctl ENOTTY\n"                                                                              \
        "when ioctl arg1==0x5421\n"

static Policy *small_policy(void) {
        Policy *p = NULL;

        assert_int_equal(policy_parse(POLICY_TEXT, &p, NULL), 0);
        return p;
}

static void test_unit_names(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        char *x = NULL;

        assert_int_equal(grains_systemd_unit_name("aB3-_x", "socket", &a), 0);
        assert_string_equal(a, "granary-grain@aB3-_x.socket");
        assert_int_equal(grains_systemd_unit_name("aB3-_x", "service", &b), 0);
        assert_string_equal(b, "granary-grain@aB3-_x.service");

        /* Nothing outside the id alphabet ever reaches a unit name. */
        assert_int_equal(grains_systemd_unit_name("a.b", "service", &x), -EINVAL);
        assert_int_equal(grains_systemd_unit_name("a/b", "service", &x), -EINVAL);
        assert_int_equal(grains_systemd_unit_name("a b", "service", &x), -EINVAL);
        assert_int_equal(grains_systemd_unit_name("", "service", &x), -EINVAL);
        assert_int_equal(grains_systemd_unit_name(NULL, "service", &x), -EINVAL);
        assert_int_equal(grains_systemd_unit_name("abc", "timer", &x), -EINVAL);
        assert_null(x);
}

static void test_syscall_filter_small(void **state) {
        _cleanup_(policy_freep) Policy *p = small_policy();
        _cleanup_strv_free_ char **l = NULL;
        static const char *const want[] = { "ioctl", "openat", "read", "seccomp", "write" };

        assert_int_equal(grains_systemd_syscall_filter(p, &l), 0);
        /* allowed and filtered calls, sorted, with seccomp for the bridge's layer; no errno rule, nothing of
         * @resources, no name libseccomp does not know */
        assert_int_equal(strv_length(l), ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                assert_string_equal(l[i], want[i]);
}

static void test_syscall_filter_builtin(void **state) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_strv_free_ char **l = NULL;
        static const char *const in[] = { "openat", "clone", "prctl", "socket", "socketpair", "execve",
                                          "seccomp", "prlimit64", "ioctl", "epoll_wait" };
        static const char *const out[] = { "mount", "chown", "ptrace", "sync", "bpf", "setrlimit",
                                           "setpriority", "sched_setscheduler", "unshare", "reboot",
                                           "clone3", "io_uring_setup", "keyctl", "personality" };

        assert_int_equal(policy_parse(policy_builtin(), &p, NULL), 0);
        assert_int_equal(grains_systemd_syscall_filter(p, &l), 0);
        for (size_t i = 0; i < ELEMENTSOF(in); i++)
                assert_true(strv_contains(l, in[i]));
        for (size_t i = 0; i < ELEMENTSOF(out); i++)
                assert_false(strv_contains(l, out[i]));
        for (size_t i = 1; l[i]; i++)
                assert_true(strcmp(l[i - 1], l[i]) < 0);
}

static char *argv_[] = { "/sandstorm-http-bridge", "8000", "--", "/opt/app/run.sh", NULL };
static char *envp_[] = { "HOME=/var", "SANDSTORM=1", "GRANARY_GRAIN_IDLE_SEC=120", "GRANARY_GRAIN_SECCOMP=0",
                         NULL };

static GrainUnitSpec spec(bool first) {
        return (GrainUnitSpec) {
                .id = "g1",
                .package_id = "0123456789abcdef",
                .package_dir = "/var/lib/granary/packages/0123456789abcdef",
                .var_dir = "/var/lib/granary/grains/g1/var",
                .argv = argv_,
                .envp = envp_,
                .first = first,
        };
}

/* A bus that is "open" (authenticating over one end of a socketpair) is enough to build messages. */
static void test_argv_escape(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        char *x = NULL;
        char *argv[] = { "/sandstorm-http-bridge", "8000", "--", "/opt/a b", "", "x\ny'\"$\\", "\xc3\xa9", NULL };
        char *one[] = { "/bin/true", NULL };
        char *none[] = { NULL };

        assert_int_equal(grains_systemd_argv_escape(argv, &a), 0);
        assert_string_equal(a, "/sandstorm-http-bridge 8000 -- /opt/a\\x20b '' x\\x0ay\\x27\\x22\\x24\\x5c \\xc3\\xa9");
        assert_int_equal(grains_systemd_argv_escape(one, &b), 0);
        assert_string_equal(b, "/bin/true");
        assert_int_equal(grains_systemd_argv_escape(none, &x), -EINVAL);
        assert_int_equal(grains_systemd_argv_escape(NULL, &x), -EINVAL);
        assert_null(x);
}

static void test_environment(void **state) {
        _cleanup_free_ char *first = NULL, *cont = NULL, *none = NULL;
        char *x = NULL;
        char *env[] = { "A=x\"y$z`w\\v c", "GRANARY_GRAIN_ARGV=/bin/sh", "GRANARY_GRAIN_ENV=B=1", "B=",
                        "LD_PRELOAD=/var/x.so", NULL };
        char *empty[] = { NULL };
        char *bad[] = { "NOEQUALS", NULL };
        char *bad2[] = { "=v", NULL };
        char *bad3[] = { "A-B=v", NULL };
        GrainUnitSpec s = spec(true);

        assert_int_equal(grains_systemd_environment(&s, &first), 0);
        assert_string_equal(first,
                            "# granary grain g1: package 0123456789abcdef, first start\n"
                            "GRANARY_GRAIN_SECCOMP=\"1\"\n"
                            "GRANARY_GRAIN_ENV=\"HOME=/var SANDSTORM=1 GRANARY_GRAIN_IDLE_SEC=120\"\n"
                            "GRANARY_GRAIN_ARGV=\"/sandstorm-http-bridge 8000 -- /opt/app/run.sh\"\n");
        s = spec(false);
        s.envp = env;
        assert_int_equal(grains_systemd_environment(&s, &cont), 0);
        /* The package's variables are one word list that only --granary-exec unpacks: no line of the file,
         * which every command of the unit gets (the root one of ExecStopPost= too), is the package's. The
         * manifest cannot set the command line nor turn the seccomp layer off; each byte comes back. */
        assert_string_equal(cont,
                            "# granary grain g1: package 0123456789abcdef\n"
                            "GRANARY_GRAIN_SECCOMP=\"1\"\n"
                            "GRANARY_GRAIN_ENV=\"A=x\\\\x22y\\\\x24z\\\\x60w\\\\x5cv\\\\x20c B= "
                            "LD_PRELOAD=/var/x.so\"\n"
                            "GRANARY_GRAIN_ARGV=\"/sandstorm-http-bridge 8000 -- /opt/app/run.sh\"\n");
        s.envp = empty;
        assert_int_equal(grains_systemd_environment(&s, &none), 0);
        assert_non_null(strstr(none, "\nGRANARY_GRAIN_ENV=\"\"\n"));
        s.envp = bad;
        assert_int_equal(grains_systemd_environment(&s, &x), -EINVAL);
        s.envp = bad2;
        assert_int_equal(grains_systemd_environment(&s, &x), -EINVAL);
        s.envp = bad3;
        assert_int_equal(grains_systemd_environment(&s, &x), -EINVAL);
        s.envp = envp_;
        s.id = "../g1";
        assert_int_equal(grains_systemd_environment(&s, &x), -EINVAL);
        assert_null(x);
}

/* A package tree in dir/name: top-level entries of each kind, the reserved ones among them. */
static void make_package(int dir_fd, const char *name, const char *extra) {
        _cleanup_close_ int fd = -EBADF;

        assert_int_equal(mkdirat(dir_fd, name, 0755), 0);
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(mkdirat(fd, "usr", 0755), 0);
        assert_int_equal(mkdirat(fd, "var", 0755), 0);
        assert_int_equal(mkdirat(fd, "proc", 0755), 0);
        assert_int_equal(symlinkat("usr/bin", fd, "bin"), 0);
        assert_int_equal(write_file_atomic_at(fd, "sandstorm-manifest", "m", 1, 0644), 0);
        assert_int_equal(write_file_atomic_at(fd, "sandstorm-http-bridge", "b", 1, 0755), 0);
        assert_int_equal(write_file_atomic_at(fd, ".granary-package", "x", 1, 0644), 0);
        assert_int_equal(write_file_atomic_at(fd, "sys", "s", 1, 0644), 0);
        if (extra)
                assert_int_equal(mkdirat(fd, extra, 0755), 0);
}

static void assert_link(int dir_fd, const char *path, const char *want) {
        char buf[256];
        ssize_t n;

        n = readlinkat(dir_fd, path, buf, sizeof(buf) - 1);
        assert_true(n > 0);
        buf[n] = 0;
        assert_string_equal(buf, want);
}

/* The names in dir_fd/path, sorted, joined by ' '. */
static char *list_dir(int dir_fd, const char *path) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_(strbuf_done) StrBuf b = STRBUF_INIT;
        DIR *d;
        int fd;

        fd = openat(dir_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        assert_true(fd >= 0);
        d = fdopendir(fd);
        assert_non_null(d);
        assert_int_equal(dir_names(d, NULL, NULL, &names), 0);
        closedir(d);
        STRV_FOREACH(n, names)
                assert_true(strbuf_printf(&b, "%s%s", b.len ? " " : "", *n) >= 0);
        return strbuf_steal(&b, NULL) ?: strdup("");
}

static void test_write_start(void **state) {
        char dir[] = "/tmp/test-grains-systemd.XXXXXX";
        _cleanup_free_ char *env = NULL, *want = NULL, *names = NULL, *pkg1 = NULL, *pkg2 = NULL, *grain = NULL;
        struct stat st;
        GrainUnitSpec s = spec(true);
        int top, fd;

        assert_non_null(mkdtemp(dir));
        top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(top >= 0);
        make_package(top, "pkg1", NULL);
        make_package(top, "pkg2", "opt");
        assert_int_equal(mkdirat(top, "grain", 0700), 0);
        pkg1 = path_join(dir, "pkg1");
        pkg2 = path_join(dir, "pkg2");
        grain = path_join(dir, "grain");
        s.grain_dir = grain;
        s.package_dir = pkg1;
        fd = openat(top, "grain", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);

        assert_int_equal(grains_systemd_write_start(&s), 1);
        assert_int_equal(read_full_file_at(fd, "environment", 65536, &env, NULL), 0);
        assert_int_equal(grains_systemd_environment(&s, &want), 0);
        assert_string_equal(env, want);
        assert_int_equal(fstatat(fd, "environment", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_link(fd, "package", pkg1);
        /* The root: its mount points, and links for the rest of the package's top level. */
        names = list_dir(fd, "root");
        assert_string_equal(names, ".granary-package bin dev proc sandstorm-http-bridge sandstorm-manifest sys "
                                   "tmp usr var");
        assert_int_equal(fstatat(fd, "root/sys", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISDIR(st.st_mode)); /* the package's own sys (a file here) is not linked */
        assert_int_equal(fstatat(fd, "root", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(fstatat(fd, "root/.granary-package", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(fstatat(fd, "root/var", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(fstatat(fd, "root/sandstorm-http-bridge", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_size, 0);
        assert_link(fd, "root/usr", ".granary-package/usr");
        assert_link(fd, "root/bin", ".granary-package/bin");
        assert_link(fd, "root/sandstorm-manifest", ".granary-package/sandstorm-manifest");

        /* Nothing changed: nothing written. Mount points systemd made stay; one where the next package has an
         * entry goes. */
        assert_int_equal(grains_systemd_write_start(&s), 0);
        assert_int_equal(mkdirat(fd, "root/run", 0755), 0);
        assert_int_equal(mkdirat(fd, "root/run/systemd", 0755), 0);
        assert_int_equal(mkdirat(fd, "root/opt", 0755), 0);
        assert_int_equal(grains_systemd_write_start(&s), 0);
        assert_int_equal(fstatat(fd, "root/run/systemd", &st, AT_SYMLINK_NOFOLLOW), 0);

        /* An upgrade and the first start done: all move, and no temporary is left. */
        s.first = false;
        s.package_dir = pkg2;
        assert_int_equal(grains_systemd_write_start(&s), 1);
        assert_link(fd, "package", pkg2);
        free(names);
        names = list_dir(fd, "root");
        assert_string_equal(names, ".granary-package bin dev opt proc run sandstorm-http-bridge sandstorm-manifest "
                                   "sys tmp usr var");
        assert_link(fd, "root/opt", ".granary-package/opt");
        assert_int_equal(faccessat(fd, ".#package.new", F_OK, AT_SYMLINK_NOFOLLOW), -1);
        free(env);
        env = NULL;
        assert_int_equal(read_full_file_at(fd, "environment", 65536, &env, NULL), 0);
        assert_true(startswith(env, "# granary grain g1: package 0123456789abcdef\n"));

        /* A root someone changed is made right again; so is the link of an older layout, and a link where a
         * mount point must be (a package's own "sys", linked before the name was reserved). */
        assert_int_equal(unlinkat(fd, "root/opt", 0), 0);
        assert_int_equal(unlinkat(fd, "root/sys", AT_REMOVEDIR), 0);
        assert_int_equal(symlinkat(".granary-package/sys", fd, "root/sys"), 0);
        assert_int_equal(grains_systemd_write_start(&s), 1);
        assert_link(fd, "root/opt", ".granary-package/opt");
        assert_int_equal(fstatat(fd, "root/sys", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(rm_rf_at(fd, "root"), 0);
        assert_int_equal(symlinkat(pkg2, fd, "root"), 0);
        assert_int_equal(grains_systemd_write_start(&s), 1);
        assert_int_equal(fstatat(fd, "root", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(grains_systemd_write_start(&s), 0);

        s.grain_dir = "relative";
        assert_int_equal(grains_systemd_write_start(&s), -EINVAL);
        s.grain_dir = grain;
        s.package_dir = "/nonexistent/package";
        assert_int_equal(grains_systemd_write_start(&s), -ENOENT);

        close(fd);
        close(top);
        assert_int_equal(rm_rf_path(dir), 0);
}

/* The SystemCallFilter= words of a unit file, in order. */
static char **unit_filter_words(const char *path) {
        _cleanup_free_ char *text = NULL;
        char **words = NULL;

        assert_int_equal(read_full_file_at(AT_FDCWD, path, 1 << 20, &text, NULL), 0);
        for (char *l = text, *e; l && *l; l = e ? e + 1 : NULL) {
                e = strchr(l, '\n');
                if (e)
                        *e = 0;
                if (!startswith(l, "SystemCallFilter="))
                        continue;
                for (char *w = l + strlen("SystemCallFilter="), *sp; w && *w; w = sp ? sp + 1 : NULL) {
                        sp = strchr(w, ' ');
                        if (sp)
                                *sp = 0;
                        assert_int_equal(strv_extend(&words, w), 0);
                }
        }
        return words;
}

/* The template as the build writes it (units/, by grain-unit.c from the source's one marker line) lists
 * what the built-in policy gives, word for word, and the line that says so is short enough to read. */
static void test_template_syscall_filter(void **state) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_strv_free_ char **want = NULL, **got = NULL, **marker = NULL;
        _cleanup_free_ char *in = NULL, *out = NULL, *text = NULL;
        const char *build = getenv("BUILD_ROOT"), *source = getenv("SOURCE_ROOT");

        assert_non_null(build);
        assert_non_null(source);
        in = path_join(source, "units/granary-grain@.service.in");
        out = path_join(build, "units/granary-grain@.service");
        assert_non_null(in);
        assert_non_null(out);

        marker = unit_filter_words(in);
        assert_int_equal(strv_length(marker), 1);
        assert_string_equal(marker[0], "[policies/grain.syscalls]");

        got = unit_filter_words(out);
        assert_int_equal(policy_parse(policy_builtin(), &p, NULL), 0);
        assert_int_equal(grains_systemd_syscall_filter(p, &want), 0);
        assert_int_equal(strv_length(got), strv_length(want));
        for (size_t i = 0; want[i]; i++)
                assert_string_equal(got[i], want[i]);

        assert_int_equal(read_full_file_at(AT_FDCWD, out, 1 << 20, &text, NULL), 0);
        for (char *l = text, *e; l && *l; l = e ? e + 1 : NULL) {
                e = strchr(l, '\n');
                if (startswith(l, "SystemCallFilter="))
                        assert_true((size_t) ((e ? e : l + strlen(l)) - l) <= 120);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unit_names),
                cmocka_unit_test(test_syscall_filter_small),
                cmocka_unit_test(test_syscall_filter_builtin),
                cmocka_unit_test(test_argv_escape),
                cmocka_unit_test(test_environment),
                cmocka_unit_test(test_write_start),
                cmocka_unit_test(test_template_syscall_filter),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
