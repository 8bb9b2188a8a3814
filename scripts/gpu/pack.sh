#!/usr/bin/env bash
# Getting ready for a GPU machine, on this (GPU-less) one; run from the repository root.
#   bash scripts/gpu/pack.sh build    pivot with --features cuda (CUDA 13 from PyPI wheels,
#                                     scripts/gpu/cuda-toolkit.sh), stripped and gzipped into
#                                     .device/, with the wheels PyTorch's reference row needs
#   bash scripts/gpu/pack.sh lean     keep tests/fixtures out of the device transfer (64 MiB cap):
#                                     out of the index and ignored; nothing on disk changes
#   bash scripts/gpu/pack.sh unlean   put them back (always do, before any commit)
# Then the device tool's run: `bash scripts/gpu/bench.sh` with carry [".device"].
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
exclude=$(git rev-parse --git-path info/exclude)
marker='/tests/fixtures/'

travelling() {
    local tracked extra
    tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
    extra=$(du -sb .device 2>/dev/null | cut -f1 || echo 0)
    echo "would travel: $((tracked / 1048576)) MiB tracked + $((${extra:-0} / 1048576)) MiB in .device (cap 64 MiB)"
}

case "${1:-}" in
build)
    eval "$(bash scripts/gpu/cuda-toolkit.sh "${CUDA_SDK:-/work/cuda-sdk}")"
    target=${CARGO_TARGET_DIR:-/work/target-cuda}
    # A target dir shared with another checkout can look fresh by file times alone.
    touch src/lib.rs src/main.rs
    CARGO_TARGET_DIR=$target cargo build --release --features cuda
    mkdir -p .device/wheels
    strip -o .device/pivot "$target/release/pivot"
    gzip -f .device/pivot
    python3 -m pip download --quiet --no-deps -d .device/wheels diffusers importlib_metadata zipp
    ls -la .device .device/wheels
    travelling
    ;;
lean)
    mkdir -p "$(dirname "$exclude")"
    grep -qxF "$marker" "$exclude" 2>/dev/null || echo "$marker" >>"$exclude"
    git rm -r -q --cached tests/fixtures
    travelling
    ;;
unlean)
    git reset -q -- tests/fixtures
    if [ -f "$exclude" ]; then
        grep -vxF "$marker" "$exclude" >"$exclude.tmp" || true
        mv "$exclude.tmp" "$exclude"
    fi
    git status --short | head
    travelling
    ;;
*)
    sed -n '2,10p' "$0"
    exit 2
    ;;
esac
