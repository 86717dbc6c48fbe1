#!/usr/bin/env bash
# Fetch bench/gpu-wheels.txt as Python 3.12 x86-64 wheels into .whl/ (git-ignored), for a GPU
# machine without a package registry; bitsandbytes unpacked into .whl/site/ with its CUDA 13
# libraries only (the wheel's builds for CUDA 11 and 12 and ROCm are 120 MiB; the machine's torch
# is built for CUDA 13.0). There, before the bench:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   PYTHONPATH=/tmp/site:.whl/site:. python3 bench/gpu_train.py --nproc 1
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
platforms=()
for p in manylinux_2_17 manylinux_2_24 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34; do
  platforms+=(--platform "${p}_x86_64")
done
grep -v '^#' bench/gpu-wheels.txt | xargs python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp "${platforms[@]}" --platform manylinux2014_x86_64 --platform any -d .whl
rm -rf .whl/site
python3 - <<'PY'
import zipfile
from pathlib import Path

wheel = next(Path(".whl").glob("bitsandbytes-*.whl"))
with zipfile.ZipFile(wheel) as z:
    keep = [n for n in z.namelist() if "libbitsandbytes_" not in n or "_cuda13" in n or "_cpu" in n]
    z.extractall(".whl/site", keep)
wheel.unlink()
PY
du -sh .whl
