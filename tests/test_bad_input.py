"""Bad input as a new user gives it (issue 12, defects 4 and 7): every case is a one-line
error naming the file (or key/option) and the problem, a non-zero exit, and nothing that
already existed is lost. Offline and fast: no real pipeline stage runs here."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

import jobs_fixture_stages as fixture
from odahgen.cli import main
from odahgen.config import load_config, parse_override
from odahgen.errors import ConfigError, OdahgenError
from odahgen.jobs import plan as planmod
from odahgen.jobs.plan import expand, load_spec, plan, read_dataset, specs_from_file, trial_ids


def small_config(*sets):
    return load_config("demo", ["dataset.subjects=2", *sets])


def _planned(tmp_path, *sets, motions=("walk", "squat")):
    cfg = small_config(*sets)
    ds = tmp_path / "ds"
    specs = plan(cfg, ds, specs=expand(cfg, list(motions)))
    return cfg, ds, specs


def _cli(capsys, *argv) -> tuple[int, str]:
    """Run the CLI in this process: (exit code, stderr). Only the command groups used here
    are registered (faster, and independent of the others' heavy imports)."""
    import odahgen.cli

    modules = ["odahgen.cli.jobs", "odahgen.cli.skeleton"]
    saved, odahgen.cli.COMMAND_MODULES = odahgen.cli.COMMAND_MODULES, modules
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as err:  # argparse errors
        rc = err.code
    finally:
        odahgen.cli.COMMAND_MODULES = saved
    return rc, capsys.readouterr().err


def _one_line_error(rc: int, err: str, *needles: str) -> None:
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, err)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------- defect 4: sizes


def test_huge_subject_count_is_refused_naming_the_key(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"dataset\.subjects.*100000"):
        small_config("dataset.subjects=1000000000")
    rc, err = _cli(capsys, "plan", "demo", "-o", tmp_path / "big", "--set", "dataset.subjects=1000000000")
    _one_line_error(rc, err, "dataset.subjects")
    assert not (tmp_path / "big").exists()


