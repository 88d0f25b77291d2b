"""Keypoint visibility by a depth test on the CPU, at the keypoints' own pixels only.

The reference (:func:`odahgen.render.keypoint_visibility`) rasterises the person with
pyrender (OpenGL) and reads the depth buffer under each keypoint. This module finds the same
depth without rasterising a picture: a triangle matters only if it covers the sample point
of a pixel that holds a keypoint, so the triangles are binned by the sample points they cover and
matched to the keypoints of the same bin, and the depth of the nearest covering triangle is
interpolated as OpenGL does (``1/z`` linear in the image).

The reference's depth buffer is multisampled (pyrender: 4 samples) and resolved by a blit that
keeps one sample, which Mesa's llvmpipe (this machine's OpenGL) takes at
:data:`SAMPLE_OFFSET_PX` from the pixel centre, so the depth is read there too (at the centre,
3 % of the silhouette pixels of a small person differ). Sample points exactly on a shared
edge count for both triangles; OpenGL's fill rule gives them to one, which can only matter on
the silhouette between overlapping parts (the test compares the two on a dressed body).

Meshes are in the OpenSim frame (m); cameras are the scene's pinhole cameras.
"""

from __future__ import annotations

import numpy as np

from odahgen.scene.cameras import project, render_camera

#: the near clipping distance (m) of the reference rasteriser: triangles with a corner nearer
#: the camera are left out (the person is metres away)
ZNEAR_M = 0.05
#: where the reference reads a pixel's depth: offset (px, image x right, y down) from the
#: pixel centre (sample 0 of the standard 4x MSAA pattern, (-2/16, -6/16) in OpenGL's y-up)
SAMPLE_OFFSET_PX = (-0.125, 0.375)
#: the square bins that match triangles to keypoints are about this many typical triangles
#: wide (px, at least 1): most triangles then span at most two bins each way
BIN_TRIANGLES = 2.0
#: frames handled at once (bounds the memory of the per-triangle arrays)
CHUNK = 32


def keypoint_visibility(meshes, keypoints: np.ndarray, camera: dict, tol_m=0.15) -> np.ndarray:
    """Per-keypoint visibility in one view, as :func:`odahgen.render.keypoint_visibility`.

    Args:
        meshes: ``[(vertices (T, V, 3) m, faces (F, 3), ...)]``: the posed body and garments.
        keypoints: (T, K, 3) m, OpenSim frame.
        camera: a scene camera (K, R, t, width, height).
        tol_m: allowed depth gap (m) behind the visible surface: one value or ``(K,)``.

    Returns ``visible (T, K) bool``: inside the image, in front of the camera, on the person,
    and at most ``tol_m`` behind the nearest surface at the keypoint's pixel. With lens
    distortion, "inside the image" is where the distorted point falls, and the depth test runs
    in the overscanned pinhole frame (:func:`odahgen.scene.cameras.render_camera`), as the
    reference does.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    T, K = kp.shape[:2]
    px, z = project(camera, kp)
    W, H = int(camera["width"]), int(camera["height"])
    rcam = render_camera(camera)
    if rcam is not camera:  # a lens: in the image where the distorted point is, depth-tested
        out = ~((px[..., 0] >= 0) & (px[..., 1] >= 0) & (px[..., 0] < W) & (px[..., 1] < H))
        px, z = project(rcam, kp)  # in the overscanned pinhole frame Blender renders
        px[out] = np.nan
        camera = rcam
        W, H = int(camera["width"]), int(camera["height"])
    col = np.floor(np.nan_to_num(px[..., 0], nan=-1.0)).astype(np.int64)
    row = np.floor(np.nan_to_num(px[..., 1], nan=-1.0)).astype(np.int64)
    inside = (z > 0) & (col >= 0) & (row >= 0) & (col < W) & (row < H)
    tol = np.broadcast_to(np.asarray(tol_m, dtype=np.float64), (K,))
    surf = surface_depth(meshes, camera, col, row, inside)
    return inside & (surf > 0) & (z - surf <= tol)


def surface_depth(meshes, camera: dict, col: np.ndarray, row: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``(T, K)`` m: the z-depth of the nearest triangle of ``meshes`` covering the sample point
    (:data:`SAMPLE_OFFSET_PX` from the centre) of pixel ``(col, row)`` (T, K) int, for the
    pixels where ``inside`` (T, K) bool; 0 where none does (as a depth buffer reads)."""
    faces = []
    offset = 0
    for m in meshes:
        faces.append(np.asarray(m[1], dtype=np.int64) + offset)
        offset += m[0].shape[1]
    faces = np.concatenate(faces)
    T, K = inside.shape
    out = np.zeros((T, K))
    frames = np.flatnonzero(inside.any(axis=1))
    for a in range(0, len(frames), CHUNK):
        sel = frames[a:a + CHUNK]
        verts = np.concatenate([np.asarray(m[0][sel], dtype=np.float64) for m in meshes], axis=1)
        out[sel] = _chunk_depth(verts, faces, camera, col[sel], row[sel], inside[sel])
    return out


