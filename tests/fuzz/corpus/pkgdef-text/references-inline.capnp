@0xd5a1f1e2b3c4d5e6;
using Spk = import "/sandstorm/package.capnp";
using Util = import "/sandstorm/util.capnp";
using P = import "/sandstorm/powerbox.capnp";
using G = import "/sandstorm/grain.capnp";
using L = List(Text);
const pkgdef :Spk.PackageDefinition = (
  id = .id, alwaysInclude = .list,
  manifest = (appTitle = .t, appMarketingVersion = .t, continueCommand = (argv = .list, environ = [(key = "K", value = "V")]),
    actions = [(input = (capability = [(tags = [(id = 0xc879e379c625cdc7, value = .tag), (id = 1, value = .list)], quality = preferred)]))]),
  bridgeConfig = (viewInfo = (permissions = [(name = "a", title = .t)], roles = [(permissions = [true], default = true)]),
    powerboxApis = [(name = "x", tag = (canonicalUrl = "u", oauthScopes = [(name = "s")]))]),
);
const id :Text = "abc" "def";
const list :L = ["a", "b\n\x01"];
const t :Util.LocalizedText = (defaultText = "T", localizations = [(locale = "de", text = "D")]);
const tag :G.UiView.PowerboxTag = (title = "x");
