#!/usr/bin/env bash
# Fetch real-format test files that MNE cannot write, from packages on PyPI, into
# .cache/testdata/ (ignored by git).  Used by .ci/run; optional for local test runs (the tests
# that need these files skip with a reason when they are absent outside CI).
#   - KIT .sqd: 0.1 s of real 157-channel KIT MEG from the eelbrain 0.41.2 source distribution.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/testdata
mkdir -p "$dest"
if [ ! -f "$dest/test_umd-raw.sqd" ]; then
    tmp=$(mktemp -d)
    # pip prepares an sdist's metadata even to download it; eelbrain's needs numpy and a
    # setuptools new enough (>= 77) for its SPDX licence string, so use a throwaway venv
    python3 -m venv "$tmp/venv"
    "$tmp/venv/bin/pip" install --quiet "setuptools>=77" numpy
    "$tmp/venv/bin/pip" download --quiet eelbrain==0.41.2 --no-deps --no-binary :all: \
        --no-build-isolation -d "$tmp"
    tar -xzf "$tmp"/eelbrain-0.41.2.tar.gz -C "$tmp" eelbrain-0.41.2/test_data/test_umd-raw.sqd
    mv "$tmp"/eelbrain-0.41.2/test_data/test_umd-raw.sqd "$dest/"
    rm -rf "$tmp"
fi
ls -l "$dest"
