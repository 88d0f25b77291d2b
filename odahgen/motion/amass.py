"""The ``amass`` source: AMASS ``.npz`` files as users have them (SMPL-H, SMPL-X, SMPL).

Layouts read (:func:`read_amass`):

- SMPL-H (AMASS's "SMPL+H G" release): ``poses`` (T, 156) axis-angle (root, 21 body joints,
  2 x 15 hand joints), ``trans`` (T, 3) m, ``betas`` (16,), ``gender``, ``mocap_framerate``
  (e.g. 120.00004577), ``dmpls`` (ignored);
- SMPL-X (the "SMPL-X N" release): ``poses`` (T, 165) and/or the split keys ``root_orient``
  (T, 3), ``pose_body`` (T, 63), ``pose_jaw`` (T, 3), ``pose_eye`` (T, 6), ``pose_hand``
  (T, 90), with ``trans``, ``betas``, ``gender``, ``mocap_frame_rate``, ``surface_model_type``;
  a file with only the split keys is assembled into ``poses``;
- SMPL (``poses`` (T, 72)); only the first 22 joints (66 values) are used in every layout.

``gender`` and ``surface_model_type`` may be a str, bytes, a 0-d or a one-element array of
either. Files are opened with ``allow_pickle=False``; a file that needs pickle, is not an
.npz, or has a missing, mis-shaped or non-finite key is refused with a one-line error naming
the file and the key.

Three outputs (option ``output``):

- ``"markers"`` (default; the paper's route): the sequence poses a body mesh and the motion
  is that mesh's virtual markers, which then go through OpenSim scaling + IK like any marker
  source (:mod:`odahgen.motion.body_markers`). With the user's SMPL-X files (``model_dir``)
  the body is SMPL-X itself, with the file's own ``betas``; without them, the joint rotations
  are retargeted onto the default body model's (anny's) rig and anny's virtual markers are
  used. With ``markers="lab"`` the motion is instead the lab markers embedded in the file
  (``markers`` / ``marker_data`` / ``markers_obs`` (T, M, 3), labels ``labels`` /
  ``marker_labels`` / ``labels_obs`` (M,)), the markers AMASS was fitted from.
- ``"coordinates"``: the joint rotations decomposed directly onto the Rajagopal coordinates
  (:mod:`odahgen.motion.retarget`; exact round trip, no mesh, no body model to load). It skips the
  soft-tissue/marker step, so it is an option, not the default.
- ``"body_params"``: the parameters themselves (Z-up converted to the OpenSim frame).

A folder (e.g. BMLMovi) gives one motion per file, the subject being the file's folder.
Options can also ride on the path (``motion.path = "data/amass?markers=lab"``; see
:func:`odahgen.motion.registry.get_source`).
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.motion import retarget as RT
from odahgen.motion.base import FileMotionSource, Motion, uniform_times
from odahgen.skeleton.names import COORDINATE_NAMES

LAYOUTS = {156: "smplh", 165: "smplx", 72: "smpl"}
WIDTHS = {v: k for k, v in LAYOUTS.items()}
GENDERS = {"male": "male", "female": "female", "neutral": "neutral", "m": "male", "f": "female",
           "n": "neutral"}
FPS_KEYS = ("mocap_framerate", "mocap_frame_rate")
#: SMPL-X split keys: name -> values per frame, in the order of SMPL-X's ``poses``
SMPLX_PARTS = (("root_orient", 3), ("pose_body", 63), ("pose_jaw", 3), ("pose_eye", 6), ("pose_hand", 90))
LAB_MARKER_KEYS = ("markers", "marker_data", "markers_obs")
LAB_LABEL_KEYS = ("labels", "marker_labels", "labels_obs")
MARKER_CHOICES = ("mesh", "lab")


def _check_npz_signature(path: Path) -> None:
    """Refuse, naming the file, what is not an .npz (a zip archive) before NumPy guesses:
    given anything else NumPy falls back to unpickling and says "needs pickle"."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as err:
        raise OdahgenError(f"{path}: cannot read: {err.strerror}") from None
    if not head:
        raise OdahgenError(f"{path}: empty file, not an .npz")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):  # zip (empty zip)
        return
    if head.startswith(b"\x93NUMPY"):
        raise OdahgenError(f"{path}: a single .npy array, not an .npz archive of named arrays (poses, trans, ...)")
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        raise OdahgenError(f"{path}: a Python pickle, not an .npz; refusing to unpickle it")
    raise OdahgenError(f"{path}: not an .npz file (no zip signature; truncated at the start, or another format)")


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    _check_npz_signature(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {}
            for k in npz.files:
                try:
                    data[k] = npz[k]
                except ValueError as err:
                    if "pickle" in str(err):
                        raise OdahgenError(f"{path}: key {k!r} is a Python object array that needs pickle; "
                                           f"refusing to load it") from None
                    raise
            return data
    except OdahgenError:
        raise
    except ValueError as err:
        raise OdahgenError(f"{path}: truncated or corrupt .npz ({err})") from None
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
        raise OdahgenError(f"{path}: truncated or corrupt .npz ({type(err).__name__}: {err})") from None


def _text(path: Path, data: dict, key: str) -> str | None:
    """A text scalar (str, bytes, a 0-d or one-element array of either) or None if absent."""
    if key not in data:
        return None
    a = np.asarray(data[key])
    if a.size != 1 or a.dtype.kind not in "USO":
        raise OdahgenError(f"{path}: {key!r} must be one string, got a {a.dtype} array of shape {a.shape}")
    v = a.reshape(-1)[0]
    if isinstance(v, bytes):
        try:
            v = v.decode("utf-8")
        except UnicodeDecodeError:
            raise OdahgenError(f"{path}: {key!r} is not UTF-8 text: {v!r}") from None
    return str(v).strip().strip("\x00").strip()


def _number(path: Path, data: dict, key: str) -> float:
    a = np.asarray(data[key])
    if a.size != 1 or a.dtype.kind not in "iuf":
        raise OdahgenError(f"{path}: {key!r} must be one number, got a {a.dtype} array of shape {a.shape}")
    v = float(a.reshape(-1)[0])
    if not np.isfinite(v) or v <= 0:
        raise OdahgenError(f"{path}: {key!r} must be a positive frame rate, got {v!r}")
    return v


def _frames(path: Path, data: dict, key: str, width: int | None, T: int | None = None) -> np.ndarray:
    """A per-frame float array (T, width): shape, dtype and finiteness checked."""
    a = np.asarray(data[key])
    if a.dtype.kind not in "iuf":
        raise OdahgenError(f"{path}: {key!r} must be numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or (width is not None and a.shape[1] != width):
        want = f"(T, {width})" if width is not None else "(T, N)"
        raise OdahgenError(f"{path}: {key!r} has shape {a.shape}; expected {want} with T > 0")
    if T is not None and a.shape[0] != T:
        raise OdahgenError(f"{path}: {key!r} has {a.shape[0]} frames but poses has {T}")
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a).all(axis=1))[0])
        raise OdahgenError(f"{path}: {key!r} contains NaN or infinite values (first at frame {bad})")
    return a


