"""Rasterisation in the core environment with pyrender (no Blender): per-keypoint 2D
visibility by depth test, a person mask to cross-check Blender's, and the fast preview.

pyrender needs a headless OpenGL: set ``PYOPENGL_PLATFORM=egl`` (GPU or Mesa's software
EGL; works here) or ``osmesa`` (needs the libosmesa6 package) before the first import; this
module defaults to ``egl`` when nothing is set. All geometry is in the OpenSim frame (m); the
cameras are the scene's pinhole cameras (see :mod:`odahgen.scene.cameras`).
"""

from __future__ import annotations

import os

import numpy as np

from odahgen.scene.cameras import distortion_map, project, render_camera

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

#: a keypoint is visible when it is at most this far (m) behind the visible surface at its
#: pixel: joint centres lie inside the body, so a small depth gap is the body's own
#: thickness, a large one another body part in front.
DEFAULT_DEPTH_TOLERANCE_M = 0.15


def _gl_pose(camera: dict) -> np.ndarray:
    """(4, 4) camera-to-world pose in OpenGL axes (x right, y up, z backward)."""
    R = np.asarray(camera["R"], dtype=np.float64)
    t = np.asarray(camera["t"], dtype=np.float64)
    pose = np.eye(4)
    pose[:3, :3] = R.T @ np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = -R.T @ t
    return pose


class Rasterizer:
    """One pyrender offscreen context for one camera: depth maps, masks and colour images.

    ``meshes`` is a list of ``(vertices (T, V, 3) m, faces (F, 3), rgb (3,) in [0, 1])``.
    """

    def __init__(self, camera: dict, znear: float = 0.05, zfar: float = 100.0):
        import pyrender

        self.camera = camera
        self.width, self.height = int(camera["width"]), int(camera["height"])
        K = np.asarray(camera["K"], dtype=np.float64)
        self._cam = pyrender.IntrinsicsCamera(K[0, 0], K[1, 1], K[0, 2], K[1, 2], znear=znear, zfar=zfar)
        self._renderer = pyrender.OffscreenRenderer(self.width, self.height)

    def close(self) -> None:
        self._renderer.delete()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _scene(self, meshes, frame: int, lit: bool):
        import pyrender
        import trimesh

        scene = pyrender.Scene(bg_color=[0.15, 0.15, 0.18, 1.0], ambient_light=[0.35, 0.35, 0.35])
        for verts, faces, rgb in meshes:
            tm = trimesh.Trimesh(np.asarray(verts[frame], dtype=np.float64), faces, process=False)
            mat = pyrender.MetallicRoughnessMaterial(baseColorFactor=list(rgb) + [1.0], metallicFactor=0.0,
                                                     roughnessFactor=0.8, doubleSided=True)
            scene.add(pyrender.Mesh.from_trimesh(tm, material=mat, smooth=lit))
        pose = _gl_pose(self.camera)
        scene.add(self._cam, pose=pose)
        if lit:
            scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0), pose=pose)
        return scene

    def depth(self, meshes, frame: int) -> np.ndarray:
        """(H, W) float32 z-depth (m along the optical axis), 0 where nothing is hit."""
        import pyrender

        return self._renderer.render(self._scene(meshes, frame, False), flags=pyrender.RenderFlags.DEPTH_ONLY)

    def color(self, meshes, frame: int) -> np.ndarray:
        """(H, W, 3) uint8 shaded colour image."""
        color, _ = self._renderer.render(self._scene(meshes, frame, True))
        return color


def keypoint_visibility(meshes, keypoints: np.ndarray, camera: dict,
                        tol_m: float = DEFAULT_DEPTH_TOLERANCE_M, return_masks: bool = False):
    """Per-keypoint visibility in one view.

    Args:
        meshes: ``[(vertices (T, V, 3) m, faces (F, 3))]`` or with a third colour item:
            the posed body and garments.
        keypoints: (T, K, 3) m, OpenSim frame.
        camera: a scene camera (K, R, t, width, height).
        tol_m: allowed depth gap (m) behind the visible surface (see
            DEFAULT_DEPTH_TOLERANCE_M): one value, or ``(K,)`` one per point.

    Returns ``visible (T, K) bool`` — inside the image, in front of the camera, on the person
    mask, and not hidden behind another part — and, with ``return_masks``, the person masks
    ``(T, H, W) bool``.
    """
    meshes = [(m[0], m[1], (m[2] if len(m) > 2 else (0.8, 0.8, 0.8))) for m in meshes]
    kp = np.asarray(keypoints, dtype=np.float64)
    T, K = kp.shape[:2]
    px, z = project(camera, kp)
    lens = None
    rcam = render_camera(camera)
    if rcam is not camera:  # a lens: in the image where the distorted point is, depth-tested in
        W, H = int(camera["width"]), int(camera["height"])  # the overscanned pinhole frame
        out = ~((px[..., 0] >= 0) & (px[..., 1] >= 0) & (px[..., 0] < W) & (px[..., 1] < H))
        px, z = project(rcam, kp)
        px[out] = np.nan
        lens = (camera, rcam)
        camera = rcam
    vis = np.zeros((T, K), dtype=bool)
    tol = np.broadcast_to(np.asarray(tol_m, dtype=np.float64), (K,))
    if not return_masks:
        return _windowed_visibility(meshes, px, z, camera, tol)
    masks = []
    with Rasterizer(camera) as rast:
        for f in range(T):
            d = rast.depth(meshes, f)
            if return_masks:
                masks.append(d > 0)
            col = np.floor(px[f, :, 0]).astype(np.int64)
            row = np.floor(px[f, :, 1]).astype(np.int64)
            inside = (z[f] > 0) & (col >= 0) & (row >= 0) & (col < rast.width) & (row < rast.height)
            surf = np.zeros(K)
            surf[inside] = d[row[inside], col[inside]]
            vis[f] = inside & (surf > 0) & (z[f] - surf <= tol)
    masks = np.stack(masks)
    if lens is not None:
        from odahgen.render.blender_lens import nearest_index, warp_nearest

        idx = nearest_index(distortion_map(lens[0]), int(lens[1]["width"]), int(lens[1]["height"]))
        masks = np.moveaxis(warp_nearest(np.moveaxis(masks, 0, -1), idx), -1, 0)
    return vis, masks


