"""validate keeps what it found per trial (.validate-cache.json) and checks again only the
trials whose files or settings changed."""

from __future__ import annotations

import os
import time

from odahgen.config.models import QAConfig
from odahgen.gt import validate as v
from odahgen.testing.gt import make_dataset


def _age(folder, seconds=60):
    past = time.time() - seconds
    for p in folder.rglob("*"):
        if p.is_file():
            os.utime(p, (past, past))


def test_unchanged_trials_are_not_checked_again(tmp_path, monkeypatch):
    ds = tmp_path / "ds"
    make_dataset(ds, subjects=("s01", "s02", "s03"))
    _age(ds / "trials")
    first = v.validate_dataset(ds, QAConfig(), fk=False, check_files=False)
    assert (ds / v.CACHE_FILE).exists() and first.ok
    calls = []
    real = v.validate_trial
    monkeypatch.setattr(v, "validate_trial", lambda path, *a, **k: calls.append(path.parent.name) or real(path, *a, **k))
    again = v.validate_dataset(ds, QAConfig(), fk=False, check_files=False)
    assert calls == [] and again.to_json() == first.to_json()
    assert [t.qa.metrics for t in again.trials] == [t.qa.metrics for t in first.trials]
    # a changed file: that trial only
    h5 = ds / "trials" / "s02_walk_b0" / "trial.h5"
    os.utime(h5, (time.time() - 30, time.time() - 30))
    v.validate_dataset(ds, QAConfig(), fk=False, check_files=False)
    assert calls == ["s02_walk_b0"]
    # other settings: every trial
    calls.clear()
    v.validate_dataset(ds, QAConfig(min_frames=10), fk=False, check_files=False)
    assert sorted(calls) == ["s01_walk_b0", "s02_walk_b0", "s03_walk_b0"]
    # without the cache: every trial, and a damaged cache file is ignored
    calls.clear()
    v.validate_dataset(ds, QAConfig(), fk=False, check_files=False, cache=False)
    assert len(calls) == 3
    (ds / v.CACHE_FILE).write_text("{")
    calls.clear()
    assert v.validate_dataset(ds, QAConfig(), fk=False, check_files=False).ok and len(calls) == 3


def test_files_changed_just_before_the_check_are_checked_again(tmp_path, monkeypatch):
    ds = tmp_path / "ds"
    make_dataset(ds, subjects=("s01",))
    v.validate_dataset(ds, QAConfig(), fk=False, check_files=False)  # files seconds old: not settled
    calls = []
    real = v.validate_trial
    monkeypatch.setattr(v, "validate_trial", lambda path, *a, **k: calls.append(1) or real(path, *a, **k))
    v.validate_dataset(ds, QAConfig(), fk=False, check_files=False)
    assert calls == [1]
