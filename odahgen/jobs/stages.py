"""The stage functions of one trial: each reads its inputs from the trial folder, calls its
stage package's library functions, and writes its outputs atomically.

Files in ``DATASET/trials/<trial>/`` (each written by one stage; the stage records in
``stages/`` list every file with its size, time and hash):

=========  ==========================================================================
motion     ``motion.npz``: coordinates (T, 39) rad/m or markers (T, M, 3) m, times (T,), fps
           (:mod:`odahgen.motion.stored`)
skeleton   ``scaled.osim`` (the subject's model; for marker motions also
           ``motion_subject.osim``, the model IK ran on), ``skeleton.npz``: angles (T, 39),
           keypoints (T, 44, 3) m, markers (T, M, 3) m + names, ik_rms/ik_max (T,) m,
           flagged (T,), segment_scales (22, 3), body shape (S,), coordinate_ranges (39, 2)
fit        ``body.npz``: shape, pose (T, P), trans (T, 3), vertices (T, V, 3) float32 m,
           faces, joint/marker residuals (T,) mm
scene      ``scene.json``: the sampled scene as data (clothing, textures, lights, cameras)
render     ``bundle/`` (what Blender reads: the dressed person's point caches, materials),
           ``render/<view>.mp4``, ``render/masks_<view>.npz``, ``render/render.json``
gt         ``trial.h5`` (the ground truth, see docs/gt.md)
qa         ``qa.json`` and the ``/qa`` group of ``trial.h5`` (gates passed/failed, reasons)
=========  ==========================================================================

``body.npz`` and ``bundle/`` are intermediates (only later stages read them): they are removed
when the trial is done unless ``storage.keep_intermediates`` (:mod:`odahgen.jobs.graph`).

``config_keys`` of each stage name every config value it reads (``"*"`` = the whole config,
for the gt stage, which stores the config's hash in the trial file).
"""

from __future__ import annotations

import json
import shutil

import numpy as np

from odahgen.config import Config
from odahgen.jobs.graph import Stage, TrialContext
from odahgen.io import load_arrays, save_arrays
from odahgen.skeleton import COORDINATE_NAMES

#: the body-model settings every stage that loads the body model reads
BODY_MODEL_KEYS = ("body.model", "body.model_dir", "body.gender")


def _body_model(config: Config):
    """The config's body model (loaded once per process: the loader caches it)."""
    from odahgen.body import load_body_model

    return load_body_model(config.body.model, model_dir=config.body.model_dir,
                           gender=config.body.gender)


# ------------------------------------------------------------------------------- motion

def motion_stage(ctx: TrialContext) -> None:
    """Load the motion, fill gaps, resample to the output fps, keep the first clip."""
    from odahgen.errors import OdahgenError
    from odahgen.motion import get_source, prepare
    from odahgen.motion import clip_arrays

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
    save_arrays(ctx.path("motion.npz"), clip_arrays(clip))
    ctx.log.info("motion %s: %d frames at %g fps (%s)", ctx.spec.motion, clip.n_frames,
                 clip.fps, clip.kind)


# ----------------------------------------------------------------------------- skeleton

