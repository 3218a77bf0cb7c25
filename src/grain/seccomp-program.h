/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * grain/seccomp-program.h — loading a seccomp program that is already compiled: the grain policy's, which
 * policy_compile() makes in granaryd, and which the build makes for granary-grain (policy-bpf.h, written by
 * policy-bpf.c), so that a grain's start under systemd does not parse the policy and run libseccomp's
 * compiler each time.
 *
 * Owns nothing; libc only, because granary-grain is linked statically without libseccomp.
 */

#include <stddef.h>

#include <linux/filter.h>

/* Sets no_new_privs (which an unprivileged filter needs, as libseccomp's load sets it) and loads the n
 * instructions of f into the calling thread. Returns 0 or a negative errno; -EINVAL for an empty program or
 * one longer than BPF_MAXINSNS. */
int seccomp_program_load(const struct sock_filter *f, size_t n);
