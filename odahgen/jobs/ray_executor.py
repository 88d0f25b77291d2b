"""The Ray executor (optional extra: ``pip install odahgen[ray]``).

Each trial is one Ray task running :func:`odahgen.jobs.local.run_one`, so it uses the same
locks, completion records and state files as the other executors. With ``address`` it joins
a running cluster (``ray start --head`` on the head node); without, it starts a local Ray
instance with ``workers`` CPUs. A trial whose stages include rendering asks Ray for
``gpus_per_render`` GPUs when the cluster has any.
"""

from __future__ import annotations

from pathlib import Path

from odahgen.errors import OdahgenError
from odahgen.jobs.graph import TrialOutcome
from odahgen.jobs.plan import trial_ids


def run_ray(dataset: Path, workers: int = 1, only: list[str] | None = None,
            trials: list[str] | None = None, address: str | None = None,
            gpus_per_render: float = 1.0, show_progress: bool = True,
            verify: bool = False) -> list[TrialOutcome]:
    try:
        import ray
    except ImportError:
        raise OdahgenError("--executor ray needs Ray: pip install 'odahgen[ray]'") from None
    from odahgen.jobs.local import run_one

    dataset = Path(dataset).resolve()
    trials = trials if trials is not None else trial_ids(dataset)
    started = False
    if not ray.is_initialized():
        kwargs = {"address": address} if address else {"num_cpus": max(1, int(workers))}
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        started = True
    try:
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        renders = only is None or "render" in only
        options = {"num_cpus": 1}
        if has_gpu and renders:
            options["num_gpus"] = gpus_per_render
        task = ray.remote(run_one).options(**options)
        refs = {task.remote(str(dataset), t, only, None, verify): t for t in trials}
        outcomes: list[TrialOutcome] = []
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    outcomes.append(TrialOutcome(**ray.get(ref)))
                except Exception as err:  # the Ray worker itself died
                    outcomes.append(TrialOutcome(refs[ref], "failed", "?",
                                                 f"Ray task crashed: {type(err).__name__}: {err}"))
            if show_progress:
                print(f"\rray: {len(outcomes)}/{len(trials)} trials finished", end="", flush=True)
        if show_progress:
            print()
        return outcomes
    finally:
        if started:
            ray.shutdown()
