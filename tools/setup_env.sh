#!/usr/bin/env bash
# Set up hairfx on a fresh Debian/Ubuntu machine: system packages (ffmpeg, Mesa's EGL/GL for
# the headless GL renderer, the libraries OpenCV's GUI needs), then a virtual environment in
# .venv with the CPU build of PyTorch and hairfx installed from this checkout, with the extras
# the test suite needs (test, and train: PyTorch and threadpoolctl).
#
#   bash tools/setup_env.sh              # plain install (what users and CI get)
#   bash tools/setup_env.sh --editable   # editable install, for working on hairfx itself
set -euo pipefail
cd "$(dirname "$0")/.."

editable=""
[ "${1:-}" = "--editable" ] && editable="-e"

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libEGL.so.1 ' || missing+=(libegl1)
have_lib 'libEGL_mesa.so.0 ' || missing+=(libegl-mesa0)
[ -e /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so ] || [ -e /usr/lib/aarch64-linux-gnu/dri/swrast_dri.so ] \
    || missing+=(libgl1-mesa-dri)
have_lib 'libGL.so.1 ' || missing+=(libgl1)
have_lib 'libglib-2.0.so.0 ' || missing+=(libglib2.0-0)
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing system packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# PyTorch first, pinned: the train extra's requirement (torch>=2.3) is then already satisfied
# and pip pulls nothing more. Where pip's configuration provides the CPU wheel, this is the CPU
# build; elsewhere set HAIRFX_TORCH_INDEX to PyTorch's CPU wheel index to avoid a CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0 ${HAIRFX_TORCH_INDEX:+--index-url "$HAIRFX_TORCH_INDEX"}
# setuptools builds the wheel in build/ and copies into it what is there from an earlier run:
# a module or a colour removed from the checkout since then would be installed again.
rm -rf build
# The tests train the network and run the torch backend: the train extra, beside test.
.venv/bin/python -m pip install -q $editable ".[test,train]"
echo "hairfx installed in .venv: try  .venv/bin/hairfx colors"
