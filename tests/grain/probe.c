/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * probe — run inside a grain's sandbox, says whether the sandbox is what SECURITY.md "The grain sandbox"
 * promises. Each check calls one system call with arguments chosen so that "allowed" and "denied" give
 * different answers (fd -1: EBADF when allowed; ENOSYS or EPERM from the filter when denied), and prints
 *
 *   ok <name>
 *   not ok <name> (got errno X, want Y)
 *
 * plus identity, filesystem, network and limit checks. Linked -static: it needs nothing from the package.
 *
 *   probe                 runs every check once; exit status 0 iff all passed
 *   probe serve PORT      HTTP/1.1 on 127.0.0.1:PORT: GET / runs every check and answers 200 text/plain
 *                         with the lines (so that it can run as a grain behind /sandstorm-http-bridge);
 *                         GET /?absent=PATH:PATH sets PROBE_ABSENT for that run, and the port in the Host
 *                         header (the forwarding server's, on the host's loopback) is PROBE_HOST_PORT
 *                         unless that is set
 *   probe euid            prints its effective uid (run through a setuid copy to see nosuid at work)
 *   probe ls DIR          prints the names in DIR, one a line, sorted
 *
 * Environment: PROBE_HOST_PORT, a TCP port listening on the host's loopback (connecting must fail);
 * PROBE_ABSENT, host paths separated by ':' that must not exist inside (another grain's storage, the
 * package's host path, a marker in the host's /tmp); PROBE_NO_LIMITS=1 skips the fork bomb and the
 * memory hog (for sandboxes started without limits).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define FORK_BOMB_MAX 1024
#define MEMORY_HOG_MAX (1024UL * 1024 * 1024)
#define MEMORY_HOG_STEP (1024UL * 1024)
#define REQUEST_MAX 8192

static FILE *out;
static unsigned failed;

/* The systemd backend (GET /systemd…): systemd 252 builds the sandbox, and where it cannot do what the
 * direct backend does, the probe checks what it does instead (README, "The sandbox under systemd"). */
static bool under_systemd(void) {
        return getenv("PROBE_SYSTEMD") != NULL;
}

static void pass(const char *name) {
        fprintf(out, "ok %s\n", name);
}

static void fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *name, const char *fmt, ...) {
        va_list ap;

        fprintf(out, "not ok %s (", name);
        va_start(ap, fmt);
        vfprintf(out, fmt, ap);
        va_end(ap);
        fprintf(out, ")\n");
        failed++;
}

static void skip(const char *name, const char *why) {
        fprintf(out, "ok %s # SKIP %s\n", name, why);
}

static const char *errno_name(int e) {
        const char *n = e == 0 ? "none" : strerrorname_np(e);
        return n ? n : "?";
}

/* r is a raw result (-1 and errno on failure). want 0: must succeed. */
static void expect(const char *name, long r, int want) {
        int e = r < 0 ? errno : 0;

        if (want == 0 && r >= 0)
                pass(name);
        else if (want != 0 && r < 0 && e == want)
                pass(name);
        else if (r >= 0)
                fail(name, "got success, want %s", errno_name(want));
        else
                fail(name, "got errno %s, want %s", errno_name(e), errno_name(want));
}

/* Runs the call in a child (for calls that would change the probe itself if allowed), which exits with the
 * errno (0 on success). */
static void expect_in_child(const char *name, long (*fn)(void), int want) {
        pid_t pid = fork();
        int status;

        if (pid < 0) {
                fail(name, "fork: %s", errno_name(errno));
                return;
        }
        if (pid == 0) {
                long r = fn();
                _exit(r < 0 ? errno : 0);
        }
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) {
                fail(name, "child did not exit");
                return;
        }
        errno = WEXITSTATUS(status);
        expect(name, errno == 0 ? 0 : -1, want);
}

static long do_unshare_user(void) {
        return unshare(CLONE_NEWUSER);
}

static long do_unshare_ns(void) {
        return unshare(CLONE_NEWNS);
}

static long clone_flags(unsigned long flags) {
        long r = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);

        if (r == 0)
                _exit(0);
        if (r > 0) {
                (void) waitpid((pid_t) r, NULL, 0);
                return 0;
        }
        return r;
}

static long do_clone_newuser(void) {
        return clone_flags(CLONE_NEWUSER);
}

static long do_clone_newns(void) {
        return clone_flags(CLONE_NEWNS);
}

static long do_clone_newnet(void) {
        return clone_flags(CLONE_NEWNET);
}

