"""Resume trusts content, not existence: records list every output file (folders expanded)
with size, mtime and hash; a missing, truncated or overwritten output re-runs its stage."""

from __future__ import annotations

import json
import os

import numpy as np

import jobs_fixture_stages as fixture
from odahgen.config import load_config
from odahgen.io import atomic_write_json
from odahgen.io.records import adopt_output, read_record
from odahgen.jobs.graph import Stage, TrialContext, run_trial
from odahgen.jobs.plan import expand, plan


def _setup(tmp_path):
    cfg = load_config("demo", ["dataset.subjects=1", "dataset.shape_variants=[0.0]"])
    ds = tmp_path / "ds"
    specs = plan(cfg, ds, specs=expand(cfg, ["walk"]))
    return cfg, ds, specs[0]


def _runs(ds, trial):
    path = ds / "trials" / trial / "runs.txt"
    return path.read_text().split() if path.exists() else []


def _folder_stage(ctx: TrialContext) -> None:
    """A stage whose output is a folder of files (like render/)."""
    with open(ctx.path("runs.txt"), "a") as fh:
        fh.write("folder\n")
    out = ctx.path("out")
    out.mkdir(exist_ok=True)
    for view in ("front", "side"):
        atomic_write_json(out / f"{view}.json", {"view": view, "trial": ctx.spec.trial})


def _stages(cfg):
    return fixture.stages(cfg) + [Stage("folder", _folder_stage, ("out",), deps=("third",))]


def test_record_lists_every_file_of_a_folder_output(tmp_path):
    cfg, ds, spec = _setup(tmp_path)
    assert run_trial(ds, spec, cfg, _stages(cfg)).state == "done"
    rec = read_record(ds / "trials" / spec.trial, "folder")
    assert set(rec["files"]) == {"out/front.json", "out/side.json"}
    assert set(rec["outputs"]) == {"out"}
    for fp in rec["files"].values():
        assert fp["size"] > 0 and len(fp["sha256"]) == 16 and fp["mtime_ns"] > 0


def test_deleted_file_in_folder_output_is_made_again(tmp_path):
    cfg, ds, spec = _setup(tmp_path)
    run_trial(ds, spec, cfg, _stages(cfg))
    side = ds / "trials" / spec.trial / "out" / "side.json"
    side.unlink()
    out = run_trial(ds, spec, cfg, _stages(cfg))
    assert out.state == "done" and out.ran == ["folder"]
    assert side.exists()


