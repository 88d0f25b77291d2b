"""Ground truth: the versioned HDF5 trial schema, dataset layout, QA, validation, report,
ODAH export and evaluation metrics. See docs/gt.md."""

from odahgen.gt.schema import (
    SCHEMA_VERSION,
    BodyFit,
    Camera,
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

__all__ = [
    "SCHEMA_VERSION", "BodyFit", "Camera", "Markers", "QARecord", "TrialGT", "TrialMeta", "Video",
    "check_schema", "load_trial", "write_qa", "write_trial",
]
