/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The direct backend's sandbox (sandbox.h). One call of sandbox_spawn():
 *
 *   parent: [cgroup: sandbox-<random> made under cgroup_dir, limits written]
 *           clone3(CLONE_NEWUSER|NEWNS|NEWPID|NEWNET|NEWIPC|NEWUTS|NEWCGROUP|PIDFD[|INTO_CGROUP])
 *   parent: writes setgroups, uid_map "1000 <host_uid> 1", gid_map; then one byte on the go pipe
 *   child:  waits for the byte; opens the package dir, /var's dir, the bridge and the host's /dev nodes
 *           (O_PATH) with granaryd's credentials still; then uid/gid 1000 (and no supplementary groups
 *           when the parent could drop them)
 *           mounts / private; the new root is a tmpfs at STAGING (this mount namespace's copy of the host's
 *           /tmp), in which every top-level entry of the package is bound read-only, nosuid, nodev (or
 *           copied, for a symlink) except var, tmp, dev, proc, sys and sandstorm-http-bridge; then
 *           /var (bind, rw), /sandstorm-http-bridge (bind, ro), /tmp (tmpfs), /dev (tmpfs: null, zero,
 *           full, random → urandom, urandom bound from the host; fd, stdin, stdout, stderr symlinks; shm),
 *           /proc (this PID namespace's, hidepid=invisible, subset=pid); the root tmpfs goes read-only
 *           pivot_root into it, the old root detached: nothing of the host is left in the namespace
 *           host and domain name "sandbox", loopback up, rlimits, every capability dropped (bounding,
 *           ambient, inheritable, permitted, effective), no_new_privs, umask 007, fds 0–3 in place and
 *           everything else closed, the seccomp filter (compiled by the parent before the clone), the
 *           memory rlimit, signals unblocked, execve
 *   child:  on any failure writes {step, errno} on the error pipe and exits 127
 *   parent: reads the error pipe: EOF (the exec closed it) is success; a report is logged and returned
 *
 * (1) the child never returns into the caller's code: it execs or _exit()s
 * (2) the seccomp filter is the last thing set up, so it may deny what the setup itself used
 * (3) the parent never maps uid 0 (host_uid 0 is refused), so a root granaryd never runs an app as root
 * (4) the parent's supplementary groups do not reach the app: a root parent leaves setgroups allowed and
 *     the child drops them; an unprivileged one must deny setgroups (the kernel's rule), and its groups
 *     are its own
 */

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/sched.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <sys/capability.h>

#include "basic/fileio.h"
#include "basic/hex.h"
#include "basic/log.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "grain/sandbox.h"

/* Where the child builds the new root: a directory every host has, covered only in the child's own mount
 * namespace. What the config names is opened before it is covered, so host paths below it still work. */
#define STAGING "/tmp"
#define CGROUP_PREFIX "sandbox-"

typedef enum SandboxStep {
        STEP_WAIT,
        STEP_IDS,
        STEP_OPEN_PACKAGE,
        STEP_OPEN_VAR,
        STEP_OPEN_BRIDGE,
        STEP_OPEN_DEV,
        STEP_PRIVATE,
        STEP_ROOT,
        STEP_PACKAGE,
        STEP_VAR,
        STEP_BRIDGE,
        STEP_TMP,
        STEP_DEV,
        STEP_PROC,
        STEP_ROOT_RO,
        STEP_PIVOT,
        STEP_HOSTNAME,
        STEP_LOOPBACK,
        STEP_RLIMITS,
        STEP_CAPS,
        STEP_NNP,
        STEP_FDS,
        STEP_SECCOMP,
        STEP_EXEC,
        _STEP_MAX,
} SandboxStep;

static const char *const step_table[_STEP_MAX] = {
        [STEP_WAIT] = "wait for the uid map",
        [STEP_IDS] = "switch to uid and gid 1000",
        [STEP_OPEN_PACKAGE] = "open the package directory",
        [STEP_OPEN_VAR] = "open the storage directory",
        [STEP_OPEN_BRIDGE] = "open the bridge",
        [STEP_OPEN_DEV] = "open the host's device nodes",
        [STEP_PRIVATE] = "make mounts private",
        [STEP_ROOT] = "mount the root tmpfs",
        [STEP_PACKAGE] = "bind the package's files",
        [STEP_VAR] = "bind /var",
        [STEP_BRIDGE] = "bind /sandstorm-http-bridge",
        [STEP_TMP] = "mount /tmp",
        [STEP_DEV] = "set up /dev",
        [STEP_PROC] = "mount /proc",
        [STEP_ROOT_RO] = "make the root read-only",
        [STEP_PIVOT] = "pivot into the new root",
        [STEP_HOSTNAME] = "set the host name",
        [STEP_LOOPBACK] = "bring up loopback",
        [STEP_RLIMITS] = "set resource limits",
        [STEP_CAPS] = "drop capabilities",
        [STEP_NNP] = "set no_new_privs",
        [STEP_FDS] = "set up descriptors",
        [STEP_SECCOMP] = "load the system call filter",
        [STEP_EXEC] = "execute the command",
};

typedef struct StepReport {
        int32_t step;
        int32_t error; /* positive errno */
} StepReport;

/* What the child needs, prepared by the parent. */
typedef struct SandboxChild {
        const SandboxConfig *config;
        char **envp;
        int go_fd;    /* read end: one byte once the id maps are written */
        int error_fd; /* write end, CLOEXEC */
        bool drop_groups;
        bool cgroup;
} SandboxChild;

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom" };
/* What each node of dev_nodes is bound from: random is urandom, which never blocks (spec §6.2). */
static const char *const dev_sources[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/urandom" };

void sandbox_default_ids(uid_t *ret_uid, gid_t *ret_gid) {
        uid_t uid = getuid();
        gid_t gid = getgid();

        assert(ret_uid);
        assert(ret_gid);

        if (uid == 0) {
                uid = SANDBOX_NOBODY_UID;
                gid = SANDBOX_NOBODY_GID;
        }
        *ret_uid = uid;
        *ret_gid = gid;
}

/* ---- the child ---------------------------------------------------------------------------------- */

static _noreturn_ void child_fail(const SandboxChild *sc, SandboxStep step, int error) {
        StepReport report = { .step = (int32_t) step, .error = abs(error) ?: EIO };

        (void) loop_write(sc->error_fd, &report, sizeof(report));
        _exit(127);
}

/* The per-mount flags a bind remount must keep: a mount this user namespace inherited has them locked. */
static unsigned long mount_flags_locked(const char *path) {
        struct statvfs sv;
        unsigned long f = 0;

        if (statvfs(path, &sv) < 0)
                return 0;
        if (sv.f_flag & ST_NOSUID)
                f |= MS_NOSUID;
        if (sv.f_flag & ST_NODEV)
                f |= MS_NODEV;
        if (sv.f_flag & ST_NOEXEC)
                f |= MS_NOEXEC;
        if (sv.f_flag & ST_RDONLY)
                f |= MS_RDONLY;
        if (sv.f_flag & ST_NOATIME)
                f |= MS_NOATIME;
        if (sv.f_flag & ST_NODIRATIME)
                f |= MS_NODIRATIME;
        if (sv.f_flag & ST_RELATIME)
                f |= MS_RELATIME;
        return f;
}

static int bind_mount(const char *source, const char *target, unsigned long flags) {
        if (mount(source, target, NULL, MS_BIND, NULL) < 0)
                return -errno;
        /* A bind takes its flags only from a remount. */
        if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags | mount_flags_locked(target), NULL) < 0)
                return -errno;
        return 0;
}

static int bind_fd(int fd, const char *name, const char *target, unsigned long flags) {
        char source[64 + NAME_MAX];

        if (name)
                snprintf(source, sizeof(source), "/proc/self/fd/%d/%s", fd, name);
        else
                snprintf(source, sizeof(source), "/proc/self/fd/%d", fd);
        return bind_mount(source, target, flags);
}

static bool is_reserved_entry(const char *name, bool own_bridge) {
        static const char *const reserved[] = { "var", "tmp", "dev", "proc", "sys" };

        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (streq(name, reserved[i]))
                        return true;
        return own_bridge && streq(name, "sandstorm-http-bridge");
}

/* Mount points (or symlink copies) in the root tmpfs for every top-level entry of the package. */
static int child_bind_package(int package_fd, bool own_bridge) {
        _cleanup_close_ int dfd = -EBADF;
        DIR *d;
        struct dirent *de;
        int r = 0;

        dfd = openat(package_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        d = fdopendir(TAKE_FD(dfd));
        if (!d)
                return -errno;

        while ((errno = 0, de = readdir(d))) {
                char target[STRLEN(STAGING) + 2 + NAME_MAX];
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, "..") || is_reserved_entry(de->d_name, own_bridge))
                        continue;
                if (fstatat(package_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                snprintf(target, sizeof(target), STAGING "/%s", de->d_name);

                if (S_ISLNK(st.st_mode)) {
                        char link[PATH_MAX];
                        ssize_t n = readlinkat(package_fd, de->d_name, link, sizeof(link) - 1);

                        if (n < 0) {
                                r = -errno;
                                break;
                        }
                        link[n] = 0;
                        if (symlink(link, target) < 0) {
                                r = -errno;
                                break;
                        }
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (mkdir(target, 0755) < 0) {
                                r = -errno;
                                break;
                        }
                } else if (S_ISREG(st.st_mode)) {
                        int fd = open(target, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);

                        if (fd < 0) {
                                r = -errno;
                                break;
                        }
                        safe_close(fd);
                } else
                        continue; /* spk never packs anything else */

                r = bind_fd(package_fd, de->d_name, target, MS_RDONLY | MS_NOSUID | MS_NODEV);
                if (r < 0)
                        break;
        }
        if (r == 0 && errno != 0)
                r = -errno;
        closedir(d);
        return r;
}

static int child_setup_dev(const int dev_fds[static ELEMENTSOF(dev_nodes)]) {
        static const char *const links[][2] = {
                { "fd", "/proc/self/fd" },
                { "stdin", "/proc/self/fd/0" },
                { "stdout", "/proc/self/fd/1" },
                { "stderr", "/proc/self/fd/2" },
        };
        char path[64];

        if (mkdir(STAGING "/dev", 0755) < 0)
                return -errno;
        if (mount("tmpfs", STAGING "/dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=64k,nr_inodes=64,mode=0755") < 0)
                return -errno;

        for (size_t i = 0; i < ELEMENTSOF(dev_nodes); i++) {
                int fd;
                int r;

                snprintf(path, sizeof(path), STAGING "/dev/%s", dev_nodes[i]);
                fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
                if (fd < 0)
                        return -errno;
                safe_close(fd);
                /* Not nodev, of course: these are the nodes to use. */
                r = bind_fd(dev_fds[i], NULL, path, MS_NOSUID | MS_NOEXEC);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                snprintf(path, sizeof(path), STAGING "/dev/%s", links[i][0]);
                if (symlink(links[i][1], path) < 0)
                        return -errno;
        }

        if (mkdir(STAGING "/dev/shm", 01777) < 0)
                return -errno;
        snprintf(path, sizeof(path), "size=%u,nr_inodes=4096,mode=1777", SANDBOX_SHM_SIZE);
        if (mount("tmpfs", STAGING "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, path) < 0)
                return -errno;

        if (mount(NULL, STAGING "/dev", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  NULL) < 0)
                return -errno;
        return 0;
}

static int child_mount_proc(void) {
        static const char *const options[] = { "hidepid=invisible,subset=pid", "hidepid=2", NULL };

        if (mkdir(STAGING "/proc", 0555) < 0)
                return -errno;
        /* Older kernels lack subset= (5.8) or hidepid=invisible: the strictest one that works. */
        for (size_t i = 0; i < ELEMENTSOF(options); i++) {
                if (mount("proc", STAGING "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, options[i]) >= 0)
                        return 0;
                if (errno != EINVAL)
                        break;
        }
        return -errno;
}

static int child_loopback(void) {
        _cleanup_close_ int fd = -EBADF;
        struct ifreq ifr = {};
        struct sockaddr_in *sin = (struct sockaddr_in *) &ifr.ifr_addr;

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;

        strncpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name) - 1);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (ioctl(fd, SIOCSIFADDR, &ifr) < 0 && errno != EEXIST)
                return -errno;

        memset(&ifr.ifr_ifru, 0, sizeof(ifr.ifr_ifru));
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        return 0;
}

static int set_rlimit(int resource, rlim_t soft, rlim_t hard) {
        struct rlimit rl = { soft, hard };

        return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

static int child_rlimits(const SandboxChild *sc) {
        const SandboxLimits *l = &sc->config->limits;
        int r;

        if (l->nofile_max > 0)
                r = set_rlimit(RLIMIT_NOFILE, (rlim_t) l->nofile_max, (rlim_t) l->nofile_max);
        else
                r = set_rlimit(RLIMIT_NOFILE, SANDBOX_NOFILE_SOFT_DEFAULT, SANDBOX_NOFILE_HARD_DEFAULT);
        if (r < 0)
                return r;
        r = set_rlimit(RLIMIT_CORE, 0, 0);
        if (r < 0)
                return r;
        /* Grains are batch work to the scheduler: one that wakes does not preempt granaryd, which then
         * finishes what it is doing (say, a round of requests for it) before the grain runs, and the grain
         * finds them all at once. The app may choose SCHED_OTHER again (the filter allows it). */
        if (sched_setscheduler(0, SCHED_BATCH, &(struct sched_param) {}) < 0)
                return -errno;
        if (sc->cgroup)
                return 0;

        /* No cgroup: RLIMIT_NPROC counts the tasks of uid 1000 in this user namespace (kernel >= 5.14), that
         * is of this grain. RLIMIT_DATA (child_rlimit_memory()) bounds each process's heap and private
         * mappings, not address space reservations, which JIT runtimes make in gigabytes. */
        if (l->tasks_max > 0) {
                r = set_rlimit(RLIMIT_NPROC, (rlim_t) l->tasks_max, (rlim_t) l->tasks_max);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Set last, just before the exec (setrlimit is allowed by the filter): the setup's own allocations (libcap,
 * and a sanitizer's shadow memory in test builds) must not count against what the app may use. */
static int child_rlimit_memory(const SandboxChild *sc) {
        uint64_t m = sc->config->limits.memory_max;

        if (sc->cgroup || m == 0)
                return 0;
        return set_rlimit(RLIMIT_DATA, (rlim_t) m, (rlim_t) m);
}

static int child_drop_caps(void) {
        cap_t empty;
        int r = 0;

        for (cap_value_t c = 0; c < (cap_value_t) cap_max_bits(); c++)
                if (cap_drop_bound(c) < 0 && errno != EINVAL)
                        return -errno;
        if (cap_reset_ambient() < 0 && errno != EINVAL)
                return -errno;

        empty = cap_init();
        if (!empty)
                return -ENOMEM;
        if (cap_set_proc(empty) < 0)
                r = -errno;
        cap_free(empty);
        return r;
}

/* stdin /dev/null, stdout and stderr the log, fd 3 the listening socket, the error pipe at 4 (CLOEXEC),
 * nothing else. Every source is first moved above 4 so that no dup2 overwrites another source. */
static int child_fds(SandboxChild *sc) {
        const SandboxConfig *c = sc->config;
        int null_fd, log_fd, listen_fd = -EBADF, error_fd;

        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd < 0)
                return -errno;
        null_fd = fcntl(null_fd, F_DUPFD_CLOEXEC, 5);
        log_fd = fcntl(c->log_fd >= 0 ? c->log_fd : null_fd, F_DUPFD_CLOEXEC, 5);
        if (c->listen_fd >= 0)
                listen_fd = fcntl(c->listen_fd, F_DUPFD_CLOEXEC, 5);
        error_fd = fcntl(sc->error_fd, F_DUPFD_CLOEXEC, 5);
        if (null_fd < 0 || log_fd < 0 || error_fd < 0 || (c->listen_fd >= 0 && listen_fd < 0))
                return -errno;

        if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
                return -errno;
        if (listen_fd >= 0) {
                if (dup2(listen_fd, 3) < 0)
                        return -errno;
        } else
                (void) close(3);
        if (dup3(error_fd, 4, O_CLOEXEC) < 0)
                return -errno;
        if (close_range(5, ~0U, 0) < 0)
                return -errno;
        sc->error_fd = 4;
        return 0;
}

static void child_reset_signals(void) {
        struct sigaction sa = { .sa_handler = SIG_DFL };

        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL);
}

static _noreturn_ void sandbox_child(SandboxChild *sc) {
        const SandboxConfig *c = sc->config;
        int package_fd, var_fd, bridge_fd = -EBADF, dev_fds[ELEMENTSOF(dev_nodes)];
        char byte;
        sigset_t none;
        int r;

        child_reset_signals();

        /* Released once the parent wrote the id maps; EOF means the parent gave up. */
        errno = 0;
        if (read(sc->go_fd, &byte, 1) != 1)
                child_fail(sc, STEP_WAIT, errno ?: ECANCELED);
        safe_close(sc->go_fd);

        /* Opened while the credentials are still granaryd's (the id maps change how they read, not what
         * they are): so the grain's own uid needs no way through the directories above its package and
         * storage, which can stay private to granaryd. */
        package_fd = open(c->package_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (package_fd < 0)
                child_fail(sc, STEP_OPEN_PACKAGE, errno);
        var_fd = open(c->var_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (var_fd < 0)
                child_fail(sc, STEP_OPEN_VAR, errno);
        if (c->bridge_path) {
                bridge_fd = open(c->bridge_path, O_PATH | O_CLOEXEC);
                if (bridge_fd < 0)
                        child_fail(sc, STEP_OPEN_BRIDGE, errno);
        }
        for (size_t i = 0; i < ELEMENTSOF(dev_nodes); i++) {
                dev_fds[i] = open(dev_sources[i], O_PATH | O_CLOEXEC);
                if (dev_fds[i] < 0)
                        child_fail(sc, STEP_OPEN_DEV, errno);
        }

        if (sc->drop_groups && setgroups(0, NULL) < 0)
                child_fail(sc, STEP_IDS, errno);
        if (setresgid(SANDBOX_GID, SANDBOX_GID, SANDBOX_GID) < 0 || setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) < 0)
                child_fail(sc, STEP_IDS, errno);
        /* After the id change, which clears it. The parent is outside this PID namespace. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                child_fail(sc, STEP_IDS, errno);

        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                child_fail(sc, STEP_PRIVATE, errno);
        if (mount("tmpfs", STAGING, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755") < 0)
                child_fail(sc, STEP_ROOT, errno);

        r = child_bind_package(package_fd, !!c->bridge_path);
        if (r < 0)
                child_fail(sc, STEP_PACKAGE, r);

        if (mkdir(STAGING "/var", 0755) < 0)
                child_fail(sc, STEP_VAR, errno);
        r = bind_fd(var_fd, NULL, STAGING "/var", MS_NOSUID | MS_NODEV);
        if (r < 0)
                child_fail(sc, STEP_VAR, r);

        if (bridge_fd >= 0) {
                int fd = open(STAGING "/sandstorm-http-bridge", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0755);

                if (fd < 0)
                        child_fail(sc, STEP_BRIDGE, errno);
                safe_close(fd);
                r = bind_fd(bridge_fd, NULL, STAGING "/sandstorm-http-bridge", MS_RDONLY | MS_NOSUID | MS_NODEV);
                if (r < 0)
                        child_fail(sc, STEP_BRIDGE, r);
        }

        {
                char options[64];
                uint64_t size = c->limits.tmp_size ?: SANDBOX_TMP_SIZE_DEFAULT;

                snprintf(options, sizeof(options), "size=%" PRIu64 ",nr_inodes=4096,mode=1777", size);
                if (mkdir(STAGING "/tmp", 01777) < 0 ||
                    mount("tmpfs", STAGING "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, options) < 0)
                        child_fail(sc, STEP_TMP, errno);
        }

        r = child_setup_dev(dev_fds);
        if (r < 0)
                child_fail(sc, STEP_DEV, r);

        /* Before the old root goes: the kernel lets a user namespace mount procfs only while a fully
         * visible one is in its mount namespace. */
        r = child_mount_proc();
        if (r < 0)
                child_fail(sc, STEP_PROC, r);

        if (mount(NULL, STAGING, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
                child_fail(sc, STEP_ROOT_RO, errno);

        if (chdir(STAGING) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
            chdir("/") < 0)
                child_fail(sc, STEP_PIVOT, errno);

        if (sethostname("sandbox", STRLEN("sandbox")) < 0 || setdomainname("sandbox", STRLEN("sandbox")) < 0)
                child_fail(sc, STEP_HOSTNAME, errno);

        r = child_loopback();
        if (r < 0)
                child_fail(sc, STEP_LOOPBACK, r);

        r = child_rlimits(sc);
        if (r < 0)
                child_fail(sc, STEP_RLIMITS, r);

        r = child_drop_caps();
        if (r < 0)
                child_fail(sc, STEP_CAPS, r);

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail(sc, STEP_NNP, errno);
        umask(0007);

        r = child_fds(sc);
        if (r < 0)
                child_fail(sc, STEP_FDS, r);

        r = policy_load_seccomp(c->policy);
        if (r < 0)
                child_fail(sc, STEP_SECCOMP, r);

        r = child_rlimit_memory(sc);
        if (r < 0)
                child_fail(sc, STEP_RLIMITS, r);

        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);

        execve(c->argv[0], c->argv, sc->envp);
        child_fail(sc, STEP_EXEC, errno);
}

/* ---- the parent --------------------------------------------------------------------------------- */

static int write_proc_file(pid_t pid, const char *name, const char *content) {
        char path[64];
        _cleanup_close_ int fd = -EBADF;

        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, name);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (write(fd, content, strlen(content)) != (ssize_t) strlen(content))
                return errno > 0 ? -errno : -EIO;
        return 0;
}

static int write_id_maps(pid_t pid, uid_t uid, gid_t gid, bool allow_setgroups) {
        char map[64];
        int r;

        if (!allow_setgroups) {
                r = write_proc_file(pid, "setgroups", "deny");
                if (r < 0)
                        return r;
        }
        snprintf(map, sizeof(map), "%u %u 1\n", SANDBOX_UID, (unsigned) uid);
        r = write_proc_file(pid, "uid_map", map);
        if (r < 0)
                return r;
        snprintf(map, sizeof(map), "%u %u 1\n", SANDBOX_GID, (unsigned) gid);
        return write_proc_file(pid, "gid_map", map);
}

/* envp, less any LISTEN_* of its own, plus LISTEN_FDS=1 and LISTEN_PID=1 (the sandbox's first process is
 * PID 1 of its namespace) when there is a listening socket. */
static int build_env(const SandboxConfig *c, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        int r;

        env = calloc(1, sizeof(char *));
        if (!env)
                return -ENOMEM;
        STRV_FOREACH(e, c->envp) {
                if (c->listen_fd >= 0 &&
                    (startswith(*e, "LISTEN_FDS=") || startswith(*e, "LISTEN_PID=") || startswith(*e, "LISTEN_FDNAMES=")))
                        continue;
                r = strv_extend(&env, *e);
                if (r < 0)
                        return r;
        }
        if (c->listen_fd >= 0) {
                r = strv_extend(&env, "LISTEN_FDS=1");
                if (r >= 0)
                        r = strv_extend(&env, "LISTEN_PID=1");
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(env);
        return 0;
}

static int write_cgroup_attribute(int dir_fd, const char *name, uint64_t value) {
        _cleanup_close_ int fd = -EBADF;
        char buf[32];
        int n;

        fd = openat(dir_fd, name, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = snprintf(buf, sizeof(buf), "%" PRIu64, value);
        if (write(fd, buf, (size_t) n) != n)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

/* Removes the empty cgroups of sandboxes that ended (rmdir fails on a live one), then makes a new one with
 * the limits, and returns it open for CLONE_INTO_CGROUP. */
static int cgroup_create(const SandboxConfig *c, int *ret_fd) {
        _cleanup_close_ int parent_fd = -EBADF, fd = -EBADF;
        char name[STRLEN(CGROUP_PREFIX) + 16 + 1];
        const SandboxLimits *l = &c->limits;
        uint8_t id[8];
        int r;

        parent_fd = open(c->cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd < 0)
                return -errno;

        {
                int dup_fd = fcntl(parent_fd, F_DUPFD_CLOEXEC, 3);
                DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
                struct dirent *de;

                if (!d)
                        safe_close(dup_fd);
                while (d && (de = readdir(d)))
                        if (startswith(de->d_name, CGROUP_PREFIX) && de->d_type == DT_DIR)
                                (void) unlinkat(parent_fd, de->d_name, AT_REMOVEDIR);
                if (d)
                        closedir(d);
        }

        random_bytes(id, sizeof(id));
        memcpy(name, CGROUP_PREFIX, STRLEN(CGROUP_PREFIX));
        hex_encode(id, sizeof(id), name + STRLEN(CGROUP_PREFIX));
        if (mkdirat(parent_fd, name, 0755) < 0)
                return -errno;
        fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                (void) unlinkat(parent_fd, name, AT_REMOVEDIR);
                return r;
        }

        r = 0;
        if (l->memory_max > 0) {
                r = write_cgroup_attribute(fd, "memory.max", l->memory_max);
                /* Without swap, so that memory.max is what the grain gets. */
                if (r >= 0)
                        (void) write_cgroup_attribute(fd, "memory.swap.max", 0);
        }
        if (r >= 0 && l->tasks_max > 0)
                r = write_cgroup_attribute(fd, "pids.max", l->tasks_max);
        if (r >= 0 && l->cpu_weight > 0)
                r = write_cgroup_attribute(fd, "cpu.weight", l->cpu_weight);
        if (r < 0) {
                (void) unlinkat(parent_fd, name, AT_REMOVEDIR);
                return r;
        }

        *ret_fd = TAKE_FD(fd);
        return 0;
}

static pid_t clone_sandbox(int cgroup_fd, int *ret_pidfd) {
        uint64_t flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                         CLONE_NEWCGROUP | CLONE_PIDFD;
        int pidfd = -EBADF;
        struct clone_args args = {
                .flags = flags | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
                .pidfd = (uint64_t) (uintptr_t) &pidfd,
                .exit_signal = SIGCHLD,
                .cgroup = cgroup_fd >= 0 ? (uint64_t) cgroup_fd : 0,
        };
        long pid;

        pid = syscall(SYS_clone3, &args, sizeof(args));
        if (pid < 0 && errno == ENOSYS && cgroup_fd < 0)
                /* clone3 filtered out (some container runtimes do): clone, whose third argument receives the
                 * pidfd on every architecture we build for. */
                pid = syscall(SYS_clone, (unsigned long) flags | SIGCHLD, NULL, &pidfd, NULL, NULL);
        if (pid < 0)
                return -errno;
        if (pid > 0)
                *ret_pidfd = pidfd;
        return (pid_t) pid;
}

int sandbox_spawn(const SandboxConfig *c, pid_t *ret_pid, int *ret_pidfd) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_close_ int cgroup_fd = -EBADF, go_read = -EBADF, go_write = -EBADF, error_read = -EBADF,
                            error_write = -EBADF, pidfd = -EBADF;
        SandboxChild sc;
        StepReport report;
        pid_t pid;
        ssize_t n;
        int fds[2], r;

        assert(c);
        assert(ret_pid);
        assert(ret_pidfd);

        if (!c->package_dir || !c->var_dir || !c->policy || !c->argv || !c->argv[0] || !c->envp)
                return log_error_errno(-EINVAL, "Incomplete sandbox configuration.");
        if (!path_is_absolute(c->argv[0]))
                return log_error_errno(-EINVAL, "The sandbox's command '%s' is not an absolute path.", c->argv[0]);
        if (c->host_uid == 0 || c->host_gid == 0)
                return log_error_errno(-EPERM, "Refusing to map the sandbox's uid or gid to root.");

        r = build_env(c, &env);
        if (r < 0)
                return log_oom();
        r = policy_compile(c->policy);
        if (r < 0)
                return log_error_errno(r, "Failed to compile the system call filter: %m");

        if (c->cgroup_dir) {
                r = cgroup_create(c, &cgroup_fd);
                if (r < 0)
                        return log_error_errno(r, "Failed to create the sandbox's cgroup under '%s': %m",
                                               c->cgroup_dir);
        }

        if (pipe2(fds, O_CLOEXEC) < 0)
                return log_error_errno(-errno, "Failed to create a pipe: %m");
        go_read = fds[0];
        go_write = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return log_error_errno(-errno, "Failed to create a pipe: %m");
        error_read = fds[0];
        error_write = fds[1];

        sc = (SandboxChild) {
                .config = c,
                .envp = env,
                .go_fd = go_read,
                .error_fd = error_write,
                .drop_groups = geteuid() == 0,
                .cgroup = cgroup_fd >= 0,
        };

        pid = clone_sandbox(cgroup_fd, &pidfd);
        if (pid < 0)
                return log_error_errno(pid, "Failed to create the sandbox's namespaces: %m");
        if (pid == 0)
                sandbox_child(&sc);

        go_read = safe_close(go_read);
        error_write = safe_close(error_write);

        r = write_id_maps(pid, c->host_uid, c->host_gid, sc.drop_groups);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return log_error_errno(r, "Failed to map uid %u and gid %u into the sandbox: %m",
                                       (unsigned) c->host_uid, (unsigned) c->host_gid);
        }
        if (write(go_write, "x", 1) != 1) {
                r = -errno;
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return log_error_errno(r, "Failed to release the sandbox: %m");
        }
        go_write = safe_close(go_write);

        n = loop_read(error_read, &report, sizeof(report));
        if (n == 0) {
                *ret_pid = pid;
                *ret_pidfd = TAKE_FD(pidfd);
                return 0;
        }

        (void) waitpid(pid, NULL, 0);
        if (n != (ssize_t) sizeof(report) || report.step < 0 || report.step >= _STEP_MAX || report.error <= 0)
                return log_error_errno(n < 0 ? (int) n : -EIO, "The sandbox failed to start: %m");
        if (report.step == STEP_EXEC)
                return log_error_errno(-report.error, "Failed to execute '%s' in the sandbox: %m", c->argv[0]);
        return log_error_errno(-report.error, "Failed to %s for the sandbox: %m", step_table[report.step]);
}
