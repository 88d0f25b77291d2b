"""The dataset configuration: pydantic models mirroring the TOML sections.

Every key is documented in ``configs/odah.toml`` (the paper's spec) and in
docs/configuration.md.
Unknown keys are rejected (``extra="forbid"``), so a typo never silently becomes a default.
Units: metres, seconds, millimetres only where the key says ``_mm``.

Limits: every float must be finite (``inf``/``nan`` are refused wherever they appear, lists
and tables included), and the keys that size a dataset or a trial have a maximum (e.g.
``dataset.subjects`` <= :data:`MAX_SUBJECTS`), so a typo such as ``subjects = 1000000000``
is refused up front, naming the key, instead of exhausting memory. The whole plan is
limited to :data:`MAX_TRIALS` trials (checked by ``odahgen plan``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: The most trials one plan may have (subjects x shape variants x motions x scene samples,
#: or rows of a ``--trials`` list). Planning keeps every trial spec in memory (~0.5 kB each)
#: and writes one job file per trial; split a bigger dataset into several.
MAX_TRIALS = 1_000_000
MAX_SUBJECTS = 100_000
MAX_SHAPE_VARIANTS = 100
MAX_SCENE_SAMPLES = 1_000
MAX_MOTIONS = 100_000

UPPER_GARMENTS = ("vest", "short_sleeves", "three_quarter_sleeves", "long_sleeves")
LOWER_GARMENTS = ("short_shorts", "knee_shorts", "capri", "trousers")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class DatasetConfig(_Section):
    """Which trials exist: subjects x shape variants x motions x scene samples."""

    name: str = Field("odah", pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(0, ge=0)
    subjects: int = Field(56, ge=1, le=MAX_SUBJECTS,
                          description=f"number of synthetic subjects (at most {MAX_SUBJECTS:,})")
    shape_variants: list[float] = Field(
        default_factory=lambda: [-1.0, -0.5, 0.0, 0.5, 1.0],
        description="BMI steps per subject (kg/m^2 offsets from the subject's own BMI; "
                    f"at most {MAX_SHAPE_VARIANTS}, each within +-50)",
        min_length=1, max_length=MAX_SHAPE_VARIANTS,
    )
    scene_samples: int = Field(1, ge=1, le=MAX_SCENE_SAMPLES,
                               description="scenes (clothing/lights/cameras) per motion "
                                           f"(at most {MAX_SCENE_SAMPLES:,})")
    split: dict[str, float] = Field(
        default_factory=lambda: {"train": 42.0, "val": 6.0, "test": 8.0},
        description="subject-level split proportions (normalised)",
    )

    @field_validator("split")
    @classmethod
    def _split_positive(cls, v: dict[str, float]) -> dict[str, float]:
        if not v or any(x < 0 for x in v.values()) or sum(v.values()) <= 0:
            raise ValueError("split needs non-negative proportions with a positive sum")
        return v

    @field_validator("shape_variants")
    @classmethod
    def _variants_bounded(cls, v: list[float]) -> list[float]:
        if any(abs(x) > 50 for x in v):
            raise ValueError("BMI steps must be within -50..50 kg/m^2")
        return v


class MotionConfig(_Section):
    """Where motions come from and how they are cut into clips."""

    source: str = Field("procedural", description="motion source name (see `odahgen motion list`)")
    path: str = Field("", description="data folder or file for file-based sources")
    motions: list[str] = Field(default_factory=list, max_length=MAX_MOTIONS,
                               description=f"motion ids; empty = all (at most {MAX_MOTIONS:,})")
    fps: float = Field(60.0, gt=0, le=1000, description="output frame rate (sources are resampled; <= 1000)")
    clip_seconds: float = Field(10.0, gt=0, le=3600,
                                description="clip length; longer recordings are split (<= 3600 s)")
    min_frames: int = Field(64, ge=1, le=1_000_000, description="clips shorter than this are rejected")
    max_gap_seconds: float = Field(0.1, ge=0, le=3600, description="marker gaps up to this are filled")


class SkeletonConfig(_Section):
    """The OpenSim model and the IK settings."""

    model: str = Field("builtin", description="'builtin' or a path to a user .osim")
    markers: str = Field("", description="optional marker set .xml for a user model")
    marker_map: str = Field("", description="optional file mapping data labels to model markers")
    ik_accuracy: float = Field(1e-5, gt=0)
    ik_workers: int = Field(0, ge=0, le=4096, description="parallel IK processes; 0 = one per core")
    bony_flag_m: float = Field(0.02, gt=0, description="flag frames with a bony landmark this far off")
    shoulder_girdle: bool = Field(
        True, description="marker motions: the shoulder centres follow the upper arms (a girdle fitted per "
                          "trial with the marker offsets, written into the trial's .osim); false: fixed on "
                          "the torso as in Rajagopal2016")


class BodyConfig(_Section):
    """The body mesh model fitted to the skeleton."""

    model: Literal["anny", "smplx"] = "anny"
    model_dir: str = Field("", description="folder with the user's SMPLX_*.npz (smplx only)")
    gender: Literal["neutral", "male", "female"] = "neutral"
    fit_iterations: int = Field(30, ge=1, le=100_000, description="L-BFGS iterations of the fit stage's all-frames pose optimisation")


class ClothingConfig(_Section):
    upper_types: list[str] = Field(default_factory=lambda: list(UPPER_GARMENTS), min_length=1)
    lower_types: list[str] = Field(default_factory=lambda: list(LOWER_GARMENTS), min_length=1)
    textures_per_type: int = Field(5, ge=1, le=1000)
    texture_dir: str = Field("", description="optional folder of user texture images")
    mode: Literal["types", "outfits", "shells"] = Field(
        "types", description="types: the 4 x 4 ODAH types cut from MakeHuman garments; outfits: whole "
                             "MakeHuman outfits; shells: generated from the body surface (any body model)")
    shoes: bool = Field(True, description="MakeHuman shoes on every subject (not with mode = shells)")
    hair: bool = Field(True, description="MakeHuman hair, eyebrows, eyelashes (not with mode = shells)")
    eyes: bool = Field(True, description="eyeballs with a seeded iris colour on anny's eye helpers (not with "
                                         "mode = shells)")

    @field_validator("upper_types")
    @classmethod
    def _upper_known(cls, v: list[str]) -> list[str]:
        return _check_members(v, UPPER_GARMENTS)

    @field_validator("lower_types")
    @classmethod
    def _lower_known(cls, v: list[str]) -> list[str]:
        return _check_members(v, LOWER_GARMENTS)


def _check_members(values: list[str], allowed: tuple[str, ...]) -> list[str]:
    unknown = [x for x in values if x not in allowed]
    if unknown:
        raise ValueError(f"unknown {unknown}; choose from {list(allowed)}")
    return values


class LightsConfig(_Section):
    count: int = Field(4, ge=1, le=64, description="area lights evenly spread on the ceiling (<= 64)")
    ceiling_height_m: float = Field(3.0, gt=0)
    power_w: tuple[float, float] = Field((300.0, 800.0), description="per-light power range")
    color_temperature_k: tuple[float, float] = Field((3500.0, 6500.0))

    @model_validator(mode="after")
    def _ranges(self) -> "LightsConfig":
        for name in ("power_w", "color_temperature_k"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be 0 < low <= high")
        return self


class CameraView(_Section):
    """One static camera. ``azimuth_deg`` is measured from the subject's forward axis."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    azimuth_deg: float


