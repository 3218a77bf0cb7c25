/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/config.h — what granaryd is told: granary.conf (Sandstorm's names and meanings where they exist,
 * spec §9.1), our own keys for limits and files, and the defaults of a system install and of --dev.
 *
 * Owns FrontConfig and its strings. Reads the file through basic/conf-parser.h; checks every value, so that
 * a FrontConfig that loaded is one granaryd can run with. Never logs: unknown keys are returned as
 * warnings for the caller to log. Errors name "file:line: …".
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "basic/macro.h"
#include "http/limits.h"

/* Where a system install keeps its things (DESIGN.md "State"). */
#define FRONT_CONFIG_FILE "/etc/granary/granary.conf"
#define FRONT_STATE_DIR "/var/lib/granary"
#define FRONT_RUNTIME_DIR "/run/granary"
#define FRONT_DEV_PORT 6080
#define FRONT_DEV_HOST "granary.localhost"

#define FRONT_PORTS_MAX 8

/* Defaults of the connection limits; each has a key in granary.conf. */
#define FRONT_CONNECTIONS_MAX 16384U            /* MAX_CONNECTIONS */
#define FRONT_CONNECTIONS_PER_ADDRESS_MAX 256U  /* MAX_CONNECTIONS_PER_ADDRESS */
#define FRONT_HEADER_TIMEOUT_SEC 10U            /* HEADER_TIMEOUT_SEC: first byte of a head (or of the TLS
                                                 * handshake) to its end */
#define FRONT_IDLE_TIMEOUT_SEC 75U              /* IDLE_TIMEOUT_SEC: keep-alive connection with nothing to do */
#define FRONT_BODY_TIMEOUT_SEC 30U              /* BODY_TIMEOUT_SEC: a request body that makes no progress */
#define FRONT_BODY_MIN_RATE 1024U               /* MIN_BODY_RATE: bytes/s a body must average after
                                                 * BODY_TIMEOUT_SEC (0: off) */
#define FRONT_WRITE_TIMEOUT_SEC 30U             /* WRITE_TIMEOUT_SEC: a client that reads nothing we send */
#define FRONT_DRAIN_TIMEOUT_SEC 10U             /* DRAIN_TIMEOUT_SEC: SIGTERM waits this long for requests */

/* Defaults of the grain keys (README "Configuration"). */
#define FRONT_GRAIN_IDLE_SEC 120U               /* GRAIN_IDLE_SEC: a grain with no connection stops (0: never) */
#define FRONT_GRAIN_STOP_TIMEOUT_SEC 5U         /* GRAIN_STOP_TIMEOUT_SEC: SIGTERM to SIGKILL */
#define FRONT_GRAIN_MEMORY_MAX (UINT64_C(1) << 30) /* GRAIN_MEMORY_MAX: bytes; K, M, G, T suffixes (1024) */
#define FRONT_GRAIN_MEMORY_MIN (UINT64_C(16) << 20) /* the least GRAIN_MEMORY_MAX a grain can start with */
#define FRONT_GRAIN_TASKS_MAX 512U              /* GRAIN_TASKS_MAX: processes and threads */
#define FRONT_GRAIN_NOFILE_MAX 4096U            /* GRAIN_NOFILE_MAX: open files per process */
#define FRONT_GRAIN_CPU_WEIGHT 100U             /* GRAIN_CPU_WEIGHT: cgroup v2 cpu.weight, 1…10000 */
#define FRONT_GRAIN_RESPONSE_TIMEOUT_SEC 60U    /* GRAIN_RESPONSE_TIMEOUT_SEC: a grain's response head (504) */
#define FRONT_GRAIN_SESSION_IDLE_SEC 3600U      /* GRAIN_SESSION_IDLE_SEC: an unused grain session ends */

