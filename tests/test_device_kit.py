"""bench/device/: the kit that carries Blender and the benchmark's bundles to a GPU machine
without them, tried out here on CPU at a tiny size (no wheels or debs: offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.blender]

REPO = Path(__file__).resolve().parent.parent
PART_MB = 64


def _sh(args, env, check=True):
    proc = subprocess.run(["bash", *args], cwd=REPO, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def staged(tmp_path_factory, blender_python):
    if shutil.which("zstd") is None:
        pytest.skip("zstd not installed")
    stage = tmp_path_factory.mktemp("kit") / "stage"
    _sh(["bench/device/stage.sh"], {"STAGE": str(stage), "WIDTH": "64", "HEIGHT": "48",
                                    "EEVEE_FRAMES": "3", "CYCLES_FRAMES": "2", "ZSTD_LEVEL": "1",
                                    "PART_MB": str(PART_MB), "DEVICE_PY": "none", "GL_DEBS": "0"})
    return stage


def test_stage_splits_the_kit_into_parts_that_travel(staged):
    parts = sorted(staged.glob("kit.part*"))
    assert len(parts) >= 2
    assert all(p.stat().st_size <= PART_MB * 2**20 for p in parts)
    plan = (staged / "PLAN.txt").read_text()
    assert f"run.sh unpack {len(parts)} && bash bench/device/run.sh bench eevee" in plan
    assert plan.count("run.sh receive") == len(parts) - 1 and "run.sh bench cycles" in plan
    assert (staged / "kit.sha256").read_text().count("kit.part") == len(parts)


def test_unpacked_kit_renders_the_saved_bundle(staged, tmp_path):
    kit, out = tmp_path / "kit", tmp_path / "out"
    env = {"STAGE": str(staged), "KIT_ROOT": str(kit), "DEVICE_PY": sys.executable, "GL_TO_ROOT": "0"}
    _sh(["bench/device/run.sh", "unpack", str(len(list(staged.glob("kit.part*"))))], env)
    assert (kit / ".ready").exists()
    # the kit's own Python 3.11 + bpy, not this checkout's .venv-blender
    proc = _sh(["bench/device/run.sh", "bench", "cycles"],
               {**env, "OUT": str(out), "RENDER_DEVICE": "cpu", "SAMPLES": "1"})
    assert "kit/venv-blender/bin/python (ODAHGEN_BLENDER)" in (out / "env.txt").read_text()
    res = json.loads((out / "cycles.json").read_text())
    assert (res["engine"], res["device"], res["width"], res["height"]) == ("cycles", "CPU", 64, 48)
    assert res["frames_per_view"] == 2 and res["views"] == 2 and res["stage_fps"] > 0
    assert "| cycles | unknown GPU | 64x48 |" in (out / "summary.txt").read_text(), proc.stdout


def test_damaged_part_is_refused_before_anything_is_installed(staged, tmp_path):
    broken = tmp_path / "stage"
    shutil.copytree(staged, broken)
    part = sorted(broken.glob("kit.part*"))[1]
    data = bytearray(part.read_bytes())
    data[100] ^= 0xFF
    part.write_bytes(bytes(data))
    kit = tmp_path / "kit"
    proc = _sh(["bench/device/run.sh", "unpack", str(len(list(broken.glob("kit.part*"))))],
               {"STAGE": str(broken), "KIT_ROOT": str(kit), "DEVICE_PY": sys.executable}, check=False)
    assert proc.returncode != 0
    assert "a part is missing or damaged" in proc.stderr
    assert not kit.exists()


def test_bench_without_a_kit_says_what_to_run_first(tmp_path):
    proc = _sh(["bench/device/run.sh", "bench", "eevee"], {"KIT_ROOT": str(tmp_path / "none")}, check=False)
    assert proc.returncode != 0 and "run the receive/unpack calls" in proc.stderr
