# Sourced by the scripts that build, invoke or deploy the Lambda functions: the Python tools on PATH,
# the architecture argument, and an early, plain check for the Rust target a build needs.

# sam and cargo-lambda live in .venv/bin (scripts/venv.sh), not on the user's PATH.
use_venv_tools() {
  bash scripts/venv.sh
  export PATH="$PWD/.venv/bin:$PATH"
}

# The template's Architecture values, and the Rust target each one compiles for.
rust_target_of() {
  case "$1" in
    arm64) echo aarch64-unknown-linux-gnu ;;
    x86_64) echo x86_64-unknown-linux-gnu ;;
    *)
      echo "ARCH must be arm64 or x86_64 (the template's Architecture parameter), not '$1'" >&2
      return 1
      ;;
  esac
}

# Stops before a long build that would fail at its end for want of the target's standard library.
require_rust_target() {
  local arch=$1 target installed
  target=$(rust_target_of "$arch")
  if command -v rustup >/dev/null 2>&1; then
    installed=$(rustup target list --installed)
  else
    # A toolchain without rustup: the standard library of each target sits under the sysroot.
    installed=$(ls "$(rustc --print sysroot)/lib/rustlib" 2>/dev/null || true)
  fi
  if ! grep -qx "$target" <<<"$installed"; then
    {
      echo "Building the functions for $arch needs the Rust target $target, which is not installed."
      echo "Add it with:"
      echo "    rustup target add $target"
      if [ "$arch" = arm64 ]; then
        echo "or build and deploy for x86_64 instead (Lambda bills it about 20% more per GB-second):"
        echo "    make ${MAKE_TARGET:-deploy} ARCH=x86_64"
      fi
    } >&2
    return 1
  fi
}

# The CPU an ELF executable was built for, named as the template names it.
elf_arch() {
  python3 - "$1" <<'EOF'
import sys
with open(sys.argv[1], "rb") as f:
    head = f.read(20)
machine = int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else None
print({62: "x86_64", 183: "arm64"}.get(machine, "unknown"))
EOF
}
