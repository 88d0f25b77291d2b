"""The job system: deterministic plans, resumable stage graph, failures, locking, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import jobs_fixture_stages as fixture
from odahgen.config import load_config
from odahgen.errors import OdahgenError
from odahgen.jobs.graph import read_record, run_trial
from odahgen.jobs.local import run_local
from odahgen.jobs.plan import expand, load_spec, plan, trial_ids, variant_name
from odahgen.jobs.status import dataset_status

TESTS = Path(__file__).resolve().parent


def small_config(**over):
    sets = ["dataset.subjects=2", "dataset.shape_variants=[0.0, 1.0]", "render.width=64"]
    sets += [f"{k}={v}" for k, v in over.items()]
    cfg = load_config("demo", sets)
    return cfg


def runs(dataset, trial):
    path = dataset / "trials" / trial / "runs.txt"
    return path.read_text().split() if path.exists() else []


def test_variant_names_match_odah_folders():
    assert [variant_name(x) for x in (-1, -0.5, 0, 0.5, 1)] == [
        "bmi-1.0", "bmi-0.5", "bmiORI", "bmi0.5", "bmi1.0"]


def test_plan_is_deterministic_and_refuses_mixing(tmp_path):
    cfg = small_config()
    a = expand(cfg, ["walk", "squat"])
    b = expand(cfg, ["walk", "squat"])
    assert a == b and len(a) == 2 * 2 * 2
    assert len({s.seed for s in a}) == len(a)
    assert len({s.subject_seed for s in a if s.subject == "S01"}) == 1
    ds = tmp_path / "ds"
    plan(cfg, ds, specs=a)
    assert trial_ids(ds) == [s.trial for s in a]
    assert load_spec(ds, a[0].trial) == a[0]
    plan(cfg, ds, specs=a)  # same config: fine
    other = small_config(**{"dataset.seed": 99})
    with pytest.raises(OdahgenError, match="planned with another config"):
        plan(other, ds, specs=expand(other, ["walk"]))
    # execution settings do not change the plan
    plan(small_config(**{"jobs.workers": 2}), ds, specs=a)
    plan(other, ds, force=True, specs=expand(other, ["walk"]))
    assert len(trial_ids(ds)) == 4


def _planned(tmp_path, motions=("walk", "squat")):
    cfg = small_config()
    ds = tmp_path / "ds"
    specs = plan(cfg, ds, specs=expand(cfg, list(motions)))
    return cfg, ds, specs


def test_stage_records_skip_and_rerun_on_change(tmp_path):
    cfg, ds, specs = _planned(tmp_path)
    spec = specs[0]
    out = run_trial(ds, spec, cfg, fixture.stages(cfg))
    assert out.state == "done" and out.ran == ["first", "second", "third"]
    rec = read_record(ds / "trials" / spec.trial, "second")
    assert set(rec["outputs"]) == {"second.json", "second.bin"} and rec["seconds"] >= 0
    out = run_trial(ds, spec, cfg, fixture.stages(cfg))
    assert out.ran == [] and out.skipped == ["first", "second", "third"]
    # a config change in a stage's sections re-runs that stage only
    cfg2 = load_config("demo", ["dataset.subjects=2", "dataset.shape_variants=[0.0, 1.0]",
                                "render.width=65"])
    out = run_trial(ds, spec, cfg2, fixture.stages(cfg2))
    assert out.ran == ["third"]
    # a deleted output re-runs its stage and, through the input hashes, nothing else changes
    (ds / "trials" / spec.trial / "second.bin").unlink()
    out = run_trial(ds, spec, cfg2, fixture.stages(cfg2))
    assert out.ran == ["second"]
    assert runs(ds, spec.trial) == ["first", "second", "third", "third", "second"]


def test_stage_subset_for_split_cpu_gpu_jobs(tmp_path):
    cfg, ds, specs = _planned(tmp_path)
    spec = specs[0]
    out = run_trial(ds, spec, cfg, fixture.stages(cfg), only={"first", "second"})
    assert out.state == "partial" and out.stage == "third" and out.ran == ["first", "second"]
    out = run_trial(ds, spec, cfg, fixture.stages(cfg), only={"third"})
    assert out.state == "done" and out.ran == ["third"]


def test_planted_failure_leaves_the_others_done(tmp_path):
    cfg, ds, specs = _planned(tmp_path)
    bad = specs[1].trial
    (ds / "FAIL").write_text(bad)
    outcomes = run_local(ds, workers=2, stage_factory=fixture.stages, show_progress=False)
    states = {o.trial: o.state for o in outcomes}
    assert states.pop(bad) == "failed"
    assert set(states.values()) == {"done"}
    failure = json.loads((ds / "trials" / bad / "failure.json").read_text())
    assert failure["stage"] == "second" and "planted failure" in failure["error"]
    assert "planted failure" in (ds / "trials" / bad / "trial.log").read_text()
    st = dataset_status(ds)
    assert st.failed == [bad] and st.done == len(specs) - 1 and st.pending == 0
    # fix the cause and resume: only the failed trial's remaining stages run
    (ds / "FAIL").unlink()
    outcomes = run_local(ds, workers=1, stage_factory=fixture.stages, show_progress=False)
    assert all(o.state == "done" for o in outcomes)
    assert runs(ds, bad) == ["first", "second", "second", "third"]
    assert runs(ds, specs[0].trial) == ["first", "second", "third"]
    assert not (ds / "trials" / bad / "failure.json").exists()
    assert dataset_status(ds).done == len(specs)


RUNNER = """
import sys, jobs_fixture_stages as f
from odahgen.jobs.local import run_local
run_local(sys.argv[1], workers=int(sys.argv[2]), stage_factory=f.stages, show_progress=False)
"""


def _start_runner(ds, workers=1):
    env = dict(os.environ, PYTHONPATH=str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", RUNNER, str(ds), str(workers)], env=env,
                            start_new_session=True)


def test_two_concurrent_runs_do_no_trial_twice(tmp_path):
    cfg, ds, specs = _planned(tmp_path)
    (ds / "SLOW").write_text("0.4")
    procs = [_start_runner(ds), _start_runner(ds)]
    for p in procs:
        assert p.wait(timeout=240) == 0
    # whatever the interleaving, every stage of every trial ran exactly once
    for spec in specs:
        assert runs(ds, spec.trial) == ["first", "second", "third"], spec.trial
    assert dataset_status(ds).done == len(specs)


def test_resume_after_kill_9_mid_stage(tmp_path):
    cfg, ds, specs = _planned(tmp_path, motions=("walk",))
    (ds / "SLOW").write_text("6")
    proc = _start_runner(ds)
    trial_dir = ds / "trials" / specs[0].trial
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the slow stage is writing its temporary
        if any(trial_dir.glob(".second.*tmp*")):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the slow stage never started")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (trial_dir / "second.bin").exists()  # nothing half-written under the real name
    assert read_record(trial_dir, "second") is None
    for _ in range(100):  # the pool's worker processes die just after the runner
        st = dataset_status(ds)
        if not st.running:
            break
        time.sleep(0.1)
    assert st.running == [] and st.counts[("second", "interrupted")] == 1  # lock was freed
    (ds / "SLOW").write_text("0")
    outcomes = run_local(ds, workers=1, stage_factory=fixture.stages, show_progress=False)
    assert all(o.state == "done" for o in outcomes)
    assert not any(trial_dir.glob(".*tmp*"))
    assert (trial_dir / "second.bin").stat().st_size == 20000
    assert runs(ds, specs[0].trial)[:1] == ["first"]
    assert dataset_status(ds).done == len(specs) and not dataset_status(ds).running


def test_status_cli_and_errors(tmp_path):
    cfg, ds, specs = _planned(tmp_path, motions=("walk",))
    run_local(ds, workers=1, stage_factory=fixture.stages, show_progress=False)
    proc = subprocess.run([sys.executable, "-m", "odahgen.cli", "status", str(ds)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and f"{len(specs)} done" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "odahgen.cli", "status", str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "not a planned dataset" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_ray_executor_on_a_local_instance(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    from odahgen.jobs.ray_executor import run_ray

    cfg, ds, specs = _planned(tmp_path, motions=("walk",))
    (ds / "FAIL").write_text(specs[0].trial)
    monkeypatch.setenv("ODAHGEN_STAGE_FACTORY", "jobs_fixture_stages:stages")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    outcomes = run_ray(ds, workers=2, show_progress=False)
    states = {o.trial: o.state for o in outcomes}
    assert states.pop(specs[0].trial) == "failed" and set(states.values()) == {"done"}
    assert dataset_status(ds).done == len(specs) - 1
    for spec in specs[1:]:
        assert runs(ds, spec.trial) == ["first", "second", "third"]
