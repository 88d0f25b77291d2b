"""BMI-step shape variants (odahgen.body.variants) on the anny body."""

from __future__ import annotations

import numpy as np
import pytest

from odahgen.body.base import load_body_model
from odahgen.body.variants import body_stats, subject_shape_base, variant_shape


@pytest.fixture(scope="module")
def anny():
    return load_body_model("anny")


def test_bmi_steps_change_bmi_by_the_step(anny):
    base = subject_shape_base(anny, seed=3)
    b0 = body_stats(anny, base)
    assert 1.4 < b0["height_m"] < 2.0 and 15 < b0["bmi"] < 35
    got = []
    for step in (-1.0, 1.0):
        s = variant_shape(anny, base, step)
        st = body_stats(anny, s)
        got.append(st["bmi"] - b0["bmi"])
        # only the weight parameter moves; the height stays about the same
        changed = np.flatnonzero(np.abs(s - base) > 1e-9)
        assert list(changed) == [[p.name for p in anny.shape_params].index("weight")]
        assert abs(st["height_m"] - b0["height_m"]) < 0.03
    np.testing.assert_allclose(got, [-1.0, 1.0], atol=0.05)


def test_same_seed_same_subject(anny):
    np.testing.assert_array_equal(subject_shape_base(anny, 7), subject_shape_base(anny, 7))
    assert not np.array_equal(subject_shape_base(anny, 7), subject_shape_base(anny, 8))
