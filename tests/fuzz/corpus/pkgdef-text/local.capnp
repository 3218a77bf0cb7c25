@0xb7a6c5d4e3f20111;
# Imported from shared.capnp with a path relative to shared.capnp.
const greeting :Text = "hello from " "local.capnp";
