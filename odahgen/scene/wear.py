"""What the person wears from MakeHuman's CC0 assets: garments, shoes, hair, eyebrows and
eyelashes bound to anny's body surface (``assets/makehuman``, made by
``tools/rebind_makehuman.py``).

Every item vertex is bound to one anny triangle: ``p = sum_k b_k v_k + d * n`` with ``n`` the
body's normalised vertex normals interpolated at barycentric ``bn`` (the closest point), so an
item follows any pose and shape of anny exactly as its triangle does (:func:`pose_item`). The
ODAH garment types are cut from whole MakeHuman garments by the body segment their vertices
sit on (:func:`cut_to_type`); body faces wholly under an item are not drawn (``cover``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "makehuman"
ANNY_VERTICES = 13718

#: ODAH garment type -> the MakeHuman garment pieces it is cut from ("item:piece", piece 0 =
#: upper, 1 = lower). Long sleeves / trousers use the pieces whole.
LONG_UPPER = ("clothes/male_casualsuit02:0", "clothes/male_casualsuit03:0", "clothes/male_casualsuit05:0",
              "clothes/female_elegantsuit01:0")
SHORT_UPPER = ("clothes/male_casualsuit04:0", "clothes/male_casualsuit06:0", "clothes/female_casualsuit01:0")
TROUSERS = ("clothes/male_casualsuit02:1", "clothes/male_elegantsuit01:1", "clothes/female_casualsuit01:1")
TYPE_SOURCES: dict[str, tuple[str, ...]] = {
    "vest": LONG_UPPER + SHORT_UPPER,
    "short_sleeves": SHORT_UPPER + LONG_UPPER,
    "three_quarter_sleeves": LONG_UPPER,
    "long_sleeves": LONG_UPPER,
    "short_shorts": TROUSERS + ("clothes/female_casualsuit02:1",),
    "knee_shorts": TROUSERS,
    "capri": TROUSERS,
    "trousers": TROUSERS,
}
OUTFITS = ("clothes/female_casualsuit01", "clothes/female_casualsuit02", "clothes/female_elegantsuit01",
           "clothes/female_sportsuit01", "clothes/male_casualsuit01", "clothes/male_casualsuit02",
           "clothes/male_casualsuit03", "clothes/male_casualsuit04", "clothes/male_casualsuit05",
           "clothes/male_casualsuit06", "clothes/male_elegantsuit01", "clothes/male_worksuit01")
SHOES = tuple(f"clothes/shoes0{i}" for i in range(1, 7))
HAIR = ("hair/afro01", "hair/bob01", "hair/bob02", "hair/braid01", "hair/long01", "hair/ponytail01",
        "hair/short01", "hair/short02", "hair/short03", "hair/short04")
EYEBROWS = tuple(f"eyebrows/eyebrow{i:03d}" for i in range(1, 13))
EYELASHES = tuple(f"eyelashes/eyelashes0{i}" for i in range(1, 5))
#: the upper garment sits at least this far (m) outside the lower one where they overlap
LAYER_GAP_M = 0.004


@dataclass(frozen=True)
class BoundItem:
    """One item bound to anny: ``tri (N,)`` anny faces, ``bary``/``nbary (N, 3)``, ``offset (N,)``
    m, ``faces (F, 3)``, ``uv (F, 3, 2)`` m of surface per corner, ``cover (13718,)`` item vertex
    over each anny vertex (-1 none), ``piece (N,)`` 0 upper / 1 lower / 2 other."""

    name: str
    tri: np.ndarray
    bary: np.ndarray
    nbary: np.ndarray
    offset: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    cover: np.ndarray
    piece: np.ndarray

    @property
    def n_vertices(self) -> int:
        return len(self.tri)


def asset_index(root: Path | None = None) -> dict:
    """``index.json`` of the asset folder (item id -> facts)."""
    path = Path(root or ASSET_DIR) / "index.json"
    if not path.exists():
        raise OdahgenError(f"{path}: missing; run tools/rebind_makehuman.py")
    return json.loads(path.read_text())


@functools.lru_cache(maxsize=64)
def load_item(item_id: str, root: str | None = None) -> BoundItem:
    """The bound item ``item_id`` (``"clothes/shoes01"``, or ``"clothes/NAME:PIECE"`` for one
    piece of an outfit)."""
    name, _, piece = item_id.partition(":")
    path = Path(root or ASSET_DIR) / f"{name}.npz"
    if not path.exists():
        raise OdahgenError(f"{path}: no such asset (run tools/rebind_makehuman.py)")
    try:
        with np.load(path) as z:
            b2, n2 = z["bary"].astype(np.float64), z["nbary"].astype(np.float64)
            item = BoundItem(
                name=item_id, tri=z["tri"].astype(np.int64),
                bary=np.c_[b2, 1 - b2.sum(1)], nbary=np.c_[n2, 1 - n2.sum(1)],
                offset=z["offset"].astype(np.float64), faces=z["faces"].astype(np.int64),
                uv=z["uv"][z["face_uv"]].astype(np.float32), cover=z["cover"].astype(np.int64),
                piece=z["piece"].astype(np.int64))
    except (OSError, KeyError, ValueError) as err:
        raise OdahgenError(f"{path}: not a bound asset ({err})") from None
    if piece:
        item = subset(item, item.piece == int(piece))
    return item


def subset(item: BoundItem, keep: np.ndarray) -> BoundItem:
    """The item restricted to the vertices ``keep (N,)`` (faces with all corners kept)."""
    keep = np.asarray(keep, dtype=bool)
    fk = keep[item.faces].all(1)
    used = np.zeros(item.n_vertices, bool)
    used[item.faces[fk].ravel()] = True
    remap = -np.ones(item.n_vertices, np.int64)
    remap[used] = np.arange(int(used.sum()))
    cover = np.where(item.cover >= 0, remap[np.maximum(item.cover, 0)], -1)
    return replace(item, tri=item.tri[used], bary=item.bary[used], nbary=item.nbary[used],
                   offset=item.offset[used], faces=remap[item.faces[fk]], uv=item.uv[fk],
                   cover=cover, piece=item.piece[used])


def pose_item(item: BoundItem, vertices: np.ndarray, faces: np.ndarray,
              normals: np.ndarray | None = None, return_normals: bool = False):
    """``(T, N, 3)`` float32 item vertices on the posed body ``vertices (T, V, 3)`` m (anny's
    13,718 vertices, any frame) with anny's ``faces (F, 3)``; ``normals (T, V, 3)`` if known.
    With ``return_normals`` also the unit body normals ``(T, N, 3)`` the offsets run along."""
    from odahgen.scene.garments import vertex_normals

    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 3 or v.shape[1] != ANNY_VERTICES:
        raise OdahgenError(f"MakeHuman items bind to anny's {ANNY_VERTICES} vertices, got a body of "
                           f"shape {v.shape}")
    n = vertex_normals(v, faces) if normals is None else normals
    f = np.asarray(faces, dtype=np.int64)[item.tri]  # (N, 3)
    p = np.einsum("nk,tnkc->tnc", item.bary, v[:, f])
    nn = np.einsum("nk,tnkc->tnc", item.nbary, n[:, f])
    nn /= np.maximum(np.linalg.norm(nn, axis=-1, keepdims=True), 1e-12)
    pos = (p + item.offset[None, :, None] * nn).astype(np.float32)
    return (pos, nn) if return_normals else pos


def body_vertex(item: BoundItem, faces: np.ndarray) -> np.ndarray:
    """(N,) the anny vertex each item vertex is mostly bound to (largest weight of its triangle)."""
    f = np.asarray(faces, dtype=np.int64)[item.tri]
    return f[np.arange(len(f)), item.nbary.argmax(1)]


def cut_to_type(item: BoundItem, garment_type: str, regions, faces: np.ndarray) -> BoundItem:
    """Cut a whole garment piece to an ODAH type: drop the vertices that sit on a limb segment
    the type does not cover (sleeves, trouser legs), and on the hands / feet unless the type
    reaches the wrist / ankle. ``regions`` from :func:`odahgen.scene.garments.garment_regions`."""
    from odahgen.scene.garments import REGION_SEGMENTS

    if garment_type not in REGION_SEGMENTS:
        raise OdahgenError(f"unknown garment type {garment_type!r}")
    covered = set(REGION_SEGMENTS[garment_type])
    names = regions.segment_names
    bv = body_vertex(item, faces)
    if regions.shares is not None:  # the strongest segment, also where none holds half the weight
        sh = regions.shares[bv]
        seg = np.where(sh.sum(1) >= 0.5, sh.argmax(1), -1)
    else:
        seg = regions.segment[bv]
    limb = np.array([n not in ("chest", "waist") and n not in covered for n in names] + [False])
    drop = limb[np.where(seg >= 0, seg, len(names))]
    if garment_type not in ("long_sleeves", "trousers"):
        upper = garment_type in REGION_SEGMENTS and "chest" in REGION_SEGMENTS[garment_type]
        if upper and regions.shares is not None:  # hands / wrists, not the collar
            arm = [i for i, n in enumerate(names) if n.startswith(("upperarm", "forearm"))]
            drop |= (seg < 0) & (regions.shares[bv][:, arm].sum(1) > 0.05)
        elif not upper:  # feet
            drop |= seg < 0
    return _largest_parts(subset(item, ~drop))


def _largest_parts(item: BoundItem, min_share: float = 0.02) -> BoundItem:
    """The item without connected parts of fewer than ``min_share`` of its vertices (fragments
    a cut leaves, e.g. a trouser hem ring that sat on the foot)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = item.n_vertices
    if n == 0:
        return item
    f = item.faces
    r = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    c = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    _, lab = connected_components(coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n)), directed=False)
    size = np.bincount(lab)
    return subset(item, size[lab] >= min_share * n)