static long do_fork(void) {
        return clone_flags(0);
}

static void check_syscalls(void) {
        struct sched_param sp = { 0 };
        struct timespec ts = { 0, 0 };
        char buf[16];
        int fds[2];
        long r;

        /* Denied by name (ENOSYS, the default answer). */
        expect("add_key", syscall(SYS_add_key, NULL, NULL, NULL, 0, 0), ENOSYS);
        expect("request_key", syscall(SYS_request_key, NULL, NULL, NULL, 0), ENOSYS);
        expect("keyctl", syscall(SYS_keyctl, 9999, 0, 0, 0, 0), ENOSYS);
        expect("bpf", syscall(SYS_bpf, -1, NULL, 0), ENOSYS);
        expect("seccomp", syscall(SYS_seccomp, 0xff, 0, NULL), ENOSYS);
        expect("userfaultfd", syscall(SYS_userfaultfd, ~0), ENOSYS);
        expect("perf_event_open", syscall(SYS_perf_event_open, NULL, -1, -1, -1, 0), ENOSYS);
        expect("process_vm_readv", syscall(SYS_process_vm_readv, -1, NULL, 0, NULL, 0, 0), ENOSYS);
        expect("process_vm_writev", syscall(SYS_process_vm_writev, -1, NULL, 0, NULL, 0, 0), ENOSYS);
        expect("kcmp", syscall(SYS_kcmp, -1, -1, 0, 0, 0), ENOSYS);
        expect("pidfd_getfd", syscall(SYS_pidfd_getfd, -1, 0, 0), ENOSYS);
        expect_in_child("unshare CLONE_NEWUSER", do_unshare_user, ENOSYS);
        expect_in_child("unshare CLONE_NEWNS", do_unshare_ns, ENOSYS);
        expect("setns", syscall(SYS_setns, -1, 0), ENOSYS);
        expect("clone3", syscall(SYS_clone3, NULL, 0), ENOSYS);
        expect("io_uring_setup", syscall(SYS_io_uring_setup, 0, NULL), ENOSYS);
        expect("io_setup", syscall(SYS_io_setup, 0, NULL), ENOSYS);
        expect("init_module", syscall(SYS_init_module, NULL, 0, ""), ENOSYS);
        expect("finit_module", syscall(SYS_finit_module, -1, "", 0), ENOSYS);
        expect("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0), ENOSYS);
        /* No magic numbers: even allowed, this reboots nothing (EINVAL). */
        expect("reboot", syscall(SYS_reboot, 0, 0, 0, NULL), ENOSYS);
        expect("personality", syscall(SYS_personality, 0xffffffff), ENOSYS);
#ifdef SYS_modify_ldt
        expect("modify_ldt", syscall(SYS_modify_ldt, 0, NULL, 0), ENOSYS);
#endif
        expect("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0), ENOSYS);
        expect("name_to_handle_at", syscall(SYS_name_to_handle_at, -1, "", NULL, NULL, 0), ENOSYS);
#ifdef SYS_iopl
        expect("iopl", syscall(SYS_iopl, 3), ENOSYS);
        expect("ioperm", syscall(SYS_ioperm, 0, 1, 1), ENOSYS);
#endif
        expect("swapon", syscall(SYS_swapon, NULL, 0), ENOSYS);
        expect("quotactl", syscall(SYS_quotactl, 0, NULL, 0, NULL), ENOSYS);
        expect("acct", syscall(SYS_acct, NULL), ENOSYS);
        expect("syslog", syscall(SYS_syslog, 10, NULL, 0), ENOSYS);
        expect("mbind", syscall(SYS_mbind, NULL, 0, 0, NULL, 0, 0), ENOSYS);
        expect("set_mempolicy", syscall(SYS_set_mempolicy, 0, NULL, 0), ENOSYS);
        expect("vmsplice", syscall(SYS_vmsplice, -1, NULL, 0, 0), ENOSYS);

        /* Denied with a permission error. */
        expect("ptrace", syscall(SYS_ptrace, PTRACE_PEEKDATA, -1, NULL, NULL), EPERM);
        expect("mount", syscall(SYS_mount, "none", "/", NULL, MS_REMOUNT, NULL), EPERM);
        expect("umount2", syscall(SYS_umount2, "/", 0), EPERM);
        expect("pivot_root", syscall(SYS_pivot_root, ".", "."), EPERM);
        expect("chroot", syscall(SYS_chroot, "/"), EPERM);
        expect("fchown", syscall(SYS_fchown, -1, 0, 0), EPERM);
        expect("setuid 0", syscall(SYS_setuid, 0), EPERM);
        expect("setgroups", syscall(SYS_setgroups, 0, NULL), EPERM);
        expect("clock_settime", syscall(SYS_clock_settime, CLOCK_REALTIME, NULL), EPERM);
        expect("settimeofday", syscall(SYS_settimeofday, NULL, NULL), EPERM);
        expect("sethostname", syscall(SYS_sethostname, "x", 1), EPERM);
        expect("sched_setscheduler SCHED_FIFO", syscall(SYS_sched_setscheduler, -1, SCHED_FIFO, &sp), EPERM);
        /* both backends run grains as batch work */
        r = sched_getscheduler(0);
        if (r == SCHED_BATCH)
                pass("scheduled as batch work");
        else
                fail("scheduled as batch work", "policy %ld, want SCHED_BATCH", r);
        expect_in_child("clone CLONE_NEWUSER", do_clone_newuser, EPERM);
        expect_in_child("clone CLONE_NEWNS", do_clone_newns, EPERM);
        expect_in_child("clone CLONE_NEWNET", do_clone_newnet, EPERM);

        /* Argument filters. */
        expect("ioctl TIOCSTI", syscall(SYS_ioctl, -1, TIOCSTI, "x"), ENOTTY);
        expect("ioctl TCGETS", syscall(SYS_ioctl, -1, TCGETS, NULL), ENOTTY);
        expect("ioctl FIONREAD", syscall(SYS_ioctl, -1, FIONREAD, NULL), EBADF);
        expect("ioctl FIOCLEX high bits", syscall(SYS_ioctl, -1, 0xffffffff00000000UL | FIOCLEX), EBADF);
        expect("socket AF_NETLINK", socket(AF_NETLINK, SOCK_RAW, 0), EAFNOSUPPORT);
        expect("socket AF_PACKET", socket(AF_PACKET, SOCK_RAW, 0), EAFNOSUPPORT);
        expect("socket SOCK_RAW", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), EAFNOSUPPORT);
        expect("socketpair AF_INET", socketpair(AF_INET, SOCK_STREAM, 0, fds), EAFNOSUPPORT);
        expect("prctl PR_GET_SECCOMP", prctl(PR_GET_SECCOMP), EINVAL);
        expect("prctl PR_CAP_AMBIENT", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), EINVAL);

        /* Allowed, and must keep working. */
        expect("read", syscall(SYS_read, -1, buf, 1), EBADF);
        expect("close", syscall(SYS_close, -1), EBADF);
        expect("fstat", syscall(SYS_fstat, -1, NULL), EBADF);
        /* Under systemd the @resources calls are left out of SystemCallFilter= (src/front/grains-systemd.c). */
        expect("sched_setscheduler SCHED_OTHER", syscall(SYS_sched_setscheduler, -1, SCHED_OTHER, &sp),
               under_systemd() ? ENOSYS : EINVAL);
        expect("socket AF_INET6", r = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
        if (r >= 0)
                close((int) r);
        expect("socket AF_UNIX", r = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0), 0);
        if (r >= 0)
                close((int) r);
        expect("socketpair AF_UNIX", r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        if (r >= 0) {
                close(fds[0]);
                close(fds[1]);
        }
        expect("pipe2", r = pipe2(fds, O_CLOEXEC), 0);
        if (r >= 0) {
                expect("ioctl FIONREAD on a pipe", ioctl(fds[0], FIONREAD, &(int) { 0 }), 0);
                expect("isatty says no", isatty(fds[0]) ? 0 : -1, ENOTTY);
                close(fds[0]);
                close(fds[1]);
        }
        expect("epoll_create1", r = syscall(SYS_epoll_create1, EPOLL_CLOEXEC), 0);
        if (r >= 0)
                close((int) r);
        expect("getrandom", syscall(SYS_getrandom, buf, sizeof(buf), 0), 0);
        expect("clock_gettime", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts), 0);
        expect("prctl PR_SET_NAME", prctl(PR_SET_NAME, "probe"), 0);
        expect_in_child("fork", do_fork, 0);
        expect("sync is a no-op", syscall(SYS_sync), 0);
        expect("syncfs is a no-op", syscall(SYS_syncfs, -1), 0);
        expect("chown", syscall(SYS_fchownat, AT_FDCWD, "/var", 1000, 1000, 0), EPERM);
        expect("getxattr", syscall(SYS_getxattr, "/", "user.x", NULL, 0), EOPNOTSUPP);
}

