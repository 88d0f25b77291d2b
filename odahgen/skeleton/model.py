"""The built-in Rajagopal-compatible OpenSim model, and loading any user model.

:func:`build_default_model` builds the model with the ``opensim`` API from the numbers in
:mod:`odahgen.skeleton._rajagopal_data` (generated from Rajagopal2016.osim by
tools/gen_rajagopal_data.py): same body, joint and coordinate names, joint offset frames,
coordinate ranges, masses, mass centres, inertias, the walker knee's coupled
rotations/translations and the patellofemoral coupling (a ``CoordinateCouplerConstraint``
knee_angle_*_beta = knee_angle_*). There are no muscles. Each body carries one visual
``Mesh`` named ``<body>_geom_1`` whose ``scale_factors`` hold the body segment scales after
scaling. Pelvis (ground) coordinates are unclamped with wide ranges so long or turning clips
work. Arm (shoulder) and lumbar coordinates are unclamped too, with anatomical ranges where
Rajagopal's are narrower than human motion (:data:`ANATOMICAL_RANGES`): IK follows arms
raised overhead, and poses beyond a range are reported by QA instead of being clamped. The
odahgen marker set (:mod:`.markers`) is attached.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import time
from pathlib import Path

from odahgen.errors import OdahgenError
from odahgen.io import atomic_path
from odahgen.skeleton import _rajagopal_data as _data
from odahgen.skeleton import markers as _markers
from odahgen.skeleton.names import BODY_NAMES, COORDINATE_NAMES, COUPLED_COORDINATES, JOINT_NAMES

MODEL_NAME = "odahgen_rajagopal2016"
#: bump when the built model changes in a way the hash of the data does not capture
BUILDER_VERSION = 3

#: Wide, unclamped ranges of the ground-pelvis coordinates (rad for rotations, m for translations).
PELVIS_ROTATION_RANGE = (-8 * math.pi, 8 * math.pi)
PELVIS_TRANSLATION_RANGE = (-100.0, 100.0)

#: Where the built-in model departs from Rajagopal2016's coordinate ranges, and why:
#: coordinate -> (low deg, high deg, Rajagopal2016's range in deg, source). Rajagopal clamps
#: these coordinates; the built-in model clamps only the knee (at its wider range), the others
#: are free (:data:`UNCLAMPED_PREFIXES`): IK follows the markers and QA reports a coordinate
#: beyond its range (``odahgen.gt.qa``, the joint-limit gate). Signs are Rajagopal's: arm_flex
#: + = flexion, arm_add + = adduction (- = abduction), arm_rot + = internal rotation, knee_angle
#: + = flexion, pro_sup + = pronation, for both sides. Normative values: AAOS (Greene & Heckman
#: 1994, "The Clinical Measurement of Joint Motion", as tabulated in Norkin & White,
#: "Measurement of Joint Motion", Table A.1) and Boone & Azen 1979 (J Bone Joint Surg Am 61:756-759, 109 males).
#: Where Rajagopal's bound is already wider than those, his bound is kept. docs/skeleton.md.
ANATOMICAL_RANGES: dict[str, tuple[float, float, tuple[float, float], str]] = {
    **{f"arm_flex_{s}": (-90.0, 180.0, (-90.0, 90.0),
                         "flexion 180 (AAOS; Boone & Azen 167): arms overhead; extension: Rajagopal's 90 "
                         "kept (AAOS 60, Boone & Azen 62)") for s in "rl"},
    **{f"arm_add_{s}": (-180.0, 90.0, (-120.0, 90.0),
                        "abduction 180 (AAOS; Boone & Azen 184): arms overhead through the side; "
                        "adduction: Rajagopal's 90 kept (cross-body reach)") for s in "rl"},
    **{f"arm_rot_{s}": (-105.0, 90.0, (-90.0, 90.0),
                        "external rotation 104 (Boone & Azen; AAOS 90), rounded up to 105; internal: "
                        "Rajagopal's 90 kept (AAOS 70, Boone & Azen 69)") for s in "rl"},
    **{f"knee_angle_{s}": (-10.0, 160.0, (0.0, 120.0),
                           "flexion 160: a deep (full) squat reaches 150-160 (AAOS active flexion 135; "
                           "passive, thigh on calf, more); extension -10: the 10 of hyperextension AAOS "
                           "counts as normal. Clamped. Beyond 120 the Walker knee's coupled spline "
                           "translations continue linearly (OpenSim's SimmSpline extrapolation)") for s in "rl"},
    **{f"pro_sup_{s}": (-20.0, 165.0, (0.0, 90.0),
                        "90 each way from the neutral (thumb-forward) forearm, which is pro_sup = 73 in "
                        "this model (0 is 17 short of full supination, 90 is 17 past neutral): AAOS 80 "
                        "pronation and 80 supination, rounded up; Rajagopal's 0..90 stops the forearm "
                        "before any pronation (palms backwards, a hand on a table)") for s in "rl"},
}
#: Coordinates (by name prefix) the built-in model leaves unclamped although Rajagopal2016
#: clamps them: IK does not stop at their range (a pose beyond it is reported by QA): the
#: shoulder and forearm rotations (the knee stays clamped, at its wider range). The
#: lumbar ranges stay Rajagopal's +-90 deg, already wider than the AAOS thoracolumbar range
#: (flexion 80, extension 25, lateral flexion 35, rotation 45).
UNCLAMPED_PREFIXES = ("arm_flex_", "arm_add_", "arm_rot_", "lumbar_", "pro_sup_")


def _osim():
    try:
        import opensim  # noqa: PLC0415
    except ImportError as err:  # pragma: no cover - environment problem
        raise OdahgenError(f"the opensim package is not importable ({err}); install opensim 4.6") from err
    quiet_opensim()
    return opensim


_QUIET = False


def quiet_opensim(level: str = "error") -> None:
    """Silence OpenSim's info/warning log (e.g. missing .vtp mesh files) once per process."""
    global _QUIET
    if _QUIET:
        return
    import opensim  # noqa: PLC0415

    opensim.Logger.setLevelString(level)
    _QUIET = True


