"""The stage functions of one trial, wiring the stage packages' public APIs together.

Files in ``DATASET/trials/<trial>/`` (each written atomically by its stage):

=========  ==========================================================================
motion     ``motion.npz``: coordinates (T, 39) rad/m or markers (T, M, 3) m, times (T,), fps
skeleton   ``scaled.osim`` (the subject's model), ``skeleton.npz``: angles (T, 39),
           keypoints (T, 44, 3) m, markers (T, M, 3) m + names, ik_rms/ik_max (T,) m,
           flagged (T,), segment_scales (22, 3), body shape (S,)
fit        ``body.npz``: shape, pose (T, P), trans (T, 3), vertices (T, V, 3) float32 m,
           faces, joint/marker residuals (T,) mm
scene      ``scene.json`` (the sampled scene) and ``bundle/`` (the render bundle)
render     ``render/<view>.mp4``, ``render/masks_<view>.npz``, ``render/render.json``
gt         ``trial.h5`` (the ground truth, see docs/gt.md)
qa         ``qa.json`` (gates passed/failed with reasons; also stored in trial.h5 /qa)
=========  ==========================================================================
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from odahgen.config import Config
from odahgen.errors import OdahgenError
from odahgen.io import atomic_path, atomic_write_json
from odahgen.jobs.graph import Stage, TrialContext
from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES


def _save_npz(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def _load_npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


# ------------------------------------------------------------------------------- motion

def motion_stage(ctx: TrialContext) -> None:
    """Load the motion, fill gaps, resample to the output fps, keep the first clip."""
    from odahgen.motion import get_source
    from odahgen.motion.ops import prepare

    mc = ctx.config.motion
    options = {"path": mc.path} if mc.path else {}
    source = get_source(ctx.spec.motion_source, **options)
    motion = source.load(ctx.spec.motion, seed=ctx.spec.seed)
    clips = prepare(motion, fps=mc.fps, clip_seconds=mc.clip_seconds, min_frames=mc.min_frames,
                    max_gap_seconds=mc.max_gap_seconds)
    if not clips:
        raise OdahgenError(f"motion {ctx.spec.motion}: no clip of >= {mc.min_frames} frames "
                           f"at {mc.fps:g} fps")
    clip = clips[0]
    arrays = {"times": clip.times, "fps": np.float64(clip.fps), "kind": np.str_(clip.kind)}
    if clip.contact is not None:  # the feet's contact schedule, to plant them on the subject
        arrays["contact"] = clip.contact
        arrays["contact_mode"] = np.str_(clip.meta.get("contact_mode", "stance"))
        arrays["flight_velocity"] = np.bool_(clip.meta.get("flight_velocity", True))
        placement = clip.meta.get("placement")
        if isinstance(placement, dict):  # the generator's pelvis-placement options, as JSON text
            placement = dict(placement)
            if clip.meta.get("clip_start_s", 0.0) or clip.meta.get("trimmed_frames"):
                placement.pop("entry_velocity", None)  # it is the velocity at the motion's start
            arrays["placement"] = np.str_(json.dumps(placement, sort_keys=True))
    if clip.kind == "coordinates":
        names = list(clip.coordinate_names)
        values = np.full((clip.n_frames, len(COORDINATE_NAMES)), np.nan)
        for i, name in enumerate(COORDINATE_NAMES):
            if name in names:
                values[:, i] = clip.coordinates[:, names.index(name)]
        arrays["coordinates"] = values
    elif clip.kind == "markers":
        arrays["markers"] = clip.markers
        arrays["marker_names"] = np.array(clip.marker_names)
    else:
        raise OdahgenError(f"motion {ctx.spec.motion}: body-model parameter motions need the "
                           f"AMASS marker route, not available in this version")
    _save_npz(ctx.path("motion.npz"), **arrays)
    ctx.log.info("motion %s: %d frames at %g fps (%s)", ctx.spec.motion, clip.n_frames,
                 clip.fps, clip.kind)


# ----------------------------------------------------------------------------- skeleton

def _body_model(config: Config):
    from odahgen.body.base import load_body_model

    return load_body_model(config.body.model, model_dir=config.body.model_dir,
                           gender=config.body.gender)


def skeleton_stage(ctx: TrialContext) -> None:
    """Body shape of the subject's variant -> its virtual markers -> scaled model; then the
    GT angles (the motion's coordinates, or IK of its markers) -> FK keypoints."""
    import torch

    from odahgen.body.markers import load_layout, markers_from_vertices
    from odahgen.body.variants import subject_shape
    from odahgen.skeleton.fk import fk_tree, load_tree, segment_scales
    from odahgen.skeleton.ik import run_ik
    from odahgen.skeleton.scale import scale_subject, write_scaled_model
    from odahgen.io.mocap import MarkerData

    cfg = ctx.config
    body = _body_model(cfg)
    shape = subject_shape(body, ctx.spec.subject_seed, ctx.spec.bmi_delta)
    layout = load_layout(body)
    with torch.no_grad():
        rest = body.forward(torch.as_tensor(shape, dtype=torch.float32)[None],
                            torch.zeros(1, body.pose_dim), torch.zeros(1, 3))[0].numpy()
    names = [n for n in layout["markers"]]
    static_pos = markers_from_vertices(rest[None], layout, names)
    static = MarkerData(names=names, positions=np.repeat(static_pos, 10, axis=0).astype(np.float64),
                        fps=60.0, times=np.arange(10) / 60.0)
    generic = load_tree(cfg.skeleton.model)
    tree, scale = scale_subject(generic, static, source=f"{ctx.spec.subject} body",
                                measurements=False)  # exact virtual markers: fit them all
    model_path = ctx.path("scaled.osim")
    write_scaled_model(cfg.skeleton.model, model_path, tree, scale,
                       markers_xml=cfg.skeleton.markers or None, name=ctx.spec.subject)

    # Everything downstream uses the model as written, so the labels and the file agree
    # (OpenSim's scaling of the patellofemoral coupling differs slightly from the fit's).
    tree = load_tree(model_path)
    scales = segment_scales(model_path)  # (22, 3), BODY_NAMES order, as the .osim carries them
    motion = _load_npz(ctx.path("motion.npz"))
    T = len(motion["times"])
    if "coordinates" in motion:
        angles = motion["coordinates"].copy()
        if "contact" in motion and len(motion["contact"]) == T and np.isfinite(angles).all():
            # a motion made on the generic model with a contact schedule (procedural): solve
            # its pelvis translation again from the subject's own feet (scaled segments) so
            # the planted feet stay fixed on this skeleton
            from odahgen.motion.procedural import replant

            # older motion.npz files have no placement: replant's defaults
            placement = json.loads(str(motion["placement"])) if "placement" in motion else None
            angles = replant(angles, float(motion["fps"]), motion["contact"], str(motion["contact_mode"]),
                             bool(motion["flight_velocity"]), scales, placement)
        else:  # no (matching) schedule: scale the pelvis path by the subject's mean leg scale
            leg = float(np.mean(scales[[BODY_NAMES.index(b) for b in
                                        ("femur_r", "tibia_r", "femur_l", "tibia_l")], 1]))
            for c in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):
                angles[:, COORDINATE_NAMES.index(c)] *= leg
        fk = fk_tree(tree, angles)
        ik_rms = np.zeros(T)
        ik_max = np.zeros(T)
        flagged = np.zeros(T, bool)
        exp_markers = fk.markers
    else:
        data = MarkerData(names=list(motion["marker_names"]), positions=motion["markers"],
                          fps=float(motion["fps"]), times=motion["times"])
        ik = run_ik(model_path, data, bony_flag_m=cfg.skeleton.bony_flag_m,
                    workers=cfg.skeleton.ik_workers)
        angles, ik_rms, ik_max, flagged = ik.angles, ik.marker_rms, ik.marker_max, ik.flagged
        fk = fk_tree(tree, angles)
        exp_markers = fk.markers
    _save_npz(ctx.path("skeleton.npz"), angles=angles, keypoints=fk.keypoints,
              markers=exp_markers, marker_names=np.array(fk.marker_names), ik_rms=ik_rms,
              ik_max=ik_max, flagged=flagged, segment_scales=scales,
              shape=np.asarray(shape, dtype=np.float64),
              coordinate_ranges=_coordinate_ranges(tree))
    ctx.log.info("skeleton: scaled to %.2f m / %.1f kg (static RMS %.1f mm)", scale.height_m,
                 scale.mass_kg, 1000 * scale.rms_m)


