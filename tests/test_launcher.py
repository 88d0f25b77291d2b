"""The render launcher: resolution order, both launch styles, crashes, timeouts, and a real
Cycles smoke render through the subprocess path."""

from __future__ import annotations

import ast
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from odahgen.render import launcher
from odahgen.render.launcher import BlenderError, find_blender, probe_executable, run_worker

pytestmark = pytest.mark.blender


def make_fake_blender(dirpath: Path, bpy_python: Path, version: str = "5.0.1") -> Path:
    """A `blender` script that accepts Blender's CLI and forwards the worker to the bpy venv."""
    script = dirpath / "blender"
    script.write_text(f"""#!/usr/bin/env bash
if [ "$1" = "--version" ]; then echo "Blender {version}"; echo "	build date: fake"; exit 0; fi
seen_b=0; seen_factory=0; worker=""
while [ $# -gt 0 ]; do
  case "$1" in
    -b) seen_b=1; shift;;
    --factory-startup) seen_factory=1; shift;;
    -noaudio) shift;;
    -P) worker="$2"; shift 2;;
    --) break;;
    *) echo "fake blender: unexpected argument $1" >&2; exit 9;;
  esac
done
if [ $seen_b != 1 ] || [ $seen_factory != 1 ] || [ -z "$worker" ]; then
  echo "fake blender: needs -b --factory-startup -P SCRIPT" >&2; exit 9
fi
exec "{bpy_python}" "$worker" "$@"
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def fake_exe(path: Path, body: str) -> Path:
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)
    return path


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No ODAHGEN_BLENDER, an empty PATH dir, and a repo root without .venv-blender."""
    monkeypatch.delenv("ODAHGEN_BLENDER", raising=False)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    fake_repo = tmp_path / "repo"
    fake_repo.mkdir()
    monkeypatch.setattr(launcher, "REPO_ROOT", fake_repo)
    return bindir, fake_repo


def test_resolution_order(isolated, monkeypatch, tmp_path):
    bindir, fake_repo = isolated
    assert launcher.candidates() == []
    with pytest.raises(BlenderError, match="no Blender found.*make setup"):
        find_blender()

    on_path = fake_exe(bindir / "blender", 'echo "Blender 4.2.3"\n')
    assert launcher.candidates() == [("PATH", str(on_path))]

    venv_py = fake_repo / ".venv-blender" / "bin" / "python"
    venv_py.parent.mkdir(parents=True)
    fake_exe(venv_py, 'echo "BPY 5.0.1"\n')
    assert [s for s, _ in launcher.candidates()] == [".venv-blender", "PATH"]

    env_exe = fake_exe(tmp_path / "envblender", 'echo "Blender 4.5.0"\n')
    monkeypatch.setenv("ODAHGEN_BLENDER", str(env_exe))
    assert [s for s, _ in launcher.candidates()] == ["ODAHGEN_BLENDER", ".venv-blender", "PATH"]

    cfg_exe = fake_exe(tmp_path / "cfgblender", 'echo "Blender 4.4.1"\n')
    order = launcher.candidates(str(cfg_exe))
    assert [s for s, _ in order] == ["config render.blender", "ODAHGEN_BLENDER", ".venv-blender", "PATH"]

    # find_blender takes the first and reads its version and kind
    b = find_blender(str(cfg_exe))
    assert (b.kind, b.version, b.source) == ("binary", (4, 4, 1), "config render.blender")
    b = find_blender()
    assert (b.kind, b.version) == ("binary", (4, 5, 0))
    monkeypatch.delenv("ODAHGEN_BLENDER")
    b = find_blender()
    assert (b.kind, b.version, b.source) == ("python", (5, 0, 1), ".venv-blender")


def test_too_old_or_broken_blender_is_an_error(tmp_path):
    old = fake_exe(tmp_path / "blender", 'echo "Blender 3.6.2"\n')
    with pytest.raises(BlenderError, match=r"Blender 3\.6\.2; odahgen needs >= 4\.2"):
        probe_executable(str(old), "test")
    with pytest.raises(BlenderError, match="not an executable"):
        probe_executable(str(tmp_path / "missing"), "test")
    nobpy = fake_exe(tmp_path / "python3", "exit 1\n")
    with pytest.raises(BlenderError, match="Python without bpy"):
        probe_executable(str(nobpy), "test")


def _check_cube_png(path: Path) -> None:
    import imageio.v3 as iio

    img = iio.imread(path).astype(float)
    assert img.shape[:2] == (48, 64)
    center = img[20:30, 27:37, :3].mean(axis=(0, 1))
    corner = img[:4, :4, :3].mean(axis=(0, 1))
    # the red cube fills the middle: red channel dominant and bright there
    assert center[0] > 60 and center[0] > 2.5 * center[1] and center[0] > 2.5 * center[2], center
    # the background is the dim world colour
    assert corner.max() < 40, corner


def test_smoke_render_python_style(blender_python, tmp_path):
    blender = probe_executable(str(blender_python), "test")
    assert blender.kind == "python"
    out = tmp_path / "cube.png"
    res = run_worker({"task": "smoke", "engine": "cycles", "device": "cpu", "samples": 8,
                      "width": 64, "height": 48, "output": str(out)}, tmp_path / "work",
                     blender=blender, timeout_s=300)
    assert res["ok"] and res["device"] == "CPU"
    assert "task=smoke" in (tmp_path / "work" / "smoke.blender.log").read_text()
    _check_cube_png(out)


def test_smoke_render_binary_style_through_fake_blender(blender_python, tmp_path, monkeypatch):
    fake = make_fake_blender(tmp_path, blender_python)
    monkeypatch.setenv("ODAHGEN_BLENDER", str(fake))
    blender = find_blender()
    assert blender.kind == "binary" and blender.source == "ODAHGEN_BLENDER"
    assert blender.command(Path("job.json"))[:3] == [str(fake), "-b", "--factory-startup"]
    out = tmp_path / "cube_bin.png"
    lines = []
    res = run_worker({"task": "smoke", "engine": "cycles", "device": "cpu", "samples": 8,
                      "width": 64, "height": 48, "output": str(out)}, tmp_path / "w",
                     blender=blender, timeout_s=300, on_line=lines.append)
    assert res["ok"]
    assert any("task=smoke" in line for line in lines)
    _check_cube_png(out)


def test_worker_error_is_one_line_with_log(blender_python, tmp_path):
    blender = probe_executable(str(blender_python), "test")
    with pytest.raises(BlenderError) as err:
        run_worker({"task": "no_such_task"}, tmp_path, blender=blender, timeout_s=120)
    msg = str(err.value)
    assert "unknown worker task 'no_such_task'" in msg and "log:" in msg and "\n" not in msg


def test_crash_and_timeout(tmp_path):
    crash = fake_exe(tmp_path / "blender", """
if [ "$1" = "--version" ]; then echo "Blender 4.2.0"; exit 0; fi
echo "Segmentation fault (core dumped)"; exit 139
""")
    blender = probe_executable(str(crash), "test")
    with pytest.raises(BlenderError, match=r"failed \(exit 139\).*Segmentation fault"):
        run_worker({"task": "smoke"}, tmp_path / "a", blender=blender, timeout_s=30)

    hangdir = tmp_path / "h"
    hangdir.mkdir()
    hang = fake_exe(hangdir / "blender", """
if [ "$1" = "--version" ]; then echo "Blender 4.2.0"; exit 0; fi
echo started; sleep 60
""")
    blender = probe_executable(str(hang), "test")
    with pytest.raises(BlenderError, match=r"timed out after 2 s"):
        run_worker({"task": "smoke"}, tmp_path / "b", blender=blender, timeout_s=2)
    assert "started" in (tmp_path / "b" / "smoke.blender.log").read_text()


def _top_imports(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text())
    imports = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            imports.add((node.module or "").split(".")[0])
    return imports


#: the worker's sibling modules, shipped next to it: materials, world and camera response;
#: the lens warp (numpy only)
WORKER_SIBLINGS = {"blender_shading", "blender_lens"}


def test_worker_imports_nothing_of_the_core():
    imports = _top_imports(Path(launcher.WORKER_PATH))
    # mathutils and gpu are Blender's own modules, shipped inside bpy / the Blender binary
    allowed = {"bpy", "numpy", "mathutils", "gpu"} | set(sys.stdlib_module_names)
    assert "bpy" in imports and imports <= allowed | WORKER_SIBLINGS, imports - allowed
    for name in WORKER_SIBLINGS:  # the siblings follow the same rule
        sib = _top_imports(Path(launcher.WORKER_PATH).parent / f"{name}.py")
        assert sib <= allowed | WORKER_SIBLINGS, (name, sib - allowed)


def test_eevee_engine_id_follows_the_blender_version(blender_python):
    code = ("from blender_worker import engine_id as e; import bpy; "
            "print([e('eevee', (4, 2, 0)), e('eevee', (4, 4, 3)), e('eevee', (4, 5, 1)), e('eevee', (5, 0, 1)), "
            "e('cycles', (4, 2, 0)), e('workbench', (5, 0, 0)), e('eevee'), bpy.app.version[:2]])")
    proc = subprocess.run([str(blender_python), "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(launcher.WORKER_PATH.parent)})
    assert proc.returncode == 0, proc.stderr[-500:]
    got = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert got[:6] == ["BLENDER_EEVEE_NEXT", "BLENDER_EEVEE_NEXT", "BLENDER_EEVEE_NEXT", "BLENDER_EEVEE",
                       "CYCLES", "BLENDER_WORKBENCH"]
    assert got[6] == ("BLENDER_EEVEE" if tuple(got[7]) >= (5, 0) else "BLENDER_EEVEE_NEXT")
