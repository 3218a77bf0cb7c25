/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The syscall policy: policies/grain.syscalls parses into the rules SECURITY.md asks for, bad lines are
 * refused with their line number, and the filter built from it answers as the file says (loaded in a child,
 * with no namespace needed). */

#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

#include <cmocka.h>
#include <seccomp.h>

#include "grain/policy.h"
#include "grain/seccomp-program.h"

#include "policy-bpf.h"

static Policy *parse_builtin(void) {
        _cleanup_free_ char *error = NULL;
        Policy *p = NULL;

        if (policy_parse(policy_builtin(), &p, &error) < 0)
                print_message("# %s\n", error);
        assert_null(error);
        assert_non_null(p);
        return p;
}

static void test_builtin(void **state) {
        _cleanup_(policy_freep) Policy *p = parse_builtin();
        const PolicyRule *r;

        assert_int_equal(policy_default_error(p), ENOSYS);
        assert_true(policy_n_rules(p) > 300);
        assert_null(policy_rule(p, policy_n_rules(p)));

        r = policy_find(p, "read");
        assert_non_null(r);
        assert_int_equal(r->action, POLICY_ALLOW);
        assert_string_equal(policy_action_to_string(r->action), "allow");

        r = policy_find(p, "mount");
        assert_int_equal(r->action, POLICY_ERRNO);
        assert_int_equal(r->error, EPERM);
        r = policy_find(p, "sync");
        assert_int_equal(r->action, POLICY_ERRNO);
        assert_int_equal(r->error, 0);
        r = policy_find(p, "clone3");
        assert_int_equal(r->action, POLICY_ERRNO);
        assert_int_equal(r->error, ENOSYS);

        /* ioctl: six requests, each on the low 32 bits of arg1; anything else ENOTTY. */
        r = policy_find(p, "ioctl");
        assert_int_equal(r->action, POLICY_FILTER);
        assert_string_equal(policy_action_to_string(r->action), "filter");
        assert_int_equal(r->error, ENOTTY);
        assert_int_equal(r->n_matches, 6);
        assert_int_equal(r->matches[0].n_conditions, 1);
        assert_int_equal(r->matches[0].conditions[0].arg, 1);
        assert_int_equal(r->matches[0].conditions[0].mask, 0xffffffffU);
        assert_int_equal(r->matches[0].conditions[0].value, FIOCLEX);

        /* socket: family exactly, type with the two flags masked off. */
        r = policy_find(p, "socket");
        assert_int_equal(r->error, EAFNOSUPPORT);
        assert_int_equal(r->n_matches, 6);
        assert_int_equal(r->matches[0].n_conditions, 2);
        assert_int_equal(r->matches[0].conditions[0].arg, 0);
        assert_int_equal(r->matches[0].conditions[0].mask, UINT64_MAX);
        assert_int_equal(r->matches[0].conditions[0].value, AF_UNIX);
        assert_int_equal(r->matches[0].conditions[1].mask, ~(uint64_t) (SOCK_NONBLOCK | SOCK_CLOEXEC));
        assert_int_equal(r->matches[0].conditions[1].value, SOCK_STREAM);

        r = policy_find(p, "clone");
        assert_int_equal(r->error, EPERM);
        assert_int_equal(r->n_matches, 1);
        assert_int_equal(r->matches[0].conditions[0].value, 0);
        assert_true(r->matches[0].conditions[0].mask & CLONE_NEWUSER);
        assert_true(r->matches[0].conditions[0].mask & CLONE_NEWNS);

        r = policy_find(p, "prctl");
        assert_int_equal(r->error, EINVAL);
        for (size_t i = 0; i < r->n_matches; i++)
                assert_int_not_equal(r->matches[i].conditions[0].value, PR_SET_SECCOMP);
}

/* Every class SECURITY.md lists as denied is denied, never allowed. */
static void test_builtin_denies(void **state) {
        static const char *const denied[] = {
                "add_key", "request_key", "keyctl", "bpf", "seccomp", "userfaultfd", "perf_event_open", "ptrace",
                "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "unshare", "setns", "clone3",
                "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount",
                "io_uring_setup", "io_uring_enter", "io_setup", "io_submit", "init_module", "finit_module",
                "delete_module", "kexec_load", "kexec_file_load", "reboot", "personality", "modify_ldt",
                "open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "clock_settime", "settimeofday",
                "adjtimex", "swapon", "swapoff", "quotactl", "acct", "syslog", "mbind", "set_mempolicy",
                "migrate_pages", "move_pages", "sched_setattr", "setuid", "setgid", "setresuid", "setgroups",
                "capset", "chown", "fchown", "uselib", "_sysctl",
        };
        _cleanup_(policy_freep) Policy *p = parse_builtin();

        for (size_t i = 0; i < ELEMENTSOF(denied); i++) {
                const PolicyRule *r = policy_find(p, denied[i]);

                if (!r)
                        continue; /* the default, ENOSYS */
                if (r->action != POLICY_ERRNO || r->error == 0)
                        print_message("# %s is not denied\n", denied[i]);
                assert_int_equal(r->action, POLICY_ERRNO);
                assert_int_not_equal(r->error, 0);
        }
        /* Realtime scheduling only through a filter that refuses it. */
        assert_int_equal(policy_find(p, "sched_setscheduler")->action, POLICY_FILTER);
}

