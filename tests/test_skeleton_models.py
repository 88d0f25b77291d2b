"""User models other than Rajagopal2016 through `odahgen ik`: scaled, solved, FK degrading cleanly.

LaiUhlrich2022 (OpenCap) and the Pose2Sim models are not available offline, so the models are
generated here with the opensim API, with the structural differences those models have:
- "pose2sim-like": the Rajagopal topology plus an extra body (a head on a 3-coordinate neck
  CustomJoint), forearm pronation locked, and markers named like OpenPose keypoints (RHip,
  RKnee, RAnkle, RBigToe, RShoulder, Neck, Nose, ...) placed at joint centres; the markers come
  from a separate MarkerSet file (``--markers``).
- "lite": a smaller model with other body names (thigh/shank/foot), no patella, a PinJoint
  knee and ankle, other coordinate names, lab-style anatomical markers: it scales and solves,
  but the 44 Rajagopal keypoints cannot be formed, which is reported, not an error.
Markers are FK-generated on the model scaled by known factors, so both must fit to ~mm.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

H = (0.0, 0.0, 0.0)


def _custom(osim, name, parent, p_off, child, coords, axes, lin=None):
    """CustomJoint with rotations about ``axes`` (3) driven by ``coords`` (None = fixed), and
    translations driven by ``lin`` (3 coordinate names, or None = no translation)."""
    st = osim.SpatialTransform()
    trans = lin or (None, None, None)
    all_axes = list(axes) + [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
    for i, (c, ax) in enumerate(zip(list(coords) + list(trans), all_axes, strict=True)):
        ta = st.updTransformAxis(i)
        names = osim.ArrayStr()
        if c is not None:
            names.append(c)
        ta.setCoordinateNames(names)
        ta.setAxis(osim.Vec3(*ax))
        ta.set_function(osim.LinearFunction(1.0, 0.0) if c is not None else osim.Constant(0.0))
    return osim.CustomJoint(name, parent, osim.Vec3(*p_off), osim.Vec3(*H), child, osim.Vec3(*H), osim.Vec3(*H), st)


def _set_ranges(model, ranges):
    cs = model.updCoordinateSet()
    for n, (lo, hi, clamped) in ranges.items():
        c = cs.get(n)
        c.setRangeMin(lo)
        c.setRangeMax(hi)
        c.setDefaultClamped(clamped)


def _markerset(osim, spec, path):
    """Write an OpenSim MarkerSet file of {name: (body, xyz)}."""
    ms = osim.MarkerSet()
    for name, (body, xyz) in spec.items():
        mk = osim.Marker()
        mk.setName(name)
        mk.setParentFrameName(f"/bodyset/{body}")
        mk.set_location(osim.Vec3(*xyz))
        ms.cloneAndAppend(mk)
    ms.printToXML(str(path))
    return path


def pose2sim_like(tmp_path):
    """Built-in model + head on a neck joint, pro_sup locked; OpenPose-named joint-centre markers."""
    import opensim as osim

    from odahgen.skeleton.model import build_model_object

    model = build_model_object(with_markers=False)
    head = osim.Body("head", 4.5, osim.Vec3(0.02, 0.1, 0.0), osim.Inertia(0.02, 0.015, 0.02))
    model.addBody(head)
    model.addJoint(_custom(osim, "neck", model.getBodySet().get("torso"), (-0.01, 0.50, 0.0), head,
                           ("neck_flexion", "neck_bending", "neck_rotation"), ((0, 0, 1), (1, 0, 0), (0, 1, 0))))
    model.finalizeFromProperties()
    _set_ranges(model, {n: (-1.0, 1.0, True) for n in ("neck_flexion", "neck_bending", "neck_rotation")})
    for s in "rl":
        model.updCoordinateSet().get(f"pro_sup_{s}").setDefaultLocked(True)
    model.finalizeConnections()
    mpath = tmp_path / "pose2sim_like.osim"
    model.printToXML(str(mpath))
    spec = {"Neck": ("head", H), "Nose": ("head", (0.10, 0.08, 0.0)), "Head": ("head", (0.0, 0.20, 0.0)),
            "REar": ("head", (0.0, 0.10, 0.07)), "LEar": ("head", (0.0, 0.10, -0.07))}
    for s, z in (("r", 1.0), ("l", -1.0)):
        S = s.upper()
        spec.update({
            f"{S}Hip": (f"femur_{s}", H), f"{S}Knee": (f"tibia_{s}", H), f"{S}Ankle": (f"talus_{s}", H),
            f"{S}Heel": (f"calcn_{s}", (-0.01, 0.01, 0.0)), f"{S}BigToe": (f"toes_{s}", (0.04, 0.0, -0.02 * z)),
            f"{S}SmallToe": (f"toes_{s}", (0.0, 0.0, 0.04 * z)), f"{S}Shoulder": (f"humerus_{s}", H),
            f"{S}Elbow": (f"ulna_{s}", H), f"{S}Wrist": (f"hand_{s}", H),
            f"{S}Finger": (f"hand_{s}", (0.0, -0.08, 0.0)),
        })
    xml = _markerset(osim, spec, tmp_path / "openpose_markers.xml")
    return mpath, xml


def lite(tmp_path):
    """Pelvis, thighs, shanks, feet, torso; PinJoint knees/ankles, no patella; lab markers."""
    import opensim as osim

    model = osim.Model()
    model.setName("lite")

    def body(name, mass, com):
        b = osim.Body(name, mass, osim.Vec3(*com), osim.Inertia(0.05, 0.02, 0.05))
        model.addBody(b)
        return b

    pelvis = body("pelvis", 11.0, (-0.07, 0.0, 0.0))
    torso = body("torso", 27.0, (-0.03, 0.32, 0.0))
    model.addJoint(_custom(osim, "ground_pelvis", model.getGround(), (0.0, 0.0, 0.0), pelvis,
                           ("pelvis_tilt", "pelvis_list", "pelvis_rotation"), ((0, 0, 1), (1, 0, 0), (0, 1, 0)),
                           lin=("pelvis_tx", "pelvis_ty", "pelvis_tz")))
    model.addJoint(_custom(osim, "back", pelvis, (-0.10, 0.08, 0.0), torso,
                           ("lumbar_extension", "lumbar_bending", "lumbar_rotation"), ((0, 0, 1), (1, 0, 0), (0, 1, 0))))
    ranges = {"pelvis_tx": (-5, 5, False), "pelvis_ty": (-1, 2, False), "pelvis_tz": (-5, 5, False),
              "pelvis_tilt": (-3.2, 3.2, False), "pelvis_list": (-3.2, 3.2, False), "pelvis_rotation": (-3.2, 3.2, False),
              "lumbar_extension": (-1.0, 1.0, True), "lumbar_bending": (-1.0, 1.0, True), "lumbar_rotation": (-1.0, 1.0, True)}
    for s, z in (("r", 1.0), ("l", -1.0)):
        thigh, shank, foot = body(f"thigh_{s}", 9.0, (0, -0.17, 0)), body(f"shank_{s}", 3.7, (0, -0.19, 0)), body(f"foot_{s}", 1.2, (0.1, -0.03, 0))
        model.addJoint(_custom(osim, f"hip_{s}", pelvis, (-0.056, -0.078, 0.077 * z), thigh,
                               (f"hip_flexion_{s}", f"hip_adduction_{s}", f"hip_rotation_{s}"), ((0, 0, 1), (z, 0, 0), (0, z, 0))))
        knee = osim.PinJoint(f"knee_{s}", thigh, osim.Vec3(0, -0.40, 0), osim.Vec3(*H), shank, osim.Vec3(*H), osim.Vec3(*H))
        knee.upd_coordinates(0).setName(f"knee_flexion_{s}")
        model.addJoint(knee)
        ankle = osim.PinJoint(f"ankle_{s}", shank, osim.Vec3(0, -0.43, 0), osim.Vec3(*H), foot, osim.Vec3(*H), osim.Vec3(*H))
        ankle.upd_coordinates(0).setName(f"ankle_angle_{s}")
        model.addJoint(ankle)
        ranges.update({f"hip_flexion_{s}": (-0.5, 2.0, True), f"hip_adduction_{s}": (-0.5, 0.5, True),
                       f"hip_rotation_{s}": (-0.7, 0.7, True), f"knee_flexion_{s}": (-2.1, 0.05, True),
                       f"ankle_angle_{s}": (-0.7, 0.5, True)})
    model.finalizeFromProperties()
    _set_ranges(model, ranges)
    model.finalizeConnections()
    mpath = tmp_path / "lite.osim"
    model.printToXML(str(mpath))
    spec = {"C7": ("torso", (-0.085, 0.435, 0.0)), "CLAV": ("torso", (0.04, 0.38, 0.0)), "STRN": ("torso", (0.09, 0.22, 0.0)),
            "RACR": ("torso", (-0.003, 0.425, 0.13)), "LACR": ("torso", (-0.003, 0.425, -0.13))}
    for s, z in (("r", 1.0), ("l", -1.0)):
        S = s.upper()
        spec.update({
            f"{S}ASI": ("pelvis", (0.01, 0.02, 0.128 * z)), f"{S}PSI": ("pelvis", (-0.155, 0.035, 0.045 * z)),
            f"{S}GTR": (f"thigh_{s}", (-0.01, -0.03, 0.085 * z)), f"{S}TH1": (f"thigh_{s}", (0.02, -0.20, 0.07 * z)),
            f"{S}LFC": (f"thigh_{s}", (0.0, -0.40, 0.05 * z)), f"{S}MFC": (f"thigh_{s}", (0.0, -0.40, -0.05 * z)),
            f"{S}TB1": (f"shank_{s}", (0.03, -0.20, 0.05 * z)), f"{S}LMAL": (f"shank_{s}", (-0.005, -0.41, 0.053 * z)),
            f"{S}MMAL": (f"shank_{s}", (0.006, -0.39, -0.038 * z)), f"{S}CAL": (f"foot_{s}", (-0.05, -0.04, 0.0)),
            f"{S}MT1": (f"foot_{s}", (0.15, -0.06, -0.03 * z)), f"{S}MT5": (f"foot_{s}", (0.13, -0.06, 0.05 * z)),
        })
    for name, (b, xyz) in spec.items():
        model.addMarker(osim.Marker(name, model.getBodySet().get(b), osim.Vec3(*xyz)))
    model.finalizeConnections()
    model.printToXML(str(mpath))
    return mpath, None


def _trials(tree, factor, T, seed):
    """(static, motion) MarkerData on ``tree`` scaled uniformly by ``factor``: a default-pose
    static trial and a smooth in-range motion (amplitudes ~0.3 rad), 60 Hz."""
    from odahgen.io.mocap import MarkerData
    from odahgen.skeleton.scale import scaled_tree

    t = scaled_tree(tree, np.full((len(tree.body_names), 3), factor))
    rng = np.random.default_rng(seed)
    q0 = np.tile(tree.coord_default, (40, 1))
    q0[:, tree.coord_names.index("pelvis_ty")] = 0.95 * factor
    cols = tree.free_coords()
    q = np.tile(tree.coord_default, (T, 1))
    tt = np.linspace(0, 1, T)
    for c in cols:
        lo, hi = tree.coord_range[c]
        lo, hi = max(lo, -0.6), min(hi, 0.6)
        mid = 0.5 * (lo + hi)
        amp = min(0.3, 0.4 * (hi - lo))
        q[:, c] = mid + amp * np.sin(2 * np.pi * tt * rng.uniform(0.5, 1.5) + rng.uniform(0, 6))
    q[:, tree.coord_names.index("pelvis_ty")] = 0.95 * factor
    q = tree.apply_couplers(q)
    out = []
    for qq in (tree.apply_couplers(q0), q):
        R, p, _ = t.forward(qq)
        out.append(MarkerData(list(tree.marker_names), t.markers(R, p), 60.0))
    return out[0], out[1], q


@pytest.mark.parametrize("kind", ["pose2sim_like", "lite"])
def test_user_model_structures_scale_and_solve(tmp_path, kind):
    import h5py

    from odahgen.io.mocap import write_trc
    from odahgen.cli.skeleton import run_ik_command
    from odahgen.skeleton.kinematics import extract_tree
    from odahgen.skeleton.model import load_model
    from odahgen.skeleton.names import COORDINATE_NAMES

    mpath, xml = (pose2sim_like if kind == "pose2sim_like" else lite)(tmp_path)
    tree = extract_tree(load_model(mpath, xml))
    factor = 1.07
    static, motion, q = _trials(tree, factor, 60, seed=3)
    logs: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = run_ik_command(str(write_trc(tmp_path / "motion.trc", motion)), str(tmp_path / "out"),
                           static=str(write_trc(tmp_path / "static.trc", static)), model=str(mpath),
                           markers_xml=str(xml) if xml else None, workers=1, log=logs.append)
    assert s["frames"] == 60
    assert s["marker_rms_mean_m"] < 0.003, s["marker_rms_mean_m"]
    scaled = extract_tree(load_model(tmp_path / "out" / "scaled.osim"))
    # joint offsets scaled by the known factor (least squares / measurements on exact markers)
    off0 = np.linalg.norm(tree.X_PF[:, :3, 3], axis=1)
    off1 = np.linalg.norm(scaled.X_PF[[scaled.body_names.index(b) for b in tree.body_names], :3, 3], axis=1)
    ratio = off1[off0 > 0.02] / off0[off0 > 0.02]
    assert np.abs(ratio - factor).max() < 0.06, ratio
    with h5py.File(tmp_path / "out" / "kinematics.h5") as h:
        ang = h["angles"][()]
        assert ang.shape == (60, 39)
        has = [i for i, n in enumerate(COORDINATE_NAMES) if n in tree.coord_names]
        assert np.isfinite(ang[:, has]).all() and np.isnan(np.delete(ang, has, axis=1)).all()
        if kind == "pose2sim_like":  # all 22 Rajagopal bodies: keypoints and scales as usual
            assert h["keypoints"].shape == (60, 44, 3) and h["segment_scales"].shape == (22, 3)
            assert len(tree.body_names) == 23 and not s["keypoints_missing_bodies"]
        else:  # the keypoints need the Rajagopal bodies: left out, with the reason logged
            assert "keypoints" not in h and "segment_scales" not in h
            assert "femur_r" in s["keypoints_missing_bodies"]
            assert any("44 keypoints" in m and "femur_r" in m for m in logs)
    # a well-determined angle recovered (exact markers): the knee (hip flexion is not, with
    # joint-centre markers only: pelvis tilt, hip flexion and lumbar extension trade off)
    res = tree.coord_names.index("knee_angle_r" if kind == "pose2sim_like" else "knee_flexion_r")
    mot = np.loadtxt(tmp_path / "out" / "ik.mot", skiprows=_header_lines(tmp_path / "out" / "ik.mot"))
    assert np.abs(np.radians(mot[:, 1 + res]) - q[:, res]).max() < np.radians(1.0)


def _header_lines(path):
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines) if line.strip().lower() == "endheader") + 2


def test_fk_of_a_model_without_the_keypoint_bodies_is_a_clear_error(tmp_path):
    from odahgen.errors import OdahgenError
    from odahgen.skeleton.fk import forward_kinematics

    mpath, _ = lite(tmp_path)
    with pytest.raises(OdahgenError, match=r"lite\.osim: model lacks the Rajagopal bodies .*femur_r"):
        forward_kinematics(mpath, np.zeros((2, 39)))


#: built-in marker -> the name OpenCap's LaiUhlrich2022 marker set uses for that landmark (right side)
_OPENCAP = {"RASI": "r.ASIS_study", "RPSI": "r.PSIS_study", "RLFC": "r_knee_study", "RMFC": "r_mknee_study",
            "RLMAL": "r_ankle_study", "RMMAL": "r_mankle_study", "RCAL": "r_calc_study", "RTOE": "r_toe_study",
            "RMT5": "r_5meta_study", "RACR": "r_shoulder_study", "RLEL": "r_lelbow_study", "RMEL": "r_melbow_study",
            "RRSP": "r_lwrist_study", "RUSP": "r_mwrist_study", "RHJC": "RHJC_study", "RTH1": "r_thigh1_study"}


def test_opencap_study_marker_names_are_measured():
    """OpenCap-style ``_study`` names: landmark roles found, so segments are measured, not fitted."""
    import copy

    from odahgen.io.mocap import MarkerData
    from odahgen.skeleton.kinematics import extract_tree
    from odahgen.skeleton.model import load_model
    from odahgen.skeleton.scale import scale_subject, scaled_tree

    tree = extract_tree(load_model("builtin"))
    ren = dict(_OPENCAP)
    ren.update({"L" + k[1:]: "L" + v[1:] for k, v in _OPENCAP.items()})  # L.ASIS_study, L_knee_study, LHJC_study
    ren["C7"] = "C7_study"
    tree = copy.copy(tree)
    tree.marker_names = [ren.get(n, n) for n in tree.marker_names]
    true = {"femur": 1.1, "patella": 1.1, "tibia": 0.93, "talus": 0.93}
    s = np.array([[true.get(b[:-2], 1.0)] * 3 for b in tree.body_names])
    q = np.tile(tree.coord_default, (20, 1))
    q[:, tree.coord_names.index("pelvis_ty")] = 1.0
    R, p, _ = scaled_tree(tree, s).forward(tree.apply_couplers(q))
    static = MarkerData(list(tree.marker_names), scaled_tree(tree, s).markers(R, p), 100.0).subset(list(ren.values()))
    _t, res = scale_subject(tree, static)
    for seg, f in (("thigh_r", 1.1), ("thigh_l", 1.1), ("shank_r", 0.93), ("pelvis", 1.0), ("foot_l", 1.0)):
        assert res.segments[seg]["method"] == "measurement", seg
        assert abs(res.segments[seg]["factor"] - f) < 0.02, (seg, res.segments[seg]["factor"])
    used = {m for pr in res.segments["shank_r"]["pairs"] for m in pr[:2]}
    assert used == {"r_knee_study", "r_ankle_study"}
