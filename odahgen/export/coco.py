"""``odahgen export coco DATASET -o DIR``: frames and COCO keypoint annotations for training
2D pose detectors on dense anatomical keypoints (SynthPose / OpenCapBench style).

Layout under DIR::

    images/<trial>/<view>_<frame:05d>.jpg     every N-th frame of each view (or .png)
    annotations/person_keypoints_<split>.json one COCO keypoints file per dataset split
    mmpose_metainfo.py                        the keypoint set for MMPose (names, swaps, sigmas)
    odahgen_coco.json                         manifest: keypoints and their sources, counts

Keypoints: COCO-17 (on the body mesh) then the anatomical markers (``opencap``: the 35 of
SynthPose in its order, 52 in all; ``all``: every GT marker). Visibility ``v``: 0 = outside
the image (or a marker this skeleton lacks; x = y = 0), 1 = in the image but hidden behind
the body (GT depth test), 2 = visible. ``bbox`` [x, y, w, h] px: the person mask's box
enlarged to hold every keypoint with v > 0, clipped to the image; ``area`` = w * h.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.export.common import (
    COCO17_SKELETON,
    Progress,
    coco_flags,
    dense_view,
    iter_frames,
    keypoint_spec,
    require_dense,
    split_trials,
)
from odahgen.gt.dataset import TRIAL_FILE, check_dataset, trial_dir
from odahgen.gt.schema import load_trial
from odahgen.io import atomic_path, atomic_write_json, atomic_write_text
from odahgen.io.atomic import check_output_dir

#: COCO's per-keypoint OKS sigmas of the 17 keypoints; anatomical markers get MARKER_SIGMA
COCO17_SIGMAS = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
                 0.107, 0.107, 0.087, 0.087, 0.089, 0.089)
MARKER_SIGMA = 0.035


def annotation_box(mask_box: np.ndarray, xy: np.ndarray, flags: np.ndarray, size) -> list[float] | None:
    """``[x, y, w, h]`` px holding the mask box ``(4,)`` (NaN = none) and every keypoint
    ``xy (K, 2)`` with flag > 0, clipped to the image; None when there is neither."""
    pts = xy[flags > 0]
    boxes = []
    if np.isfinite(mask_box).all():
        boxes.append([mask_box[0], mask_box[1], mask_box[0] + mask_box[2], mask_box[1] + mask_box[3]])
    if len(pts):
        boxes.append([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])
    if not boxes:
        return None
    b = np.asarray(boxes)
    w, h = size
    # to 0.01 px, outwards, so that the box holds the keypoints (written to 0.01 px too)
    x0, y0 = np.floor(100 * max(0.0, b[:, 0].min())) / 100, np.floor(100 * max(0.0, b[:, 1].min())) / 100
    x1, y1 = np.ceil(100 * min(float(w), b[:, 2].max())) / 100, np.ceil(100 * min(float(h), b[:, 3].max())) / 100
    return [float(x0), float(y0), round(float(x1 - x0), 2), round(float(y1 - y0), 2)]


def swap_name(name: str, names: set[str]) -> str:
    """The left/right counterpart of a keypoint name ("" if none): ``left_``/``right_``,
    ``l_``/``r_``, ``lshoulder``/``rshoulder``, and marker names ``L...``/``R...``."""
    for a, b in (("left_", "right_"), ("l_", "r_"), ("lshoulder", "rshoulder"), ("L", "R")):
        for x, y in ((a, b), (b, a)):
            if name.startswith(x) and y + name[len(x):] in names:
                return y + name[len(x):]
    return ""


def mmpose_metainfo(names: list[str], skeleton: list[list[int]], dataset_name: str) -> str:
    """The text of an MMPose dataset metainfo file for the keypoint set ``names``."""
    name_set = set(names)
    lower = ("hip", "knee", "ankle", "toe", "calc", "heel", "meta", "ASIS", "PSIS", "L2", "T11")
    lines = [f"# MMPose metainfo written by odahgen for {len(names)} keypoints (odahgen export coco)",
             "dataset_info = dict(", f"    dataset_name={dataset_name!r},", "    keypoint_info={"]
    for i, n in enumerate(names):
        part = "lower" if any(s in n for s in lower) or n[1:4] in ("KNE", "ANK", "TOE", "CAL") else "upper"
        lines.append(f"        {i}: dict(name={n!r}, id={i}, color=[51, 153, 255], type={part!r}, "
                     f"swap={swap_name(n, name_set)!r}),")
    lines.append("    },")
    lines.append("    skeleton_info={")
    for i, (a, b) in enumerate(skeleton):
        lines.append(f"        {i}: dict(link=({names[a - 1]!r}, {names[b - 1]!r}), id={i}, color=[0, 255, 0]),")
    lines.append("    },")
    lines.append(f"    joint_weights={[1.0] * len(names)!r},")
    sigmas = list(COCO17_SIGMAS) + [MARKER_SIGMA] * (len(names) - len(COCO17_SIGMAS))
    lines.append(f"    sigmas={sigmas!r},")
    lines.append(")")
    return "\n".join(lines) + "\n"


def export_coco(dataset: str | Path, out: str | Path, every: int = 1, markers: str = "opencap",
                image_format: str = "jpg", progress: Progress = None) -> dict[str, Any]:
    """Export the split trials of a dataset as COCO keypoints (see the module docstring);
    returns the manifest. ``every``: keep every N-th frame; ``markers``: ``opencap`` or
    ``all``; ``image_format``: ``jpg`` (quality 95) or ``png``."""
    dataset = check_dataset(dataset)
    out = check_output_dir(out)
    if every < 1:
        raise OdahgenError(f"--every must be >= 1, got {every}")
    if image_format not in ("jpg", "png"):
        raise OdahgenError(f"unknown image format {image_format!r} (jpg, png)")
    splits = split_trials(dataset)
    todo = [(s, t) for s, trials in splits.items() for t in trials]
    if not todo:
        raise OdahgenError(f"{dataset / 'splits.json'}: no trial in any split")
    # read every trial first: a bad file stops the export before anything is written
    gts = {}
    for split, trial in todo:
        path = trial_dir(dataset, trial) / TRIAL_FILE
        gt = load_trial(path)
        require_dense(gt, path)
        gts[trial] = (path, gt)
    spec = keypoint_spec(gts[todo[0][1]][1], markers)
    names = [n for n, _ in spec]
    skeleton = COCO17_SKELETON
    files: dict[str, dict] = {s: {"images": [], "annotations": []} for s in splits}
    missing: dict[str, list[str]] = {}
    image_id = ann_id = 0
    for i, (split, trial) in enumerate(todo):
        if progress:
            progress(i, len(todo), trial)
        path, gt = gts[trial]
        trial_spec = keypoint_spec(gt, markers)
        if [n for n, _ in trial_spec] != names:
            raise OdahgenError(f"{path}: its markers differ from those of {todo[0][1]}; "
                               "--markers all needs one marker set across the dataset")
        for view in sorted(gt.cameras):
            cam = gt.cameras[view]
            size = tuple(int(v) for v in cam.resolution)
            xy, vis, present = dense_view(gt, view, trial_spec)
            flags = coco_flags(xy, vis, present, size)
            lacking = [n for k, (n, _) in enumerate(trial_spec) if not present[0, k]]
            if lacking:
                missing[trial] = lacking
            video = path.parent / gt.videos[view].path
            n_frames = 0
            for f, frame in iter_frames(video, every):
                if f >= gt.n_frames:
                    break
                n_frames += 1
                if frame.shape[:2] != (size[1], size[0]):
                    raise OdahgenError(f"{video}: frames are {frame.shape[1]} x {frame.shape[0]} px, the "
                                       f"ground truth's camera {view} is {size[0]} x {size[1]}")
                bbox = cam.bbox[f] if cam.bbox is not None else np.full(4, np.nan)
                box = annotation_box(bbox, xy[f], flags[f], size)
                if box is None:
                    continue
                image_id += 1
                ann_id += 1
                name = f"{trial}/{view}_{f:05d}.{image_format}"
                _save_image(out / "images" / name, frame, image_format)
                files[split]["images"].append({
                    "id": image_id, "file_name": name, "width": size[0], "height": size[1],
                    "frame_number": f, "trial": trial, "view": view, "subject": gt.meta.subject})
                kps = np.zeros((len(spec), 3))
                on = flags[f] > 0
                kps[on, :2] = np.round(xy[f][on], 2)
                kps[:, 2] = flags[f]
                files[split]["annotations"].append({
                    "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                    "bbox": box, "area": round(box[2] * box[3], 2),
                    "keypoints": [float(v) if j % 3 < 2 else int(v) for j, v in enumerate(kps.ravel())],
                    "num_keypoints": int(on.sum())})
            if n_frames != -(-gt.n_frames // every):
                raise OdahgenError(f"{video}: decoded {n_frames} frames at every {every}, "
                                   f"expected {-(-gt.n_frames // every)} (T = {gt.n_frames})")
    category = {"id": 1, "name": "person", "supercategory": "person", "keypoints": names,
                "skeleton": skeleton}
    for split, content in files.items():
        atomic_write_json(out / "annotations" / f"person_keypoints_{split}.json", {
            "info": {"description": f"odahgen export coco of {dataset.name}", "version": "1.0"},
            "licenses": [], "images": content["images"], "annotations": content["annotations"],
            "categories": [category]})
    atomic_write_text(out / "mmpose_metainfo.py", mmpose_metainfo(names, skeleton, f"odahgen_{markers}"))
    manifest = {
        "dataset": str(dataset), "every": every, "markers": markers, "image_format": image_format,
        "keypoints": [{"name": n, "source": s} for n, s in spec],
        "visibility": "0 = not in the image or not available, 1 = in the image but occluded, 2 = visible",
        "splits": {s: {"trials": splits[s], "images": len(c["images"]), "annotations": len(c["annotations"])}
                   for s, c in files.items()},
        "missing_keypoints": missing,
    }
    if progress:
        progress(len(todo), len(todo), "")
    atomic_write_json(out / "odahgen_coco.json", manifest)
    return manifest


def _save_image(path: Path, frame: np.ndarray, image_format: str) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        if image_format == "jpg":
            Image.fromarray(frame).save(tmp, format="JPEG", quality=95)
        else:
            Image.fromarray(frame).save(tmp, format="PNG", compress_level=4)
