#!/bin/sh
# deps.sh - installs the Debian packages interp needs to build, test and plot,
# when any is missing. Idempotent: runs apt-get (and apt-get update) only when
# something is missing; uses sudo when not root.
#
# usage: scripts/deps.sh [fuzz] [valgrind] [pyref] [man] [web] [slurm]
#   fuzz      also clang-14 and its libFuzzer/sanitizer runtimes (make fuzz only)
#   valgrind  also valgrind (make check-valgrind only)
#   pyref     also Python's numpy, h5py, Pillow and scikit-learn (make check:
#             the command-line cases that compare outputs with them, and the
#             128x128 Keras models a case writes); interp itself never runs Python
#   man       also man-db (tests/install.sh reads the installed pages with man -l)
#   web       also emscripten (make web: the browser app, compiled to WebAssembly)
#   slurm     also Slurm (slurmctld, slurmd, the client) and munge: make
#             check-slurm runs a one-node cluster on this machine
# GNU parallel is in the main list: make check runs sharded embeds with it.
set -eu

PKGS="build-essential pkg-config libopenblas-dev liblapacke-dev libfftw3-dev \
libpng-dev libjpeg62-turbo-dev libwebp-dev zlib1g-dev libprotobuf-c-dev protobuf-c-compiler \
libonnx-dev gnuplot-nox libcriterion-dev parallel"

# Optional groups, only for the make targets that need them.
for extra in "$@"; do
    case "$extra" in
    fuzz) PKGS="$PKGS clang-14 libclang-rt-14-dev" ;;
    valgrind) PKGS="$PKGS valgrind" ;;
    pyref) PKGS="$PKGS python3 python3-numpy python3-h5py python3-pil python3-sklearn" ;;
    man) PKGS="$PKGS man-db" ;;
    web) PKGS="$PKGS emscripten" ;;
    slurm) PKGS="$PKGS slurm-wlm munge" ;;
    *) echo "deps: unknown group '$extra' (fuzz, valgrind, pyref, man, web, slurm)" >&2; exit 2 ;;
    esac
done

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "deps: all Debian packages present"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "deps: missing:$missing; not root and no sudo: install them, then run make again" >&2
    exit 1
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
