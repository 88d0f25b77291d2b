"""``odahgen export odah DATASET -o DIR``: the file layout the paper's training code reads.

Layout written under DIR (S = subject, A = action, see the name mapping below)::

    video/<S>/<bmi>/<S>_<A>_front.mp4
    video/<S>/<bmi>/<S>_<A>_side.mp4
    video/<S>/<bmi>/<S>_<A>_camera_info.npy   dict: front_camera_matrix (3,3) K px,
                                              side_camera_matrix, front_camera_rot_trans
                                              (3,4) [R | t] with t in metres, side_camera_rot_trans;
                                              with a lens (scene.cameras.lens_distortion) also
                                              <view>_camera_distortion (5,) OpenCV k1 k2 p1 p2 k3
    opensim_data/generic.osim                 every body's Mesh <body>_geom_1 scale_factors 1 1 1
    opensim_data/<S>/<S>.osim                 the scaled model; <body>_geom_1 scale_factors =
                                              the trial's segment scales
    opensim_data/<S>/ik/<S>_<A>_rad.mot       time + the 39 coordinates, radians (m for pelvis_t*)
    odahgen_export.json                       what was exported from which trial, what was skipped

``<bmi>`` is ``bmiORI`` for shape variant 0, else ``bmi<v>`` with one decimal
(``bmi-1.0``, ``bmi-0.5``, ``bmi0.5``, ``bmi1.0``).

Name mapping: the reader splits file names on ``_``, so every ``_`` of a subject or motion
id becomes ``-`` (``sub_01`` -> ``sub-01``, ``sit_to_stand`` -> ``sit-to-stand``). The action
is the mapped motion id, plus ``-s<k>`` for scene sample k > 0; when the shape variants of
one subject and action have different joint angles (one MOT per subject and action is all
the layout holds), each variant's action gets ``-bmi<v>`` appended. Two trials that still
map to the same name are an error. Only trials that pass QA, are 60 fps and have >= 64
frames are exported (``include_failed`` lifts the QA condition).

Camera convention: as in the ground truth, ``x_px ~ K @ (R @ X + t)`` with X in OpenSim's
world frame (Y up), camera x right, y down, z forward.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.gt.dataset import check_dataset, trial_files
from odahgen.gt.schema import TrialGT, load_trial
from odahgen.io import atomic_path, atomic_write_json
from odahgen.io.atomic import check_output_dir
from odahgen.io.mocap import write_mot as write_table
from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES

ODAH_VIEWS = ("front", "side")
ODAH_FPS = 60.0
ODAH_MIN_FRAMES = 64
MOT_FOLDER = "ik"


def odah_name(value: str) -> str:
    """A subject/motion id made safe for the ODAH reader: ``_`` -> ``-``."""
    return value.replace("_", "-")


def bmi_folder(shape_variant: float) -> str:
    """``0 -> bmiORI``, ``-1 -> bmi-1.0``, ``0.5 -> bmi0.5``."""
    v = float(shape_variant)
    if abs(v) < 1e-9:
        return "bmiORI"
    text = f"{v:.1f}" if abs(round(v, 1) - v) < 1e-9 else f"{v:g}"
    return f"bmi{text}"


def write_mot(path: str | Path, angles: np.ndarray, fps: float, name: str = "coordinates") -> Path:
    """Write an OpenSim storage file (``inDegrees=no``): ``time`` + the 39 coordinate
    columns; ``angles`` (T,39) rad (m for translations); time = frame / fps s."""
    angles = np.asarray(angles, float)
    times = np.arange(angles.shape[0]) / fps
    return write_table(path, list(COORDINATE_NAMES), times, angles, in_degrees=False, title=name)


def read_geom_scales(osim: str | Path) -> np.ndarray:
    """(22,3) ``scale_factors`` of each body's Mesh ``<body>_geom_1`` (NaN rows if absent)."""
    root = ET.parse(osim).getroot()
    out = np.full((len(BODY_NAMES), 3), np.nan)
    for i, body in enumerate(BODY_NAMES):
        mesh = root.find(f".//Mesh[@name='{body}_geom_1']")
        if mesh is not None and mesh.find("scale_factors") is not None:
            out[i] = np.array(mesh.find("scale_factors").text.split(), float)
    return out


