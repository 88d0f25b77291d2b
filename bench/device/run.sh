#!/usr/bin/env bash
# The device side of bench/device/stage.sh: receive the kit's parts, unpack them, and run
# bench/render_gpu.sh with what they hold. Each line of .devstage/PLAN.txt is one call:
#
#   bash bench/device/run.sh receive          a part arrived: check what is there
#   bash bench/device/run.sh unpack N         all N parts there: verify, install, smoke-test
#   bash bench/device/run.sh bench ENGINE...  bench/render_gpu.sh for eevee and/or cycles
#
# Installs outside the checkout, in KIT_ROOT (/opt/odahgen-kit): a Python 3.11 with bpy for
# the Blender worker (ODAHGEN_BLENDER), the wheels the machine's own Python (DEVICE_PY,
# python3) lacks for the core side (PYTHONPATH), the X11 libraries bpy links to
# (LD_LIBRARY_PATH), and the glvnd GL/EGL/Vulkan loaders into / as
# /work/.library/device/README.md advises (GL_TO_ROOT=0 skips that: a trial run elsewhere).
# Results go to $OUT (the device's result folder) or bench_gpu_out/.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
REPO=$(pwd)
STAGE=${STAGE:-.devstage}
KIT_ROOT=${KIT_ROOT:-/opt/odahgen-kit}
DEVICE_PY=${DEVICE_PY:-python3}
GL_TO_ROOT=${GL_TO_ROOT:-1}
die() { echo "bench/device/run.sh: $*" >&2; exit 1; }
step() { echo "[$(date -u +%T)] $*"; }

use_kit() {  # the environment the kit's programs run in
  export LD_LIBRARY_PATH="$KIT_ROOT/py311/lib:$KIT_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export ODAHGEN_BLENDER="$KIT_ROOT/venv-blender/bin/python"
  export PYTHONPATH="$KIT_ROOT/site:$REPO${PYTHONPATH:+:$PYTHONPATH}"
  export ODAHGEN_PY="$DEVICE_PY"
  # Cycles ships no sm_90 cubin: Hopper JIT-compiles its PTX once; keep the result
  export CUDA_CACHE_MAXSIZE=${CUDA_CACHE_MAXSIZE:-4294967296}
  local nv=/usr/local/nvidia/share
  [ -f "$nv/vulkan/icd.d/nvidia_icd.json" ] && export VK_DRIVER_FILES="$nv/vulkan/icd.d/nvidia_icd.json"
  [ -f "$nv/glvnd/egl_vendor.d/10_nvidia.json" ] &&
    export __EGL_VENDOR_LIBRARY_FILENAMES="$nv/glvnd/egl_vendor.d/10_nvidia.json"
  return 0
}

untar_zst() {  # untar_zst FILE.tar.zst DIR: with zstd, or the kit's zstandard wheel where none
  local st
  if command -v zstd >/dev/null; then
    zstd -dc --long=27 "$1" | tar xf - -C "$2"
    st="${PIPESTATUS[*]}"
  else
    PYTHONPATH="$KIT_ROOT/site" "$DEVICE_PY" -c "
import sys, zstandard
zstandard.ZstdDecompressor(max_window_size=2**27).copy_stream(open(sys.argv[1], 'rb'), sys.stdout.buffer)" \
      "$1" | tar xf - -C "$2"
    st="${PIPESTATUS[*]}"
  fi
  [ "$st" = "0 0" ] || die "cannot unpack $(basename "$1") ($st)"
}

receive() {
  [ -f "$STAGE/kit.sha256" ] || die "$STAGE/kit.sha256 did not arrive (carry it with each part)"
  local have=0 total
  total=$(wc -l < "$STAGE/kit.sha256")
  for f in "$STAGE"/kit.part*; do [ -f "$f" ] && have=$((have + 1)); done
  step "$have of $total parts here; $(df -h . | awk 'NR == 2 {print $4}') free"
}

