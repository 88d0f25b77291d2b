"""Assemble one trial's ground truth from the pipeline's intermediate results.

Inputs are plain arrays and dicts (what the skeleton, fit, scene and render stages wrote), so
this module knows nothing of the trial folder's file names beyond the video paths it records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from odahgen.gt.masks import PackedMasks
from odahgen.gt.schema import BodyFit, Camera, Markers, TrialGT, TrialMeta, Video
from odahgen.gt.schema_dense import JOINT_TOL_M, CocoKeypoints, mask_bboxes, point_tolerances
from odahgen.scene.cameras import project


def inside_mask(px: np.ndarray, masks) -> np.ndarray:
    """(T, K) bool: the 2D keypoint ``px`` (T, K, 2) px falls on a mask pixel of its frame
    (``masks`` (T', H, W) bool or :class:`~odahgen.gt.masks.PackedMasks`; frames past T'
    count as outside)."""
    T, H, W = masks.shape[0], masks.shape[1], masks.shape[2]
    n = min(T, px.shape[0])
    out = np.zeros(px.shape[:2], bool)
    uv = np.nan_to_num(np.round(px[:n]), nan=-1).astype(int)
    ok = (uv[..., 0] >= 0) & (uv[..., 0] < W) & (uv[..., 1] >= 0) & (uv[..., 1] < H)
    t_idx = np.repeat(np.arange(n)[:, None], px.shape[1], axis=1)
    if isinstance(masks, PackedMasks):
        out[:n][ok] = masks.lookup(t_idx[ok], uv[..., 1][ok], uv[..., 0][ok])
    else:
        out[:n][ok] = masks[t_idx[ok], uv[..., 1][ok], uv[..., 0][ok]]
    return out


def mesh_coco_keypoints(body, vertices: np.ndarray) -> CocoKeypoints:
    """The COCO keypoints (17 + 6 foot) of ``body`` (an anny or smplx body model) posed as
    ``vertices (T, V, 3)`` m, via :func:`odahgen.body.coco.coco_regressor`."""
    from odahgen.body.coco import COCO_NAMES, coco_keypoints, coco_regressor

    return CocoKeypoints(names=list(COCO_NAMES), source=f"{body.name} mesh (odahgen.body.coco)",
                         positions=coco_keypoints(coco_regressor(body), vertices))


def build_trial_gt(meta: TrialMeta, skeleton: dict, fitted: dict, body_model: str, scene: dict,
                   render: dict, visibility, masks, video_fps: float, render_dir: str = "render",
                   model_file: str = "scaled.osim", coco: CocoKeypoints | None = None) -> TrialGT:
    """The trial's :class:`TrialGT`.

    Args:
        meta: the trial's identity, seeds, fps and versions.
        skeleton: ``skeleton.npz`` arrays: angles (T, 39), keypoints (T, 44, 3) m, markers
            (T, M, 3) m + marker_names, ik_rms/ik_max (T,) m, flagged (T,), segment_scales
            (22, 3), coordinate_ranges (39, 2).
        fitted: ``body.npz`` arrays: shape, pose (T, P), trans (T, 3), joint/marker_err_mm (T,).
        body_model: the body model's name (``anny``, ``smplx``).
        scene: the sampled scene (its ``cameras`` are the GT cameras).
        render: the render stage's ``render.json`` (videos, frames, masks, video_info).
        visibility: ``visibility(camera, points (T, N, 3) m, tol_m (N,) m) -> (T, N) bool``,
            the depth test (called once per camera with the keypoints, markers and COCO
            keypoints together).
        masks: ``masks(file name) -> (T, H, W) bool`` person masks of a view, or a
            :class:`~odahgen.gt.masks.PackedMasks`.
        video_fps: the videos' frame rate where render.json does not give it.
        coco: COCO keypoints on the body mesh (T, K, 3) m, or None.

    Per camera (schema 1.1): the markers' and COCO keypoints' projections and visibility,
    and the person's bounding box per frame from the mask.
    """
    kp3 = skeleton["keypoints"]
    names = [str(x) for x in skeleton["marker_names"]]
    groups = [("keypoints", kp3, np.full(kp3.shape[1], JOINT_TOL_M)),
              ("markers", skeleton["markers"], point_tolerances(names, "marker"))]
    if coco is not None:
        groups.append(("coco", coco.positions, point_tolerances(coco.names, "coco")))
    points = np.concatenate([g[1] for g in groups], axis=1)
    tols = np.concatenate([g[2] for g in groups])
    cameras, videos = {}, {}
    for cam in scene["cameras"]:
        view = cam["name"]
        px, _ = project(cam, points)
        vis = np.asarray(visibility(cam, points, tols), bool)
        split = {}
        start = 0
        for name, arr, _ in groups:
            split[name] = (px[:, start:start + arr.shape[1]], vis[:, start:start + arr.shape[1]])
            start += arr.shape[1]
        mask_file = render.get("masks", {}).get(view)
        mask = masks(Path(mask_file).name) if mask_file else None
        in_mask = inside_mask(split["keypoints"][0], mask) if mask is not None else None
        bbox = None
        if mask is not None:
            bbox = np.full((kp3.shape[0], 4), np.nan)
            n = min(len(bbox), mask.shape[0])
            bbox[:n] = mask.bboxes()[:n] if isinstance(mask, PackedMasks) else mask_bboxes(mask[:n])
        cameras[view] = Camera(K=np.asarray(cam["K"]), R=np.asarray(cam["R"]),
                               t=np.asarray(cam["t"]), resolution=(cam["width"], cam["height"]),
                               focal_mm=cam["focal_mm"], sensor_width_mm=cam["sensor_width_mm"],
                               keypoints_2d=split["keypoints"][0], visibility=split["keypoints"][1],
                               keypoints_in_mask=in_mask,
                               markers_2d=split["markers"][0], markers_visibility=split["markers"][1],
                               coco_2d=split["coco"][0] if coco is not None else None,
                               coco_visibility=split["coco"][1] if coco is not None else None,
                               bbox=bbox, distortion=np.asarray(cam["distortion"], float)
                               if cam.get("distortion") is not None else None)
        info = render.get("video_info", {}).get(view, {})
        videos[view] = Video(path=f"{render_dir}/{Path(render['videos'][view]).name}",
                             codec=info.get("codec", "h264"), n_frames=int(render["frames"][view]),
                             fps=float(info.get("fps", video_fps)),
                             mask_path=f"{render_dir}/{Path(mask_file).name}" if mask_file else "")
    return TrialGT(
        meta=meta, joint_angles=skeleton["angles"], segment_scales=skeleton["segment_scales"],
        keypoints_3d=kp3, coordinate_ranges=skeleton["coordinate_ranges"],
        markers=Markers(names=names, positions=skeleton["markers"],
                        ik_rms=skeleton["ik_rms"], ik_max=skeleton["ik_max"], flagged=skeleton["flagged"]),
        body=BodyFit(model=body_model, shape=fitted["shape"], pose=fitted["pose"], trans=fitted["trans"],
                     fit_joint_err=fitted["joint_err_mm"] / 1000.0,
                     fit_marker_err=fitted["marker_err_mm"] / 1000.0),
        cameras=cameras, scene=scene, videos=videos, model_file=model_file, coco=coco)
