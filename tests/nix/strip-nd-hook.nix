# nix/hook.nix built with the makeSetupHook model, around a strip-nd package
# that holds the binary under test as bin/strip-nd.
{
  bin, # the strip-nd binary, as a path (copied into the store)
  pname ? "strip-nd", # another name makes another package, and another hook
}:

let
  strip-nd = derivation {
    name = pname;
    system = builtins.currentSystem;
    builder = "/bin/bash";
    # Not ending in cp: bash -c would exec it, and Nix 2.8 kills a builder whose
    # log pipe closes before it exits, as coreutils close stderr at exit.
    args = [
      "-c"
      "/bin/mkdir -p $out/bin && /bin/cp ${bin} $out/bin/strip-nd; exit $?"
    ];
  }
  // {
    meta = {
      license = [ ];
      platforms = [ ];
    };
  };
in
import ../../nix/hook.nix {
  makeSetupHook = import ./make-setup-hook.nix;
  inherit strip-nd;
}