def _bin_px(x: np.ndarray, y: np.ndarray, faces: np.ndarray) -> int:
    """Bin side (px): :data:`BIN_TRIANGLES` x the median extent of the triangles of the first
    frame of ``x, y (n, V)`` px (every 7th triangle), at least 1."""
    f = faces[::7]
    ext = np.maximum(np.ptp(x[0][f], axis=1), np.ptp(y[0][f], axis=1))
    med = np.nanmedian(ext) if np.isfinite(ext).any() else 1.0
    return max(1, int(np.ceil(BIN_TRIANGLES * med)))


def _chunk_depth(verts: np.ndarray, faces: np.ndarray, camera: dict, col: np.ndarray, row: np.ndarray,
                 inside: np.ndarray) -> np.ndarray:
    """:func:`surface_depth` of n frames: ``verts (n, V, 3)`` m, ``faces (F, 3)``, pixels
    ``col``, ``row``, ``inside`` (n, K). Returns (n, K) m."""
    n, K = inside.shape
    W, H = int(camera["width"]), int(camera["height"])
    Km = np.asarray(camera["K"], dtype=np.float64)
    R = np.asarray(camera["R"], dtype=np.float64)
    t = np.asarray(camera["t"], dtype=np.float64)
    # camera frame (x right, y down, z forward), one axis at a time (no threaded BLAS call)
    vx, vy, vz = verts[..., 0], verts[..., 1], verts[..., 2]
    xcam, ycam, zc = (R[k, 0] * vx + R[k, 1] * vy + R[k, 2] * vz + t[k] for k in range(3))
    near = zc > ZNEAR_M
    with np.errstate(divide="ignore", invalid="ignore"):
        iz = np.where(near, 1.0 / zc, np.nan)  # NaN pixels: left out below
        x = (Km[0, 0] * xcam * iz + Km[0, 2]).astype(np.float32)
        y = (Km[1, 1] * ycam * iz + Km[1, 2]).astype(np.float32)
    sx, sy = 0.5 + SAMPLE_OFFSET_PX[0], 0.5 + SAMPLE_OFFSET_PX[1]  # sample point in its pixel
    B = _bin_px(x, y, faces)
    # the keypoints' pixels, sorted by bin
    nbx, nby = W // B + 1, H // B + 1
    kf, kk = np.nonzero(inside)
    kcol, krow = col[kf, kk], row[kf, kk]
    kkey = (kf * nby + krow // B) * nbx + kcol // B
    order = np.argsort(kkey, kind="stable")
    skey = kkey[order]
    occupied = np.zeros(n * nby * nbx, bool)
    occupied[kkey] = True
    # cheap pre-filter on small integers: a triangle can cover a keypoint's sample point only
    # if its bins (those of its corners' sample-point coordinates) hold a keypoint; one lookup
    # of the 2 x 2 bins from its lowest bin covers a triangle spanning at most two bins each way
    occ = np.zeros((n, nby + 2, nbx + 2), bool)  # [j + 1, i + 1] = any bin of [j:j+2, i:i+2]
    for dy in (0, 1):
        for dx in (0, 1):
            occ[:, dy:dy + nby, dx:dx + nbx] |= occupied.reshape(n, nby, nbx)
    with np.errstate(invalid="ignore"):
        vbx = np.clip(np.floor((x - sx) / B), -1, nbx).astype(np.int16)
        vby = np.clip(np.floor((y - sy) / B), -1, nby).astype(np.int16)
    vbx[~near], vby[~near] = -1, -1  # their triangles are left out below
    f0, f1, f2 = faces[:, 0], faces[:, 1], faces[:, 2]
    blo, span = [], []
    for vb in (vbx, vby):
        b0, b1, b2 = vb[:, f0], vb[:, f1], vb[:, f2]
        blo.append(np.minimum(np.minimum(b0, b1), b2))
        span.append(np.maximum(np.maximum(b0, b1), b2) - blo[-1])
    stride = (nby + 2) * (nbx + 2)
    cell = (np.arange(n, dtype=np.int32) * stride)[:, None] + (blo[1] + 1).astype(np.int32) * (nbx + 2) + blo[0] + 1
    cand = occ.reshape(-1)[cell] | (span[0] > 1) | (span[1] > 1)
    tf, ti = np.nonzero(cand)
    # the candidates in front of the near plane covering at least one sample point
    ia, ib, ic = f0[ti], f1[ti], f2[ti]
    ok = near[tf, ia] & near[tf, ib] & near[tf, ic]
    xa, xb, xc = x[tf, ia], x[tf, ib], x[tf, ic]
    ya, yb, yc = y[tf, ia], y[tf, ib], y[tf, ic]
    with np.errstate(invalid="ignore"):
        c_lo = np.ceil(np.minimum(np.minimum(xa, xb), xc) - sx)
        c_hi = np.floor(np.maximum(np.maximum(xa, xb), xc) - sx)
        r_lo = np.ceil(np.minimum(np.minimum(ya, yb), yc) - sy)
        r_hi = np.floor(np.maximum(np.maximum(ya, yb), yc) - sy)
        ok &= (c_hi >= 0) & (r_hi >= 0) & (c_lo <= W - 1) & (r_lo <= H - 1) & (c_lo <= c_hi) & (r_lo <= r_hi)
    keep = np.flatnonzero(ok)
    tf, ti = tf[keep], ti[keep]
    c_lo, c_hi, r_lo, r_hi = (np.clip(v[keep], 0, lim - 1).astype(np.int64) // B
                              for v, lim in ((c_lo, W), (c_hi, W), (r_lo, H), (r_hi, H)))
    # every (triangle, bin) it covers, kept where the bin holds a keypoint: the lowest bin of
    # every triangle, the rest of the 2 x 2 bins from there of those covering more, and every
    # further bin of the larger ones
    base = (tf * nby + r_lo) * nbx + c_lo
    more = np.flatnonzero((c_hi > c_lo) | (r_hi > r_lo))
    reps, keys = [np.arange(len(base))], [base]
    for dy, dx in ((0, 1), (1, 0), (1, 1)):
        sel = more[(r_lo[more] + dy <= r_hi[more]) & (c_lo[more] + dx <= c_hi[more])]
        reps.append(sel)
        keys.append(base[sel] + dy * nbx + dx)
    big = more[(r_hi[more] - r_lo[more] > 1) | (c_hi[more] - c_lo[more] > 1)]
    if len(big):
        bw = c_hi[big] - c_lo[big] + 1
        nb = bw * (r_hi[big] - r_lo[big] + 1)
        rep = np.repeat(big, nb)
        j = np.arange(len(rep)) - np.repeat(np.cumsum(nb) - nb, nb)
        dy, dx = j // np.repeat(bw, nb), j % np.repeat(bw, nb)
        far = (dy > 1) | (dx > 1)  # the 2 x 2 corner is done above
        reps.append(rep[far])
        keys.append(base[rep[far]] + dy[far] * nbx + dx[far])
    rep, key = np.concatenate(reps), np.concatenate(keys)
    hit = occupied[key]
    rep, key = rep[hit], key[hit]
    # every (triangle, keypoint in that bin) pair
    lo = np.searchsorted(skey, key, "left")
    cnt = np.searchsorted(skey, key, "right") - lo
    tri = np.repeat(rep, cnt)
    kp = order[np.repeat(lo, cnt) + np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)]
    # coverage of the sample point and the depth there (1/z linear in the image)
    fr, fa = tf[tri], ti[tri]
    u, v = kcol[kp] + sx, krow[kp] + sy
    ia, ib, ic = f0[fa], f1[fa], f2[fa]
    ax, ay, bx, by, cx, cy = x[fr, ia], y[fr, ia], x[fr, ib], y[fr, ib], x[fr, ic], y[fr, ic]
    area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    with np.errstate(divide="ignore", invalid="ignore"):
        lb = ((u - ax) * (cy - ay) - (v - ay) * (cx - ax)) / area
        lc = ((bx - ax) * (v - ay) - (by - ay) * (u - ax)) / area
        la = 1.0 - lb - lc
        cover = (area != 0) & (la >= 0) & (lb >= 0) & (lc >= 0)
        depth = 1.0 / (la / zc[fr, ia] + lb / zc[fr, ib] + lc / zc[fr, ic])
    best = np.full(len(kf), np.inf)
    np.minimum.at(best, kp[cover], depth[cover])
    out = np.zeros((n, K))
    out[kf, kk] = np.where(np.isfinite(best), best, 0.0)
    return out