class CamerasConfig(_Section):
    views: list[CameraView] = Field(
        default_factory=lambda: [
            CameraView(name="front", azimuth_deg=0.0),
            CameraView(name="side", azimuth_deg=90.0),
        ],
        min_length=1, max_length=16,
    )
    height_m: float = Field(1.1, gt=0)
    height_jitter_m: float = Field(0.1, ge=0)
    position_jitter_m: float = Field(0.2, ge=0, description="horizontal perturbation radius")
    focal_mm: float = Field(33.0, gt=0)
    sensor_width_mm: float = Field(36.0, gt=0)
    sensor_fit: Literal["HORIZONTAL", "VERTICAL", "AUTO"] = "HORIZONTAL"
    margin: float = Field(0.1, ge=0, lt=0.5, description="fraction of the frame kept free")
    lens_distortion: bool = Field(False, description="Brown-Conrady lens distortion per camera (seeded; "
                                                     "the renders are warped and every 2D label uses it)")
    distortion_k1: tuple[float, float] = Field((-0.2, 0.05), description="range of k1 (OpenCV, normalised "
                                                                         "coordinates); < 0 barrel")
    distortion_k2: tuple[float, float] = Field((-0.02, 0.08), description="range of k2 (OpenCV)")
    distortion_tangential: float = Field(0.001, ge=0, le=0.01, description="|p1|, |p2| at most (OpenCV)")

    @field_validator("distortion_k1", "distortion_k2")
    @classmethod
    def _lens_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (v[0] <= v[1] and -0.5 <= v[0] and v[1] <= 0.5):
            raise ValueError(f"need lo <= hi within [-0.5, 0.5], got {list(v)}")
        return v

    @field_validator("views")
    @classmethod
    def _unique(cls, v: list[CameraView]) -> list[CameraView]:
        names = [x.name for x in v]
        if len(set(names)) != len(names):
            raise ValueError(f"view names must be unique, got {names}")
        return v


