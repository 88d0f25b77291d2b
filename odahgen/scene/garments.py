"""Garments generated from the body mesh: offset shells over vertex regions.

A garment is the part of the body surface that its type covers (chosen from the body
model's per-vertex bone skinning weights, so sleeve and leg lengths follow the type),
pushed out along the per-frame vertex normals by a few millimetres. Because the shell is
rebuilt from the posed body vertices of every frame it follows any motion exactly, with no
cloth simulation, and it stays in front of the body surface it covers.

Regions are defined per body model by bone-name groups (``REGION_BONES``): anny
(MakeHuman rig) bone names are the default; SMPL-X joint names are supported coarsely
(see ``SMPLX_SEGMENTS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from odahgen.config.models import LOWER_GARMENTS, UPPER_GARMENTS
from odahgen.errors import OdahgenError

# Body segments (a coarse partition used for both regions and UV charts), per side.
# anny / MakeHuman bone names -> segment
ANNY_SEGMENTS: dict[str, tuple[str, ...]] = {
    "chest": ("spine04", "spine03", "spine02", "spine01", "breast.L", "breast.R",
              "clavicle.L", "clavicle.R", "shoulder01.L", "shoulder01.R"),
    "waist": ("spine05", "pelvis.L", "pelvis.R", "root"),
    "upperarm_hi.L": ("upperarm01.L",), "upperarm_hi.R": ("upperarm01.R",),
    "upperarm_lo.L": ("upperarm02.L",), "upperarm_lo.R": ("upperarm02.R",),
    "forearm_hi.L": ("lowerarm01.L",), "forearm_hi.R": ("lowerarm01.R",),
    "forearm_lo.L": ("lowerarm02.L",), "forearm_lo.R": ("lowerarm02.R",),
    "thigh_hi.L": ("upperleg01.L",), "thigh_hi.R": ("upperleg01.R",),
    "thigh_lo.L": ("upperleg02.L",), "thigh_lo.R": ("upperleg02.R",),
    "shin_hi.L": ("lowerleg01.L",), "shin_hi.R": ("lowerleg01.R",),
    "shin_lo.L": ("lowerleg02.L",), "shin_lo.R": ("lowerleg02.R",),
}
# SMPL-X joints have no half-segment bones: the halves share the whole-segment joint.
SMPLX_SEGMENTS: dict[str, tuple[str, ...]] = {
    "chest": ("spine2", "spine3", "left_collar", "right_collar"),
    "waist": ("pelvis", "spine1"),
    "upperarm_hi.L": ("left_shoulder",), "upperarm_hi.R": ("right_shoulder",),
    "forearm_hi.L": ("left_elbow",), "forearm_hi.R": ("right_elbow",),
    "thigh_hi.L": ("left_hip",), "thigh_hi.R": ("right_hip",),
    "shin_hi.L": ("left_knee",), "shin_hi.R": ("right_knee",),
}

_SIDES = (".L", ".R")


def _both(*parts: str) -> tuple[str, ...]:
    return tuple(p + s for p in parts for s in _SIDES)


#: garment type -> the segments it covers (the sleeve / leg length follows the type)
REGION_SEGMENTS: dict[str, tuple[str, ...]] = {
    "vest": ("chest", "waist"),
    "short_sleeves": ("chest", "waist") + _both("upperarm_hi"),
    "three_quarter_sleeves": ("chest", "waist") + _both("upperarm_hi", "upperarm_lo", "forearm_hi"),
    "long_sleeves": ("chest", "waist") + _both("upperarm_hi", "upperarm_lo", "forearm_hi", "forearm_lo"),
    "short_shorts": ("waist",) + _both("thigh_hi"),
    "knee_shorts": ("waist",) + _both("thigh_hi", "thigh_lo"),
    "capri": ("waist",) + _both("thigh_hi", "thigh_lo", "shin_hi"),
    "trousers": ("waist",) + _both("thigh_hi", "thigh_lo", "shin_hi", "shin_lo"),
}
assert set(REGION_SEGMENTS) == set(UPPER_GARMENTS) | set(LOWER_GARMENTS)

#: default shell offsets (m): the upper garment sits outside the lower one at the waist
DEFAULT_OFFSET_M = {"upper": 0.008, "lower": 0.005}


@dataclass(frozen=True)
class GarmentRegions:
    """Per-vertex segment labels of one body model.

    ``segment (V,)`` int index into ``segment_names`` (-1: no garment segment, e.g. head,
    hands, feet); ``weight (V,)`` the skinning weight of the vertex's winning segment;
    ``shares (V, S)`` each segment's share of the vertex's skinning weight (optional).
    """

    segment_names: tuple[str, ...]
    segment: np.ndarray
    weight: np.ndarray
    shares: np.ndarray | None = None

    def mask(self, garment_type: str) -> np.ndarray:
        """(V,) bool: the body vertices the garment type covers: those labelled with one of its
        segments, and those whose covered segments together hold >= 0.5 of their weight (the
        seams between two covered segments, e.g. waist and thigh, where neither wins alone)."""
        if garment_type not in REGION_SEGMENTS:
            raise OdahgenError(f"unknown garment type {garment_type!r}; known: {sorted(REGION_SEGMENTS)}")
        ids = [i for i, n in enumerate(self.segment_names) if n in REGION_SEGMENTS[garment_type]]
        out = np.isin(self.segment, ids)
        if self.shares is not None:
            out |= self.shares[:, ids].sum(1) >= 0.5
        return out


def garment_regions(body=None, *, weights: np.ndarray | None = None,
                    bone_names: list[str] | tuple[str, ...] | None = None) -> GarmentRegions:
    """Label every body vertex with the garment segment that dominates its skinning.

    Pass a body model (anything with ``skinning_weights (V, J)`` and ``bone_names``) or
    ``weights (V, J)`` (rows sum to 1) with ``bone_names`` (J). A vertex belongs to the
    segment whose bones hold the largest share of its weight, provided that share is
    >= 0.5 of the vertex's total; otherwise (neck, head, hands, feet) it gets -1.
    """
    if body is not None:
        weights = np.asarray(body.skinning_weights)
        bone_names = list(body.bone_names)
    if weights is None or bone_names is None:
        raise OdahgenError("garment_regions needs a body model or weights + bone_names")
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != len(bone_names):
        raise OdahgenError(f"weights {weights.shape} do not match {len(bone_names)} bone names")
    names = set(bone_names)
    table = ANNY_SEGMENTS if "upperarm01.L" in names else SMPLX_SEGMENTS
    if not any(b in names for bones in table.values() for b in bones):
        raise OdahgenError("no garment bones found: the body model's bone names are neither "
                           "anny (MakeHuman) nor SMPL-X joint names")
    seg_names = tuple(table)
    index = {b: i for i, b in enumerate(bone_names)}
    S = np.zeros((weights.shape[0], len(seg_names)))
    for s, bones in enumerate(table.values()):
        cols = [index[b] for b in bones if b in index]
        if cols:
            S[:, s] = weights[:, cols].sum(1)
    total = np.maximum(weights.sum(1), 1e-12)
    best = S.argmax(1)
    share = S[np.arange(len(best)), best] / total
    seg = np.where(share >= 0.5, best, -1)
    return GarmentRegions(seg_names, seg.astype(np.int64), share, S / total[:, None])


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals: ``vertices (T, V, 3)`` or ``(V, 3)`` -> same shape."""
    v = np.asarray(vertices, dtype=np.float64)
    squeeze = v.ndim == 2
    if squeeze:
        v = v[None]
    f = np.asarray(faces, dtype=np.int64)
    fn = np.cross(v[:, f[:, 1]] - v[:, f[:, 0]], v[:, f[:, 2]] - v[:, f[:, 0]])  # (T, F, 3)
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, (slice(None), f[:, k]), fn)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    return n[0] if squeeze else n


