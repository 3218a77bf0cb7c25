/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Replays a fuzz target's committed corpus as an ordinary test, so that every input that ever
 * crashed a parser keeps being checked without libFuzzer. Arguments: files or directories. Speaks
 * TAP: one case per input.
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/macro.h"
#include "basic/string-util.h"
#include "fuzz.h"

static unsigned n_cases;

static int replay_file(const char *path) {
        _cleanup_free_ char *buf = NULL;
        size_t size;
        int r;

        r = read_full_file_at(AT_FDCWD, path, 64u << 20, &buf, &size);
        if (r < 0) {
                printf("not ok %u - %s: cannot read: %s\n", ++n_cases, path, strerror(-r));
                return r;
        }
        /* Copy into an exact-size allocation so ASan sees any read past the end. */
        _cleanup_free_ uint8_t *exact = malloc(size ? size : 1);
        if (!exact)
                return -ENOMEM;
        memcpy(exact, buf, size);
        (void) LLVMFuzzerTestOneInput(exact, size);
        printf("ok %u - %s\n", ++n_cases, path);
        fflush(stdout);
        return 0;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int replay(const char *path) {
        struct stat st;
        int r = 0;

        if (stat(path, &st) < 0) {
                printf("not ok %u - %s: %m\n", ++n_cases, path);
                return -errno;
        }
        if (!S_ISDIR(st.st_mode))
                return replay_file(path);

        _cleanup_strv_free_ char **names = NULL;
        DIR *d = opendir(path);
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                if (strv_consume(&names, path_join(path, de->d_name)) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
        }
        closedir(d);
        if (names)
                qsort(names, strv_length(names), sizeof(char *), compare_strings);
        STRV_FOREACH(n, names) {
                int k = replay(*n);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

int main(int argc, char *argv[]) {
        int r = 0;

        for (int i = 1; i < argc; i++) {
                int k = replay(argv[i]);
                if (k < 0 && r == 0)
                        r = k;
        }
        printf("1..%u\n", n_cases);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