def _layout_name(path: Path, smt: str | None) -> str | None:
    if smt is None:
        return None
    s = smt.lower().replace("-", "").replace("_", "").replace("+", "").replace(" ", "")
    for name in ("smplx", "smplh", "smpl"):
        if s.startswith(name):
            return name
    raise OdahgenError(f"{path}: unknown 'surface_model_type' {smt!r} (expected smplh, smplx or smpl)")


def _poses(path: Path, data: dict, smt_layout: str | None) -> tuple[np.ndarray, str, str]:
    """(poses (T, 3*J), layout, the key(s) they came from)."""
    if "poses" in data:
        poses = _frames(path, data, "poses", None)
        layout = LAYOUTS.get(poses.shape[1])
        if layout is None:
            raise OdahgenError(f"{path}: 'poses' has {poses.shape[1]} columns; expected 156 (SMPL-H), "
                               f"165 (SMPL-X) or 72 (SMPL)")
        if smt_layout is not None and smt_layout != layout:
            raise OdahgenError(f"{path}: 'surface_model_type' says {smt_layout} but 'poses' has "
                               f"{poses.shape[1]} columns ({layout})")
        return poses, layout, "poses"
    if "root_orient" in data and "pose_body" in data:
        root = _frames(path, data, "root_orient", 3)
        T = len(root)
        parts = {"root_orient": root, "pose_body": _frames(path, data, "pose_body", 63, T)}
        for key, width in SMPLX_PARTS[2:]:
            if key in data:
                parts[key] = _frames(path, data, key, width, T)
        layout = smt_layout or ("smplx" if ("pose_jaw" in parts or "pose_eye" in parts) else "smplh")
        if layout == "smpl":
            raise OdahgenError(f"{path}: 'surface_model_type' says smpl but the file has SMPL-X/H split keys")
        keys = [k for k, _ in SMPLX_PARTS] if layout == "smplx" else ["root_orient", "pose_body", "pose_hand"]
        widths = dict(SMPLX_PARTS)
        if layout == "smplh" and ("pose_jaw" in parts or "pose_eye" in parts):
            raise OdahgenError(f"{path}: 'surface_model_type' says smplh but the file has 'pose_jaw'/'pose_eye'")
        poses = np.concatenate([parts.get(k, np.zeros((T, widths[k]))) for k in keys], axis=1)
        return poses, layout, "root_orient + pose_body"
    present = sorted(data) or ["none"]
    raise OdahgenError(f"{path}: missing 'poses' (or 'root_orient' + 'pose_body'); keys: {', '.join(present)}")