def _coordinate_ranges(tree) -> np.ndarray:
    out = np.full((len(COORDINATE_NAMES), 2), np.nan)
    for i, name in enumerate(COORDINATE_NAMES):
        if name in tree.coord_names:
            j = tree.coord_names.index(name)
            out[i] = tree.coord_range[j]
    return out


# ---------------------------------------------------------------------------------- fit

def fit_stage(ctx: TrialContext) -> None:
    """Fit the body's pose per frame to the skeleton's joint centres and markers."""
    from odahgen.body.fit import fit_sequence

    body = _body_model(ctx.config)
    sk = _load_npz(ctx.path("skeleton.npz"))
    res = fit_sequence(body, sk["keypoints"][:, :22], sk["markers"], list(sk["marker_names"]),
                       shape=sk["shape"], fit_shape=False,
                       iterations=ctx.config.body.fit_iterations)
    _save_npz(ctx.path("body.npz"), shape=res.shape, pose=res.pose, trans=res.trans,
              vertices=res.vertices.astype(np.float32), faces=np.asarray(body.faces),
              joint_err_mm=res.joint_err_mm, marker_err_mm=res.marker_err_mm)
    ctx.log.info("fit: %.1f mm joints, %.1f mm markers (mean), %.1f s",
                 float(np.mean(res.joint_err_mm)), float(np.mean(res.marker_err_mm)), res.seconds)


