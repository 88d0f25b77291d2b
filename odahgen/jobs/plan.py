"""``odahgen plan``: expand a config into one job spec per trial under ``DATASET/jobs/``.

Trials are subjects x shape variants x motions x scene samples (or an explicit list given
with ``--trials FILE.json``), at most :data:`~odahgen.config.models.MAX_TRIALS` of them
(checked before anything is expanded or written). The expansion is deterministic: the same
config always gives the same trial ids and specs. ``DATASET/dataset.json`` records the
resolved config and its hash; planning again with a different config refuses to mix with
existing trials unless ``force`` is given.

Layout written here::

    DATASET/dataset.json          resolved config, its hash, odahgen version, trial count
                                  and the SHA-256 of the trial list
    DATASET/jobs/<trial>.json     one spec per trial (ids, seed, motion, variant, scene index)
    DATASET/jobs/_trials.txt      trial ids, one per line, in plan order (for array jobs)

A plan is written all or nothing. Everything is validated and the dataset record serialised
before the first file is written. A new dataset (no folder, or an empty one) is built in a
hidden sibling folder that is renamed into place at the end, so it appears whole or not at
all. Planning over an existing dataset first writes ``DATASET/.plan-incomplete``, then the
specs, the trial list and ``dataset.json`` last, then removes the marker: the readers here
(:func:`read_dataset`, :func:`dataset_config`, :func:`trial_ids`, hence run and status)
refuse a dataset with the marker, or whose trial list does not match its record, so an
interrupted plan never looks like a valid one; running the plan again completes it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from pydantic import ValidationError

from odahgen import __version__
from odahgen.config import Config
from odahgen.config.models import MAX_TRIALS
from odahgen.errors import OdahgenError
from odahgen.io import check_id, stable_hash, trial_seed

DATASET_FILE = "dataset.json"
JOBS_DIR = "jobs"
TRIAL_LIST = "_trials.txt"
INCOMPLETE = ".plan-incomplete"  # present while a plan over an existing dataset is written
MAX_BMI_DELTA = 50.0  # kg/m^2; as dataset.shape_variants


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
        """A spec from its JSON object; ValueError says what is wrong with it."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown keys {', '.join(unknown)}")
        for name in ("trial", "subject", "variant", "motion_source", "motion"):
            if not isinstance(data[name], str):
                raise ValueError(f"{name} must be a string, got {data[name]!r}")
        for name in ("scene_index", "seed", "subject_seed"):
            if isinstance(data[name], bool) or not isinstance(data[name], int) or data[name] < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {data[name]!r}")
        spec = cls(**{**data, "bmi_delta": _bmi_delta(data["bmi_delta"])})
        for name, what in (("trial", "trial id"), ("subject", "subject id"), ("motion", "motion id")):
            try:
                check_id(getattr(spec, name), what)
            except OdahgenError as err:
                raise ValueError(str(err)) from None
        return spec


