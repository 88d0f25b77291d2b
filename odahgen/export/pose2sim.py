"""``odahgen export pose2sim DATASET -o DIR``: one Pose2Sim project folder per trial, so a
Pose2Sim run (pose estimation, triangulation, ``Pose2Sim.kinematics()``) on the videos can
be scored against the ground truth with ``odahgen eval``.

Layout under DIR::

    <trial>/calibration/Calib.toml        the cameras in Pose2Sim's calibration format
    <trial>/videos/camNN_<view>.mp4        one video per camera (sorted like the cameras)
    <trial>/gt/<trial>_markers.trc         GT markers, m, OpenSim frame (Y up)
    <trial>/gt/<trial>_coco.trc            GT COCO keypoints on the mesh, m, OpenSim frame
    <trial>/gt/<trial>.mot                 GT joint angles (deg; m for pelvis_t*)
    odahgen_pose2sim.json                  manifest: cameras, views, files, skipped trials

Frame convention. Pose2Sim triangulates in its calibration's world frame (Z up) and writes
its TRC files turned to Y up by ``X, Y, Z <- Y, Z, X`` (its ``zup2yup``). The calibration
written here has the world ``X_w = P @ X_opensim`` with ``P`` = :data:`OPENSIM_TO_POSE2SIM`,
so that Pose2Sim's Y-up output lands in OpenSim's frame, the frame of the GT files:
``rotation`` = Rodrigues vector of ``R @ P.T``, ``translation`` = ``t`` (m), ``matrix`` = K,
``distortions`` = OpenCV ``[k1, k2, p1, p2]`` of the camera's lens (zeros for a pinhole camera;
odahgen's k3 is always 0), ``size`` = [width, height] px.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.export.common import Progress, rotmat, rotvec, trials_of, write_angles_mot
from odahgen.gt.schema import TrialGT
from odahgen.io import atomic_path, atomic_write_json, atomic_write_text
from odahgen.io.atomic import check_output_dir
from odahgen.io.mocap import MarkerData, write_trc

#: OpenSim world (X forward, Y up, Z right) -> the Pose2Sim calibration world (Z up), the
#: inverse of Pose2Sim's ``zup2yup`` (new X, Y, Z = old Y, Z, X)
OPENSIM_TO_POSE2SIM = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def camera_names(gt: TrialGT) -> dict[str, str]:
    """view -> Pose2Sim camera name ``camNN_<view>`` (numbered in sorted view order)."""
    return {view: f"cam{i + 1:02d}_{view}" for i, view in enumerate(sorted(gt.cameras))}


def _num(v: float) -> str:
    return repr(float(v))


def _lens4(cam) -> list[float]:
    """OpenCV ``[k1, k2, p1, p2]`` of a GT camera (zeros: pinhole)."""
    d = np.zeros(5) if cam.distortion is None else np.asarray(cam.distortion, float)
    if abs(d[4]) > 0:
        raise OdahgenError("Pose2Sim calibrations hold [k1, k2, p1, p2]: a lens with k3 != 0 cannot be written")
    return d[:4].tolist()


def calib_toml(gt: TrialGT) -> str:
    """The text of a Pose2Sim ``Calib.toml`` for the trial's cameras (see the module doc)."""
    P = OPENSIM_TO_POSE2SIM
    lines = []
    for view, name in camera_names(gt).items():
        cam = gt.cameras[view]
        K = np.asarray(cam.K, float)
        rv = rotvec(np.asarray(cam.R, float) @ P.T)
        t = np.asarray(cam.t, float)
        lines += [
            f"[{name}]",
            f'name = "{name}"',
            f"size = [ {_num(cam.resolution[0])}, {_num(cam.resolution[1])}]",
            "matrix = [ " + ", ".join("[ " + ", ".join(_num(v) for v in row) + "]" for row in K) + "]",
            "distortions = [ " + ", ".join(_num(v) for v in _lens4(cam)) + "]",
            "rotation = [ " + ", ".join(_num(v) for v in rv) + "]",
            "translation = [ " + ", ".join(_num(v) for v in t) + "]",
            "fisheye = false",
            "",
        ]
    lines += ["[metadata]", "adjusted = false", "error = 0.0", ""]
    return "\n".join(lines)


