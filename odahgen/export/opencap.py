"""``odahgen export opencap DATASET -o DIR``: one OpenCap session folder per trial (OpenCap
keeps one set of camera parameters per session, and each trial here has its own cameras).

Layout under DIR (as OpenCap's processing code reads a session)::

    <trial>/sessionMetadata.yaml                               subject mass/height, cameras
    <trial>/Videos/Cam<i>/cameraIntrinsicsExtrinsics.pickle    one per camera (views sorted)
    <trial>/Videos/Cam<i>/InputMedia/<trial>/<trial>.mp4       the video of that camera
    <trial>/OpenSimData/Kinematics/<trial>.mot                 GT joint angles (deg)
    <trial>/MarkerData/<trial>.trc                             GT markers (mm, OpenSim frame)
    odahgen_opencap.json                                       manifest

The camera pickle holds a dict as OpenCap stores it (format learnt from public code, e.g.
Pose2Sim's ``calib_toml_to_opencap`` converter): ``intrinsicMat`` (3, 3) px,
``distortion`` (1, 5) zeros, ``imageSize`` (2, 1) = [[height], [width]] px, ``rotation``
(3, 3) world -> camera, ``translation`` (3, 1) in **mm**, ``rotation_EulerAngles`` (3, 1)
the Rodrigues vector of ``rotation`` (named so by OpenCap).

Not verified: the world frame. OpenCap's extrinsics come from a checkerboard, and its
pipeline turns its triangulated points into OpenSim's frame with a rotation chosen by
``checkerBoard.placement`` in ``sessionMetadata.yaml``; here the extrinsics are in
OpenSim's ground frame itself, so positions OpenCap reconstructs may come out rotated by that
placement rotation. Joint angles (all but the pelvis orientation and translation) do not
depend on it.
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


def camera_pickle(gt: TrialGT, view: str) -> dict[str, np.ndarray]:
    """The ``cameraIntrinsicsExtrinsics.pickle`` dict of one view (see the module doc)."""
    cam = gt.cameras[view]
    R = np.asarray(cam.R, float)
    return {
        "intrinsicMat": np.asarray(cam.K, float),
        "distortion": np.zeros((1, 5)),
        "imageSize": np.array([[float(cam.resolution[1])], [float(cam.resolution[0])]]),
        "rotation": R,
        "translation": np.asarray(cam.t, float).reshape(3, 1) * 1000.0,
        "rotation_EulerAngles": rotvec(R).reshape(3, 1),
    }


def _metadata(gt: TrialGT, cams: dict[str, str]) -> str:
    import yaml

    meta = {
        "odahgen": {"trial": gt.meta.trial, "subject": gt.meta.subject,
                    "note": "camera extrinsics are in OpenSim's ground frame, not a checkerboard's"},
        "subjectID": gt.meta.subject,
        "openSimModel": "odahgen scaled model (trial folder: scaled.osim)",
        "iphoneModel": {c: "odahgen-virtual-pinhole" for c in cams},
        "cameras": {c: view for c, view in cams.items()},
        "fps": float(gt.meta.fps),
    }
    return yaml.safe_dump(meta, sort_keys=False)


def export_opencap(dataset: str | Path, out: str | Path, include_failed: bool = False,
                   progress: Progress = None) -> dict[str, Any]:
    """Write one OpenCap-style session per trial under ``out`` (see the module docstring);
    returns the manifest."""
    out = check_output_dir(out)
    trials, skipped = trials_of(Path(dataset), include_failed)
    manifest: dict[str, Any] = {"format": "OpenCap session layout; translation in mm; world = OpenSim ground",
                                "verified_frame": False, "trials": {}, "skipped": skipped}
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
        atomic_write_text(root / "sessionMetadata.yaml", _metadata(gt, cams))
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
