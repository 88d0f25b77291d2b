"""``odahgen export opencap DATASET -o DIR``: one OpenCap session folder per trial (OpenCap
keeps one set of camera parameters per session, and each trial here has its own cameras).

Layout under DIR (as OpenCap's processing code reads a session)::

    <trial>/sessionMetadata.yaml                               subject mass/height, cameras
    <trial>/Videos/Cam<i>/cameraIntrinsicsExtrinsics.pickle    one per camera (views sorted)
    <trial>/Videos/Cam<i>/InputMedia/<trial>/<trial>.mp4       the video of that camera
    <trial>/OpenSimData/Kinematics/<trial>.mot                 GT joint angles (deg)
    <trial>/MarkerData/<trial>.trc                             GT markers (mm, OpenSim frame)
    odahgen_opencap.json                                       manifest

The camera pickle holds a dict as OpenCap stores it (format learnt from public code:
OpenCap's processing code and Pose2Sim's ``calib_toml_to_opencap`` converter):
``intrinsicMat`` (3, 3) px, ``distortion`` (1, 5) OpenCV ``k1, k2, p1, p2, k3`` of the camera's lens
(zeros for a pinhole camera), ``imageSize`` (2, 1) = [[height],
[width]] px, ``rotation`` (3, 3) world -> camera, ``translation`` (3, 1) in **mm**,
``rotation_EulerAngles`` (3, 1) the Rodrigues vector of ``rotation`` (named so by OpenCap).

World frame: OpenCap's extrinsics are in a checkerboard's frame; its pipeline triangulates
there (mm), then turns the points into OpenSim's frame by rotations chosen by
``checkerBoard.placement``: for ``backWall`` (board behind the subject, upright: the first
camera's ``rotation[1, 1] > 0``) 90 deg about y, then 180 deg about z. The extrinsics here
are given in that board frame, ``X_board = CHECKERBOARD_TO_OPENSIM.T @ X_opensim``, so that
this rotation brings OpenCap's output into OpenSim's frame, the GT's. Checked against our
reading of OpenCap's code (a test replays its triangulation and rotation), not by running
OpenCap.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.export.common import Progress, rotvec, trials_of, write_angles_mot
from odahgen.gt.schema import TrialGT
from odahgen.io import atomic_path, atomic_write_json, atomic_write_text
from odahgen.io.atomic import check_output_dir
from odahgen.io.mocap import MarkerData, write_trc

#: OpenCap's rotation of its triangulated points for ``checkerBoard.placement: backWall``
#: (scipy ``from_euler("y", 90)`` then ``from_euler("z", 180)``): X_opensim = M @ X_board
CHECKERBOARD_TO_OPENSIM = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]])


def camera_pickle(gt: TrialGT, view: str) -> dict[str, np.ndarray]:
    """The ``cameraIntrinsicsExtrinsics.pickle`` dict of one view (see the module doc)."""
    cam = gt.cameras[view]
    R = np.asarray(cam.R, float) @ CHECKERBOARD_TO_OPENSIM  # board frame -> camera
    return {
        "intrinsicMat": np.asarray(cam.K, float),
        "distortion": (np.zeros(5) if cam.distortion is None else np.asarray(cam.distortion, float)).reshape(1, 5),
        "imageSize": np.array([[float(cam.resolution[1])], [float(cam.resolution[0])]]),
        "rotation": R,
        "translation": np.asarray(cam.t, float).reshape(3, 1) * 1000.0,
        "rotation_EulerAngles": rotvec(R).reshape(3, 1),
    }


def subject_size(gt: TrialGT, trial_dir: Path) -> tuple[float, float]:
    """(height m, mass kg) for OpenCap's metadata: the height as odahgen's scaling estimates
    it (vertical extent of markers and keypoints + 0.1 m, here the largest over frames), the
    mass of the trial's scaled model (sum of its body masses; else 22 kg/m^2 x height^2)."""
    import xml.etree.ElementTree as ET

    pts = [np.asarray(gt.keypoints_3d, float)]
    if gt.markers is not None:
        pts.append(np.asarray(gt.markers.positions, float))
    ys = np.concatenate(pts, axis=1)[..., 1]
    height = float(np.nanmax(np.nanmax(ys, axis=1) - np.nanmin(ys, axis=1)) + 0.1)
    mass = 22.0 * height**2
    model = trial_dir / gt.model_file if gt.model_file else None
    if model is not None and model.is_file():
        try:
            masses = [float(b.find("mass").text) for b in ET.parse(model).getroot().iter("Body")
                      if b.find("mass") is not None]
            mass = sum(masses) or mass
        except (ET.ParseError, ValueError, TypeError):
            pass
    return round(height, 3), round(mass, 2)