def test_truncated_or_overwritten_output_reruns_its_stage_only(tmp_path):
    cfg, ds, spec = _setup(tmp_path)
    run_trial(ds, spec, cfg, _stages(cfg))
    trial = ds / "trials" / spec.trial
    good = (trial / "second.bin").read_bytes()
    # truncated (a kill during a copy, a full disk)
    with open(trial / "second.bin", "r+b") as fh:
        fh.truncate(len(good) // 2)
    out = run_trial(ds, spec, cfg, _stages(cfg))
    # second makes the same bytes again, so the stages after it keep their records
    assert out.ran == ["second"] and (trial / "second.bin").read_bytes() == good
    # overwritten with random bytes of another size
    (trial / "second.bin").write_bytes(np.random.default_rng(0).bytes(123))
    assert run_trial(ds, spec, cfg, _stages(cfg)).ran == ["second"]
    assert (trial / "second.bin").read_bytes() == good


def test_same_size_overwrite_found_by_hash_or_verify(tmp_path):
    cfg, ds, spec = _setup(tmp_path)
    run_trial(ds, spec, cfg, _stages(cfg))
    path = ds / "trials" / spec.trial / "second.bin"
    good = path.read_bytes()
    st = os.stat(path)
    # same size, new mtime: the content hash decides
    path.write_bytes(bytes(len(good)))
    assert run_trial(ds, spec, cfg, _stages(cfg)).ran == ["second"]
    assert path.read_bytes() == good
    # same size and the old mtime put back (a deliberate forgery): only --verify sees it
    st = os.stat(path)
    path.write_bytes(bytes(len(good)))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert run_trial(ds, spec, cfg, _stages(cfg)).ran == []
    assert run_trial(ds, spec, cfg, _stages(cfg), verify=True).ran == ["second"]
    assert path.read_bytes() == good


def test_copy_with_new_times_is_not_rerun(tmp_path):
    cfg, ds, spec = _setup(tmp_path)
    run_trial(ds, spec, cfg, _stages(cfg))
    trial = ds / "trials" / spec.trial
    for name in ("first.json", "second.bin", "out/front.json"):
        os.utime(trial / name, ns=(1, 10**18))  # same bytes, other times (cp without -p)
    before = _runs(ds, spec.trial)
    assert run_trial(ds, spec, cfg, _stages(cfg)).ran == []
    assert _runs(ds, spec.trial) == before
    # the records now carry the new times, so the next check is cheap again
    assert read_record(trial, "second")["files"]["second.bin"]["mtime_ns"] == 10**18


def test_adopted_rewrite_keeps_the_trial_done(tmp_path):
    cfg, ds, spec = _setup(tmp_path)
    run_trial(ds, spec, cfg, _stages(cfg))
    path = ds / "trials" / spec.trial / "third.json"
    data = json.loads(path.read_text())
    atomic_write_json(path, {**data, "qa": "passed"})  # a deliberate rewrite, like /qa in trial.h5
    assert adopt_output(path) == ["third"]
    assert run_trial(ds, spec, cfg, _stages(cfg)).ran == []
    # without adopting, the same rewrite counts as a change
    atomic_write_json(path, {**data, "qa": "failed"})
    assert run_trial(ds, spec, cfg, _stages(cfg)).ran == ["third"]


def test_old_record_without_file_list_reruns(tmp_path):
    cfg, ds, spec = _setup(tmp_path)
    run_trial(ds, spec, cfg, _stages(cfg))
    trial = ds / "trials" / spec.trial
    rec = read_record(trial, "first")
    del rec["files"]
    atomic_write_json(trial / "stages" / "first.json", rec)
    assert run_trial(ds, spec, cfg, _stages(cfg)).ran == ["first"]


def _rewrite_third(ctx: TrialContext) -> None:
    """A later stage that rewrites an earlier stage's output (as qa adds /qa to trial.h5)."""
    with open(ctx.path("runs.txt"), "a") as fh:
        fh.write("rewrite\n")
    data = json.loads(ctx.path("third.json").read_text())
    atomic_write_json(ctx.path("third.json"), {**data, "verdict": "passed"})


def test_later_stage_that_rewrites_an_earlier_output_takes_it_over(tmp_path):
    cfg, ds, spec = _setup(tmp_path)
    stages = fixture.stages(cfg) + [Stage("rewrite", _rewrite_third, ("third.json",), deps=("third",))]
    assert run_trial(ds, spec, cfg, stages).ran == ["first", "second", "third", "rewrite"]
    assert run_trial(ds, spec, cfg, stages).ran == []
    # deleting the shared file re-runs both: third makes it, rewrite finishes it
    (ds / "trials" / spec.trial / "third.json").unlink()
    assert run_trial(ds, spec, cfg, stages).ran == ["third", "rewrite"]
    assert json.loads((ds / "trials" / spec.trial / "third.json").read_text())["verdict"] == "passed"


def test_run_local_verify_and_slurm_intact_check(tmp_path):
    from odahgen.jobs.graph import outputs_intact
    from odahgen.jobs.local import run_local

    cfg, ds, spec = _setup(tmp_path)
    factory = "jobs_fixture_stages:stages"
    import os as _os

    env = dict(_os.environ)
    try:
        _os.environ["ODAHGEN_STAGE_FACTORY"] = factory
        outs = run_local(ds, workers=1, show_progress=False)
        assert [o.state for o in outs] == ["done"]
        trial = ds / "trials" / spec.trial
        assert outputs_intact(trial)
        path = trial / "second.bin"
        st = os.stat(path)
        path.write_bytes(bytes(st.st_size))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert outputs_intact(trial) and not outputs_intact(trial, verify=True)
        assert run_local(ds, workers=1, show_progress=False)[0].ran == []
        out = run_local(ds, workers=1, show_progress=False, verify=True)[0]
        assert out.ran == ["second"] and outputs_intact(trial, verify=True)
    finally:
        _os.environ.clear()
        _os.environ.update(env)
