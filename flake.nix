{
  description = "strip-nd: build-time normalization for reproducible builds, with a NAR self-check";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems =
        f:
        nixpkgs.lib.genAttrs systems (
          system:
          f (
            import nixpkgs {
              inherit system;
              overlays = [ self.overlays.default ];
            }
          )
        );
    in
    {
      overlays.default = import ./nix/overlay.nix;

      packages = forAllSystems (pkgs: {
        default = pkgs.strip-nd;
        strip-nd = pkgs.strip-nd;
        hook = pkgs.stripNdHook;
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${pkgs.strip-nd}/bin/strip-nd";
        };
      });

      # `nix flake check` builds the package, which runs the test suite.
      checks = forAllSystems (pkgs: {
        strip-nd = pkgs.strip-nd;
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt-rfc-style);
    };
}
