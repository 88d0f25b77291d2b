"""Ground truth: the versioned HDF5 trial schema, dataset layout, QA, validation, report,
ODAH export and evaluation metrics. See docs/gt.md."""

from odahgen.gt.build import build_trial_gt, mesh_coco_keypoints
from odahgen.gt.dataset import finalize_dataset, load_dataset_config
from odahgen.gt.masks import PackedMasks
from odahgen.gt.qa import qa_trial
from odahgen.gt.qa_yield import QAYield, category_label, error_category, reason_category
from odahgen.gt.report import build_report
from odahgen.gt.schema import (
    SCHEMA_VERSION,
    BodyFit,
    Camera,
    CocoKeypoints,
    Markers,
    QARecord,
    TrialGT,
    TrialMeta,
    Video,
    check_schema,
    load_trial,
    write_qa,
    write_trial,
)
from odahgen.gt.validate import format_report, validate_dataset
from odahgen.gt.visibility import keypoint_visibility

__all__ = [
    "build_trial_gt", "mesh_coco_keypoints", "keypoint_visibility", "PackedMasks", "finalize_dataset", "load_dataset_config", "qa_trial", "build_report",
    "format_report", "validate_dataset",
    "QAYield", "category_label", "error_category", "reason_category",
    "SCHEMA_VERSION", "BodyFit", "Camera", "CocoKeypoints", "Markers", "QARecord", "TrialGT", "TrialMeta", "Video",
    "check_schema", "load_trial", "write_qa", "write_trial",
]