def _function(osim, spec):
    kind = spec[0]
    if kind == "linear":
        return osim.LinearFunction(float(spec[1][0]), float(spec[1][1]))
    if kind == "constant":
        return osim.Constant(float(spec[1]))
    if kind == "spline":
        sp = osim.SimmSpline()
        for x, y in zip(spec[1], spec[2], strict=True):
            sp.addPoint(float(x), float(y))
        return sp
    raise ValueError(f"unknown function kind {kind!r}")


def _coordinate_range(name: str, rng: tuple[float, float]) -> tuple[tuple[float, float], bool | None]:
    """(range, clamped) of a coordinate of the built-in model; clamped None = Rajagopal's flag."""
    if name.startswith("pelvis_"):
        if name in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):
            return PELVIS_TRANSLATION_RANGE, False
        return PELVIS_ROTATION_RANGE, False
    if name in ANATOMICAL_RANGES:
        lo, hi = ANATOMICAL_RANGES[name][:2]
        rng = (math.radians(lo), math.radians(hi))
    return rng, (False if name.startswith(UNCLAMPED_PREFIXES) else None)


def build_model_object(with_markers: bool = True):
    """Build the built-in model in memory and return the ``opensim.Model`` (not initialised)."""
    osim = _osim()
    osim.Logger.setLevelString("off")  # unattached Mesh objects log spurious errors
    try:
        return _build(osim, with_markers)
    finally:
        osim.Logger.setLevelString("error")