/* "Key:\tvalue" of /proc/self/status, into buf. */
static bool status_field(const char *key, char *buf, size_t size) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[512];
        size_t n = strlen(key);
        bool found = false;

        if (!f)
                return false;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, n) == 0 && line[n] == ':') {
                        const char *v = line + n + 1;

                        v += strspn(v, " \t");
                        snprintf(buf, size, "%.*s", (int) strcspn(v, "\n"), v);
                        found = true;
                        break;
                }
        fclose(f);
        return found;
}

static void expect_status(const char *name, const char *key, const char *want) {
        char v[256];

        if (!status_field(key, v, sizeof(v)))
                fail(name, "no %s in /proc/self/status", key);
        else if (strcmp(v, want) != 0)
                fail(name, "%s is '%s', want '%s'", key, v, want);
        else
                pass(name);
}

static void check_identity(void) {
        struct utsname u;
        char groups[256];

        if (under_systemd()) {
                /* A dynamic user of the grain's own, the same inside and out (PrivateUsers= maps it). */
                char v[256], want[64];
                unsigned long id = getuid();

                snprintf(want, sizeof(want), "%lu\t%lu\t%lu\t%lu", id, id, id, id);
                if (id < 61184 || id > 65519 || !status_field("Uid", v, sizeof(v)) || strcmp(v, want) != 0)
                        fail("uid of a dynamic user", "uid %lu", id);
                else
                        pass("uid of a dynamic user");
                id = getgid();
                snprintf(want, sizeof(want), "%lu\t%lu\t%lu\t%lu", id, id, id, id);
                if (id != getuid() || !status_field("Gid", v, sizeof(v)) || strcmp(v, want) != 0)
                        fail("gid of the dynamic user", "gid %lu", id);
                else
                        pass("gid of the dynamic user");
        } else {
                expect_status("uid 1000", "Uid", "1000\t1000\t1000\t1000");
                expect_status("gid 1000", "Gid", "1000\t1000\t1000\t1000");
        }
        expect_status("CapEff 0", "CapEff", "0000000000000000");
        expect_status("CapPrm 0", "CapPrm", "0000000000000000");
        expect_status("CapInh 0", "CapInh", "0000000000000000");
        expect_status("CapBnd 0", "CapBnd", "0000000000000000");
        expect_status("CapAmb 0", "CapAmb", "0000000000000000");
        expect_status("NoNewPrivs 1", "NoNewPrivs", "1");
        expect_status("Seccomp 2", "Seccomp", "2");

        /* Supplementary groups: none, or only ones that mean nothing here (unmapped, shown as 65534), or the
         * grain's own. */
        if (!status_field("Groups", groups, sizeof(groups)))
                fail("no host groups", "no Groups in /proc/self/status");
        else {
                bool bad = false;

                for (char *t = strtok(groups, " \t"); t; t = strtok(NULL, " \t"))
                        if (strcmp(t, "1000") != 0 && strcmp(t, "65534") != 0 &&
                            strtoul(t, NULL, 10) != (unsigned long) getgid())
                                bad = true;
                if (bad)
                        fail("no host groups", "groups include a mapped host group");
                else
                        pass("no host groups");
        }

        {
                struct rlimit rl;

                if (getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
                        fail("no core dumps", "RLIMIT_CORE is not 0");
                else
                        pass("no core dumps");
        }

        if (under_systemd())
                skip("hostname sandbox", "systemd 252 gives the unit a UTS namespace, not a name");
        else if (uname(&u) < 0 || strcmp(u.nodename, "sandbox") != 0)
                fail("hostname sandbox", "hostname '%s'", u.nodename);
        else
                pass("hostname sandbox");
}

static void expect_mount_flags(const char *name, const char *path, unsigned long want, bool rdonly) {
        struct statvfs sv;

        /* systemd 252 cannot bind with nodev; DevicePolicy=closed denies every device but its own instead. */
        if (under_systemd())
                want &= ~(unsigned long) ST_NODEV;
        if (statvfs(path, &sv) < 0)
                fail(name, "statvfs %s: %s", path, errno_name(errno));
        else if ((sv.f_flag & want) != want)
                fail(name, "%s mounted with flags 0x%lx, want 0x%lx", path, sv.f_flag, want);
        else if (!!(sv.f_flag & ST_RDONLY) != rdonly)
                fail(name, "%s is %s", path, rdonly ? "writable" : "read-only");
        else
                pass(name);
}

static long write_file(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd < 0)
                return -1;
        if (write(fd, "probe\n", 6) != 6) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        close(fd);
        return unlink(path);
}

