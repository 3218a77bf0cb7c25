/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/conf-parser.h"
#include "basic/control-socket.h"
#include "basic/fileio.h"
#include "basic/string-util.h"
#include "front/config.h"

/* Keys of Sandstorm's sandstorm.conf that mean nothing here: accepted without a warning, so that a
 * Sandstorm config can be copied over as it is. */
static const char *const sandstorm_ignored_keys[] = {
        "SERVER_USER", "MONGO_PORT", "WILDCARD_PARENT_URL", "DDP_DEFAULT_CONNECTION_URL", "MAIL_URL",
        "SANDCATS_BASE_DOMAIN", "ALLOW_DEMO_ACCOUNTS", "ALLOW_DEV_ACCOUNTS", "IS_TESTING",
        "HIDE_TROUBLESHOOTING", "SMTP_LISTEN_PORT", "EXPERIMENTAL_GATEWAY", "PRIVATE_KEY_PASSWORD",
        "TERMS_PAGE_PUBLIC_ID", "STRIPE_SECRET_KEY", "STRIPE_PUBLIC_KEY", "USE_EXPERIMENTAL_SECCOMP_FILTER",
        "LOG_SECCOMP_VIOLATIONS", "ALLOW_LEGACY_RELAXED_CSP", "UPDATE_CHANNEL",
};

static const char *const known_keys[] = {
        "BASE_URL", "WILDCARD_HOST", "BIND_IP", "PORT", "HTTPS_PORT", "STATE_DIR", "RUNTIME_DIR",
        "CONTROL_SOCKET", "SHELL_DIR", "TLS_CERT_FILE", "TLS_KEY_FILE", "LOG_LEVEL", "MAX_REQUEST_LINE",
        "MAX_HEADER_BYTES", "MAX_HEADER_COUNT", "MAX_BODY_BYTES", "MAX_CONNECTIONS",
        "MAX_CONNECTIONS_PER_ADDRESS", "HEADER_TIMEOUT_SEC", "IDLE_TIMEOUT_SEC", "BODY_TIMEOUT_SEC",
        "WRITE_TIMEOUT_SEC", "DRAIN_TIMEOUT_SEC", "MIN_BODY_RATE", "GRAIN_BACKEND", "GRAIN_IDLE_SEC",
        "GRAIN_STOP_TIMEOUT_SEC", "GRAIN_MEMORY_MAX", "GRAIN_TASKS_MAX", "GRAIN_NOFILE_MAX", "GRAIN_CPU_WEIGHT",
        "GRAIN_RESPONSE_TIMEOUT_SEC", "GRAIN_SESSION_IDLE_SEC",
};

static const char *const grain_backend_names[_FRONT_GRAIN_BACKEND_MAX] = {
        [FRONT_GRAIN_BACKEND_AUTO] = "auto",
        [FRONT_GRAIN_BACKEND_DIRECT] = "direct",
        [FRONT_GRAIN_BACKEND_SYSTEMD] = "systemd",
};

const char *front_grain_backend_to_string(FrontGrainBackend b) {
        if (b < 0 || b >= _FRONT_GRAIN_BACKEND_MAX)
                return NULL;
        return grain_backend_names[b];
}

FrontGrainBackend front_grain_backend_from_string(const char *s) {
        if (!s)
                return _FRONT_GRAIN_BACKEND_INVALID;
        for (int i = 0; i < _FRONT_GRAIN_BACKEND_MAX; i++)
                if (streq(s, grain_backend_names[i]))
                        return (FrontGrainBackend) i;
        return _FRONT_GRAIN_BACKEND_INVALID;
}

int front_config_parse_size(const char *s, uint64_t max, uint64_t *ret) {
        static const char suffixes[] = "KMGT";
        char digits[24];
        size_t n;
        unsigned shift = 0;
        uint64_t v;

        assert(s);
        assert(ret);

        n = strspn(s, "0123456789");
        if (n == 0 || n >= sizeof digits)
                return n == 0 ? -EINVAL : -ERANGE;
        if (s[n] != '\0') {
                const char *k = strchr(suffixes, s[n]);

                if (!k || s[n + 1] != '\0')
                        return -EINVAL;
                shift = 10 * (unsigned) (k - suffixes + 1);
        }
        memcpy(digits, s, n);
        digits[n] = '\0';
        if (parse_uint64(digits, UINT64_MAX, &v) < 0)
                return -ERANGE;
        if (v > (max >> shift))
                return -ERANGE;
        *ret = v << shift;
        return 0;
}

