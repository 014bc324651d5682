# A model of nixpkgs' makeSetupHook, for the stdenv model (stdenv-runner.sh):
# a store path whose nix-support/setup-hook is the script, with @name@
# replaced, as substituteAll does, by the value of every variable of the
# build whose name starts with a lowercase letter (the substitutions among
# them), and whose nix-support/propagated-build-inputs lists
# propagatedBuildInputs. meta is not a derivation attribute and is dropped.
{
  name,
  propagatedBuildInputs ? [ ],
  substitutions ? { },
  meta ? { },
}:
script:

derivation (
  substitutions
  // {
    inherit name script propagatedBuildInputs;
    system = builtins.currentSystem;
    builder = "/bin/bash";
    args = [ ./make-setup-hook.sh ];
  }
)
