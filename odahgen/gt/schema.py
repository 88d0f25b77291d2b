"""The versioned HDF5 ground-truth schema of one trial: writer, reader, schema checker.

One file per trial (``DATASET/trials/<trial>/trial.h5``). Every path, shape, dtype and unit
is documented in ``docs/gt.md``; the summary (T frames, M markers, 39 coordinates, 22
bodies, 44 keypoints):

- ``/`` attrs ``schema`` = ``"odahgen-gt"``, ``schema_version`` = :data:`SCHEMA_VERSION`.
- ``/meta`` attrs: ids, seed, motion source, fps, frame count, versions, config hash.
- ``/kinematics``: ``joint_angles`` (T,39) rad (m for pelvis_tx/ty/tz), ``coordinate_names``,
  ``rotational`` (39,) bool, ``ranges`` (39,2), ``segment_scales`` (22,3), ``body_names``,
  ``keypoints_3d`` (T,44,3) m, ``keypoint_names``.
- ``/markers`` (optional): ``names`` (M,), ``positions`` (T,M,3) m, ``ik_rms`` (T,) m,
  ``ik_max`` (T,) m, ``flagged`` (T,) bool.
- ``/body`` (optional): attr ``model``; ``shape`` (S,), ``pose`` (T,P), ``trans`` (T,3) m,
  optional ``fit_joint_err`` / ``fit_marker_err`` (T,) m.
- ``/cameras/<view>``: ``K`` (3,3) px, ``R`` (3,3), ``t`` (3,) m, ``resolution`` (2,) =
  (width, height) px, ``focal_mm``, ``sensor_width_mm``, ``keypoints_2d`` (T,44,2) px,
  ``visibility`` (T,44) bool, optional ``keypoints_in_mask`` (T,44) bool; from 1.1, optional
  ``markers_2d`` / ``markers_visibility``, ``coco_2d`` / ``coco_visibility``, ``bbox``; from
  1.2, optional ``distortion`` (5,) (OpenCV k1, k2, p1, p2, k3; absent = pinhole).
- ``/coco`` (optional, 1.1): ``names`` (K,), ``positions`` (T,K,3) m: COCO keypoints on the
  body mesh (:mod:`odahgen.gt.schema_dense`).
- ``/scene`` dataset ``json`` (the sampled scene as JSON text).
- ``/videos/<view>`` attrs ``path`` (relative to the trial folder), ``codec``, ``n_frames``,
  ``fps``, ``mask_path``.
- ``/qa`` attrs ``passed``, ``reasons`` (JSON list), ``metrics`` (JSON object).

Camera convention: pinhole, ``x_px ~ K @ (R @ X_world + t)`` (through the OpenCV lens
distortion of a camera that has one, :meth:`Camera.project`), world = OpenSim's (Y up),
camera frame x right, y down, z forward (OpenCV).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from odahgen.errors import OdahgenError
from odahgen.gt.h5util import _STR, _dataset, _shape_problem, _str_list, _strings
from odahgen.gt.schema_dense import (
    CocoKeypoints,
    check_file,
    read_camera_fields,
    read_coco,
    trial_problems,
    write_camera_fields,
    write_coco,
)
from odahgen.io import atomic_path
from odahgen.io.records import adopt_output
from odahgen.scene.cameras import project_points
from odahgen.skeleton.names import (
    BODY_NAMES,
    COORDINATE_NAMES,
    KEYPOINT_NAMES,
    TRANSLATIONAL_COORDINATES,
)

SCHEMA_NAME = "odahgen-gt"
SCHEMA_VERSION = "1.2"
#: Versions this reader understands (same major version).
SUPPORTED_MAJOR = 1

N_COORDS = len(COORDINATE_NAMES)  # 39
N_BODIES = len(BODY_NAMES)  # 22
N_KEYPOINTS = len(KEYPOINT_NAMES)  # 44
ROTATIONAL = np.array([c not in TRANSLATIONAL_COORDINATES for c in COORDINATE_NAMES], dtype=bool)



# --------------------------------------------------------------------------------------
# Typed containers
# --------------------------------------------------------------------------------------


@dataclass
class TrialMeta:
    """Identity and provenance of a trial.

    ``shape_variant`` is the BMI offset of the body-shape variant (kg/m^2, 0 = the subject's
    own shape); ``scene_sample`` the index of the scene sample for this motion; ``versions``
    maps a tool name (``odahgen``, ``opensim``, ``blender``, ...) to its version string.
    """

    trial: str
    subject: str
    motion: str
    seed: int = 0
    motion_source: str = ""
    fps: float = 60.0
    shape_variant: float = 0.0
    scene_sample: int = 0
    config_hash: str = ""
    versions: dict[str, str] = field(default_factory=dict)


@dataclass
class Markers:
    """IK markers: ``names`` (M,), ``positions`` (T,M,3) m (experimental, in ground),
    ``ik_rms`` (T,) m per-frame RMS marker error, ``ik_max`` (T,) m per-frame largest marker
    error, ``flagged`` (T,) bool (a bony landmark more than the configured 2 cm off)."""

    names: list[str]
    positions: np.ndarray
    ik_rms: np.ndarray
    ik_max: np.ndarray
    flagged: np.ndarray


@dataclass
class BodyFit:
    """The fitted body mesh model: ``model`` ("anny"/"smplx"), ``shape`` (S,) shape
    parameters, ``pose`` (T,P) pose parameters, ``trans`` (T,3) m root translation,
    optional per-frame fit residuals ``fit_joint_err`` / ``fit_marker_err`` (T,) m (mean
    distance of the mesh's regressed joint centres / virtual markers to the skeleton's)."""

    model: str
    shape: np.ndarray
    pose: np.ndarray
    trans: np.ndarray
    fit_joint_err: np.ndarray | None = None
    fit_marker_err: np.ndarray | None = None


@dataclass
class Camera:
    """One static pinhole camera and the 2D ground truth seen by it.

    ``K`` (3,3) px, ``R`` (3,3) world->camera rotation, ``t`` (3,) m, so that
    ``x_px ~ K @ (R @ X + t)``; ``resolution`` (width, height) px; ``keypoints_2d``
    (T,44,2) px; ``visibility`` (T,44) bool (in front of the camera, inside the image and
    not occluded as the renderer decided); optional ``keypoints_in_mask`` (T,44) bool.
    Schema 1.1, optional: ``markers_2d`` (T,M,2) px + ``markers_visibility`` (T,M) bool,
    ``coco_2d`` (T,K,2) px + ``coco_visibility`` (T,K) bool, ``bbox`` (T,4) px [x, y, w, h]
    of the person mask (NaN = no person); see :mod:`odahgen.gt.schema_dense`. Schema 1.2,
    optional: ``distortion`` (5,) the lens, OpenCV ``[k1, k2, p1, p2, k3]`` (None = pinhole);
    every 2D field is then the distorted projection.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    resolution: tuple[int, int]
    focal_mm: float
    sensor_width_mm: float
    keypoints_2d: np.ndarray
    visibility: np.ndarray
    keypoints_in_mask: np.ndarray | None = None
    markers_2d: np.ndarray | None = None
    markers_visibility: np.ndarray | None = None
    coco_2d: np.ndarray | None = None
    coco_visibility: np.ndarray | None = None
    bbox: np.ndarray | None = None
    distortion: np.ndarray | None = None

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points (..., 3) m -> (pixels (..., 2), depth (...,) m), through the
        lens ``distortion`` when there is one."""
        return project_points(self.K, self.R, self.t, points, self.distortion)


@dataclass
class Video:
    """A rendered video of one view: ``path`` relative to the trial folder."""

    path: str
    codec: str = "h264"
    n_frames: int = 0
    fps: float = 60.0
    mask_path: str = ""


@dataclass
class QARecord:
    """Stored QA outcome: ``metrics`` maps a metric name to a float (units in the name)."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrialGT:
    """Everything in one trial's HDF5 file, as typed arrays.

    Shapes: ``joint_angles`` (T,39) rad (metres for pelvis_tx/ty/tz), ``segment_scales``
    (22,3), ``keypoints_3d`` (T,44,3) m, ``coordinate_ranges`` (39,2) (NaN = unknown).
    ``model_file`` is the scaled ``.osim`` path relative to the trial folder ("" = none).
    """

    meta: TrialMeta
    joint_angles: np.ndarray
    segment_scales: np.ndarray
    keypoints_3d: np.ndarray
    coordinate_ranges: np.ndarray | None = None
    markers: Markers | None = None
    body: BodyFit | None = None
    cameras: dict[str, Camera] = field(default_factory=dict)
    scene: dict[str, Any] = field(default_factory=dict)
    videos: dict[str, Video] = field(default_factory=dict)
    qa: QARecord | None = None
    model_file: str = ""
    coco: CocoKeypoints | None = None
    coordinate_names: tuple[str, ...] = COORDINATE_NAMES
    body_names: tuple[str, ...] = BODY_NAMES
    keypoint_names: tuple[str, ...] = KEYPOINT_NAMES

    @property
    def n_frames(self) -> int:
        return int(np.asarray(self.joint_angles).shape[0])

    @property
    def rotational(self) -> np.ndarray:
        """(39,) bool: True for rotational coordinates (radians)."""
        return np.array([c not in TRANSLATIONAL_COORDINATES for c in self.coordinate_names])


