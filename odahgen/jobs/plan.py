"""``odahgen plan``: expand a config into one job spec per trial under ``DATASET/jobs/``.

Trials are subjects x shape variants x motions x scene samples (or an explicit list given
with ``--trials FILE.json``). The expansion is deterministic: the same config always gives
the same trial ids and specs. ``DATASET/dataset.json`` records the resolved config and its
hash; planning again with a different config refuses to mix with existing trials unless
``force`` is given.

Layout written here::

    DATASET/dataset.json          resolved config, its hash, odahgen version
    DATASET/jobs/<trial>.json     one spec per trial (ids, seed, motion, variant, scene index)
    DATASET/jobs/_trials.txt      trial ids, one per line, in plan order (for array jobs)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from odahgen import __version__
from odahgen.config import Config
from odahgen.errors import OdahgenError
from odahgen.io import atomic_write_json, atomic_write_text, check_id, stable_hash, trial_seed

DATASET_FILE = "dataset.json"
JOBS_DIR = "jobs"
TRIAL_LIST = "_trials.txt"


@dataclass(frozen=True)
class TrialSpec:
    """Everything that identifies one trial; all its randomness derives from ``seed``."""

    trial: str
    subject: str
    variant: str  # ODAH bmi folder name: bmi-1.0, bmi-0.5, bmiORI, bmi0.5, bmi1.0
    bmi_delta: float  # kg/m^2 added to the subject's BMI
    motion_source: str
    motion: str
    scene_index: int
    seed: int  # trial_seed(dataset seed, trial id)
    subject_seed: int  # shared by every trial of the subject (its body and its skeleton)

    @classmethod
    def from_json(cls, data: dict) -> "TrialSpec":
        return cls(**data)


def plan_hash(config: Config) -> str:
    """Hash of what defines the trials' content: the config less how/where it is executed
    (``jobs``, ``render.blender``, ``render.timeout_s``)."""
    data = config.model_dump(mode="json")
    data.pop("jobs", None)
    data["render"].pop("blender", None)
    data["render"].pop("timeout_s", None)
    return stable_hash(data)


def variant_name(bmi_delta: float) -> str:
    """ODAH's folder names: 0 -> ``bmiORI``, -1 -> ``bmi-1.0``, 0.5 -> ``bmi0.5``."""
    if abs(bmi_delta) < 1e-9:
        return "bmiORI"
    return f"bmi{bmi_delta:.1f}"


def subject_ids(count: int) -> list[str]:
    width = max(2, len(str(count)))
    return [f"S{i + 1:0{width}d}" for i in range(count)]


def motion_ids(config: Config) -> list[str]:
    """The motions to plan: the config's list (checked against the source), or every motion
    of the source."""
    from odahgen.motion import get_source  # the motion stage's public API

    options = {"path": config.motion.path} if config.motion.path else {}
    source = get_source(config.motion.source, **options)
    known = source.list_motions()
    if config.motion.motions:
        unknown = [m for m in config.motion.motions if m not in known]
        if unknown:
            raise OdahgenError(f"motion.motions: {unknown} not in source {config.motion.source!r} "
                               f"(`odahgen motion list {config.motion.source}` lists them)")
        return [check_id(m, "motion id") for m in config.motion.motions]
    return [check_id(m, "motion id") for m in known]


def expand(config: Config, motions: list[str] | None = None) -> list[TrialSpec]:
    """Deterministic list of trials for ``config``."""
    motions = motions if motions is not None else motion_ids(config)
    if not motions:
        raise OdahgenError(f"no motions to plan (motion.source={config.motion.source!r})")
    seed = config.dataset.seed
    specs = []
    for subject in subject_ids(config.dataset.subjects):
        subject_seed = trial_seed(seed, subject, "subject")
        for delta in config.dataset.shape_variants:
            variant = variant_name(delta)
            for motion in motions:
                for k in range(config.dataset.scene_samples):
                    trial = check_id(f"{subject}_{variant}_{motion}_{k}", "trial id")
                    specs.append(TrialSpec(trial, subject, variant, float(delta),
                                           config.motion.source, motion, k,
                                           trial_seed(seed, trial), subject_seed))
    ids = [s.trial for s in specs]
    if len(set(ids)) != len(ids):
        raise OdahgenError("the plan has duplicate trial ids (duplicate motions or variants?)")
    return specs


