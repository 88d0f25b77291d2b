"""File sources for lab data: ``trc`` (marker trajectories), ``c3d`` (markers, via ezc3d) and
``mot`` (OpenSim coordinates used directly).

Markers come out in metres in the OpenSim frame (files written by OpenSim tools already are
Y up). C3D point labels can be renamed to the skeleton's marker names with a mapping file
(``marker_map``: JSON ``{"label": "MODELNAME"}`` or a two-column text file).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.motion.base import FileMotionSource, Motion
from odahgen.skeleton.names import COORDINATE_NAMES, TRANSLATIONAL_COORDINATES

UNIT_SCALE = {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "meters": 1.0, "millimeters": 1e-3}


def read_trc(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, float]:
    """A .trc file -> (marker names, times (T,), markers (T, M, 3) metres, data rate)."""
    lines = Path(path).read_text(errors="replace").splitlines()
    if len(lines) < 6 or not lines[0].startswith("PathFileType"):
        raise OdahgenError(f"{path}: not a TRC file (no PathFileType header)")
    keys, vals = lines[1].split(), lines[2].split()
    hdr = {k.strip(): v.strip() for k, v in zip(keys, vals)}
    try:
        rate = float(hdr["DataRate"])
        units = hdr.get("Units", "m").lower()
    except (KeyError, ValueError):
        raise OdahgenError(f"{path}: bad TRC header line 3") from None
    if units not in UNIT_SCALE:
        raise OdahgenError(f"{path}: unknown units {units!r}")
    names = [n.strip() for n in lines[3].split("\t")[2:] if n.strip()]
    rows = []
    for ln in lines[5:]:
        if not ln.strip():
            continue
        parts = ln.split("\t")
        vals_ = [float(x) if x.strip() else np.nan for x in parts[1:2 + 3 * len(names)]]
        vals_ += [np.nan] * (1 + 3 * len(names) - len(vals_))
        rows.append(vals_)
    if not rows:
        raise OdahgenError(f"{path}: zero frames")
    arr = np.array(rows)
    times = arr[:, 0]
    markers = arr[:, 1:].reshape(len(arr), len(names), 3) * UNIT_SCALE[units]
    return names, times, markers, rate


def read_mot(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, bool]:
    """An OpenSim .mot/.sto -> (column names, times (T,), values (T, C), in_degrees)."""
    lines = Path(path).read_text(errors="replace").splitlines()
    try:
        end = next(i for i, ln in enumerate(lines) if ln.strip().lower() == "endheader")
    except StopIteration:
        raise OdahgenError(f"{path}: no 'endheader' line; not an OpenSim .mot/.sto file") from None
    in_deg = any(ln.strip().lower().replace(" ", "") == "indegrees=yes" for ln in lines[:end])
    cols = lines[end + 1].split()
    data = [ln.split() for ln in lines[end + 2:] if ln.strip()]
    if not data:
        raise OdahgenError(f"{path}: zero frames")
    if any(len(r) != len(cols) for r in data):
        raise OdahgenError(f"{path}: rows have a different number of columns than the header")
    arr = np.array(data, dtype=np.float64)
    return cols[1:], arr[:, 0], arr[:, 1:], in_deg


def _rate_from_times(path, times: np.ndarray) -> float:
    if len(times) < 2:
        raise OdahgenError(f"{path}: need at least 2 frames to know the frame rate")
    dt = np.diff(times)
    if np.any(dt <= 0):
        raise OdahgenError(f"{path}: time column is not strictly increasing")
    return float(1.0 / np.median(dt))


def load_marker_map(path) -> dict[str, str]:
    """A label -> model-marker mapping from JSON or two-column text."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise OdahgenError(f"{p}: cannot read marker map ({err})") from None
    if p.suffix.lower() == ".json":
        try:
            m = json.loads(text)
        except json.JSONDecodeError as err:
            raise OdahgenError(f"{p}: invalid JSON ({err.msg} at line {err.lineno})") from None
        return {str(k): str(v) for k, v in m.items()}
    out = {}
    for ln in text.splitlines():
        parts = ln.replace(",", " ").split()
        if len(parts) >= 2 and not ln.lstrip().startswith("#"):
            out[parts[0]] = parts[1]
    return out


class TRCSource(FileMotionSource):
    """.trc marker files (any units; NaN/blank = gap)."""

    name = "trc"
    description = "TRC marker trajectories"
    extensions = (".trc",)

    def load_file(self, path: Path, motion_id: str) -> Motion:
        names, times, markers, rate = read_trc(path)
        if len(names) != len(set(names)):
            raise OdahgenError(f"{path}: duplicate marker labels")
        times = times - times[0]
        return Motion(id=motion_id, source=self.name, fps=rate, times=times, markers=markers,
                      marker_names=tuple(names), path=str(path))