def _bmi_delta(value) -> float:
    """A finite BMI step within +-MAX_BMI_DELTA (a JSON number or a numeric string)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"bmi_delta must be a number, got {value!r}") from None
    if not math.isfinite(out) or abs(out) > MAX_BMI_DELTA:
        raise ValueError(f"bmi_delta must be a finite number within +-{MAX_BMI_DELTA:g} kg/m^2, got {value!r}")
    return out


def _check_count(n: int, what: str) -> None:
    if n > MAX_TRIALS:
        raise OdahgenError(f"{what} = {n:,} trials, more than the limit of {MAX_TRIALS:,} trials per plan "
                           f"(odahgen.config.models.MAX_TRIALS); plan a smaller dataset, or split it")


#: config values that say how a dataset is run, stored or benchmarked (``baseline``: read
#: only by ``odahgen baseline``), never what a trial contains
RUN_ONLY_KEYS = ("jobs", "storage", "render.blender", "render.timeout_s", "baseline")


def content_config(config: Config) -> dict:
    """The config as JSON less :data:`RUN_ONLY_KEYS` (what decides the trials' content)."""
    data = config.model_dump(mode="json")
    for key in RUN_ONLY_KEYS:
        *parents, last = key.split(".")
        node = data
        for part in parents:
            node = node.get(part, {})
        node.pop(last, None)
    return data


def plan_hash(config: Config) -> str:
    """Hash of what defines the trials' content: the config less how/where it is executed
    and stored (:data:`RUN_ONLY_KEYS`)."""
    return stable_hash(content_config(config))


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
    d = config.dataset
    _check_count(d.subjects * len(d.shape_variants) * len(motions) * d.scene_samples,
                 f"dataset.subjects {d.subjects} x dataset.shape_variants {len(d.shape_variants)} x "
                 f"motions {len(motions)} x dataset.scene_samples {d.scene_samples}")
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
    """An explicit trial list: JSON ``[{"subject":..., "motion":..., "bmi_delta":0, "scene_index":0}]``
    (optional ``"trial"``: the trial id). Errors name the file and the row."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise OdahgenError(f"{path}: cannot read the trial list: not UTF-8 text (offset {err.start})") from None
    except (OSError, json.JSONDecodeError) as err:
        raise OdahgenError(f"{path}: cannot read the trial list: {err}") from None
    if not isinstance(rows, list) or not rows:
        raise OdahgenError(f"{path}: expected a non-empty JSON list of trials")
    _check_count(len(rows), f"{path}: the list's {len(rows):,} rows")
    seed = config.dataset.seed
    specs = []
    for i, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise ValueError(f"expected an object with subject and motion, got {row!r:.60}")
            for key in ("subject", "motion"):
                if key not in row:
                    raise ValueError(f"needs subject and motion (no {key!r})")
            subject = check_id(str(row["subject"]), "subject id")
            motion = check_id(str(row["motion"]), "motion id")
            delta = _bmi_delta(row.get("bmi_delta", 0.0))
            k = row.get("scene_index", 0)
            if isinstance(k, bool) or not isinstance(k, int) or k < 0:
                raise ValueError(f"scene_index must be a non-negative integer, got {k!r}")
            variant = variant_name(delta)
            trial = check_id(str(row.get("trial") or f"{subject}_{variant}_{motion}_{k}"), "trial id")
        except (ValueError, OdahgenError) as err:
            raise OdahgenError(f"{path}: trial {i}: {err}") from None
        specs.append(TrialSpec(trial, subject, variant, delta, config.motion.source, motion, k,
                               trial_seed(seed, trial), trial_seed(seed, subject, "subject")))
    if len({s.trial for s in specs}) != len(specs):
        raise OdahgenError(f"{path}: duplicate trial ids")
    return specs


def _not_a_folder(dataset: Path) -> OdahgenError:
    return OdahgenError(f"{dataset}: not a folder; a dataset is the folder that "
                        f"`odahgen plan CONFIG -o DATASET` writes")


def _read_record(dataset: Path) -> dict:
    """dataset.json as written, without the interrupted-plan check (plan uses it)."""
    dataset = Path(dataset)
    path = dataset / DATASET_FILE
    if dataset.exists() and not dataset.is_dir():
        raise _not_a_folder(dataset)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OdahgenError(f"{dataset}: not a planned dataset (no {DATASET_FILE}); "
                           f"run `odahgen plan CONFIG -o {dataset}` first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise OdahgenError(f"{path}: corrupt dataset record: {err}") from None
    except OSError as err:
        raise OdahgenError(f"{path}: cannot read: {err.strerror}") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise OdahgenError(f"{path}: corrupt dataset record: no config")
    return record


def _check_complete(dataset: Path) -> None:
    if (Path(dataset) / INCOMPLETE).exists():
        raise OdahgenError(f"{dataset}: an interrupted `odahgen plan` left this plan incomplete "
                           f"({INCOMPLETE}); run the plan again (the same command) to complete it")


def read_dataset(dataset: Path) -> dict:
    """The dataset record written by :func:`plan`; an error names a missing, broken or
    incompletely planned one (and a path that is a file, not a folder)."""
    dataset = Path(dataset)
    if dataset.exists() and not dataset.is_dir():
        raise _not_a_folder(dataset)
    _check_complete(dataset)
    return _read_record(dataset)


def dataset_config(dataset: Path) -> Config:
    record = read_dataset(dataset)
    try:
        return Config.model_validate(record["config"])
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise OdahgenError(f"{Path(dataset) / DATASET_FILE}: corrupt dataset record: config "
                           f"{key}: {first['msg']}") from None


def _list_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trial_ids(dataset: Path) -> list[str]:
    """The planned trial ids, in plan order; refused when the list does not match the record."""
    record = read_dataset(dataset)
    path = Path(dataset) / JOBS_DIR / TRIAL_LIST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OdahgenError(f"{dataset}: no trial list ({path}); run `odahgen plan` first") from None
    except (OSError, UnicodeDecodeError) as err:
        raise OdahgenError(f"{path}: cannot read the trial list: {err}") from None
    ids = [x for x in text.splitlines() if x]
    expected, digest = record.get("trials"), record.get("trial_list_sha256")
    if (expected is not None and expected != len(ids)) or (digest and digest != _list_digest(text)):
        raise OdahgenError(f"{path}: lists {len(ids)} trials that {DATASET_FILE} ({expected} trials) "
                           f"does not describe (an interrupted or mixed plan?); run `odahgen plan` again")
    return ids


def load_spec(dataset: Path, trial: str) -> TrialSpec:
    """The job spec of ``trial``; an error names the file and what is wrong with it."""
    check_id(trial, "trial id")
    path = Path(dataset) / JOBS_DIR / f"{trial}.json"
    again = "`odahgen plan` again rewrites it"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OdahgenError(f"{path}: no job spec for trial {trial!r}") from None
    except UnicodeDecodeError:
        raise OdahgenError(f"{path}: corrupt job spec (not UTF-8 text); {again}") from None
    except OSError as err:
        raise OdahgenError(f"{path}: cannot read the job spec: {err.strerror}") from None
    try:
        spec = TrialSpec.from_json(json.loads(text))
    except json.JSONDecodeError as err:
        raise OdahgenError(f"{path}: corrupt job spec (not JSON: {err}); {again}") from None
    except (TypeError, ValueError) as err:
        raise OdahgenError(f"{path}: corrupt job spec ({err}); {again}") from None
    if spec.trial != trial:
        raise OdahgenError(f"{path}: corrupt job spec (it describes trial {spec.trial!r}); {again}")
    return spec


def _non_finite(obj, prefix: str = "") -> list[str]:
    """Dotted keys of the non-finite floats in a JSON-like object."""
    if isinstance(obj, float):
        return [] if math.isfinite(obj) else [prefix or "(value)"]
    if isinstance(obj, dict):
        return [k for key, v in obj.items() for k in _non_finite(v, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(obj, (list, tuple)):
        return [k for i, v in enumerate(obj) for k in _non_finite(v, f"{prefix}.{i}")]
    return []


def _write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary beside it and a rename (modes follow
    the umask). The one place a plan writes a file (tests interrupt it here)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _spec_text(spec: TrialSpec) -> str:
    return json.dumps(asdict(spec), sort_keys=True, allow_nan=False) + "\n"


def _write_plan(folder: Path, specs: list[TrialSpec], list_text: str, record_text: str) -> None:
    """Specs (those that differ), the trial list, then the record, into ``folder``."""
    jobs = folder / JOBS_DIR
    jobs.mkdir(exist_ok=True)
    for spec in specs:
        path = jobs / f"{spec.trial}.json"
        text = _spec_text(spec)
        try:
            if path.read_text(encoding="utf-8") == text:
                continue
        except (OSError, UnicodeDecodeError):  # missing or unreadable: (re)write it
            pass
        _write_file(path, text)
    _write_file(jobs / TRIAL_LIST, list_text)
    _write_file(folder / DATASET_FILE, record_text)


def _is_fresh(dataset: Path) -> bool:
    """No dataset there yet: a missing path, or an empty real folder that is not the cwd."""
    if dataset.is_symlink():
        return False
    if not dataset.exists():
        return True
    return (dataset.is_dir() and dataset.absolute() != Path.cwd().absolute()
            and not any(dataset.iterdir()))


def plan(config: Config, dataset: Path, force: bool = False,
         specs: list[TrialSpec] | None = None) -> list[TrialSpec]:
    """Write the dataset record and the job specs, all or nothing; returns the specs.

    Refuses (OdahgenError) a ``dataset`` path that is a file, more than ``MAX_TRIALS`` trials,
    non-finite values, and a ``dataset`` planned with another config unless ``force``: then
    the new specs are written and stale trials are left for the user. See the module
    docstring for how a plan is made atomic.
    """
    dataset = Path(dataset)
    if dataset.exists() and not dataset.is_dir():
        raise OdahgenError(f"{dataset}: exists and is not a folder; -o needs a dataset folder")
    for up in dataset.absolute().parents:
        if up.exists():
            if not up.is_dir():
                raise OdahgenError(f"{dataset}: cannot create it: {up} is a file, not a folder")
            break
    specs = specs if specs is not None else expand(config)
    _check_count(len(specs), "the plan")
    for spec in specs:
        try:
            _bmi_delta(spec.bmi_delta)
        except ValueError as err:
            raise OdahgenError(f"trial {spec.trial}: {err}") from None
    if len({s.trial for s in specs}) != len(specs):
        raise OdahgenError("the plan has duplicate trial ids")
    chash = plan_hash(config)
    list_text = "".join(f"{s.trial}\n" for s in specs)
    record = {
        "name": config.dataset.name,
        "config_hash": chash,
        "config": config.model_dump(mode="json"),
        "odahgen_version": __version__,
        "trials": len(specs),
        "trial_list_sha256": _list_digest(list_text),
    }
    bad = _non_finite(record["config"])
    if bad:  # a Config built without validation (model_copy / model_construct)
        raise OdahgenError(f"config: {bad[0]}: not a finite number; nothing was written")
    record_text = json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n"
    if (dataset / DATASET_FILE).exists():
        try:
            old = _read_record(dataset)
        except OdahgenError:
            if not force:
                raise
            old = None
        if old is not None and old.get("config_hash") != chash and not force:
            raise OdahgenError(
                f"{dataset} was planned with another config (hash {old.get('config_hash')} != "
                f"{chash}); use a new folder, or --force to plan over it")
    try:
        if _is_fresh(dataset):
            _plan_fresh(dataset, specs, list_text, record_text)
        else:
            _plan_in_place(dataset, specs, list_text, record_text)
    except OSError as err:
        where = err.filename or dataset
        raise OdahgenError(f"{where}: cannot write the plan: {err.strerror}") from None
    return specs


def _plan_fresh(dataset: Path, specs, list_text: str, record_text: str) -> None:
    """Build the whole plan in a hidden sibling folder, then rename it into place."""
    parent = dataset.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{dataset.name}.planning-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        _write_plan(tmp, specs, list_text, record_text)
        try:
            os.rename(tmp, dataset)  # atomic; replaces an empty folder
        except OSError as err:
            raise OdahgenError(f"{dataset}: cannot move the new plan into place ({err.strerror}; "
                               f"did something write there meanwhile?)") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _plan_in_place(dataset: Path, specs, list_text: str, record_text: str) -> None:
    """Over an existing dataset: marker first, dataset.json last, marker removed."""
    marker = dataset / INCOMPLETE
    _write_file(marker, json.dumps({"pid": os.getpid(), "host": os.uname().nodename,
                                    "time": time.time()}) + "\n")
    _write_plan(dataset, specs, list_text, record_text)
    marker.unlink()
