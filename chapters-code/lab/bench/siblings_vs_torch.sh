#!/usr/bin/env bash
# lab's step_bench against PyTorch's w1_torch.py on W1 and its siblings, alternated (lab, PyTorch,
# lab, PyTorch, …) with the same flags; one line per pair. Summarise with medians of the pairwise
# ratios. A benchmark, not a test: CI does not run it.
#
#   cargo build --release -p lab --example step_bench
#   TORCH_PYTHON=/tmp/torchenv/bin/python PAIRS=5 chapters-code/lab/bench/siblings_vs_torch.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
PAIRS=${PAIRS:-5}
TORCH_PYTHON=${TORCH_PYTHON:-python3}
LAB=target/release/examples/step_bench
[ -x "$LAB" ] || { echo "build it first: cargo build --release -p lab --example step_bench" >&2; exit 2; }
"$TORCH_PYTHON" -c "import torch" 2>/dev/null || { echo "$TORCH_PYTHON has no torch (set TORCH_PYTHON)" >&2; exit 2; }

steps_per_sec() { "$@" | awk '/^steps_per_sec:/ {print $2}'; }

pairs() { # name threads flags...
    local name=$1 threads=$2
    shift 2
    for _ in $(seq "$PAIRS"); do
        lab=$(steps_per_sec "$LAB" "$@" --threads "$threads")
        torch=$(steps_per_sec "$TORCH_PYTHON" chapters-code/lab/bench/w1_torch.py "$@" --threads "$threads")
        echo "$name threads=$threads lab=$lab torch=$torch"
    done
}

for t in 1 2; do
    pairs W1 "$t"
    pairs depth50 "$t" --depth 50
    pairs width1024-relu "$t" --width 1024 --activation relu --steps 20
    pairs relu "$t" --activation relu
    pairs batchnorm "$t" --norm batch
    pairs residual-relu "$t" --activation relu --residual --init normal:0.01
done
