/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/macro.h"
#include "grain/seccomp-program.h"

int seccomp_program_load(const struct sock_filter *f, size_t n) {
        struct sock_fprog prog;

        if (!f || n == 0 || n > BPF_MAXINSNS)
                return -EINVAL;
        prog = (struct sock_fprog) {
                .len = (unsigned short) n,
                .filter = (struct sock_filter *) f,
        };
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return negative_errno();
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return negative_errno();
        return 0;
}
