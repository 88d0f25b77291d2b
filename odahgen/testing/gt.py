"""Small, self-consistent synthetic trials and datasets (tests, benchmarks, docs), formerly
``odahgen.gt.synthetic``.

Nothing here runs OpenSim or Blender: keypoints are a stick figure that sways and walks,
cameras look at it, 2D keypoints are exact projections and the videos (tiny MP4s) show
the projected keypoints as white squares on grey. The arrays are consistent with each
other, so the validator passes on them unless a test corrupts something.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from odahgen.body.coco import COCO_NAMES
from odahgen.io import stable_hash
from odahgen.gt.schema import (
    N_BODIES,
    N_COORDS,
    N_KEYPOINTS,
    ROTATIONAL,
    BodyFit,
    Camera,
    CocoKeypoints,
    Markers,
    TrialGT,
    TrialMeta,
    Video,
    project_points,
)

#: names of the synthetic trials' 8 markers (anatomical names, so that exports map them)
SYNTHETIC_MARKERS = ("STRN", "RACR", "LACR", "RASI", "LASI", "RLEL", "LLEL", "C7")


#: Generous joint ranges used by synthetic trials: (39, 2), rad / m.
SYNTHETIC_RANGES = np.where(ROTATIONAL[:, None], np.array([-1.5, 1.5]), np.array([-10.0, 10.0]))


def look_at_camera(
    position, target, resolution=(64, 48), focal_mm: float = 33.0, sensor_width_mm: float = 36.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K (3,3) px, R (3,3), t (3,) m) of a pinhole camera at ``position`` (m, world Y up)
    looking at ``target``, horizontal sensor fit, principal point at the image centre."""
    position = np.asarray(position, float)
    forward = np.asarray(target, float) - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    t = -R @ position
    width, height = resolution
    f_px = focal_mm / sensor_width_mm * width
    K = np.array([[f_px, 0.0, width / 2.0], [0.0, f_px, height / 2.0], [0.0, 0.0, 1.0]])
    return K, R, t


def stick_figure(T: int, fps: float = 60.0, seed: int = 0) -> np.ndarray:
    """(T, 44, 3) m: 44 points of a 1.8 m tall figure walking slowly along +X and swaying."""
    rng = np.random.default_rng(seed)
    base = np.column_stack(
        [rng.uniform(-0.15, 0.15, N_KEYPOINTS), rng.uniform(0.05, 1.75, N_KEYPOINTS), rng.uniform(-0.25, 0.25, N_KEYPOINTS)]
    )
    time = np.arange(T) / fps
    sway = 0.05 * np.sin(2 * np.pi * 1.0 * time)[:, None, None] * np.array([0.0, 0.0, 1.0])
    walk = (0.3 * time)[:, None, None] * np.array([1.0, 0.0, 0.0])
    swing = 0.1 * np.sin(2 * np.pi * 1.0 * time[:, None] + np.arange(N_KEYPOINTS)[None, :])[..., None] * np.array(
        [1.0, 0.0, 0.0]
    )
    return base[None] + sway + walk + swing


def render_dots(points_2d: np.ndarray, visibility: np.ndarray, resolution) -> np.ndarray:
    """(T, H, W, 3) uint8 frames: grey background, a 3x3 white square per visible keypoint."""
    width, height = resolution
    T = points_2d.shape[0]
    frames = np.full((T, height, width, 3), 60, np.uint8)
    for i in range(T):
        for (x, y), vis in zip(points_2d[i], visibility[i]):
            if not vis or not np.isfinite(x):
                continue
            xi, yi = int(round(x)), int(round(y))
            frames[i, max(0, yi - 1) : yi + 2, max(0, xi - 1) : xi + 2] = 255
    return frames