void front_config_done(FrontConfig *c) {
        if (!c)
                return;
        free(c->base_url);
        free(c->wildcard_host);
        free(c->bind_ip);
        free(c->state_dir);
        free(c->runtime_dir);
        free(c->control_socket);
        free(c->shell_dir);
        free(c->tls_cert);
        free(c->tls_key);
        free(c->log_level);
        *c = (FrontConfig) {};
}

static const ConfEntry *entry_of(const Conf *conf, const char *key) {
        /* the last one wins, as in conf_get() */
        for (size_t i = conf->n_entries; i > 0; i--)
                if (streq(conf->entries[i - 1].key, key))
                        return &conf->entries[i - 1];
        return NULL;
}

static int bad_value(const Conf *conf, const char *key, const char *why, char **ret_error) {
        const ConfEntry *e = entry_of(conf, key);

        if (e)
                return error_set(ret_error, -EINVAL, "%s:%u: %s: %s", e->file, e->line, key, why);
        return error_set(ret_error, -EINVAL, "%s: %s", key, why);
}

static int get_uint(const Conf *conf, const char *key, uint64_t min, uint64_t max, uint64_t *value,
                    char **ret_error) {
        const char *s = conf_get(conf, key);
        uint64_t v;
        char why[96];

        if (!s)
                return 0;
        if (parse_uint64(s, max, &v) < 0 || v < min) {
                snprintf(why, sizeof why, "expected a number from %" PRIu64 " to %" PRIu64 ", got '%s'", min, max,
                         s);
                return bad_value(conf, key, why, ret_error);
        }
        *value = v;
        return 0;
}

static int get_unsigned(const Conf *conf, const char *key, unsigned min, unsigned max, unsigned *value,
                        char **ret_error) {
        uint64_t v = *value;
        int r = get_uint(conf, key, min, max, &v, ret_error);

        if (r < 0)
                return r;
        *value = (unsigned) v;
        return 0;
}