# -------------------------------------------------------------------------------- scene

def scene_stage(ctx: TrialContext) -> None:
    """Sample the scene (clothing, lights, cameras) and write the render bundle."""
    from odahgen.render.bundle import write_render_bundle
    from odahgen.scene.garments import dress, garment_regions
    from odahgen.scene.sample import sample_scene

    body = _body_model(ctx.config)
    fitted = _load_npz(ctx.path("body.npz"))
    vertices, faces = fitted["vertices"], fitted["faces"]
    scene = sample_scene(ctx.config, ctx.spec.trial, vertices)
    garments = dress(scene, vertices, faces, garment_regions(body))
    bundle = ctx.path("bundle")
    tmp = ctx.path(".bundle.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    write_render_bundle(tmp, vertices, faces, getattr(body, "uv", None), garments, scene,
                        ctx.config.render)
    if bundle.exists():
        shutil.rmtree(bundle)
    tmp.rename(bundle)
    atomic_write_json(ctx.path("scene.json"), scene)


# ------------------------------------------------------------------------------- render

def render_stage(ctx: TrialContext) -> None:
    """Render every view of the bundle in one Blender process."""
    from odahgen.render.stage import render_trial

    out = ctx.path("render")
    result = render_trial(ctx.path("bundle"), out, ctx.config.render,
                          on_line=lambda line: None)
    ctx.log.info("render: %s", {v: result["frames"][v] for v in result["frames"]})


# ----------------------------------------------------------------------------------- gt