def _build(osim, with_markers: bool):
    model = osim.Model()
    model.setName(MODEL_NAME)
    model.setGravity(osim.Vec3(*_data.GRAVITY))
    bodies = {}
    for name in BODY_NAMES:
        b = _data.BODIES[name]
        ixx, iyy, izz, ixy, ixz, iyz = b["inertia"]
        body = osim.Body(name, b["mass"], osim.Vec3(*b["mass_center"]), osim.Inertia(ixx, iyy, izz, ixy, ixz, iyz))
        mesh = osim.Mesh(b["meshes"][0] if b["meshes"] else f"{name}.vtp")
        mesh.setName(f"{name}_geom_1")
        body.attachGeometry(mesh)
        model.addBody(body)
        bodies[name] = body
    frames = dict(bodies)
    frames["ground"] = model.getGround()
    for j in _data.JOINTS:
        parent, child = frames[j["parent"]], frames[j["child"]]
        args = (
            j["name"],
            parent, osim.Vec3(*j["parent_translation"]), osim.Vec3(*j["parent_orientation"]),
            child, osim.Vec3(*j["child_translation"]), osim.Vec3(*j["child_orientation"]),
        )
        if j["type"] == "CustomJoint":
            st = osim.SpatialTransform()
            for i, ta in enumerate(j["spatial_transform"]):
                ax = st.updTransformAxis(i)
                names = osim.ArrayStr()
                for c in ta["coordinates"]:
                    names.append(c)
                ax.setCoordinateNames(names)
                ax.setAxis(osim.Vec3(*ta["axis"]))
                ax.set_function(_function(osim, ta["function"]))  # copies; setFunction takes ownership
            joint = osim.CustomJoint(*args, st)
        elif j["type"] == "PinJoint":
            joint = osim.PinJoint(*args)
        elif j["type"] == "UniversalJoint":
            joint = osim.UniversalJoint(*args)
        else:  # pragma: no cover - data only has these three
            raise ValueError(j["type"])
        if j["type"] != "CustomJoint":  # Pin/Universal joints name their coordinates generically
            for i, c in enumerate(j["coordinates"]):
                joint.upd_coordinates(i).setName(c["name"])
        model.addJoint(joint)
    model.finalizeFromProperties()  # CustomJoint coordinates exist only from here on
    cset = model.updCoordinateSet()
    for j in _data.JOINTS:
        for c in j["coordinates"]:
            coord = cset.get(c["name"])
            rng, clamped = _coordinate_range(c["name"], tuple(c["range"]))
            coord.setRangeMin(float(rng[0]))
            coord.setRangeMax(float(rng[1]))
            coord.setDefaultValue(float(c["default"]))
            coord.setDefaultClamped(bool(c["clamped"]) if clamped is None else clamped)
            coord.setDefaultLocked(bool(c["locked"]))
    for dep, indep in COUPLED_COORDINATES.items():
        con = osim.CoordinateCouplerConstraint()
        side = dep.split("_")[2]
        con.setName(f"patellofemoral_knee_angle_{side}_con")
        names = osim.ArrayStr()
        names.append(indep)
        con.setIndependentCoordinateNames(names)
        con.setDependentCoordinateName(dep)
        con.setFunction(osim.LinearFunction(1.0, 0.0))
        model.addConstraint(con)
    if with_markers:
        for name in _markers.MARKER_NAMES:
            mk = osim.Marker(name, bodies[_markers.MARKER_BODY[name]], osim.Vec3(*_markers.MARKER_LOCATION[name]))
            model.addMarker(mk)
    model.finalizeConnections()
    return model


def build_default_model(out_path: str | os.PathLike) -> Path:
    """Write the built-in model (with the odahgen marker set) to ``out_path`` (.osim), atomically."""
    out = Path(out_path)
    if out.suffix.lower() != ".osim":
        raise OdahgenError(f"{out}: the model file name must end in .osim")
    out.parent.mkdir(parents=True, exist_ok=True)
    model = build_model_object()
    model.initSystem()
    with atomic_path(out) as tmp:
        tmp_osim = Path(str(tmp))
        if not model.printToXML(str(tmp_osim)):
            raise OdahgenError(f"{out}: OpenSim could not write the model")
    return out


def model_version_key() -> str:
    """A short hash of everything the built-in model is made of (data, markers, builder).
    The data count by value (its generated header may change without changing the model)."""
    h = hashlib.sha256()
    h.update(repr((_data.GRAVITY, _data.BODIES, _data.JOINTS)).encode())
    h.update(inspect.getsource(_markers).encode())
    h.update(inspect.getsource(build_model_object).encode())
    h.update(repr((ANATOMICAL_RANGES, UNCLAMPED_PREFIXES)).encode())
    h.update(f"{BUILDER_VERSION}".encode())
    try:
        import opensim  # noqa: PLC0415

        h.update(opensim.__version__.encode())
    except Exception:  # noqa: BLE001
        pass
    return h.hexdigest()[:12]


