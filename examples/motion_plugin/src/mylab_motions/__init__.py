"""Example odahgen motion-source plugin: a folder of CSV files, one motion per file.

Each CSV has a header ``time,<coordinate>,...`` (Rajagopal coordinate names, degrees for
angles, metres for pelvis_tx/ty/tz). Install with ``pip install -e examples/motion_plugin``,
then ``odahgen motion list mylab --path DIR``.
"""

from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.motion import FileMotionSource, Motion
from odahgen.skeleton.names import COORDINATE_NAMES, TRANSLATIONAL_COORDINATES


class CSVAngleSource(FileMotionSource):
    name = "mylab"
    description = "CSV joint angles (degrees) from my lab"
    extensions = (".csv",)

    def load_file(self, path: Path, motion_id: str) -> Motion:
        header = path.read_text().splitlines()[0].split(",")
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        if data.shape[0] < 2:
            raise OdahgenError(f"{path}: need at least 2 frames")
        coords = np.zeros((len(data), len(COORDINATE_NAMES)))
        for j, name in enumerate(header[1:], start=1):
            if name in COORDINATE_NAMES:
                v = data[:, j]
                coords[:, COORDINATE_NAMES.index(name)] = v if name in TRANSLATIONAL_COORDINATES else np.radians(v)
        times = data[:, 0] - data[0, 0]
        return Motion(id=motion_id, source=self.name, fps=1.0 / float(np.median(np.diff(times))),
                      times=times, coordinates=coords, coordinate_names=COORDINATE_NAMES, path=str(path))
