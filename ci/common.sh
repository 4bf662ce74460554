# shellcheck shell=bash
# Shared by the ci/ scripts: run from the repository root, quiet backtraces (proptest prints
# one per shrink step otherwise), and the campaign binary built once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export RUST_BACKTRACE=0
export CARGO_TERM_COLOR=never

# The campaign binary: optimized, with debug assertions and overflow checks on.
# The fuzzing-profile binary, wherever cargo puts it (CARGO_TARGET_DIR is honoured).
# shellcheck disable=SC2034 # used by the scripts that source this file
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

# Seeded bugs in the engines' binaries: when KVAFUZZ_BUGS names some (comma-separated, as
# `kvafuzz list` prints them), the scripts that build engine binaries build them, and the
# kvafuzz that replays their findings, with the `seeded-bugs` feature; the binaries read the
# variable at start-up. Empty or unset: the ordinary build.
FEATURE_ARGS=()
if [ -n "${KVAFUZZ_BUGS:-}" ]; then
    FEATURE_ARGS=(--features seeded-bugs)
fi

# Exit 2 with the calling script's usage (its header comment, from "# Usage:" on) and a
# reason; for bad arguments.
usage() {
    echo "$(basename "$0"): $1" >&2
    awk '/^# Usage:/ { on = 1 } on && (!/^#/ || /^# shellcheck/) { exit }
        on { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
}

# True iff $1 is a whole number of at least $2 (no sign, no leading zero but 0 itself).
is_count() {
    [[ $1 =~ ^(0|[1-9][0-9]{0,8})$ ]] && [ "$1" -ge "$2" ]
}

# How many findings of one target a script replays (the rest are listed): AFL++ saves every
# crash with a new path, hundreds in a minute when a bug is shallow.
# shellcheck disable=SC2034 # used by the scripts that source this file
MAX_REPLAYS=3

# Replay an engine's raw finding through kvafuzz, so the log shows it as a readable trace
# and verdict (with the bugs of KVAFUZZ_BUGS on, in a seeded-bugs build). Never fails: the
# caller has already decided the run failed.
replay_finding() {
    local target=$1 file=$2 bug bugs=() bug_args=()
    if [ -n "${KVAFUZZ_BUGS:-}" ]; then
        IFS=, read -ra bugs <<<"$KVAFUZZ_BUGS"
        for bug in "${bugs[@]}"; do bug_args+=(--bug "$bug"); done
    fi
    echo "== kvafuzz replay --target $target $file ${bug_args[*]}"
    cargo run --quiet --profile fuzzing "${FEATURE_ARGS[@]}" -- \
        replay --target "$target" "$file" "${bug_args[@]}" 2>&1 | tail -n 40 || true
}

ensure_cargo_afl() {
    if ! cargo afl --version >/dev/null 2>&1; then
        echo "== installing cargo-afl"
        cargo install cargo-afl --locked
    fi
    # Builds AFL++ itself once (offline): an "already built" refusal is success, any other
    # failure (a half-done build in the way) is retried with --force.
    local out
    if ! out=$(cargo afl config --build 2>&1) && ! grep -q 'already built' <<<"$out"; then
        cargo afl config --build --force
    fi
}

# Build the AFL binaries of fuzz/afl (with FEATURE_ARGS) and set AFL_BIN to their folder.
# CARGO_TARGET_DIR is honoured, resolved before the build changes directory, as cargo would
# resolve a relative one from here.
build_afl() {
    local dir
    dir="$(realpath -m "${CARGO_TARGET_DIR:-fuzz/afl/target}")"
    (cd fuzz/afl && CARGO_TARGET_DIR="$dir" cargo afl build "${FEATURE_ARGS[@]}")
    # shellcheck disable=SC2034 # used by the scripts that source this file
    AFL_BIN="$dir/debug"
}