/* A misspelt name would be skipped silently when the filter is built: every name is a system call of some
 * architecture libseccomp knows, except the few newer than the libseccomp we build with. */
static void test_builtin_names_known(void **state) {
        static const uint32_t arches[] = {
                SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, SCMP_ARCH_X86, SCMP_ARCH_ARM, SCMP_ARCH_RISCV64,
        };
        static const char *const newer[] = { "mseal" };
        _cleanup_(policy_freep) Policy *p = parse_builtin();

        for (size_t i = 0; i < policy_n_rules(p); i++) {
                const char *name = policy_rule(p, i)->name;
                bool known = false;

                for (size_t a = 0; a < ELEMENTSOF(arches) && !known; a++)
                        known = seccomp_syscall_resolve_name_arch(arches[a], name) >= 0;
                for (size_t n = 0; n < ELEMENTSOF(newer) && !known; n++)
                        known = streq(name, newer[n]);
                if (!known)
                        print_message("# unknown system call '%s'\n", name);
                assert_true(known);
        }
}

static void expect_error(const char *text, int want, const char *message) {
        _cleanup_free_ char *error = NULL;
        Policy *p = NULL;

        assert_int_equal(policy_parse(text, &p, &error), want);
        assert_null(p);
        assert_non_null(error);
        if (!streq(error, message))
                print_message("# got '%s', want '%s'\n", error, message);
        assert_string_equal(error, message);
}

static void test_bad_lines(void **state) {
        expect_error("default ENOSYS\nallow read\nbogus x\n", -EINVAL, "line 3: unknown keyword 'bogus'");
        expect_error("allow read\n", -EINVAL, "no 'default ERRNO' line");
        expect_error("default ENOSYS\n# c\ndefault EPERM\n", -EINVAL, "line 3: a second 'default' line");
        expect_error("default 0\n", -EINVAL, "line 1: invalid default errno '0'");
        expect_error("default ENOSYS\nallow read write\n\nallow write\n", -EINVAL,
                     "line 4: 'write' is named on line 2 already");
        expect_error("default ENOSYS\nerrno EPERM read\nallow read\n", -EINVAL,
                     "line 3: 'read' is named on line 2 already");
        expect_error("default ENOSYS\nallow Read\n", -EINVAL, "line 2: invalid system call name 'Read'");
        expect_error("default ENOSYS\nallow\n", -EINVAL, "line 2: expected 'allow NAME...'");
        expect_error("default ENOSYS\nerrno EWHAT mount\n", -EINVAL,
                     "line 2: expected 'errno ERRNO NAME...' with ERRNO 0 or a name such as EPERM");
        expect_error("default ENOSYS\nerrno EPERM\n", -EINVAL,
                     "line 2: expected 'errno ERRNO NAME...' with ERRNO 0 or a name such as EPERM");
        expect_error("default ENOSYS\nfilter ioctl\n", -EINVAL,
                     "line 2: expected 'filter NAME ERRNO' with ERRNO a name such as EPERM");
        expect_error("default ENOSYS\nwhen ioctl arg1==1\n", -EINVAL,
                     "line 2: 'when' for 'ioctl' without a 'filter' line before it");
        expect_error("default ENOSYS\nallow ioctl\nwhen ioctl arg1==1\n", -EINVAL,
                     "line 3: 'when' for 'ioctl' without a 'filter' line before it");
        expect_error("default ENOSYS\nfilter ioctl ENOTTY\n", -EINVAL, "line 2: 'filter ioctl' has no 'when' line");
        expect_error("default ENOSYS\nfilter ioctl ENOTTY\nwhen ioctl arg6==1\n", -EINVAL,
                     "line 3: invalid condition 'arg6==1' (expected argN==VALUE or argN&MASK==VALUE)");
        expect_error("default ENOSYS\nfilter ioctl ENOTTY\nwhen ioctl arg1=1\n", -EINVAL,
                     "line 3: invalid condition 'arg1=1' (expected argN==VALUE or argN&MASK==VALUE)");
        expect_error("default ENOSYS\nfilter ioctl ENOTTY\nwhen ioctl arg1==NOT_A_CONSTANT\n", -EINVAL,
                     "line 3: invalid condition 'arg1==NOT_A_CONSTANT' (expected argN==VALUE or argN&MASK==VALUE)");
        expect_error("default ENOSYS\nfilter ioctl ENOTTY\nwhen ioctl arg1&0xff==0x100\n", -EINVAL,
                     "line 3: condition 'arg1&0xff==0x100' can never hold");
        expect_error("default ENOSYS\nfilter ioctl ENOTTY\nwhen ioctl arg1==1 arg1==2\n", -EINVAL,
                     "line 3: arg1 compared twice");
        expect_error("default ENOSYS\nallow read\x01\n", -EINVAL, "line 2: control character");
}