/* 0 if path is absent, cannot be opened (InaccessiblePaths=, ProtectHome=) or holds nothing but such or
 * empty directories (mount points systemd made), else -1 with errno EEXIST. */
static long absent_or_empty(const char *path, unsigned depth) {
        struct dirent *de;
        struct stat st;
        long r = 0;
        DIR *d;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -1;
        if (!S_ISDIR(st.st_mode) || depth > 4) {
                errno = EEXIST;
                return -1;
        }
        d = opendir(path);
        if (!d && errno == EACCES)
                return 0;
        if (!d) {
                errno = EEXIST;
                return -1;
        }
        while (r == 0 && (de = readdir(d))) {
                char sub[512];

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
                if (lstat(sub, &st) < 0)
                        r = -1;
                else if (S_ISSOCK(st.st_mode) && strcmp(sub, "/run/systemd/notify") == 0 && under_systemd())
                        continue; /* how the bridge says READY=1; NotifyAccess=main hears no one else */
                else if (!S_ISDIR(st.st_mode))
                        r = -1;
                else
                        r = absent_or_empty(sub, depth + 1);
        }
        closedir(d);
        if (r < 0)
                errno = EEXIST;
        return r;
}

/* Absent; under systemd, absent or an empty mount point (what the name gives away is nothing). */
static void expect_absent(const char *path) {
        char name[300];

        snprintf(name, sizeof(name), "%s is absent%s", path, under_systemd() ? ", empty or inaccessible" : "");
        if (under_systemd())
                expect(name, absent_or_empty(path, 0), 0);
        else
                expect(name, access(path, F_OK), ENOENT);
}

