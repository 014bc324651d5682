# An overlay adding strip-nd and its setup hook:
#
#   pkgs = import <nixpkgs> { overlays = [ (import ./nix/overlay.nix) ]; };
#
#   # One package, with the hook appended to its nativeBuildInputs:
#   pkgs.withStripNd pkgs.hello
#
#   # By hand, the same thing:
#   pkgs.hello.overrideAttrs (old: {
#     nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ pkgs.stripNdHook ];
#   })
#
#   # A whole package set: a stdenv whose extraNativeBuildInputs carries the hook.
#   import <nixpkgs> {
#     overlays = [
#       (import ./nix/overlay.nix)
#       (final: prev: { stdenv = prev.stripNdStdenv; })
#     ];
#   }
#
# Both at once (withStripNd on a package of such a set) is harmless: the hook
# guards against being sourced twice and runs once per output.
#
# Caveats of the whole-set form: every derivation that uses stdenv changes, so
# this is a mass rebuild with nothing from the binary cache; and the hook's own
# build (strip-nd, and everything it is built with) must use the unmodified
# stdenv, or the hook would need itself. `prev.callPackage` does not give
# that: it fills a package's arguments from the final set, so strip-nd's
# rustPlatform (and makeSetupHook's stdenvNoCC) would be built with the
# hooked stdenv, which holds the hook: infinite recursion. So the hook that
# stripNdStdenv carries is built from a second instance of the same nixpkgs
# without overlays (`import prev.path`), which only this form evaluates.
final: prev:
let
  unhooked = import prev.path {
    inherit (prev.stdenv.hostPlatform) system;
    overlays = [ ];
  };
  unhookedHook = unhooked.callPackage ./hook.nix {
    strip-nd = unhooked.callPackage ./package.nix { };
  };
in
{
  strip-nd = prev.callPackage ./package.nix { };

  stripNdHook = prev.callPackage ./hook.nix { inherit (final) strip-nd; };

  # Appends the hook to one package's nativeBuildInputs (keeping the others).
  withStripNd =
    pkg:
    pkg.overrideAttrs (old: {
      nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ final.stripNdHook ];
    });

  # prev.stdenv with the hook in every derivation built with it; the hook
  # and its strip-nd are built without it (see above).
  stripNdStdenv = prev.stdenv.override (old: {
    extraNativeBuildInputs = (old.extraNativeBuildInputs or [ ]) ++ [ unhookedHook ];
    # The hook brings strip-nd into the build closure of every package.
    allowedRequisites = null;
  });
}