def layer_over(upper_pos: np.ndarray, upper: BoundItem, lower_pos: np.ndarray, lower: BoundItem,
               reach_m: float = 0.04) -> BoundItem:
    """The upper item with its offsets raised to >= the nearby lower item's + LAYER_GAP_M where
    the two overlap (positions ``(N, 3)`` of one frame, m)."""
    from scipy.spatial import cKDTree

    if lower.n_vertices == 0 or upper.n_vertices == 0:
        return upper
    dist, k = cKDTree(lower_pos).query(upper_pos)
    need = lower.offset[k] + LAYER_GAP_M
    raise_ = (dist < reach_m) & (upper.offset < need)
    return replace(upper, offset=np.where(raise_, need, upper.offset))


def covered_body_vertices(item: BoundItem) -> np.ndarray:
    """(K,) the anny vertices under the item (their faces are not drawn, hems excepted)."""
    return np.flatnonzero(item.cover >= 0)


def _posed(item: BoundItem, vertices, faces, normals, name: str, kind: str, material: dict,
           gtype: str = "", tile_m: float = 0.25) -> dict:
    return {"name": name, "type": gtype or kind, "kind": kind, "asset": item.name,
            "vertices": pose_item(item, vertices, faces, normals), "faces": item.faces.astype(np.int32),
            "uv": (item.uv / tile_m).astype(np.float32), "body_index": covered_body_vertices(item),
            "material": material, "item": item}


