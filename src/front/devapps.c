/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The registrations (DevApp, a list: there are a few at most) and the grains' partial console lines
 * (Console, a list: one per grain of a registered app that wrote a line not ended yet). The state diagram
 * is in devapps.h. A registration's output is a queue of whole lines (Line); devapp_read() hands out its
 * head, from head_off.
 *
 * (1) d->apps holds only registrations that were not unregistered: the override hook finds no other
 * (2) a Line in the queue is never partly dropped: dropping starts at the head, and not at one whose first
 *     bytes went out already (head_off > 0)
 * (3) a Console belongs to a registered app: unregistering drops its consoles
 */

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include <sodium.h>
#include <systemd/sd-journal.h>

#include "basic/hex.h"
#include "basic/log.h"
#include "basic/random-util.h"
#include "basic/string-util.h"
#include "front/devapps.h"
#include "front/manifest.h"

/* "dev-", 16 hex digits */
#define DEV_PACKAGE_RANDOM_BYTES 8u
#define DEV_PACKAGE_ID_SIZE (STRLEN(STORE_DEV_PACKAGE_PREFIX) + 2u * DEV_PACKAGE_RANDOM_BYTES + 1u)
/* Journal entries read in one go before the loop gets a turn. */
#define JOURNAL_BATCH 256u

typedef struct Line Line;
struct Line {
        Line *next;
        size_t len;
        char data[];
};

typedef struct Console Console;
struct Console {
        Console *next;
        DevApps *devapps;
        char *grain_id;
        char *app_id;
        char buf[DEVAPPS_LINE_MAX];
        size_t len;
        bool skipping; /* past DEVAPPS_LINE_MAX: dropping up to the newline */
        sd_event_source *timer;
};

struct DevApp {
        DevApps *devapps;
        DevApp *next;
        char *app_id;
        char *root;
        char *title;
        char *marketing_version;
        uint32_t version;
        uint64_t registered;
        char package_id[DEV_PACKAGE_ID_SIZE];
        GrainsOverride override;

        Line *head, *tail;
        size_t head_off;
        size_t queued;    /* bytes of the lines queued, head_off not deducted */
        uint64_t dropped; /* lines dropped since the reader last heard of it */
        bool ended;
        void (*on_output)(DevApp *a, void *userdata);
        void *on_output_userdata;
        /* on_output runs from here, never from within a call of ours: it may end the registration */
        sd_event_source *notify;
};

struct DevApps {
        sd_event *event;
        Store *store;
        Grains *grains;
        DevApp *apps;
        Console *consoles;
        bool journal;
        sd_journal *j;
        sd_event_source *journal_source;
};

static DevApp *devapp_find(DevApps *d, const char *app_id) {
        for (DevApp *a = d->apps; a; a = a->next)
                if (streq(a->app_id, app_id))
                        return a;
        return NULL;
}

static const GrainsOverride *on_override(const char *app_id, void *userdata) {
        DevApp *a = devapp_find(userdata, app_id);

        return a ? &a->override : NULL;
}

static void on_console(
        const char *grain_id, const char *app_id, const void *data, size_t n, void *userdata) {
        devapps_console(userdata, grain_id, app_id, data, n);
}

/* ---- the queue ---- */

static int on_notify(sd_event_source *s, void *userdata) {
        DevApp *a = userdata;

        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (a->on_output)
                a->on_output(a, a->on_output_userdata); /* may free a */
        return 0;
}

static void devapp_notify(DevApp *a) {
        int r;

        if (!a->notify) {
                r = sd_event_add_defer(a->devapps->event, &a->notify, on_notify, a);
                if (r < 0) {
                        log_warning_errno(r, "Failed to wake the stream of app %s: %m", a->app_id);
                        return;
                }
                (void) sd_event_source_set_description(a->notify, "devapp-notify");
        }
        (void) sd_event_source_set_enabled(a->notify, SD_EVENT_ONESHOT);
}

