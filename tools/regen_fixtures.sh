#!/usr/bin/env bash
# (Re)generate the fixture scenarios and their PyTorch reference traces.
#
#   tools/regen_fixtures.sh            # regenerate scenarios, then every trace
#   tools/regen_fixtures.sh NAME...    # only the traces of these scenarios
#
# Scenarios: tests/fixtures/scenarios/NAME.json (from make_fixture_scenarios.py)
# Traces:    tests/fixtures/torch/NAME.json     (from torch_reference.py)
# Needs python3 with torch and numpy (see tools/README.md). Each trace is also
# checked with --verify (NumPy full convolution + central differences).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
py="${PYTHON:-python3}"
scen="$root/tests/fixtures/scenarios"
out="$root/tests/fixtures/torch"

if [ "$#" -eq 0 ]; then
    "$py" "$here/make_fixture_scenarios.py" --out-dir "$scen"
    names=()
    for f in "$scen"/*.json; do
        names+=("$(basename "$f" .json)")
    done
else
    names=("$@")
fi

mkdir -p "$out"
for name in "${names[@]}"; do
    echo "== $name" >&2
    "$py" "$here/torch_reference.py" "$scen/$name.json" -o "$out/$name.json" --verify
done
echo "wrote ${#names[@]} traces to $out" >&2