def _lab_markers(path: Path, data: dict, T: int | None) -> tuple[list[str], np.ndarray, dict]:
    """Embedded lab markers: names, (T, M, 3) in the file's world and units converted to m
    (NaN = gap), info."""
    mkey = next((k for k in LAB_MARKER_KEYS if k in data), None)
    lkey = next((k for k in LAB_LABEL_KEYS if k in data), None)
    if mkey is None:
        raise OdahgenError(f"{path}: markers='lab' but the file has no embedded lab markers "
                           f"(none of {', '.join(repr(k) for k in LAB_MARKER_KEYS)})")
    if lkey is None:
        raise OdahgenError(f"{path}: {mkey!r} has no labels (none of {', '.join(repr(k) for k in LAB_LABEL_KEYS)})")
    mk = np.asarray(data[mkey])
    if mk.dtype.kind not in "iuf" or mk.ndim != 3 or mk.shape[2] != 3 or mk.shape[0] == 0 or mk.shape[1] == 0:
        raise OdahgenError(f"{path}: {mkey!r} has shape {mk.shape} ({mk.dtype}); expected (T, M, 3) numbers")
    if T is not None and mk.shape[0] != T:
        raise OdahgenError(f"{path}: {mkey!r} has {mk.shape[0]} frames but poses has {T}")
    lab = np.asarray(data[lkey])
    if lab.dtype.kind not in "US":
        raise OdahgenError(f"{path}: {lkey!r} must be strings, got dtype {lab.dtype}")
    if lab.ndim == 2 and len(lab) == mk.shape[0] and (lab == lab[:1]).all():
        lab = lab[0]  # per-frame labels that never change
    if lab.ndim != 1 or len(lab) != mk.shape[1]:
        raise OdahgenError(f"{path}: {lkey!r} has shape {lab.shape}; expected ({mk.shape[1]},), one label "
                           f"per marker of {mkey!r}")
    names = [(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).strip() for v in lab]
    if names and all(":" in n for n in names):  # "Subject:LASI" (Vicon) -> "LASI"
        names = [n.rsplit(":", 1)[1].strip() for n in names]
    if any(not n for n in names):
        raise OdahgenError(f"{path}: {lkey!r} has an empty label (marker {names.index('') + 1})")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise OdahgenError(f"{path}: {lkey!r} has duplicate labels: {', '.join(dup[:5])}")
    mk = mk.astype(np.float64)
    gap = ~np.isfinite(mk).all(axis=2) | (mk == 0).all(axis=2)  # NaN/inf or all-zero = gap
    mk[gap] = np.nan
    if gap.all():
        raise OdahgenError(f"{path}: {mkey!r} has no valid marker position (all NaN or zero)")
    scale, units = 1.0, "m"
    if np.nanmax(np.abs(mk)) > 50.0:  # no lab is 50 m wide: millimetres
        scale, units = 0.001, "mm"
    return names, mk * scale, {"lab_marker_key": mkey, "lab_label_key": lkey, "lab_marker_units": units,
                               "lab_gap_fraction": round(float(gap.mean()), 6)}


