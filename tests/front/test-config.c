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
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_missing_file),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