# --------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------


def write_trial(path: str | Path, gt: TrialGT) -> Path:
    """Write ``gt`` to ``path`` (atomically: temp file renamed on success). Returns the path.

    Raises OdahgenError when the arrays have inconsistent shapes.
    """
    path = Path(path)
    problems = check_trial(gt)
    if problems:
        raise OdahgenError(f"{path}: cannot write ground truth: {problems[0]}")
    T = gt.n_frames
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema"] = SCHEMA_NAME
            f.attrs["schema_version"] = SCHEMA_VERSION

            m = f.create_group("meta")
            meta = gt.meta
            for key in ("trial", "subject", "motion", "motion_source", "config_hash"):
                m.attrs[key] = str(getattr(meta, key))
            m.attrs["seed"] = np.int64(meta.seed)
            m.attrs["fps"] = float(meta.fps)
            m.attrs["n_frames"] = np.int64(T)
            m.attrs["shape_variant"] = float(meta.shape_variant)
            m.attrs["scene_sample"] = np.int64(meta.scene_sample)
            m.attrs["versions"] = json.dumps(meta.versions, sort_keys=True)
            for tool, ver in sorted(meta.versions.items()):
                m.attrs[f"{tool}_version"] = str(ver)

            k = f.create_group("kinematics")
            k.attrs["model_file"] = gt.model_file
            _dataset(k, "joint_angles", gt.joint_angles, "rad (m for pelvis_tx/ty/tz)", np.float64)
            _strings(k, "coordinate_names", gt.coordinate_names)
            _dataset(k, "rotational", gt.rotational, dtype=bool)
            ranges = gt.coordinate_ranges
            if ranges is None:
                ranges = np.full((N_COORDS, 2), np.nan)
            _dataset(k, "ranges", ranges, "rad (m for translations); NaN = unknown", np.float64)
            _dataset(k, "segment_scales", gt.segment_scales, "1 (ratio to the generic model)", np.float64)
            _strings(k, "body_names", gt.body_names)
            _dataset(k, "keypoints_3d", gt.keypoints_3d, "m", np.float64)
            _strings(k, "keypoint_names", gt.keypoint_names)

            if gt.markers is not None:
                mk = f.create_group("markers")
                _strings(mk, "names", gt.markers.names)
                _dataset(mk, "positions", gt.markers.positions, "m", np.float64)
                _dataset(mk, "ik_rms", gt.markers.ik_rms, "m", np.float64)
                _dataset(mk, "ik_max", gt.markers.ik_max, "m", np.float64)
                _dataset(mk, "flagged", gt.markers.flagged, dtype=bool)

            if gt.body is not None:
                b = f.create_group("body")
                b.attrs["model"] = gt.body.model
                _dataset(b, "shape", gt.body.shape, dtype=np.float32)
                _dataset(b, "pose", gt.body.pose, dtype=np.float32)
                _dataset(b, "trans", gt.body.trans, "m", np.float64)
                if gt.body.fit_joint_err is not None:
                    _dataset(b, "fit_joint_err", gt.body.fit_joint_err, "m", np.float64)
                if gt.body.fit_marker_err is not None:
                    _dataset(b, "fit_marker_err", gt.body.fit_marker_err, "m", np.float64)

            cams = f.create_group("cameras")
            for view, cam in gt.cameras.items():
                c = cams.create_group(view)
                _dataset(c, "K", cam.K, "px", np.float64)
                _dataset(c, "R", cam.R, dtype=np.float64)
                _dataset(c, "t", cam.t, "m", np.float64)
                _dataset(c, "resolution", cam.resolution, "px (width, height)", np.int32)
                _dataset(c, "focal_mm", cam.focal_mm, "mm", np.float64)
                _dataset(c, "sensor_width_mm", cam.sensor_width_mm, "mm", np.float64)
                _dataset(c, "keypoints_2d", cam.keypoints_2d, "px", np.float64)
                _dataset(c, "visibility", cam.visibility, dtype=bool)
                if cam.keypoints_in_mask is not None:
                    _dataset(c, "keypoints_in_mask", cam.keypoints_in_mask, dtype=bool)
                write_camera_fields(c, cam)
            write_coco(f, gt.coco)

            s = f.create_group("scene")
            s.create_dataset("json", data=json.dumps(gt.scene, sort_keys=True, default=_json_default), dtype=_STR)

            v = f.create_group("videos")
            for view, vid in gt.videos.items():
                g = v.create_group(view)
                g.attrs["path"] = vid.path
                g.attrs["codec"] = vid.codec
                g.attrs["n_frames"] = np.int64(vid.n_frames)
                g.attrs["fps"] = float(vid.fps)
                g.attrs["mask_path"] = vid.mask_path

            q = f.create_group("qa")
            if gt.qa is not None:
                q.attrs["passed"] = bool(gt.qa.passed)
                q.attrs["reasons"] = json.dumps(list(gt.qa.reasons))
                q.attrs["metrics"] = json.dumps(_finite_or_none(gt.qa.metrics), sort_keys=True)
    return path


