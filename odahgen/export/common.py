"""What the exports share: choosing trials, the dense keypoint sets (COCO-17 + anatomical
markers), COCO visibility flags, lazy frame decoding, rotation vectors and OpenSim tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.gt.dataset import check_dataset, trial_files
from odahgen.gt.schema import TrialGT, load_trial
from odahgen.io.mocap import write_mot
from odahgen.skeleton.names import COORDINATE_NAMES, TRANSLATIONAL_COORDINATES

Progress = Callable[[int, int, str], None] | None

#: the 17 COCO keypoints (names as in COCO's person category)
COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle")
#: COCO's person skeleton (1-based keypoint index pairs)
COCO17_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
                   [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]

#: SynthPose / OpenCapBench's 35 anatomical markers in its order, each with its source here:
#: ``"marker:<GT marker>"``, ``"coco:<GT COCO keypoint>"`` or None (not on odahgen's marker set)
OPENCAP_MARKERS: tuple[tuple[str, str | None], ...] = (
    ("sternum", "marker:STRN"), ("rshoulder", "marker:RACR"), ("lshoulder", "marker:LACR"),
    ("r_lelbow", "marker:RLEL"), ("l_lelbow", "marker:LLEL"), ("r_melbow", "marker:RMEL"),
    ("l_melbow", "marker:LMEL"), ("r_lwrist", "marker:RRSP"), ("l_lwrist", "marker:LRSP"),
    ("r_mwrist", "marker:RUSP"), ("l_mwrist", "marker:LUSP"), ("r_ASIS", "marker:RASI"),
    ("l_ASIS", "marker:LASI"), ("r_PSIS", "marker:RPSI"), ("l_PSIS", "marker:LPSI"),
    ("r_knee", "marker:RLFC"), ("l_knee", "marker:LLFC"), ("r_mknee", "marker:RMFC"),
    ("l_mknee", "marker:LMFC"), ("r_ankle", "marker:RLMAL"), ("l_ankle", "marker:LLMAL"),
    ("r_mankle", "marker:RMMAL"), ("l_mankle", "marker:LMMAL"), ("r_5meta", "marker:RMT5"),
    ("l_5meta", "marker:LMT5"), ("r_toe", "marker:RTOE"), ("l_toe", "marker:LTOE"),
    ("r_big_toe", "coco:right_big_toe"), ("l_big_toe", "coco:left_big_toe"), ("l_calc", "marker:LCAL"),
    ("r_calc", "marker:RCAL"), ("C7", "marker:C7"), ("L2", None), ("T11", None), ("T6", None),
)
MARKER_SETS = ("opencap", "all")


def keypoint_spec(gt: TrialGT, markers: str) -> list[tuple[str, str | None]]:
    """``[(name, source)]`` of the exported keypoints: COCO-17, then ``markers``
    (``opencap``: :data:`OPENCAP_MARKERS`, 52 in all; ``all``: every GT marker by its name)."""
    spec: list[tuple[str, str | None]] = [(n, f"coco:{n}") for n in COCO17]
    if markers == "opencap":
        return spec + list(OPENCAP_MARKERS)
    if markers == "all":
        return spec + [(n, f"marker:{n}") for n in (gt.markers.names if gt.markers else [])]
    raise OdahgenError(f"unknown marker set {markers!r} (choose {', '.join(MARKER_SETS)})")


def require_dense(gt: TrialGT, path: Path) -> None:
    """OdahgenError (naming the file) when a trial lacks the schema 1.1 dense 2D fields."""
    if gt.coco is None or any(c.coco_2d is None or c.markers_2d is None for c in gt.cameras.values()):
        raise OdahgenError(f"{path}: no COCO keypoints / 2D markers (a schema 1.0 file?); "
                           "re-run its gt stage with this odahgen (odahgen run DATASET)")


def dense_view(gt: TrialGT, view: str, spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xy (T, K, 2) px, visible (T, K) bool, present (T, K) bool)`` of the keypoints of
    ``spec`` in ``view``; ``present`` is False where the source does not exist."""
    cam = gt.cameras[view]
    T = gt.n_frames
    xy = np.zeros((T, len(spec), 2))
    vis = np.zeros((T, len(spec)), bool)
    present = np.zeros((T, len(spec)), bool)
    coco_idx = {n: i for i, n in enumerate(gt.coco.names)} if gt.coco else {}
    marker_idx = {n: i for i, n in enumerate(gt.markers.names)} if gt.markers else {}
    for k, (_, source) in enumerate(spec):
        kind, _, name = (source or "").partition(":")
        if kind == "coco" and name in coco_idx:
            i = coco_idx[name]
            xy[:, k], vis[:, k] = cam.coco_2d[:, i], cam.coco_visibility[:, i]
        elif kind == "marker" and name in marker_idx:
            i = marker_idx[name]
            xy[:, k], vis[:, k] = cam.markers_2d[:, i], cam.markers_visibility[:, i]
        else:
            continue
        present[:, k] = True
    return xy, vis, present


