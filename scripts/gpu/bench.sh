#!/usr/bin/env bash
# Every GPU figure README records, in one call on a lent GPU machine (the device tool's `run`,
# with `carry: [".device"]`, from the repository root):
#   bash scripts/gpu/bench.sh [quick]
# .device/ holds what scripts/gpu/pack.sh put there: pivot built with --features cuda, and the
# diffusers wheels for PyTorch's reference row. Logs go to $OUT (or ./gpu-logs).
# `quick` runs only pivot's UNet benchmark and its CPU check.
set -uo pipefail
out=${OUT:-gpu-logs}
mkdir -p "$out"
bin=.device/pivot
[ -f "$bin.gz" ] && gunzip -f "$bin.gz"
chmod +x "$bin"

# cuBLAS/cuRAND come from the machine's PyTorch environment when the system has none.
for lib in /opt/torch/.venv/lib/python3*/site-packages/nvidia/*/lib; do
    [ -d "$lib" ] && LD_LIBRARY_PATH="$lib:${LD_LIBRARY_PATH:-}"
done
export LD_LIBRARY_PATH

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
# Peak GPU memory as nvidia-smi sees it, sampled every 0.2 s for each run.
watch_memory() {
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$out/$1.mem" &
    mem_pid=$!
}
peak() {
    kill "$mem_pid" 2>/dev/null; wait "$mem_pid" 2>/dev/null
    echo "$1: peak GPU memory $(sort -n "$out/$1.mem" | tail -1) MiB" | tee -a "$out/summary.txt"
}
run() {
    local name=$1; shift
    echo "== $name: $*" | tee -a "$out/summary.txt"
    watch_memory "$name"
    local start=$SECONDS
    "$@" 2>&1 | tee "$out/$name.log"
    echo "$name: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s" | tee -a "$out/summary.txt"
    peak "$name"
}

run unet "$bin" bench unet --config sd15 --device cuda --backward --latent 8,64 --check
[ "${1:-}" = quick ] && exit 0
run invert "$bin" bench invert --unet sd15 --latent 64 --device cuda
# One Prompt-to-Prompt edit (README's GPU edit row), plain and with proximal guidance.
run edit "$bin" bench edit --config sd15 --latent 64 --device cuda
run edit-prox "$bin" bench edit --config sd15 --latent 64 --device cuda --prox l0
PIVOT_PROFILE=1 run profile "$bin" bench unet --config sd15 --device cuda --backward --latent 64 --repeat 1

if ls .device/wheels/*.whl >/dev/null 2>&1; then
    python3 -m pip install --quiet --no-index --no-deps --target .device/py .device/wheels/*.whl
    export PYTHONPATH=$PWD/.device/py
    run torch python3 scripts/gpu/torch_nulltext.py --latent 64
    # PyTorch's own breakdown of an inner iteration, beside pivot's PIVOT_PROFILE one above.
    run torch-profile python3 scripts/gpu/torch_nulltext.py --latent 64 --profile 10
fi
