/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * grain-unit IN OUT: run by the build. Copies the grain's unit template IN to OUT, the one line
 * "SystemCallFilter=[policies/grain.syscalls]" replaced by the policy's list as the systemd backend gives
 * it (grains_systemd_syscall_filter(): what this build's libseccomp, and so systemd, knows), in
 * SystemCallFilter= lines of at most 120 characters.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/macro.h"
#include "basic/string-util.h"
#include "front/grains-systemd.h"
#include "grain/policy.h"

#define MARKER "SystemCallFilter=[policies/grain.syscalls]"
#define LINE_MAX_CHARS 120u

static int append_filter(StrBuf *b, char **names) {
        size_t width = 0;
        int r = 0;

        STRV_FOREACH(n, names) {
                size_t len = strlen(*n);

                if (width > 0 && width + 1 + len > LINE_MAX_CHARS) {
                        r = strbuf_append_char(b, '\n');
                        width = 0;
                }
                if (r >= 0 && width == 0) {
                        r = strbuf_append_str(b, "SystemCallFilter=");
                        width = STRLEN("SystemCallFilter=");
                } else if (r >= 0) {
                        r = strbuf_append_char(b, ' ');
                        width++;
                }
                if (r >= 0)
                        r = strbuf_append_str(b, *n);
                width += len;
                if (r < 0)
                        return r;
        }
        return strbuf_append_char(b, '\n');
}

int main(int argc, char *argv[]) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_(strbuf_done) StrBuf b = STRBUF_INIT;
        _cleanup_free_ char *text = NULL, *error = NULL;
        unsigned markers = 0;
        int r;

        if (argc != 3) {
                fprintf(stderr, "Usage: grain-unit IN OUT\n");
                return 2;
        }
        r = policy_parse(policy_builtin(), &p, &error);
        if (r >= 0)
                r = grains_systemd_syscall_filter(p, &names);
        if (r < 0) {
                fprintf(stderr, "grain-unit: policies/grain.syscalls: %s\n", error ?: strerror(-r));
                return 1;
        }
        r = read_full_file_at(AT_FDCWD, argv[1], 1u << 20, &text, NULL);
        if (r < 0) {
                fprintf(stderr, "grain-unit: cannot read %s: %s\n", argv[1], strerror(-r));
                return 1;
        }

        for (char *l = text, *e; l && *l && r >= 0; l = e ? e + 1 : NULL) {
                e = strchr(l, '\n');
                if (e)
                        *e = 0;
                if (streq(l, MARKER)) {
                        markers++;
                        r = append_filter(&b, names);
                } else {
                        r = strbuf_append_str(&b, l);
                        if (r >= 0)
                                r = strbuf_append_char(&b, '\n');
                }
        }
        if (r >= 0 && markers != 1) {
                fprintf(stderr, "grain-unit: %s has %u lines '%s', not one\n", argv[1], markers, MARKER);
                return 1;
        }
        if (r >= 0)
                r = write_file_atomic_at(AT_FDCWD, argv[2], b.data, b.len, 0644);
        if (r < 0) {
                fprintf(stderr, "grain-unit: cannot write %s: %s\n", argv[2], strerror(-r));
                return 1;
        }
        return 0;
}
