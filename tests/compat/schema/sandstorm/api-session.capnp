# Reconstruction of Sandstorm's api-session.capnp for granary's compatibility tests (see util.capnp).
# The real ApiSession extends WebSession; nothing a pkgdef writes depends on that.
@0xeb014c0c3413cbfb;

interface ApiSession @0xc879e379c625cdc7 {
  struct PowerboxTag {
    canonicalUrl @0 :Text;

    struct OAuthScope {
      name @0 :Text;
    }

    oauthScopes @1 :List(OAuthScope);
    authentication @2 :Text;
  }
}
