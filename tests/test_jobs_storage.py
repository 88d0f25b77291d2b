"""Intermediates are pruned when a trial is done (storage.keep_intermediates = false), the
trial stays complete for resume, --verify and the executors, and a stage that must run
again gets the pruned outputs it reads made again first."""

from __future__ import annotations

import json

import jobs_fixture_stages as fixture
from odahgen.config import load_config
from odahgen.io import atomic_write_json
from odahgen.io.records import pruned_files, read_record
from odahgen.jobs.graph import Stage, TrialContext, outputs_intact, run_trial, stage_key
from odahgen.jobs.plan import expand, plan, plan_hash


def _note(ctx: TrialContext, name: str) -> None:
    with open(ctx.path("runs.txt"), "a") as fh:
        fh.write(f"{name}\n")


def _folder(ctx: TrialContext) -> None:
    _note(ctx, "folder")
    out = ctx.path("bundle")
    (out / "meshes").mkdir(parents=True, exist_ok=True)
    data = json.loads(ctx.path("second.json").read_text())
    for view in ("front", "side"):
        atomic_write_json(out / "meshes" / f"{view}.json", {"view": view, **data})


def _last(ctx: TrialContext) -> None:
    """Reads both intermediates (like the gt stage reads body.npz and bundle/)."""
    _note(ctx, "last")
    size = len(ctx.path("second.bin").read_bytes())
    views = sorted(p.stem for p in (ctx.path("bundle") / "meshes").glob("*.json"))
    atomic_write_json(ctx.path("last.json"), {"bin": size, "views": views,
                                              "min_frames": ctx.config.qa.min_frames})


def _stages(cfg):
    first, second, third = fixture.stages(cfg)
    second = Stage(second.name, second.run, second.outputs, deps=second.deps,
                   intermediate=("second.bin",))
    return [first, second, third,
            Stage("folder", _folder, ("bundle",), deps=("second",), intermediate=("bundle",)),
            Stage("last", _last, ("last.json",), deps=("second", "folder"), config_keys=("qa",))]


def _setup(tmp_path, *overrides):
    cfg = load_config("demo", ["dataset.subjects=1", "dataset.shape_variants=[0.0]", *overrides])
    ds = tmp_path / "ds"
    specs = plan(cfg, ds, specs=expand(cfg, ["walk"]))
    return cfg, ds, specs[0], ds / "trials" / specs[0].trial


def _runs(trial_dir):
    path = trial_dir / "runs.txt"
    return path.read_text().split() if path.exists() else []


def test_intermediates_are_pruned_and_the_trial_stays_complete(tmp_path):
    cfg, ds, spec, trial = _setup(tmp_path)
    out = run_trial(ds, spec, cfg, _stages(cfg))
    assert out.state == "done"
    assert not (trial / "second.bin").exists() and not (trial / "bundle").exists()
    assert (trial / "second.json").exists() and (trial / "last.json").exists()
    rec = read_record(trial, "second")
    assert pruned_files(rec) == ["second.bin"] and set(rec["files"]) == {"second.json"}
    assert pruned_files(read_record(trial, "folder")) == ["bundle/meshes/front.json",
                                                          "bundle/meshes/side.json"]
    assert "pruned intermediates" in (trial / "trial.log").read_text()
    assert outputs_intact(trial) and outputs_intact(trial, verify=True)
    before = _runs(trial)
    for verify in (False, True):
        again = run_trial(ds, spec, cfg, _stages(cfg), verify=verify)
        assert again.state == "done" and again.ran == [] and len(again.skipped) == 5
    assert _runs(trial) == before
    assert (ds / "state" / f"{spec.trial}~last~done").exists()


def test_keep_intermediates_keeps_them_and_pruning_later_works(tmp_path):
    cfg, ds, spec, trial = _setup(tmp_path, "storage.keep_intermediates=true")
    assert run_trial(ds, spec, cfg, _stages(cfg)).state == "done"
    assert (trial / "second.bin").exists() and (trial / "bundle" / "meshes" / "side.json").exists()
    # switching the key off re-runs nothing and prunes the finished trial
    cfg2 = load_config("demo", ["dataset.subjects=1", "dataset.shape_variants=[0.0]"])
    assert plan_hash(cfg2) == plan_hash(cfg)
    out = run_trial(ds, spec, cfg2, _stages(cfg2))
    assert out.ran == [] and not (trial / "second.bin").exists() and not (trial / "bundle").exists()


def test_run_only_keys_do_not_change_the_whole_config_key(tmp_path):
    cfg, ds, spec, trial = _setup(tmp_path)
    other = load_config("demo", ["dataset.subjects=1", "dataset.shape_variants=[0.0]",
                                 "storage.keep_intermediates=true", "jobs.workers=3",
                                 "render.timeout_s=5"])
    from odahgen.jobs.graph import TrialContext as Ctx
    import logging

    st = Stage("all", _last, ("x",), config_keys=("*",))
    log = logging.getLogger("t")
    assert stage_key(st, Ctx(ds, spec, cfg, log), {}) == stage_key(st, Ctx(ds, spec, other, log), {})
    changed = load_config("demo", ["dataset.subjects=1", "dataset.shape_variants=[0.0]", "qa.min_frames=70"])
    assert stage_key(st, Ctx(ds, spec, cfg, log), {}) != stage_key(st, Ctx(ds, spec, changed, log), {})