def read_amass(path: Path, lab_markers: bool = False) -> dict:
    """Read and check an AMASS npz (see the module docstring).

    Returns ``poses`` (T, 3*J) axis-angle (None if absent and ``lab_markers``), ``trans``
    (T, 3) m, ``betas`` (B,), ``gender`` (male / female / neutral / None), ``fps``,
    ``layout`` ("smplh", "smplx", "smpl"), ``pose_key``; with ``lab_markers`` also
    ``lab_names``, ``lab_markers`` (T, M, 3) m (Z up, NaN = gap) and ``lab_info``.
    """
    path = Path(path)
    data = _load_npz(path)
    smt = _text(path, data, "surface_model_type")
    smt_layout = _layout_name(path, smt)
    has_pose = "poses" in data or ("root_orient" in data and "pose_body" in data)
    poses = trans = None
    layout = smt_layout or "smplh"
    pose_key = None
    if has_pose or not lab_markers:
        poses, layout, pose_key = _poses(path, data, smt_layout)
        if "trans" not in data:
            raise OdahgenError(f"{path}: missing 'trans' (keys: {', '.join(sorted(data))})")
        trans = _frames(path, data, "trans", 3, len(poses))
    fps = None
    for key in FPS_KEYS:
        if key in data:
            fps = _number(path, data, key)
            break
    if fps is None:
        raise OdahgenError(f"{path}: missing frame rate ('mocap_framerate' or 'mocap_frame_rate')")
    gender = None
    g = _text(path, data, "gender")
    if g is not None:
        gender = GENDERS.get(g.lower())
        if gender is None:
            raise OdahgenError(f"{path}: 'gender' is {g!r} (expected male, female or neutral)")
    betas = np.zeros(16)
    if "betas" in data:
        b = np.asarray(data["betas"])
        if b.dtype.kind not in "iuf" or b.size == 0 or (b.ndim == 2 and b.shape[0] != 1) or b.ndim > 2:
            raise OdahgenError(f"{path}: 'betas' has shape {b.shape} ({b.dtype}); expected (B,) numbers")
        betas = b.astype(np.float64).reshape(-1)
        if not np.isfinite(betas).all():
            raise OdahgenError(f"{path}: 'betas' contains NaN or infinite values")
    out = {"poses": poses, "trans": trans, "betas": betas, "gender": gender, "fps": fps,
           "layout": layout, "pose_key": pose_key}
    if lab_markers:
        names, mk, info = _lab_markers(path, data, None if poses is None else len(poses))
        out.update(lab_names=names, lab_markers=mk, lab_info=info)
    return out


def _flag(value, name: str) -> bool:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise OdahgenError(f"amass: {name} must be true or false, got {value!r}")
    return bool(value)


class AmassSource(FileMotionSource):
    """AMASS npz files. Options: ``path`` (file or folder), ``output`` ("markers" (default),
    "coordinates" or "body_params"), ``markers`` ("mesh" (default): the body mesh's virtual
    markers; "lab": the lab markers embedded in the file), ``model_dir`` (folder with the
    user's SMPLX_*.npz: the mesh is SMPL-X with the file's betas; without it anny),
    ``face_forward`` (rotate so the subject faces +X at t=0; default True)."""

    name = "amass"
    description = "AMASS .npz (SMPL-H / SMPL-X) -> body mesh -> virtual markers (or lab markers, coordinates)"
    extensions = (".npz",)

    def __init__(self, path=None, output: str = "markers", face_forward: bool | str = True,
                 model_dir: str | None = None, markers: str = "mesh", **options):
        if options:
            raise OdahgenError(f"amass: unknown option(s) {', '.join(sorted(options))}; known: output, "
                               f"markers, model_dir, face_forward")
        super().__init__(path=path)
        if output not in ("markers", "coordinates", "body_params"):
            raise OdahgenError(f"amass: output must be 'markers', 'coordinates' or 'body_params', got {output!r}")
        if markers not in MARKER_CHOICES:
            raise OdahgenError(f"amass: markers must be 'mesh' (the body's virtual markers) or 'lab' "
                               f"(the file's embedded lab markers), got {markers!r}")
        if markers == "lab" and output != "markers":
            raise OdahgenError(f"amass: markers='lab' needs output='markers', got output={output!r}")
        self.output, self.markers = output, markers
        self.face_forward = _flag(face_forward, "face_forward")
        self.model_dir = str(model_dir) if model_dir else None
        if self.model_dir and not Path(self.model_dir).expanduser().exists():
            raise OdahgenError(f"{self.model_dir}: no such folder (amass model_dir, your SMPL-X model files)")

    def _files(self):
        idx = super()._files()
        return {k: v for k, v in idx.items() if v.name.lower() not in ("shape.npz",)}

    def load_file(self, path: Path, motion_id: str) -> Motion:
        d = read_amass(path, lab_markers=self.markers == "lab")
        meta = {"layout": d["layout"], "source_fps": d["fps"], "betas": [round(float(b), 6) for b in d["betas"]]}
        if self.markers == "lab":
            return self._lab(path, motion_id, d, meta)
        T = d["poses"].shape[0]
        times = uniform_times(T, d["fps"])
        if self.output == "body_params":
            W = RT.ZUP_TO_OPENSIM
            params = {"poses": d["poses"], "trans": d["trans"] @ W.T, "betas": d["betas"],
                      "world_rotation": W, "layout": d["layout"]}
            return Motion(id=motion_id, source=self.name, fps=d["fps"], times=times,
                          body_params=params, sex=d["gender"], path=str(path), meta=meta)
        if self.output == "markers":
            from odahgen.motion.body_markers import amass_markers  # noqa: PLC0415

            body = "smplx" if self.model_dir else "anny"
            try:
                names, mk, info = amass_markers(d, body, self.model_dir, face_forward=self.face_forward)
            except OdahgenError as err:
                raise OdahgenError(f"{path}: {err}") from None
            return Motion(id=motion_id, source=self.name, fps=d["fps"], times=times,
                          markers=mk, marker_names=tuple(names), sex=d["gender"], path=str(path),
                          meta={**meta, **info, "markers": "mesh"})
        coords = RT.smpl_to_coordinates(d["poses"], d["trans"], world="zup")
        if self.face_forward:
            coords = RT.face_forward(coords)
        coords = RT.ground_feet(coords)
        return Motion(id=motion_id, source=self.name, fps=d["fps"], times=times,
                      coordinates=coords, coordinate_names=COORDINATE_NAMES, sex=d["gender"],
                      path=str(path), meta=meta)

    def _lab(self, path: Path, motion_id: str, d: dict, meta: dict) -> Motion:
        """The embedded lab markers as the motion: Z-up world -> OpenSim frame, turned to face
        +X at t=0 (from the root orientation, else from the pelvis markers) and centred."""
        names, mk = d["lab_names"], d["lab_markers"] @ RT.ZUP_TO_OPENSIM.T
        facing = "kept"
        if self.face_forward:
            R = None
            if d["poses"] is not None:
                R, facing = RT.heading_rotation(d["poses"][:1]), "root_orient"
            else:
                R = _pelvis_heading(names, mk)
                facing = "pelvis markers" if R is not None else "unknown (kept)"
            if R is not None:
                mk = mk @ R.T
            first = np.flatnonzero(np.isfinite(mk).all(axis=2).any(axis=1))[0]
            centre = np.nanmean(mk[first], axis=0)
            mk[..., 0] -= centre[0]
            mk[..., 2] -= centre[2]
        T = len(mk)
        return Motion(id=motion_id, source=self.name, fps=d["fps"], times=uniform_times(T, d["fps"]),
                      markers=mk, marker_names=tuple(names), sex=d["gender"], path=str(path),
                      meta={**meta, **d["lab_info"], "markers": "lab", "facing_from": facing})