@pytest.mark.parametrize("key, value", [
    ("dataset.scene_samples", "100000"),
    ("dataset.shape_variants", "[" + ", ".join(["0.0"] * 1000) + "]"),
    ("motion.fps", "1e9"),
])
def test_per_key_maxima(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        small_config(f"{key}={value}")


def test_total_trial_count_limit_names_the_keys(monkeypatch, tmp_path):
    monkeypatch.setattr(planmod, "MAX_TRIALS", 10)
    cfg = small_config("dataset.shape_variants=[0.0, 1.0]")
    with pytest.raises(OdahgenError, match=r"dataset\.subjects.*12 trials.*limit.*10"):
        expand(cfg, ["walk", "squat", "run"])
    rows = [{"subject": f"S{i}", "motion": "walk"} for i in range(11)]
    path = tmp_path / "trials.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(OdahgenError, match=r"trials\.json.*11 trials.*limit"):
        specs_from_file(path, cfg)


# ------------------------------------------------------------------- defect 4: non-finite values


@pytest.mark.parametrize("override, key", [
    ("render.timeout_s=inf", "render.timeout_s"),
    ("motion.fps=nan", "motion.fps"),
    ("skeleton.ik_accuracy=inf", "skeleton.ik_accuracy"),
    ("dataset.shape_variants=[0.0, nan]", "dataset.shape_variants.1"),
    ("dataset.split={train = inf, test = 1.0}", "dataset.split.train"),
    ("scene.lights.power_w=[100.0, inf]", "scene.lights.power_w.1"),
    ("scene.room_size_m=[nan, 8.0]", "scene.room_size_m.0"),
])
def test_non_finite_config_values_are_refused(override, key):
    with pytest.raises(ConfigError, match=rf"{key.replace('.', r'[.]')}: .*finite"):
        small_config(override)


def test_non_finite_config_in_a_file_names_file_and_key(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("[render]\ntimeout_s = inf\n")
    rc, err = _cli(capsys, "plan", path, "-o", tmp_path / "ds")
    _one_line_error(rc, err, str(path), "render.timeout_s")
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("bad", ['"nan"', '"inf"', '"-Infinity"', '"abc"', "null"])
def test_non_finite_bmi_delta_in_a_trial_list_writes_nothing(tmp_path, capsys, bad):
    trials = tmp_path / "trials.json"
    trials.write_text('[{"subject": "S01", "motion": "squat"}, '
                      f'{{"subject": "S02", "motion": "squat", "bmi_delta": {bad}}}]')
    rc, err = _cli(capsys, "plan", "demo", "-o", tmp_path / "ds", "--trials", trials)
    _one_line_error(rc, err, str(trials), "trial 1", "bmi_delta")
    assert not (tmp_path / "ds").exists()


def test_trial_list_rows_must_be_objects(tmp_path):
    trials = tmp_path / "trials.json"
    trials.write_text('[["S01", "squat"]]')
    with pytest.raises(OdahgenError, match=r"trials\.json: trial 0"):
        specs_from_file(trials, small_config())


def test_a_failed_replan_leaves_the_plan_as_it_was(tmp_path):
    """The issue's half-written plan: a value that cannot be written (inf) used to fail after
    the specs and _trials.txt were rewritten, leaving a trial list dataset.json did not describe."""
    cfg, ds, specs = _planned(tmp_path)
    before = _snapshot(ds)
    bad = cfg.model_copy(update={"render": cfg.render.model_copy(update={"timeout_s": math.inf}),
                                 "dataset": cfg.dataset.model_copy(update={"subjects": 3})})
    with pytest.raises(OdahgenError, match="timeout_s"):
        plan(bad, ds, force=True, specs=expand(bad, ["walk", "squat"]))
    assert _snapshot(ds) == before
    assert trial_ids(ds) == [s.trial for s in specs]


def test_api_specs_with_nan_write_nothing(tmp_path):
    cfg = small_config()
    specs = expand(cfg, ["walk"])
    bad = specs[:-1] + [planmod.TrialSpec(**{**specs[-1].__dict__, "bmi_delta": math.nan})]
    with pytest.raises(OdahgenError, match="bmi_delta"):
        plan(cfg, tmp_path / "ds", specs=bad)
    assert not (tmp_path / "ds").exists()


def _interrupt_third_write(monkeypatch) -> None:
    """Make the plan's third file write raise KeyboardInterrupt (a Ctrl-C mid-plan)."""
    calls = []

    def interrupted(path, text):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        Path(path).write_text(text)

    monkeypatch.setattr(planmod, "_write_file", interrupted)


def test_a_fresh_plan_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    """Interrupt the plan in the middle of writing the specs: no folder appears at all."""
    cfg = small_config()
    specs = expand(cfg, ["walk", "squat"])
    _interrupt_third_write(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        plan(cfg, tmp_path / "ds", specs=specs)
    assert not (tmp_path / "ds").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary left behind either
    monkeypatch.undo()
    plan(cfg, tmp_path / "ds", specs=specs)
    assert trial_ids(tmp_path / "ds") == [s.trial for s in specs]


def test_an_interrupted_replan_does_not_look_valid(tmp_path, monkeypatch, capsys):
    cfg, ds, specs = _planned(tmp_path)
    other = small_config("dataset.seed=99", "dataset.subjects=3")
    new = expand(other, ["walk", "squat"])
    _interrupt_third_write(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        plan(other, ds, force=True, specs=new)
    monkeypatch.undo()
    for reader in (read_dataset, trial_ids, planmod.dataset_config):
        with pytest.raises(OdahgenError, match="interrupted"):
            reader(ds)
    rc, err = _cli(capsys, "run", ds)
    _one_line_error(rc, err, str(ds), "interrupted")
    rc, err = _cli(capsys, "status", ds)
    _one_line_error(rc, err, str(ds), "interrupted")
    # planning again (the same command) completes it
    plan(other, ds, force=True, specs=new)
    assert trial_ids(ds) == [s.trial for s in new]
    assert load_spec(ds, new[0].trial) == new[0]


def test_trial_list_that_disagrees_with_the_record_is_refused(tmp_path):
    cfg, ds, specs = _planned(tmp_path)
    with open(ds / "jobs" / "_trials.txt", "a") as fh:
        fh.write("S99_bmiORI_walk_0\n")
    with pytest.raises(OdahgenError, match=r"_trials\.txt.*5 trials.*dataset\.json.*4"):
        trial_ids(ds)


def test_non_utf8_config_names_the_file(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[dataset]\nname = "d\xe9mo"\n')
    with pytest.raises(ConfigError, match=rf"{path.name}: not UTF-8"):
        load_config(path)
    rc, err = _cli(capsys, "plan", path, "-o", tmp_path / "ds")
    _one_line_error(rc, err, str(path), "UTF-8")
    trials = tmp_path / "trials.json"
    trials.write_bytes(b'[{"subject": "S\xe9", "motion": "walk"}]')
    with pytest.raises(OdahgenError, match=rf"{trials.name}: .*UTF-8"):
        specs_from_file(trials, small_config())


# ------------------------------------------------------------------ defect 7: paths and options


def test_plan_output_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    rc, err = _cli(capsys, "plan", "demo", "-o", target)
    _one_line_error(rc, err, str(target), "not a folder")
    assert target.read_text() == "keep me"
    rc, err = _cli(capsys, "plan", "demo", "-o", target / "sub")
    _one_line_error(rc, err, str(target))
    assert target.read_text() == "keep me"


def test_ik_output_that_is_a_file(tmp_path, capsys):
    from odahgen.io.mocap import MarkerData, write_trc

    trc = write_trc(tmp_path / "m.trc", MarkerData(["A", "B"], np.zeros((3, 2, 3)), 100.0))
    target = tmp_path / "out"
    target.write_text("keep me")
    rc, err = _cli(capsys, "ik", trc, "-o", target)
    _one_line_error(rc, err, str(target), "not a folder")
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("command", ["run", "status"])
def test_run_and_status_on_a_file(tmp_path, capsys, command):
    target = tmp_path / "dataset.json"
    target.write_text("{}")
    rc, err = _cli(capsys, command, target)
    _one_line_error(rc, err, str(target), "not a folder")


def test_run_with_an_unknown_trial(tmp_path, capsys):
    cfg, ds, specs = _planned(tmp_path)
    rc, err = _cli(capsys, "run", ds, "--trial", "nope")
    _one_line_error(rc, err, "--trial nope", "not a trial of", str(ds))
    assert not (ds / "trials" / "nope").exists()


@pytest.mark.parametrize("argv", [
    ["run", "DS", "--workers", "-3"],
    ["demo", "-o", "DS", "--workers", "-3"],
    ["ik", "m.trc", "-o", "OUT", "--workers", "-3"],
])
def test_negative_workers_refused(tmp_path, capsys, argv):
    argv = [str(tmp_path / a) if a in ("DS", "OUT") else a for a in argv]
    rc, err = _cli(capsys, *argv)
    _one_line_error(rc, err, "--workers", "-3")
    assert not (tmp_path / "DS").exists()


def test_corrupt_job_spec_is_a_trial_failure_naming_the_file(tmp_path):
    from odahgen.jobs.local import run_one
    from odahgen.jobs.status import dataset_status

    cfg, ds, specs = _planned(tmp_path)
    garbage = ds / "jobs" / f"{specs[0].trial}.json"
    garbage.write_text("garbage")
    wrong = ds / "jobs" / f"{specs[1].trial}.json"
    wrong.write_text('{"trial": 3}')
    for path, trial in ((garbage, specs[0].trial), (wrong, specs[1].trial)):
        out = run_one(str(ds), trial, None, stage_factory=fixture.stages)
        assert out["state"] == "failed"
        assert str(path) in out["error"] and "corrupt job spec" in out["error"]
        assert "\n" not in out["error"] and "crashed" not in out["error"]
        with pytest.raises(OdahgenError, match="corrupt job spec"):
            load_spec(ds, trial)
    assert sorted(dataset_status(ds).failed) == sorted([specs[0].trial, specs[1].trial])
    # planning again rewrites the broken specs
    plan(cfg, ds, specs=specs)
    assert load_spec(ds, specs[0].trial) == specs[0]


def test_spec_file_of_another_trial_is_refused(tmp_path):
    cfg, ds, specs = _planned(tmp_path)
    (ds / "jobs" / f"{specs[0].trial}.json").write_text(
        (ds / "jobs" / f"{specs[1].trial}.json").read_text())
    with pytest.raises(OdahgenError, match=rf"{specs[0].trial}\.json: corrupt job spec.*{specs[1].trial}"):
        load_spec(ds, specs[0].trial)


@pytest.mark.parametrize("text, pattern", [
    ("motion.fps=60 extra = 1", r"motion\.fps.*extra"),
    ("motion.fps=60\nextra = 1", r"motion\.fps.*extra"),
    ('dataset.name="a" b', r"dataset\.name.*after the value"),
    ("motion.motions=['walk'] ['run']", r"motion\.motions.*after the value"),
    ("render.engine=cycles = 3", r"render\.engine"),
])
def test_set_with_extra_toml_after_the_value(text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        parse_override(text)


def test_set_still_takes_plain_words_and_comments():
    assert parse_override("render.engine=cycles") == (["render", "engine"], "cycles")
    assert parse_override("motion.fps=60 # per second") == (["motion", "fps"], 60)
    assert parse_override("skeleton.model=/data/my model.osim") == (["skeleton", "model"], "/data/my model.osim")
    assert parse_override("render.blender=") == (["render", "blender"], "")


def test_status_counts_an_interrupted_trial(tmp_path, capsys):
    """A trial whose state is "running" but whose lock nobody holds (kill -9) is interrupted."""
    from odahgen.jobs.status import dataset_status

    cfg, ds, specs = _planned(tmp_path)
    trial = specs[0].trial
    (ds / "state").mkdir()
    (ds / "state" / f"{trial}~second~running").touch()
    (ds / "trials" / trial).mkdir(parents=True)
    (ds / "trials" / trial / ".lock").touch()
    st = dataset_status(ds)
    assert st.interrupted == [trial] and st.running == []
    assert st.pending == len(specs) - 1
    capsys.readouterr()
    import odahgen.cli

    saved, odahgen.cli.COMMAND_MODULES = odahgen.cli.COMMAND_MODULES, ["odahgen.cli.jobs"]
    try:
        rc = main(["status", str(ds)])
    finally:
        odahgen.cli.COMMAND_MODULES = saved
    out = capsys.readouterr().out
    assert rc == 0
    assert f"{len(specs)} trials: 0 done, 0 failed, 0 running, 1 interrupted, {len(specs) - 1} not started" in out


# ---------------------------------------------------------------------------- motion files


def test_random_bytes_npz_is_not_a_pickle_problem(tmp_path):
    from odahgen.motion.amass import read_amass

    path = tmp_path / "rand.npz"
    path.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(OdahgenError, match=r"rand\.npz: not an \.npz") as err:
        read_amass(path)
    assert "pickle" not in str(err.value)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(OdahgenError, match=r"empty\.npz: empty file"):
        read_amass(empty)
    half = tmp_path / "half.npz"
    np.savez(half, poses=np.zeros((4, 156)), trans=np.zeros((4, 3)))
    half.write_bytes(half.read_bytes()[:200])
    with pytest.raises(OdahgenError, match=r"half\.npz: truncated or corrupt"):
        read_amass(half)


def test_a_real_pickle_is_still_named_as_one(tmp_path):
    import pickle

    from odahgen.motion.amass import read_amass

    path = tmp_path / "p.npz"
    path.write_bytes(pickle.dumps({"poses": [1, 2]}))
    with pytest.raises(OdahgenError, match=r"p\.npz: .*pickle"):
        read_amass(path)
    obj = tmp_path / "obj.npz"
    np.savez(obj, poses=np.array([{"a": 1}], dtype=object))
    with pytest.raises(OdahgenError, match=r"obj\.npz: .*pickle"):
        read_amass(obj)
    assert zipfile.is_zipfile(obj)


def _bvh(tmp_path) -> Path:
    from odahgen.motion.bvh import write_bvh

    T = 10
    trans = np.zeros((T, 3))
    trans[:, 1] = 0.9
    return write_bvh(tmp_path / "full.bvh", np.zeros((T, 66)), trans, 30.0)


@pytest.mark.parametrize("cut", [10, 60, 400, 1200, "motion", "frames", "frametime", "row", "value"])
def test_truncated_bvh_names_file_and_problem(tmp_path, cut):
    from odahgen.motion.bvh import read_bvh

    text = _bvh(tmp_path).read_text()
    motion = text.index("MOTION")
    if cut == "motion":
        cut = motion + len("MOTION") + 1
    elif cut == "frames":
        cut = text.index("Frame Time")
    elif cut == "frametime":
        cut = text.index("Frame Time") + len("Frame Time:")
    elif cut == "row":
        cut = text.rstrip("\n").rindex("\n") + 1  # the last frame is missing
    elif cut == "value":
        cut = len(text.rstrip()) - 12  # the last frame is cut in the middle
    path = tmp_path / "cut.bvh"
    path.write_text(text[:cut])
    with pytest.raises(OdahgenError, match=r"cut\.bvh: truncated") as err:
        read_bvh(path)
    msg = str(err.value)
    assert "IndexError" not in msg and "\n" not in msg


@pytest.mark.parametrize("edit, pattern", [
    (lambda t: t.replace("{", "", 1), r"bad\.bvh: .*(brace|\{)"),
    (lambda t: t.replace("}\nMOTION", "}\n}\nMOTION"), r"bad\.bvh: .*unbalanced"),
    (lambda t: t.replace("CHANNELS 3", "CHANNELS x", 1), r"bad\.bvh: .*CHANNELS"),
    (lambda t: t.replace("Frames:", "Framez:"), r"bad\.bvh: .*Frames:"),
    (lambda t: t.replace("Frame Time: ", "Frame Time: -"), r"bad\.bvh: .*frame time"),
    (lambda t: t.rstrip().rsplit(" ", 1)[0] + " abc\n", r"bad\.bvh: .*frame 10.*'abc'"),
])
def test_malformed_bvh_names_file_and_problem(tmp_path, edit, pattern):
    from odahgen.motion.bvh import read_bvh

    path = tmp_path / "bad.bvh"
    path.write_text(edit(_bvh(tmp_path).read_text()))
    with pytest.raises(OdahgenError, match=pattern) as err:
        read_bvh(path)
    assert "IndexError" not in str(err.value)


def test_full_bvh_still_reads(tmp_path):
    from odahgen.motion.bvh import read_bvh

    bvh = read_bvh(_bvh(tmp_path))
    assert bvh["frames"].shape[0] == 10 and abs(bvh["frame_time"] - 1 / 30) < 1e-6


def test_validate_refuses_an_interrupted_plan(tmp_path):
    from odahgen.gt.dataset import load_dataset_config
    from odahgen.jobs.plan import INCOMPLETE

    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / INCOMPLETE).write_text("")
    with pytest.raises(OdahgenError, match="interrupted"):
        load_dataset_config(ds)