def test_a_stage_that_must_run_again_gets_its_pruned_inputs_back(tmp_path):
    cfg, ds, spec, trial = _setup(tmp_path)
    run_trial(ds, spec, cfg, _stages(cfg))
    n0 = len(_runs(trial))
    cfg2 = load_config("demo", ["dataset.subjects=1", "dataset.shape_variants=[0.0]", "qa.min_frames=70"])
    out = run_trial(ds, spec, cfg2, _stages(cfg2))
    assert out.state == "done"
    # second and folder are made again (same bytes: third keeps its record), then last
    assert _runs(trial)[n0:] == ["second", "folder", "last"]
    assert json.loads((trial / "last.json").read_text()) == {"bin": 20000, "views": ["front", "side"],
                                                             "min_frames": 70}
    assert not (trial / "second.bin").exists() and not (trial / "bundle").exists()  # pruned again
    assert outputs_intact(trial)
    # a damaged final output: the same
    (trial / "last.json").write_text("{}")
    n1 = len(_runs(trial))
    assert run_trial(ds, spec, cfg2, _stages(cfg2), verify=True).state == "done"
    assert _runs(trial)[n1:] == ["second", "folder", "last"]


def test_a_stage_subset_stops_at_a_pruned_stage_it_may_not_run(tmp_path):
    cfg, ds, spec, trial = _setup(tmp_path)
    run_trial(ds, spec, cfg, _stages(cfg))
    cfg2 = load_config("demo", ["dataset.subjects=1", "dataset.shape_variants=[0.0]", "qa.min_frames=70"])
    out = run_trial(ds, spec, cfg2, _stages(cfg2), only={"last"})
    assert (out.state, out.stage) == ("partial", "second")
    assert (ds / "state" / f"{spec.trial}~second~pending").exists()
    out = run_trial(ds, spec, cfg2, _stages(cfg2), only={"second", "folder", "last"})
    assert out.state == "done" and out.ran == ["second", "folder", "last"]


def test_a_kill_between_record_and_delete_is_harmless(tmp_path):
    """prune_outputs writes the record first: files it calls pruned but still there are
    ignored, and the next finished run deletes them."""
    from odahgen.io.records import prune_outputs

    cfg, ds, spec, trial = _setup(tmp_path, "storage.keep_intermediates=true")
    run_trial(ds, spec, cfg, _stages(cfg))
    rec = read_record(trial, "second")
    data = (trial / "second.bin").read_bytes()
    prune_outputs(trial, rec, ["second.bin"])
    (trial / "second.bin").write_bytes(data)  # as if the kill came before the unlink
    assert outputs_intact(trial)
    cfg2 = load_config("demo", ["dataset.subjects=1", "dataset.shape_variants=[0.0]"])
    assert run_trial(ds, spec, cfg2, _stages(cfg2)).ran == []
    assert not (trial / "second.bin").exists()


def test_status_reports_the_disk_of_finished_trials(tmp_path, capsys):
    import argparse

    from odahgen.cli.jobs import cmd_status
    from odahgen.jobs.status import dataset_status, disk_usage

    cfg, ds, spec, trial = _setup(tmp_path)
    assert disk_usage(ds, dataset_status(ds)) is None  # nothing finished yet
    run_trial(ds, spec, cfg, _stages(cfg))
    disk = disk_usage(ds, dataset_status(ds))
    assert disk["measured"] == disk["finished"] == 1
    # every file of the trial folder counts (records, log, lock), the pruned ones no longer
    assert 0 < disk["mean_bytes"] == disk["finished_bytes"] == disk["planned_bytes"] < 200_000
    args = argparse.Namespace(dataset=str(ds), no_yield=False, json=True, reasons=10, failures=5)
    assert cmd_status(args) == 0
    assert json.loads(capsys.readouterr().out)["disk"] == disk
    args.json = False
    cmd_status(args)
    text = " ".join(capsys.readouterr().out.split())
    assert "disk: " in text and "per finished trial (all 1 finished trials measured" in text


def test_disk_sample_is_bounded(tmp_path):
    from odahgen.jobs.status import DatasetStatus, disk_usage

    ds = tmp_path / "ds"
    names = [f"T{i:04d}" for i in range(50)]
    for i, t in enumerate(names):
        (ds / "trials" / t).mkdir(parents=True)
        (ds / "trials" / t / "f.bin").write_bytes(b"x" * (4096 * (1 + i % 2)))
    from collections import Counter

    st = DatasetStatus(total=100, counts=Counter(), finished=set(names))
    disk = disk_usage(ds, st, sample=10)
    assert disk["measured"] == 10 and disk["finished"] == 50
    assert disk["min_bytes"] == 4096 and disk["max_bytes"] == 8192
    assert disk["planned_bytes"] == 2 * disk["finished_bytes"]


def test_uncompressed_arrays_round_trip(tmp_path):
    import zipfile

    import numpy as np

    from odahgen.io import load_arrays, save_arrays

    arrays = {"vertices": np.arange(3 * 50 * 3, dtype=np.float32).reshape(3, 50, 3), "faces": np.arange(6).reshape(2, 3)}
    for compress, method in ((True, zipfile.ZIP_DEFLATED), (False, zipfile.ZIP_STORED)):
        path = tmp_path / f"b{compress}.npz"
        save_arrays(path, arrays, compress=compress)
        with zipfile.ZipFile(path) as z:
            assert {i.compress_type for i in z.infolist()} == {method}
        back = load_arrays(path)
        assert all(np.array_equal(back[k], v) and back[k].dtype == v.dtype for k, v in arrays.items())
