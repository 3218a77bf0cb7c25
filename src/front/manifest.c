/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Every reader here parses the message afresh (the messages are small, and a grain starts rarely), reads
 * what it needs and checks the sticky reader error once at the end. Nothing read escapes unchecked:
 * (1) every string handed out is a copy, NUL-terminated, with no NUL inside
 * (2) a command handed out has at least one argv element and fits MANIFEST_COMMAND_*_MAX
 */

#include <string.h>

#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "front/manifest.h"

/* Manifest (2 words, 5 ptrs), spec §3.3. */
#define MANIFEST_ACTIONS 0
#define MANIFEST_CONTINUE_COMMAND 1
/* Manifest.Action (1 word, 5 ptrs). */
#define ACTION_COMMAND 1
#define ACTION_TITLE 2
#define ACTION_NOUN_PHRASE 4
/* Manifest.Command (0 words, 3 ptrs). */
#define COMMAND_DEPRECATED_EXECUTABLE_PATH 0
#define COMMAND_ARGV 1
#define COMMAND_ENVIRON 2
/* util.capnp KeyValue (0 words, 2 ptrs) and LocalizedText (0 words, 2 ptrs). */
#define KEY_VALUE_KEY 0
#define KEY_VALUE_VALUE 1
#define LOCALIZED_TEXT_DEFAULT 0
/* BridgeConfig (1 word, 3 ptrs), UiView.ViewInfo (0 words, 8 ptrs), PermissionDef (1 word, 3 ptrs). */
#define BRIDGE_CONFIG_VIEW_INFO 0
#define BRIDGE_CONFIG_API_PATH 1
#define VIEW_INFO_PERMISSIONS 0
#define PERMISSION_DEF_NAME 2

#define ACTION_TEXT_MAX 4096u

void manifest_command_done(ManifestCommand *c) {
        if (!c)
                return;
        c->argv = strv_free(c->argv);
        c->environ = strv_free(c->environ);
}

ManifestAction *manifest_actions_free(ManifestAction *a, size_t n) {
        if (!a)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                free(a[i].title);
                free(a[i].noun_phrase);
        }
        free(a);
        return NULL;
}

void manifest_bridge_config_done(ManifestBridgeConfig *c) {
        if (!c)
                return;
        c->permissions = strv_free(c->permissions);
        free(c->api_path);
        c->api_path = NULL;
}

static int message_open(const void *buf, size_t size, CapnpMessage *msg, CapnpStruct *ret_root) {
        CapnpReadOptions opts = { .traversal_limit_words = CAPNP_MANIFEST_TRAVERSAL_WORDS };
        size_t used;
        int r;

        assert(buf || size == 0);

        r = capnp_message_parse(msg, buf ?: "", size, &opts, &used);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;
        if (r > 0)
                return -EBADMSG; /* truncated */
        r = capnp_message_root(msg, ret_root);
        if (r < 0) {
                capnp_message_done(msg);
                return r == -ENOMEM ? r : -EBADMSG;
        }
        return 0;
}

/* Whatever went wrong inside the message is a malformed message, to the caller. */
static int message_close(CapnpMessage *msg, int r) {
        int e = capnp_message_error(msg);

        capnp_message_done(msg);
        if (r == -ENOMEM || e == -ENOMEM)
                return -ENOMEM;
        if (e < 0)
                return -EBADMSG;
        return r;
}

/* Adds one item of a command, counting it against the command's limits. */
static int command_add(char ***l, char *s, size_t *n_items, size_t *n_bytes) {
        if (!s)
                return -ENOMEM;
        if (++*n_items > MANIFEST_COMMAND_ITEMS_MAX || !ADD_SAFE(n_bytes, *n_bytes, strlen(s) + 1) ||
            *n_bytes > MANIFEST_COMMAND_BYTES_MAX) {
                free(s);
                return -E2BIG;
        }
        return strv_consume(l, s);
}