def _windowed_visibility(meshes, px: np.ndarray, z: np.ndarray, camera: dict, tol: np.ndarray,
                         znear: float = 0.05, zfar: float = 100.0) -> np.ndarray:
    """:func:`keypoint_visibility` without masks: per frame only the window of the image that
    holds the frame's keypoints is rasterised (the principal point shifted by the window's
    corner, so every pixel keeps its full-image position), depth only, from bare vertex and
    index buffers. The projection is computed differently, so the coverage of a pixel on the
    edge between overlapping parts can round the other way: on a real 600-frame trial 0.06 %
    of point-frames, all at occlusion boundaries. ``px (T, K, 2)`` px, ``z (T, K)`` m;
    returns (T, K) bool."""
    import pyrender

    T, K = z.shape
    W, H = int(camera["width"]), int(camera["height"])
    col = np.floor(np.nan_to_num(px[..., 0], nan=-1.0)).astype(np.int64)
    row = np.floor(np.nan_to_num(px[..., 1], nan=-1.0)).astype(np.int64)
    inside = (z > 0) & (col >= 0) & (row >= 0) & (col < W) & (row < H)
    vis = np.zeros((T, K), dtype=bool)
    frames = np.flatnonzero(inside.any(axis=1))
    if not len(frames):
        return vis
    big = np.iinfo(np.int64).max
    c0 = np.where(inside, col, big).min(axis=1)
    r0 = np.where(inside, row, big).min(axis=1)
    c1 = np.where(inside, col, -1).max(axis=1)
    r1 = np.where(inside, row, -1).max(axis=1)
    ww = int(min(W, (c1 - c0)[frames].max() + 1))
    wh = int(min(H, (r1 - r0)[frames].max() + 1))
    K_ = np.asarray(camera["K"], dtype=np.float64)
    pose = _gl_pose(camera)
    material = pyrender.MetallicRoughnessMaterial(doubleSided=True)
    faces = [np.ascontiguousarray(f, dtype=np.uint32) for _, f, _ in meshes]
    renderer = pyrender.OffscreenRenderer(ww, wh)
    try:
        for f in frames:
            x0, y0 = int(min(c0[f], W - ww)), int(min(r0[f], H - wh))
            scene = pyrender.Scene()
            for (verts, _, _), idx in zip(meshes, faces):
                prim = pyrender.Primitive(positions=np.asarray(verts[f], dtype=np.float32), indices=idx,
                                          material=material, mode=pyrender.constants.GLTF.TRIANGLES)
                scene.add(pyrender.Mesh([prim]))
            scene.add(pyrender.IntrinsicsCamera(K_[0, 0], K_[1, 1], K_[0, 2] - x0, K_[1, 2] - y0,
                                                znear=znear, zfar=zfar), pose=pose)
            d = renderer.render(scene, flags=pyrender.RenderFlags.DEPTH_ONLY)
            ok = inside[f]
            surf = np.zeros(K)
            surf[ok] = d[row[f, ok] - y0, col[f, ok] - x0]
            vis[f] = ok & (surf > 0) & (z[f] - surf <= tol)
    finally:
        renderer.delete()
    return vis


def person_masks(meshes, camera: dict) -> np.ndarray:
    """(T, H, W) bool: where the meshes cover the image of ``camera`` (through its lens, nearest
    pixel of the overscanned pinhole render, as the render stage's masks)."""
    meshes = [(m[0], m[1], (0.8, 0.8, 0.8)) for m in meshes]
    rcam = render_camera(camera)
    with Rasterizer(rcam) as rast:
        masks = np.stack([rast.depth(meshes, f) > 0 for f in range(meshes[0][0].shape[0])])
    if rcam is camera:
        return masks
    from odahgen.render.blender_lens import nearest_index, warp_nearest

    idx = nearest_index(distortion_map(camera), int(rcam["width"]), int(rcam["height"]))
    return np.moveaxis(warp_nearest(np.moveaxis(masks, 0, -1), idx), -1, 0)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks of the same shape."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