def dress(scene: dict, vertices: np.ndarray, faces: np.ndarray, regions) -> list[dict]:
    """Everything the person wears in a sampled scene, posed over a sequence.

    ``vertices (T, V, 3)`` m, ``faces (F, 3)``, ``regions`` of the body model. Scenes whose
    clothing ``mode`` is ``shells`` (or older scenes) get the generated shells
    (:func:`odahgen.scene.garments.dress`); the others the MakeHuman items of
    ``scene["clothing"]``, ``scene["shoes"]``, ``scene["hair"]`` and ``scene["eyes"]``. Returns ``[{"name", "type",
    "kind", "asset", "vertices" (T, N, 3) float32 m, "faces" (F, 3) int32, "uv" (F, 3, 2)
    float32 (texture tiles), "body_index" (K,) anny vertices hidden under it, "material",
    "item" (the :class:`BoundItem`)}]``.
    """
    from odahgen.scene.garments import dress as dress_shells
    from odahgen.scene.garments import vertex_normals

    clothing = scene["clothing"]
    if clothing.get("mode", "shells") == "shells":
        return dress_shells(scene, vertices, faces, regions)
    v = np.asarray(vertices, dtype=np.float64)
    normals = vertex_normals(v, faces)
    out = []
    if clothing["mode"] == "types":
        lower = cut_to_type(load_item(clothing["lower"]["asset"]), clothing["lower"]["type"], regions, faces)
        upper = cut_to_type(load_item(clothing["upper"]["asset"]), clothing["upper"]["type"], regions, faces)
        lo = _posed(lower, v, faces, normals, "lower", "garment", clothing["lower"], clothing["lower"]["type"])
        upper = layer_over(pose_item(upper, v[:1], faces, normals[:1])[0], upper, lo["vertices"][0], lower)
        out += [lo, _posed(upper, v, faces, normals, "upper", "garment", clothing["upper"],
                           clothing["upper"]["type"])]
    else:  # whole outfits: every piece, the upper ones over the lower ones
        pieces = {k: load_item(f"{clothing['outfit']['asset']}:{k}") for k in (1, 0, 2)}
        lower_pos = pose_item(pieces[1], v[:1], faces, normals[:1])[0] if pieces[1].n_vertices else None
        for k, name in ((1, "lower"), (0, "upper"), (2, "outfit")):
            item = pieces[k]
            if item.n_vertices == 0:
                continue
            if k == 0 and lower_pos is not None:
                item = layer_over(pose_item(item, v[:1], faces, normals[:1])[0], item, lower_pos, pieces[1])
            out.append(_posed(item, v, faces, normals, name, "garment", clothing["outfit"], "outfit"))
    for key, kind in (("shoes", "shoes"),):
        if scene.get(key):
            out.append(_posed(load_item(scene[key]["asset"]), v, faces, normals, key, kind, scene[key]))
    hair = scene.get("hair")
    if hair:
        for part in ("hair", "eyebrows", "eyelashes"):
            if hair.get(part):
                spec = hair[part]
                out.append(_posed(load_item(spec["asset"]), v, faces, normals, part, part, spec))
    if scene.get("eyes"):  # eyeballs on anny's eye helpers (odahgen.scene.eyes)
        from odahgen.scene.eyes import pose_eyes

        out.append(pose_eyes(scene["eyes"], v))
    return out