def region_faces(faces: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(F', 3) the faces whose three vertices are all in ``mask (V,)`` (original indices)."""
    f = np.asarray(faces, dtype=np.int64)
    return f[mask[f].all(1)]


def build_garment_sequence(vertices: np.ndarray, faces: np.ndarray, region: np.ndarray,
                           offset_m: float = 0.005, segments: np.ndarray | None = None,
                           tile_m: float = 0.25):
    """The garment shell of one region over a whole sequence.

    Args:
        vertices: (T, V, 3) posed body vertices, m (any frame; OpenSim's in odahgen).
        faces: (F, 3) int body triangles (outward normals by right-hand rule).
        region: (V,) bool body vertices the garment covers (see :meth:`GarmentRegions.mask`).
        offset_m: distance of the shell from the skin along the per-frame vertex normals.
        segments: (V,) int segment labels (UV charts); None = one chart.
        tile_m: physical size of one texture repeat, m.

    Returns:
        ``shell (T, Vg, 3)`` float32 m, ``faces_g (Fg, 3)`` int32 indices into the shell
        vertices, ``uv (Fg, 3, 2)`` float32 per-corner texture coordinates (repeat-tiled),
        and ``body_index (Vg,)`` the body vertex each shell vertex comes from.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 3 or v.shape[2] != 3:
        raise OdahgenError(f"vertices must be (T, V, 3), got {v.shape}")
    region = np.asarray(region, dtype=bool)
    fsel = region_faces(faces, region)
    if len(fsel) == 0:
        raise OdahgenError("the garment region has no complete face")
    used = np.unique(fsel)
    remap = -np.ones(v.shape[1], dtype=np.int64)
    remap[used] = np.arange(len(used))
    normals = vertex_normals(v, faces)  # normals of the whole body: correct at region borders
    shell = v[:, used] + offset_m * normals[:, used]
    seg = np.zeros(v.shape[1], dtype=np.int64) if segments is None else np.asarray(segments)
    uv = cylindrical_uv(v[0], fsel, seg, tile_m)
    return shell.astype(np.float32), remap[fsel].astype(np.int32), uv, used


def cylindrical_uv(rest: np.ndarray, faces: np.ndarray, segments: np.ndarray,
                   tile_m: float = 0.25) -> np.ndarray:
    """Per-corner UVs (F, 3, 2): each face is mapped on the cylinder of its segment.

    Each segment's axis is the principal direction of its vertices in ``rest (V, 3)`` (m);
    u is the arc length around the axis and v the length along it, both in units of
    ``tile_m`` so a tiling texture keeps its physical size on every body part. The seam of
    each cylinder is placed at the back of the body (-X); faces across it are unwrapped. Faces
    whose normal lies within 45 degrees of the axis (caps, the crotch) are projected on the plane
    across the axis instead (no bullseye where the angle sweeps the texture).
    """
    faces = np.asarray(faces, dtype=np.int64)
    fseg = segments[faces]
    # a face's chart: the segment of the majority of its corners (first corner on ties)
    maj = np.where(fseg[:, 1] == fseg[:, 2], fseg[:, 1], fseg[:, 0])
    uv = np.zeros(faces.shape + (2,), dtype=np.float64)
    for s in np.unique(maj):
        fs = faces[maj == s]
        vid = np.unique(fs)
        p = rest[vid]
        c = p.mean(0)
        _, _, vt = np.linalg.svd(p - c, full_matrices=False)
        a = vt[0]
        if a[1] > 0:  # point the axis down (OpenSim -Y)
            a = -a
        ref = np.array([1.0, 0.0, 0.0]) - a * a[0]
        if np.linalg.norm(ref) < 1e-6:
            ref = np.array([0.0, 0.0, 1.0]) - a * a[2]
        ref /= np.linalg.norm(ref)
        b = np.cross(a, ref)
        d = rest[fs] - c  # (Fs, 3, 3)
        radius = max(float(np.linalg.norm((p - c) - np.outer((p - c) @ a, a), axis=1).mean()), 0.02)
        theta = np.arctan2(d @ b, d @ ref)  # seam at the back
        u = theta * radius / tile_m
        period = 2 * np.pi * radius / tile_m
        span = u.max(1) - u.min(1)
        wrap = span > period / 2
        u[wrap] = np.where(u[wrap] < 0, u[wrap] + period, u[wrap])
        v_ = -(d @ a) / tile_m
        # faces that look along the axis (the crotch at the bottom of the waist chart) sit where
        # the angle sweeps the whole texture in a few mm (a bullseye): project them on the cap plane
        p0, p1, p2 = rest[fs[:, 0]], rest[fs[:, 1]], rest[fs[:, 2]]
        fn = np.cross(p1 - p0, p2 - p0)
        fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-12)
        cap = np.abs(fn @ a) > 0.7
        u[cap] = (d[cap] @ ref) / tile_m
        v_[cap] = (d[cap] @ b) / tile_m
        uv[maj == s, :, 0] = u
        uv[maj == s, :, 1] = v_
    return uv.astype(np.float32)


def covered_faces(faces: np.ndarray, garments: list[dict], rings: int = 1) -> np.ndarray:
    """``(F,) bool`` body faces that lie wholly under the garments, more than ``rings`` faces in
    from a hem: the render leaves them out, so no skin can poke through a shell there whatever
    the pose, while the skin just under a hem (``rings`` + 1 faces) stays for views into the gap.

    ``faces (F, 3)`` body triangles; ``garments`` from :func:`dress` (their ``body_index``). The
    garments count together: where the shirt overlaps the trousers there is no hem.
    """
    f = np.asarray(faces, dtype=np.int64)
    nv = int(f.max()) + 1
    inner = np.zeros(nv, dtype=bool)
    for g in garments:
        inner[np.asarray(g["body_index"], dtype=np.int64)] = True
    for _ in range(rings + 1):  # peel the hem: drop the vertices of faces not wholly inside
        outside = ~inner[f].all(1)
        drop = np.zeros(nv, dtype=bool)
        drop[f[outside].ravel()] = True
        inner &= ~drop
    return inner[f].all(1)


#: the upper garment keeps the waist vertices at most this far (geodesic, m) from the chest: its
#: hem ends about the hip bones, not in the crotch, where the shirt's shell (8 mm) would show
#: through the trousers' (5 mm) as a patch between the legs
UPPER_WAIST_REACH_M = 0.10


def shell_region(regions: GarmentRegions, garment_type: str, rest: np.ndarray, faces: np.ndarray,
                 reach_m: float = UPPER_WAIST_REACH_M) -> np.ndarray:
    """(V,) bool region of a shell garment: :meth:`GarmentRegions.mask`, and for an upper type
    without the waist vertices further than ``reach_m`` (geodesic over the edges of ``rest (V, 3)``
    m, any pose: edge lengths barely change with it) from the chest segment."""
    mask = regions.mask(garment_type)
    if garment_type not in UPPER_GARMENTS or "chest" not in regions.segment_names:
        return mask
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    f = np.asarray(faces, dtype=np.int64)
    r = np.asarray(rest, dtype=np.float64)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    graph = coo_matrix((np.linalg.norm(r[e[:, 0]] - r[e[:, 1]], axis=1), (e[:, 0], e[:, 1])),
                       shape=(len(r), len(r))).tocsr()
    chest = np.flatnonzero(regions.segment == regions.segment_names.index("chest"))
    dist = dijkstra(graph, directed=False, indices=chest, min_only=True, limit=2 * reach_m)
    waist = regions.segment == regions.segment_names.index("waist")
    return mask & ~(waist & (dist > reach_m))


def dress(scene: dict, vertices: np.ndarray, faces: np.ndarray, regions: GarmentRegions) -> list[dict]:
    """The garments of a sampled scene over a sequence.

    ``vertices (T, V, 3)`` m posed body, ``faces (F, 3)``, ``regions`` of the body model.
    Returns ``[{"name": "upper"|"lower", "type", "vertices": (T, Vg, 3) float32,
    "faces": (Fg, 3) int32, "uv": (Fg, 3, 2) float32, "body_index": (Vg,)}]``.
    """
    out = []
    for part in ("lower", "upper"):
        spec = scene["clothing"][part]
        shell, fg, uv, used = build_garment_sequence(
            vertices, faces, shell_region(regions, spec["type"], vertices[0], faces), spec["offset_m"],
            regions.segment, spec["tile_m"])
        out.append({"name": part, "type": spec["type"], "vertices": shell, "faces": fg, "uv": uv,
                    "body_index": used})
    return out


def skin_in_front(vertices: np.ndarray, faces: np.ndarray, regions: GarmentRegions, upper: str,
                  lower: str, min_share: float = 0.3, same_side: float = 0.5) -> dict:
    """How much rendered skin lies in front of the garment shells of one outfit (a QA measure).

    The skin that stays rendered under the garments (the hem rings; the rest is left out by
    :func:`covered_faces`) is checked per frame against the shell of its own body segments:
    every segment that holds >= ``min_share`` of the vertex's skinning weight (so seam vertices
    meet the shells of both sides). A sample is in front when its nearest shell vertex of that
    segment sees it on the shell's outer side, and that shell vertex faces the same way as the
    skin (normals within acos(``same_side``)); opposite walls of a fold (an armpit with the arm
    down, the back of a bent knee) touch like real bodies and are not counted.

    ``vertices (T, V, 3)`` m, ``faces (F, 3)``; garments at :data:`DEFAULT_OFFSET_M`.
    Returns ``{"fraction": in-front samples / samples, "worst_m": largest distance in front
    (negative: every sample behind), "samples": n, "hidden_faces": faces left out,
    "worst_frame": frame of worst_m}``.
    """
    from scipy.spatial import cKDTree

    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if regions.shares is None:
        raise OdahgenError("skin_in_front needs regions with per-segment shares")
    normals = vertex_normals(v, f)
    shells = []
    for gtype, part in ((upper, "upper"), (lower, "lower")):
        shell, _, _, used = build_garment_sequence(v, f, shell_region(regions, gtype, v[0], f), DEFAULT_OFFSET_M[part],
                                                   regions.segment)
        shells.append((shell, used))
    hidden = covered_faces(f, [{"body_index": used} for _, used in shells])
    shown = np.zeros(v.shape[1], bool)
    shown[f[~hidden].ravel()] = True
    tally = InFrontTally()
    for shell, used in shells:
        for s in range(len(regions.segment_names)):
            src = np.flatnonzero(regions.shares[used, s] >= min_share)  # this segment's shell vertices
            ring = used[src][shown[used[src]]]  # rendered skin of this segment under the shell
            if len(ring) == 0:
                continue
            for t in range(v.shape[0]):
                _, k = cKDTree(shell[t][src]).query(v[t][ring])
                nk = normals[t][used[src][k]]
                side = ((v[t][ring] - shell[t][src][k]) * nk).sum(1)
                tally.add(t, side[(normals[t][ring] * nk).sum(1) >= same_side])
    return tally.result(int(hidden.sum()))


class InFrontTally:
    """Skin samples checked against the cloth over them: how many lie in front (signed
    distance along the cloth's normal >= 0), the largest distance (m) and its frame."""

    def __init__(self) -> None:
        self.bad, self.total, self.worst, self.worst_frame = 0, 0, -1.0, -1

    def add(self, frame: int, side: np.ndarray) -> None:
        """``side (n,)`` m: signed distances of frame ``frame``'s samples (+ = in front)."""
        self.bad += int((side >= 0).sum())
        self.total += len(side)
        if len(side) and side.max() > self.worst:
            self.worst, self.worst_frame = float(side.max()), frame

    def result(self, hidden_faces: int) -> dict:
        """``{"fraction", "worst_m", "samples", "hidden_faces", "worst_frame"}``."""
        return {"fraction": self.bad / max(self.total, 1), "worst_m": self.worst, "samples": self.total,
                "hidden_faces": hidden_faces, "worst_frame": self.worst_frame}
