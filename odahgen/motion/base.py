"""The motion-source interface: :class:`Motion` (one loaded recording) and :class:`MotionSource`.

A motion is a time series at a constant frame rate carrying exactly one kind of data:

- ``coordinates``: OpenSim coordinates, shape (T, C) — radians for rotations, metres for
  ``pelvis_tx/ty/tz`` — named by ``coordinate_names`` (usually the 39 Rajagopal names);
- ``markers``: marker trajectories, shape (T, M, 3) in metres in the OpenSim world frame
  (Y up), named by ``marker_names``; NaN marks a gap;
- ``body_params``: body-model parameters (e.g. AMASS/SMPL ``poses`` (T, J*3) axis-angle,
  ``trans`` (T, 3) m, ``betas``, ``gender``), already converted to the OpenSim world frame.

Everything is validated on construction: a bad motion raises :class:`OdahgenError` with a
one-line message that names its file.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from odahgen.errors import OdahgenError

DATA_KINDS = ("coordinates", "markers", "body_params")
SEXES = ("male", "female", "neutral")


@dataclasses.dataclass
class Motion:
    """One motion (recording) of a source.

    Attributes:
        id: motion id, ``[A-Za-z0-9_.-]+``.
        source: name of the source that produced it.
        fps: frame rate (Hz).
        times: (T,) seconds, ``times[0]`` usually 0, spacing 1/fps.
        coordinates: (T, C) float64 rad / m, or None.
        coordinate_names: C names, or None.
        marker_names: M names, or None.
        markers: (T, M, 3) float64 metres (NaN = gap), or None.
        body_params: dict of arrays (first axis T for per-frame ones), or None.
        height_m, mass_kg, sex: subject information where known (else None).
        subject: subject id where known (e.g. the AMASS folder), else None.
        path: the file the motion came from (None for generated motions).
        meta: free-form extra information (JSON-serialisable values).
        contact: (T, 2) bool, right / left foot planted on the floor as the motion was made
            (the procedural motions carry it, so that the pelvis can be placed again from the
            feet of a subject-scaled skeleton), or None. ``meta["contact_mode"]`` says how:
            "planted" (both feet fixed throughout), "stance" (this schedule; frames with
            no foot down are flight) or "placed" (the same, the feet planned in the world), ``meta["flight_velocity"]`` whether a flight keeps the
            take-off horizontal velocity.
    """

    id: str
    source: str
    fps: float
    times: np.ndarray
    coordinates: np.ndarray | None = None
    coordinate_names: tuple[str, ...] | None = None
    markers: np.ndarray | None = None
    marker_names: tuple[str, ...] | None = None
    body_params: dict[str, Any] | None = None
    height_m: float | None = None
    mass_kg: float | None = None
    sex: str | None = None
    subject: str | None = None
    path: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    contact: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.validate()

    # -- properties ----------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """Which data the motion carries: 'coordinates', 'markers' or 'body_params'."""
        if self.coordinates is not None:
            return "coordinates"
        if self.markers is not None:
            return "markers"
        return "body_params"

    @property
    def n_frames(self) -> int:
        return int(len(self.times))

    @property
    def duration(self) -> float:
        """Seconds covered, (T-1)/fps."""
        return (self.n_frames - 1) / self.fps if self.n_frames else 0.0

    def where(self) -> str:
        return self.path or f"{self.source}:{self.id}"

    def coordinate(self, name: str) -> np.ndarray:
        """(T,) values of one coordinate."""
        if self.coordinates is None or self.coordinate_names is None:
            raise OdahgenError(f"{self.where()}: motion has no coordinates")
        try:
            return self.coordinates[:, self.coordinate_names.index(name)]
        except ValueError:
            raise OdahgenError(f"{self.where()}: no coordinate {name!r}") from None

    def replace(self, **changes: Any) -> "Motion":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly description (no arrays)."""
        out: dict[str, Any] = {
            "id": self.id, "source": self.source, "kind": self.kind, "fps": self.fps,
            "frames": self.n_frames, "seconds": round(self.duration, 4),
            "height_m": self.height_m, "mass_kg": self.mass_kg, "sex": self.sex,
            "subject": self.subject, "path": self.path,
        }
        if self.coordinate_names is not None:
            out["coordinates"] = len(self.coordinate_names)
        if self.marker_names is not None:
            out["markers"] = list(self.marker_names)
            out["gap_fraction"] = float(np.isnan(self.markers).any(axis=2).mean()) if self.n_frames else 0.0
        if self.body_params is not None:
            out["body_params"] = {k: list(np.shape(v)) for k, v in self.body_params.items()}
        if self.contact is not None:
            out["contact_fraction"] = [round(float(x), 4) for x in self.contact.mean(axis=0)]
        out.update({f"meta.{k}": v for k, v in self.meta.items() if isinstance(v, (str, int, float, bool))})
        return out

    # -- validation -----------------------------------------------------------------------
    def validate(self) -> None:
        where = self.where()
        from odahgen.io import check_id  # noqa: PLC0415

        try:
            check_id(self.id, "motion id")
        except OdahgenError as err:
            raise OdahgenError(f"{where}: {err}") from None
        present = [k for k in DATA_KINDS if getattr(self, k) is not None]
        if len(present) != 1:
            raise OdahgenError(f"{where}: a motion needs exactly one of {DATA_KINDS}, got {present or 'none'}")
        if not (isinstance(self.fps, (int, float, np.floating)) and np.isfinite(self.fps) and self.fps > 0):
            raise OdahgenError(f"{where}: invalid frame rate {self.fps!r}")
        self.fps = float(self.fps)
        self.times = np.asarray(self.times, dtype=np.float64)
        if self.times.ndim != 1:
            raise OdahgenError(f"{where}: times must be 1-D, got shape {self.times.shape}")
        T = len(self.times)
        if T == 0:
            raise OdahgenError(f"{where}: zero frames")
        if not np.all(np.isfinite(self.times)) or (T > 1 and np.any(np.diff(self.times) <= 0)):
            raise OdahgenError(f"{where}: times are not finite and strictly increasing")
        if self.coordinates is not None:
            c = np.asarray(self.coordinates, dtype=np.float64)
            names = tuple(self.coordinate_names or ())
            if c.ndim != 2 or c.shape[0] != T or c.shape[1] != len(names):
                raise OdahgenError(
                    f"{where}: coordinates shape {c.shape} does not match {T} frames x {len(names)} names")
            if not np.all(np.isfinite(c)):
                raise OdahgenError(f"{where}: coordinates contain NaN or infinite values")
            self.coordinates, self.coordinate_names = c, names
        if self.markers is not None:
            m = np.asarray(self.markers, dtype=np.float64)
            names = tuple(self.marker_names or ())
            if m.ndim != 3 or m.shape[0] != T or m.shape[2] != 3 or m.shape[1] != len(names):
                raise OdahgenError(
                    f"{where}: markers shape {m.shape} does not match {T} frames x {len(names)} names x 3")
            if np.isinf(m).any():
                raise OdahgenError(f"{where}: markers contain infinite values")
            if len(set(names)) != len(names):
                raise OdahgenError(f"{where}: duplicate marker names")
            self.markers, self.marker_names = m, names
        if self.body_params is not None:
            if not isinstance(self.body_params, dict):
                raise OdahgenError(f"{where}: body_params must be a dict")
            for key, val in self.body_params.items():
                arr = np.asarray(val)
                if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                    raise OdahgenError(f"{where}: body parameter {key!r} contains NaN or infinite values")
        if self.contact is not None:
            ct = np.asarray(self.contact)
            if ct.shape != (T, 2) or ct.dtype.kind not in "bui":
                raise OdahgenError(f"{where}: contact must be (T, 2) bool for {T} frames, got {ct.shape} {ct.dtype}")
            self.contact = ct.astype(bool)
        if self.sex is not None and self.sex not in SEXES:
            raise OdahgenError(f"{where}: unknown sex/gender {self.sex!r} (expected one of {SEXES})")
        for attr, lo, hi in (("height_m", 0.3, 3.0), ("mass_kg", 5.0, 500.0)):
            val = getattr(self, attr)
            if val is not None and not (lo <= float(val) <= hi):
                raise OdahgenError(f"{where}: implausible {attr} {val!r}")


