/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* granary.conf as granaryd reads it: defaults, Sandstorm's keys, our limits, --dev, and every refusal. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "front/config.h"

static char dir[] = "/tmp/test-front-config-XXXXXX";

static char *write_conf(const char *text) {
        char *p = path_join(dir, "granary.conf");

        assert_non_null(p);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, p, text, strlen(text), 0644), 0);
        return p;
}

static void test_dev_defaults(void **state) {
        FrontConfig c = {};
        _cleanup_free_ char *error = NULL;
        FrontConfigOverrides o = {.state_dir = dir};

        assert_int_equal(front_config_load(NULL, true, &o, &c, NULL, &error), 0);
        assert_string_equal(c.base_url, "http://granary.localhost:6080");
        assert_string_equal(c.wildcard_host, "*.granary.localhost:6080");
        assert_string_equal(c.bind_ip, "127.0.0.1");
        assert_int_equal(c.n_ports, 1);
        assert_int_equal(c.ports[0], 6080);
        assert_int_equal(c.https_port, 0);
        assert_string_equal(c.state_dir, dir);
        assert_true(endswith(c.control_socket, "/control.sock"));
        assert_true(startswith(c.control_socket, dir));
        assert_true(endswith(c.tls_cert, "/tls/cert.pem"));
        assert_int_equal(front_config_primary_port(&c), 6080);
        assert_false(front_config_https(&c));
        assert_int_equal(c.connections_max, FRONT_CONNECTIONS_MAX);
        front_config_done(&c);

        /* --https-port makes HTTPS the primary port, as HTTPS_PORT does in Sandstorm */
        o.https_port = 6443;
        o.port = 7000;
        assert_int_equal(front_config_load(NULL, true, &o, &c, NULL, &error), 0);
        assert_string_equal(c.base_url, "https://granary.localhost:6443");
        assert_string_equal(c.wildcard_host, "*.granary.localhost:6443");
        assert_int_equal(c.ports[0], 7000);
        assert_int_equal(front_config_primary_port(&c), 6443);
        assert_true(front_config_https(&c));
        front_config_done(&c);

        /* --dev needs its directory */
        assert_int_equal(front_config_load(NULL, true, NULL, &c, NULL, &error), -EINVAL);
}

static void test_sandstorm_conf(void **state) {
        _cleanup_free_ char *p = write_conf("SERVER_USER=sandstorm\n"
                                            "PORT=6080, 8080\n"
                                            "MONGO_PORT=6081\n"
                                            "BIND_IP=0.0.0.0\n"
                                            "BASE_URL=https://example.org/ # trailing slash is stripped\n"
                                            "WILDCARD_HOST=*.example.org\n"
                                            "HTTPS_PORT=443\n"
                                            "UPDATE_CHANNEL=dev\n"
                                            "FROBNICATE=yes\n");
        _cleanup_strv_free_ char **warnings = NULL;
        _cleanup_free_ char *error = NULL;
        FrontConfig c = {};

        assert_int_equal(front_config_load(p, false, NULL, &c, &warnings, &error), 0);
        assert_string_equal(c.base_url, "https://example.org");
        assert_string_equal(c.wildcard_host, "*.example.org");
        assert_string_equal(c.bind_ip, "0.0.0.0");
        assert_int_equal(c.n_ports, 2);
        assert_int_equal(c.ports[0], 6080);
        assert_int_equal(c.ports[1], 8080);
        assert_int_equal(c.https_port, 443);
        assert_int_equal(front_config_primary_port(&c), 443);
        assert_string_equal(c.state_dir, FRONT_STATE_DIR);
        assert_string_equal(c.control_socket, FRONT_RUNTIME_DIR "/control.sock");
        /* Sandstorm's own keys are accepted quietly; ours unknown are reported with file and line */
        assert_int_equal(strv_length(warnings), 1);
        assert_non_null(strstr(warnings[0], "granary.conf:9: unknown key 'FROBNICATE'"));
        front_config_done(&c);
}

static void test_limits(void **state) {
        _cleanup_free_ char *p = write_conf("WILDCARD_HOST=*.h.test:8000\n"
                                            "MAX_CONNECTIONS=100\n"
                                            "MAX_CONNECTIONS_PER_ADDRESS=7\n"
                                            "HEADER_TIMEOUT_SEC=2\n"
                                            "MAX_BODY_BYTES=4096\n"
                                            "MAX_HEADER_BYTES=1024\n");
        _cleanup_free_ char *error = NULL;
        FrontConfig c = {};

        assert_int_equal(front_config_load(p, false, NULL, &c, NULL, &error), 0);
        assert_int_equal(c.connections_max, 100);
        assert_int_equal(c.connections_per_address_max, 7);
        assert_int_equal(c.header_timeout_sec, 2);
        assert_int_equal(c.limits.body_max, 4096);
        assert_int_equal(c.limits.header_bytes_max, 1024);
        assert_true(c.limits.header_value_max <= 1024);
        /* without BASE_URL: Sandstorm's http://<BIND_IP>:<port> */
        assert_string_equal(c.base_url, "http://127.0.0.1:80");
        front_config_done(&c);
}