static void test_good_syntax(void **state) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_free_ char *error = NULL;
        const PolicyRule *r;

        assert_int_equal(policy_parse("  # only a comment\n\tdefault   EPERM # trailing\r\n"
                                      "filter socket EAFNOSUPPORT\n"
                                      "when socket arg0==AF_INET|AF_INET6 arg1&~SOCK_CLOEXEC==0x1 arg2==17\n"
                                      "errno 0 sync",
                                      &p, &error), 0);
        assert_int_equal(policy_default_error(p), EPERM);
        assert_int_equal(policy_n_rules(p), 2);
        r = policy_rule(p, 0);
        assert_string_equal(r->name, "socket");
        assert_int_equal(r->line, 3);
        assert_int_equal(r->n_matches, 1);
        assert_int_equal(r->matches[0].n_conditions, 3);
        assert_int_equal(r->matches[0].conditions[0].value, AF_INET | AF_INET6);
        assert_int_equal(r->matches[0].conditions[1].arg, 1);
        assert_int_equal(r->matches[0].conditions[1].mask, ~(uint64_t) SOCK_CLOEXEC);
        assert_int_equal(r->matches[0].conditions[1].value, 1);
        assert_int_equal(r->matches[0].conditions[2].value, 17);
        r = policy_rule(p, 1);
        assert_string_equal(r->name, "sync");
        assert_int_equal(r->line, 5);
        assert_null(policy_find(p, "read"));
}

/* The child's exit status: 0, or 1 + the number of the first expectation that failed. */
static int child_checks(void) {
        int bad = 0, fds[2];
        long r;

#define EXPECT(bit, call, want)                                                                              \
        do {                                                                                                 \
                errno = 0;                                                                                   \
                r = (call);                                                                                  \
                if ((want) == 0 ? r < 0 : (r >= 0 || errno != (want)))                                       \
                        bad = bad ?: (bit) + 1;                                                              \
        } while (0)

        EXPECT(0, socket(AF_NETLINK, SOCK_RAW, 0), EAFNOSUPPORT);
        EXPECT(1, syscall(SYS_ioctl, -1, TIOCSTI, "x"), ENOTTY);
        EXPECT(2, syscall(SYS_ioctl, -1, 0xffffffff00000000UL | FIONBIO, NULL), EBADF);
        EXPECT(3, syscall(SYS_keyctl, 9999, 0, 0, 0, 0), ENOSYS);
        EXPECT(4, syscall(SYS_mount, "none", "/", NULL, 0, NULL), EPERM);
        EXPECT(5, syscall(SYS_syncfs, -1), 0);
        EXPECT(6, syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL), EPERM);
        EXPECT(7, prctl(PR_GET_SECCOMP), EINVAL);
        EXPECT(8, socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        EXPECT(9, syscall(SYS_close, -1), EBADF);
        EXPECT(10, syscall(SYS_clone3, NULL, 0), ENOSYS);
#undef EXPECT
        return bad;
}

/* In a child: load, then the checks; each must pass. */
static void assert_checks_after(int (*load)(const void *data), const void *data) {
        int status;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int r = load(data);

                _exit(r < 0 ? 0xff : child_checks());
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0)
                print_message("# check %d failed\n", WEXITSTATUS(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static int load_policy(const void *data) {
        return policy_load_seccomp(data);
}

static int load_builtin_program(const void *data) {
        return seccomp_program_load(policy_builtin_bpf, ELEMENTSOF(policy_builtin_bpf));
}

static void test_load(void **state) {
        _cleanup_(policy_freep) Policy *p = parse_builtin();

        assert_checks_after(load_policy, p);
}

/* The program the build compiled for granary-grain (policy-bpf.h) is the one policy_compile() makes now,
 * instruction for instruction, and loads as the policy says. */
static void test_builtin_program(void **state) {
        _cleanup_(policy_freep) Policy *p = parse_builtin();
        const struct sock_filter *f;
        size_t n;

        assert_int_equal(policy_program(p, &f, &n), 0);
        assert_int_equal(n, ELEMENTSOF(policy_builtin_bpf));
        assert_memory_equal(f, policy_builtin_bpf, sizeof(policy_builtin_bpf));

        assert_int_equal(seccomp_program_load(policy_builtin_bpf, 0), -EINVAL);
        assert_int_equal(seccomp_program_load(NULL, 1), -EINVAL);
        assert_int_equal(seccomp_program_load(policy_builtin_bpf, BPF_MAXINSNS + 1), -EINVAL);
        assert_checks_after(load_builtin_program, NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_builtin),
                cmocka_unit_test(test_builtin_denies),
                cmocka_unit_test(test_builtin_names_known),
                cmocka_unit_test(test_bad_lines),
                cmocka_unit_test(test_good_syntax),
                cmocka_unit_test(test_load),
                cmocka_unit_test(test_builtin_program),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
