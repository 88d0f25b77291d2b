"""End to end through the real pipeline (procedural walk, anny, Blender, gt stage): the trial
carries the schema 1.1 fields, and the COCO, Pose2Sim and OpenCap exports and the PyTorch
dataset work on it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.blender]


def test_real_trial_dense_gt_and_exports(tmp_path, blender_python):
    from pycocotools.coco import COCO

    from odahgen.export import export_coco, export_opencap, export_pose2sim
    from odahgen.export.pose2sim import pose2sim_to_opensim, read_calib, triangulate
    from odahgen.gt import load_trial
    from odahgen.torch import TrialDataset

    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "odahgen.cli", "demo", "-o", str(out), "--set", "dataset.subjects=1",
           "--set", "motion.motions=['walk_normal']", "--set", "render.width=160", "--set", "render.height=128"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (trial,) = sorted((out / "trials").iterdir())
    gt = load_trial(trial / "trial.h5")
    T, M = gt.n_frames, len(gt.markers.names)
    assert gt.coco.positions.shape == (T, 23, 3)
    for view, cam in gt.cameras.items():
        assert cam.markers_2d.shape == (T, M, 2) and cam.coco_2d.shape == (T, 23, 2)
        assert np.isfinite(cam.bbox).all() and (cam.bbox[:, 2:] > 5).all()
    # the side camera sees one side: some markers hidden (the far side), most of the near ones seen
    side = gt.cameras["side"].markers_visibility
    assert 0.2 < side.mean() < 0.8
    # the front camera does not see the back of the pelvis, and sees its front
    front, names = gt.cameras["front"].markers_visibility, gt.markers.names
    assert front[:, names.index("RPSI")].mean() < 0.2 and front[:, names.index("RASI")].mean() > 0.8

    m = export_coco(out, tmp_path / "coco", every=6)
    coco = COCO(str(tmp_path / "coco" / "annotations" / "person_keypoints_train.json"))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 2 * -(-T // 6) and m["splits"]["train"]["trials"] == [trial.name]
    flags = np.array([np.reshape(a["keypoints"], (-1, 3))[:, 2] for a in anns])
    assert (flags == 1).any() and (flags == 2).mean() > 0.4  # true occlusion is labelled
    for a in anns:
        k = np.reshape(a["keypoints"], (-1, 3))
        x, y, w, h = a["bbox"]
        on = k[:, 2] > 0
        assert np.all((k[on, 0] >= x - 1e-6) & (k[on, 0] <= x + w + 1e-6) & (k[on, 1] >= y - 1e-6)
                      & (k[on, 1] <= y + h + 1e-6))

    p2s = export_pose2sim(out, tmp_path / "p2s")
    info = p2s["trials"][trial.name]
    cal = read_calib(tmp_path / "p2s" / trial.name / "calibration" / "Calib.toml")
    names_c = sorted(cal)
    X = triangulate([cal[n] for n in names_c], [gt.cameras[info["cameras"][n]].coco_2d for n in names_c])
    assert np.nanmax(np.linalg.norm(pose2sim_to_opensim(X) - gt.coco.positions, axis=-1)) < 1e-6
    assert export_opencap(out, tmp_path / "opencap")["trials"]
    ds = TrialDataset(out, split="train", clip_len=32)
    item = ds[0]
    assert tuple(item["frames"].shape) == (2, 32, 3, 128, 160)
    assert json.loads((tmp_path / "coco" / "odahgen_coco.json").read_text())["markers"] == "opencap"
