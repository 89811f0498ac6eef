#!/usr/bin/env bash
# Run one fuzz target for a while: fuzz/run.sh TARGET SECONDS [LIBFUZZER FLAGS...]
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")"
target=$1
seconds=${2:-600}
shift $(($# < 2 ? $# : 2))
mkdir -p "corpus/$target"
case $target in
scenario)
    cp -n ../scenarios/*.json "corpus/$target/"
    extra=(-dict=scenario.dict -max_len=4096)
    ;;
script)
    cp -n ../scenarios/*.keys "corpus/$target/" 2>/dev/null || true
    extra=(-dict=script.dict -max_len=2048)
    ;;
tui)
    extra=(-max_len=512)
    ;;
trace)
    # Seeds: step 0 of the export of every bundled scenario, after a first byte that picks
    # the scenario (the harness takes them in this order; see BUNDLED).
    deltascope=${DELTASCOPE:-cargo run -q --release --manifest-path ../Cargo.toml --}
    i=0
    for s in mean_pool_classic max_pool_switches l2_pool overlapping_max_pool strided_padded_conv \
        digit_classifier dead_relus diverging leaky_tanh_sigmoid multichannel_rgb; do
        { printf "\\x$(printf %02x $i)"; $deltascope export "../scenarios/$s.json" |
            python3 -c 'import json, sys; t = json.load(sys.stdin); t["steps"] = t["steps"][:1]; print(json.dumps(t))'; } \
            > "corpus/$target/$s.trace" || true
        i=$((i + 1))
    done
    extra=(-max_len=65536)
    ;;
*)
    echo "unknown target $target: scenario, script, tui or trace" >&2
    exit 2
    ;;
esac
# No sanitizer: the code is safe Rust, and twice the speed finds more. Debug assertions
# (overflow checks included) stay on.
exec cargo +nightly fuzz run -s none "$target" "corpus/$target" -- \
    "${extra[@]}" -timeout=10 -rss_limit_mb=2048 -max_total_time="$seconds" -print_final_stats=1 "$@"