static void check_files(void) {
        static const char *const host_only[] = { "/etc", "/root", "/home", "/usr", "/boot", "/lib", "/run" };
        static const char *const dev_allowed[] = {
                "null", "zero", "full", "random", "urandom", "shm", "fd", "stdin", "stdout", "stderr",
        };
        /* What PrivateDevices= adds: a tty with no terminal behind it, pseudo terminals whose ioctls the
         * filter denies, the journal's socket link (its target is absent) and empty mount points. */
        static const char *const dev_systemd[] = { "tty", "char", "log", "hugepages", "mqueue", "ptmx", "pts" };
        char path[64], buf[16];
        struct statfs sf;
        DIR *d;
        struct dirent *de;
        int fd;

        expect("/ is read-only", write_file("/probe-write-test"), EROFS);
        expect("mkdir / is read-only", mkdir("/probe-dir", 0700), EROFS);
        snprintf(path, sizeof(path), "/var/probe-%d", (int) getpid());
        expect("/var is writable", write_file(path), 0);
        snprintf(path, sizeof(path), "/tmp/probe-%d", (int) getpid());
        expect("/tmp is writable", write_file(path), 0);
        if (statfs("/tmp", &sf) < 0 || sf.f_type != TMPFS_MAGIC)
                fail("/tmp is a private tmpfs", "not a tmpfs");
        else
                pass("/tmp is a private tmpfs");
        expect_mount_flags("/ nosuid nodev", "/", ST_NOSUID | ST_NODEV, true);
        expect_mount_flags("/var nosuid nodev", "/var", ST_NOSUID | ST_NODEV, false);
        expect_mount_flags("/tmp nosuid nodev", "/tmp", ST_NOSUID | ST_NODEV, false);
        expect_mount_flags("/sandstorm-http-bridge read-only", "/sandstorm-http-bridge", ST_NOSUID | ST_NODEV,
                           true);

        d = opendir("/dev");
        if (!d)
                fail("/dev holds only the allowed nodes", "opendir: %s", errno_name(errno));
        else {
                char extra[256] = "";

                while ((de = readdir(d))) {
                        bool known = de->d_name[0] == '.';

                        for (size_t i = 0; i < sizeof(dev_allowed) / sizeof(dev_allowed[0]); i++)
                                if (strcmp(de->d_name, dev_allowed[i]) == 0)
                                        known = true;
                        for (size_t i = 0; under_systemd() && i < sizeof(dev_systemd) / sizeof(dev_systemd[0]); i++)
                                if (strcmp(de->d_name, dev_systemd[i]) == 0)
                                        known = true;
                        if (!known && strlen(extra) + strlen(de->d_name) + 2 < sizeof(extra)) {
                                strcat(extra, " ");
                                strcat(extra, de->d_name);
                        }
                }
                closedir(d);
                if (extra[0])
                        fail("/dev holds only the allowed nodes", "also:%s", extra);
                else
                        pass("/dev holds only the allowed nodes");
        }
        expect("/dev/null writes", (fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0 ? -1 :
               (write(fd, "x", 1) == 1 ? 0 : -1), 0);
        if (fd >= 0)
                close(fd);
        expect("/dev/random reads", (fd = open("/dev/random", O_RDONLY | O_CLOEXEC)) < 0 ? -1 :
               (read(fd, buf, sizeof(buf)) == (ssize_t) sizeof(buf) ? 0 : -1), 0);
        if (fd >= 0)
                close(fd);
        expect("/dev is read-only", mknod("/dev/probe", S_IFREG | 0600, 0), EROFS);

        if (under_systemd()) {
                /* systemd 252 mounts the API file systems: the unit makes /sys inaccessible
                 * (InaccessiblePaths=) in place of the host's sysfs. */
                struct statvfs sv;
                DIR *sys;

                if (statvfs("/sys", &sv) < 0 || !(sv.f_flag & ST_RDONLY))
                        fail("/sys is read-only", "writable or missing");
                else
                        pass("/sys is read-only");
                sys = opendir("/sys");
                expect("/sys cannot be listed", sys ? 0 : -1, EACCES);
                if (sys)
                        closedir(sys);
        }
        expect_absent("/sys");
        expect_absent("/run/dbus");
        expect_absent("/run/systemd");
        expect("/proc/kcore is absent", access("/proc/kcore", F_OK), ENOENT);

        {
                const char *absent = getenv("PROBE_ABSENT");

                /* What every host has and the probe's package does not. */
                for (size_t i = 0; i < sizeof(host_only) / sizeof(host_only[0]); i++)
                        expect_absent(host_only[i]);
                if (!absent || !*absent)
                        skip("host paths are absent", "no PROBE_ABSENT");
                else {
                        char *copy = strdup(absent), *save = NULL;

                        for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
                                char name[300];

                                snprintf(name, sizeof(name), "host path %s is absent", p);
                                expect(name, access(p, F_OK), ENOENT);
                        }
                        free(copy);
                }
        }
}