def skin_in_front(vertices: np.ndarray, faces: np.ndarray, worn: list[dict], same_side: float = 0.5) -> dict:
    """Rendered skin in front of the worn items (a QA measure, like
    :func:`odahgen.scene.garments.skin_in_front` for the shells).

    The body faces under the items are not drawn (:func:`odahgen.scene.garments.covered_faces`
    of ``worn``, from :func:`dress`); the drawn skin that an item covers (its hem rings) is
    checked per frame against its nearest vertex of that item: in front when it lies on the
    outer side along that vertex's body normal, and faces the same way (normals within
    acos(``same_side``)). Skin nearest to an open edge (a hem, a collar) is beyond the item, not
    under it, and is not counted.
    Returns ``{"fraction", "worst_m", "samples", "hidden_faces", "worst_frame"}``.
    """
    from scipy.spatial import cKDTree

    from odahgen.scene.garments import InFrontTally, covered_faces, vertex_normals

    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    normals = vertex_normals(v, f)
    hidden = covered_faces(f, worn)
    shown = np.zeros(v.shape[1], bool)
    shown[f[~hidden].ravel()] = True
    tally = InFrontTally()
    for item in (w["item"] for w in worn if "item" in w):
        ring = np.flatnonzero(shown & (item.cover >= 0))
        if len(ring) == 0:
            continue
        pos, nn = pose_item(item, v, f, normals, return_normals=True)
        edge = _open_edge_vertices(item.faces)
        for t in range(v.shape[0]):
            _, k = cKDTree(pos[t]).query(v[t, ring])
            side = ((v[t, ring] - pos[t, k]) * nn[t, k]).sum(1)
            tally.add(t, side[((normals[t, ring] * nn[t, k]).sum(1) >= same_side) & ~edge[k]])
    return tally.result(int(hidden.sum()))


def _open_edge_vertices(faces: np.ndarray) -> np.ndarray:
    """(N,) bool: the vertices on an edge used by one face only (hems, collars, cut lines)."""
    f = np.asarray(faces, dtype=np.int64)
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    uniq, count = np.unique(e, axis=0, return_counts=True)
    out = np.zeros(int(f.max()) + 1 if len(f) else 0, bool)
    out[uniq[count == 1].ravel()] = True
    return out