def _json_default(obj: Any) -> Any:
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(obj)


def _finite_or_none(metrics: dict[str, float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, val in metrics.items():
        val = float(val)
        out[key] = val if math.isfinite(val) else None
    return out


def write_qa(path: str | Path, qa: QARecord) -> Path:
    """Store ``qa`` as the ``/qa`` group of the trial file at ``path``; returns the path.

    The file is never modified in place (a kill during an in-place HDF5 write leaves a
    file that no longer opens): every object except ``/qa`` is copied into a new file
    beside it, the new ``/qa`` is added, and the new file is flushed and renamed onto the
    original. A file that already holds this verdict is left untouched. Afterwards the
    trial's stage records that list the file describe the new one
    (:func:`odahgen.io.records.adopt_output`), so a resumed run does not take it for a
    changed output. Raises OdahgenError (one line naming the file) when the file is not
    readable odahgen ground truth; the file is then unchanged.
    """
    path = Path(path)
    passed = bool(qa.passed)
    reasons = json.dumps(list(qa.reasons))
    metrics = json.dumps(_finite_or_none(qa.metrics), sort_keys=True)
    try:
        with _open(path) as src:
            _check_version(path, src)
            if _holds_qa(src, passed, reasons, metrics):
                return path
        with atomic_path(path) as tmp:
            with _open(path) as src, h5py.File(tmp, "w") as dst:
                for key, attr in src.attrs.items():
                    dst.attrs.create(key, attr, dtype=src.attrs.get_id(key).dtype)
                for name in src:
                    if name != "qa":
                        src.copy(src[name], dst, name=name)
                q = dst.create_group("qa")
                q.attrs["passed"] = passed
                q.attrs["reasons"] = reasons
                q.attrs["metrics"] = metrics
    except OdahgenError:
        raise
    except Exception as err:  # a damaged file: h5py raises KeyError, OSError, RuntimeError, ...
        raise damaged_file_error(path, err) from None
    adopt_output(path)
    return path


def _holds_qa(f: h5py.File, passed: bool, reasons: str, metrics: str) -> bool:
    if "qa" not in f:
        return False
    attrs = f["qa"].attrs
    return ("passed" in attrs and bool(attrs["passed"]) == passed
            and _attr_str(attrs, "reasons") == reasons and _attr_str(attrs, "metrics") == metrics)


# --------------------------------------------------------------------------------------
# In-memory consistency (used before writing)
# --------------------------------------------------------------------------------------


def check_trial(gt: TrialGT) -> list[str]:
    """Shape problems of an in-memory TrialGT (empty list = consistent)."""
    T = gt.n_frames
    checks: list[tuple[str, Any, tuple]] = [
        ("joint_angles", gt.joint_angles, (None, N_COORDS)),
        ("segment_scales", gt.segment_scales, (N_BODIES, 3)),
        ("keypoints_3d", gt.keypoints_3d, (T, N_KEYPOINTS, 3)),
    ]
    if gt.coordinate_ranges is not None:
        checks.append(("coordinate_ranges", gt.coordinate_ranges, (N_COORDS, 2)))
    if gt.markers is not None:
        M = len(gt.markers.names)
        checks += [
            ("markers.positions", gt.markers.positions, (T, M, 3)),
            ("markers.ik_rms", gt.markers.ik_rms, (T,)),
            ("markers.ik_max", gt.markers.ik_max, (T,)),
            ("markers.flagged", gt.markers.flagged, (T,)),
        ]
    if gt.body is not None:
        checks += [
            ("body.shape", gt.body.shape, (None,)),
            ("body.pose", gt.body.pose, (T, None)),
            ("body.trans", gt.body.trans, (T, 3)),
        ]
        for name in ("fit_joint_err", "fit_marker_err"):
            if getattr(gt.body, name) is not None:
                checks.append((f"body.{name}", getattr(gt.body, name), (T,)))
    for view, cam in gt.cameras.items():
        checks += [
            (f"cameras/{view}/K", cam.K, (3, 3)),
            (f"cameras/{view}/R", cam.R, (3, 3)),
            (f"cameras/{view}/t", cam.t, (3,)),
            (f"cameras/{view}/resolution", cam.resolution, (2,)),
            (f"cameras/{view}/keypoints_2d", cam.keypoints_2d, (T, N_KEYPOINTS, 2)),
            (f"cameras/{view}/visibility", cam.visibility, (T, N_KEYPOINTS)),
        ]
        if cam.keypoints_in_mask is not None:
            checks.append((f"cameras/{view}/keypoints_in_mask", cam.keypoints_in_mask, (T, N_KEYPOINTS)))
        if cam.distortion is not None:
            checks.append((f"cameras/{view}/distortion", cam.distortion, (5,)))
    problems = [p for p in (_shape_problem(*c) for c in checks) if p] + trial_problems(gt)
    problems += [f"cameras/{view}/distortion is not finite" for view, cam in gt.cameras.items()
                 if cam.distortion is not None and not np.isfinite(cam.distortion).all()]
    if tuple(gt.coordinate_names) != COORDINATE_NAMES:
        problems.append("coordinate names differ from the Rajagopal order")
    if tuple(gt.body_names) != BODY_NAMES:
        problems.append("body names differ from the Rajagopal order")
    if tuple(gt.keypoint_names) != KEYPOINT_NAMES:
        problems.append("keypoint names differ from the 44 odahgen keypoints")
    for view in list(gt.cameras) + list(gt.videos):
        if not view or "/" in view:
            problems.append(f"invalid view name {view!r}")
    return problems


# --------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------


def _attr_str(attrs: h5py.AttributeManager, key: str, default: str = "") -> str:
    val = attrs.get(key, default)
    if isinstance(val, bytes):
        val = val.decode("utf-8")
    return str(val)


def _open(path: Path) -> h5py.File:
    if not path.is_file():
        raise OdahgenError(f"{path}: no such trial file")
    try:
        return h5py.File(path, "r")
    except Exception as err:  # OSError for a truncated or foreign file
        raise OdahgenError(f"{path}: not a readable HDF5 file ({_brief(err)})") from None


def _brief(err: BaseException) -> str:
    """An h5py error as one short line (its text, without the "Unable to ..." preamble)."""
    text = " ".join(str(err).split()).strip("'\"")
    for prefix in ("Unable to synchronously open object ", "Unable to synchronously open file ",
                   "Unable to synchronously ", "Unable to open object ", "Unable to open file "):
        if text.startswith(prefix):
            text = text[len(prefix):].strip("() ")
            break
    return (text or type(err).__name__)[:200]


def damaged_file_error(path: str | Path, err: BaseException) -> OdahgenError:
    """The one-line error for a trial file that opened but could not be read: its first
    schema problem (a missing group or dataset) when the structure is wrong, else a
    damaged-file message (an HDF5 file truncated or overwritten after it was written)."""
    path = Path(path)
    problems = check_schema(path) if isinstance(err, KeyError) else []  # h5py: a missing object
    if problems:
        missing = re.search(r"object '([^']+)' doesn't exist", str(err))
        named = [p for p in problems if missing and missing.group(1) in p]
        first = (named or problems)[0]
        first = first if first.startswith(str(path)) else f"{path}: {first}"
        more = f" (+{len(problems) - 1} more problems)" if len(problems) > 1 else ""
        return OdahgenError(f"{first}{more}")
    return OdahgenError(f"{path}: damaged HDF5 file, truncated or overwritten? ({type(err).__name__}: {_brief(err)})")


def _check_version(path: Path, f: h5py.File) -> str:
    schema = _attr_str(f.attrs, "schema")
    version = _attr_str(f.attrs, "schema_version")
    if schema != SCHEMA_NAME:
        raise OdahgenError(f"{path}: not an odahgen ground-truth file (schema attribute {schema!r})")
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise OdahgenError(f"{path}: unreadable schema_version {version!r}") from None
    if major != SUPPORTED_MAJOR:
        raise OdahgenError(
            f"{path}: schema version {version} is not supported by this odahgen (reads {SUPPORTED_MAJOR}.x)"
        )
    return version


def load_trial(path: str | Path) -> TrialGT:
    """Read a trial file into a :class:`TrialGT` (NumPy arrays, units as in the schema).

    Raises OdahgenError (one line naming the file) on a missing file, a file that is not
    odahgen ground truth, an unsupported schema version, a missing required group or
    dataset, or a damaged (truncated, overwritten) HDF5 file.
    """
    path = Path(path)
    f = _open(path)
    try:
        with f:
            _check_version(path, f)
            return _read(f)
    except OdahgenError:
        raise
    except Exception as err:  # KeyError (a missing object), OSError/RuntimeError (damaged), ...
        raise damaged_file_error(path, err) from None


def _read(f: h5py.File) -> TrialGT:
    ma = f["meta"].attrs
    meta = TrialMeta(
        trial=_attr_str(ma, "trial"),
        subject=_attr_str(ma, "subject"),
        motion=_attr_str(ma, "motion"),
        seed=int(ma.get("seed", 0)),
        motion_source=_attr_str(ma, "motion_source"),
        fps=float(ma.get("fps", 60.0)),
        shape_variant=float(ma.get("shape_variant", 0.0)),
        scene_sample=int(ma.get("scene_sample", 0)),
        config_hash=_attr_str(ma, "config_hash"),
        versions=json.loads(_attr_str(ma, "versions", "{}") or "{}"),
    )
    k = f["kinematics"]
    markers = None
    if "markers" in f:
        g = f["markers"]
        markers = Markers(
            names=_str_list(g["names"]),
            positions=g["positions"][()],
            ik_rms=g["ik_rms"][()],
            ik_max=g["ik_max"][()],
            flagged=g["flagged"][()].astype(bool),
        )
    body = None
    if "body" in f:
        g = f["body"]
        body = BodyFit(
            model=_attr_str(g.attrs, "model"),
            shape=g["shape"][()],
            pose=g["pose"][()],
            trans=g["trans"][()],
            fit_joint_err=g["fit_joint_err"][()] if "fit_joint_err" in g else None,
            fit_marker_err=g["fit_marker_err"][()] if "fit_marker_err" in g else None,
        )
    cameras: dict[str, Camera] = {}
    for view, c in f.get("cameras", {}).items():
        res = c["resolution"][()]
        cameras[view] = Camera(
            K=c["K"][()],
            R=c["R"][()],
            t=c["t"][()],
            resolution=(int(res[0]), int(res[1])),
            focal_mm=float(c["focal_mm"][()]),
            sensor_width_mm=float(c["sensor_width_mm"][()]),
            keypoints_2d=c["keypoints_2d"][()],
            visibility=c["visibility"][()].astype(bool),
            keypoints_in_mask=c["keypoints_in_mask"][()].astype(bool) if "keypoints_in_mask" in c else None,
            **read_camera_fields(c),
        )
    scene = {}
    if "scene" in f and "json" in f["scene"]:
        scene = json.loads(f["scene"]["json"].asstr()[()])
    videos: dict[str, Video] = {}
    for view, g in f.get("videos", {}).items():
        videos[view] = Video(
            path=_attr_str(g.attrs, "path"),
            codec=_attr_str(g.attrs, "codec"),
            n_frames=int(g.attrs.get("n_frames", 0)),
            fps=float(g.attrs.get("fps", 0.0)),
            mask_path=_attr_str(g.attrs, "mask_path"),
        )
    qa = None
    if "qa" in f and "passed" in f["qa"].attrs:
        qa_attrs = f["qa"].attrs
        metrics = json.loads(_attr_str(qa_attrs, "metrics", "{}") or "{}")
        qa = QARecord(
            passed=bool(qa_attrs["passed"]),
            reasons=list(json.loads(_attr_str(qa_attrs, "reasons", "[]") or "[]")),
            metrics={key: (float("nan") if val is None else float(val)) for key, val in metrics.items()},
        )
    ranges = k["ranges"][()] if "ranges" in k else None
    return TrialGT(
        meta=meta,
        joint_angles=k["joint_angles"][()],
        segment_scales=k["segment_scales"][()],
        keypoints_3d=k["keypoints_3d"][()],
        coordinate_ranges=ranges,
        markers=markers,
        body=body,
        cameras=cameras,
        scene=scene,
        videos=videos,
        qa=qa,
        model_file=_attr_str(k.attrs, "model_file"),
        coordinate_names=tuple(_str_list(k["coordinate_names"])),
        body_names=tuple(_str_list(k["body_names"])),
        keypoint_names=tuple(_str_list(k["keypoint_names"])),
        coco=read_coco(f),
    )


# --------------------------------------------------------------------------------------
# Schema check on a file
# --------------------------------------------------------------------------------------

_REQUIRED_META = ("trial", "subject", "motion", "seed", "fps", "n_frames", "config_hash")


def check_schema(path: str | Path) -> list[str]:
    """Problems of the file at ``path`` against the schema (empty list = conforms).

    Checks the version, required groups/datasets, dtypes, shapes against T (from
    ``/meta`` n_frames), the canonical name lists and the ``/meta`` frame count.
    """
    path = Path(path)
    problems: list[str] = []
    try:
        f = _open(path)
    except OdahgenError as err:
        return [str(err)]
    try:
        with f:
            _check_schema(path, f, problems)
    except OdahgenError as err:
        return [str(err)]
    except Exception as err:  # h5py on a damaged file: KeyError, OSError, RuntimeError, ...
        problems.append(f"{path}: damaged HDF5 file, truncated or overwritten? ({type(err).__name__}: {_brief(err)})")
    return problems


def _check_schema(path: Path, f: h5py.File, problems: list[str]) -> None:
    _check_version(path, f)
    for group in ("meta", "kinematics", "cameras", "scene", "videos", "qa"):
        if group not in f:
            problems.append(f"missing group /{group}")
    if "meta" not in f or "kinematics" not in f:
        return
    for key in _REQUIRED_META:
        if key not in f["meta"].attrs:
            problems.append(f"missing /meta attribute {key}")
    T = int(f["meta"].attrs.get("n_frames", -1))

    def need(name: str, shape: tuple, kind: str) -> None:
        if name not in f:
            problems.append(f"missing dataset /{name}")
            return
        ds = f[name]
        if not isinstance(ds, h5py.Dataset):
            problems.append(f"/{name} is not a dataset")
            return
        if ds.dtype.kind not in kind:
            problems.append(f"/{name} has dtype {ds.dtype}, expected kind {kind!r}")
        p = _shape_problem(f"/{name}", np.empty(ds.shape, dtype=np.uint8), shape)
        if p:
            problems.append(p)

    need("kinematics/joint_angles", (T, N_COORDS), "f")
    need("kinematics/coordinate_names", (N_COORDS,), "OS")
    need("kinematics/rotational", (N_COORDS,), "b")
    need("kinematics/ranges", (N_COORDS, 2), "f")
    need("kinematics/segment_scales", (N_BODIES, 3), "f")
    need("kinematics/body_names", (N_BODIES,), "OS")
    need("kinematics/keypoints_3d", (T, N_KEYPOINTS, 3), "f")
    need("kinematics/keypoint_names", (N_KEYPOINTS,), "OS")
    for group, expected in (
        ("kinematics/coordinate_names", COORDINATE_NAMES),
        ("kinematics/body_names", BODY_NAMES),
        ("kinematics/keypoint_names", KEYPOINT_NAMES),
    ):
        if group in f and tuple(_str_list(f[group])) != expected:
            problems.append(f"/{group} differs from the canonical order")
    if "markers" in f:
        M = f["markers/names"].shape[0] if "markers/names" in f else -1
        need("markers/names", (M,), "OS")
        need("markers/positions", (T, M, 3), "f")
        need("markers/ik_rms", (T,), "f")
        need("markers/ik_max", (T,), "f")
        need("markers/flagged", (T,), "b")
    if "body" in f:
        need("body/shape", (None,), "f")
        need("body/pose", (T, None), "f")
        need("body/trans", (T, 3), "f")
        for name in ("fit_joint_err", "fit_marker_err"):
            if name in f["body"]:
                need(f"body/{name}", (T,), "f")
    cameras = f["cameras"] if "cameras" in f else {}
    videos = f["videos"] if "videos" in f else {}
    if "cameras" in f and len(cameras) == 0:
        problems.append("no camera under /cameras")
    for view in cameras:
        base = f"cameras/{view}"
        need(f"{base}/K", (3, 3), "f")
        need(f"{base}/R", (3, 3), "f")
        need(f"{base}/t", (3,), "f")
        need(f"{base}/resolution", (2,), "iu")
        need(f"{base}/focal_mm", (), "f")
        need(f"{base}/sensor_width_mm", (), "f")
        need(f"{base}/keypoints_2d", (T, N_KEYPOINTS, 2), "f")
        need(f"{base}/visibility", (T, N_KEYPOINTS), "b")
        if "keypoints_in_mask" in f[base]:
            need(f"{base}/keypoints_in_mask", (T, N_KEYPOINTS), "b")
        if "distortion" in f[base]:
            need(f"{base}/distortion", (5,), "f")
            if f[f"{base}/distortion"].shape == (5,) and not np.isfinite(f[f"{base}/distortion"][()]).all():
                problems.append(f"/{base}/distortion is not finite")
        if "videos" in f and view not in videos:
            problems.append(f"camera {view!r} has no /videos/{view} entry")
    for view in videos:
        attrs = videos[view].attrs
        for key in ("path", "codec", "n_frames", "fps"):
            if key not in attrs:
                problems.append(f"missing /videos/{view} attribute {key}")
    check_file(f, need, T, problems)
    if "scene" in f:
        need("scene/json", (), "OS")
    if "qa" in f and "passed" not in f["qa"].attrs:
        problems.append("no QA result in /qa (attribute passed)")