static void check_proc(void) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        unsigned n = 0;
        bool one = false, others = false;

        if (!d) {
                fail("/proc shows only the sandbox", "opendir: %s", errno_name(errno));
                return;
        }
        while ((de = readdir(d))) {
                struct stat st;

                if (strspn(de->d_name, "0123456789") != strlen(de->d_name))
                        continue;
                n++;
                if (strcmp(de->d_name, "1") == 0)
                        one = true;
                if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && st.st_uid != getuid())
                        others = true;
        }
        closedir(d);
        /* systemd 252 has no PID namespace for a unit: ProtectProc=invisible shows the processes of the
         * grain's own user, and no grain shares it. */
        if (under_systemd()) {
                if (others || n > 32)
                        fail("/proc shows only the sandbox", "%u processes%s", n, others ? ", some not the grain's" : "");
                else
                        pass("/proc shows only the sandbox");
                return;
        }
        /* A PID namespace of its own: PID 1 is the sandbox's first process, and there are a handful. */
        if (!one || n > 32)
                fail("/proc shows only the sandbox", "%u processes, PID 1 %s", n, one ? "present" : "absent");
        else
                pass("/proc shows only the sandbox");
}

static void check_network(void) {
        FILE *f = fopen("/proc/self/net/dev", "re");
        char line[512], names[256] = "";
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        const char *port;
        int l, c;

        if (!f)
                fail("only lo", "/proc/self/net/dev: %s", errno_name(errno));
        else {
                unsigned n = 0;

                while (fgets(line, sizeof(line), f)) {
                        char *colon = strchr(line, ':');
                        char *s = line + strspn(line, " ");

                        if (!colon || n++ > 16)
                                continue;
                        *colon = 0;
                        if (strlen(names) + strlen(s) + 2 < sizeof(names)) {
                                strcat(names, " ");
                                strcat(names, s);
                        }
                }
                fclose(f);
                if (strcmp(names, " lo") != 0)
                        fail("only lo", "interfaces:%s", names);
                else
                        pass("only lo");
        }

        /* Loopback works: listen on an ephemeral port and connect to it. */
        l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0 || c < 0 || bind(l, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
            getsockname(l, (struct sockaddr *) &sa, &len) < 0)
                fail("loopback works", "setup: %s", errno_name(errno));
        else
                expect("loopback works", connect(c, (struct sockaddr *) &sa, sizeof(sa)), 0);
        if (l >= 0)
                close(l);
        if (c >= 0)
                close(c);

        port = getenv("PROBE_HOST_PORT");
        if (!port)
                skip("host loopback unreachable", "no PROBE_HOST_PORT");
        else {
                sa.sin_port = htons((uint16_t) atoi(port));
                c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                expect("host loopback unreachable", connect(c, (struct sockaddr *) &sa, sizeof(sa)), ECONNREFUSED);
                if (c >= 0)
                        close(c);
        }
}

