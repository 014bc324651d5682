# The setup hook: add `stripNdHook` to a package's nativeBuildInputs and every
# output is normalized as the last step of fixup (see setup-hook.sh).
{
  makeSetupHook,
  strip-nd,
}:

makeSetupHook {
  name = "strip-nd-hook";
  # The hook calls strip-nd by this store path, never through PATH, so another
  # strip-nd there cannot shadow it; the reference keeps strip-nd in the
  # hook's closure, so it need not be propagated onto PATH either.
  substitutions.stripNd = "${strip-nd}/bin/strip-nd";
  meta = {
    description = "Runs strip-nd on every output of a derivation as the last step of its fixup phase";
    inherit (strip-nd.meta) license platforms;
  };
} ./setup-hook.sh
