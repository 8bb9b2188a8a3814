#!/usr/bin/env bash
# CUDA 13.0 toolkit (compile/link only, no driver) from NVIDIA's PyPI wheels.
# Usage: cuda-toolkit.sh [PREFIX]   (default /work/cuda-sdk); idempotent.
# Prints the export lines for `cargo build --features cuda`.
set -euo pipefail

PREFIX=$(realpath -m "${1:-/work/cuda-sdk}")
PY=${PYTHON:-python3}
WHEELS=$PREFIX/pip            # pip --target tree
HOME_DIR=$PREFIX/cuda         # assembled CUDA_HOME
CAP=${CUDA_COMPUTE_CAP:-90}

PKGS=(
  nvidia-cuda-nvcc==13.0.88     # nvcc, ptxas, fatbinary, nvlink
  nvidia-nvvm==13.0.88          # cicc, libdevice
  nvidia-cuda-crt==13.0.88      # crt/ headers nvcc needs
  nvidia-cuda-runtime==13.0.96  # cudart + cuda.h / runtime headers
  nvidia-cuda-cccl==13.0.85     # cub/thrust/libcu++
  nvidia-cuda-nvrtc==13.0.88
  nvidia-cublas==13.0.2.14
  nvidia-curand==10.4.0.35
)

stamp=$WHEELS/.installed
want=$(printf '%s\n' "${PKGS[@]%%#*}" | tr -d ' ' | sort)
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  rm -rf "$WHEELS"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --no-deps --target "$WHEELS" $(printf '%s\n' "$want") >&2
  echo "$want" >"$stamp"
fi

SRC=$WHEELS/nvidia/cu13
[[ -x $SRC/bin/nvcc ]] || { echo "nvcc missing under $SRC" >&2; exit 1; }

# CUDA_HOME: bin/ include/ nvvm/ link to the wheel tree; lib64/ gets dev symlinks.
mkdir -p "$HOME_DIR/lib64/stubs"
for d in bin include nvvm; do ln -sfn "$SRC/$d" "$HOME_DIR/$d"; done
ln -sfn lib64 "$HOME_DIR/lib"
for f in "$SRC"/lib/*.so* "$SRC"/lib/*.a; do
  [[ -e $f ]] || continue
  b=$(basename "$f")
  ln -sfn "$f" "$HOME_DIR/lib64/$b"
  case $b in *.so.*) ln -sfn "$f" "$HOME_DIR/lib64/${b%%.so.*}.so" ;; esac
done

# Link-time libcuda stub (the wheels ship none): every cu* entry point named in
# cuda.h (raw and preprocessed, so _v2.._v4 aliases too); SONAME libcuda.so.1 so
# the real driver is used at run time.
stub=$HOME_DIR/lib64/stubs/libcuda.so
if [[ ! -f $stub || $SRC/include/cuda.h -nt $stub ]]; then
  tmp=$(mktemp -d)
  { grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' "$SRC/include/cuda.h"
    echo '#include <cuda.h>' | cc -E -I"$SRC/include" -x c - | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\('
  } | tr -d '( \t' | sort -u | sed 's/.*/void &(void) {}/' >"$tmp/stub.c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$tmp/libcuda.so" "$tmp/stub.c"
  mv "$tmp/libcuda.so" "$stub"
  rm -rf "$tmp"
fi

"$HOME_DIR/bin/nvcc" --version | grep -q 'release 13.0' || { echo "nvcc is not 13.0" >&2; exit 1; }

cat <<EOF
export CUDA_HOME=$HOME_DIR
export PATH=$HOME_DIR/bin:\$PATH
export LIBRARY_PATH=$HOME_DIR/lib64:$HOME_DIR/lib64/stubs\${LIBRARY_PATH:+:\$LIBRARY_PATH}
export CUDA_COMPUTE_CAP=$CAP
export CUDARC_CUDA_VERSION=13000
EOF