static void line_free_all(DevApp *a) {
        while (a->head) {
                Line *l = a->head;

                a->head = l->next;
                free(l);
        }
        a->tail = NULL;
        a->head_off = a->queued = 0;
}

/* Queues data as one line (a newline is added). Drops older lines past DEVAPPS_QUEUE_MAX (2). */
static void devapp_push(DevApp *a, const char *prefix, const void *data, size_t n) {
        size_t plen = strlen(prefix);
        Line *l;

        if (a->ended)
                return;
        l = malloc(sizeof(Line) + plen + n + 1);
        if (!l) {
                a->dropped++;
                return;
        }
        memcpy(l->data, prefix, plen);
        if (n > 0)
                memcpy(l->data + plen, data, n);
        l->data[plen + n] = '\n';
        l->len = plen + n + 1;
        l->next = NULL;
        if (a->tail)
                a->tail->next = l;
        else
                a->head = l;
        a->tail = l;
        a->queued += l->len;

        while (a->queued > DEVAPPS_QUEUE_MAX && a->head && a->head != l) {
                Line *h = a->head;

                if (a->head_off > 0) {
                        /* (2): the head is partly out; drop the lines behind it instead */
                        Line *second = h->next;

                        if (!second || second == l)
                                break;
                        h->next = second->next;
                        if (a->tail == second)
                                a->tail = h;
                        a->queued -= second->len;
                        free(second);
                } else {
                        a->head = h->next;
                        a->queued -= h->len;
                        free(h);
                }
                a->dropped++;
        }
        devapp_notify(a);
}

size_t devapp_read(DevApp *a, void *buf, size_t n, bool *ret_eof) {
        uint8_t *out = buf;
        size_t done = 0;

        assert(a);
        assert(ret_eof);

        while (done < n) {
                size_t k;

                if (a->dropped > 0 && a->head_off == 0) {
                        char text[96];
                        int m = snprintf(text, sizeof(text),
                                "granaryd: %" PRIu64 " console line(s) dropped: they came faster than "
                                "they were read\n",
                                a->dropped);

                        if ((size_t) m > n - done)
                                break; /* at the next read, whole */
                        memcpy(out + done, text, (size_t) m);
                        done += (size_t) m;
                        a->dropped = 0;
                        continue;
                }
                if (!a->head)
                        break;
                k = MIN(a->head->len - a->head_off, n - done);
                memcpy(out + done, a->head->data + a->head_off, k);
                done += k;
                a->head_off += k;
                if (a->head_off == a->head->len) {
                        Line *l = a->head;

                        a->head = l->next;
                        if (!a->head)
                                a->tail = NULL;
                        a->queued -= l->len;
                        a->head_off = 0;
                        free(l);
                }
        }
        *ret_eof = a->ended && !a->head && a->dropped == 0;
        return done;
}

size_t devapp_queued(const DevApp *a) {
        assert(a);

        return a->queued - a->head_off;
}

void devapp_on_output(DevApp *a, void (*cb)(DevApp *a, void *userdata), void *userdata) {
        assert(a);

        a->on_output = cb;
        a->on_output_userdata = cb ? userdata : NULL;
}

void devapps_end_all(DevApps *d) {
        assert(d);

        for (DevApp *a = d->apps; a; a = a->next) {
                a->ended = true;
                devapp_notify(a);
        }
}

/* ---- consoles ---- */

static Console *console_free(Console *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->timer);
        free(c->grain_id);
        free(c->app_id);
        free(c);
        return NULL;
}

static void console_unlink(DevApps *d, Console *c) {
        for (Console **p = &d->consoles; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        return;
                }
}

