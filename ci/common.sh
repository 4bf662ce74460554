# Shared by the ci/ scripts: run from the repository root, quiet backtraces (proptest prints
# one per shrink step otherwise), and the campaign binary built once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export RUST_BACKTRACE=0
export CARGO_TERM_COLOR=never

# The campaign binary: optimized, with debug assertions and overflow checks on.
# The fuzzing-profile binary, wherever cargo puts it (CARGO_TARGET_DIR is honoured).
KVAFUZZ_BIN="${CARGO_TARGET_DIR:-target}/fuzzing/kvafuzz"

kvafuzz() {
    cargo run --quiet --profile fuzzing "$@" --
}

ensure_cargo_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "== installing cargo-fuzz"
        cargo install cargo-fuzz --locked
    fi
}
