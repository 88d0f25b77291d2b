"""The Slurm executor: one array job per phase, with per-phase resources.

Phases (each an ``sbatch --array`` over the same trial list, so task *i* of every phase
handles the same trials):

* ``cpu``  — the stages before rendering (CPU partition, ``jobs.slurm_cpus_per_task``);
* ``gpu``  — the render stage (GPU partition, ``--gres=jobs.slurm_gres_gpu``);
* ``post`` — ground truth and QA (CPU partition).

Task *i* of a phase starts when task *i* of the previous phase has finished
(``--dependency=aftercorr``), so a farm spends GPU time only on rendering and never waits
for the whole CPU phase. Tasks exit 0 even when a trial fails (the failure is recorded in
the dataset), so a failed trial does not block the dependency chain; after all phases end,
trials that are not done are resubmitted, up to ``jobs.retries`` times. ``%N`` on the array
limits concurrency (``jobs.slurm_concurrency``). Logs: ``DATASET/slurm/logs/``; a failed
trial's ``failure.json`` names its Slurm log, which ``odahgen status`` prints.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from odahgen.config import Config
from odahgen.errors import OdahgenError
from odahgen.io import atomic_write_json, atomic_write_text
from odahgen.jobs.graph import TRIALS_DIR, outputs_intact
from odahgen.jobs.plan import trial_ids
from odahgen.jobs.status import dataset_status

SLURM_DIR = "slurm"


def phases(stage_names: list[str], stage_resources: dict[str, str],
           only: list[str] | None = None) -> list[tuple[str, list[str]]]:
    """Group consecutive stages by resource: [("cpu", [...]), ("gpu", [...]), ("post", [...])]."""
    groups: list[tuple[str, list[str]]] = []
    for name in stage_names:
        if only and name not in only:
            continue
        res = stage_resources.get(name, "cpu")
        if groups and groups[-1][0] == res:
            groups[-1][1].append(name)
        else:
            groups.append((res, [name]))
    out, used = [], set()
    for i, (res, stages) in enumerate(groups):
        label = "gpu" if res == "gpu" else ("cpu" if i == 0 else "post")
        label = label if label not in used else f"{label}{i}"
        used.add(label)
        out.append((label, stages))
    return out


def _sbatch_script(dataset: Path, config: Config, phase: str, stages: list[str], list_file: Path,
                   n_tasks: int, per_task: int, dependency: str | None, python: str,
                   verify: bool = False) -> str:
    jobs = config.jobs
    gpu = phase.startswith("gpu")
    logs = dataset / SLURM_DIR / "logs"
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name=odahgen-{config.dataset.name}-{phase}",
        f"#SBATCH --array=0-{n_tasks - 1}%{jobs.slurm_concurrency}",
        f"#SBATCH --output={logs}/%x_%A_%a.out",
        f"#SBATCH --time={jobs.slurm_time_min}",
        f"#SBATCH --cpus-per-task={jobs.slurm_cpus_per_task}",
        f"#SBATCH --mem={jobs.slurm_mem_gb}G",
        "#SBATCH --kill-on-invalid-dep=yes",
    ]
    partition = jobs.slurm_partition_gpu if gpu else jobs.slurm_partition_cpu
    if partition:
        lines.append(f"#SBATCH --partition={partition}")
    if gpu and jobs.slurm_gres_gpu:
        lines.append(f"#SBATCH --gres={jobs.slurm_gres_gpu}")
    if dependency:
        lines.append(f"#SBATCH --dependency=aftercorr:{dependency}")
    lines += [f"#SBATCH {x}" for x in jobs.slurm_extra]
    cmd = [python, "-m", "odahgen.jobs.task", str(dataset), "--list", str(list_file),
           "--index", "${SLURM_ARRAY_TASK_ID}", "--per-task", str(per_task),
           "--stages", ",".join(stages)] + (["--verify"] if verify else [])
    lines += [
        "set -u",
        f"export ODAHGEN_JOB_LOG={logs}/${{SLURM_JOB_NAME}}_${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}.out",
        " ".join(shlex.quote(c) if "$" not in c else f'"{c}"' for c in cmd),
    ]
    return "\n".join(lines) + "\n"


def _sbatch(script: Path) -> str:
    proc = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise OdahgenError(f"sbatch {script} failed: {' '.join(proc.stderr.split())}")
    return proc.stdout.strip().split(";")[0]


def _active(job_ids: list[str]) -> bool:
    proc = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(job_ids)],
                          capture_output=True, text=True)
    if proc.returncode != 0:  # squeue says "Invalid job id" once every job has left
        return False
    return bool(proc.stdout.strip())


def submit(dataset: Path, config: Config, trials: list[str], only: list[str] | None,
           attempt: int, python: str | None = None, verify: bool = False) -> list[str]:
    """Write the list file and one sbatch script per phase, submit them chained; job ids."""
    from odahgen.jobs.pipeline import stages_for

    stage_objs = stages_for(config)
    resources = {s.name: s.resource for s in stage_objs}
    plan_phases = phases([s.name for s in stage_objs], resources, only)
    folder = dataset / SLURM_DIR
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    list_file = folder / f"attempt{attempt}.trials"
    atomic_write_text(list_file, "".join(f"{t}\n" for t in trials))
    per_task = config.jobs.slurm_trials_per_task
    n_tasks = -(-len(trials) // per_task)
    job_ids: list[str] = []
    previous = None
    for phase, stages in plan_phases:
        script = folder / f"attempt{attempt}_{phase}.sbatch"
        atomic_write_text(script, _sbatch_script(dataset, config, phase, stages, list_file,
                                                 n_tasks, per_task, previous,
                                                 python or sys.executable, verify))
        previous = _sbatch(script)
        job_ids.append(previous)
    record = folder / "submissions.json"
    history = json.loads(record.read_text()) if record.exists() else []
    history.append({"attempt": attempt, "job_ids": job_ids, "trials": len(trials),
                    "phases": plan_phases, "time": time.time()})
    atomic_write_json(record, history)
    return job_ids


def run_slurm(dataset: Path, config: Config, only: list[str] | None = None, wait: bool = True,
              poll_s: float = 2.0, python: str | None = None,
              trials: list[str] | None = None, verify: bool = False) -> int:
    """Submit the unfinished trials (of ``trials``, default all); with ``wait``, resubmit
    failures up to jobs.retries. A trial counts as finished when its state is done and its
    stage records' output files are intact (``verify``: by content hash)."""
    if not shutil.which("sbatch"):
        raise OdahgenError("--executor slurm: sbatch not found on PATH (run on a Slurm login node)")
    dataset = Path(dataset).resolve()
    all_trials = list(trials) if trials else trial_ids(dataset)
    for attempt in range(config.jobs.retries + 1):
        done = dataset_status(dataset).finished
        todo = [t for t in all_trials
                if t not in done or not outputs_intact(dataset / TRIALS_DIR / t, verify)]
        if not todo:
            break
        ids = submit(dataset, config, todo, only, attempt, python, verify)
        print(f"attempt {attempt}: submitted {len(todo)} trials as Slurm jobs {', '.join(ids)} "
              f"(logs: {dataset / SLURM_DIR / 'logs'})", flush=True)
        if not wait:
            return 0
        while _active(ids):
            time.sleep(poll_s)
        if only:  # a stage subset: one pass, no resubmission logic on partial trials
            break
    status = dataset_status(dataset)
    print(f"{status.done} of {status.total} trials done, {len(status.failed)} failed")
    return 0 if not status.failed else 1

