"""File sources for lab data: ``trc`` (marker trajectories), ``c3d`` (markers, via ezc3d) and
``mot`` (OpenSim coordinates used directly).

Markers come out in metres in the OpenSim frame, Y up: the files' vertical axis is the ``up``
option (``y``, ``z``, ``-z``, ...) or, by default, detected from the labels' anatomical roles
(head above pelvis above feet; :func:`odahgen.skeleton.mapping.orient_markers`), falling back
to Y for TRC (OpenSim's) and Z for C3D (most labs') when the labels cannot tell; the turn
itself happens in :func:`odahgen.io.mocap.to_y_up`. Labels are kept as the file has them: the
skeleton stage matches them to the model by name or anatomical role. C3D point labels can also
be renamed with a mapping file (``marker_map``: JSON ``{"label": "MODELNAME"}`` or a two-column
text file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io.mocap import UNIT_SCALE, UP_AXES, MarkerData, read_marker_map, read_table, read_trc
from odahgen.motion.base import FileMotionSource, Motion
from odahgen.skeleton import orient_markers
from odahgen.skeleton.names import COORDINATE_NAMES, TRANSLATIONAL_COORDINATES

def _rate_from_times(path, times: np.ndarray) -> float:
    if len(times) < 2:
        raise OdahgenError(f"{path}: need at least 2 frames to know the frame rate")
    dt = np.diff(times)
    if np.any(dt <= 0):
        raise OdahgenError(f"{path}: time column is not strictly increasing")
    return float(1.0 / np.median(dt))



def _check_up(source: str, up: str) -> str:
    up = str(up).strip().lower()
    if up not in (*UP_AXES, "auto"):
        raise OdahgenError(f"{source}: up must be auto or one of {', '.join(UP_AXES)}, got {up!r}")
    return up


class TRCSource(FileMotionSource):
    """.trc marker files (any units; NaN/blank = gap). Option ``up``: the files' vertical axis
    (``y``, ``z``, ...; default ``auto``: detected from the labels, Y when they cannot tell)."""

    name = "trc"
    description = "TRC marker trajectories"
    extensions = (".trc",)

    def __init__(self, path=None, up: str = "auto", **options):
        super().__init__(path=path, **options)
        self.up = _check_up("trc", up)

    def load_file(self, path: Path, motion_id: str) -> Motion:
        data = read_trc(path, strict=False)
        if len(data.names) != len(set(data.names)):
            raise OdahgenError(f"{path}: duplicate marker labels")
        data, _st, up, reason = orient_markers(data, self.up, default="y")
        return Motion(id=motion_id, source=self.name, fps=data.fps, times=data.times - data.times[0],
                      markers=data.positions, marker_names=tuple(data.names), path=str(path),
                      meta={"up": up, "up_reason": reason})


class MOTSource(FileMotionSource):
    """OpenSim .mot coordinates (degrees converted to radians; missing coordinates = 0)."""

    name = "mot"
    description = "OpenSim .mot joint coordinates used directly"
    extensions = (".mot",)

    def load_file(self, path: Path, motion_id: str) -> Motion:
        table = read_table(path)
        cols, times, values, in_deg = table.names, table.times, table.values, table.in_degrees
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
    names; unmapped labels are kept unless ``mapped_only=True``), ``up`` (the file's vertical
    axis, ``y``, ``z``, ...; default ``auto``: detected from the labels, Z as most labs when
    they cannot tell; turned into OpenSim's Y up)."""

    name = "c3d"
    description = "C3D marker trajectories (ezc3d)"
    extensions = (".c3d",)

    def __init__(self, path=None, marker_map=None, mapped_only: bool = False, up: str = "auto", **options):
        super().__init__(path=path, **options)
        self.map = read_marker_map(marker_map) if marker_map else {}
        self.mapped_only, self.up = bool(mapped_only), _check_up("c3d", up)

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
        T = xyz.shape[0]
        oriented, _st, up, reason = orient_markers(MarkerData(labels, xyz, rate, np.arange(T) / rate), self.up,
                                                   default="z")
        xyz = oriented.positions
        names = [self.map.get(lb, lb) for lb in labels]
        keep = [i for i, (lb, n) in enumerate(zip(labels, names)) if lb in self.map or not self.mapped_only]
        if not keep:
            raise OdahgenError(f"{path}: no point label matches the marker map")
        names = [names[i] for i in keep]
        if len(set(names)) != len(names):
            raise OdahgenError(f"{path}: duplicate marker names after mapping")
        return Motion(id=motion_id, source=self.name, fps=rate, times=np.arange(T) / rate,
                      markers=xyz[:, keep], marker_names=tuple(names), path=str(path),
                      meta={"units": units, "up": up, "up_reason": reason})
