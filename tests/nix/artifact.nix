# One artifact kind, built by host tools from /usr/bin with /bin/bash as the
# builder, and, with useHook, normalized by nix/setup-hook.sh through the
# stdenv stand-in (stdenv-runner.sh).
{
  name,
  buildScript,
  useHook,
  stripNd, # the strip-nd binary, as a path (copied into the store)
  setupHook, # nix/setup-hook.sh, as a path
  extraEnv ? { },
}:

derivation (
  {
    name = "${name}-${if useHook then "hook" else "plain"}";
    system = builtins.currentSystem;
    builder = "/bin/bash";
    args = [ ./stdenv-runner.sh ];
    inherit buildScript stripNd setupHook;
    useHook = if useHook then "1" else "";
  }
  // extraEnv
)