#: normalised labels (upper case, letters and digits only) of front and back pelvis markers
_FRONT = {"LASI", "RASI", "LASIS", "RASIS", "LFWT", "RFWT"}
_BACK = {"LPSI", "RPSI", "LPSIS", "RPSIS", "LBWT", "RBWT"}


def _pelvis_heading(names: list[str], mk: np.ndarray) -> np.ndarray | None:
    """Rotation about +Y turning the pelvis to face +X, from front and back pelvis markers
    (LASI/RASI/LPSI/RPSI, R.ASIS, LFWT/RBWT ...; any case or separator), or None."""
    key = ["".join(ch for ch in n.upper() if ch.isalnum()) for n in names]
    front = [i for i, k in enumerate(key) if k in _FRONT]
    back = [i for i, k in enumerate(key) if k in _BACK]
    if not front or not back:
        return None
    valid = np.isfinite(mk[:, front + back]).all(axis=(1, 2))
    if not valid.any():
        return None
    f = int(np.flatnonzero(valid)[0])
    return RT.yaw_to_x(mk[f, front].mean(axis=0) - mk[f, back].mean(axis=0))


def write_amass(path, poses: np.ndarray, trans: np.ndarray, fps: float, gender: str = "neutral",
                betas: np.ndarray | None = None, layout: str | None = None) -> Path:
    """Write an AMASS-format npz (no pickled objects); used by tests and the benchmark.
    (:mod:`odahgen.testing.amass` writes complete generated files in both layouts.)"""
    poses = np.asarray(poses, np.float64)
    layout = layout or LAYOUTS.get(poses.shape[1], "smplh")
    key = "mocap_framerate" if layout == "smplh" else "mocap_frame_rate"
    np.savez(path, poses=poses, trans=np.asarray(trans, np.float64),
             betas=np.zeros(16) if betas is None else np.asarray(betas, np.float64),
             gender=np.array(gender), surface_model_type=np.array(layout), **{key: np.array(float(fps))})
    return Path(path)
