"""Each procedural motion through the skeleton's FK (markers) and IK: RMS < 1 cm, ranges kept."""

import numpy as np
import pytest

from odahgen.motion import kinematics as K
from odahgen.motion.procedural import MOTIONS, generate
from odahgen.skeleton.names import COORDINATE_NAMES

fk = pytest.importorskip("odahgen.skeleton.fk")
ik = pytest.importorskip("odahgen.skeleton.ik")
trc = pytest.importorskip("odahgen.io.mocap")


@pytest.mark.slow
@pytest.mark.parametrize("mid", sorted(MOTIONS))
def test_procedural_motion_through_ik(mid):
    m = generate(mid, seed=5, seconds=1.0, fps=30.0)
    res = fk.forward_kinematics("builtin", m.coordinates)
    data = trc.MarkerData(names=list(res.marker_names), positions=res.markers, fps=m.fps, times=m.times)
    out = ik.run_ik("builtin", data, register=False, workers=1)
    assert float(np.sqrt(np.mean(out.marker_rms ** 2))) < 0.01
    for j, n in enumerate(COORDINATE_NAMES):
        if n.startswith("pelvis_") or n.endswith("_beta"):
            continue
        lo, hi = K.COORDINATE_RANGES[n]
        assert lo - 1e-3 <= out.angles[:, j].min() and out.angles[:, j].max() <= hi + 1e-3, n
