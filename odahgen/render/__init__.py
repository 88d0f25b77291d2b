"""The Blender side: the render bundle the core writes (:func:`write_render_bundle`), the
launcher that runs the isolated Blender worker (it imports only bpy, NumPy and the standard
library), video encoding, masks and depth, and the rasterised depth test of keypoint
visibility. See docs/render.md."""

from odahgen.render.bundle import load_bundle, person_meshes, write_render_bundle
from odahgen.render.launcher import find_blender, probe_blender
from odahgen.render.stage import load_masks, render_trial
from odahgen.render.video import read_frames
from odahgen.render.visibility import Rasterizer, keypoint_visibility

__all__ = ["Rasterizer", "find_blender", "keypoint_visibility", "load_bundle", "load_masks",
           "person_meshes", "probe_blender", "read_frames", "render_trial", "write_render_bundle"]