/* A text with no NUL inside, copied. */
static int text_dup(const char *t, size_t n, char **ret) {
        char *s;

        if (!t) {
                *ret = NULL;
                return 0;
        }
        if (memchr(t, 0, n))
                return -EBADMSG;
        s = strndup(t, n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int command_read(const CapnpStruct *cmd, ManifestCommand *ret) {
        _cleanup_strv_free_ char **argv = NULL, **env = NULL;
        size_t n_items = 0, n_bytes = 0, n;
        CapnpList l;
        const char *t;
        char *s;
        int r;

        r = capnp_struct_get_text(cmd, COMMAND_DEPRECATED_EXECUTABLE_PATH, &t, &n);
        if (r < 0)
                return r;
        if (t) {
                r = text_dup(t, n, &s);
                if (r < 0)
                        return r;
                r = command_add(&argv, s, &n_items, &n_bytes);
                if (r < 0)
                        return r;
        }

        r = capnp_struct_get_list(cmd, COMMAND_ARGV, &l);
        if (r < 0)
                return r;
        if (l.count > 0 && l.element_size != CAPNP_ELEMENT_POINTER)
                return -EBADMSG;
        for (uint32_t i = 0; i < l.count; i++) {
                r = capnp_list_get_text(&l, i, &t, &n);
                if (r < 0)
                        return r;
                /* A null element reads as the empty text, as capnp's own reader gives it. */
                r = text_dup(t ?: "", n, &s);
                if (r < 0)
                        return r;
                r = command_add(&argv, s, &n_items, &n_bytes);
                if (r < 0)
                        return r;
        }
        if (strv_length(argv) == 0)
                return -ENOEXEC;

        r = capnp_struct_get_struct_list(cmd, COMMAND_ENVIRON, &l);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < l.count; i++) {
                _cleanup_free_ char *key = NULL, *value = NULL;
                CapnpStruct kv;

                r = capnp_list_get_struct(&l, i, &kv);
                if (r < 0)
                        return r;
                r = capnp_struct_get_text(&kv, KEY_VALUE_KEY, &t, &n);
                if (r < 0)
                        return r;
                if (!t || n == 0 || memchr(t, '=', n))
                        return -EBADMSG;
                r = text_dup(t, n, &key);
                if (r < 0)
                        return r;
                r = capnp_struct_get_text(&kv, KEY_VALUE_VALUE, &t, &n);
                if (r < 0)
                        return r;
                r = text_dup(t ?: "", n, &value);
                if (r < 0)
                        return r;
                r = command_add(&env, strjoin(key, "=", value), &n_items, &n_bytes);
                if (r < 0)
                        return r;
        }
        if (!env) {
                env = calloc(1, sizeof(char *));
                if (!env)
                        return -ENOMEM;
        }

        ret->argv = TAKE_PTR(argv);
        ret->environ = TAKE_PTR(env);
        return 0;
}

static int command_get(const void *buf, size_t size, bool is_action, size_t action, ManifestCommand *ret) {
        _cleanup_(manifest_command_done) ManifestCommand c = {};
        CapnpMessage msg;
        CapnpStruct root, cmd, a;
        CapnpList actions;
        int r;

        assert(ret);

        r = message_open(buf, size, &msg, &root);
        if (r < 0)
                return r;
        if (is_action) {
                r = capnp_struct_get_struct_list(&root, MANIFEST_ACTIONS, &actions);
                if (r >= 0 && action >= actions.count)
                        r = -ERANGE;
                if (r >= 0)
                        r = capnp_list_get_struct(&actions, (uint32_t) action, &a);
                if (r >= 0)
                        r = capnp_struct_get_struct(&a, ACTION_COMMAND, &cmd);
        } else
                r = capnp_struct_get_struct(&root, MANIFEST_CONTINUE_COMMAND, &cmd);
        if (r >= 0)
                r = command_read(&cmd, &c);
        r = message_close(&msg, r);
        if (r < 0)
                return r == -ERANGE || r == -ENOEXEC || r == -E2BIG || r == -ENOMEM ? r : -EBADMSG;

        *ret = c;
        c = (ManifestCommand) {};
        return 0;
}

int manifest_action_command(const void *buf, size_t size, size_t action, ManifestCommand *ret) {
        return command_get(buf, size, true, action, ret);
}

int manifest_continue_command(const void *buf, size_t size, ManifestCommand *ret) {
        return command_get(buf, size, false, 0, ret);
}

static int localized_default(const CapnpStruct *s, uint16_t slot, char **ret) {
        CapnpStruct lt;
        const char *t;
        size_t n;
        int r;

        *ret = NULL;
        if (!capnp_struct_has(s, slot))
                return 0;
        r = capnp_struct_get_struct(s, slot, &lt);
        if (r < 0)
                return r;
        r = capnp_struct_get_text(&lt, LOCALIZED_TEXT_DEFAULT, &t, &n);
        if (r < 0)
                return r;
        if (!t)
                return 0;
        if (n > ACTION_TEXT_MAX || !utf8_is_valid(t, n) || !string_is_printable(t, n))
                return -EBADMSG;
        *ret = strndup(t, n);
        return *ret ? 0 : -ENOMEM;
}

int manifest_actions(const void *buf, size_t size, ManifestAction **ret, size_t *ret_n) {
        ManifestAction *a = NULL;
        CapnpMessage msg;
        CapnpStruct root, s;
        CapnpList l;
        size_t n = 0;
        int r;

        assert(ret);
        assert(ret_n);

        r = message_open(buf, size, &msg, &root);
        if (r < 0)
                return r;
        r = capnp_struct_get_struct_list(&root, MANIFEST_ACTIONS, &l);
        if (r >= 0 && l.count > 0) {
                /* Each action costs at least its pointer word, which the traversal limit bounds. */
                a = calloc(l.count, sizeof(ManifestAction));
                if (!a)
                        r = -ENOMEM;
        }
        for (uint32_t i = 0; r >= 0 && i < l.count; i++, n++) {
                r = capnp_list_get_struct(&l, i, &s);
                if (r >= 0)
                        r = localized_default(&s, ACTION_TITLE, &a[i].title);
                if (r >= 0)
                        r = localized_default(&s, ACTION_NOUN_PHRASE, &a[i].noun_phrase);
        }
        r = message_close(&msg, r);
        if (r < 0) {
                manifest_actions_free(a, n);
                return r == -ENOMEM ? r : -EBADMSG;
        }

        *ret = a;
        *ret_n = n;
        return 0;
}

static bool permission_name_is_valid(const char *t, size_t n) {
        if (n == 0 || n > MANIFEST_PERMISSION_NAME_MAX)
                return false;
        if (!((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
                      (t[i] >= '0' && t[i] <= '9')))
                        return false;
        return true;
}

static int bridge_config_read(const CapnpStruct *root, ManifestBridgeConfig *c) {
        CapnpStruct view, def;
        CapnpList l;
        const char *t;
        size_t n;
        int r;

        r = capnp_struct_get_struct(root, BRIDGE_CONFIG_VIEW_INFO, &view);
        if (r < 0)
                return r;
        r = capnp_struct_get_struct_list(&view, VIEW_INFO_PERMISSIONS, &l);
        if (r < 0)
                return r;
        if (l.count > MANIFEST_PERMISSIONS_MAX)
                return -EBADMSG;
        for (uint32_t i = 0; i < l.count; i++) {
                r = capnp_list_get_struct(&l, i, &def);
                if (r < 0)
                        return r;
                r = capnp_struct_get_text(&def, PERMISSION_DEF_NAME, &t, &n);
                if (r < 0)
                        return r;
                if (!t || !permission_name_is_valid(t, n))
                        return -EBADMSG;
                /* Names are unique (spec §3.3): X-Sandstorm-Permissions could not tell two apart. */
                STRV_FOREACH(p, c->permissions)
                        if (strlen(*p) == n && memcmp(*p, t, n) == 0)
                                return -EBADMSG;
                r = strv_consume(&c->permissions, strndup(t, n));
                if (r < 0)
                        return r;
        }
        if (!c->permissions) {
                c->permissions = calloc(1, sizeof(char *));
                if (!c->permissions)
                        return -ENOMEM;
        }

        r = capnp_struct_get_text(root, BRIDGE_CONFIG_API_PATH, &t, &n);
        if (r < 0)
                return r;
        if (t) {
                if (n > MANIFEST_API_PATH_MAX)
                        return -EBADMSG;
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) t[i] < 0x21 || (unsigned char) t[i] > 0x7e)
                                return -EBADMSG;
                c->api_path = strndup(t, n);
                if (!c->api_path)
                        return -ENOMEM;
        }
        return 0;
}

int manifest_bridge_config_parse(const void *buf, size_t size, ManifestBridgeConfig *ret) {
        _cleanup_(manifest_bridge_config_done) ManifestBridgeConfig c = {};
        CapnpMessage msg;
        CapnpStruct root;
        int r;

        assert(ret);

        if (!buf && size == 0) {
                c.permissions = calloc(1, sizeof(char *));
                if (!c.permissions)
                        return -ENOMEM;
        } else {
                r = message_open(buf, size, &msg, &root);
                if (r < 0)
                        return r;
                r = bridge_config_read(&root, &c);
                r = message_close(&msg, r);
                if (r < 0)
                        return r == -ENOMEM ? r : -EBADMSG;
        }

        *ret = c;
        c = (ManifestBridgeConfig) {};
        return 0;
}
