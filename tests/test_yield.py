"""The QA yield: gate keys of QA reasons, `odahgen status` (text and --json) and the report's
yield section, on small fake datasets with a known mix of outcomes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from odahgen.config import load_config
from odahgen.config.models import QAConfig
from odahgen.gt import QAYield, error_category, reason_category
from odahgen.gt.qa import GATES, qa_trial, reason_gate
from odahgen.gt.schema import QARecord, write_trial
from odahgen.jobs import status as status_mod
from odahgen.jobs.graph import STATE_DIR, set_state
from odahgen.jobs.plan import expand, plan
from odahgen.jobs.status import CACHE_FILE, dataset_status, qa_yield, status_json
from odahgen.testing.gt import synthetic_trial

# --------------------------------------------------------------------------- gate keys


def test_every_qa_reason_has_its_gate_key():
    gt = synthetic_trial("t", n_frames=40)
    gt.markers.ik_rms[:] = 0.5
    gt.markers.ik_max[:] = 0.9
    gt.markers.flagged[:] = True
    gt.body.fit_joint_err[:] = 1.0
    gt.body.fit_marker_err[:] = 1.0
    gt.coordinate_ranges[:, 0], gt.coordinate_ranges[:, 1] = -0.01, 0.01
    gt.segment_scales[0, 0] = np.nan
    res = qa_trial(gt, QAConfig(), mask_fraction={"front": 0.2, "side": 1.0})
    assert len(res.reasons) == len(GATES) and not res.passed
    assert res.gates == list(GATES)  # one reason per gate, in the order qa_trial checks them
    assert [reason_category(r) for r in res.reasons] == list(GATES)
    assert qa_trial(synthetic_trial("ok", n_frames=64), QAConfig()).gates == []


def test_reason_and_error_categories():
    # older or foreign reason lines: the text before the colon, numbers out
    assert reason_gate("unreadable: broken file") == ""
    assert reason_category("unreadable: /x/trial.h5 truncated") == "unreadable"
    assert reason_category("custom check 3 > 2") == "custom check N > N"
    assert reason_category("anything", gate="ik_rms") == "ik_rms"
    # the same failure of two trials is one category
    a = error_category("/data/ds/trials/S01_bmiORI_walk_0/motion.npz: truncated at 1890 bytes",
                       "S01_bmiORI_walk_0")
    b = error_category("/other/trials/S02_bmi1.0_run_3/motion.npz: truncated at 77 bytes", "S02_bmi1.0_run_3")
    assert a == b == "<path>: truncated at N bytes"
    assert error_category("Blender exited with code -9 after 3600.5 s") == "Blender exited with code N after N s"
    assert error_category("hash 3fa9b2c1d0e17a mismatch in float32 array") == "hash <hash> mismatch in float32 array"
    assert len(error_category("x " * 500)) <= 100


def test_qayield_counts_and_json():
    y = QAYield(planned=10)
    y.add_verdict(True)
    y.add_verdict(False, ["ik_rms", "flagged_frames"])
    y.add_verdict(False, ["ik_rms", "ik_rms"])
    y.add_no_verdict()
    y.add_failure("render", "Blender crashed")
    d = y.to_dict()
    assert (d["finished"], d["passed"], d["failed_qa"], d["no_verdict"], d["pipeline_failed"]) == (4, 1, 2, 1, 1)
    assert [(r["gate"], r["label"], r["trials"]) for r in d["reasons"]] == [
        ("ik_rms", "IK marker RMS", 2), ("flagged_frames", "flagged frames", 1)]
    assert d["reasons"][0]["percent_of_finished"] == 50.0 and d["reasons"][0]["percent_of_failed_qa"] == 100.0
    assert d["failures_by_stage"] == {"render": 1}
    json.dumps(d)


# --------------------------------------------------------------------------- status

RMS = "IK marker RMS {:.2f} cm > 2.00 cm"
FLAG = "{:.1f}% of frames flagged (bony landmark off) > 5.0%"

# trial index -> what it left: ("pass",) / ("fail", reasons, gates?) / ("error", stage, msg) / ("noqa",)
MIX = {
    0: ("pass",), 1: ("pass",), 2: ("pass",), 3: ("pass",),
    4: ("fail", [RMS.format(2.5)]),
    5: ("fail", [RMS.format(3.81), FLAG.format(40)]),
    6: ("fail", [RMS.format(9.0)]),
    7: ("fail", ["clip too short: 40 frames < 64"]),
    8: ("fail", ["legacy check failed: 3 > 2"]),             # a line no gate of today writes
    9: ("fail", ["text the writer changed 7"], ["joint_limits"]),  # a stored gate key wins
    10: ("error", "render", "Blender exited with code -9 after {n} s"),
    11: ("error", "render", "Blender exited with code -9 after {n} s"),
    12: ("error", "motion", "{dir}/motion.npz: truncated at {n} bytes"),
    13: ("noqa",),
}


def _fake_run(tmp_path):
    """A planned dataset (16 trials) whose first 14 trials left the MIX outcomes."""
    cfg = load_config("demo", ["dataset.subjects=4", "dataset.shape_variants=[0.0, 1.0]"])
    ds = tmp_path / "ds"
    specs = plan(cfg, ds, specs=expand(cfg, ["walk", "squat"]))
    assert len(specs) == 16
    trials = [s.trial for s in specs]
    for i, what in MIX.items():
        tdir = ds / "trials" / trials[i]
        tdir.mkdir(parents=True, exist_ok=True)
        if what[0] == "error":
            msg = what[2].format(n=1000 + i, dir=tdir)
            (tdir / "failure.json").write_text(json.dumps({"trial": trials[i], "stage": what[1], "error": msg}))
            set_state(ds, trials[i], what[1], "failed")
            continue
        if what[0] != "noqa":
            record = {"passed": what[0] == "pass", "reasons": what[1] if len(what) > 1 else [], "metrics": {}}
            if len(what) > 2:
                record["gates"] = what[2]
            (tdir / "qa.json").write_text(json.dumps(record))
        set_state(ds, trials[i], "qa", "done")
    set_state(ds, trials[14], "render", "pending")
    return ds, trials


def _check_mix(y):
    assert (y.planned, y.finished, y.passed, y.failed, y.no_verdict) == (16, 11, 4, 6, 1)
    assert dict(y.reasons) == {"ik_rms": 3, "flagged_frames": 1, "min_frames": 1,
                               "legacy check failed": 1, "joint_limits": 1}
    assert dict(y.stage_failures) == {"render": 2, "motion": 1}
    assert dict(y.errors) == {("render", "Blender exited with code N after N s"): 2,
                              ("motion", "<path>: truncated at N bytes"): 1}


def test_status_yield_counts(tmp_path):
    ds, _ = _fake_run(tmp_path)
    st = dataset_status(ds)
    _check_mix(qa_yield(ds, st, cache=False))
    assert not (ds / CACHE_FILE).exists()
    _check_mix(qa_yield(ds, st))  # reads the files, writes the cache
    assert (ds / CACHE_FILE).exists()
    _check_mix(qa_yield(ds, st))  # from the cache


def test_status_cli_text_and_json(tmp_path):
    ds, _ = _fake_run(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "odahgen.cli", "status", str(ds)],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "160"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert ("QA yield: 11 trials finished: 4 pass QA (36.4%), 6 fail QA (54.5%), 1 without a "
            "readable qa.json\n  4 of 16 planned trials usable (25.0%); 3 stopped by a pipeline "
            "failure") in out
    rows = {m.group(1).strip(): (int(m.group(2)), m.group(3), m.group(4))
            for m in re.finditer(r"│ ([^│]+?)\s*│\s+(\d+) │\s+([\d.]+) │\s+([\d.]+) │ #+", out)}
    assert rows == {"IK marker RMS": (3, "27.3", "50.0"), "flagged frames": (1, "9.1", "16.7"),
                    "clip too short": (1, "9.1", "16.7"), "joint limits": (1, "9.1", "16.7"),
                    "legacy check failed": (1, "9.1", "16.7")}
    assert out.index("IK marker RMS") < out.index("clip too short")  # most frequent first
    assert "pipeline failures by stage: render 2, motion 1" in out
    assert re.search(r"render\s*│ Blender exited with code N after N s\s*│\s+2 │", out)

    proc = subprocess.run([sys.executable, "-m", "odahgen.cli", "status", str(ds), "--json", "--reasons", "2"],
                          capture_output=True, text=True)
    data = json.loads(proc.stdout)
    assert (data["total"], data["done"], data["failed"], data["stopped"], data["not_started"]) == (16, 11, 3, 1, 1)
    y = data["yield"]
    assert (y["finished"], y["passed"], y["failed_qa"], y["no_verdict"], y["pipeline_failed"]) == (11, 4, 6, 1, 3)
    assert y["passed_percent"] == 36.4
    assert [(r["gate"], r["label"], r["trials"]) for r in y["reasons"]] == [
        ("ik_rms", "IK marker RMS", 3), ("flagged_frames", "flagged frames", 1)]  # ties by key
    assert y["failures_by_stage"] == {"render": 2, "motion": 1}
    assert len(data["failures"]) == 3 and {f["stage"] for f in data["failures"]} == {"render", "motion"}

    proc = subprocess.run([sys.executable, "-m", "odahgen.cli", "status", str(ds), "--no-yield", "--json"],
                          capture_output=True, text=True)
    assert "yield" not in json.loads(proc.stdout)


def test_status_cache_follows_changes(tmp_path, monkeypatch):
    ds, trials = _fake_run(tmp_path)
    st = dataset_status(ds)
    qa_yield(ds, st)
    # a trial's qa.json rewritten (a re-run of its qa stage): read again
    path = ds / "trials" / trials[0] / "qa.json"
    path.write_text(json.dumps({"passed": False, "reasons": ["clip too short: 3 frames < 64"]}))
    stamp = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(stamp, stamp))
    os.utime(ds / STATE_DIR, ns=(stamp, stamp))  # the run renamed its state file
    y = qa_yield(ds, st)
    assert (y.passed, y.failed, y.reasons["min_frames"]) == (3, 7, 2)
    # a corrupt or foreign cache is ignored
    (ds / CACHE_FILE).write_text("{not json")
    assert qa_yield(ds, st).reasons["min_frames"] == 2
    (ds / CACHE_FILE).write_text(json.dumps({"version": "other", "qa": {trials[1]: [0, 0, 0, ["x"]]}}))
    assert qa_yield(ds, st).passed == 3


def test_status_quiet_dataset_reads_only_the_cache(tmp_path, monkeypatch):
    ds, trials = _fake_run(tmp_path)
    st = dataset_status(ds)
    past = (ds / STATE_DIR).stat().st_mtime_ns - 10_000_000_000
    os.utime(ds / STATE_DIR, ns=(past, past))  # the last state change was 10 s ago
    qa_yield(ds, st)
    calls = []
    monkeypatch.setattr(status_mod, "_signature", lambda p: calls.append(p))
    _check_mix(qa_yield(ds, st))
    assert calls == [str(ds / "trials" / trials[13] / "qa.json")]  # only the trial without one
    # a state change (a run at work) makes it check the files again
    os.utime(ds / STATE_DIR)
    monkeypatch.undo()
    _check_mix(qa_yield(ds, st))


def test_status_json_without_finished_trials(tmp_path):
    cfg = load_config("demo", ["dataset.subjects=1", "dataset.shape_variants=[0.0]"])
    ds = tmp_path / "ds"
    plan(cfg, ds, specs=expand(cfg, ["walk"]))
    st = dataset_status(ds)
    y = qa_yield(ds, st)
    assert y.finished == 0 and status_json(ds, st, y)["yield"]["reasons"] == []
    from odahgen.jobs.status import yield_headline

    assert yield_headline(y) == "QA yield: no trial has finished yet\n  0 of 1 planned trials usable (0.0%)"


# --------------------------------------------------------------------------- report

def _report_dataset(root):
    """5 trials with a trial.h5 (walk: 2 pass; run: 1 pass, 1 IK RMS + flagged, 1 too short),
    a failed trial (failure.json only) and dataset.json planning 8."""
    qa = QAConfig()
    cases = [("a", "walk", 64, None), ("b", "walk", 64, None), ("c", "run", 64, None),
             ("d", "run", 64, "ik"), ("e", "run", 40, None)]
    for trial, motion, frames, bad in cases:
        gt = synthetic_trial(trial, "s01", motion, frames)
        if bad == "ik":
            gt.markers.ik_rms[:] = 0.05
            gt.markers.flagged[:] = True
        gt.qa = qa_trial(gt, qa).record()
        write_trial(root / "trials" / trial / "trial.h5", gt)
    gt = synthetic_trial("f", "s02", "walk", 64)
    gt.qa = QARecord(passed=False, reasons=["legacy check failed: 3 > 2"])
    gt.meta.motion_source = "amass"
    write_trial(root / "trials" / "f" / "trial.h5", gt)
    (root / "trials" / "g").mkdir()
    (root / "trials" / "g" / "failure.json").write_text(json.dumps(
        {"trial": "g", "stage": "render", "error": "Blender exited with code -9 after 12 s"}))
    (root / "dataset.json").write_text(json.dumps({"trials": 8}))


def test_report_yield_section(tmp_path):
    pytest.importorskip("matplotlib")
    from odahgen.gt import build_report

    _report_dataset(tmp_path)
    text = build_report(tmp_path, samples=0).read_text()
    section = text[text.index("<h2 id='yield'>"):text.index("<h2>Joint-angle")]

    def row(label):
        m = re.search(rf"<tr><th>{re.escape(label)}</th><td class='n'>([^<]*)</td><td>([^<]*)</td></tr>", section)
        return m.groups()

    assert row("planned trials") == ("8", "")
    assert row("finished (trial.h5 written)") == ("6", "75.0%")
    assert row("pass QA") == ("3", "50.0% of finished")
    assert row("fail QA") == ("3", "50.0% of finished")
    assert row("stopped by a pipeline failure") == ("1", "12.5%")
    assert row("usable (pass QA) of planned") == ("3", "37.5%")
    reasons = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td class='n'>(\d+)</td><td>([^<]*)</td>", section)
    assert [r for r in reasons] == [  # ties in the order of their keys
        ("flagged frames", "flagged_frames", "1", "16.7%"), ("IK marker RMS", "ik_rms", "1", "16.7%"),
        ("legacy check failed", "", "1", "16.7%"), ("clip too short", "min_frames", "1", "16.7%")]
    assert "<td>render</td><td>Blender exited with code N after N s</td><td class='n'>1</td>" in section
    per_motion = section[section.index("Yield per motion<"):]
    assert "<tr><td>run</td><td class='n'>3</td><td class='n'>1</td><td>33.3%</td></tr>" in per_motion
    assert "<tr><td>walk</td><td class='n'>3</td><td class='n'>2</td><td>66.7%</td></tr>" in per_motion
    assert "Yield per motion source" in section and "<td>amass</td>" in section
    assert len(re.findall(r'src="data:image/png;base64,', section)) == 1  # the bar charts
