"""CLI of the job system: ``plan``, ``run``, ``status`` and ``demo``."""

from __future__ import annotations

import argparse
from pathlib import Path

from odahgen.cli import count_option, workers_option
from odahgen.errors import OdahgenError
from odahgen.jobs.status import print_failures


def cmd_plan(args: argparse.Namespace) -> int:
    from odahgen.config import load_config
    from odahgen.jobs.plan import plan, specs_from_file

    config = load_config(args.config, args.set or [])
    specs = specs_from_file(Path(args.trials), config) if args.trials else None
    specs = plan(config, Path(args.output), force=args.force, specs=specs)
    subjects = len({s.subject for s in specs})
    motions = len({s.motion for s in specs})
    print(f"planned {len(specs)} trials ({subjects} subjects x "
          f"{len(config.dataset.shape_variants)} shape variants x {motions} motions x "
          f"{config.dataset.scene_samples} scenes) in {args.output}/jobs")
    print(f"next: odahgen run {args.output}")
    return 0


def _stage_names() -> list[str]:
    from odahgen.jobs.pipeline import STAGE_NAMES

    return list(STAGE_NAMES)


def parse_stages(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [x.strip() for x in text.split(",") if x.strip()]
    known = _stage_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise OdahgenError(f"--stages: unknown stage(s) {unknown}; stages are {known}")
    return names


def selected_trials(dataset: Path, requested: list[str] | None) -> list[str] | None:
    """The ``--trial`` ids (duplicates dropped), each checked against the plan."""
    if not requested:
        return None
    from odahgen.jobs.plan import JOBS_DIR, TRIAL_LIST, trial_ids

    known = set(trial_ids(dataset))
    unknown = [t for t in requested if t not in known]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise OdahgenError(f"--trial {unknown[0]}: not a trial of {dataset}{more}; its "
                           f"{len(known)} trials are listed in {dataset / JOBS_DIR / TRIAL_LIST}")
    return list(dict.fromkeys(requested))


def cmd_run(args: argparse.Namespace) -> int:
    from odahgen.jobs.plan import dataset_config

    dataset = Path(args.dataset)
    config = dataset_config(dataset)
    only = parse_stages(args.stages)
    trials = selected_trials(dataset, args.trial)
    workers = args.workers or config.jobs.workers
    if args.executor == "local":
        from odahgen.jobs.local import run_local

        outcomes = run_local(dataset, workers=workers, gpus=config.jobs.gpus, only=only,
                             trials=trials, verify=args.verify)
        return _summarise(dataset, outcomes)
    if args.executor == "slurm":
        from odahgen.jobs.slurm import run_slurm

        return run_slurm(dataset, config, only=only, wait=not args.no_wait, trials=trials,
                         verify=args.verify)
    if args.executor == "ray":
        from odahgen.jobs.ray_executor import run_ray

        outcomes = run_ray(dataset, workers=workers, only=only, trials=trials,
                           address=args.ray_address, verify=args.verify)
        return _summarise(dataset, outcomes)
    raise OdahgenError(f"--executor {args.executor}: unknown executor")


def _summarise(dataset: Path, outcomes) -> int:
    failed = [o for o in outcomes if o.state == "failed"]
    done = sum(o.state == "done" for o in outcomes)
    locked = sum(o.state == "skipped-locked" for o in outcomes)
    partial = sum(o.state == "partial" for o in outcomes)
    print(f"{done} done, {len(failed)} failed, {partial} stopped before a stage not selected, "
          f"{locked} busy in another run")
    print_failures(dataset, failed)
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    from odahgen.jobs.status import dataset_status, disk_usage, print_status, qa_yield, status_json

    dataset = Path(args.dataset)
    status = dataset_status(dataset)
    qa = None if args.no_yield else qa_yield(dataset, status)
    disk = None if args.no_yield else disk_usage(dataset, status)
    if args.json:
        import json

        print(json.dumps(status_json(dataset, status, qa, top=args.reasons or None,
                                     show_failures=args.failures, disk=disk), indent=2))
        return 0
    print_status(dataset, status, show_failures=args.failures, qa=qa, top=args.reasons, disk=disk)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from odahgen.jobs.demo import run_demo

    return run_demo(Path(args.output), overrides=args.set or [], workers=args.workers)


def cmd_estimate(args: argparse.Namespace) -> int:
    import json

    from odahgen.config import load_config
    from odahgen.io import atomic_write_json
    from odahgen.jobs import estimate as est
    from odahgen.jobs.plan import expand

    config = load_config(args.config, args.set or [])
    trials = len(expand(config))
    path = Path(args.calibration) if args.calibration else est.default_calibration_path()
    if args.from_dataset:
        calib = est.merge_calibrations([est.calibration_from(Path(d)) for d in args.from_dataset])
    elif args.calibrate or not path.exists():
        print(f"calibrating: one trial of {config.dataset.name} at "
              f"{' and '.join(map(str, est.CALIBRATION_FRAMES))} frames on this machine ...", flush=True)
        calib = est.calibrate(config, on_trial=lambda n, sec: print(
            f"  {n} frames: {sec:.1f} s", flush=True))
        atomic_write_json(path, calib)
        print(f"calibration saved to {path}")
    else:
        calib = est.load_calibration(path)
    result = est.estimate(config, calib, trials, gpus=args.gpus, gpu_kind=args.gpu_kind,
                          cpus=args.cpus or None)
    print(json.dumps(result, indent=2) if args.json else est.format_estimate(result))
    return 0


def register(sub) -> None:
    p = sub.add_parser("plan", help="expand a config into one job per trial",
                       description="Expand CONFIG (subjects x shape variants x motions x scene "
                       "samples, or --trials FILE) into job specs under DATASET/jobs/. "
                       "Deterministic; refuses to plan over a dataset made with another config "
                       "unless --force.")
    p.add_argument("config", help="dataset config (.toml, or a shipped name: demo, odah)")
    p.add_argument("-o", "--output", required=True, help="dataset folder")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--trials", help="explicit trial list (JSON) instead of the full product")
    p.add_argument("--force", action="store_true", help="plan over a dataset with another config")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("run", help="run or resume the trials of a planned dataset",
                       description="Run every trial's stages (motion, skeleton, fit, scene, "
                       "render, gt, qa), skipping those already complete: a stage is complete when "
                       "its record matches the config and its output files are as it wrote them "
                       "(a deleted or damaged output is made again). Safe to start twice "
                       "and to resume after a crash. --stages runs a subset, e.g. the CPU stages "
                       "on one partition and `--stages render` on GPU nodes.")
    p.add_argument("dataset")
    p.add_argument("--executor", choices=["local", "slurm", "ray"], default="local")
    p.add_argument("--workers", type=workers_option, default=0,
                   help="parallel trials (default: jobs.workers)")
    p.add_argument("--stages", help="comma-separated stages to run (default: all)")
    p.add_argument("--trial", action="append", help="run only this trial (repeatable)")
    p.add_argument("--verify", action="store_true",
                   help="check finished stages' outputs by content hash, not just size and "
                   "time (re-runs a stage whose output was rewritten behind its back)")
    p.add_argument("--no-wait", action="store_true", help="slurm: submit and return")
    p.add_argument("--ray-address", help="ray: join this cluster (default: a local Ray instance)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="counts per stage and state, QA yield, failures with reasons",
                       description="Show how many trials are at each stage and state; the QA "
                       "yield: how many finished trials pass QA, why the others fail (trials per "
                       "QA gate) and pipeline failures by stage and error; and the failures with "
                       "their reason and log path. The yield reads each trial's qa.json or "
                       "failure.json once and keeps what it read in DATASET/.status-cache.json. "
                       "Disk: the mean size of a finished trial (at most 200 measured) and the "
                       "dataset's extrapolated total.")
    p.add_argument("dataset")
    p.add_argument("--failures", type=count_option, default=20, help="failures to list (0: none)")
    p.add_argument("--reasons", type=count_option, default=10,
                   help="QA reasons and pipeline errors to list, most frequent first (0: "
                   "counts only; with --json: all)")
    p.add_argument("--no-yield", action="store_true",
                   help="counts only: do not read qa.json / failure.json for the QA yield, "
                   "nor measure the disk use")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("estimate", help="trials, CPU-/GPU-hours, wall time and disk of a config",
                       description="Before a farm run: the number of trials of CONFIG, the "
                       "CPU-hours of the CPU stages and the GPU-hours of the render, the wall time "
                       "on N GPUs, and the disk after the run. CPU stage costs and disk come from a "
                       "calibration (two small trials run on this machine, saved and reused; or "
                       "--from a finished dataset); render costs per frame from the measured table "
                       "(docs/farm.md), by engine and --gpu-kind, scaled by the frame size.")
    p.add_argument("config", help="dataset config (.toml, or a shipped name: demo, odah)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--gpus", type=count_option, default=1, help="GPUs rendering at once (default 1)")
    p.add_argument("--gpu-kind", default="h200",
                   help="render device kind of the per-frame table: h200, cpu (default h200)")
    p.add_argument("--cpus", type=count_option, default=0,
                   help="CPU slots for the CPU stages (default: jobs.slurm_concurrency)")
    p.add_argument("--calibration", help="calibration file (default ~/.cache/odahgen/calibration.json)")
    p.add_argument("--calibrate", action="store_true", help="run the calibration again")
    p.add_argument("--from", dest="from_dataset", action="append", metavar="DATASET",
                   help="calibrate from the records of a finished dataset (repeatable)")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("demo", help="generate the demo dataset end to end (what `make demo` runs)",
                       description="Plan and run configs/demo.toml (2 subjects x 2 procedural "
                       "motions, anny bodies, the built-in skeleton, small CPU renders), then "
                       "validate it, write the report, and print where everything is.")
    p.add_argument("-o", "--output", default="demo_out", help="dataset folder (default demo_out)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--workers", type=workers_option, default=0,
                   help="parallel trials (default: jobs.workers)")
    p.set_defaults(func=cmd_demo)