def write_geom_scaled_model(src: str | Path, dst: str | Path, scales: np.ndarray) -> Path:
    """Copy the .osim ``src`` to ``dst`` with every body's Mesh ``<body>_geom_1`` carrying
    ``scale_factors`` = ``scales[i]`` ((22,3)); adds the Mesh where a body lacks it."""
    try:
        tree = ET.parse(src)
    except (ET.ParseError, OSError) as err:
        raise OdahgenError(f"{src}: not a readable .osim XML file ({err})") from None
    root = tree.getroot()
    for i, body_name in enumerate(BODY_NAMES):
        body = root.find(f".//Body[@name='{body_name}']")
        if body is None:
            raise OdahgenError(f"{src}: model has no body {body_name!r}")
        text = " ".join(f"{x:.8g}" for x in np.asarray(scales[i], float))
        mesh = body.find(f".//Mesh[@name='{body_name}_geom_1']")
        if mesh is None:
            geoms = body.find("attached_geometry")
            if geoms is None:
                geoms = ET.SubElement(body, "attached_geometry")
            mesh = ET.SubElement(geoms, "Mesh", name=f"{body_name}_geom_1")
            ET.SubElement(mesh, "socket_frame").text = ".."
            ET.SubElement(mesh, "mesh_file").text = f"{body_name}.vtp"
        sf = mesh.find("scale_factors")
        if sf is None:
            sf = ET.SubElement(mesh, "scale_factors")
        sf.text = text
    with atomic_path(dst) as tmp:
        tree.write(tmp, encoding="UTF-8", xml_declaration=True)
    return Path(dst)