/* The line so far goes out as a line of its own. */
static void console_flush(Console *c) {
        DevApp *a = devapp_find(c->devapps, c->app_id);
        char prefix[STORE_ID_MAX + 4];

        c->timer = sd_event_source_disable_unref(c->timer);
        if (c->len == 0)
                return;
        (void) snprintf(prefix, sizeof(prefix), "[%s] ", c->grain_id);
        if (a)
                devapp_push(a, prefix, c->buf, c->len);
        c->len = 0;
}

static int on_partial_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        console_flush(userdata);
        return 0;
}

static Console *console_get(DevApps *d, const char *grain_id, const char *app_id, bool make) {
        Console *c;

        for (c = d->consoles; c; c = c->next)
                if (streq(c->grain_id, grain_id))
                        return c;
        if (!make)
                return NULL;
        c = calloc(1, sizeof(Console));
        if (!c)
                return NULL;
        c->devapps = d;
        c->grain_id = strdup(grain_id);
        c->app_id = strdup(app_id);
        if (!c->grain_id || !c->app_id)
                return console_free(c);
        c->next = d->consoles;
        d->consoles = c;
        return c;
}

void devapps_console(DevApps *d, const char *grain_id, const char *app_id, const void *data, size_t n) {
        const char *p = data, *end = p ? p + n : NULL;
        char prefix[STORE_ID_MAX + 4];
        DevApp *a;
        Console *c;

        assert(d);

        if (!grain_id || !app_id || strlen(grain_id) > STORE_ID_MAX)
                return;
        a = devapp_find(d, app_id);
        c = console_get(d, grain_id, app_id, a && n > 0);
        if (n == 0 || !a) {
                /* the console ended, or its app left development: what is left goes (or is dropped) */
                if (c) {
                        if (a)
                                console_flush(c);
                        console_unlink(d, c);
                        console_free(c);
                }
                return;
        }
        if (!c)
                return (void) log_oom();
        (void) snprintf(prefix, sizeof(prefix), "[%s] ", grain_id);

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t k = (size_t) ((nl ?: end) - p);

                if (c->skipping) {
                        if (nl)
                                c->skipping = false;
                        p = nl ? nl + 1 : end;
                        continue;
                }
                if (c->len == 0 && nl && k <= DEVAPPS_LINE_MAX) {
                        /* a whole line at once: no copy */
                        devapp_push(a, prefix, p, k);
                        p = nl + 1;
                        continue;
                }
                if (c->len + k >= DEVAPPS_LINE_MAX && (c->len + k > DEVAPPS_LINE_MAX || !nl)) {
                        /* cut at DEVAPPS_LINE_MAX; the rest of the line is dropped */
                        memcpy(c->buf + c->len, p, DEVAPPS_LINE_MAX - c->len);
                        c->len = DEVAPPS_LINE_MAX;
                        console_flush(c);
                        c->skipping = !nl;
                        p = nl ? nl + 1 : end;
                        continue;
                }
                memcpy(c->buf + c->len, p, k);
                c->len += k;
                if (nl) {
                        console_flush(c);
                        p = nl + 1;
                } else
                        p = end;
        }
        if (c->len > 0 && !c->timer) {
                int r = sd_event_add_time_relative(
                        d->event, &c->timer, CLOCK_MONOTONIC, DEVAPPS_PARTIAL_USEC, 0, on_partial_timer, c);
                if (r < 0)
                        console_flush(c); /* without a timer, at once */
        }
}

/* ---- the journal (the systemd backend) ---- */

static void journal_stop(DevApps *d) {
        d->journal_source = sd_event_source_disable_unref(d->journal_source);
        sd_journal_close(d->j);
        d->j = NULL;
}