def skeleton_stage(ctx: TrialContext) -> None:
    """Body shape of the subject's variant -> its virtual markers -> scaled model; then the
    GT angles (the motion's coordinates on the subject, or IK of its markers) -> FK keypoints."""
    from odahgen.body import load_layout, static_trial, subject_shape
    from odahgen.io.mocap import MarkerData, read_marker_map
    from odahgen.motion import leg_scale, scale_pelvis_path, subject_coordinates
    from odahgen.skeleton import (BODY_NAMES, fk_tree, load_tree, run_ik, scale_subject, scaled_girdle,
                                  segment_scales, write_girdle, write_scaled_model)

    cfg = ctx.config
    body = _body_model(cfg)
    shape = subject_shape(body, ctx.spec.subject_seed, ctx.spec.bmi_delta)
    static = static_trial(body, shape, load_layout(body))
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
    motion = load_arrays(ctx.path("motion.npz"))
    T = len(motion["times"])
    if "coordinates" in motion:
        angles = subject_coordinates(motion, scales)
        ik_rms, ik_max, flagged = np.zeros(T), np.zeros(T), np.zeros(T, bool)
    else:
        # Marker motions (AMASS, lab mocap) belong to their own subject: IK runs on the
        # generic model scaled to that subject (its static markers, or the motion's quietest
        # window), and the angles then drive this trial's subject, the pelvis path scaled by
        # the ratio of their legs.
        data = MarkerData(names=list(motion["marker_names"]), positions=motion["markers"],
                          fps=float(motion["fps"]), times=motion["times"])
        virtual = "static_markers" in motion  # exact markers on a body mesh
        # labels map to the model's markers by anatomical role; skeleton.marker_map overrides
        marker_map = read_marker_map(cfg.skeleton.marker_map) if cfg.skeleton.marker_map else None
        own = MarkerData(names=data.names, fps=data.fps, times=np.arange(10) / data.fps,
                         positions=np.repeat(motion["static_markers"][None], 10, axis=0)) \
            if virtual else data
        own_tree, own_scale = scale_subject(generic, own, marker_map=marker_map,
                                            source=f"motion {ctx.spec.motion}",
                                            measurements=not virtual)
        own_path = ctx.path("motion_subject.osim")
        write_scaled_model(cfg.skeleton.model, own_path, own_tree, own_scale,
                           markers_xml=cfg.skeleton.markers or None, name=f"{ctx.spec.motion}_subject")
        ik = run_ik(own_path, data, bony_flag_m=cfg.skeleton.bony_flag_m,
                    workers=cfg.skeleton.ik_workers, marker_map=marker_map, girdle=cfg.skeleton.shoulder_girdle)
        own_scales = segment_scales(own_path)
        angles = scale_pelvis_path(ik.angles, leg_scale(scales) / leg_scale(own_scales))
        if ik.info.get("shoulder_girdle"):
            # the girdle IK fitted: into the model IK ran on, and, scaled with the torso, into
            # this trial's subject (whose FK keypoints then follow it)
            coef = {k: np.asarray(v) for k, v in ik.info["shoulder_girdle"].items()}
            torso = BODY_NAMES.index("torso")
            write_girdle(own_path, coef)
            write_girdle(model_path, scaled_girdle(coef, own_scales[torso], scales[torso]))
            tree = load_tree(model_path)
            ctx.log.info("skeleton: shoulder girdle fitted (largest coefficient %.1f cm)",
                         100 * max(float(np.abs(c).max()) for c in coef.values()))
        ik_rms, ik_max, flagged = ik.marker_rms, ik.marker_max, ik.flagged
        ctx.log.info("skeleton: IK on the motion's own subject (%.2f m): marker RMS %.1f mm mean, "
                     "max %.1f mm, %.1f %% frames flagged", own_scale.height_m,
                     1000 * float(np.mean(ik_rms)), 1000 * float(np.max(ik_max)),
                     100 * float(np.mean(flagged)))
    fk = fk_tree(tree, angles)
    save_arrays(ctx.path("skeleton.npz"), dict(
        angles=angles, keypoints=fk.keypoints, markers=fk.markers,
        marker_names=np.array(fk.marker_names), ik_rms=ik_rms, ik_max=ik_max, flagged=flagged,
        segment_scales=scales, shape=np.asarray(shape, dtype=np.float64),
        coordinate_ranges=_coordinate_ranges(tree)))
    ctx.log.info("skeleton: scaled to %.2f m / %.1f kg (static RMS %.1f mm)", scale.height_m,
                 scale.mass_kg, 1000 * scale.rms_m)


def _coordinate_ranges(tree) -> np.ndarray:
    """(39, 2) range of each coordinate in ``COORDINATE_NAMES`` order (NaN = not in the model)."""
    out = np.full((len(COORDINATE_NAMES), 2), np.nan)
    for i, name in enumerate(COORDINATE_NAMES):
        if name in tree.coord_names:
            out[i] = tree.coord_range[tree.coord_names.index(name)]
    return out


# ---------------------------------------------------------------------------------- fit

def fit_stage(ctx: TrialContext) -> None:
    """Fit the body's pose per frame to the skeleton's joint centres and markers."""
    from odahgen.body import fit_sequence

    body = _body_model(ctx.config)
    sk = load_arrays(ctx.path("skeleton.npz"))
    res = fit_sequence(body, sk["keypoints"][:, :22], sk["markers"], list(sk["marker_names"]),
                       shape=sk["shape"], fit_shape=False,
                       iterations=ctx.config.body.fit_iterations)
    save_arrays(ctx.path("body.npz"), dict(
        shape=res.shape, pose=res.pose, trans=res.trans, vertices=res.vertices.astype(np.float32),
        faces=np.asarray(body.faces), joint_err_mm=res.joint_err_mm,
        marker_err_mm=res.marker_err_mm), compress=False)  # an intermediate: no zlib (3 s)
    ctx.log.info("fit: %.1f mm joints, %.1f mm markers (mean), %.1f s",
                 float(np.mean(res.joint_err_mm)), float(np.mean(res.marker_err_mm)), res.seconds)


# -------------------------------------------------------------------------------- scene

def scene_stage(ctx: TrialContext) -> None:
    """Sample the scene (clothing, textures, lights, cameras) as data: ``scene.json``."""
    from odahgen.io import atomic_write_json
    from odahgen.scene import sample_scene

    fitted = load_arrays(ctx.path("body.npz"))
    scene = sample_scene(ctx.config, ctx.spec.trial, fitted["vertices"])
    atomic_write_json(ctx.path("scene.json"), scene)


# ------------------------------------------------------------------------------- render