class MotionSource:
    """Base class of motion sources. Subclasses set :attr:`name` and implement
    :meth:`list_motions` and :meth:`load`.

    Constructor keyword options are source specific (e.g. ``path`` for file sources). A
    source must list its motions cheaply (no full parse) and raise :class:`OdahgenError`
    from :meth:`load` for a bad motion; listing never fails because of one bad file.
    """

    #: registry name, e.g. ``"procedural"``
    name: str = ""
    #: one-line description shown by ``odahgen motion list``
    description: str = ""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def list_motions(self) -> list[str]:
        """Ids of the motions of this source, sorted."""
        raise NotImplementedError

    def load(self, motion_id: str, seed: int = 0) -> Motion:
        """Load one motion. ``seed`` selects the variation of generated motions (ignored
        by file sources)."""
        raise NotImplementedError

    def describe(self, motion_id: str) -> dict[str, Any]:
        """Information about one motion without necessarily loading all of it."""
        return self.load(motion_id).summary()

    def iter_load(self, motion_ids: list[str] | None = None, seed: int = 0) -> Iterator[tuple[str, Motion | None, str | None]]:
        """Yield ``(motion_id, motion or None, error or None)``: one bad motion never stops the others."""
        for mid in (self.list_motions() if motion_ids is None else motion_ids):
            try:
                yield mid, self.load(mid, seed=seed), None
            except OdahgenError as err:
                yield mid, None, str(err)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class FileMotionSource(MotionSource):
    """A source over a file or a folder of files with given extensions: one motion per file.

    Motion ids are the file stem; files in sub-folders get ``<folder>.<stem>`` ids (the
    folder is the subject, as in AMASS's ``<dataset>/<subject>/<trial>.npz`` layout).
    Characters outside ``[A-Za-z0-9_.-]`` are replaced with ``_``.

    Options: ``path`` (file or folder; required).
    """

    extensions: tuple[str, ...] = ()

    def __init__(self, path: str | os.PathLike | None = None, **options: Any) -> None:
        super().__init__(path=path, **options)
        if not path:
            raise OdahgenError(f"motion source {self.name!r} needs a path (a file or a folder)")
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise OdahgenError(f"{self.path}: no such file or folder (motion source {self.name!r})")
        self._index: dict[str, Path] | None = None

    def _files(self) -> dict[str, Path]:
        if self._index is None:
            index: dict[str, Path] = {}
            if self.path.is_file():
                files = [self.path]
                root = self.path.parent
            else:
                root = self.path
                files = sorted(p for p in self.path.rglob("*")
                               if p.is_file() and p.name.lower().endswith(self.extensions))
            for f in files:
                rel = f.relative_to(root)
                parts = [*rel.parts[:-1], _stem(f.name, self.extensions)]
                mid = ".".join(_sanitize(p) for p in parts)
                if mid in index:  # same id twice: disambiguate with the extension
                    mid = f"{mid}.{f.suffix.lstrip('.').lower()}"
                index[mid] = f
            self._index = index
        return self._index

    def list_motions(self) -> list[str]:
        return sorted(self._files())

    def file_of(self, motion_id: str) -> Path:
        try:
            return self._files()[motion_id]
        except KeyError:
            raise OdahgenError(f"{self.path}: no motion {motion_id!r} in source {self.name!r}") from None

    def subject_of(self, motion_id: str) -> str | None:
        f = self.file_of(motion_id)
        if self.path.is_dir() and f.parent != self.path:
            return _sanitize(f.parent.name)
        return None

    def load(self, motion_id: str, seed: int = 0) -> Motion:
        f = self.file_of(motion_id)
        try:
            motion = self.load_file(f, motion_id)
        except OdahgenError:
            raise
        except (OSError, ValueError, KeyError, IndexError, TypeError, RuntimeError, EOFError) as err:
            raise OdahgenError(f"{f}: cannot read ({type(err).__name__}: {err})") from err
        if motion.subject is None:
            motion.subject = self.subject_of(motion_id)
        return motion

    def load_file(self, path: Path, motion_id: str) -> Motion:
        raise NotImplementedError


def _stem(name: str, extensions: tuple[str, ...]) -> str:
    low = name.lower()
    for ext in sorted(extensions, key=len, reverse=True):
        if low.endswith(ext):
            return name[: -len(ext)]
    return Path(name).stem


def _sanitize(text: str) -> str:
    out = "".join(ch if (ch.isascii() and (ch.isalnum() or ch in "_.-")) else "_" for ch in text)
    out = out.strip(".") or "_"
    return out


def uniform_times(n_frames: int, fps: float, start: float = 0.0) -> np.ndarray:
    """(T,) seconds ``start + i/fps``."""
    return start + np.arange(int(n_frames), dtype=np.float64) / float(fps)