unpack() {
  local want=${1:?unpack N: the number of parts}
  receive
  (cd "$STAGE" && sha256sum --quiet -c kit.sha256) || die "a part is missing or damaged: send it again"
  [ "$(wc -l < "$STAGE/kit.sha256")" = "$want" ] || die "kit.sha256 lists $(wc -l < "$STAGE/kit.sha256") parts, not $want"
  step "unpacking into $KIT_ROOT"
  rm -rf "$KIT_ROOT" && mkdir -p "$KIT_ROOT"/{py311,lib,site,bundles} || die "cannot create $KIT_ROOT"
  cat "$STAGE"/kit.part* | tar xf - -C "$KIT_ROOT" || die "the parts do not make a whole kit"
  local k=$KIT_ROOT/kit
  if compgen -G "$k/wheels/*.whl" >/dev/null; then
    "$DEVICE_PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$KIT_ROOT/site" "$k"/wheels/*.whl || die "cannot install the kit's wheels"
  fi
  untar_zst "$k/py311.tar.zst" "$KIT_ROOT/py311"
  untar_zst "$k/libs.tar.zst" "$KIT_ROOT/lib"
  untar_zst "$k/bundles.tar.zst" "$KIT_ROOT/bundles"
  LD_LIBRARY_PATH="$KIT_ROOT/py311/lib" "$KIT_ROOT/py311/bin/python3.11" -m venv --without-pip \
    "$KIT_ROOT/venv-blender" || die "cannot make a venv with the kit's Python 3.11"
  untar_zst "$k/site.tar.zst" "$KIT_ROOT/venv-blender/lib/python3.11/site-packages"
  if compgen -G "$k/gl/*.deb" >/dev/null; then
    if [ "$GL_TO_ROOT" = 1 ]; then
      for f in "$k"/gl/*.deb; do dpkg -x "$f" / || die "dpkg -x $f"; done
      ldconfig
    else
      step "GL_TO_ROOT=0: the GL loaders are left out (using this machine's own)"
    fi
  fi
  rm -rf "$k"
  use_kit
  step "smoke test"
  "$ODAHGEN_BLENDER" -c "import bpy; print('bpy', bpy.app.version_string)" || die "bpy does not import"
  "$DEVICE_PY" -c "import odahgen.render.stage, imageio_ffmpeg; print('core', imageio_ffmpeg.get_ffmpeg_exe())" ||
    die "the core side of bench/render.py does not import"
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; else echo "no nvidia-smi here"; fi
  touch "$KIT_ROOT/.ready"
  step "ready"
}

bench() {
  [ -f "$KIT_ROOT/.ready" ] || die "no kit in $KIT_ROOT: run the receive/unpack calls of $STAGE/PLAN.txt first"
  [ $# -gt 0 ] || die "bench ENGINE...: eevee and/or cycles"
  use_kit
  # one warm-up (the bare render) instead of two: the device budget is 15 minutes in all
  export ENGINES="$*" STEP_TIMEOUT_S=${STEP_TIMEOUT_S:-360} WARMUP=${WARMUP:-bare}
  export EEVEE_BUNDLE="$KIT_ROOT/bundles/eevee" CYCLES_BUNDLE="$KIT_ROOT/bundles/cycles"
  local w h
  read -r w h < <("$DEVICE_PY" -c "import json,sys; r=json.load(open(sys.argv[1]))['render']; print(r['width'], r['height'])" \
    "$EEVEE_BUNDLE/bundle.json") || die "cannot read $EEVEE_BUNDLE/bundle.json"
  export WIDTH=${WIDTH:-$w} HEIGHT=${HEIGHT:-$h}
  bash bench/render_gpu.sh "${OUT:-bench_gpu_out}"
}

case ${1:-} in
  receive) receive ;;
  unpack) shift; unpack "$@" ;;
  bench) shift; bench "$@" ;;
  *) die "usage: run.sh receive | unpack N | bench ENGINE..." ;;
esac
