"""Training the joint regressor (``odahgen regressor train``): training pairs, then the fit.

Training pairs: diverse body shapes x random in-range poses of the body model
(:mod:`odahgen.body.sampling`); the virtual markers on each posed mesh; OpenSim-style scaling
(on a static trial of the same subject) + IK on those markers with the skeleton package; FK
joint centres of the scaled model. Optionally (bootstrapping) body poses fitted with a first
regressor to motions (:func:`motion_poses`, which uses :func:`odahgen.body.fit.fit_sequence`).
The regressor is fitted on the training subjects (:func:`odahgen.body.regressor.fit_regressor`)
and a held-out split of subjects gives the report.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from odahgen.body.base import BodyModel
from odahgen.body.fit import fit_sequence
from odahgen.body.markers import markers_from_vertices
from odahgen.body.regressor import fit_regressor, joint_errors_mm
from odahgen.body.sampling import random_poses, random_shapes
from odahgen.body.static import static_trial
from odahgen.errors import OdahgenError
from odahgen.skeleton.names import BODY_NAMES, JOINT_NAMES


def motion_poses(body: BodyModel, layout: dict, shape, scaled_tree, regressor, motions, frames: int) -> np.ndarray:
    """(N, P) body poses that follow motions: each motion's angles ((T, 39) rad/m in
    ``COORDINATE_NAMES`` order, ``frames`` evenly spaced frames) on the subject's scaled
    skeleton -> FK -> :func:`fit_sequence` with the current ``regressor`` (bootstrapping: the
    first regressor comes from random poses)."""
    from odahgen.skeleton.fk import fk_tree

    out = []
    for angles in motions:
        sel = np.linspace(0, len(angles) - 1, min(frames, len(angles))).round().astype(int)
        fk = fk_tree(scaled_tree, np.asarray(angles)[sel])
        res = fit_sequence(body, fk.keypoints[:, :22], fk.markers, fk.marker_names, regressor=regressor, layout=layout,
                           shape=shape, fit_shape=False, return_vertices=False, stride=2, smooth_weight=0.0)
        out.append(res.pose)
    return np.concatenate(out).astype(np.float32)


def subject_pairs(body: BodyModel, layout: dict, shape: np.ndarray, poses: np.ndarray, tree=None, progress=None,
                  extra_poses=None):
    """Training pairs of one subject: (vertices (T, V, 3) float32, joints (T, 22, 3), IK rms (T,)).

    A static trial (rest pose, 10 frames) scales the built-in skeleton, then IK runs on the
    virtual markers of the posed meshes, and FK gives the joint centres.
    """
    from odahgen.io.mocap import MarkerData
    from odahgen.skeleton.fk import load_tree
    from odahgen.skeleton.ik import run_ik_tree
    from odahgen.skeleton.scale import scale_subject

    if tree is None:
        tree = load_tree("builtin")
    names = [n for n in layout["markers"] if n in tree.marker_names]
    s = torch.as_tensor(shape)
    static = static_trial(body, shape, layout, names)
    # as the jobs pipeline does: exact virtual markers, all-marker least-squares scale
    scaled, _ = scale_subject(tree, static, source="static", measurements=False)
    if extra_poses is not None:
        poses = np.concatenate([poses, extra_poses(scaled)]).astype(np.float32)
    with torch.no_grad():
        v = body.forward(s, torch.as_tensor(poses), torch.zeros(len(poses), 3)).numpy()
    mk = markers_from_vertices(v, layout, names)
    ik = run_ik_tree(scaled, MarkerData(names, mk, 60.0), workers=1, source="regressor")
    _, _, jc = scaled.forward(ik.coords)
    order = [scaled.body_names.index(b) for b in BODY_NAMES]
    return v.astype(np.float32), jc[:, order], ik.marker_rms


def train_regressor(body: BodyModel, layout: dict, n_subjects: int = 12, poses_per_subject: int = 30,
                    test_fraction: float = 0.25, seed: int = 0, n_candidates: int = 300, max_nonzero: int = 32,
                    max_ik_rms_m: float = 0.012, progress=print, pairs_path: str | None = None, bootstrap=None):
    """Generate pairs, fit on the training subjects, evaluate on held-out subjects.

    ``pairs_path``: an .npz to reuse the generated pairs from (or to save them to).
    Pairs whose IK marker RMS exceeds ``max_ik_rms_m`` (the skeleton could not follow that
    body pose, so its joint centres are not the mesh's) are dropped from both splits.

    ``bootstrap``: (regressor, motion_angles, motion ids, frames per motion, motions per
    subject): add body poses fitted with that regressor to motions, where
    ``motion_angles(id, seed)`` returns a motion's (T, 39) angles in ``COORDINATE_NAMES`` order.

    Returns (Regressor, report dict)."""
    from odahgen.skeleton.fk import load_tree

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    tree = load_tree("builtin")
    shapes = random_shapes(body, n_subjects, rng)
    shapes[0] = body.default_shape().numpy()
    n_test = max(1, int(round(n_subjects * test_fraction)))
    if pairs_path and Path(pairs_path).is_file():
        with np.load(pairs_path) as d:
            V, Jt, test, all_rms = d["vertices"], d["joints"], d["test"], d["ik_rms"]
        if progress:
            progress(f"reusing {len(V)} pairs from {pairs_path}")
    else:
        Vs, Js, rms, split = [], [], [], []
        for i, s in enumerate(shapes):
            try:
                extra = None
                if bootstrap is not None:
                    breg, load_angles, mids, nfr, per = bootstrap
                    pick = [mids[k] for k in rng.choice(len(mids), size=min(per, len(mids)), replace=False)]

                    def extra(scaled, s=s, pick=pick, breg=breg, nfr=nfr, i=i):
                        motions = [load_angles(m, seed + i) for m in pick]
                        return motion_poses(body, layout, s, scaled, breg, motions, nfr)
                v, j, r = subject_pairs(body, layout, s, random_poses(body, poses_per_subject, rng), tree,
                                        extra_poses=extra)
            except OdahgenError as err:  # e.g. a shape the skeleton cannot scale to
                if progress:
                    progress(f"subject {i + 1}/{n_subjects}: skipped ({err})")
                continue
            Vs.append(v)
            Js.append(j)
            rms.append(r)
            split.append(np.full(len(v), i >= n_subjects - n_test))
            if progress:
                progress(f"subject {i + 1}/{n_subjects}: {len(v)} poses, IK marker rms {1000 * np.nanmean(r):.1f} mm")
        V, Jt, test, all_rms = np.concatenate(Vs), np.concatenate(Js), np.concatenate(split), np.concatenate(rms)
        if pairs_path:
            np.savez(pairs_path, vertices=V, joints=Jt, test=test, ik_rms=all_rms)
    good = np.nan_to_num(all_rms, nan=1.0) <= max_ik_rms_m
    if good.sum() < 4 or not (good & test).any() or not (good & ~test).any():
        raise OdahgenError(f"too few training pairs with IK marker RMS <= {1000 * max_ik_rms_m:.0f} mm ({int(good.sum())})")
    V, Jt, test = V[good], Jt[good], test[good]
    reg = fit_regressor(V[~test], Jt[~test], n_candidates, max_nonzero, body_model=body.name, skeleton="builtin")
    err = joint_errors_mm(reg, V[test], Jt[test])
    err_train = joint_errors_mm(reg, V[~test], Jt[~test])
    report = {
        "body_model": body.name,
        "skeleton": "builtin",
        "mean_error_mm": float(np.mean(err)),
        "per_joint_error_mm": {n: float(e) for n, e in zip(JOINT_NAMES, err)},
        "train_mean_error_mm": float(np.mean(err_train)),
        "n_train_pairs": int((~test).sum()),
        "n_test_pairs": int(test.sum()),
        "n_subjects": n_subjects,
        "n_test_subjects": n_test,
        "ik_marker_rms_mm": float(1000 * np.nanmean(all_rms)),
        "pairs_kept": int(good.sum()),
        "pairs_generated": int(len(good)),
        "max_ik_rms_mm": 1000 * max_ik_rms_m,
        "vertices_per_joint": int(max_nonzero),
        "n_candidates": n_candidates,
        "seed": seed,
        "poses": "random in-range body-model poses (50% of the anatomical limits, random heading)"
        + ("" if bootstrap is None else f" + body poses fitted to {bootstrap[4]} procedural motions per subject "
           f"({bootstrap[3]} frames each) with a first regressor"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return reg, report
