/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/string-util.h"
#include "capnp/capnp.h"
#include "capnp/text.h"
#include "spk/pkgdef.h"

/* Layouts (spec §3.3). */
enum {
        PKGDEF_ID = 0,
        PKGDEF_MANIFEST = 1,
        PKGDEF_SOURCE_MAP = 2,
        PKGDEF_FILE_LIST = 3,
        PKGDEF_ALWAYS_INCLUDE = 4,
        PKGDEF_BRIDGE_CONFIG = 5,
};
enum {
        MANIFEST_CONTINUE_COMMAND = 1,
        MANIFEST_APP_MARKETING_VERSION = 2,
        MANIFEST_APP_TITLE = 3,
};
#define MANIFEST_MIN_API_VERSION_BYTE 0u
#define MANIFEST_MAX_API_VERSION_BYTE 4u
enum {
        COMMAND_DEPRECATED_EXECUTABLE_PATH = 0,
        COMMAND_ARGV = 1,
};
enum {
        MAPPING_PACKAGE_PATH = 0,
        MAPPING_SOURCE_PATH = 1,
        MAPPING_HIDE_PATHS = 2,
};
#define BRIDGE_CONFIG_DATA_WORDS 1u
#define BRIDGE_CONFIG_PTRS 3u

void spk_pkgdef_done(SpkPkgdef *p) {
        if (!p)
                return;
        free(p->path);
        free(p->const_name);
        free(p->id_text);
        free(p->manifest);
        free(p->bridge_config);
        spk_source_map_done(&p->source_map);
        free(p->file_list);
        strv_free(p->always_include);
        *p = (SpkPkgdef) {};
}

