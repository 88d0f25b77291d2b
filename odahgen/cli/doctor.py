"""``odahgen doctor``: can this machine run the default pipeline?

Prints one row per component (status, version, detail) and exits 0 only when everything the
default pipeline needs is usable; otherwise it names what is missing and the command that
fixes it. Optional components (smplx model files, GPU devices) never fail the check.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from odahgen.errors import OdahgenError

FIX_SETUP = "make setup"


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not checked
    version: str = ""
    detail: str = ""
    required: bool = True
    fix: str = ""


def _module_version(name: str) -> tuple[object | None, str]:
    try:
        mod = importlib.import_module(name)
    except Exception as err:  # ImportError, or a broken binary extension
        return None, f"{type(err).__name__}: {' '.join(str(err).split())[:120]}"
    return mod, str(getattr(mod, "__version__", "") or "")


def check_python() -> Check:
    ver = platform.python_version()
    ok = sys.version_info[:2] == (3, 11)
    return Check("Python", ok, ver, sys.executable, fix="use Python 3.11 (make setup does)")


def check_numpy() -> Check:
    mod, ver = _module_version("numpy")
    if mod is None:
        return Check("NumPy", False, "", ver, fix=FIX_SETUP)
    major, minor = (int(x) for x in ver.split(".")[:2])
    ok = (major, minor) >= (2, 1)
    return Check("NumPy", ok, ver, ">= 2.1 (opensim 4.6 IK needs it)", fix=FIX_SETUP)


def check_module(label: str, module: str, detail: str = "", required: bool = True) -> Check:
    mod, ver = _module_version(module)
    if mod is None:
        return Check(label, False, "", ver, required=required, fix=FIX_SETUP)
    return Check(label, True, ver, detail, required=required)


def anny_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "anny"


def check_anny() -> Check:
    check = check_module("anny", "anny")
    if not check.ok:
        return check
    cache = anny_cache_dir()
    size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) if cache.exists() else 0
    if size > 50 * 2**20:
        check.detail = f"cache built ({size / 2**20:.0f} MB in {cache})"
    else:
        check.detail = f"cache not built yet: first use builds ~800 MB in {cache} (~2 min)"
    return check


def check_smplx(model_dir: str = "") -> Check:
    check = check_module("smplx", "smplx", required=True)
    if not check.ok:
        return check
    model_dir = model_dir or os.environ.get("ODAHGEN_SMPLX_DIR", "")
    if not model_dir:
        check.detail = "model files not configured (optional: body.model_dir, the paper's body)"
    else:
        found = sorted(p.name for p in Path(model_dir).glob("SMPLX_*.npz"))
        check.detail = f"{model_dir}: {', '.join(found) or 'no SMPLX_*.npz found'}"
    return check


def check_ffmpeg() -> Check:
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
        return Check("ffmpeg", True, imageio_ffmpeg.get_ffmpeg_version(), exe)
    except Exception as err:
        system = shutil.which("ffmpeg")
        if system:
            return Check("ffmpeg", True, "", system)
        return Check("ffmpeg", False, "", str(err)[:120], fix=FIX_SETUP)


def check_blender(configured: str = "", full: bool = False) -> list[Check]:
    from odahgen.render.launcher import find_blender, probe_blender

    try:
        blender = find_blender(configured or None)
    except OdahgenError as err:
        return [Check("Blender", False, "", str(err), fix=FIX_SETUP)]
    engines = ("cycles", "workbench", "eevee") if full else ("cycles", "workbench")
    try:
        info = probe_blender(blender, engines=engines)
    except OdahgenError as err:
        return [Check("Blender", False, blender.version_string, str(err), fix=FIX_SETUP)]
    rows = [Check("Blender", True, info["version"], f"{blender.kind} {blender.path} ({blender.source})")]
    labels = {"cycles": "Cycles (CPU)", "workbench": "Workbench", "eevee": "EEVEE"}
    for engine in ("cycles", "eevee", "workbench"):
        res = info["engines"].get(engine)
        if res is None:
            rows.append(Check(f"  {labels[engine]}", None, "", "not probed (odahgen doctor --full "
                              "renders a test frame; slow without a GPU)", required=False))
            continue
        detail = f"test frame in {res['seconds']} s" if res["ok"] else res.get("error", "failed")
        if res["ok"] and engine != "cycles" and info.get("opengl"):
            detail += f" on {info['opengl']}"  # llvmpipe = software: EEVEE then needs minutes per frame
        # Cycles on CPU is what the default (CPU) pipeline needs; the others are optional.
        rows.append(Check(f"  {labels[engine]}", res["ok"], "", detail,
                          required=engine == "cycles", fix=FIX_SETUP))
    gpus = info.get("gpu_devices") or []
    rows.append(Check("  GPU devices", True, "", ", ".join(gpus) or "none (CPU rendering)",
                      required=False))
    return rows


def run_checks(config_blender: str = "", smplx_dir: str = "", full: bool = False) -> list[Check]:
    checks = [
        check_python(),
        check_numpy(),
        check_module("opensim", "opensim", "OpenSim scaling, IK, FK"),
        check_module("torch", "torch", "body fitting"),
        check_anny(),
        check_smplx(smplx_dir),
        check_module("h5py", "h5py", "ground-truth HDF5"),
        check_module("scipy", "scipy"),
        check_module("ezc3d", "ezc3d", "C3D motion files"),
        check_module("pyrender", "pyrender", "visibility, previews", required=False),
        check_module("mediapipe", "mediapipe", "BlazePose detector of odahgen baseline (the baseline extra)",
                     required=False),
        check_ffmpeg(),
    ]
    checks += check_blender(config_blender, full=full)
    return checks


def print_table(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="odahgen doctor", show_lines=False)
    table.add_column("component")
    table.add_column("status")
    table.add_column("version")
    table.add_column("detail", overflow="fold")
    for c in checks:
        if c.ok is None:
            status = "[dim]skipped[/dim]"
        elif c.ok:
            status = "[green]ok[/green]"
        elif c.required:
            status = "[red]MISSING[/red]"
        else:
            status = "[yellow]optional[/yellow]"
        table.add_row(c.name, status, c.version, c.detail)
    Console(width=max(100, shutil.get_terminal_size((120, 20)).columns)).print(table)


def cmd_doctor(args: argparse.Namespace) -> int:
    blender = args.blender or ""
    smplx_dir = ""
    if args.config:
        from odahgen.config import load_config

        cfg = load_config(args.config, args.set or [])
        blender = blender or cfg.render.blender
        smplx_dir = cfg.body.model_dir
    checks = run_checks(blender, smplx_dir, full=args.full)
    print_table(checks)
    failing = [c for c in checks if c.required and c.ok is False]
    if failing:
        names = ", ".join(c.name.strip() for c in failing)
        fixes = sorted({c.fix for c in failing if c.fix})
        raise OdahgenError(f"cannot run the default pipeline: {names} not usable; fix: "
                           f"{' ; '.join(fixes) or 'see the table above'}")
    print("odahgen doctor: everything the default pipeline needs is usable.")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "doctor",
        help="check that this machine can run the pipeline (core + Blender)",
        description=(
            "Print a table of the components odahgen uses (Python, NumPy, opensim, torch, anny "
            "and its cache, smplx and its model files, Blender with the engines that render a "
            "test frame and the GPU devices it sees, ffmpeg). Exits 0 only when the default "
            "pipeline can run; otherwise names what is missing and the command that fixes it."
        ),
    )
    p.add_argument("--config", help="a dataset config whose render.blender / body.model_dir to check")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--blender", help="check this blender binary or bpy Python instead")
    p.add_argument("--full", action="store_true", help="also render an EEVEE test frame (slow on CPU)")
    p.set_defaults(func=cmd_doctor)