class SceneConfig(_Section):
    clothing: ClothingConfig = Field(default_factory=ClothingConfig)
    lights: LightsConfig = Field(default_factory=LightsConfig)
    cameras: CamerasConfig = Field(default_factory=CamerasConfig)
    room_size_m: tuple[float, float] = Field((8.0, 8.0), description="floor width x depth")
    hdri_fraction: float = Field(0.3, ge=0, le=1, description="share of trials outdoors: a floor under one of "
                                                               "Blender's CC0 HDRIs instead of a room")
    camera_response: bool = Field(True, description="AgX view transform, exposure -0.8..+0.2 EV, white balance 4800-7000 K")


class RenderConfig(_Section):
    """How the Blender worker renders each view."""

    engine: Literal["eevee", "cycles", "workbench"] = "eevee"
    device: Literal["auto", "cpu", "gpu"] = Field(
        "auto", description="cycles device; gpu also makes EEVEE/Workbench fail on a software OpenGL renderer")
    width: int = Field(1080, ge=16, le=8192)
    height: int = Field(720, ge=16, le=8192)
    fps: int = Field(60, ge=1, le=1000)
    samples: int = Field(16, ge=1, le=65536, description="cycles/eevee samples per pixel")
    frame_step: int = Field(1, ge=1, description="render every Nth frame (previews only)")
    crf: int = Field(23, ge=0, le=51, description="H.264 constant rate factor (23 = medium)")
    motion_blur: bool = False
    sensor_noise: float = Field(2.0, ge=0, le=50, description="camera sensor noise, std of 8-bit levels at full "
                                                              "brightness (shot + read noise; 0 = off)")
    mask: bool = Field(True, description="also write a per-frame person mask")
    depth: bool = Field(False, description="also write per-frame depth")
    blender: str = Field("", description="a blender >= 4.2 binary or a Python with bpy")
    timeout_s: float = Field(3600.0, gt=0, description="kill a Blender process after this")


class QAConfig(_Section):
    """Per-trial quality gates; a failing trial is excluded from the splits."""

    ik_rms_max_m: float = Field(0.03, gt=0, description="mean per-frame IK marker RMS limit")
    ik_max_m: float = Field(0.08, gt=0, description="largest single-marker IK error limit")
    flagged_frames_max: float = Field(0.05, ge=0, le=1, description="fraction of flagged frames")
    fit_joint_mm_max: float = Field(20.0, gt=0)
    fit_marker_mm_max: float = Field(25.0, gt=0)
    joint_limit_tolerance_rad: float = Field(0.02, ge=0)
    keypoints_in_mask_min: float = Field(0.9, ge=0, le=1)
    min_frames: int = Field(64, ge=1)


class BaselineConfig(_Section):
    """``odahgen baseline``: a 2D detector, triangulation and IK run on the dataset (docs/baseline.md)."""

    detector: str = Field("blazepose", description="2D pose detector by name")
    min_confidence: float = Field(0.05, ge=0, le=1, description="a view's joint below this is not triangulated")
    cutoff_hz: float = Field(6.0, ge=0, description="Butterworth low-pass of the 3D joints (0 = none)")
    min_detection_rate: float = Field(
        0.0, ge=0, le=1,
        description="QA gate: flag a trial as a render problem when the detector finds the person in fewer "
                    "frames of a view than this fraction (0 = off)")


class JobsConfig(_Section):
    workers: int = Field(1, ge=1, le=4096)
    gpus: int = Field(0, ge=0, le=1024, description="GPU slots for the local executor")
    retries: int = Field(2, ge=0, le=100, description="resubmissions of a failed trial")
    slurm_partition_cpu: str = ""
    slurm_partition_gpu: str = ""
    slurm_concurrency: int = Field(64, ge=1, description="array tasks running at once")
    slurm_time_min: int = Field(120, ge=1, description="time limit per array task")
    slurm_cpus_per_task: int = Field(2, ge=1)
    slurm_mem_gb: int = Field(8, ge=1, description="memory per array task")
    slurm_gres_gpu: str = Field("gpu:1", description="--gres of the render tasks ('' = none)")
    slurm_trials_per_task: int = Field(1, ge=1, description="trials run one after another per task")
    slurm_extra: list[str] = Field(default_factory=list, description="extra #SBATCH lines, e.g. --account=X")


class StorageConfig(_Section):
    """What a finished trial keeps on disk (no key changes a trial's content)."""

    keep_intermediates: bool = Field(
        False, description="keep body.npz and bundle/ after the trial's last stage (else removed; "
                           "resume re-makes them only when a later stage must run again)")


class Config(_Section):
    """A whole dataset configuration (one TOML file)."""

    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    skeleton: SkeletonConfig = Field(default_factory=SkeletonConfig)
    body: BodyConfig = Field(default_factory=BodyConfig)
    scene: SceneConfig = Field(default_factory=SceneConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)
    qa: QAConfig = Field(default_factory=QAConfig)
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
