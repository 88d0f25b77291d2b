"""The ``amass`` source: AMASS ``.npz`` files (SMPL-H: poses (T, 156); SMPL-X: poses (T, 165)).

Fields read: ``poses``, ``trans`` (T, 3) m, ``betas``, ``gender``, ``mocap_framerate`` or
``mocap_frame_rate``, ``surface_model_type`` (optional). Files are opened with
``allow_pickle=False``; one that needs pickle is rejected with a one-line error, and so is
a file that is not an .npz at all (random bytes, a pickle, a lone .npy), naming the file.

Three outputs (option ``output``):

- ``"markers"`` (default; the paper's route): the sequence poses a body mesh and the motion
  is that mesh's virtual markers, which then go through OpenSim scaling + IK like any marker
  source (:mod:`odahgen.motion.body_markers`). With the user's SMPL-X files (``model_dir``)
  the body is SMPL-X itself; without them, the joint rotations are retargeted onto the
  default body model's (anny's) rig and anny's virtual markers are used.
- ``"coordinates"``: the joint rotations decomposed directly onto the Rajagopal coordinates
  (:mod:`odahgen.motion.retarget`; exact round trip, no mesh, no body model to load). It skips the
  soft-tissue/marker step, so it is an option, not the default.
- ``"body_params"``: the parameters themselves (Z-up converted to the OpenSim frame).

A folder (e.g. BMLMovi) gives one motion per file, the subject being the file's folder.
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

LAYOUTS = {156: "smplh", 165: "smplx"}
GENDERS = {"male": "male", "female": "female", "neutral": "neutral"}


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


def read_amass(path: Path) -> dict:
    """Read and check an AMASS npz: returns poses, trans, betas, gender, fps, layout."""
    _check_npz_signature(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except ValueError as err:
        if "pickle" in str(err):
            raise OdahgenError(f"{path}: contains Python object arrays that need pickle; refusing to load it") from None
        raise OdahgenError(f"{path}: truncated or corrupt .npz ({err})") from None
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
        raise OdahgenError(f"{path}: truncated or corrupt .npz ({type(err).__name__}: {err})") from None
    for key in ("poses", "trans"):
        if key not in data:
            raise OdahgenError(f"{path}: missing {key!r} (fields: {', '.join(sorted(data)) or 'none'})")
    poses, trans = np.asarray(data["poses"], np.float64), np.asarray(data["trans"], np.float64)
    if poses.ndim != 2 or poses.shape[0] == 0:
        raise OdahgenError(f"{path}: poses has shape {poses.shape}; expected (T, 156) or (T, 165) with T > 0")
    layout = LAYOUTS.get(poses.shape[1])
    smt = str(data["surface_model_type"]) if "surface_model_type" in data else None
    if layout is None:
        raise OdahgenError(f"{path}: poses has {poses.shape[1]} columns; expected 156 (SMPL-H) or 165 (SMPL-X)")
    if smt is not None and smt.lower().replace("-", "") not in (layout, "smplh" if layout == "smplh" else "smplx"):
        raise OdahgenError(f"{path}: surface_model_type {smt!r} does not match poses width {poses.shape[1]}")
    if trans.shape != (poses.shape[0], 3):
        raise OdahgenError(f"{path}: trans has shape {trans.shape} but poses has {poses.shape[0]} frames")
    if not (np.isfinite(poses).all() and np.isfinite(trans).all()):
        raise OdahgenError(f"{path}: poses or trans contain NaN or infinite values")
    fps = None
    for key in ("mocap_framerate", "mocap_frame_rate"):
        if key in data:
            fps = float(np.asarray(data[key]).reshape(-1)[0])
    if fps is None or not np.isfinite(fps) or fps <= 0:
        raise OdahgenError(f"{path}: missing or invalid mocap_framerate / mocap_frame_rate")
    gender = None
    if "gender" in data:
        g = np.asarray(data["gender"]).reshape(-1)[0]
        g = g.decode() if isinstance(g, bytes) else str(g)
        gender = GENDERS.get(g.strip().lower())
        if gender is None:
            raise OdahgenError(f"{path}: unknown gender {g!r} (expected male, female or neutral)")
    betas = np.asarray(data.get("betas", np.zeros(16)), np.float64).reshape(-1)
    return {"poses": poses, "trans": trans, "betas": betas, "gender": gender, "fps": fps, "layout": layout}


class AmassSource(FileMotionSource):
    """AMASS npz files. Options: ``path`` (file or folder), ``output`` ("markers" (default),
    "coordinates" or "body_params"), ``model_dir`` (folder with the user's SMPLX_*.npz: the
    markers come from SMPL-X; without it from anny), ``face_forward`` (rotate so the subject
    faces +X at t=0; default True)."""

    name = "amass"
    description = "AMASS .npz (SMPL-H / SMPL-X) -> body mesh -> virtual markers (or coordinates)"
    extensions = (".npz",)

    def __init__(self, path=None, output: str = "markers", face_forward: bool = True,
                 model_dir: str | None = None, **options):
        super().__init__(path=path, **options)
        if output not in ("markers", "coordinates", "body_params"):
            raise OdahgenError(f"amass: output must be 'markers', 'coordinates' or 'body_params', got {output!r}")
        self.output, self.face_forward = output, bool(face_forward)
        self.model_dir = str(model_dir) if model_dir else None

    def _files(self):
        idx = super()._files()
        return {k: v for k, v in idx.items() if v.name.lower() not in ("shape.npz",)}

    def load_file(self, path: Path, motion_id: str) -> Motion:
        d = read_amass(path)
        T = d["poses"].shape[0]
        meta = {"layout": d["layout"], "source_fps": d["fps"]}
        if self.output == "body_params":
            W = RT.ZUP_TO_OPENSIM
            params = {"poses": d["poses"], "trans": d["trans"] @ W.T, "betas": d["betas"],
                      "world_rotation": W, "layout": d["layout"]}
            return Motion(id=motion_id, source=self.name, fps=d["fps"], times=uniform_times(T, d["fps"]),
                          body_params=params, sex=d["gender"], path=str(path), meta=meta)
        if self.output == "markers":
            from odahgen.motion.body_markers import amass_markers  # noqa: PLC0415

            body = "smplx" if self.model_dir else "anny"
            try:
                names, mk, info = amass_markers(d, body, self.model_dir, face_forward=self.face_forward)
            except OdahgenError as err:
                raise OdahgenError(f"{path}: {err}") from None
            return Motion(id=motion_id, source=self.name, fps=d["fps"], times=uniform_times(T, d["fps"]),
                          markers=mk, marker_names=tuple(names), sex=d["gender"], path=str(path),
                          meta={**meta, **info})
        coords = RT.smpl_to_coordinates(d["poses"], d["trans"], world="zup")
        if self.face_forward:
            coords = RT.face_forward(coords)
        coords = RT.ground_feet(coords)
        return Motion(id=motion_id, source=self.name, fps=d["fps"], times=uniform_times(T, d["fps"]),
                      coordinates=coords, coordinate_names=COORDINATE_NAMES, sex=d["gender"],
                      path=str(path), meta=meta)


def write_amass(path, poses: np.ndarray, trans: np.ndarray, fps: float, gender: str = "neutral",
                betas: np.ndarray | None = None, layout: str | None = None) -> Path:
    """Write an AMASS-format npz (no pickled objects); used by tests and the benchmark."""
    poses = np.asarray(poses, np.float64)
    layout = layout or LAYOUTS.get(poses.shape[1], "smplh")
    key = "mocap_framerate" if layout == "smplh" else "mocap_frame_rate"
    np.savez(path, poses=poses, trans=np.asarray(trans, np.float64),
             betas=np.zeros(16) if betas is None else np.asarray(betas, np.float64),
             gender=np.array(gender), surface_model_type=np.array(layout), **{key: np.array(float(fps))})
    return Path(path)