def specs_from_file(path: Path, config: Config) -> list[TrialSpec]:
    """An explicit trial list: JSON ``[{"subject":..., "motion":..., "bmi_delta":0, "scene_index":0}]``."""
    try:
        rows = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise OdahgenError(f"{path}: cannot read the trial list: {err}") from None
    if not isinstance(rows, list) or not rows:
        raise OdahgenError(f"{path}: expected a non-empty JSON list of trials")
    seed = config.dataset.seed
    specs = []
    for i, row in enumerate(rows):
        try:
            subject = check_id(str(row["subject"]), "subject id")
            motion = check_id(str(row["motion"]), "motion id")
            delta = float(row.get("bmi_delta", 0.0))
            k = int(row.get("scene_index", 0))
        except (KeyError, TypeError, ValueError) as err:
            raise OdahgenError(f"{path}: trial {i}: needs subject and motion ({err})") from None
        except OdahgenError as err:
            raise OdahgenError(f"{path}: trial {i}: {err}") from None
        variant = variant_name(delta)
        trial = check_id(row.get("trial") or f"{subject}_{variant}_{motion}_{k}", "trial id")
        specs.append(TrialSpec(trial, subject, variant, delta, config.motion.source, motion, k,
                               trial_seed(seed, trial), trial_seed(seed, subject, "subject")))
    if len({s.trial for s in specs}) != len(specs):
        raise OdahgenError(f"{path}: duplicate trial ids")
    return specs


def read_dataset(dataset: Path) -> dict:
    """The dataset record written by :func:`plan`; an error names a missing/broken one."""
    path = Path(dataset) / DATASET_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise OdahgenError(f"{dataset}: not a planned dataset (no {DATASET_FILE}); "
                           f"run `odahgen plan CONFIG -o {dataset}` first") from None
    except json.JSONDecodeError as err:
        raise OdahgenError(f"{path}: corrupt dataset record: {err}") from None


def dataset_config(dataset: Path) -> Config:
    return Config.model_validate(read_dataset(dataset)["config"])


def trial_ids(dataset: Path) -> list[str]:
    path = Path(dataset) / JOBS_DIR / TRIAL_LIST
    try:
        return [x for x in path.read_text().splitlines() if x]
    except FileNotFoundError:
        raise OdahgenError(f"{dataset}: no trial list ({path}); run `odahgen plan` first") from None


def load_spec(dataset: Path, trial: str) -> TrialSpec:
    path = Path(dataset) / JOBS_DIR / f"{trial}.json"
    try:
        return TrialSpec.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise OdahgenError(f"{path}: no job spec for trial {trial!r}") from None


def plan(config: Config, dataset: Path, force: bool = False,
         specs: list[TrialSpec] | None = None) -> list[TrialSpec]:
    """Write the dataset record and the job specs; returns the specs.

    Refuses (OdahgenError) when ``dataset`` was planned with another config, unless
    ``force``: then the new specs are written and stale trials are left for the user.
    """
    dataset = Path(dataset)
    specs = specs if specs is not None else expand(config)
    chash = plan_hash(config)
    record_path = dataset / DATASET_FILE
    if record_path.exists():
        old = read_dataset(dataset)
        if old.get("config_hash") != chash and not force:
            raise OdahgenError(
                f"{dataset} was planned with another config (hash {old.get('config_hash')} != "
                f"{chash}); use a new folder, or --force to plan over it")
    jobs = dataset / JOBS_DIR
    jobs.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        path = jobs / f"{spec.trial}.json"
        data = asdict(spec)
        if not path.exists() or json.loads(path.read_text()) != data:
            atomic_write_json(path, data, indent=None, fsync=False)  # re-creatable: no fsync
    atomic_write_text(jobs / TRIAL_LIST, "".join(f"{s.trial}\n" for s in specs))
    atomic_write_json(record_path, {
        "name": config.dataset.name,
        "config_hash": chash,
        "config": config.model_dump(mode="json"),
        "odahgen_version": __version__,
        "trials": len(specs),
    })
    return specs