/* Entries of grains whose app is registered go to it, line by line (each entry is one line). */
static void journal_read(DevApps *d) {
        unsigned n = 0;
        int r;

        while (n++ < JOURNAL_BATCH && (r = sd_journal_next(d->j)) > 0) {
                _cleanup_(store_grain_freep) StoreGrain *row = NULL;
                _cleanup_free_ char *grain_id = NULL;
                const void *data;
                size_t len;

                if (sd_journal_get_data(d->j, "GRANARY_GRAIN", &data, &len) < 0 ||
                        len <= STRLEN("GRANARY_GRAIN="))
                        continue;
                grain_id = strndup(
                        (const char *) data + STRLEN("GRANARY_GRAIN="), len - STRLEN("GRANARY_GRAIN="));
                if (!grain_id || !store_id_is_valid(grain_id) ||
                        store_grain_get(d->store, grain_id, &row) < 0 || !devapp_find(d, row->app_id))
                        continue;
                if (sd_journal_get_data(d->j, "MESSAGE", &data, &len) < 0 || len < STRLEN("MESSAGE="))
                        continue;
                devapps_console(d, grain_id, row->app_id, (const char *) data + STRLEN("MESSAGE="),
                        len - STRLEN("MESSAGE="));
                devapps_console(d, grain_id, row->app_id, "\n", 1);
        }
}

static int on_journal(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        DevApps *d = userdata;
        int r;

        r = sd_journal_process(d->j);
        if (r < 0) {
                log_warning_errno(r, "Failed to follow the journal for development apps' consoles: %m");
                journal_stop(d);
                return 0;
        }
        journal_read(d);
        return 0;
}