def _metadata(gt: TrialGT, cams: dict[str, str], trial_dir: Path) -> str:
    import yaml

    height, mass = subject_size(gt, trial_dir)
    meta = {
        "subjectID": gt.meta.subject,
        "mass_kg": mass,
        "height_m": height,
        "openSimModel": "LaiUhlrich2022",
        # the board only places the world frame here (the camera pickles exist, so OpenCap
        # does not calibrate); its size keys are read by OpenCap's code before loading them
        "checkerBoard": {"placement": "backWall", "black2BlackCornersWidth_n": 4,
                         "black2BlackCornersHeight_n": 5, "squareSideLength_mm": 35},
        "iphoneModel": {c: "odahgen-virtual-pinhole" for c in cams},
        "markerAugmentationSettings": {"markerAugmenterModel": "LSTM"},
        "odahgen": {"trial": gt.meta.trial, "subject": gt.meta.subject, "fps": float(gt.meta.fps),
                    "cameras": dict(cams),
                    "note": "synthetic; extrinsics in a back-wall board frame (see odahgen docs/export.md)"},
    }
    return yaml.safe_dump(meta, sort_keys=False)


def export_opencap(dataset: str | Path, out: str | Path, include_failed: bool = False,
                   progress: Progress = None) -> dict[str, Any]:
    """Write one OpenCap-style session per trial under ``out`` (see the module docstring);
    returns the manifest."""
    out = check_output_dir(out)
    trials, skipped = trials_of(Path(dataset), include_failed)
    manifest: dict[str, Any] = {"format": "OpenCap session layout; translation in mm; world = a back-wall "
                                "checkerboard frame (X_opensim = CHECKERBOARD_TO_OPENSIM @ X_board)",
                                "trials": {}, "skipped": skipped}
    for i, (path, gt) in enumerate(trials):
        if progress:
            progress(i, len(trials), gt.meta.trial)
        trial = gt.meta.trial
        root = out / trial
        cams = {f"Cam{k}": view for k, view in enumerate(sorted(gt.cameras))}
        files = []
        for cam, view in cams.items():
            cdir = root / "Videos" / cam
            with atomic_path(cdir / "cameraIntrinsicsExtrinsics.pickle") as tmp:
                with open(tmp, "wb") as fh:
                    pickle.dump(camera_pickle(gt, view), fh)
            src = path.parent / gt.videos[view].path
            if not src.is_file():
                raise OdahgenError(f"{src}: no such video")
            with atomic_path(cdir / "InputMedia" / trial / f"{trial}.mp4") as tmp:
                shutil.copyfile(src, tmp)
            files += [f"Videos/{cam}/cameraIntrinsicsExtrinsics.pickle", f"Videos/{cam}/InputMedia/{trial}/{trial}.mp4"]
        atomic_write_text(root / "sessionMetadata.yaml", _metadata(gt, cams, path.parent))
        write_angles_mot(root / "OpenSimData" / "Kinematics" / f"{trial}.mot", gt)
        files += ["sessionMetadata.yaml", f"OpenSimData/Kinematics/{trial}.mot"]
        if gt.markers is not None:
            times = np.arange(gt.n_frames) / gt.meta.fps
            write_trc(root / "MarkerData" / f"{trial}.trc",
                      MarkerData(list(gt.markers.names), gt.markers.positions, gt.meta.fps, times), units="mm")
            files.append(f"MarkerData/{trial}.trc")
        manifest["trials"][trial] = {"cameras": cams, "files": files}
    if progress:
        progress(len(trials), len(trials), "")
    atomic_write_json(out / "odahgen_opencap.json", manifest)
    return manifest
