#!/usr/bin/env bash
# Stage what bench/render_gpu.sh needs on a GPU machine that has none of it: the lent
# `device` machine of this project's sessions (no network, its own Python 3.12 with NumPy,
# SciPy and Pillow, 64 MiB carried per call). Run HERE after `make setup`:
#
#   bash bench/device/stage.sh
#
# It packs, into .devstage/kit/ (git-ignored):
#   py311.tar.zst   the Python 3.11 that .venv-blender was made with, without its tests,
#                   site-packages and build files (bpy 5.x is built for 3.11 only)
#   site.tar.zst    .venv-blender's site-packages: bpy and NumPy 1.26 for the Blender
#                   worker, less what this render never loads: HIP kernels, the OIDN
#                   HIP/SYCL devices, USD's Python (pxr), pip/setuptools/Cython, and the
#                   CUDA cubins (sm_50..sm_89, sm_120: none is for the H200's sm_90, which
#                   JIT-compiles Cycles' PTX anyway; any other NVIDIA GPU does the same)
#   libs.tar.zst    the X11/xkbcommon libraries bpy links to (GL comes from debs, below)
#   gl/*.deb        glvnd GL/EGL/Vulkan loaders, as /work/.library/device/README.md says
#   wheels/*.whl    what the device's Python lacks for the core side of bench/render.py
#                   (pydantic, imageio-ffmpeg 0.5.1: its ffmpeg is 27 MB, 0.8's 53 MB), and
#                   zstandard, which unpacks the kit where the machine has no zstd program
#   bundles.tar.zst the benchmark's render bundles, made here (anny and PyTorch stay here):
#                   the full spec's scene (configs/odah.toml: 4 lights, MakeHuman clothes,
#                   shoes, hair, eyes) in a room (scene.hdri_fraction=0: the 70 % case and
#                   the dearer one), the walk
# and splits the lot into .devstage/kit.partNN: one part per device call, as large as the
# 64 MiB a call carries leaves beside the working tree (PART_MB: 63 - the tree's MiB).
# PLAN.txt lists the calls to make, in order (docs/farm.md, "The render on a GPU").
#
# Environment: WIDTH HEIGHT (1080 720), EEVEE_FRAMES (600), CYCLES_FRAMES (120), PART_MB,
# ZSTD_LEVEL (19), DEVICE_PY (3.12: the Python the wheels are for; "none" = fetch no wheels),
# GL_DEBS (1; 0 = fetch none). Fetching wheels and debs needs the package registries.
set -euo pipefail
cd "$(dirname "$0")/../.."
STAGE=${STAGE:-.devstage}
WIDTH=${WIDTH:-1080}
HEIGHT=${HEIGHT:-720}
EEVEE_FRAMES=${EEVEE_FRAMES:-600}
CYCLES_FRAMES=${CYCLES_FRAMES:-120}
# a call carries the working tree too: a part fills what the 64 MiB leave, less 1 MiB
TREE_MB=$(git ls-files -z -co --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
PART_MB=${PART_MB:-$(( 63 - (TREE_MB + 1048575) / 1048576 ))}
ZSTD_LEVEL=${ZSTD_LEVEL:-19}
DEVICE_PY=${DEVICE_PY:-3.12}
GL_DEBS=${GL_DEBS:-1}
CORE_PY=${ODAHGEN_PY:-.venv/bin/python}
VB=.venv-blender
SITE=$VB/lib/python3.11/site-packages

die() { echo "bench/device/stage.sh: $*" >&2; exit 1; }
[ -x "$CORE_PY" ] || die "$CORE_PY not found: run \`make setup\` first"
[ -f "$VB/pyvenv.cfg" ] && [ -d "$SITE/bpy" ] || die "$VB with bpy not found: run \`make setup\` first"
command -v zstd >/dev/null || die "zstd not found (apt-get install zstd)"
PY_HOME=$(sed -n 's/^home = //p' "$VB/pyvenv.cfg")
PY_PREFIX=$(dirname "$PY_HOME")
[ -x "$PY_PREFIX/bin/python3.11" ] || die "$VB/pyvenv.cfg: no python3.11 under $PY_PREFIX"

rm -rf "$STAGE.tmp" && mkdir -p "$STAGE.tmp/kit"
trap 'rm -rf "$STAGE.tmp"' EXIT
TMPKIT=$STAGE.tmp/kit
pack() {  # pack OUT.tar.zst tar-arguments...  (zstd with long matching: bpy's libraries)
  local out=$1; shift
  tar cf - "$@" | zstd -q -T0 "-$ZSTD_LEVEL" --long=27 -o "$out"
  echo "  $(basename "$out"): $(du -m "$out" | cut -f1) MiB"
}
t0=$(date +%s)
echo "packing the Python 3.11 of $VB ($PY_PREFIX)"
pack "$TMPKIT/py311.tar.zst" -C "$PY_PREFIX" \
  --exclude='lib/python3.11/test' --exclude='lib/python3.11/site-packages' \
  --exclude='lib/python3.11/idlelib' --exclude='lib/python3.11/tkinter' \
  --exclude='lib/python3.11/turtledemo' --exclude='lib/python3.11/lib2to3' \
  --exclude='lib/python3.11/ensurepip' --exclude='lib/python3.11/config-3.11-*' \
  --exclude='lib/python3.11/lib-dynload/_tkinter*' --exclude='__pycache__' --exclude='*.a' \
  bin/python3.11 lib/libpython3.11.so.1.0 lib/python3.11

echo "packing $SITE (bpy, NumPy) without what an NVIDIA render never loads"
tops=$(cd "$SITE" && ls -A | grep -v -x -E 'pip|pip-.*|setuptools|setuptools-.*|_distutils_hack|distutils-precedence.pth|Cython|cython.*|pyximport|__pycache__')
# shellcheck disable=SC2086
pack "$TMPKIT/site.tar.zst" -C "$SITE" --exclude='__pycache__' \
  --exclude='bpy/*/scripts/addons_core/cycles/lib/*.fatbin.zst' \
  --exclude='bpy/*/scripts/addons_core/cycles/lib/*.hipfb.zst' \
  --exclude='bpy/*/scripts/addons_core/cycles/lib/kernel_sm_*.cubin.zst' \
  --exclude='bpy/*/python/lib/python3.11/site-packages/pxr' \
  --exclude='bpy/lib/libOpenImageDenoise_device_hip.*' \
  --exclude='bpy/lib/libOpenImageDenoise_device_sycl.*' $tops

echo "copying the system libraries bpy links to"
mkdir -p "$STAGE.tmp/libs"
ldd "$SITE/bpy/__init__.so" | awk '$3 ~ /^\// {print $3}' | grep -v "/bpy/lib/" |
  grep -v -E '/(libc|libm|libdl|libpthread|librt|libutil|ld-linux-x86-64|libgcc_s|libstdc\+\+|libGL|libGLX|libGLdispatch|libEGL|libOpenGL)\.so' |
  while read -r lib; do cp -L "$lib" "$STAGE.tmp/libs/"; done
pack "$TMPKIT/libs.tar.zst" -C "$STAGE.tmp/libs" .

if [ "$GL_DEBS" = 1 ]; then
  echo "fetching the GL/EGL/Vulkan loader debs (amd64)"
  mkdir -p "$TMPKIT/gl" /tmp/odahgen-apt-amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/odahgen-apt-amd64
     -oAPT::Sandbox::User=root)
  apt-get "${o[@]}" -qq update
  (cd "$TMPKIT/gl" && apt-get "${o[@]}" -qq download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

if [ "$DEVICE_PY" != none ]; then
  echo "fetching the core side's missing wheels for Python $DEVICE_PY"
  mkdir -p "$TMPKIT/wheels"
  pins=$("$CORE_PY" - <<'EOF'
from importlib.metadata import version
print(" ".join(f"{n}=={version(n)}" for n in ("pydantic", "pydantic-core", "annotated-types",
                                              "typing-inspection")))
EOF
)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$DEVICE_PY" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux2010_x86_64 -d "$TMPKIT/wheels" \
    $pins imageio-ffmpeg==0.5.1 zstandard==0.25.0
fi

echo "building the render bundles (${WIDTH}x$HEIGHT; EEVEE $EEVEE_FRAMES frames, Cycles $CYCLES_FRAMES)"
mkdir -p "$STAGE.tmp/bundles"
for pair in "eevee:$EEVEE_FRAMES" "cycles:$CYCLES_FRAMES"; do
  "$CORE_PY" bench/render.py --config configs/odah.toml --set scene.hdri_fraction=0 \
    --save-bundle "$STAGE.tmp/bundles/${pair%%:*}" --frames "${pair#*:}" \
    --width "$WIDTH" --height "$HEIGHT" 2>&1 | tail -1
done
pack "$TMPKIT/bundles.tar.zst" -C "$STAGE.tmp/bundles" .

echo "splitting into parts of $PART_MB MiB"
rm -rf "$STAGE.tmp/parts" && mkdir -p "$STAGE.tmp/parts"
tar cf - -C "$STAGE.tmp" kit | split -b "${PART_MB}M" -d -a 2 - "$STAGE.tmp/parts/kit.part"
n=$(ls "$STAGE.tmp/parts" | wc -l)
rm -rf "$STAGE" && mkdir -p "$STAGE"
mv "$STAGE.tmp"/parts/kit.part* "$STAGE/"
(cd "$STAGE" && sha256sum kit.part* > kit.sha256)

{
  echo "# Device calls, in order, one right after the other (a machine goes back after ~30 s idle)."
  echo "# Parts: $n x <= $PART_MB MiB; kit made $(date -u +%FT%TZ) for ${WIDTH}x$HEIGHT,"
  echo "# EEVEE $EEVEE_FRAMES frames, Cycles $CYCLES_FRAMES frames per view."
  i=0
  for part in "$STAGE"/kit.part*; do
    i=$((i + 1))
    if [ "$i" -lt "$n" ]; then
      echo "run  carry=[\"$part\", \"$STAGE/kit.sha256\"]  timeout_s=60  command=\"bash bench/device/run.sh receive\""
    else  # the last part: unpack and the EEVEE bench in the same call (one idle gap fewer)
      echo "run  carry=[\"$part\", \"$STAGE/kit.sha256\"]  timeout_s=480  command=\"bash bench/device/run.sh unpack $n && bash bench/device/run.sh bench eevee\""
    fi
  done
  echo "run  timeout_s=420  command=\"bash bench/device/run.sh bench cycles\""
  echo "give_back"
} > "$STAGE/PLAN.txt"
echo "staged in $(( $(date +%s) - t0 )) s: $(du -sm "$STAGE" | cut -f1) MiB in $n parts"
cat "$STAGE/PLAN.txt"
