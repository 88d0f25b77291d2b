"""The Slurm executor end to end on a real single-node Slurm started by the test set-up
(munge + slurmctld + slurmd from Debian's packages, installed when missing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from odahgen.config import load_config
from odahgen.jobs.plan import expand, plan
from odahgen.jobs.slurm import phases, run_slurm
from odahgen.jobs.status import dataset_status, failure_details

TESTS = Path(__file__).resolve().parent


def test_phases_split_cpu_gpu_post():
    res = {"motion": "cpu", "skeleton": "cpu", "render": "gpu", "gt": "cpu", "qa": "cpu"}
    names = ["motion", "skeleton", "render", "gt", "qa"]
    assert phases(names, res) == [("cpu", ["motion", "skeleton"]), ("gpu", ["render"]),
                                  ("post", ["gt", "qa"])]
    assert phases(names, res, only=["render"]) == [("gpu", ["render"])]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if sys.platform != "linux":
        pytest.skip("Slurm test needs Linux")
    root = tmp_path_factory.mktemp("slurm")
    proc = subprocess.run(["bash", str(TESTS / "slurm" / "start_slurm.sh"), str(root)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode == 3:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    conf = proc.stdout.strip().splitlines()[-1]
    old = {k: os.environ.get(k) for k in ("SLURM_CONF", "ODAHGEN_STAGE_FACTORY", "PYTHONPATH")}
    os.environ["SLURM_CONF"] = conf
    os.environ["ODAHGEN_STAGE_FACTORY"] = "jobs_fixture_stages:stages"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(TESTS)] + ([old["PYTHONPATH"]] if old["PYTHONPATH"] else []))
    yield conf
    subprocess.run(["bash", str(TESTS / "slurm" / "stop_slurm.sh"), str(root)], timeout=60)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.slow
def test_slurm_executor_end_to_end(slurm, tmp_path):
    cfg = load_config("demo", ["dataset.subjects=2", "dataset.shape_variants=[0.0]",
                               "jobs.slurm_gres_gpu=''", "jobs.slurm_partition_gpu=gpu",
                               "jobs.slurm_concurrency=2", "jobs.retries=1",
                               "jobs.slurm_mem_gb=1", "jobs.slurm_cpus_per_task=1"])
    ds = tmp_path / "ds"
    specs = plan(cfg, ds, specs=expand(cfg, ["walk", "squat"]))
    flaky, broken = specs[0].trial, specs[1].trial
    (ds / "FAIL_ONCE").write_text(flaky)  # fails on the first attempt only
    (ds / "FAIL").write_text(broken)  # fails every time
    code = run_slurm(ds, cfg, poll_s=0.5)
    assert code == 1  # one trial stays failed
    st = dataset_status(ds)
    assert st.done == len(specs) - 1 and st.failed == [broken]
    subs = json.loads((ds / "slurm" / "submissions.json").read_text())
    assert [s["attempt"] for s in subs] == [0, 1]
    assert subs[0]["trials"] == len(specs) and subs[1]["trials"] == 2  # the two failures
    assert [p for p, _ in subs[0]["phases"]] == ["cpu", "gpu"]
    # per-phase scripts carry the resources and the chaining
    cpu = (ds / "slurm" / "attempt0_cpu.sbatch").read_text()
    gpu = (ds / "slurm" / "attempt0_gpu.sbatch").read_text()
    assert "--array=0-3%2" in cpu and "--partition=gpu" in gpu and "aftercorr:" in gpu
    assert "--partition" not in cpu
    # the flaky trial ran its failing stage twice and finished; the logs are named
    runs = (ds / "trials" / flaky / "runs.txt").read_text().split()
    assert runs.count("second") == 2 and runs[-1] == "third"
    rec = failure_details(ds, st.failed)[0]
    assert rec["stage"] == "second" and Path(rec["job_log"]).exists()
    assert "planted failure" in Path(rec["job_log"]).read_text()
    proc = subprocess.run([sys.executable, "-m", "odahgen.cli", "status", str(ds)],
                          capture_output=True, text=True)
    assert broken in proc.stdout and "slurm" in proc.stdout