bool spk_argv0_is_http_bridge(const char *argv0, size_t len) {
        static const char *const names[] = {
                "/sandstorm-http-bridge",
                "./sandstorm-http-bridge",
                "sandstorm-http-bridge",
        };

        if (!argv0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (len == strlen(names[i]) && memcmp(argv0, names[i], len) == 0)
                        return true;
        return false;
}

/* Copies the struct s into a message of its own. */
static int struct_to_message(const CapnpStruct *s, uint8_t **ret, size_t *ret_size) {
        CapnpBuilder b;
        int r;

        capnp_builder_init(&b, 0);
        r = capnp_build_copy_root(&b, s);
        if (r >= 0)
                r = capnp_builder_finish(&b, ret, ret_size);
        capnp_builder_done(&b);
        return r;
}

static int empty_bridge_config(uint8_t **ret, size_t *ret_size) {
        CapnpBuilderStruct root;
        CapnpBuilder b;
        int r;

        capnp_builder_init(&b, 0);
        r = capnp_builder_init_root(&b, BRIDGE_CONFIG_DATA_WORDS, BRIDGE_CONFIG_PTRS, &root);
        if (r >= 0)
                r = capnp_builder_finish(&b, ret, ret_size);
        capnp_builder_done(&b);
        return r;
}

/* Does the manifest's continueCommand start the HTTP bridge? A deprecatedExecutablePath goes in front
 * of argv, so it is the program when set. */
static int command_uses_bridge(const CapnpStruct *manifest, bool *ret) {
        CapnpStruct command;
        CapnpList argv;
        const char *s;
        size_t n;
        int r;

        r = capnp_struct_get_struct(manifest, MANIFEST_CONTINUE_COMMAND, &command);
        if (r < 0)
                return r;
        r = capnp_struct_get_text(&command, COMMAND_DEPRECATED_EXECUTABLE_PATH, &s, &n);
        if (r < 0)
                return r;
        if (!s) {
                r = capnp_struct_get_list(&command, COMMAND_ARGV, &argv);
                if (r < 0)
                        return r;
                if (argv.count > 0 && argv.element_size == CAPNP_ELEMENT_POINTER) {
                        r = capnp_list_get_text(&argv, 0, &s, &n);
                        if (r < 0)
                                return r;
                }
        }
        *ret = spk_argv0_is_http_bridge(s, n);
        return 0;
}

static int text_list_to_strv(const CapnpList *l, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        int r;

        if (l->count > 0 && l->element_size != CAPNP_ELEMENT_POINTER)
                return -EMEDIUMTYPE;
        v = calloc((size_t) l->count + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (uint32_t i = 0; i < l->count; i++) {
                const char *s;
                size_t n;

                r = capnp_list_get_text(l, i, &s, &n);
                if (r < 0)
                        return r;
                v[i] = strndup_safe(s ?: "", n);
                if (!v[i])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

static int load_source_map(const CapnpStruct *root, const char *path, SpkSourceMap *map, char **ret_error) {
        CapnpStruct source_map;
        CapnpList search_path;
        int r;

        r = capnp_struct_get_struct(root, PKGDEF_SOURCE_MAP, &source_map);
        if (r < 0)
                return r;
        r = capnp_struct_get_struct_list(&source_map, 0, &search_path);
        if (r < 0)
                return r;

        for (uint32_t i = 0; i < search_path.count; i++) {
                _cleanup_strv_free_ char **hide = NULL;
                _cleanup_free_ char *pp = NULL, *sp = NULL;
                CapnpStruct mapping;
                CapnpList hide_list;
                const char *s;
                size_t n;

                r = capnp_list_get_struct(&search_path, i, &mapping);
                if (r < 0)
                        return r;
                r = capnp_struct_get_text(&mapping, MAPPING_PACKAGE_PATH, &s, &n);
                if (r < 0)
                        return r;
                pp = strndup_safe(s ?: "", n);
                if (!pp)
                        return -ENOMEM;
                r = capnp_struct_get_text(&mapping, MAPPING_SOURCE_PATH, &s, &n);
                if (r < 0)
                        return r;
                sp = strndup_safe(s ?: "", n);
                if (!sp)
                        return -ENOMEM;
                r = capnp_struct_get_list(&mapping, MAPPING_HIDE_PATHS, &hide_list);
                if (r < 0)
                        return r;
                r = text_list_to_strv(&hide_list, &hide);
                if (r < 0)
                        return r;

                r = spk_source_map_add(map, pp, sp, hide);
                if (r == -EINVAL)
                        return error_set(ret_error, r, "%s: invalid sourceMap packagePath '%s'", path, pp);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_always_include(const CapnpStruct *root, const char *path, char ***ret, char **ret_error) {
        _cleanup_strv_free_ char **raw = NULL, **v = NULL;
        CapnpList l;
        size_t n;
        int r;

        r = capnp_struct_get_list(root, PKGDEF_ALWAYS_INCLUDE, &l);
        if (r < 0)
                return r;
        r = text_list_to_strv(&l, &raw);
        if (r < 0)
                return r;

        n = strv_length(raw);
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r = spk_package_path_canonicalize(raw[i], strlen(raw[i]), &v[i]);
                if (r == -EINVAL)
                        return error_set(ret_error, r, "%s: invalid alwaysInclude path '%s'", path, raw[i]);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

int spk_pkgdef_from_message(const char *path, const char *const_name, const void *msg, size_t size,
                            SpkPkgdef *ret, char **ret_error) {
        _cleanup_(spk_pkgdef_donep) SpkPkgdef p = {};
        CapnpMessage message = {};
        CapnpStruct root, manifest;
        const char *s;
        uint32_t min_api, max_api;
        size_t n, consumed;
        int r;

        assert(path);
        assert(msg || size == 0);
        assert(ret);

        p.path = strdup(path);
        p.const_name = strdup(const_name ?: "pkgdef");
        if (!p.path || !p.const_name)
                return -ENOMEM;

        /* The message is read more than once (validation, then deep copies), so allow several times its
         * size; it comes from our own evaluator of the packager's own file. */
        r = capnp_message_parse(&message, msg, size,
                                &(CapnpReadOptions) { .traversal_limit_words = (uint64_t) size / 8 * 8 + 1024 },
                                &consumed);
        if (r > 0)
                r = -EBADMSG;
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot read the evaluated package definition: %s", path,
                            strerror(-r));
        r = capnp_message_root(&message, &root);
        if (r < 0)
                goto bad_message;

        r = capnp_struct_get_text(&root, PKGDEF_ID, &s, &n);
        if (r < 0)
                goto bad_message;
        if (!s || n == 0) {
                r = error_set(ret_error, -EINVAL, "%s: %s.id is missing", path, p.const_name);
                goto finish;
        }
        p.id_text = strndup_safe(s, n);
        if (!p.id_text) {
                r = -ENOMEM;
                goto finish;
        }
        if (strlen(p.id_text) != n || app_id_from_string(s, n, p.app_id) < 0) {
                r = error_set(ret_error, -EINVAL, "%s: %s.id '%s' is not a valid app id", path, p.const_name,
                         p.id_text);
                goto finish;
        }

        r = capnp_struct_get_struct(&root, PKGDEF_MANIFEST, &manifest);
        if (r < 0)
                goto bad_message;
        if (!capnp_struct_has(&manifest, MANIFEST_APP_TITLE)) {
                r = error_set(ret_error, -EINVAL, "%s: manifest.appTitle is missing", path);
                goto finish;
        }
        if (!capnp_struct_has(&manifest, MANIFEST_APP_MARKETING_VERSION)) {
                r = error_set(ret_error, -EINVAL, "%s: manifest.appMarketingVersion is missing", path);
                goto finish;
        }
        min_api = capnp_struct_get_u32(&manifest, MANIFEST_MIN_API_VERSION_BYTE);
        max_api = capnp_struct_get_u32(&manifest, MANIFEST_MAX_API_VERSION_BYTE);
        if (min_api > SPK_MAX_API_VERSION || max_api > SPK_MAX_API_VERSION) {
                r = error_set(ret_error, -EINVAL,
                         "%s: the manifest asks for API version %" PRIu32 ", but this spk knows versions up to %u",
                         path, MAX(min_api, max_api), SPK_MAX_API_VERSION);
                goto finish;
        }
        if (min_api > max_api) {
                r = error_set(ret_error, -EINVAL, "%s: manifest.minApiVersion is greater than maxApiVersion", path);
                goto finish;
        }

        r = struct_to_message(&manifest, &p.manifest, &p.manifest_size);
        if (r < 0)
                goto bad_message;
        /* What readers count against Manifest.sizeLimitInWords: the segment, without its table. */
        if ((p.manifest_size - 8) / 8 > SPK_MANIFEST_MAX_WORDS) {
                r = error_set(ret_error, -EFBIG, "%s: the manifest is %zu words; at most %u are allowed", path,
                         (p.manifest_size - 8) / 8, SPK_MANIFEST_MAX_WORDS);
                goto finish;
        }

        r = command_uses_bridge(&manifest, &p.uses_http_bridge);
        if (r < 0)
                goto bad_message;

        p.has_bridge_config = capnp_struct_has(&root, PKGDEF_BRIDGE_CONFIG);
        if (p.has_bridge_config) {
                CapnpStruct bridge_config;

                p.uses_http_bridge = true;
                r = capnp_struct_get_struct(&root, PKGDEF_BRIDGE_CONFIG, &bridge_config);
                if (r >= 0)
                        r = struct_to_message(&bridge_config, &p.bridge_config, &p.bridge_config_size);
        } else
                r = empty_bridge_config(&p.bridge_config, &p.bridge_config_size);
        if (r < 0)
                goto bad_message;

        p.source_map.source_dir = path_dirname(path);
        if (!p.source_map.source_dir) {
                r = -ENOMEM;
                goto finish;
        }
        r = load_source_map(&root, path, &p.source_map, ret_error);
        if (r == -EINVAL)
                goto finish;
        if (r < 0)
                goto bad_message;

        r = capnp_struct_get_text(&root, PKGDEF_FILE_LIST, &s, &n);
        if (r < 0)
                goto bad_message;
        if (s && n > 0) {
                p.file_list = strndup_safe(s, n);
                if (!p.file_list) {
                        r = -ENOMEM;
                        goto finish;
                }
        }

        r = load_always_include(&root, path, &p.always_include, ret_error);
        if (r == -EINVAL)
                goto finish;
        if (r < 0)
                goto bad_message;

        r = capnp_message_error(&message);
        if (r < 0)
                goto bad_message;

        capnp_message_done(&message);
        *ret = p;
        p = (SpkPkgdef) {};
        return 0;

bad_message:
        if (r != -ENOMEM)
                r = error_set(ret_error, r, "%s: the package definition is malformed: %s", path, strerror(-r));
finish:
        capnp_message_done(&message);
        return r;
}

int spk_pkgdef_load(const char *path, const char *const_name, char *const *import_path, SpkPkgdef *ret,
                    char **ret_error) {
        CapnpTextOptions opts = { .import_path = import_path };
        _cleanup_free_ uint8_t *msg = NULL;
        const char *type = NULL;
        size_t size;
        int r;

        assert(path);
        assert(ret);

        const_name = const_name ?: "pkgdef";
        r = capnp_text_eval(path, const_name, &opts, &type, &msg, &size, ret_error);
        if (r < 0)
                return r;
        if (!type || !streq(type, "PackageDefinition"))
                return error_set(ret_error, -EMEDIUMTYPE, "%s: '%s' is a %s, not a PackageDefinition", path,
                            const_name, type ?: "value of another type");

        return spk_pkgdef_from_message(path, const_name, msg, size, ret, ret_error);
}