/* Follows the journal from its end on, while a registration exists. */
static void journal_start(DevApps *d) {
        int fd, r;

        if (!d->journal || d->j)
                return;
        r = sd_journal_open(&d->j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
        if (r >= 0)
                r = sd_journal_seek_tail(d->j);
        if (r >= 0)
                r = sd_journal_previous(d->j); /* at the last entry: next() gives only newer ones */
        if (r >= 0)
                r = fd = sd_journal_get_fd(d->j);
        if (r >= 0)
                r = sd_event_add_io(d->event, &d->journal_source, fd, (uint32_t) sd_journal_get_events(d->j),
                        on_journal, d);
        if (r < 0) {
                log_warning_errno(
                        r, "Failed to follow the journal; development apps get no console lines: %m");
                journal_stop(d);
        }
}

/* ---- registrations ---- */

/* A manifest's title for a line of text: control characters become spaces. */
static void text_flatten(char *s) {
        for (; s && *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        *s = ' ';
}

static void devapp_free(DevApp *a) {
        if (!a)
                return;
        sd_event_source_disable_unref(a->notify);
        line_free_all(a);
        free(a->app_id);
        free(a->root);
        free(a->title);
        free(a->marketing_version);
        free(a);
}

static int record_rows(Store *s, const StorePackage *p, const char *title, uint64_t now) {
        int r;

        r = store_begin(s);
        if (r < 0)
                return r;
        r = store_app_add(s, p->app_id, title, now);
        if (r == -EEXIST)
                r = 0;
        if (r >= 0)
                r = store_package_add(s, p);
        if (r < 0) {
                (void) store_rollback(s);
                return r;
        }
        return store_commit(s);
}

int devapps_register(DevApps *d, const DevAppsParams *p, DevApp **ret, char **ret_error) {
        _cleanup_(apps_manifest_done) AppsManifest m = {};
        _cleanup_(manifest_bridge_config_done) ManifestBridgeConfig bc = {};
        uint8_t raw[APP_ID_SIZE], rnd[DEV_PACKAGE_RANDOM_BYTES];
        char app_id[APP_ID_TEXT_SIZE + 1];
        DevApp *a;
        struct stat st;
        int r;

        assert(d);
        assert(p);
        assert(ret);

        if (!p->app_id || app_id_from_string(p->app_id, strlen(p->app_id), raw) < 0)
                return error_set(ret_error, -EINVAL, "The app id is not valid.");
        app_id_to_string(raw, app_id);
        if (!p->root || p->root[0] != '/' || strlen(p->root) >= PATH_MAX ||
                !string_is_printable(p->root, strlen(p->root)) || !utf8_is_valid(p->root, strlen(p->root)))
                return error_set(ret_error, -EINVAL, "The root must be an absolute path.");
        if (stat(p->root, &st) < 0)
                return error_set(ret_error, -EINVAL, "The root cannot be reached: %s", strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return error_set(ret_error, -EINVAL, "The root is not a directory.");
        if (!p->manifest || p->manifest_size == 0)
                return error_set(ret_error, -EBADMSG, "The manifest is missing.");
        r = apps_manifest_parse(p->manifest, p->manifest_size, &m, ret_error);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;
        r = manifest_bridge_config_parse(p->bridge_config, p->bridge_config_size, &bc);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_set(ret_error, -EBADMSG, "The bridge config does not parse.");
        if (devapp_find(d, app_id))
                return error_set(ret_error, -EEXIST,
                        "app %s is already in development (another spk dev is running)", app_id);

        a = calloc(1, sizeof(DevApp));
        if (!a)
                return -ENOMEM;
        a->devapps = d;
        a->registered = p->now;
        a->version = m.app_version;
        a->app_id = strdup(app_id);
        a->root = strdup(p->root);
        a->title = strdup(!isempty(m.title) ? m.title : app_id);
        a->marketing_version = strdup(m.marketing_version ?: "");
        if (!a->app_id || !a->root || !a->title || !a->marketing_version) {
                devapp_free(a);
                return -ENOMEM;
        }
        text_flatten(a->title);
        random_bytes(rnd, sizeof(rnd));
        memcpy(a->package_id, STORE_DEV_PACKAGE_PREFIX, STRLEN(STORE_DEV_PACKAGE_PREFIX));
        hex_encode(rnd, sizeof(rnd), a->package_id + STRLEN(STORE_DEV_PACKAGE_PREFIX));
        a->override = (GrainsOverride){.package_id = a->package_id, .root = a->root};

        r = record_rows(d->store,
                &(StorePackage){
                        .id = a->package_id,
                        .app_id = a->app_id,
                        .app_version = m.app_version,
                        .marketing_version = a->marketing_version,
                        .manifest = (void *) p->manifest,
                        .manifest_size = p->manifest_size,
                        .bridge_config = (void *) p->bridge_config,
                        .bridge_config_size = p->bridge_config_size,
                        .installed = p->now,
                },
                a->title, p->now);
        if (r < 0) {
                devapp_free(a);
                return error_set(ret_error, r, "Failed to record the development package: %s", strerror(-r));
        }

        a->next = d->apps;
        d->apps = a;
        {
                _cleanup_free_ char *first = NULL;

                if (asprintf(&first, "dev %s %s %s", a->app_id, a->package_id, a->title) >= 0)
                        devapp_push(a, "", first, strlen(first));
        }
        if (d->grains) {
                r = grains_stop_app(d->grains, a->app_id);
                if (r < 0)
                        log_warning_errno(r, "Failed to stop the grains of app %s: %m", a->app_id);
        }
        journal_start(d);
        log_struct(LOG_INFO, "App %s is in development: package %s from '%s'.", a->app_id, a->package_id,
                a->root, "GRANARY_APP_ID=%s", a->app_id);
        *ret = a;
        return 0;
}

DevApp *devapp_unregister(DevApp *a) {
        DevApps *d;
        Console *next;
        int r;

        if (!a)
                return NULL;
        d = a->devapps;
        for (DevApp **p = &d->apps; *p; p = &(*p)->next)
                if (*p == a) {
                        *p = a->next; /* (1): from now on the override is off */
                        break;
                }
        for (Console *c = d->consoles; c; c = next) {
                next = c->next;
                if (streq(c->app_id, a->app_id)) {
                        console_unlink(d, c);
                        console_free(c);
                }
        }
        if (d->grains) {
                r = grains_stop_app(d->grains, a->app_id);
                if (r < 0)
                        log_warning_errno(r, "Failed to stop the grains of app %s: %m", a->app_id);
        }
        r = store_package_release_dev(d->store, a->package_id);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to remove development package %s: %m", a->package_id);
        log_struct(LOG_INFO, "App %s is no longer in development%s.", a->app_id,
                r == 0 ? " (its package stays while grains use it)" : "", "GRANARY_APP_ID=%s", a->app_id);
        if (!d->apps)
                journal_stop(d);
        devapp_free(a);
        return NULL;
}

const char *devapp_app_id(const DevApp *a) {
        return a->app_id;
}

const char *devapp_package_id(const DevApp *a) {
        return a->package_id;
}

const char *devapp_root(const DevApp *a) {
        return a->root;
}

DevApp *devapps_get(DevApps *d, const char *app_id) {
        assert(d);

        return app_id ? devapp_find(d, app_id) : NULL;
}

static int app_compare(const void *x, const void *y) {
        const AppsApp *a = *(AppsApp *const *) x, *b = *(AppsApp *const *) y;
        int c = strcasecmp(a->title, b->title);

        return c != 0 ? c : strcmp(a->id, b->id);
}

int devapps_list(DevApps *d, AppsApp ***ret, size_t *ret_n) {
        _cleanup_(apps_app_list_freep) AppsApp **out = NULL;
        size_t n = 0, k = 0;

        assert(d);
        assert(ret);

        for (DevApp *a = d->apps; a; a = a->next)
                n++;
        out = calloc(n + 1, sizeof(AppsApp *));
        if (!out)
                return -ENOMEM;
        for (DevApp *a = d->apps; a; a = a->next) {
                _cleanup_(store_app_freep) StoreApp *row = NULL;
                AppsApp *app = calloc(1, sizeof(AppsApp));

                if (!app)
                        return -ENOMEM;
                out[k++] = app;
                app->id = strdup(a->app_id);
                app->title = strdup(a->title);
                app->package_id = strdup(a->package_id);
                app->marketing_version = strdup(a->marketing_version);
                if (!app->id || !app->title || !app->package_id || !app->marketing_version)
                        return -ENOMEM;
                app->version = a->version;
                app->installed = a->registered;
                app->created = store_app_get(d->store, a->app_id, &row) >= 0 ? row->created : a->registered;
                app->dev = true;
        }
        qsort(out, n, sizeof(AppsApp *), app_compare);
        *ret = TAKE_PTR(out);
        if (ret_n)
                *ret_n = n;
        return 0;
}

/* ---- the registry ---- */

int devapps_new(sd_event *e, Store *store, Grains *grains, bool journal, DevApps **ret) {
        DevApps *d;
        size_t n = 0;
        int r;

        assert(e);
        assert(store);
        assert(ret);

        r = random_init();
        if (r < 0)
                return r;
        d = calloc(1, sizeof(DevApps));
        if (!d)
                return -ENOMEM;
        d->event = sd_event_ref(e);
        d->store = store;
        d->grains = grains;
        d->journal = journal;

        r = store_package_release_all_dev(store, &n);
        if (r < 0)
                log_warning_errno(r, "Failed to remove the development packages left from before: %m");
        else if (n > 0)
                log_info("Removed %zu development package(s) left from before.", n);
        if (grains)
                grains_set_hooks(grains, &(GrainsHooks){
                                                 .override = on_override,
                                                 .console = journal ? NULL : on_console,
                                                 .userdata = d,
                                         });
        *ret = d;
        return 0;
}

DevApps *devapps_free(DevApps *d) {
        if (!d)
                return NULL;
        while (d->apps)
                devapp_unregister(d->apps);
        while (d->consoles) {
                Console *c = d->consoles;

                d->consoles = c->next;
                console_free(c);
        }
        if (d->grains)
                grains_set_hooks(d->grains, NULL);
        journal_stop(d);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}
