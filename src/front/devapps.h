/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * front/devapps.h — apps in development (`spk dev`, spec §3.6, issue 6): the registry of development apps
 * and their console streams. `spk dev` mounts its package view itself and registers it over the control
 * socket (POST /api/v1/dev-apps); while the registration lives its package overrides the installed
 * packages of its app id for every grain of it (front/grains.h "development apps"), and what those grains
 * write to their consoles streams back to it as lines "[<grain-id>] <line>\n".
 *
 * Owns the registrations (one per app id), the development package row each one adds (id
 * STORE_DEV_PACKAGE_PREFIX and 16 random hex digits, store/store.h), the app row a registration of an app
 * that is not installed adds, each registration's queue of output, the partial console lines of the grains
 * of registered apps, and, under the systemd backend, the journal reader that follows their consoles
 * (only while a registration exists). Does not own the mount (spk dev's), HTTP (granaryd streams what
 * devapp_read() gives), the grains (front/grains.h runs and stops them) or the rows' other facts. Logs: each
 * registration and its end (info), and failures to follow the journal.
 *
 *   devapps_register() --> REGISTERED: the override is on, grains of the app that ran are stopped, the
 *        first line "dev <app-id> <package-id> <title>\n" is queued
 *   REGISTERED --devapps_end_all() (granaryd stops)--> ENDING: the stream ends once its queue is read
 *   REGISTERED or ENDING --devapp_unregister() (the connection went, for whatever reason)--> gone: the
 *        override is off, grains of the app that run are stopped, the development package goes unless
 *        grains use it (then it goes with the last of them, front/grains.c)
 *
 * (1) at most one registration per app id; (2) the queue of a registration holds at most DEVAPPS_QUEUE_MAX
 * bytes of lines: older lines are dropped first, and the reader then gets one line saying how many; (3) no
 * registration outlives its connection or devapps_free().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "basic/macro.h"
#include "front/apps.h"
#include "front/grains.h"
#include "store/store.h"

/* Bytes of lines a registration queues for a reader that does not keep up (2). */
#define DEVAPPS_QUEUE_MAX (1024u * 1024u)
/* A console line longer than this is cut there (the rest of it, up to its newline, is dropped). */
#define DEVAPPS_LINE_MAX 4096u
/* A console line without its newline yet is sent as it is after this long. */
#define DEVAPPS_PARTIAL_USEC (1000u * 1000u)
/* The largest body of POST /api/v1/dev-apps: a manifest of STORE_BLOB_MAX bytes, in base64, and the rest. */
#define DEVAPPS_BODY_MAX ((STORE_BLOB_MAX / 3u + 1u) * 4u + 64u * 1024u)

typedef struct DevApps DevApps;
typedef struct DevApp DevApp;

/* grains: borrowed, may be NULL (no override, no console then); its hooks are set here and removed by
 * devapps_free(). journal: follow grains' consoles in the journal (the systemd backend) instead of being
 * told them by grains.c. Releases development packages a crash of granaryd left (those grains use stay,
 * and go when their grains move). */
int devapps_new(sd_event *e, Store *store, Grains *grains, bool journal, DevApps **ret);
/* Unregisters every app (as devapp_unregister()) and frees. Accepts NULL, returns NULL. */
DevApps *devapps_free(DevApps *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(DevApps *, devapps_free);

typedef struct DevAppsParams {
        const char *app_id;   /* spec §1.3, any case */
        const char *root;     /* absolute path of a directory: the package's tree */
        const void *manifest; /* the sandstorm-manifest message */
        size_t manifest_size;
        const void *bridge_config; /* sandstorm-http-bridge-config; NULL: none */
        size_t bridge_config_size;
        uint64_t now; /* CLOCK_REALTIME µs */
} DevAppsParams;

/* Registers p. Errors, with a message for a person in *ret_error (may be NULL): -EINVAL an app id or root
 * refused, -EBADMSG a manifest or bridge config that does not parse, -EEXIST the app is registered already;
 * or the store's errnos. */
int devapps_register(DevApps *d, const DevAppsParams *p, DevApp **ret, char **ret_error);
/* Ends the registration (see the diagram). Accepts NULL, returns NULL. */
DevApp *devapp_unregister(DevApp *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(DevApp *, devapp_unregister);

const char *devapp_app_id(const DevApp *a) _pure_;
const char *devapp_package_id(const DevApp *a) _pure_;
const char *devapp_root(const DevApp *a) _pure_;

/* The registration of app_id (canonical lowercase), or NULL. */
DevApp *devapps_get(DevApps *d, const char *app_id);
/* The registered apps as apps.h describes apps (dev set), by title; a NULL-terminated array. */
int devapps_list(DevApps *d, AppsApp ***ret, size_t *ret_n);

/* ---- the stream ---- */

/* cb is called whenever bytes are queued or the stream ends (not from within devapp_read()). */
void devapp_on_output(DevApp *a, void (*cb)(DevApp *a, void *userdata), void *userdata);
/* Moves up to n queued bytes to buf: how many. *ret_eof once the stream has ended and all was read. */
size_t devapp_read(DevApp *a, void *buf, size_t n, bool *ret_eof);
/* Bytes queued now. */
size_t devapp_queued(const DevApp *a) _pure_;
/* Ends every stream after what it holds (granaryd stops): the registrations end with their connections. */
void devapps_end_all(DevApps *d);

/* Console bytes of a grain of app_id, as grains.c's hook gives them (n == 0: its console ended: a partial
 * line goes out). Lines go to the registration of app_id, if any. */
void devapps_console(DevApps *d, const char *grain_id, const char *app_id, const void *data, size_t n);
