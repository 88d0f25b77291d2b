#!/usr/bin/env bash
# The render on a GPU, as one short command: EEVEE and Cycles frames/s at 1080x720 for a
# two-view trial, the device Blender drew with, and the render stage's overhead over bare
# Blender (bench/render.py: the stage = Blender + streaming H.264 + masks + checks; bare =
# the same Blender render to PNG only, in the same run).
#
#   bash bench/render_gpu.sh [OUT_DIR]        (default: bench_gpu_out/, or $OUT on a device)
#
# Environment: EEVEE_FRAMES (default 600: the full two-view trial), CYCLES_FRAMES (default
# 120; per-frame cost does not depend on the clip length), SAMPLES (16, the config default),
# REPEATS (1), STEP_TIMEOUT_S (240 per benchmark), ODAHGEN_PY (.venv/bin/python),
# EEVEE_BUNDLE / CYCLES_BUNDLE (render bundles saved by `bench/render.py --save-bundle`; their
# frame counts replace the *_FRAMES; without them the bundle is built here, which needs anny),
# WIDTH x HEIGHT (1080 x 720), RENDER_DEVICE (gpu; cpu only to try the script out),
# ENGINES ("eevee cycles": which benchmarks to run, in order), WARMUP (both; bare = only the
# bare render warms the caches up, see bench/render.py --warmup).
# Needs the two environments of `make setup` (.venv, .venv-blender with bpy) or a Blender
# named by ODAHGEN_BLENDER, and an NVIDIA driver; on the lent device machine, which has
# neither, bench/device/ stages them. Writes OUT_DIR/{env.txt, eevee.json, cycles.json,
# summary.txt}; the summary ends with the rows for docs/farm.md's table.
set -u
cd "$(dirname "$0")/.." || exit 2
OUT_DIR=${1:-${OUT:-bench_gpu_out}}
PY=${ODAHGEN_PY:-.venv/bin/python}
EEVEE_FRAMES=${EEVEE_FRAMES:-600}
CYCLES_FRAMES=${CYCLES_FRAMES:-120}
SAMPLES=${SAMPLES:-16}
REPEATS=${REPEATS:-1}
STEP_TIMEOUT_S=${STEP_TIMEOUT_S:-240}
WIDTH=${WIDTH:-1080}
HEIGHT=${HEIGHT:-720}
RENDER_DEVICE=${RENDER_DEVICE:-gpu}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -n) $(uname -m), $(nproc) CPUs"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi: not found"
  "$PY" -c "import sys; print('core python', sys.version.split()[0])" 2>&1
  "$PY" -m odahgen.cli doctor 2>&1 | grep -i -E "blender|gpu|nvidia|opengl|eevee" | head -20
} > "$OUT_DIR/env.txt"
cat "$OUT_DIR/env.txt"

bench() {  # bench NAME ENGINE FRAMES [BUNDLE]
  local name=$1 engine=$2 frames=$3 saved=${4:-}
  local from=(--frames "$frames")
  rm -f "$OUT_DIR/$name.json"  # a failed run must not leave an earlier result to be summarised
  [ -n "$saved" ] && from=(--bundle "$saved")
  echo "== $name: $engine, ${saved:-$frames frames per view}, ${WIDTH}x$HEIGHT, device $RENDER_DEVICE, mask on"
  timeout "$STEP_TIMEOUT_S" "$PY" bench/render.py --engine "$engine" --device "$RENDER_DEVICE" \
    --width "$WIDTH" --height "$HEIGHT" "${from[@]}" --samples "$SAMPLES" --mask \
    --repeats "$REPEATS" --warmup "${WARMUP:-both}" --json "$OUT_DIR/$name.json" 2>&1 | tee "$OUT_DIR/$name.log" | tail -25
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || echo "$name: failed or timed out (exit $rc); see $OUT_DIR/$name.log"
}
for engine in ${ENGINES:-eevee cycles}; do
  case $engine in
    eevee) bench eevee eevee "$EEVEE_FRAMES" "${EEVEE_BUNDLE:-}" ;;
    cycles) bench cycles cycles "$CYCLES_FRAMES" "${CYCLES_BUNDLE:-}" ;;
    *) echo "render_gpu.sh: unknown engine '$engine' in ENGINES (eevee, cycles)"; exit 2 ;;
  esac
done

"$PY" - "$OUT_DIR" ${ENGINES:-eevee cycles} <<'EOF' | tee "$OUT_DIR/summary.txt"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
gpu = (out / "env.txt").read_text().splitlines()
name = next((l for l in gpu if "," in l and "MiB" in l), "unknown GPU").split(",")[0]
print(f"GPU: {name}")
for eng in sys.argv[2:]:
    p = out / f"{eng}.json"
    if not p.exists():
        print(f"{eng}: no result")
        continue
    r = json.loads(p.read_text())
    per = 1.0 / r["stage_fps"]
    print(f"{eng}: render stage {r['stage_fps']:.2f} frames/s ({per:.3f} s per frame per view), bare "
          f"Blender {r['bare_fps']:.2f} frames/s, overhead {100 * r['overhead']:.1f}% wall "
          f"{100 * r['cpu_overhead']:.1f}% CPU; device {r['device']}; {r['frames_per_view']} frames x "
          f"{r['views']} views; build {r['worker_build_s_last']} s; videos {r.get('video_mb')} MB")
    print(f"  docs/farm.md row: | {eng} | {name} | {r['width']}x{r['height']} | {per:.3f} | {r['stage_fps']:.2f} | "
          f"{100 * r['overhead']:.1f}% |")
EOF