def cache_dir() -> Path:
    """``$ODAHGEN_CACHE`` or ``$XDG_CACHE_HOME/odahgen`` or ``~/.cache/odahgen``."""
    env = os.environ.get("ODAHGEN_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "odahgen"


def default_model_path() -> Path:
    """Path of the built-in model, built into the cache on first use (keyed by its version hash)."""
    path = cache_dir() / "skeleton" / f"{MODEL_NAME}_{model_version_key()}.osim"
    if not path.exists():
        build_default_model(path)
    return path


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """``None``/"builtin" -> the cached built-in model; else the user's .osim (must exist)."""
    if model is None or str(model) in ("", "builtin"):
        return default_model_path()
    p = Path(model)
    if not p.is_file():
        raise OdahgenError(f"{p}: model file not found")
    return p


def load_model(path_or_builtin: str | os.PathLike = "builtin", markers_xml: str | os.PathLike | None = None):
    """Load an ``opensim.Model`` from a .osim path or ``"builtin"``; optionally replace its markers.

    ``markers_xml``: an OpenSim MarkerSet .xml; its markers replace the model's. The model is
    returned with ``initSystem()`` already called. Errors are :class:`OdahgenError` naming the file.
    """
    osim = _osim()
    path = resolve_model_path(path_or_builtin)
    try:
        model = osim.Model(str(path))
    except Exception as err:  # noqa: BLE001
        raise OdahgenError(f"{path}: not a readable OpenSim model ({' '.join(str(err).split())[:200]})") from err
    if markers_xml:
        mpath = Path(markers_xml)
        if not mpath.is_file():
            raise OdahgenError(f"{mpath}: marker set file not found")
        try:
            ms = osim.MarkerSet(str(mpath))
        except Exception as err:  # noqa: BLE001
            raise OdahgenError(f"{mpath}: not a readable OpenSim MarkerSet ({err})") from err
        model.updMarkerSet().clearAndDestroy()
        body_names = {model.getBodySet().get(i).getName() for i in range(model.getBodySet().getSize())}
        for i in range(ms.getSize()):
            mk = ms.get(i).clone()
            frame = mk.getParentFrameName().split("/")[-1]
            if frame not in body_names and frame != "ground":
                raise OdahgenError(f"{mpath}: marker {mk.getName()} is on unknown body {frame!r}")
            model.addMarker(mk)
    try:
        model.finalizeConnections()
        model.initSystem()
    except Exception as err:  # noqa: BLE001
        raise OdahgenError(f"{path}: OpenSim cannot initialise the model ({' '.join(str(err).split())[:200]})") from err
    return model


def check_rajagopal_names(model) -> list[str]:
    """Problems (empty list if none) of a model whose names should match the Rajagopal topology."""
    problems = []
    bodies = {model.getBodySet().get(i).getName() for i in range(model.getBodySet().getSize())}
    joints = {model.getJointSet().get(i).getName() for i in range(model.getJointSet().getSize())}
    coords = {model.getCoordinateSet().get(i).getName() for i in range(model.getCoordinateSet().getSize())}
    for kind, want, have in (("body", BODY_NAMES, bodies), ("joint", JOINT_NAMES, joints), ("coordinate", COORDINATE_NAMES, coords)):
        missing = [n for n in want if n not in have]
        if missing:
            problems.append(f"missing {kind}s: {', '.join(missing)}")
    return problems


def opensim_ik(model_path: str | os.PathLike, trc_path: str | os.PathLike, out_mot: str | os.PathLike,
               task_weights: dict[str, float] | None = None, accuracy: float = 1e-5,
               setup_xml: str | os.PathLike | None = None) -> float:
    """Stock OpenSim InverseKinematicsTool (with the model's constraints); returns seconds.
    Used by the benchmark and cross-checks."""
    import opensim as osim  # noqa: PLC0415

    quiet_opensim()
    model = osim.Model(str(model_path))
    tool = osim.InverseKinematicsTool(str(setup_xml)) if setup_xml else osim.InverseKinematicsTool()
    tool.setModel(model)
    tool.set_marker_file(str(trc_path))
    tool.setOutputMotionFileName(str(out_mot))
    tool.set_accuracy(accuracy)
    tool.set_report_errors(False)
    from odahgen.io.mocap import read_trc  # noqa: PLC0415

    d = read_trc(trc_path, strict=False)
    tool.setStartTime(float(d.times[0]))
    tool.setEndTime(float(d.times[-1]))
    if task_weights is not None:
        ts = tool.getIKTaskSet()
        ts.clearAndDestroy()
        for n, w in task_weights.items():
            t = osim.IKMarkerTask()
            t.setName(n)
            t.setWeight(float(w))
            t.setApply(True)
            ts.cloneAndAppend(t)
    t0 = time.perf_counter()
    tool.run()
    return time.perf_counter() - t0