def _copy(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _eligible(gt: TrialGT, include_failed: bool) -> str | None:
    """Why a trial cannot be exported, or None."""
    if not include_failed and not (gt.qa and gt.qa.passed):
        return "fails QA" if gt.qa else "no QA result"
    if abs(gt.meta.fps - ODAH_FPS) > 1e-6:
        return f"{gt.meta.fps:g} fps, the ODAH reader needs {ODAH_FPS:g}"
    if gt.n_frames < ODAH_MIN_FRAMES:
        return f"{gt.n_frames} frames < {ODAH_MIN_FRAMES}"
    missing = [v for v in ODAH_VIEWS if v not in gt.cameras or v not in gt.videos]
    if missing:
        return f"no {'/'.join(missing)} view"
    return None


def export_odah(
    dataset: str | Path,
    out: str | Path,
    generic_model: str | Path | None = None,
    include_failed: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Export a dataset to the ODAH layout under ``out``; returns the manifest.

    ``out`` must be a folder or not exist yet (an existing file there is a one-line error,
    raised before anything is written). Files are written atomically and follow the umask.
    ``generic_model``: the unscaled .osim for ``opensim_data/generic.osim`` (default
    ``DATASET/models/generic.osim``, else the skeleton's built-in model, else a trial's
    scaled model with unit scale factors — only the scale factors are read from it).
    """
    dataset = check_dataset(dataset)
    out = check_output_dir(out)
    trials: list[tuple[Path, TrialGT]] = []
    skipped: list[dict[str, str]] = []
    files = trial_files(dataset)
    for i, path in enumerate(files):
        if progress:
            progress(i, len(files), path.parent.name)
        gt = load_trial(path)
        why = _eligible(gt, include_failed)
        if why:
            skipped.append({"trial": gt.meta.trial, "reason": why})
        else:
            trials.append((path.parent, gt))
    if not trials:
        raise OdahgenError(f"{dataset}: no trial can be exported ({len(skipped)} skipped)")

    # subjects: one scaled model each
    by_subject: dict[str, list[tuple[Path, TrialGT]]] = defaultdict(list)
    for item in trials:
        by_subject[odah_name(item[1].meta.subject)].append(item)
    raw_subjects = defaultdict(set)
    for _, gt in trials:
        raw_subjects[odah_name(gt.meta.subject)].add(gt.meta.subject)
    for s, raws in raw_subjects.items():
        if len(raws) > 1:
            raise OdahgenError(f"{dataset}: subjects {sorted(raws)} all map to the ODAH name {s!r}")
    for s, items in by_subject.items():
        ref = np.asarray(items[0][1].segment_scales)
        for tdir, gt in items[1:]:
            diff = float(np.abs(np.asarray(gt.segment_scales) - ref).max())
            if diff > 1e-4:
                raise OdahgenError(
                    f"{tdir}: segment scales differ from those of {items[0][1].meta.trial} by {diff:.4f}; the ODAH "
                    f"layout holds one scaled model per subject ({s})"
                )

    # actions
    groups: dict[tuple[str, str], list[tuple[Path, TrialGT]]] = defaultdict(list)
    for tdir, gt in trials:
        action = odah_name(gt.meta.motion) + (f"-s{gt.meta.scene_sample}" if gt.meta.scene_sample else "")
        groups[(odah_name(gt.meta.subject), action)].append((tdir, gt))
    plan: list[tuple[str, str, str, Path, TrialGT]] = []  # subject, bmi, action, dir, gt
    for (s, action), items in sorted(groups.items()):
        ref = np.asarray(items[0][1].joint_angles)
        same = all(np.shape(g.joint_angles) == ref.shape and np.allclose(g.joint_angles, ref, atol=1e-9) for _, g in items)
        for tdir, gt in items:
            bmi = bmi_folder(gt.meta.shape_variant)
            act = action if same else f"{action}-{bmi}"
            plan.append((s, bmi, act, tdir, gt))
    seen: dict[tuple[str, str, str], str] = {}
    for s, bmi, act, _, gt in plan:
        key = (s, bmi, act)
        if key in seen:
            raise OdahgenError(
                f"{dataset}: trials {seen[key]} and {gt.meta.trial} both map to {s}/{bmi}/{s}_{act}; "
                "give them distinct motion ids or scene samples"
            )
        seen[key] = gt.meta.trial

    # generic model
    generic_src = _generic_source(dataset, generic_model)
    opensim_dir = out / "opensim_data"
    manifest: dict[str, Any] = {"name_mapping": "'_' -> '-' in subject and motion ids", "trials": {},
                                "skipped": skipped, "warnings": []}
    first_model = None
    for s, items in sorted(by_subject.items()):
        tdir, gt = items[0]
        model = tdir / gt.model_file if gt.model_file else None
        src = model if model is not None and model.is_file() else generic_src
        if src is None:
            raise OdahgenError(f"{tdir}: no scaled model file and no generic model to export subject {s}")
        first_model = first_model or src
        if src is generic_src:
            manifest["warnings"].append(
                f"{s}.osim: trial {gt.meta.trial} names no scaled model; wrote the generic model with the "
                "trial's segment scales as <body>_geom_1 scale_factors (joint offsets unscaled)"
            )
        write_geom_scaled_model(src, opensim_dir / s / f"{s}.osim", gt.segment_scales)
    write_geom_scaled_model(generic_src or first_model, opensim_dir / "generic.osim", np.ones((len(BODY_NAMES), 3)))
    manifest["generic_model_source"] = str(generic_src or first_model)

    written_mots: set[tuple[str, str]] = set()
    for s, bmi, act, tdir, gt in plan:
        vdir = out / "video" / s / bmi
        stem = f"{s}_{act}"
        files_out = []
        for view in ODAH_VIEWS:
            dst = vdir / f"{stem}_{view}.mp4"
            _copy(tdir / gt.videos[view].path, dst)
            files_out.append(dst.relative_to(out).as_posix())
        info = {}
        for view in ODAH_VIEWS:
            cam = gt.cameras[view]
            info[f"{view}_camera_matrix"] = np.asarray(cam.K, float)
            info[f"{view}_camera_rot_trans"] = np.hstack([np.asarray(cam.R, float), np.asarray(cam.t, float)[:, None]])
            if cam.distortion is not None and np.any(cam.distortion != 0):  # the 2D labels are distorted
                info[f"{view}_camera_distortion"] = np.asarray(cam.distortion, float)
        cam_file = vdir / f"{stem}_camera_info.npy"
        with atomic_path(cam_file) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, info, allow_pickle=True)
        files_out.append(cam_file.relative_to(out).as_posix())
        mot = opensim_dir / s / MOT_FOLDER / f"{stem}_rad.mot"
        if (s, act) not in written_mots:
            write_mot(mot, gt.joint_angles, gt.meta.fps, name=stem)
            written_mots.add((s, act))
        files_out.append(mot.relative_to(out).as_posix())
        manifest["trials"][gt.meta.trial] = {"subject": s, "bmi": bmi, "action": act, "files": files_out}
    if progress:
        progress(len(files), len(files), "")
    atomic_write_json(out / "odahgen_export.json", manifest)
    return manifest


def _generic_source(dataset: Path, generic_model: str | Path | None) -> Path | None:
    if generic_model is not None:
        path = Path(generic_model)
        if not path.is_file():
            raise OdahgenError(f"{path}: no such generic model file")
        return path
    own = dataset / "models" / "generic.osim"
    if own.is_file():
        return own
    try:
        from odahgen.gt.fk import default_generic_model

        path = default_generic_model()
        if path.is_file():
            return path
    except OdahgenError:
        pass
    return None


def load_camera_info(path: str | Path) -> dict[str, np.ndarray]:
    """Read a ``*_camera_info.npy`` the way the ODAH reader does."""
    return np.load(path, allow_pickle=True).flatten()[0]


def manifest_json(out: str | Path) -> dict[str, Any]:
    return json.loads((Path(out) / "odahgen_export.json").read_text())
