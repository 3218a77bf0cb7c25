/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * grain/policy.h — the grain's system call policy: the text format of policies/grain.syscalls (documented
 * at the top of that file), its parsed form, and the libseccomp filter built from it.
 *
 * Owns Policy, an immutable list of rules in file order. Does not own the sandbox that loads the filter
 * (grain/sandbox.h) nor the choice of policy: the compiled-in text, policy_builtin(), is the only one the
 * programs use. The parser is pure (text in, Policy or a line-numbered message out); nothing here logs.
 */

#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

/* Arguments a rule may look at: a system call has at most six. */
#define POLICY_ARGS_MAX 6U
/* Conditions in one "when" line: at most one per argument. */
#define POLICY_CONDITIONS_MAX POLICY_ARGS_MAX
/* Bytes of policy text accepted, and forms ("when" lines) per filtered call. */
#define POLICY_TEXT_MAX (1024U * 1024U)
#define POLICY_MATCHES_MAX 64U

typedef enum PolicyAction {
        POLICY_ALLOW,  /* allowed whatever the arguments */
        POLICY_ERRNO,  /* fails with PolicyRule.error without running; error 0: succeeds, does nothing */
        POLICY_FILTER, /* allowed in the forms of PolicyRule.matches, else fails with PolicyRule.error */
        _POLICY_ACTION_MAX,
        _POLICY_ACTION_INVALID = -EINVAL,
} PolicyAction;

/* (argument & mask) == value, on the 64-bit argument. A plain "argN==V" has mask UINT64_MAX. */
typedef struct PolicyCondition {
        unsigned arg; /* 0 … POLICY_ARGS_MAX - 1 */
        uint64_t mask;
        uint64_t value;
} PolicyCondition;

/* One allowed form: every condition holds. */
typedef struct PolicyMatch {
        PolicyCondition conditions[POLICY_CONDITIONS_MAX];
        size_t n_conditions;
} PolicyMatch;

typedef struct PolicyRule {
        char *name; /* the system call, as the file spells it */
        PolicyAction action;
        int error;  /* POLICY_ERRNO: the errno (0 for a no-op); POLICY_FILTER: the errno when no form matches */
        PolicyMatch *matches; /* POLICY_FILTER only */
        size_t n_matches;
        unsigned line; /* where the rule was written, for messages */
} PolicyRule;

typedef struct Policy Policy;

/* Parses policy text. On failure returns -EINVAL (or -ENOMEM, -EFBIG) and, when ret_error is not NULL,
 * sets it to a message "line N: …" that the caller frees. */
int policy_parse(const char *text, Policy **ret, char **ret_error);
Policy *policy_free(Policy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Policy *, policy_free);

/* The text of policies/grain.syscalls, compiled in at build time. */
const char *policy_builtin(void);

/* The default errno (the "default" line) of every call no rule names. */
int policy_default_error(const Policy *p);
/* The rules in file order; rule i for i < policy_n_rules(). */
size_t policy_n_rules(const Policy *p);
const PolicyRule *policy_rule(const Policy *p, size_t i);
/* The rule naming a call, or NULL. */
const PolicyRule *policy_find(const Policy *p, const char *name);

const char *policy_action_to_string(PolicyAction a) _const_;

/* Builds the filter of p with libseccomp, for the native architecture (default: the policy's errno; other
 * architectures: ENOSYS), as a BPF program kept in p: the one change a Policy ever sees, made once, so
 * that starting a sandbox does not pay for it each time (sandbox_spawn() calls it before forking). Names
 * this architecture does not know are skipped. Returns 0 or a negative errno. */
int policy_compile(const Policy *p);

/* The program policy_compile() made (compiled first if it was not): *ret stays p's, valid while p is. */
struct sock_filter;
int policy_program(const Policy *p, const struct sock_filter **ret, size_t *ret_len);

/* Sets no_new_privs and loads the filter (policy_compile()d first if it was not) into the calling
 * thread. Returns 0 or a negative errno; nothing is loaded on failure. */
int policy_load_seccomp(const Policy *p);