def coco_flags(xy: np.ndarray, visible: np.ndarray, present: np.ndarray, size) -> np.ndarray:
    """COCO visibility ``(..., K)`` int: 0 = not in the image (or no such point), 1 = in the
    image but hidden (depth test), 2 = visible. ``size`` = (width, height) px."""
    w, h = size
    finite = np.isfinite(xy).all(axis=-1)
    x, y = np.nan_to_num(xy[..., 0], nan=-1.0), np.nan_to_num(xy[..., 1], nan=-1.0)
    inside = present & finite & (x >= 0) & (y >= 0) & (x < w) & (y < h)
    return np.where(inside & visible, 2, np.where(inside, 1, 0)).astype(np.int64)


def iter_frames(path: Path, every: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, (H, W, 3) uint8)`` of every ``every``-th frame of a video, decoded lazily."""
    import imageio_ffmpeg

    if not path.is_file():
        raise OdahgenError(f"{path}: no such video")
    try:
        gen = imageio_ffmpeg.read_frames(str(path))
        meta = next(gen)
        w, h = meta["size"]
        for i, raw in enumerate(gen):
            if i % every == 0:
                yield i, np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
    except OdahgenError:
        raise
    except Exception as err:
        raise OdahgenError(f"{path}: cannot decode video ({' '.join(str(err).split())[:200]})") from None


def trials_of(dataset: Path, include_failed: bool = False, progress: Progress = None
              ) -> tuple[list[tuple[Path, TrialGT]], list[dict[str, str]]]:
    """The dataset's trials that pass QA (all with ``include_failed``) and the skipped ones."""
    dataset = check_dataset(dataset)
    keep, skipped = [], []
    files = trial_files(dataset)
    for i, path in enumerate(files):
        if progress:
            progress(i, len(files), path.parent.name)
        gt = load_trial(path)
        if not include_failed and not (gt.qa and gt.qa.passed):
            skipped.append({"trial": gt.meta.trial, "reason": "fails QA" if gt.qa else "no QA result"})
            continue
        keep.append((path, gt))
    if not keep:
        raise OdahgenError(f"{dataset}: no trial to export ({len(skipped)} skipped: fail QA or no verdict)")
    return keep, skipped


def split_trials(dataset: Path) -> dict[str, list[str]]:
    """``{split: [trial]}`` of ``DATASET/splits.json`` (trials failing QA are in no split)."""
    path = Path(dataset) / "splits.json"
    if not path.is_file():
        raise OdahgenError(f"{path}: no splits file (run `odahgen validate {dataset} --finalize`)")
    try:
        splits = json.loads(path.read_text(encoding="utf-8"))["trials"]
    except (ValueError, KeyError, TypeError) as err:
        raise OdahgenError(f"{path}: not an odahgen splits file ({type(err).__name__}: {err})") from None
    return {str(k): [str(t) for t in v] for k, v in splits.items()}


def rotvec(R: np.ndarray) -> np.ndarray:
    """(3,) rotation vector (Rodrigues, rad) of a rotation matrix (3, 3)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(np.asarray(R, float)).as_rotvec()


def rotmat(v) -> np.ndarray:
    """(3, 3) rotation matrix of a rotation vector (3,) rad."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(np.asarray(v, float).ravel()).as_matrix()


def write_angles_mot(path: Path, gt: TrialGT) -> Path:
    """The GT joint angles as OpenSim writes IK results: time + the 39 coordinates,
    rotations in degrees (``inDegrees=yes``), translations in m."""
    angles = np.asarray(gt.joint_angles, float).copy()
    rot = np.array([c not in TRANSLATIONAL_COORDINATES for c in COORDINATE_NAMES])
    angles[:, rot] = np.degrees(angles[:, rot])
    times = np.arange(gt.n_frames) / gt.meta.fps
    return write_mot(path, list(COORDINATE_NAMES), times, angles, in_degrees=True, title=gt.meta.trial)