class MOTSource(FileMotionSource):
    """OpenSim .mot coordinates (degrees converted to radians; missing coordinates = 0)."""

    name = "mot"
    description = "OpenSim .mot joint coordinates used directly"
    extensions = (".mot",)

    def load_file(self, path: Path, motion_id: str) -> Motion:
        cols, times, values, in_deg = read_mot(path)
        known = [c for c in cols if c in COORDINATE_NAMES]
        if not known:
            raise OdahgenError(f"{path}: no Rajagopal coordinate columns (found {', '.join(cols[:5])}...)")
        out = np.zeros((len(times), len(COORDINATE_NAMES)))
        for j, c in enumerate(cols):
            if c in COORDINATE_NAMES:
                v = values[:, j]
                if in_deg and c not in TRANSLATIONAL_COORDINATES:
                    v = np.radians(v)
                out[:, COORDINATE_NAMES.index(c)] = v
        for s in "rl":
            if f"knee_angle_{s}_beta" not in cols:
                out[:, COORDINATE_NAMES.index(f"knee_angle_{s}_beta")] = out[:, COORDINATE_NAMES.index(f"knee_angle_{s}")]
        fps = _rate_from_times(path, times)
        return Motion(id=motion_id, source=self.name, fps=fps, times=times - times[0], coordinates=out,
                      coordinate_names=COORDINATE_NAMES, path=str(path),
                      meta={"missing_coordinates": len(COORDINATE_NAMES) - len(set(known))})


class C3DSource(FileMotionSource):
    """C3D files via ezc3d. Options: ``marker_map`` (file mapping labels to model marker
    names; unmapped labels are kept unless ``mapped_only=True``), ``up`` ("y" or "z": the
    file's vertical axis, default "z" as most labs; "z" is turned into OpenSim's Y up)."""

    name = "c3d"
    description = "C3D marker trajectories (ezc3d)"
    extensions = (".c3d",)

    def __init__(self, path=None, marker_map=None, mapped_only: bool = False, up: str = "z", **options):
        super().__init__(path=path, **options)
        self.map = load_marker_map(marker_map) if marker_map else {}
        self.mapped_only, self.up = bool(mapped_only), up.lower()
        if self.up not in ("y", "z"):
            raise OdahgenError(f"c3d: up must be 'y' or 'z', got {up!r}")

    def load_file(self, path: Path, motion_id: str) -> Motion:
        import ezc3d  # noqa: PLC0415

        try:
            c = ezc3d.c3d(str(path))
        except Exception as err:  # ezc3d raises RuntimeError/IOError on corrupt files
            raise OdahgenError(f"{path}: cannot read C3D ({type(err).__name__}: {err})") from None
        pts = c["parameters"]["POINT"]
        labels = [str(x).strip() for x in pts["LABELS"]["value"]]
        rate = float(pts["RATE"]["value"][0])
        units = str(pts["UNITS"]["value"][0]).strip().lower() if "UNITS" in pts else "mm"
        if units not in UNIT_SCALE:
            raise OdahgenError(f"{path}: unknown point units {units!r}")
        data = np.asarray(c["data"]["points"], np.float64)  # (4, M, T)
        if data.shape[2] == 0:
            raise OdahgenError(f"{path}: zero frames")
        xyz = np.transpose(data[:3], (2, 1, 0)) * UNIT_SCALE[units]  # (T, M, 3)
        if "meta_points" in c["data"] and "residuals" in c["data"]["meta_points"]:
            res = np.asarray(c["data"]["meta_points"]["residuals"]).T  # (T, M)
            if res.shape == xyz.shape[:2]:
                xyz[res < 0] = np.nan  # C3D convention: negative residual = invalid point
        xyz[np.all(xyz == 0.0, axis=2)] = np.nan  # all-zero points are gaps in most writers
        if self.up == "z":
            from odahgen.motion.retarget import ZUP_TO_OPENSIM  # noqa: PLC0415

            xyz = xyz @ ZUP_TO_OPENSIM.T
        names = [self.map.get(lb, lb) for lb in labels]
        keep = [i for i, (lb, n) in enumerate(zip(labels, names)) if lb in self.map or not self.mapped_only]
        if not keep:
            raise OdahgenError(f"{path}: no point label matches the marker map")
        names = [names[i] for i in keep]
        if len(set(names)) != len(names):
            raise OdahgenError(f"{path}: duplicate marker names after mapping")
        T = xyz.shape[0]
        return Motion(id=motion_id, source=self.name, fps=rate, times=np.arange(T) / rate,
                      markers=xyz[:, keep], marker_names=tuple(names), path=str(path),
                      meta={"units": units})
