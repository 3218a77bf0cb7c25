@0xf0e1d2c3b4a59687;

# A bridgeConfig with everything sandstorm-http-bridge reads: permissions, roles (with obsolete and
# default flags), denied permissions, powerbox match requests and offers, event types with each
# requiredPermission member, an API path, identity caps, app hooks, and powerbox APIs with display
# info, tags with OAuth scopes and permissions.
# eval: pkgdef viewer editorRole

using Spk = import "/sandstorm/package.capnp";
using Grain = import "/sandstorm/grain.capnp";
using Powerbox = import "/sandstorm/powerbox.capnp";
using Util = import "/sandstorm/util.capnp";

const pkgdef :Spk.PackageDefinition = (
  id = "m86q05rdvj14yvn78ghaxynqz7u2svw6rnttptxx49g1785cdv1h",
  manifest = (
    appTitle = (defaultText = "Bridge Example"),
    appMarketingVersion = (defaultText = "2.0"),
    actions = [
      (nounPhrase = (defaultText = "board"), command = .command, title = (defaultText = "New board"),
       description = (defaultText = "Creates a board.")),
      (input = (capability = [
         (tags = [(id = 0xc879e379c625cdc7)], quality = preferred),
         (tags = [(id = 15257262406178195739), (id = 1)]),
       ]),
       command = .command),
    ],
    continueCommand = .command,
  ),
  bridgeConfig = (
    viewInfo = (
      permissions = [
        (name = "editor", title = (defaultText = "editor"),
         description = (defaultText = "grants ability to modify data")),
        (name = "commenter", title = (defaultText = "commenter"), obsolete = true),
        (name = "admin"),
      ],
      roles = [
        .editorRole,
        .viewer,
        (title = (defaultText = "nobody"), permissions = [], obsolete = true),
      ],
      deniedPermissions = [false, true, false, false, false, false, false, false, true],
      matchRequests = [(tags = [(id = 0xa50711a14d35a8ce)], quality = unacceptable)],
      matchOffers = [(tags = [(id = 0xdbb4d798ea67e2e7)], quality = acceptable), ()],
      appTitle = (defaultText = "Boards"),
      eventTypes = [
        (name = "comment", verbPhrase = (defaultText = "commented"),
         requiredPermission = (permissionIndex = 1), notifySubscribers = true,
         autoSubscribeToThread = true),
        (name = "edit", requiredPermission = (everyone = void), autoSubscribeToGrain = true,
         suppressUnread = true, obsolete = false),
        (name = "admin", requiredPermission = (explicitList = void)),
        (name = "plain"),
      ],
    ),
    apiPath = "/api/",
    saveIdentityCaps = true,
    expectAppHooks = true,
    powerboxApis = [
      (name = "calendar",
       displayInfo = (title = (defaultText = "Calendar"), verbPhrase = (defaultText = "read your calendar"),
                      description = (defaultText = "CalDAV access to all calendars.")),
       path = "/caldav/",
       tag = (canonicalUrl = "https://example.org/caldav",
              oauthScopes = [(name = "read"), (name = "write")],
              authentication = "basic"),
       permissions = [true, false, true]),
      (name = "empty"),
    ],
  ),
);

const command :Spk.Manifest.Command = (
  deprecatedExecutablePath = "/old/path",
  argv = ["/sandstorm-http-bridge", "10000", "--", "/opt/app/run.sh"],
  environ = [(key = "HOME", value = "/var"), (key = "EMPTY", value = "")],
);

const editorRole :Grain.RoleDef = (
  title = (defaultText = "editor"),
  permissions = [true, true, false],
  verbPhrase = (defaultText = "can make changes to the document"),
  description = (defaultText = "editors may view all site data and change settings."),
  default = true,
);

const viewer :Grain.RoleDef = (
  title = (defaultText = "viewer"),
  permissions = [false],
  verbPhrase = (defaultText = "can view the document"),
  description = (defaultText = "viewers may view what other users have written."),
);