def read_calib(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """A Pose2Sim ``Calib.toml`` as ``{camera: {K (3,3), R (3,3), t (3,) m, size (2,), dist
    (4,)}}`` (R from the Rodrigues vector), the projection ``x ~ K (R X_w + t)`` through the
    OpenCV distortion ``dist`` (k1, k2, p1, p2)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise OdahgenError(f"{path}: not a readable TOML calibration ({err})") from None
    out = {}
    for name, sec in data.items():
        if name == "metadata":
            continue
        out[sec.get("name", name)] = {"K": np.asarray(sec["matrix"], float), "R": rotmat(sec["rotation"]),
                                      "t": np.asarray(sec["translation"], float),
                                      "size": np.asarray(sec["size"], float),
                                      "dist": np.asarray(sec.get("distortions", [0.0] * 4), float)}
    return out


def triangulate(cams: list[dict[str, np.ndarray]], points_2d: list[np.ndarray]) -> np.ndarray:
    """Linear (DLT) triangulation of ``points_2d[i] (..., 2)`` px seen by ``cams[i]`` (K, R,
    t, optional OpenCV ``dist``: the points are undistorted first) -> ``(..., 3)`` in the
    cameras' world frame; NaN where fewer than 2 views see it."""
    from odahgen.scene.cameras import undistort_pixels

    Ps = [c["K"] @ np.hstack([c["R"], np.asarray(c["t"], float).reshape(3, 1)]) for c in cams]
    shape = np.shape(points_2d[0])[:-1]
    pts = [undistort_pixels(c["K"], c.get("dist"), np.asarray(p, float).reshape(-1, 2))
           for c, p in zip(cams, points_2d)]
    out = np.full((pts[0].shape[0], 3), np.nan)
    for j in range(pts[0].shape[0]):
        rows = []
        for P, p in zip(Ps, pts):
            if np.isfinite(p[j]).all():
                rows += [p[j, 0] * P[2] - P[0], p[j, 1] * P[2] - P[1]]
        if len(rows) >= 4:
            _, _, vt = np.linalg.svd(np.asarray(rows))
            out[j] = vt[-1, :3] / vt[-1, 3]
    return out.reshape(*shape, 3)


def pose2sim_to_opensim(points: np.ndarray) -> np.ndarray:
    """Pose2Sim calibration-world points ``(..., 3)`` -> OpenSim frame (Pose2Sim's zup2yup)."""
    return np.asarray(points, float)[..., [1, 2, 0]]


def _copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise OdahgenError(f"{src}: no such video")
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def export_pose2sim(dataset: str | Path, out: str | Path, include_failed: bool = False,
                    progress: Progress = None) -> dict[str, Any]:
    """Write one Pose2Sim project per trial under ``out`` (see the module docstring);
    returns the manifest."""
    out = check_output_dir(out)
    trials, skipped = trials_of(Path(dataset), include_failed)
    manifest: dict[str, Any] = {"convention": "Calib.toml world = OPENSIM_TO_POSE2SIM @ OpenSim frame; "
                                "Pose2Sim's Y-up TRC output is then in OpenSim's frame, as the GT files",
                                "trials": {}, "skipped": skipped}
    for i, (path, gt) in enumerate(trials):
        if progress:
            progress(i, len(trials), gt.meta.trial)
        root = out / gt.meta.trial
        names = camera_names(gt)
        atomic_write_text(root / "calibration" / "Calib.toml", calib_toml(gt))
        for view, name in names.items():
            _copy(path.parent / gt.videos[view].path, root / "videos" / f"{name}.mp4")
        times = np.arange(gt.n_frames) / gt.meta.fps
        files = ["calibration/Calib.toml"] + [f"videos/{n}.mp4" for n in names.values()]
        if gt.markers is not None:
            write_trc(root / "gt" / f"{gt.meta.trial}_markers.trc",
                      MarkerData(list(gt.markers.names), gt.markers.positions, gt.meta.fps, times), units="m")
            files.append(f"gt/{gt.meta.trial}_markers.trc")
        if gt.coco is not None:
            write_trc(root / "gt" / f"{gt.meta.trial}_coco.trc",
                      MarkerData(list(gt.coco.names), gt.coco.positions, gt.meta.fps, times), units="m")
            files.append(f"gt/{gt.meta.trial}_coco.trc")
        write_angles_mot(root / "gt" / f"{gt.meta.trial}.mot", gt)
        files.append(f"gt/{gt.meta.trial}.mot")
        manifest["trials"][gt.meta.trial] = {"cameras": {n: v for v, n in names.items()}, "files": files,
                                             "fps": gt.meta.fps, "n_frames": gt.n_frames}
    if progress:
        progress(len(trials), len(trials), "")
    atomic_write_json(out / "odahgen_pose2sim.json", manifest)
    return manifest
