/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The compiled-in Sandstorm schemas. Every layout below is the one Cap'n Proto's compiler assigns
 * (spec §3.3); tests/compat/schema/sandstorm/ holds the same declarations as .capnp source, and
 * tests/capnp/test-capnp-schema.c checks these tables against `capnp compile -ocapnp` of those files.
 *
 * Fields are listed in ordinal order, a group at the place of its lowest ordinal: that is the order of
 * a Cap'n Proto schema's field list, which its JSON codec writes in (not the declaration order:
 * Manifest declares appTitle @7 first, yet JSON starts with minApiVersion). Union tags follow ordinal
 * order too (§4.4).
 */

#include <stdio.h>
#include <string.h>

#include "capnp/capnp.h"
#include "capnp/schema.h"

/* Type constructors. Compound literals at file scope have static storage, so list element types can
 * be written inline. */
#define T(k)                                                                                                \
        { .kind = CAPNP_TYPE_##k }
#define T_STRUCT(s)                                                                                         \
        { .kind = CAPNP_TYPE_STRUCT, .struct_schema = &(s) }
#define T_ENUM(e)                                                                                           \
        { .kind = CAPNP_TYPE_ENUM, .enum_schema = &(e) }
#define T_IFACE(n)                                                                                          \
        { .kind = CAPNP_TYPE_INTERFACE, .interface_name = (n) }
#define T_LIST(...)                                                                                         \
        { .kind = CAPNP_TYPE_LIST, .element = &(const CapnpType) __VA_ARGS__ }

/* Field constructors: a plain field, a union member, a group, a group that is a union member. */
#define FIELD(n, ord, off, ...)                                                                             \
        {                                                                                                   \
                .name = (n), .ordinal = (ord), .type = __VA_ARGS__, .offset = (off),                        \
                .discriminant = CAPNP_NO_DISCRIMINANT                                                       \
        }
#define MEMBER(n, ord, off, tag, ...)                                                                       \
        { .name = (n), .ordinal = (ord), .type = __VA_ARGS__, .offset = (off), .discriminant = (tag) }
#define GROUP(n, g)                                                                                         \
        { .name = (n), .ordinal = -1, .group = &(g), .discriminant = CAPNP_NO_DISCRIMINANT }
#define GROUP_MEMBER(n, g, tag)                                                                             \
        { .name = (n), .ordinal = -1, .group = &(g), .discriminant = (tag) }

#define STRUCT(sym, nm, f, dw, np, flds)                                                                    \
        const CapnpStructSchema sym = {                                                                     \
                .name = (nm),                                                                               \
                .file = &(f),                                                                               \
                .data_words = (dw),                                                                         \
                .n_ptrs = (np),                                                                             \
                .fields = (flds),                                                                           \
                .n_fields = ELEMENTSOF(flds),                                                               \
        }
#define UNION_STRUCT(sym, nm, f, dw, np, members, tag_off, flds)                                            \
        const CapnpStructSchema sym = {                                                                     \
                .name = (nm),                                                                               \
                .file = &(f),                                                                               \
                .data_words = (dw),                                                                         \
                .n_ptrs = (np),                                                                             \
                .n_union_members = (members),                                                               \
                .discriminant_offset = (tag_off),                                                           \
                .fields = (flds),                                                                           \
                .n_fields = ELEMENTSOF(flds),                                                               \
        }
#define GROUP_STRUCT(sym, nm, f, dw, np, members, tag_off, flds)                                            \
        static const CapnpStructSchema sym = {                                                              \
                .name = (nm),                                                                               \
                .file = &(f),                                                                               \
                .data_words = (dw),                                                                         \
                .n_ptrs = (np),                                                                             \
                .is_group = true,                                                                           \
                .n_union_members = (members),                                                               \
                .discriminant_offset = (tag_off),                                                           \
                .fields = (flds),                                                                           \
                .n_fields = ELEMENTSOF(flds),                                                               \
        }
#define ENUM(sym, nm, f, list)                                                                              \
        static const CapnpEnumSchema sym = {                                                                \
                .name = (nm), .file = &(f), .enumerants = (list), .n_enumerants = ELEMENTSOF(list)}

/* The name is repeated (clang does not take a const object's member as a constant); the schema test
 * checks that both agree. */
#define NODE_STRUCT(nm, s)                                                                                  \
        { .name = (nm), .kind = CAPNP_SCHEMA_NODE_STRUCT, .type = T_STRUCT(s) }
#define NODE_ENUM(nm, e)                                                                                    \
        { .name = (nm), .kind = CAPNP_SCHEMA_NODE_ENUM, .type = T_ENUM(e) }
#define NODE_IFACE(n)                                                                                       \
        { .name = (n), .kind = CAPNP_SCHEMA_NODE_INTERFACE, .type = T_IFACE(n) }
#define NODE_ALIAS(n, ...)                                                                                  \
        { .name = (n), .kind = CAPNP_SCHEMA_NODE_ALIAS, .type = __VA_ARGS__ }

static const CapnpSchemaFile file_package, file_util, file_grain, file_powerbox, file_api_session,
        file_identity, file_activity;

/* Forward declarations of every struct, so that the tables can refer to each other in any order. */
static const CapnpStructSchema s_KeyValue, s_LocalizedText, s_Localization;
static const CapnpStructSchema s_ManifestCommand, s_ManifestAction, s_SourceMap, s_Mapping, s_PowerboxApi,
        s_Icon, s_Screenshot, s_OsiLicenseInfo, s_CategoryInfo, s_KeyFile, s_Signature, s_Archive,
        s_ArchiveFile;
static const CapnpStructSchema s_ViewInfo, s_UiViewPowerboxTag, s_PermissionDef, s_RoleDef, s_GrainInfo,
        s_GrainInfoUser;
static const CapnpStructSchema s_PowerboxDescriptor, s_Tag, s_PowerboxDisplayInfo;
static const CapnpStructSchema s_ApiPowerboxTag, s_OAuthScope;
static const CapnpStructSchema s_IdentityPowerboxTag, s_Profile;
static const CapnpStructSchema s_ActivityTypeDef;

/* ---- util.capnp (0xecd50d792c3d9992) ---- */

static const CapnpField f_KeyValue[] = {
        FIELD("key", 0, 0, T(TEXT)),
        FIELD("value", 1, 1, T(TEXT)),
};
static STRUCT(s_KeyValue, "KeyValue", file_util, 0, 2, f_KeyValue);

static const CapnpField f_LocalizedText[] = {
        FIELD("defaultText", 0, 0, T(TEXT)),
        FIELD("localizations", 1, 1, T_LIST(T_STRUCT(s_Localization))),
};
static STRUCT(s_LocalizedText, "LocalizedText", file_util, 0, 2, f_LocalizedText);

static const CapnpField f_Localization[] = {
        FIELD("locale", 0, 0, T(TEXT)),
        FIELD("text", 1, 1, T(TEXT)),
};
static STRUCT(s_Localization, "LocalizedText.Localization", file_util, 0, 2, f_Localization);

static const CapnpEnumerant e_Protocol_list[] = {{"https", 0}, {"http", 1}};
ENUM(e_Protocol, "StaticAsset.Protocol", file_util, e_Protocol_list);

static const CapnpSchemaNode n_util[] = {
        NODE_ALIAS("DateInNs", T(INT64)),
        NODE_ALIAS("DurationInNs", T(UINT64)),
        NODE_STRUCT("KeyValue", s_KeyValue),
        NODE_STRUCT("LocalizedText", s_LocalizedText),
        NODE_STRUCT("LocalizedText.Localization", s_Localization),
        NODE_IFACE("StaticAsset"),
        NODE_ENUM("StaticAsset.Protocol", e_Protocol),
};
static const CapnpSchemaFile file_util = {
        .name = "util.capnp",
        .id = UINT64_C(0xecd50d792c3d9992),
        .nodes = n_util,
        .n_nodes = ELEMENTSOF(n_util),
};

/* ---- identity.capnp (0xc822108a5c3d7d25) ---- */

#define T_PERMISSION_SET T_LIST(T(BOOL))

static const CapnpField f_IdentityPowerboxTag[] = {
        FIELD("permissions", 0, 0, T_PERMISSION_SET),
};
static STRUCT(s_IdentityPowerboxTag, "Identity.PowerboxTag", file_identity, 0, 1, f_IdentityPowerboxTag);

static const CapnpEnumerant e_Pronouns_list[] = {
        {"neutral", 0},
        {"male", 1},
        {"female", 2},
        {"robot", 3},
};
ENUM(e_Pronouns, "Profile.Pronouns", file_identity, e_Pronouns_list);

static const CapnpField f_Profile[] = {
        FIELD("displayName", 0, 0, T_STRUCT(s_LocalizedText)),
        FIELD("preferredHandle", 1, 1, T(TEXT)),
        FIELD("picture", 2, 2, T_IFACE("StaticAsset")),
        FIELD("pronouns", 3, 0, T_ENUM(e_Pronouns)),
};
static STRUCT(s_Profile, "Profile", file_identity, 1, 3, f_Profile);

static const CapnpSchemaNode n_identity[] = {
        NODE_ALIAS("PermissionSet", T_PERMISSION_SET),
        NODE_IFACE("Identity"),
        NODE_STRUCT("Identity.PowerboxTag", s_IdentityPowerboxTag),
        NODE_STRUCT("Profile", s_Profile),
        NODE_ENUM("Profile.Pronouns", e_Pronouns),
};
static const CapnpSchemaFile file_identity = {
        .name = "identity.capnp",
        .id = UINT64_C(0xc822108a5c3d7d25),
        .nodes = n_identity,
        .n_nodes = ELEMENTSOF(n_identity),
};

/* ---- activity.capnp (0xa4e001d4cbcf33fa) ---- */

static const CapnpField f_RequiredPermission[] = {
        MEMBER("everyone", 3, 0, 0, T(VOID)),
        MEMBER("permissionIndex", 4, 16, 1, T(UINT16)),
        MEMBER("explicitList", 5, 0, 2, T(VOID)),
};
GROUP_STRUCT(g_RequiredPermission, "ActivityTypeDef.requiredPermission", file_activity, 1, 3, 3, 0,
        f_RequiredPermission);

static const CapnpField f_ActivityTypeDef[] = {
        FIELD("name", 0, 0, T(TEXT)),
        FIELD("verbPhrase", 1, 1, T_STRUCT(s_LocalizedText)),
        FIELD("description", 2, 2, T_STRUCT(s_LocalizedText)),
        GROUP("requiredPermission", g_RequiredPermission),
        FIELD("obsolete", 6, 32, T(BOOL)),
        FIELD("notifySubscribers", 7, 33, T(BOOL)),
        FIELD("autoSubscribeToThread", 8, 34, T(BOOL)),
        FIELD("autoSubscribeToGrain", 9, 35, T(BOOL)),
        FIELD("suppressUnread", 10, 36, T(BOOL)),
};
static STRUCT(s_ActivityTypeDef, "ActivityTypeDef", file_activity, 1, 3, f_ActivityTypeDef);

static const CapnpSchemaNode n_activity[] = {
        NODE_STRUCT("ActivityTypeDef", s_ActivityTypeDef),
};
static const CapnpSchemaFile file_activity = {
        .name = "activity.capnp",
        .id = UINT64_C(0xa4e001d4cbcf33fa),
        .nodes = n_activity,
        .n_nodes = ELEMENTSOF(n_activity),
};

/* ---- powerbox.capnp (0xf6c200ab14cd53e4) ---- */

static const CapnpEnumerant e_MatchQuality_list[] = {
        {"preferred", 1},
        {"acceptable", 0},
        {"unacceptable", 2},
};
ENUM(e_MatchQuality, "PowerboxDescriptor.MatchQuality", file_powerbox, e_MatchQuality_list);

static const CapnpField f_PowerboxDescriptor[] = {
        FIELD("tags", 0, 0, T_LIST(T_STRUCT(s_Tag))),
        FIELD("quality", 1, 0, T_ENUM(e_MatchQuality)), /* default acceptable = 0 */
};
static STRUCT(s_PowerboxDescriptor, "PowerboxDescriptor", file_powerbox, 1, 1, f_PowerboxDescriptor);

static const CapnpField f_Tag[] = {
        FIELD("id", 0, 0, T(UINT64)),
        FIELD("value", 1, 0, T(ANY_POINTER)),
};
static STRUCT(s_Tag, "PowerboxDescriptor.Tag", file_powerbox, 1, 1, f_Tag);

static const CapnpField f_PowerboxDisplayInfo[] = {
        FIELD("title", 0, 0, T_STRUCT(s_LocalizedText)),
        FIELD("verbPhrase", 1, 1, T_STRUCT(s_LocalizedText)),
        FIELD("description", 2, 2, T_STRUCT(s_LocalizedText)),
};
static STRUCT(s_PowerboxDisplayInfo, "PowerboxDisplayInfo", file_powerbox, 0, 3, f_PowerboxDisplayInfo);

static const CapnpSchemaNode n_powerbox[] = {
        NODE_STRUCT("PowerboxDescriptor", s_PowerboxDescriptor),
        NODE_STRUCT("PowerboxDescriptor.Tag", s_Tag),
        NODE_ENUM("PowerboxDescriptor.MatchQuality", e_MatchQuality),
        NODE_STRUCT("PowerboxDisplayInfo", s_PowerboxDisplayInfo),
};
static const CapnpSchemaFile file_powerbox = {
        .name = "powerbox.capnp",
        .id = UINT64_C(0xf6c200ab14cd53e4),
        .nodes = n_powerbox,
        .n_nodes = ELEMENTSOF(n_powerbox),
};

/* ---- api-session.capnp (0xeb014c0c3413cbfb) ---- */

static const CapnpField f_ApiPowerboxTag[] = {
        FIELD("canonicalUrl", 0, 0, T(TEXT)),
        FIELD("oauthScopes", 1, 1, T_LIST(T_STRUCT(s_OAuthScope))),
        FIELD("authentication", 2, 2, T(TEXT)),
};
static STRUCT(s_ApiPowerboxTag, "ApiSession.PowerboxTag", file_api_session, 0, 3, f_ApiPowerboxTag);

static const CapnpField f_OAuthScope[] = {
        FIELD("name", 0, 0, T(TEXT)),
};
static STRUCT(s_OAuthScope, "ApiSession.PowerboxTag.OAuthScope", file_api_session, 0, 1, f_OAuthScope);

static const CapnpSchemaNode n_api_session[] = {
        NODE_IFACE("ApiSession"),
        NODE_STRUCT("ApiSession.PowerboxTag", s_ApiPowerboxTag),
        NODE_STRUCT("ApiSession.PowerboxTag.OAuthScope", s_OAuthScope),
};
static const CapnpSchemaFile file_api_session = {
        .name = "api-session.capnp",
        .id = UINT64_C(0xeb014c0c3413cbfb),
        .nodes = n_api_session,
        .n_nodes = ELEMENTSOF(n_api_session),
};

/* ---- grain.capnp (0xc8d91463cfc4fb4a) ---- */

static const CapnpField f_ViewInfo[] = {
        FIELD("permissions", 0, 0, T_LIST(T_STRUCT(s_PermissionDef))),
        FIELD("roles", 1, 1, T_LIST(T_STRUCT(s_RoleDef))),
        FIELD("deniedPermissions", 2, 2, T_PERMISSION_SET),
        FIELD("matchRequests", 3, 3, T_LIST(T_STRUCT(s_PowerboxDescriptor))),
        FIELD("matchOffers", 4, 4, T_LIST(T_STRUCT(s_PowerboxDescriptor))),
        FIELD("appTitle", 5, 5, T_STRUCT(s_LocalizedText)),
        FIELD("grainIcon", 6, 6, T_IFACE("StaticAsset")),
        FIELD("eventTypes", 7, 7, T_LIST(T_STRUCT(s_ActivityTypeDef))),
};
static STRUCT(s_ViewInfo, "UiView.ViewInfo", file_grain, 0, 8, f_ViewInfo);

static const CapnpField f_UiViewPowerboxTag[] = {
        FIELD("title", 0, 0, T(TEXT)),
};
static STRUCT(s_UiViewPowerboxTag, "UiView.PowerboxTag", file_grain, 0, 1, f_UiViewPowerboxTag);

static const CapnpField f_PermissionDef[] = {
        FIELD("title", 0, 0, T_STRUCT(s_LocalizedText)),
        FIELD("description", 1, 1, T_STRUCT(s_LocalizedText)),
        FIELD("obsolete", 2, 0, T(BOOL)),
        FIELD("name", 3, 2, T(TEXT)),
};
static STRUCT(s_PermissionDef, "PermissionDef", file_grain, 1, 3, f_PermissionDef);

static const CapnpField f_RoleDef[] = {
        FIELD("title", 0, 0, T_STRUCT(s_LocalizedText)),
        FIELD("verbPhrase", 1, 1, T_STRUCT(s_LocalizedText)),
        FIELD("description", 2, 2, T_STRUCT(s_LocalizedText)),
        FIELD("permissions", 3, 3, T_PERMISSION_SET),
        FIELD("obsolete", 4, 0, T(BOOL)),
        FIELD("default", 5, 1, T(BOOL)),
};
static STRUCT(s_RoleDef, "RoleDef", file_grain, 1, 4, f_RoleDef);

static const CapnpField f_GrainInfo[] = {
        FIELD("appId", 0, 0, T(TEXT)),
        FIELD("appVersion", 1, 0, T(UINT32)),
        FIELD("title", 2, 1, T(TEXT)),
        FIELD("ownerIdentityId", 3, 2, T(TEXT)),
        FIELD("users", 4, 3, T_LIST(T_STRUCT(s_GrainInfoUser))),
        FIELD("originalGrainId", 5, 4, T(TEXT)),
};
static STRUCT(s_GrainInfo, "GrainInfo", file_grain, 1, 5, f_GrainInfo);

static const CapnpField f_GrainInfoUser[] = {
        FIELD("identityId", 0, 0, T(TEXT)),
        FIELD("credentialIds", 1, 1, T_LIST(T(TEXT))),
        FIELD("profile", 2, 2, T_STRUCT(s_Profile)),
};
static STRUCT(s_GrainInfoUser, "GrainInfo.User", file_grain, 0, 3, f_GrainInfoUser);

static const CapnpSchemaNode n_grain[] = {
        NODE_IFACE("UiView"),
        NODE_STRUCT("UiView.ViewInfo", s_ViewInfo),
        NODE_STRUCT("UiView.PowerboxTag", s_UiViewPowerboxTag),
        NODE_STRUCT("PermissionDef", s_PermissionDef),
        NODE_STRUCT("RoleDef", s_RoleDef),
        NODE_STRUCT("GrainInfo", s_GrainInfo),
        NODE_STRUCT("GrainInfo.User", s_GrainInfoUser),
};
static const CapnpSchemaFile file_grain = {
        .name = "grain.capnp",
        .id = UINT64_C(0xc8d91463cfc4fb4a),
        .nodes = n_grain,
        .n_nodes = ELEMENTSOF(n_grain),
};

/* ---- package.capnp (0xdf9bc20172856a3a) ---- */

static const CapnpField f_PackageDefinition[] = {
        FIELD("id", 0, 0, T(TEXT)),
        FIELD("manifest", 1, 1, T_STRUCT(capnp_schema_Manifest)),
        FIELD("sourceMap", 2, 2, T_STRUCT(s_SourceMap)),
        FIELD("fileList", 3, 3, T(TEXT)),
        FIELD("alwaysInclude", 4, 4, T_LIST(T(TEXT))),
        FIELD("bridgeConfig", 5, 5, T_STRUCT(capnp_schema_BridgeConfig)),
};
STRUCT(capnp_schema_PackageDefinition, "PackageDefinition", file_package, 0, 6, f_PackageDefinition);

static const CapnpField f_Manifest[] = {
        FIELD("minApiVersion", 0, 0, T(UINT32)),
        FIELD("maxApiVersion", 1, 32, T(UINT32)),
        FIELD("actions", 2, 0, T_LIST(T_STRUCT(s_ManifestAction))),
        FIELD("continueCommand", 3, 1, T_STRUCT(s_ManifestCommand)),
        FIELD("appVersion", 4, 64, T(UINT32)),
        FIELD("minUpgradableAppVersion", 5, 96, T(UINT32)),
        FIELD("appMarketingVersion", 6, 2, T_STRUCT(s_LocalizedText)),
        FIELD("appTitle", 7, 3, T_STRUCT(s_LocalizedText)),
        FIELD("metadata", 8, 4, T_STRUCT(capnp_schema_Metadata)),
};
STRUCT(capnp_schema_Manifest, "Manifest", file_package, 2, 5, f_Manifest);

static const CapnpField f_ManifestCommand[] = {
        FIELD("deprecatedExecutablePath", 0, 0, T(TEXT)),
        FIELD("argv", 1, 1, T_LIST(T(TEXT))),
        FIELD("environ", 2, 2, T_LIST(T_STRUCT(s_KeyValue))),
};
static STRUCT(s_ManifestCommand, "Manifest.Command", file_package, 0, 3, f_ManifestCommand);

static const CapnpField f_ActionInput[] = {
        MEMBER("none", 0, 0, 0, T(VOID)),
        MEMBER("capability", 1, 0, 1, T_LIST(T_STRUCT(s_PowerboxDescriptor))),
};
GROUP_STRUCT(g_ActionInput, "Manifest.Action.input", file_package, 1, 5, 2, 0, f_ActionInput);

static const CapnpField f_ManifestAction[] = {
        GROUP("input", g_ActionInput),
        FIELD("command", 2, 1, T_STRUCT(s_ManifestCommand)),
        FIELD("title", 3, 2, T_STRUCT(s_LocalizedText)),
        FIELD("description", 4, 3, T_STRUCT(s_LocalizedText)),
        FIELD("nounPhrase", 5, 4, T_STRUCT(s_LocalizedText)),
};
static STRUCT(s_ManifestAction, "Manifest.Action", file_package, 1, 5, f_ManifestAction);

static const CapnpField f_SourceMap[] = {
        FIELD("searchPath", 0, 0, T_LIST(T_STRUCT(s_Mapping))),
};
static STRUCT(s_SourceMap, "SourceMap", file_package, 0, 1, f_SourceMap);

static const CapnpField f_Mapping[] = {
        FIELD("packagePath", 0, 0, T(TEXT)),
        FIELD("sourcePath", 1, 1, T(TEXT)),
        FIELD("hidePaths", 2, 2, T_LIST(T(TEXT))),
};
static STRUCT(s_Mapping, "SourceMap.Mapping", file_package, 0, 3, f_Mapping);

static const CapnpField f_BridgeConfig[] = {
        FIELD("viewInfo", 0, 0, T_STRUCT(s_ViewInfo)),
        FIELD("apiPath", 1, 1, T(TEXT)),
        FIELD("saveIdentityCaps", 2, 0, T(BOOL)),
        FIELD("powerboxApis", 3, 2, T_LIST(T_STRUCT(s_PowerboxApi))),
        FIELD("expectAppHooks", 4, 1, T(BOOL)),
};
STRUCT(capnp_schema_BridgeConfig, "BridgeConfig", file_package, 1, 3, f_BridgeConfig);

static const CapnpField f_PowerboxApi[] = {
        FIELD("name", 0, 0, T(TEXT)),
        FIELD("displayInfo", 1, 1, T_STRUCT(s_PowerboxDisplayInfo)),
        FIELD("path", 2, 2, T(TEXT)),
        FIELD("tag", 3, 3, T_STRUCT(s_ApiPowerboxTag)),
        FIELD("permissions", 4, 4, T_PERMISSION_SET),
};
static STRUCT(s_PowerboxApi, "BridgeConfig.PowerboxApi", file_package, 0, 5, f_PowerboxApi);

static const CapnpEnumerant e_OpenSourceLicense_list[] = {
        {"invalid", 0},
        {"mit", 1},
        {"apache2", 2},
        {"gpl3", 3},
        {"agpl3", 4},
        {"bsd3Clause", 5},
        {"bsd2Clause", 6},
        {"gpl2", 7},
        {"lgpl2", 8},
        {"lgpl3", 9},
        {"isc", 10},
        {"artistic2", 11},
        {"python2", 12},
        {"php3", 13},
        {"mpl2", 14},
        {"cddl", 15},
        {"epl", 16},
        {"cpal", 17},
        {"zlib", 18},
};
ENUM(e_OpenSourceLicense, "OpenSourceLicense", file_package, e_OpenSourceLicense_list);

static const CapnpEnumerant e_Category_list[] = {
        {"productivity", 1},
        {"communications", 2},
        {"social", 3},
        {"webPublishing", 4},
        {"office", 5},
        {"developerTools", 6},
        {"science", 7},
        {"graphics", 10},
        {"media", 8},
        {"games", 9},
        {"other", 0},
};
ENUM(e_Category, "Category", file_package, e_Category_list);

static const CapnpField f_Icons[] = {
        FIELD("appGrid", 0, 0, T_STRUCT(s_Icon)),
        FIELD("grain", 1, 1, T_STRUCT(s_Icon)),
        FIELD("market", 2, 2, T_STRUCT(s_Icon)),
        FIELD("marketBig", 18, 15, T_STRUCT(s_Icon)),
};
GROUP_STRUCT(g_Icons, "Metadata.icons", file_package, 1, 17, 0, 0, f_Icons);

static const CapnpField f_License[] = {
        MEMBER("none", 5, 0, 0, T(VOID)),
        MEMBER("openSource", 6, 16, 1, T_ENUM(e_OpenSourceLicense)),
        MEMBER("proprietary", 7, 5, 2, T_STRUCT(s_LocalizedText)),
        MEMBER("publicDomain", 8, 5, 3, T_STRUCT(s_LocalizedText)),
        FIELD("notices", 9, 6, T_STRUCT(s_LocalizedText)),
};
GROUP_STRUCT(g_License, "Metadata.license", file_package, 1, 17, 4, 0, f_License);

static const CapnpField f_Author[] = {
        FIELD("contactEmail", 11, 8, T(TEXT)),
        FIELD("pgpSignature", 12, 9, T(DATA)),
        FIELD("upstreamAuthor", 19, 16, T(TEXT)),
};
GROUP_STRUCT(g_Author, "Metadata.author", file_package, 1, 17, 0, 0, f_Author);

static const CapnpField f_Metadata[] = {
        GROUP("icons", g_Icons),
        FIELD("website", 3, 3, T(TEXT)),
        FIELD("codeUrl", 4, 4, T(TEXT)),
        GROUP("license", g_License),
        FIELD("categories", 10, 7, T_LIST(T_ENUM(e_Category))),
        GROUP("author", g_Author),
        FIELD("pgpKeyring", 13, 10, T(DATA)),
        FIELD("description", 14, 11, T_STRUCT(s_LocalizedText)),
        FIELD("shortDescription", 15, 12, T_STRUCT(s_LocalizedText)),
        FIELD("screenshots", 16, 13, T_LIST(T_STRUCT(s_Screenshot))),
        FIELD("changeLog", 17, 14, T_STRUCT(s_LocalizedText)),
};
STRUCT(capnp_schema_Metadata, "Metadata", file_package, 1, 17, f_Metadata);

static const CapnpField f_IconPng[] = {
        FIELD("dpi1x", 2, 0, T(DATA)),
        FIELD("dpi2x", 3, 1, T(DATA)),
};
GROUP_STRUCT(g_IconPng, "Metadata.Icon.png", file_package, 1, 2, 0, 0, f_IconPng);

static const CapnpField f_Icon[] = {
        MEMBER("unknown", 0, 0, 0, T(VOID)),
        MEMBER("svg", 1, 0, 1, T(TEXT)),
        GROUP_MEMBER("png", g_IconPng, 2),
};
static UNION_STRUCT(s_Icon, "Metadata.Icon", file_package, 1, 2, 3, 0, f_Icon);

static const CapnpField f_Screenshot[] = {
        FIELD("width", 0, 0, T(UINT32)),
        FIELD("height", 1, 32, T(UINT32)),
        MEMBER("unknown", 2, 0, 0, T(VOID)),
        MEMBER("png", 3, 0, 1, T(DATA)),
        MEMBER("jpeg", 4, 0, 2, T(DATA)),
};
static UNION_STRUCT(s_Screenshot, "Metadata.Screenshot", file_package, 2, 1, 3, 64, f_Screenshot);

static const CapnpField f_OsiLicenseInfo[] = {
        FIELD("id", 0, 0, T(TEXT)),
        FIELD("title", 1, 1, T(TEXT)),
        FIELD("requireSource", 2, 0, T(BOOL)),
};
static STRUCT(s_OsiLicenseInfo, "OsiLicenseInfo", file_package, 1, 2, f_OsiLicenseInfo);

static const CapnpField f_AppId[] = {
        FIELD("id0", 0, 0, T(UINT64)),
        FIELD("id1", 1, 64, T(UINT64)),
        FIELD("id2", 2, 128, T(UINT64)),
        FIELD("id3", 3, 192, T(UINT64)),
};
STRUCT(capnp_schema_AppId, "AppId", file_package, 4, 0, f_AppId);

static const CapnpField f_PackageId[] = {
        FIELD("id0", 0, 0, T(UINT64)),
        FIELD("id1", 1, 64, T(UINT64)),
};
STRUCT(capnp_schema_PackageId, "PackageId", file_package, 2, 0, f_PackageId);

static const CapnpField f_VerifiedInfo[] = {
        FIELD("appId", 0, 0, T_STRUCT(capnp_schema_AppId)),
        FIELD("packageId", 1, 1, T_STRUCT(capnp_schema_PackageId)),
        FIELD("title", 2, 2, T_STRUCT(s_LocalizedText)),
        FIELD("version", 3, 0, T(UINT32)),
        FIELD("marketingVersion", 4, 3, T_STRUCT(s_LocalizedText)),
        FIELD("authorPgpKeyFingerprint", 5, 4, T(TEXT)),
        FIELD("metadata", 6, 5, T_STRUCT(capnp_schema_Metadata)),
};
STRUCT(capnp_schema_VerifiedInfo, "VerifiedInfo", file_package, 1, 6, f_VerifiedInfo);

static const CapnpField f_CategoryInfo[] = {
        FIELD("title", 0, 0, T(TEXT)),
};
static STRUCT(s_CategoryInfo, "CategoryInfo", file_package, 0, 1, f_CategoryInfo);

static const CapnpField f_KeyFile[] = {
        FIELD("publicKey", 0, 0, T(DATA)),
        FIELD("privateKey", 1, 1, T(DATA)),
};
static STRUCT(s_KeyFile, "KeyFile", file_package, 0, 2, f_KeyFile);

static const CapnpField f_Signature[] = {
        FIELD("publicKey", 0, 0, T(DATA)),
        FIELD("signature", 1, 1, T(DATA)),
};
static STRUCT(s_Signature, "Signature", file_package, 0, 2, f_Signature);

static const CapnpField f_Archive[] = {
        FIELD("files", 0, 0, T_LIST(T_STRUCT(s_ArchiveFile))),
};
static STRUCT(s_Archive, "Archive", file_package, 0, 1, f_Archive);

static const CapnpField f_ArchiveFile[] = {
        FIELD("name", 0, 0, T(TEXT)),
        MEMBER("regular", 1, 1, 0, T(DATA)),
        MEMBER("executable", 2, 1, 1, T(DATA)),
        MEMBER("symlink", 3, 1, 2, T(TEXT)),
        MEMBER("directory", 4, 1, 3, T_LIST(T_STRUCT(s_ArchiveFile))),
        FIELD("lastModificationTimeNs", 5, 64, T(INT64)),
};
static UNION_STRUCT(s_ArchiveFile, "Archive.File", file_package, 2, 2, 4, 0, f_ArchiveFile);

static const uint8_t magic_number[] = {0x8f, 0xc6, 0xcd, 0xef, 0x45, 0x1a, 0xea, 0x96};

static const CapnpSchemaNode n_package[] = {
        NODE_STRUCT("PackageDefinition", capnp_schema_PackageDefinition),
        NODE_STRUCT("Manifest", capnp_schema_Manifest),
        {.name = "Manifest.sizeLimitInWords",
                .kind = CAPNP_SCHEMA_NODE_CONST,
                .type = T(UINT64),
                .value_bits = CAPNP_MANIFEST_TRAVERSAL_WORDS},
        NODE_STRUCT("Manifest.Command", s_ManifestCommand),
        NODE_STRUCT("Manifest.Action", s_ManifestAction),
        NODE_STRUCT("SourceMap", s_SourceMap),
        NODE_STRUCT("SourceMap.Mapping", s_Mapping),
        NODE_STRUCT("BridgeConfig", capnp_schema_BridgeConfig),
        NODE_STRUCT("BridgeConfig.PowerboxApi", s_PowerboxApi),
        NODE_STRUCT("Metadata", capnp_schema_Metadata),
        NODE_STRUCT("Metadata.Icon", s_Icon),
        NODE_STRUCT("Metadata.Screenshot", s_Screenshot),
        NODE_STRUCT("OsiLicenseInfo", s_OsiLicenseInfo),
        NODE_ENUM("OpenSourceLicense", e_OpenSourceLicense),
        NODE_STRUCT("AppId", capnp_schema_AppId),
        NODE_STRUCT("PackageId", capnp_schema_PackageId),
        NODE_STRUCT("VerifiedInfo", capnp_schema_VerifiedInfo),
        NODE_STRUCT("CategoryInfo", s_CategoryInfo),
        NODE_ENUM("Category", e_Category),
        NODE_STRUCT("KeyFile", s_KeyFile),
        {.name = "magicNumber",
                .kind = CAPNP_SCHEMA_NODE_CONST,
                .type = T(DATA),
                .value_bytes = magic_number,
                .value_size = sizeof(magic_number)},
        NODE_STRUCT("Signature", s_Signature),
        NODE_STRUCT("Archive", s_Archive),
        NODE_STRUCT("Archive.File", s_ArchiveFile),
};
static const CapnpSchemaFile file_package = {
        .name = "package.capnp",
        .id = UINT64_C(0xdf9bc20172856a3a),
        .nodes = n_package,
        .n_nodes = ELEMENTSOF(n_package),
};

static const CapnpSchemaFile *const all_files[] = {
        &file_package,
        &file_util,
        &file_grain,
        &file_powerbox,
        &file_api_session,
        &file_identity,
        &file_activity,
        NULL,
};

/* ---- lookups ---- */

const CapnpSchemaFile *const *capnp_schema_files(void) {
        return all_files;
}

const CapnpSchemaFile *capnp_schema_file_find(const char *import_name) {
        const char *p;

        if (!import_name)
                return NULL;
        p = import_name;
        if (*p == '/')
                p++;
        if (strncmp(p, "sandstorm/", STRLEN("sandstorm/")) != 0)
                return NULL;
        p += STRLEN("sandstorm/");
        for (size_t i = 0; all_files[i]; i++)
                if (streq(all_files[i]->name, p))
                        return all_files[i];
        return NULL;
}

static bool name_eq(const char *a, const char *b, size_t len) {
        return strlen(a) == len && memcmp(a, b, len) == 0;
}

const CapnpSchemaNode *capnp_schema_file_lookup(const CapnpSchemaFile *file, const char *name, size_t len) {
        assert(file);
        assert(name || len == 0);

        for (size_t i = 0; i < file->n_nodes; i++)
                if (name_eq(file->nodes[i].name, name, len))
                        return &file->nodes[i];
        return NULL;
}

static const CapnpSchemaNode *find_node(const char *name, CapnpSchemaNodeKind kind) {
        const char *colon;

        if (!name)
                return NULL;
        colon = strchr(name, ':');
        for (size_t i = 0; all_files[i]; i++) {
                const CapnpSchemaFile *f = all_files[i];
                const char *n = name;
                const CapnpSchemaNode *node;

                if (colon) {
                        if (!name_eq(f->name, name, (size_t) (colon - name)))
                                continue;
                        n = colon + 1;
                }
                node = capnp_schema_file_lookup(f, n, strlen(n));
                if (node && node->kind == kind)
                        return node;
        }
        return NULL;
}

const CapnpStructSchema *capnp_schema_find_struct(const char *name) {
        const CapnpSchemaNode *n = find_node(name, CAPNP_SCHEMA_NODE_STRUCT);
        return n ? n->type.struct_schema : NULL;
}

const CapnpEnumSchema *capnp_schema_find_enum(const char *name) {
        const CapnpSchemaNode *n = find_node(name, CAPNP_SCHEMA_NODE_ENUM);
        return n ? n->type.enum_schema : NULL;
}

const CapnpField *capnp_struct_schema_field(const CapnpStructSchema *s, const char *name, size_t len) {
        assert(s);

        for (size_t i = 0; i < s->n_fields; i++)
                if (name_eq(s->fields[i].name, name, len))
                        return &s->fields[i];
        return NULL;
}

const CapnpEnumerant *capnp_enum_schema_by_name(const CapnpEnumSchema *e, const char *name, size_t len) {
        assert(e);

        for (size_t i = 0; i < e->n_enumerants; i++)
                if (name_eq(e->enumerants[i].name, name, len))
                        return &e->enumerants[i];
        return NULL;
}

const CapnpEnumerant *capnp_enum_schema_by_value(const CapnpEnumSchema *e, uint16_t value) {
        assert(e);

        for (size_t i = 0; i < e->n_enumerants; i++)
                if (e->enumerants[i].value == value)
                        return &e->enumerants[i];
        return NULL;
}

/* ---- types ---- */

static const struct {
        const char *name;
        CapnpType type;
} builtins[] = {
        {"Void", T(VOID)},
        {"Bool", T(BOOL)},
        {"Int8", T(INT8)},
        {"Int16", T(INT16)},
        {"Int32", T(INT32)},
        {"Int64", T(INT64)},
        {"UInt8", T(UINT8)},
        {"UInt16", T(UINT16)},
        {"UInt32", T(UINT32)},
        {"UInt64", T(UINT64)},
        {"Float32", T(FLOAT32)},
        {"Float64", T(FLOAT64)},
        {"Text", T(TEXT)},
        {"Data", T(DATA)},
        {"AnyPointer", T(ANY_POINTER)},
};

const CapnpType *capnp_type_builtin(const char *name, size_t len) {
        for (size_t i = 0; i < ELEMENTSOF(builtins); i++)
                if (name_eq(builtins[i].name, name, len))
                        return &builtins[i].type;
        return NULL;
}

bool capnp_type_is_pointer(const CapnpType *t) {
        assert(t);

        switch (t->kind) {
        case CAPNP_TYPE_TEXT:
        case CAPNP_TYPE_DATA:
        case CAPNP_TYPE_LIST:
        case CAPNP_TYPE_STRUCT:
        case CAPNP_TYPE_INTERFACE:
        case CAPNP_TYPE_ANY_POINTER:
                return true;
        default:
                return false;
        }
}

unsigned capnp_type_data_bits(const CapnpType *t) {
        assert(t);

        switch (t->kind) {
        case CAPNP_TYPE_BOOL:
                return 1;
        case CAPNP_TYPE_INT8:
        case CAPNP_TYPE_UINT8:
                return 8;
        case CAPNP_TYPE_INT16:
        case CAPNP_TYPE_UINT16:
        case CAPNP_TYPE_ENUM:
                return 16;
        case CAPNP_TYPE_INT32:
        case CAPNP_TYPE_UINT32:
        case CAPNP_TYPE_FLOAT32:
                return 32;
        case CAPNP_TYPE_INT64:
        case CAPNP_TYPE_UINT64:
        case CAPNP_TYPE_FLOAT64:
                return 64;
        default:
                return 0;
        }
}

int capnp_type_list_element_size(const CapnpType *t) {
        assert(t);

        if (t->kind == CAPNP_TYPE_STRUCT)
                return CAPNP_ELEMENT_COMPOSITE;
        if (capnp_type_is_pointer(t))
                return CAPNP_ELEMENT_POINTER;
        switch (capnp_type_data_bits(t)) {
        case 0:
                return CAPNP_ELEMENT_VOID;
        case 1:
                return CAPNP_ELEMENT_BIT;
        case 8:
                return CAPNP_ELEMENT_BYTE;
        case 16:
                return CAPNP_ELEMENT_TWO_BYTES;
        case 32:
                return CAPNP_ELEMENT_FOUR_BYTES;
        default:
                return CAPNP_ELEMENT_EIGHT_BYTES;
        }
}

static const char *const type_kind_table[_CAPNP_TYPE_KIND_MAX] = {
        [CAPNP_TYPE_VOID] = "Void",
        [CAPNP_TYPE_BOOL] = "Bool",
        [CAPNP_TYPE_INT8] = "Int8",
        [CAPNP_TYPE_INT16] = "Int16",
        [CAPNP_TYPE_INT32] = "Int32",
        [CAPNP_TYPE_INT64] = "Int64",
        [CAPNP_TYPE_UINT8] = "UInt8",
        [CAPNP_TYPE_UINT16] = "UInt16",
        [CAPNP_TYPE_UINT32] = "UInt32",
        [CAPNP_TYPE_UINT64] = "UInt64",
        [CAPNP_TYPE_FLOAT32] = "Float32",
        [CAPNP_TYPE_FLOAT64] = "Float64",
        [CAPNP_TYPE_TEXT] = "Text",
        [CAPNP_TYPE_DATA] = "Data",
        [CAPNP_TYPE_LIST] = "List",
        [CAPNP_TYPE_ENUM] = "Enum",
        [CAPNP_TYPE_STRUCT] = "Struct",
        [CAPNP_TYPE_INTERFACE] = "Interface",
        [CAPNP_TYPE_ANY_POINTER] = "AnyPointer",
};

const char *capnp_type_kind_to_string(CapnpTypeKind k) {
        if (k < 0 || k >= _CAPNP_TYPE_KIND_MAX)
                return NULL;
        return type_kind_table[k];
}

CapnpTypeKind capnp_type_kind_from_string(const char *s) {
        if (!s)
                return _CAPNP_TYPE_KIND_INVALID;
        for (int i = 0; i < _CAPNP_TYPE_KIND_MAX; i++)
                if (streq(type_kind_table[i], s))
                        return (CapnpTypeKind) i;
        return _CAPNP_TYPE_KIND_INVALID;
}

static void type_name_append(const CapnpType *t, char *buf, size_t n, size_t *pos) {
        const char *s;

        switch (t->kind) {
        case CAPNP_TYPE_LIST:
                if (*pos < n)
                        *pos += (size_t) snprintf(buf + *pos, n - *pos, "List(");
                if (t->element)
                        type_name_append(t->element, buf, n, pos);
                if (*pos < n)
                        *pos += (size_t) snprintf(buf + *pos, n - *pos, ")");
                return;
        case CAPNP_TYPE_STRUCT:
                s = t->struct_schema ? t->struct_schema->name : "Struct";
                break;
        case CAPNP_TYPE_ENUM:
                s = t->enum_schema ? t->enum_schema->name : "Enum";
                break;
        case CAPNP_TYPE_INTERFACE:
                s = t->interface_name ?: "Interface";
                break;
        default:
                s = capnp_type_kind_to_string(t->kind) ?: "?";
        }
        if (*pos < n)
                *pos += (size_t) snprintf(buf + *pos, n - *pos, "%s", s);
}

char *capnp_type_name(const CapnpType *t, char *buf, size_t n) {
        size_t pos = 0;

        assert(t);
        assert(buf);
        assert(n > 0);

        buf[0] = 0;
        type_name_append(t, buf, n, &pos);
        return buf;
}

bool capnp_type_equal(const CapnpType *a, const CapnpType *b) {
        assert(a);
        assert(b);

        if (a->kind != b->kind)
                return false;
        switch (a->kind) {
        case CAPNP_TYPE_LIST:
                return capnp_type_equal(a->element, b->element);
        case CAPNP_TYPE_STRUCT:
                return a->struct_schema == b->struct_schema;
        case CAPNP_TYPE_ENUM:
                return a->enum_schema == b->enum_schema;
        case CAPNP_TYPE_INTERFACE:
                return a->interface_name == b->interface_name ||
                       (a->interface_name && b->interface_name &&
                               streq(a->interface_name, b->interface_name));
        default:
                return true;
        }
}