/* GRAIN_BACKEND: who builds a grain's sandbox. */
typedef enum FrontGrainBackend {
        FRONT_GRAIN_BACKEND_AUTO,    /* "auto": systemd when it is PID 1 and answers on the system bus, else
                                      * direct; always direct under --dev */
        FRONT_GRAIN_BACKEND_DIRECT,  /* "direct": namespaces, seccomp and capabilities set up by granaryd */
        FRONT_GRAIN_BACKEND_SYSTEMD, /* "systemd": transient units over D-Bus; granaryd refuses to start
                                      * without a bus that answers */
        _FRONT_GRAIN_BACKEND_MAX,
        _FRONT_GRAIN_BACKEND_INVALID = -EINVAL,
} FrontGrainBackend;

const char *front_grain_backend_to_string(FrontGrainBackend b) _const_;
FrontGrainBackend front_grain_backend_from_string(const char *s) _pure_;

typedef struct FrontConfig {
        bool dev;
        char *base_url;      /* scheme://host[:port], no trailing '/' */
        char *wildcard_host; /* "*.host[:port]" */
        char *bind_ip;       /* numeric IPv4 or IPv6 */
        uint16_t ports[FRONT_PORTS_MAX]; /* PORT: plain HTTP; the first is primary unless HTTPS_PORT is set */
        unsigned n_ports;
        uint16_t https_port;  /* HTTPS_PORT; 0: none */
        char *state_dir;      /* database, packages, grains, tls/ */
        char *runtime_dir;    /* control.sock, grain sockets */
        char *control_socket; /* CONTROL_SOCKET, default runtime_dir/control.sock */
        char *shell_dir;      /* SHELL_DIR: the web UI's files */
        char *tls_cert;       /* TLS_CERT_FILE, default state_dir/tls/cert.pem */
        char *tls_key;        /* TLS_KEY_FILE, default state_dir/tls/key.pem */
        char *log_level;      /* LOG_LEVEL; NULL: leave as it is */
        HttpLimits limits;    /* MAX_REQUEST_LINE, MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_BODY_BYTES */
        unsigned connections_max;
        unsigned connections_per_address_max;
        unsigned header_timeout_sec, idle_timeout_sec, body_timeout_sec, write_timeout_sec, drain_timeout_sec;
        unsigned body_min_rate;
        /* grains */
        FrontGrainBackend grain_backend;
        unsigned grain_idle_sec, grain_stop_timeout_sec, grain_response_timeout_sec, grain_session_idle_sec;
        uint64_t grain_memory_max; /* bytes */
        unsigned grain_tasks_max, grain_nofile_max, grain_cpu_weight;
} FrontConfig;

void front_config_done(FrontConfig *c);

/* What the command line can override, applied after the file. NULL/0: not given. */
typedef struct FrontConfigOverrides {
        const char *state_dir;
        const char *shell_dir;
        const char *bind_ip;
        uint16_t port;
        uint16_t https_port;
} FrontConfigOverrides;

/*
 * Loads path (and the .conf files in path.d) into *ret. dev: the defaults of --dev — everything under state_dir (which
 * must be given), base URL http://granary.localhost:PORT (https://…:HTTPS_PORT when that is given, as
 * Sandstorm makes HTTPS_PORT the primary port), wildcard *.granary.localhost:<same port>, the file optional.
 * Otherwise the file is required and must say WILDCARD_HOST. path NULL: FRONT_CONFIG_FILE (not in dev).
 * Keys granaryd does not know are appended to *ret_warnings (strv, may be NULL) as "file:line: …".
 * -EINVAL with *ret_error set for a bad value.
 */
int front_config_load(const char *path, bool dev, const FrontConfigOverrides *o, FrontConfig *ret,
                      char ***ret_warnings, char **ret_error);

/* A size: decimal digits, then optionally one of K, M, G, T (powers of 1024, as systemd's MemoryMax=
 * reads them), nothing else (no spaces, no "B", no fractions). -EINVAL malformed, -ERANGE beyond max. */
int front_config_parse_size(const char *s, uint64_t max, uint64_t *ret);

/* The port of the base URL: where requests for our hosts on other ports are redirected. */
uint16_t front_config_primary_port(const FrontConfig *c) _pure_;
/* True when the base URL is https. */
bool front_config_https(const FrontConfig *c) _pure_;