def gt_stage(ctx: TrialContext) -> None:
    """Cameras, 2D keypoints with depth-tested visibility, and the trial's HDF5 file."""
    from odahgen import __version__
    from odahgen.config import config_hash
    from odahgen.gt.schema import BodyFit, Camera, Markers, TrialGT, TrialMeta, Video, write_trial
    from odahgen.scene.cameras import project
    from odahgen.render.stage import load_masks
    from odahgen.render.visibility import keypoint_visibility

    sk = _load_npz(ctx.path("skeleton.npz"))
    fitted = _load_npz(ctx.path("body.npz"))
    scene = json.loads(ctx.path("scene.json").read_text())
    render = json.loads((ctx.path("render") / "render.json").read_text())
    kp3 = sk["keypoints"]
    # the person as rendered: the body and the garment shells of the scene (they hide
    # keypoints near the depth tolerance and widen the silhouette by their offset)
    from odahgen.scene.garments import garment_regions, scene_meshes

    meshes = scene_meshes(scene, fitted["vertices"], fitted["faces"], garment_regions(_body_model(ctx.config)))
    cameras, videos = {}, {}
    for cam in scene["cameras"]:
        view = cam["name"]
        px, _ = project(cam, kp3)
        vis = keypoint_visibility(meshes, kp3, cam)
        in_mask = None
        mask_file = render.get("masks", {}).get(view)
        if mask_file:
            masks = load_masks(ctx.path("render") / Path(mask_file).name)
            in_mask = _inside_mask(px, masks)
        cameras[view] = Camera(K=np.asarray(cam["K"]), R=np.asarray(cam["R"]),
                               t=np.asarray(cam["t"]), resolution=(cam["width"], cam["height"]),
                               focal_mm=cam["focal_mm"], sensor_width_mm=cam["sensor_width_mm"],
                               keypoints_2d=px, visibility=vis, keypoints_in_mask=in_mask)
        info = render.get("video_info", {}).get(view, {})
        videos[view] = Video(path=f"render/{Path(render['videos'][view]).name}",
                             codec=info.get("codec", "h264"), n_frames=int(render["frames"][view]),
                             fps=float(info.get("fps", ctx.config.render.fps)),
                             mask_path=f"render/{Path(mask_file).name}" if mask_file else "")
    spec = ctx.spec
    versions = {"odahgen": __version__}
    try:
        import opensim

        versions["opensim"] = opensim.__version__
    except Exception:  # pragma: no cover - opensim is a core dependency
        pass
    if render.get("worker", {}).get("blender"):
        versions["blender"] = str(render["worker"]["blender"])
    gt = TrialGT(
        meta=TrialMeta(trial=spec.trial, subject=spec.subject, motion=spec.motion, seed=spec.seed,
                       motion_source=spec.motion_source, fps=ctx.config.motion.fps,
                       shape_variant=spec.bmi_delta, scene_sample=spec.scene_index,
                       config_hash=config_hash(ctx.config), versions=versions),
        joint_angles=sk["angles"], segment_scales=sk["segment_scales"], keypoints_3d=kp3,
        coordinate_ranges=sk["coordinate_ranges"],
        markers=Markers(names=[str(x) for x in sk["marker_names"]], positions=sk["markers"],
                        ik_rms=sk["ik_rms"], ik_max=sk["ik_max"], flagged=sk["flagged"]),
        body=BodyFit(model=ctx.config.body.model, shape=fitted["shape"], pose=fitted["pose"],
                     trans=fitted["trans"], fit_joint_err=fitted["joint_err_mm"] / 1000.0,
                     fit_marker_err=fitted["marker_err_mm"] / 1000.0),
        cameras=cameras, scene=scene, videos=videos, model_file="scaled.osim")
    write_trial(ctx.path("trial.h5"), gt)


def _inside_mask(px: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(T, K) bool: the 2D keypoint falls on a mask pixel of its frame."""
    T, H, W = masks.shape[0], masks.shape[1], masks.shape[2]
    n = min(T, px.shape[0])
    out = np.zeros(px.shape[:2], bool)
    uv = np.nan_to_num(np.round(px[:n]), nan=-1).astype(int)
    ok = (uv[..., 0] >= 0) & (uv[..., 0] < W) & (uv[..., 1] >= 0) & (uv[..., 1] < H)
    t_idx = np.repeat(np.arange(n)[:, None], px.shape[1], axis=1)
    out[:n][ok] = masks[t_idx[ok], uv[..., 1][ok], uv[..., 0][ok]]
    return out


# ----------------------------------------------------------------------------------- qa

def qa_stage(ctx: TrialContext) -> None:
    """The QA gates; the outcome goes into trial.h5 (/qa) and qa.json."""
    from odahgen.gt.qa import qa_trial
    from odahgen.gt.schema import load_trial, write_qa

    gt = load_trial(ctx.path("trial.h5"))
    result = qa_trial(gt, ctx.config.qa)
    write_qa(ctx.path("trial.h5"), result.record())
    atomic_write_json(ctx.path("qa.json"), {"passed": result.passed, "reasons": result.reasons,
                                            "metrics": result.metrics})


def build(config: Config) -> list[Stage]:
    """The seven stages with their outputs, inputs and the config sections they depend on."""
    return [
        Stage("motion", motion_stage, ("motion.npz",), config_keys=("motion",)),
        Stage("skeleton", skeleton_stage, ("skeleton.npz", "scaled.osim"), deps=("motion",),
              config_keys=("skeleton", "body")),
        Stage("fit", fit_stage, ("body.npz",), deps=("skeleton",), config_keys=("body",)),
        Stage("scene", scene_stage, ("scene.json", "bundle"), deps=("fit",),
              config_keys=("scene", "render", "dataset.seed")),
        Stage("render", render_stage, ("render/render.json",), deps=("scene",),
              config_keys=("render",), resource="gpu"),
        Stage("gt", gt_stage, ("trial.h5",), deps=("skeleton", "fit", "scene", "render")),
        Stage("qa", qa_stage, ("qa.json",), deps=("gt",), config_keys=("qa",)),
    ]