def render_stage(ctx: TrialContext) -> None:
    """Dress the fitted body as the scene says, write the render bundle, and render every
    view of it in one Blender process."""
    from odahgen.render import render_trial, write_render_bundle
    from odahgen.scene import dress, garment_regions

    body = _body_model(ctx.config)
    fitted = load_arrays(ctx.path("body.npz"))
    scene = json.loads(ctx.path("scene.json").read_text(encoding="utf-8"))
    vertices, faces = fitted["vertices"], fitted["faces"]
    garments = dress(scene, vertices, faces, garment_regions(body))
    bundle, tmp = ctx.path("bundle"), ctx.path(".bundle.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    write_render_bundle(tmp, vertices, faces, getattr(body, "uv", None), garments, scene,
                        ctx.config.render)
    if bundle.exists():
        shutil.rmtree(bundle)
    tmp.rename(bundle)
    result = render_trial(bundle, ctx.path("render"), ctx.config.render, on_line=lambda line: None)
    ctx.log.info("render: %s", {v: result["frames"][v] for v in result["frames"]})


# ----------------------------------------------------------------------------------- gt

def gt_stage(ctx: TrialContext) -> None:
    """Cameras, 2D keypoints, markers and COCO keypoints with depth-tested visibility, the
    person's bounding boxes, and the trial's HDF5 file."""
    from odahgen import __version__
    from odahgen.jobs.plan import plan_hash
    from odahgen.errors import OdahgenError
    from odahgen.gt import PackedMasks, TrialMeta, build_trial_gt, keypoint_visibility, mesh_coco_keypoints, write_trial
    from odahgen.render import person_meshes

    sk = load_arrays(ctx.path("skeleton.npz"))
    fitted = load_arrays(ctx.path("body.npz"))
    scene = json.loads(ctx.path("scene.json").read_text(encoding="utf-8"))
    render = json.loads((ctx.path("render") / "render.json").read_text(encoding="utf-8"))
    # the person as rendered: the body and the garment shells the render stage dressed it in
    # (they hide keypoints near the depth tolerance and widen the silhouette by their offset)
    meshes = person_meshes(ctx.path("bundle"))
    try:
        coco = mesh_coco_keypoints(_body_model(ctx.config), fitted["vertices"])
    except OdahgenError as err:  # a body model without a COCO regressor: the rest of the GT stands
        ctx.log.warning("gt: no COCO keypoints: %s", err)
        coco = None
    versions = {"odahgen": __version__}
    try:
        import opensim

        versions["opensim"] = opensim.__version__
    except Exception:  # pragma: no cover - opensim is a core dependency
        pass
    if render.get("worker", {}).get("blender"):
        versions["blender"] = str(render["worker"]["blender"])
    spec = ctx.spec
    meta = TrialMeta(trial=spec.trial, subject=spec.subject, motion=spec.motion, seed=spec.seed,
                     motion_source=spec.motion_source, fps=ctx.config.motion.fps,
                     shape_variant=spec.bmi_delta, scene_sample=spec.scene_index,
                     config_hash=plan_hash(ctx.config), versions=versions)
    gt = build_trial_gt(
        meta, sk, fitted, ctx.config.body.model, scene, render,
        visibility=lambda cam, points, tol: keypoint_visibility(meshes, points, cam, tol_m=tol),
        masks=lambda name: PackedMasks.load(ctx.path("render") / name),
        video_fps=ctx.config.render.fps, coco=coco)
    write_trial(ctx.path("trial.h5"), gt)


# ----------------------------------------------------------------------------------- qa

def qa_stage(ctx: TrialContext) -> None:
    """The QA gates; the outcome goes into trial.h5 (/qa, by an atomic rewrite) and qa.json."""
    from odahgen.gt import load_trial, qa_trial, write_qa
    from odahgen.io import atomic_write_json

    gt = load_trial(ctx.path("trial.h5"))
    result = qa_trial(gt, ctx.config.qa)
    write_qa(ctx.path("trial.h5"), result.record())
    atomic_write_json(ctx.path("qa.json"), {"passed": result.passed, "reasons": result.reasons,
                                            "gates": result.gates, "metrics": result.metrics})


def build(config: Config) -> list[Stage]:
    """The seven stages with their outputs, inputs and every config value each one reads."""
    return [
        Stage("motion", motion_stage, ("motion.npz",), config_keys=("motion",)),
        Stage("skeleton", skeleton_stage, ("skeleton.npz", "scaled.osim"), deps=("motion",),
              config_keys=("skeleton",) + BODY_MODEL_KEYS, version="4",
              optional_outputs=("motion_subject.osim",)),
        Stage("fit", fit_stage, ("body.npz",), deps=("skeleton",),
              config_keys=BODY_MODEL_KEYS + ("body.fit_iterations",), intermediate=("body.npz",)),
        Stage("scene", scene_stage, ("scene.json",), deps=("fit",),
              config_keys=("scene", "dataset.seed", "render.width", "render.height", "body.model"), version="3"),
        Stage("render", render_stage, ("bundle", "render"), deps=("fit", "scene"),
              config_keys=("render",) + BODY_MODEL_KEYS, resource="gpu", version="3",
              intermediate=("bundle",)),
        Stage("gt", gt_stage, ("trial.h5",), deps=("skeleton", "fit", "scene", "render"),
              config_keys=("*",), version="3"),
        # the QA verdict is written into trial.h5 too: the qa stage owns its final version
        Stage("qa", qa_stage, ("qa.json", "trial.h5"), deps=("gt",), config_keys=("qa",), version="2"),
    ]
