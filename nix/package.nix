# strip-nd, built from this repository's source and Cargo.lock.
#
#   pkgs.callPackage ./nix/package.nix { }
{
  lib,
  stdenv,
  rustPlatform,
  installShellFiles,
}:

let
  # The repository without build products: target/ and fuzz/ are neither
  # needed nor small; corpus/ is, by the tests.
  src = lib.cleanSourceWith {
    src = lib.cleanSource ../.;
    filter =
      path: type:
      let
        rel = lib.removePrefix (toString ../. + "/") (toString path);
      in
      !(lib.hasPrefix "target" rel || lib.hasPrefix "fuzz" rel || lib.hasPrefix "result" rel);
  };
in
rustPlatform.buildRustPackage {
  pname = "strip-nd";
  version = (lib.importTOML ../Cargo.toml).package.version;
  inherit src;

  cargoLock.lockFile = ../Cargo.lock;

  nativeBuildInputs = [ installShellFiles ];

  # `cargo test` runs in checkPhase. The oracle tests are #[ignore]d by default
  # and so are not run here; the sandbox lacks their tools (nix-bin, faketime,
  # unzip, java, ...) and Nix itself cannot run inside a build. Tests that
  # would run but cannot work in the sandbox are skipped by name:
  checkFlags = [
    # Reads this machine's /nix/store and runs nix-build: no Nix inside Nix.
    "--skip=nix::"
  ];

  # Nix's diff-hook setting takes a program, not a command line:
  #   diff-hook = ${strip-nd}/libexec/strip-nd-diff-hook
  #   run-diff-hook = true
  postInstall = ''
    mkdir -p $out/libexec
    cat > $out/libexec/strip-nd-diff-hook <<EOF
    #!/bin/sh
    exec $out/bin/strip-nd diff-hook "\$@"
    EOF
    chmod +x $out/libexec/strip-nd-diff-hook
  ''
  # Completions and the man page come from the clap definition itself
  # (`strip-nd completions SHELL`, `strip-nd man`), so they need the binary to
  # run on the build machine.
  + lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    installShellCompletion --cmd strip-nd \
      --bash <($out/bin/strip-nd completions bash) \
      --fish <($out/bin/strip-nd completions fish) \
      --zsh <($out/bin/strip-nd completions zsh)
    $out/bin/strip-nd man > strip-nd.1
    installManPage strip-nd.1
  '';

  meta = {
    description = "Build-time normalization post-processor for reproducible builds, with a NAR self-check";
    longDescription = ''
      strip-nd walks a build output, picks a per-format handler for each file
      by magic number, rewrites only what is nondeterministic (timestamps,
      names, member order, build dates) atomically and in place, and then
      proves the result with a NAR-hash self-check.
    '';
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = "strip-nd";
    platforms = lib.platforms.unix;
  };
}
