"""The TRC reader refuses or warns about what real files get wrong (issue 12, defect 6), and
atomic outputs refuse a folder as the target (defect 7)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from odahgen.errors import OdahgenError
from odahgen.io.atomic import atomic_write_text
from odahgen.io.mocap import MarkerData, read_trc, write_trc

T, M = 6, 2


def _trc(tmp_path, times=None, name="m.trc"):
    rng = np.random.default_rng(0)
    pos = rng.uniform(0.2, 1.5, (T, M, 3))
    data = MarkerData(["A", "B"], pos, 100.0, None if times is None else np.asarray(times, float))
    return write_trc(tmp_path / name, data, units="mm")


def _lines(path):
    return path.read_text().splitlines()


def test_a_clean_file_reads_without_warnings(tmp_path):
    path = _trc(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = read_trc(path)
    assert data.n_frames == T and np.allclose(np.diff(data.times), 0.01)


def test_reference_lab_files_still_read_without_warnings(shared_data):
    for name in ("rajagopal_walk.trc", "rajagopal_static_walk.trc"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            data = read_trc(shared_data / "mocap" / name)
        assert data.n_frames > 100


@pytest.mark.parametrize("times, what, line", [
    ([0.0, 0.01, 0.02, 0.015, 0.04, 0.05], "time goes backwards", 10),
    ([0.0, 0.01, 0.02, 0.02, 0.04, 0.05], "time does not advance", 10),
    ([0.5] * T, "never changes", None),
])
def test_times_that_do_not_increase_are_refused(tmp_path, times, what, line):
    path = _trc(tmp_path, times)
    with pytest.raises(OdahgenError) as err:
        read_trc(path)
    msg = str(err.value)
    assert str(path) in msg and what in msg and "\n" not in msg
    if line is not None:
        assert f"line {line}:" in msg
        assert _lines(path)[line - 1].startswith("4\t")  # the 4th data row is that line


def test_motion_source_refuses_backwards_trc_times(tmp_path):
    from odahgen.motion.files import TRCSource

    path = _trc(tmp_path, [0.0, 0.01, 0.02, 0.015, 0.04, 0.05])
    with pytest.raises(OdahgenError, match="time goes backwards"):
        TRCSource(path=path).load_file(path, "m")


def test_truncated_last_row_is_refused(tmp_path):
    path = _trc(tmp_path)
    text = path.read_text().rstrip("\n")
    path.write_text(text[: len(text) - 12])  # cut inside the last row, no final newline
    with pytest.raises(OdahgenError) as err:
        read_trc(path)
    msg = str(err.value)
    assert str(path) in msg and f"line {len(_lines(path))}:" in msg and "truncated" in msg
    # the same short row with a newline after it, after a complete row, is still a truncation
    path.write_text(text[: len(text) - 12] + "\n")
    with pytest.raises(OdahgenError, match="truncated last data row"):
        read_trc(path)


def test_missing_trailing_fields_in_every_row_are_not_a_truncation(tmp_path):
    """Writers that drop the empty fields of a missing last marker are still read (NaN)."""
    path = _trc(tmp_path)
    lines = _lines(path)
    lines[6:] = ["\t".join(ln.split("\t")[:5]) for ln in lines[6:]]  # B never written
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="markers with no valid sample: B"):
        data = read_trc(path, strict=False)
    assert data.n_frames == T and np.isnan(data.positions[:, 1]).all()


@pytest.mark.parametrize("n_header", [T + 4, T - 2])
def test_numframes_mismatch_warns_and_uses_the_rows(tmp_path, n_header):
    path = _trc(tmp_path)
    lines = _lines(path)
    fields = lines[2].split("\t")
    fields[2] = str(n_header)
    lines[2] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=f"NumFrames {n_header} but {T} data rows"):
        data = read_trc(path)
    assert data.n_frames == T


def test_ik_command_refuses_backwards_times_in_one_line(tmp_path, capsys):
    from odahgen.cli import main

    path = _trc(tmp_path, [0.0, 0.01, 0.02, 0.015, 0.04, 0.05])
    out = tmp_path / "out"
    assert main(["ik", str(path), "-o", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "time goes backwards" in err
    assert not out.exists()


def test_atomic_write_refuses_a_folder_target(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    with pytest.raises(OdahgenError, match="is a folder"):
        atomic_write_text(folder, "x")
    assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    plain = tmp_path / "f"
    plain.write_text("keep")
    with pytest.raises(OdahgenError, match="is a file, not a folder"):
        atomic_write_text(plain / "sub" / "x.txt", "x")
    assert plain.read_text() == "keep"