static int set_string(char **field, const char *value) {
        char *s = strdup(value);

        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

static int parse_ports(const char *s, uint16_t ports[static FRONT_PORTS_MAX], unsigned *ret_n) {
        unsigned n = 0;
        const char *p = s;

        for (;;) {
                const char *comma = strchrnul(p, ',');
                char buf[8];
                size_t len = (size_t) (comma - p);
                uint64_t v;

                while (len > 0 && (*p == ' ' || *p == '\t'))
                        p++, len--;
                while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                        len--;
                if (len == 0 || len >= sizeof buf || n >= FRONT_PORTS_MAX)
                        return -EINVAL;
                memcpy(buf, p, len);
                buf[len] = '\0';
                if (parse_uint64(buf, 65535, &v) < 0 || v == 0)
                        return -EINVAL;
                ports[n++] = (uint16_t) v;
                if (*comma == '\0')
                        break;
                p = comma + 1;
        }
        *ret_n = n;
        return 0;
}

/* scheme://host[:port] with an optional trailing '/': what BASE_URL may be. */
static bool base_url_is_valid(const char *u) {
        const char *h = startswith(u, "http://") ?: startswith(u, "https://");
        size_t n;

        if (!h || !*h)
                return false;
        n = strcspn(h, "/?#");
        for (size_t i = n; h[i]; i++)
                if (h[i] != '/') /* only trailing slashes, which are stripped */
                        return false;
        for (size_t i = 0; i < n; i++)
                if (!(h[i] == '.' || h[i] == '-' || h[i] == ':' || h[i] == '[' || h[i] == ']' ||
                      (h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9')))
                        return false;
        return true;
}

static bool wildcard_is_valid(const char *w) {
        const char *rest = startswith(w, "*.");

        if (!rest || !*rest || strchr(rest, '*') || strchr(rest, '/'))
                return false;
        for (const char *p = rest; *p; p++)
                if (!(*p == '.' || *p == '-' || *p == ':' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9')))
                        return false;
        return true;
}

static int check_bind_ip(const char *s) {
        unsigned char buf[16];

        if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
                return 0;
        return -EINVAL;
}

int front_config_load(const char *path, bool dev, const FrontConfigOverrides *o, FrontConfig *ret,
                      char ***ret_warnings, char **ret_error) {
        _cleanup_(conf_done) Conf conf = {};
        FrontConfig c = {
                .dev = dev,
                .limits = HTTP_LIMITS_DEFAULT,
                .connections_max = FRONT_CONNECTIONS_MAX,
                .connections_per_address_max = FRONT_CONNECTIONS_PER_ADDRESS_MAX,
                .header_timeout_sec = FRONT_HEADER_TIMEOUT_SEC,
                .idle_timeout_sec = FRONT_IDLE_TIMEOUT_SEC,
                .body_timeout_sec = FRONT_BODY_TIMEOUT_SEC,
                .body_min_rate = FRONT_BODY_MIN_RATE,
                .write_timeout_sec = FRONT_WRITE_TIMEOUT_SEC,
                .drain_timeout_sec = FRONT_DRAIN_TIMEOUT_SEC,
                .grain_backend = FRONT_GRAIN_BACKEND_AUTO,
                .grain_idle_sec = FRONT_GRAIN_IDLE_SEC,
                .grain_stop_timeout_sec = FRONT_GRAIN_STOP_TIMEOUT_SEC,
                .grain_response_timeout_sec = FRONT_GRAIN_RESPONSE_TIMEOUT_SEC,
                .grain_session_idle_sec = FRONT_GRAIN_SESSION_IDLE_SEC,
                .grain_memory_max = FRONT_GRAIN_MEMORY_MAX,
                .grain_tasks_max = FRONT_GRAIN_TASKS_MAX,
                .grain_nofile_max = FRONT_GRAIN_NOFILE_MAX,
                .grain_cpu_weight = FRONT_GRAIN_CPU_WEIGHT,
        };
        const FrontConfigOverrides none = {};
        uint64_t v;
        const char *s;
        int r;

        assert(ret);
        if (!o)
                o = &none;
        if (dev && !o->state_dir)
                return error_set(ret_error, -EINVAL, "--dev needs a state directory");

        if (!path && !dev)
                path = FRONT_CONFIG_FILE;
        if (path) {
                r = conf_load(&conf, path, dev, ret_error);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < conf.n_entries; i++) {
                const ConfEntry *e = &conf.entries[i];
                bool known = false;

                for (size_t k = 0; k < ELEMENTSOF(known_keys) && !known; k++)
                        known = streq(e->key, known_keys[k]);
                for (size_t k = 0; k < ELEMENTSOF(sandstorm_ignored_keys) && !known; k++)
                        known = streq(e->key, sandstorm_ignored_keys[k]);
                if (!known && ret_warnings) {
                        char *w;

                        if (asprintf(&w, "%s:%u: unknown key '%s', ignored", e->file, e->line, e->key) < 0)
                                goto oom;
                        if (strv_consume(ret_warnings, w) < 0)
                                goto oom;
                }
        }

        /* ports */
        s = conf_get(&conf, "PORT");
        if (s) {
                if (parse_ports(s, c.ports, &c.n_ports) < 0) {
                        r = bad_value(&conf, "PORT", "expected a comma-separated list of ports", ret_error);
                        goto fail;
                }
        }
        v = 0;
        r = get_uint(&conf, "HTTPS_PORT", 1, 65535, &v, ret_error);
        if (r < 0)
                goto fail;
        c.https_port = (uint16_t) v;
        if (o->port) {
                c.ports[0] = o->port;
                c.n_ports = MAX(c.n_ports, 1U);
        }
        if (o->https_port)
                c.https_port = o->https_port;
        if (c.n_ports == 0 && (dev || c.https_port == 0)) {
                c.ports[0] = dev ? FRONT_DEV_PORT : 80;
                c.n_ports = 1;
        }

        s = o->bind_ip ?: conf_get(&conf, "BIND_IP") ?: "127.0.0.1";
        if (check_bind_ip(s) < 0) {
                r = bad_value(&conf, "BIND_IP", "expected a numeric IPv4 or IPv6 address", ret_error);
                goto fail;
        }
        if (set_string(&c.bind_ip, s) < 0)
                goto oom;

        /* the URLs */
        if (dev) {
                uint16_t port = c.https_port ?: c.ports[0];
                bool default_port = c.https_port ? port == 443 : port == 80;
                char pbuf[8] = "";

                if (!default_port)
                        snprintf(pbuf, sizeof pbuf, ":%u", port);
                if (asprintf(&c.base_url, "%s://" FRONT_DEV_HOST "%s", c.https_port ? "https" : "http", pbuf) < 0 ||
                    asprintf(&c.wildcard_host, "*." FRONT_DEV_HOST "%s", pbuf) < 0)
                        goto oom;
        }
        s = conf_get(&conf, "BASE_URL");
        if (s) {
                size_t n = strlen(s);

                if (!base_url_is_valid(s)) {
                        r = bad_value(&conf, "BASE_URL", "expected http[s]://host[:port]", ret_error);
                        goto fail;
                }
                while (n > 0 && s[n - 1] == '/')
                        n--;
                free(c.base_url);
                c.base_url = strndup(s, n);
                if (!c.base_url)
                        goto oom;
        } else if (!c.base_url) {
                /* Sandstorm's ROOT_URL default: http[s]://<BIND_IP>[:port] */
                uint16_t port = c.https_port ?: c.ports[0];
                bool v6 = strchr(c.bind_ip, ':');

                if (asprintf(&c.base_url, "%s://%s%s%s:%u", c.https_port ? "https" : "http", v6 ? "[" : "", c.bind_ip,
                             v6 ? "]" : "", port) < 0)
                        goto oom;
        }
        s = conf_get(&conf, "WILDCARD_HOST");
        if (s) {
                if (!wildcard_is_valid(s)) {
                        r = bad_value(&conf, "WILDCARD_HOST", "expected *.host[:port]", ret_error);
                        goto fail;
                }
                if (set_string(&c.wildcard_host, s) < 0)
                        goto oom;
        }
        if (!c.wildcard_host) {
                r = error_set(ret_error, -EINVAL, "%s: WILDCARD_HOST is not set (e.g. WILDCARD_HOST=*.example.org)",
                              path);
                goto fail;
        }

        /* directories and files */
        s = o->state_dir ?: conf_get(&conf, "STATE_DIR") ?: FRONT_STATE_DIR;
        if (set_string(&c.state_dir, s) < 0)
                goto oom;
        s = conf_get(&conf, "RUNTIME_DIR");
        if (s ? set_string(&c.runtime_dir, s) < 0 : dev ? set_string(&c.runtime_dir, c.state_dir) < 0
                                                        : set_string(&c.runtime_dir, FRONT_RUNTIME_DIR) < 0)
                goto oom;
        s = conf_get(&conf, "CONTROL_SOCKET");
        c.control_socket = s ? strdup(s) : path_join(c.runtime_dir, CONTROL_SOCKET_NAME);
        s = o->shell_dir ?: conf_get(&conf, "SHELL_DIR") ?: SHELLDIR;
        c.shell_dir = strdup(s);
        s = conf_get(&conf, "TLS_CERT_FILE");
        c.tls_cert = s ? strdup(s) : path_join(c.state_dir, "tls/cert.pem");
        s = conf_get(&conf, "TLS_KEY_FILE");
        c.tls_key = s ? strdup(s) : path_join(c.state_dir, "tls/key.pem");
        if (!c.control_socket || !c.shell_dir || !c.tls_cert || !c.tls_key)
                goto oom;
        s = conf_get(&conf, "LOG_LEVEL");
        if (s && set_string(&c.log_level, s) < 0)
                goto oom;

        /* limits */
        v = c.limits.request_line_max;
        if ((r = get_uint(&conf, "MAX_REQUEST_LINE", 64, HTTP_HEAD_CEILING / 2, &v, ret_error)) < 0)
                goto fail;
        c.limits.request_line_max = v;
        v = c.limits.header_bytes_max;
        if ((r = get_uint(&conf, "MAX_HEADER_BYTES", 256, HTTP_HEAD_CEILING / 2, &v, ret_error)) < 0)
                goto fail;
        c.limits.header_bytes_max = v;
        v = c.limits.header_count_max;
        if ((r = get_uint(&conf, "MAX_HEADER_COUNT", 8, 1000, &v, ret_error)) < 0)
                goto fail;
        c.limits.header_count_max = v;
        c.limits.header_value_max = MIN(c.limits.header_value_max, c.limits.header_bytes_max);
        v = c.limits.body_max;
        if ((r = get_uint(&conf, "MAX_BODY_BYTES", 1024, HTTP_BODY_CEILING, &v, ret_error)) < 0)
                goto fail;
        c.limits.body_max = v;
        if (http_limits_check(&c.limits) < 0) {
                r = error_set(ret_error, -EINVAL, "%s: the request limits do not fit together", path ?: "--dev");
                goto fail;
        }
        if ((r = get_unsigned(&conf, "MAX_CONNECTIONS", 1, 1000000, &c.connections_max, ret_error)) < 0 ||
            (r = get_unsigned(&conf, "MAX_CONNECTIONS_PER_ADDRESS", 1, 1000000, &c.connections_per_address_max,
                              ret_error)) < 0 ||
            (r = get_unsigned(&conf, "HEADER_TIMEOUT_SEC", 1, 3600, &c.header_timeout_sec, ret_error)) < 0 ||
            (r = get_unsigned(&conf, "IDLE_TIMEOUT_SEC", 1, 86400, &c.idle_timeout_sec, ret_error)) < 0 ||
            (r = get_unsigned(&conf, "BODY_TIMEOUT_SEC", 1, 3600, &c.body_timeout_sec, ret_error)) < 0 ||
            (r = get_unsigned(&conf, "WRITE_TIMEOUT_SEC", 1, 3600, &c.write_timeout_sec, ret_error)) < 0 ||
            (r = get_unsigned(&conf, "MIN_BODY_RATE", 0, 1U << 30, &c.body_min_rate, ret_error)) < 0 ||
            (r = get_unsigned(&conf, "DRAIN_TIMEOUT_SEC", 0, 3600, &c.drain_timeout_sec, ret_error)) < 0)
                goto fail;

        /* grains */
        s = conf_get(&conf, "GRAIN_BACKEND");
        if (s) {
                c.grain_backend = front_grain_backend_from_string(s);
                if (c.grain_backend < 0) {
                        r = bad_value(&conf, "GRAIN_BACKEND", "expected 'direct', 'systemd' or 'auto'", ret_error);
                        goto fail;
                }
        }
        s = conf_get(&conf, "GRAIN_MEMORY_MAX");
        if (s && (front_config_parse_size(s, UINT64_C(1) << 50, &c.grain_memory_max) < 0 ||
                  c.grain_memory_max < FRONT_GRAIN_MEMORY_MIN)) {
                r = bad_value(&conf, "GRAIN_MEMORY_MAX",
                              "expected a size from 16M to 1024T: digits and an optional K, M, G or T", ret_error);
                goto fail;
        }
        if ((r = get_unsigned(&conf, "GRAIN_IDLE_SEC", 0, 86400 * 365, &c.grain_idle_sec, ret_error)) < 0 ||
            (r = get_unsigned(&conf, "GRAIN_STOP_TIMEOUT_SEC", 1, 600, &c.grain_stop_timeout_sec, ret_error)) < 0 ||
            (r = get_unsigned(&conf, "GRAIN_RESPONSE_TIMEOUT_SEC", 1, 86400, &c.grain_response_timeout_sec,
                              ret_error)) < 0 ||
            (r = get_unsigned(&conf, "GRAIN_SESSION_IDLE_SEC", 1, 86400 * 365, &c.grain_session_idle_sec,
                              ret_error)) < 0 ||
            (r = get_unsigned(&conf, "GRAIN_TASKS_MAX", 8, 4194304, &c.grain_tasks_max, ret_error)) < 0 ||
            (r = get_unsigned(&conf, "GRAIN_NOFILE_MAX", 64, 1048576, &c.grain_nofile_max, ret_error)) < 0 ||
            (r = get_unsigned(&conf, "GRAIN_CPU_WEIGHT", 1, 10000, &c.grain_cpu_weight, ret_error)) < 0)
                goto fail;

        *ret = c;
        return 0;

oom:
        r = error_set(ret_error, -ENOMEM, "Out of memory");
fail:
        front_config_done(&c);
        return r;
}

uint16_t front_config_primary_port(const FrontConfig *c) {
        const char *h = startswith(c->base_url, "http://") ?: startswith(c->base_url, "https://");
        const char *colon = h ? strrchr(h, ':') : NULL;

        if (colon && !strchr(colon, ']'))
                return (uint16_t) strtoul(colon + 1, NULL, 10);
        return front_config_https(c) ? 443 : 80;
}

bool front_config_https(const FrontConfig *c) {
        return startswith(c->base_url, "https://");
}