static void test_backend_names(void **state) {
        for (int i = 0; i < _FRONT_GRAIN_BACKEND_MAX; i++)
                assert_int_equal(front_grain_backend_from_string(front_grain_backend_to_string(i)), i);
        assert_string_equal(front_grain_backend_to_string(FRONT_GRAIN_BACKEND_DIRECT), "direct");
        assert_null(front_grain_backend_to_string(_FRONT_GRAIN_BACKEND_MAX));
        assert_int_equal(front_grain_backend_from_string("none"), -EINVAL);
        assert_int_equal(front_grain_backend_from_string(NULL), -EINVAL);
}

static void test_grain_defaults(void **state) {
        FrontConfig c = {};
        _cleanup_free_ char *error = NULL;
        FrontConfigOverrides o = {.state_dir = dir};

        assert_int_equal(front_config_load(NULL, true, &o, &c, NULL, &error), 0);
        assert_int_equal(c.grain_backend, FRONT_GRAIN_BACKEND_AUTO);
        assert_int_equal(c.grain_idle_sec, 120);
        assert_int_equal(c.grain_stop_timeout_sec, 5);
        assert_true(c.grain_memory_max == UINT64_C(1073741824));
        assert_int_equal(c.grain_tasks_max, 512);
        assert_int_equal(c.grain_nofile_max, 4096);
        assert_int_equal(c.grain_cpu_weight, 100);
        assert_int_equal(c.grain_response_timeout_sec, 60);
        assert_int_equal(c.grain_session_idle_sec, 3600);
        front_config_done(&c);
}

static void test_grain_keys(void **state) {
        _cleanup_free_ char *p = write_conf("WILDCARD_HOST=*.g.test\n"
                                            "GRAIN_BACKEND=direct\n"
                                            "GRAIN_IDLE_SEC=0 # never\n"
                                            "GRAIN_STOP_TIMEOUT_SEC=2\n"
                                            "GRAIN_MEMORY_MAX=512M\n"
                                            "GRAIN_TASKS_MAX=64\n"
                                            "GRAIN_NOFILE_MAX=1024\n"
                                            "GRAIN_CPU_WEIGHT=10000\n"
                                            "GRAIN_RESPONSE_TIMEOUT_SEC=5\n"
                                            "GRAIN_SESSION_IDLE_SEC=60\n");
        _cleanup_strv_free_ char **warnings = NULL;
        _cleanup_free_ char *error = NULL;
        FrontConfig c = {};

        assert_int_equal(front_config_load(p, false, NULL, &c, &warnings, &error), 0);
        assert_int_equal(strv_length(warnings), 0);
        assert_int_equal(c.grain_backend, FRONT_GRAIN_BACKEND_DIRECT);
        assert_int_equal(c.grain_idle_sec, 0);
        assert_int_equal(c.grain_stop_timeout_sec, 2);
        assert_true(c.grain_memory_max == UINT64_C(536870912));
        assert_int_equal(c.grain_tasks_max, 64);
        assert_int_equal(c.grain_nofile_max, 1024);
        assert_int_equal(c.grain_cpu_weight, 10000);
        assert_int_equal(c.grain_response_timeout_sec, 5);
        assert_int_equal(c.grain_session_idle_sec, 60);
        front_config_done(&c);

        /* systemd is a value the file may hold today; granaryd refuses it at start, not the parser */
        free(p);
        p = write_conf("WILDCARD_HOST=*.g.test\nGRAIN_BACKEND=systemd\nGRAIN_MEMORY_MAX=17179869184\n");
        assert_int_equal(front_config_load(p, false, NULL, &c, NULL, &error), 0);
        assert_int_equal(c.grain_backend, FRONT_GRAIN_BACKEND_SYSTEMD);
        assert_true(c.grain_memory_max == UINT64_C(17179869184));
        front_config_done(&c);
}

