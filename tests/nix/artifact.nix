# A model of stdenv.mkDerivation for the tests: a derivation built by
# stdenv-runner.sh (the stdenv model) with /bin/bash, from host tools in
# /usr/bin. `buildScript` stands for the phases up to install; fixup then runs
# the setup hooks of the inputs. Every other attribute (outputs, postFixup,
# stripNdFlags, __structuredAttrs, outputHash...) is passed on as it is.
{
  name,
  buildScript,
  nativeBuildInputs ? [ ],
  buildInputs ? [ ],
  # What `stdenv.override { extraNativeBuildInputs = ...; }` adds (the
  # overlay's stripNdStdenv): it comes before stdenv's own default hooks.
  extraNativeBuildInputs ? [ ],
  ...
}@attrs:

derivation (
  removeAttrs attrs [ "extraNativeBuildInputs" ]
  // {
    system = builtins.currentSystem;
    builder = "/bin/bash";
    args = [ ./stdenv-runner.sh ];
    inherit nativeBuildInputs buildInputs;
    defaultNativeBuildInputs = extraNativeBuildInputs ++ [
      ./default-hooks/compress-man-pages.sh
      ./default-hooks/make-symlinks-relative.sh
    ];
  }
)