static void check_setuid(void) {
        struct stat st;
        char buf[32] = "";
        int p[2];
        pid_t pid;
        ssize_t n;

        if (stat("/suid-probe", &st) < 0 || !(st.st_mode & S_ISUID)) {
                skip("setuid has no effect", "no /suid-probe in the package");
                return;
        }
        if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
                fail("setuid has no effect", "fork: %s", errno_name(errno));
                return;
        }
        if (pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                execl("/suid-probe", "suid-probe", "euid", (char *) NULL);
                _exit(127);
        }
        close(p[1]);
        n = read(p[0], buf, sizeof(buf) - 1);
        close(p[0]);
        (void) waitpid(pid, NULL, 0);
        if (n > 0)
                buf[n] = 0;
        if (strcmp(buf, "1000\n") != 0)
                fail("setuid has no effect", "a setuid-root program ran with euid '%.*s'", (int) strcspn(buf, "\n"),
                     buf);
        else
                pass("setuid has no effect");
}

static void check_fork_bomb(void) {
        pid_t pids[FORK_BOMB_MAX];
        size_t n = 0;
        int e = 0;

        for (; n < FORK_BOMB_MAX; n++) {
                pid_t pid = fork();

                if (pid < 0) {
                        e = errno;
                        break;
                }
                if (pid == 0) {
                        pause();
                        _exit(0);
                }
                pids[n] = pid;
        }
        for (size_t i = 0; i < n; i++)
                (void) kill(pids[i], SIGKILL);
        for (size_t i = 0; i < n; i++)
                (void) waitpid(pids[i], NULL, 0);

        if (n == FORK_BOMB_MAX)
                fail("fork bomb stops at tasks_max", "%d processes and no limit", FORK_BOMB_MAX);
        else if (e != EAGAIN)
                fail("fork bomb stops at tasks_max", "got errno %s, want EAGAIN", errno_name(e));
        else {
                /* And the sandbox goes on: a process can be made again. */
                pass("fork bomb stops at tasks_max");
                expect_in_child("fork after the bomb", do_fork, 0);
        }
}

static void check_memory_hog(void) {
        pid_t pid = fork();
        int status;

        if (pid < 0) {
                fail("memory hog stops at memory_max", "fork: %s", errno_name(errno));
                return;
        }
        if (pid == 0) {
                for (size_t total = 0; total < MEMORY_HOG_MAX; total += MEMORY_HOG_STEP) {
                        char *p = mmap(NULL, MEMORY_HOG_STEP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                       -1, 0);

                        if (p == MAP_FAILED)
                                _exit(errno == ENOMEM ? 0 : 2);
                        memset(p, 0x5a, MEMORY_HOG_STEP);
                }
                _exit(1);
        }
        if (waitpid(pid, &status, 0) < 0)
                fail("memory hog stops at memory_max", "waitpid: %s", errno_name(errno));
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                pass("memory hog stops at memory_max");
        else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
                pass("memory hog stops at memory_max");
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
                fail("memory hog stops at memory_max", "%lu MiB and no limit", MEMORY_HOG_MAX >> 20);
        else
                fail("memory hog stops at memory_max", "status 0x%x", status);
}

static void run_all(void) {
        const char *nl = getenv("PROBE_NO_LIMITS");

        failed = 0;
        check_identity();
        check_syscalls();
        check_files();
        check_proc();
        check_network();
        check_setuid();
        if (nl && strcmp(nl, "1") == 0) {
                skip("fork bomb stops at tasks_max", "PROBE_NO_LIMITS");
                skip("memory hog stops at memory_max", "PROBE_NO_LIMITS");
        } else {
                check_fork_bomb();
                check_memory_hog();
        }
        fflush(out);
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, p, n);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                p += w;
                n -= (size_t) w;
        }
        return 0;
}

