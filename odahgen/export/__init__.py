"""Exports of a generated dataset to the formats other tools read (see docs/export.md):

- :func:`export_coco`: frames + COCO keypoint JSON per split (COCO-17 + anatomical markers,
  SynthPose / MMPose top-down training);
- :func:`export_pose2sim`: one Pose2Sim project per trial (Calib.toml, videos, GT TRC + MOT);
- :func:`export_opencap`: one OpenCap session folder per trial (camera pickles, videos, MOT).

The ODAH layout (``odahgen export odah``) stays in :mod:`odahgen.gt.export_odah`.
Layer: above ``gt``, below ``jobs`` and ``cli``.
"""

from odahgen.export.coco import export_coco
from odahgen.export.common import MARKER_SETS, OPENCAP_MARKERS
from odahgen.export.opencap import export_opencap
from odahgen.export.pose2sim import export_pose2sim, read_calib, triangulate

__all__ = ["MARKER_SETS", "OPENCAP_MARKERS", "export_coco", "export_opencap", "export_pose2sim",
           "read_calib", "triangulate"]
