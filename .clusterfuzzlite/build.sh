#!/usr/bin/env bash
# ClusterFuzzLite / OSS-Fuzz build: every cargo-fuzz target of fuzz/ into $OUT, each with
# <target>_seed_corpus.zip (exactly the files of corpus/<target>/), <target>.options (the
# libFuzzer limits of ci/fuzz: a 25 s timeout, OSS-Fuzz's default, since vmap's
# test-vmalloc-long-busy-list seed takes 4 to 8 s in this build; 4 GiB of RSS; the power
# schedule scaled by run time, so such slow inputs are mutated less often) and, when
# fuzz/dicts/<target>.dict exists, the dictionary beside it (named in the options).
#
# In the builder container the infrastructure sets SRC, OUT, SANITIZER, FUZZING_ENGINE and
# CARGO_BUILD_TARGET and runs this from the Dockerfile's WORKDIR ($SRC/kvafuzz). It also runs
# on a plain machine with stable Rust and cargo-fuzz (ci/cflite-build does, to check it):
#   SRC=<the repository's parent> OUT=<empty folder> bash .clusterfuzzlite/build.sh
# The repository is the working folder when that holds fuzz/Cargo.toml, else $SRC/kvafuzz.
#
# SANITIZER: unset or none: -s none (stable works; the same build as ci/fuzz-smoke's, so CI
# builds once); address, memory, leak, thread: that sanitizer (nightly Rust); coverage: no
# sanitizer, the infrastructure's cargo wrapper and RUSTFLAGS add the instrumentation;
# anything else (undefined: Rust has no UBSan) is refused. FUZZING_ENGINE: libfuzzer (or
# unset) only; AFL++ runs through fuzz/afl and ci/afl-cluster instead. CARGO_BUILD_TARGET:
# the target triple (default: the host's).
#
# Usage: SRC=DIR OUT=DIR [SANITIZER=none] [FUZZING_ENGINE=libfuzzer] .clusterfuzzlite/build.sh
set -euo pipefail

fail() {
    echo "build.sh: $1" >&2
    exit "${2:-1}"
}

[ $# -eq 0 ] || fail "takes no arguments (usage: SRC=DIR OUT=DIR bash $0)" 2
[ -n "${SRC:-}" ] || fail "SRC is not set (usage: SRC=DIR OUT=DIR bash $0)" 2
[ -n "${OUT:-}" ] || fail "OUT is not set (usage: SRC=DIR OUT=DIR bash $0)" 2
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

if [ -f fuzz/Cargo.toml ]; then
    project=$PWD
elif [ -f "$SRC/kvafuzz/fuzz/Cargo.toml" ]; then
    project=$SRC/kvafuzz
else
    fail "no fuzz/Cargo.toml in $PWD or $SRC/kvafuzz"
fi
cd "$project"

case "${FUZZING_ENGINE:-libfuzzer}" in
    libfuzzer) ;;
    *) fail "FUZZING_ENGINE=$FUZZING_ENGINE: cargo-fuzz builds libFuzzer binaries only" ;;
esac

case "${SANITIZER:-none}" in
    none | coverage) sanitizer=none ;;
    address | memory | leak | thread) sanitizer=$SANITIZER ;;
    *) fail "SANITIZER=$SANITIZER: not available for Rust (none, address, memory, leak, thread, coverage)" ;;
esac

# cargo-fuzz always names a triple (its own default is the host's); where its binaries land.
triple=${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}
target_dir=$(cargo metadata --manifest-path fuzz/Cargo.toml --format-version 1 --no-deps |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
[ -n "$target_dir" ] || fail "cargo metadata named no target directory"
bin_dir="$target_dir/$triple/release"

# No -O: cargo-fuzz's default is optimized with debug assertions and overflow checks on, the
# project's fuzzing profile.
cargo fuzz build -s "$sanitizer" --target "$triple"

targets=$(cargo fuzz list)
[ -n "$targets" ] || fail "cargo fuzz list printed nothing"
for t in $targets; do
    [ -x "$bin_dir/$t" ] || fail "no binary at $bin_dir/$t"
    cp "$bin_dir/$t" "$OUT/$t"
    zip_file="$OUT/${t}_seed_corpus.zip"
    rm -f "$zip_file" # zip adds to an existing archive
    [ -d "corpus/$t" ] || fail "no corpus/$t"
    (cd "corpus/$t" && zip -q -X "$zip_file" -- *)
    options="$OUT/$t.options"
    printf '[libfuzzer]\ntimeout = 25\nrss_limit_mb = 4096\nentropic_scale_per_exec_time = 1\n' \
        >"$options"
    if [ -f "fuzz/dicts/$t.dict" ]; then
        cp "fuzz/dicts/$t.dict" "$OUT/$t.dict"
        printf 'dict = %s.dict\n' "$t" >>"$options"
    fi
    echo "build.sh: $OUT/$t, ${t}_seed_corpus.zip ($(find "corpus/$t" -type f | wc -l) files)"
done