static void serve_one(int fd) {
        char req[REQUEST_MAX + 1];
        size_t n = 0;
        char *body = NULL, head[256], absent[REQUEST_MAX] = "";
        bool bad = false;
        const char *host;
        size_t body_len = 0;
        int k;

        /* Up to the end of the head; a GET has no body. */
        while (n < REQUEST_MAX) {
                ssize_t r = read(fd, req + n, REQUEST_MAX - n);

                if (r <= 0)
                        return;
                n += (size_t) r;
                req[n] = 0;
                if (strstr(req, "\r\n\r\n"))
                        break;
        }
        /* GET /[FLAG[,FLAG]][?absent=PATH:PATH] (PROBE_ABSENT for this run). FLAGs: systemd (PROBE_SYSTEMD,
         * the systemd backend's sandbox), nolimits (PROBE_NO_LIMITS). The Host header's port is a port of
         * the host's loopback (the server that forwarded this) unless PROBE_HOST_PORT says another. */
        if (strncmp(req, "GET /", 5) == 0) {
                const char *t = req + 5;
                size_t len = strcspn(t, "?, \r\n");

                while (len > 0) {
                        if (len == 7 && strncmp(t, "systemd", 7) == 0)
                                (void) setenv("PROBE_SYSTEMD", "1", 1);
                        else if (len == 8 && strncmp(t, "nolimits", 8) == 0)
                                (void) setenv("PROBE_NO_LIMITS", "1", 1);
                        else
                                bad = true;
                        t += len + (t[len] == ',');
                        len = strcspn(t, "?, \r\n");
                }
                if (strncmp(t, "?absent=", 8) == 0) {
                        len = strcspn(t + 8, " \r\n");
                        snprintf(absent, sizeof(absent), "%.*s", (int) len, t + 8);
                        (void) setenv("PROBE_ABSENT", absent, 1);
                } else if (*t != ' ')
                        bad = true;
        } else
                bad = true;
        if (bad)
                absent[0] = '?';
        host = strcasestr(req, "\r\nHost:");
        if (host && !getenv("PROBE_HOST_PORT")) {
                size_t len = strcspn(host + 7, "\r\n");
                char value[256];
                const char *colon;

                snprintf(value, sizeof(value), "%.*s", (int) len, host + 7);
                colon = strrchr(value, ':');
                if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
                        (void) setenv("PROBE_HOST_PORT", colon + 1, 1);
        }
        if (absent[0] == '?') {
                static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                (void) write_all(fd, nf, sizeof(nf) - 1);
                return;
        }

        out = open_memstream(&body, &body_len);
        if (!out)
                return;
        run_all();
        fclose(out);
        out = stdout;

        k = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     body_len);
        /* The head and the body in two writes, as many servers send them: the platform must cope with a
         * head that arrives alone. */
        if (write_all(fd, head, (size_t) k) == 0)
                (void) write_all(fd, body, body_len);
        free(body);
}

static int serve(const char *port_s) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int l, one = 1;

        sa.sin_port = htons((uint16_t) atoi(port_s));
        l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(l, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(l, 16) < 0) {
                fprintf(stderr, "probe: cannot listen on 127.0.0.1:%s: %s\n", port_s, strerror(errno));
                return 1;
        }
        fprintf(stderr, "probe: listening on 127.0.0.1:%s\n", port_s);
        for (;;) {
                int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);

                if (c < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        return 1;
                }
                serve_one(c);
                shutdown(c, SHUT_WR);
                close(c);
        }
}

int main(int argc, char *argv[]) {
        out = stdout;
        if (argc == 2 && strcmp(argv[1], "euid") == 0) {
                printf("%u\n", (unsigned) geteuid());
                return 0;
        }
        if (argc == 3 && strcmp(argv[1], "ls") == 0) {
                struct dirent **names;
                int n = scandir(argv[2], &names, NULL, alphasort);

                if (n < 0) {
                        fprintf(stderr, "probe: %s: %s\n", argv[2], strerror(errno));
                        return 1;
                }
                for (int i = 0; i < n; i++) {
                        if (names[i]->d_name[0] != '.')
                                printf("%s\n", names[i]->d_name);
                        free(names[i]);
                }
                free(names);
                return 0;
        }
        if (argc == 3 && strcmp(argv[1], "serve") == 0)
                return serve(argv[2]);
        if (argc != 1) {
                fprintf(stderr, "Usage: probe [serve PORT | euid | ls DIR]\n");
                return 2;
        }
        run_all();
        return failed == 0 ? 0 : 1;
}
