"""The scene as pure data: per-trial sampling of clothing, textures, lights, room and the two
pinhole cameras (OpenSim frame; :func:`project` is the one projection rule), and the garment
geometry that dresses a posed body. Nothing here talks to Blender. See docs/scene.md."""

from odahgen.scene.cameras import camera_dict, intrinsics, look_at, project, project_points
from odahgen.scene.garments import garment_regions
from odahgen.scene.wear import dress
from odahgen.scene.sample import sample_scene

__all__ = ["camera_dict", "dress", "garment_regions", "intrinsics", "look_at", "project",
           "project_points", "sample_scene"]