def write_video(path: str | Path, frames: np.ndarray, fps: float = 60.0) -> Path:
    """Write (T, H, W, 3) uint8 frames as an H.264 MP4 (imageio + ffmpeg)."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(
        path, format="FFMPEG", mode="I", fps=fps, codec="libx264", macro_block_size=16, ffmpeg_log_level="error"
    ) as writer:
        for frame in frames:
            writer.append_data(frame)
    return path


def synthetic_trial(
    trial: str,
    subject: str = "s01",
    motion: str = "walk",
    n_frames: int = 64,
    seed: int = 0,
    views: tuple[str, ...] = ("front", "side"),
    resolution: tuple[int, int] = (128, 96),
    shape_variant: float = 0.0,
    scene_sample: int = 0,
) -> TrialGT:
    """A consistent in-memory trial: T = ``n_frames``, two cameras ~4 m away, markers with
    small IK errors, a body fit with small residuals, QA not yet computed."""
    rng = np.random.default_rng(seed)
    motion_rng = np.random.default_rng(int(stable_hash([subject, motion], 12), 16))
    subject_rng = np.random.default_rng(int(stable_hash([subject], 12), 16))
    T = n_frames
    fps = 60.0
    phases = motion_rng.uniform(0, 6.28, N_COORDS)
    angles = 0.3 * np.sin(np.linspace(0, 2 * np.pi, T)[:, None] + phases[None, :])
    angles[:, 3:6] = np.column_stack([0.3 * np.arange(T) / fps, np.full(T, 0.95), np.zeros(T)])
    keypoints = stick_figure(T, fps, seed)
    centre = np.array([0.3 * (T / fps) / 2, 0.9, 0.0])
    positions = {"front": (4.0, 1.1, 0.0), "side": (0.0, 1.1, 4.0), "back": (-4.0, 1.1, 0.0)}
    cameras: dict[str, Camera] = {}
    videos: dict[str, Video] = {}
    for k, view in enumerate(views):
        pos = np.asarray(positions.get(view, (4.0 * np.cos(k), 1.1, 4.0 * np.sin(k)))) + [centre[0], 0, 0]
        K, R, t = look_at_camera(pos, centre, resolution)
        px, depth = project_points(K, R, t, keypoints)
        inside = (px[..., 0] >= 0) & (px[..., 0] < resolution[0]) & (px[..., 1] >= 0) & (px[..., 1] < resolution[1])
        vis = inside & (depth > 0)
        cameras[view] = Camera(K, R, t, tuple(resolution), 33.0, 36.0, px, vis, keypoints_in_mask=vis.copy())
        videos[view] = Video(path=f"{view}.mp4", codec="h264", n_frames=T, fps=fps, mask_path="")
    M = 8
    marker_pos = keypoints[:, :M] + rng.normal(0, 0.005, (T, M, 3))
    markers = Markers(
        names=list(SYNTHETIC_MARKERS),
        positions=marker_pos,
        ik_rms=np.full(T, 0.012) + rng.uniform(0, 0.002, T),
        ik_max=np.full(T, 0.03),
        flagged=np.zeros(T, bool),
    )
    body = BodyFit(
        model="anny",
        shape=rng.normal(0, 1, 10),
        pose=rng.normal(0, 0.1, (T, 6)),
        trans=keypoints[:, 0, :].copy(),
        fit_joint_err=np.full(T, 0.008),
        fit_marker_err=np.full(T, 0.01),
    )
    coco = CocoKeypoints(names=list(COCO_NAMES), positions=keypoints[:, 20:20 + len(COCO_NAMES)] + 0.01,
                         source="synthetic")
    for view, cam in cameras.items():
        add_dense_2d(cam, marker_pos, coco.positions)
    meta = TrialMeta(
        trial=trial,
        subject=subject,
        motion=motion,
        seed=seed,
        motion_source="synthetic",
        fps=fps,
        shape_variant=shape_variant,
        scene_sample=scene_sample,
        config_hash="0" * 16,
        versions={"odahgen": "test", "opensim": "none", "blender": "none"},
    )
    scales = 1.0 + 0.05 * subject_rng.standard_normal((N_BODIES, 3))
    scene = {"upper": "vest", "lower": "trousers", "texture": int(rng.integers(5)), "lights": 4}
    return TrialGT(
        meta=meta,
        joint_angles=angles,
        segment_scales=scales,
        keypoints_3d=keypoints,
        coordinate_ranges=SYNTHETIC_RANGES.copy(),
        markers=markers,
        body=body,
        cameras=cameras,
        scene=scene,
        videos=videos,
        coco=coco,
    )


def add_dense_2d(cam: Camera, markers: np.ndarray, coco: np.ndarray) -> None:
    """Fill a synthetic camera's schema 1.1 fields: projections of ``markers (T, M, 3)`` and
    ``coco (T, K, 3)`` m, visible where in the image and in front (no occlusion), and the
    bbox of the visible 2D keypoints (a stand-in for the person mask)."""
    w, h = cam.resolution
    for name, pts in (("markers", markers), ("coco", coco)):
        px, depth = project_points(cam.K, cam.R, cam.t, pts)
        ok = np.isfinite(px).all(-1) & (px[..., 0] >= 0) & (px[..., 0] < w) & (px[..., 1] >= 0) & (px[..., 1] < h)
        setattr(cam, f"{name}_2d", px)
        setattr(cam, f"{name}_visibility", ok & (depth > 0))
    bbox = np.full((len(cam.keypoints_2d), 4), np.nan)
    for f, (pts, vis) in enumerate(zip(cam.keypoints_2d, cam.visibility)):
        if vis.any():
            lo, hi = np.floor(pts[vis].min(0)), np.ceil(pts[vis].max(0))
            bbox[f] = (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
    cam.bbox = bbox


def write_trial_videos(trial_dir: str | Path, gt: TrialGT, n_frames: int | None = None) -> None:
    """Write each view's video (``gt.videos[view].path`` under ``trial_dir``); ``n_frames``
    overrides the frame count (to plant a missing frame)."""
    for view, cam in gt.cameras.items():
        frames = render_dots(cam.keypoints_2d, cam.visibility, cam.resolution)
        if n_frames is not None:
            frames = frames[:n_frames]
        write_video(Path(trial_dir) / gt.videos[view].path, frames, gt.meta.fps)


def make_dataset(
    root: str | Path,
    subjects: tuple[str, ...] = ("s01", "s02"),
    motions: tuple[str, ...] = ("walk",),
    n_frames: int = 64,
    qa_config=None,
    videos: bool = True,
    shape_variants: tuple[float, ...] = (0.0,),
) -> list[Path]:
    """Write a small synthetic dataset under ``root`` (trials/<trial>/trial.h5 + videos,
    QA computed with ``qa_config`` or the defaults). Trial ids ``<subject>_<motion>_b<k>``.
    Returns the trial files. Index/splits/card are not written (see finalize_dataset)."""
    from odahgen.config.models import QAConfig
    from odahgen.gt.dataset import TRIAL_FILE, trial_dir
    from odahgen.gt.qa import qa_trial
    from odahgen.gt.schema import write_trial

    qa_config = qa_config or QAConfig()
    paths = []
    seed = 0
    for subject in subjects:
        for motion in motions:
            for k, variant in enumerate(shape_variants):
                trial = f"{subject}_{motion}_b{k}"
                gt = synthetic_trial(trial, subject, motion, n_frames, seed=seed, shape_variant=variant)
                seed += 1
                gt.qa = qa_trial(gt, qa_config).record()
                tdir = trial_dir(root, trial)
                paths.append(write_trial(tdir / TRIAL_FILE, gt))
                if videos:
                    write_trial_videos(tdir, gt)
    return paths
