"""``odahgen demo``: plan, run, finalize, validate and report the demo dataset.

This is what ``make demo`` runs: the real pipeline on configs/demo.toml (procedural motions,
anny bodies, the built-in skeleton, small CPU renders). A second run resumes: finished
trials are skipped.
"""

from __future__ import annotations

import time
from pathlib import Path

from odahgen.config import load_config
from odahgen.config.loader import builtin_config_path


def run_demo(output: Path, overrides: list[str] = (), workers: int = 0) -> int:
    from odahgen.gt import build_report, finalize_dataset, format_report, validate_dataset
    from odahgen.jobs.status import print_failures
    from odahgen.jobs.local import run_local
    from odahgen.jobs.plan import plan

    t0 = time.monotonic()
    config = load_config(builtin_config_path("demo"), list(overrides))
    output = Path(output)
    specs = plan(config, output, force=False)
    print(f"demo: {len(specs)} trials planned in {output} "
          f"({config.render.width}x{config.render.height}, {config.render.engine}, "
          f"{int(config.motion.clip_seconds * config.motion.fps)} frames each)", flush=True)
    outcomes = run_local(output, workers=workers or config.jobs.workers, gpus=config.jobs.gpus)
    failed = [o for o in outcomes if o.state == "failed"]
    print_failures(output, failed)
    if len(failed) == len(outcomes):
        print("demo: every trial failed; see the logs above")
        return 1
    splits = finalize_dataset(output, config)
    check = validate_dataset(output, config.qa)
    print(format_report(check))
    report = build_report(output)
    minutes = (time.monotonic() - t0) / 60
    print(f"\ndemo finished in {minutes:.1f} min: {len(outcomes) - len(failed)} of "
          f"{len(outcomes)} trials done")
    print(f"  videos:       {output}/trials/*/render/*.mp4")
    print(f"  ground truth: {output}/trials/*/trial.h5   (odahgen inspect FILE)")
    per_split = ", ".join(f"{name}: {c['trials']} trials" for name, c in splits["counts"].items())
    print(f"  index/splits: {output}/index.csv, {output}/splits.json ({per_split}, "
          f"{len(splits['excluded'])} excluded by QA)")
    print(f"  report:       {report}")
    return 0 if not failed and check.ok else 1
