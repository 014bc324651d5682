# The setup hook: add `stripNdHook` to a package's nativeBuildInputs and every
# output is normalized after fixup (see setup-hook.sh).
{
  makeSetupHook,
  strip-nd,
}:

makeSetupHook {
  name = "strip-nd-hook";
  propagatedBuildInputs = [ strip-nd ];
  meta = {
    description = "Runs strip-nd on every output of a derivation after its fixup phase";
    inherit (strip-nd.meta) license platforms;
  };
} ./setup-hook.sh