static void test_size(void **state) {
        uint64_t v = 7;

        assert_int_equal(front_config_parse_size("0", UINT64_MAX, &v), 0);
        assert_true(v == 0);
        assert_int_equal(front_config_parse_size("1536", UINT64_MAX, &v), 0);
        assert_true(v == 1536);
        assert_int_equal(front_config_parse_size("4K", UINT64_MAX, &v), 0);
        assert_true(v == 4096);
        assert_int_equal(front_config_parse_size("3M", UINT64_MAX, &v), 0);
        assert_true(v == UINT64_C(3) << 20);
        assert_int_equal(front_config_parse_size("2G", UINT64_MAX, &v), 0);
        assert_true(v == UINT64_C(2) << 30);
        assert_int_equal(front_config_parse_size("1T", UINT64_MAX, &v), 0);
        assert_true(v == UINT64_C(1) << 40);
        assert_int_equal(front_config_parse_size("16383P", UINT64_MAX, &v), -EINVAL);
        v = 7;
        assert_int_equal(front_config_parse_size("", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(front_config_parse_size("M", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(front_config_parse_size("1m", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(front_config_parse_size("1MB", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(front_config_parse_size("1 M", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(front_config_parse_size("1.5G", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(front_config_parse_size("-1", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(front_config_parse_size("+1", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(front_config_parse_size("0x10", UINT64_MAX, &v), -EINVAL);
        /* overflow, past max, and a shift past 64 bits */
        assert_int_equal(front_config_parse_size("18446744073709551616", UINT64_MAX, &v), -ERANGE);
        assert_int_equal(front_config_parse_size("1025", 1024, &v), -ERANGE);
        assert_int_equal(front_config_parse_size("16777216T", UINT64_MAX, &v), -ERANGE);
        assert_int_equal(front_config_parse_size("2K", 2047, &v), -ERANGE);
        assert_true(v == 7);
}

static void check_refused(const char *text, const char *message) {
        _cleanup_free_ char *p = write_conf(text);
        _cleanup_free_ char *error = NULL;
        FrontConfig c = {};

        assert_int_equal(front_config_load(p, false, NULL, &c, NULL, &error), -EINVAL);
        assert_non_null(error);
        if (!strstr(error, message))
                fail_msg("'%s' does not say '%s'", error, message);
        assert_null(c.base_url);
}

static void test_refused(void **state) {
        check_refused("BASE_URL=http://x.test\n", "WILDCARD_HOST is not set");
        check_refused("WILDCARD_HOST=x.test\n", "granary.conf:1: WILDCARD_HOST: expected *.host[:port]");
        check_refused("WILDCARD_HOST=*.a.*.test\n", "WILDCARD_HOST: expected");
        check_refused("WILDCARD_HOST=*.x.test\nBASE_URL=ftp://x.test\n", "granary.conf:2: BASE_URL");
        check_refused("WILDCARD_HOST=*.x.test\nBASE_URL=http://x.test/path\n", "BASE_URL");
        check_refused("WILDCARD_HOST=*.x.test\nPORT=80,,81\n", "granary.conf:2: PORT");
        check_refused("WILDCARD_HOST=*.x.test\nPORT=65536\n", "PORT");
        check_refused("WILDCARD_HOST=*.x.test\nHTTPS_PORT=0\n", "HTTPS_PORT: expected a number from 1 to 65535");
        check_refused("WILDCARD_HOST=*.x.test\nBIND_IP=localhost\n", "BIND_IP: expected a numeric");
        check_refused("WILDCARD_HOST=*.x.test\nMAX_CONNECTIONS=-1\n", "MAX_CONNECTIONS: expected a number");
        check_refused("WILDCARD_HOST=*.x.test\nHEADER_TIMEOUT_SEC=10s\n", "HEADER_TIMEOUT_SEC");
        check_refused("WILDCARD_HOST=*.x.test\nnot a line\n", "granary.conf:2");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_BACKEND=docker\n",
                      "granary.conf:2: GRAIN_BACKEND: expected 'direct', 'systemd' or 'auto'");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_BACKEND=Direct\n", "GRAIN_BACKEND");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_MEMORY_MAX=512MB\n", "granary.conf:2: GRAIN_MEMORY_MAX");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_MEMORY_MAX=15M\n", "GRAIN_MEMORY_MAX: expected a size");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_MEMORY_MAX=2048T\n", "GRAIN_MEMORY_MAX");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_IDLE_SEC=2m\n", "GRAIN_IDLE_SEC: expected a number");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_STOP_TIMEOUT_SEC=0\n",
                      "GRAIN_STOP_TIMEOUT_SEC: expected a number from 1 to 600");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_TASKS_MAX=4\n", "GRAIN_TASKS_MAX");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_NOFILE_MAX=10\n", "GRAIN_NOFILE_MAX");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_CPU_WEIGHT=0\n", "GRAIN_CPU_WEIGHT");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_CPU_WEIGHT=10001\n", "GRAIN_CPU_WEIGHT");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_RESPONSE_TIMEOUT_SEC=0\n", "GRAIN_RESPONSE_TIMEOUT_SEC");
        check_refused("WILDCARD_HOST=*.x.test\nGRAIN_SESSION_IDLE_SEC=\n", "GRAIN_SESSION_IDLE_SEC");
}

static void test_missing_file(void **state) {
        _cleanup_free_ char *error = NULL;
        FrontConfig c = {};

        assert_int_equal(front_config_load("/nonexistent/granary.conf", false, NULL, &c, NULL, &error), -ENOENT);
}

static int setup(void **state) {
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        return rm_rf_path(dir) < 0 ? -1 : 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dev_defaults),
                cmocka_unit_test(test_sandstorm_conf),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_backend_names),
                cmocka_unit_test(test_grain_defaults),
                cmocka_unit_test(test_grain_keys),
                cmocka_unit_test(test_size),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_missing_file),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
