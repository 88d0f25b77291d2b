"""TRC marker files and MOT/STO tables, read tolerantly and written as OpenSim writes them.

Reading tolerates what real files do: header fields separated by tabs or spaces, units mm,
cm or m (read from the header, detected from the data when missing, overridable), missing
markers as empty fields or NaN, a numeric locale with comma decimals. Problems are raised as
one-line :class:`~odahgen.errors.OdahgenError` naming the file. Writing is atomic.

Inside odahgen marker positions are metres, float64, shape (T, M, 3), NaN where missing.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from odahgen.errors import OdahgenError
from odahgen.io import atomic_path

UNIT_SCALE = {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "meters": 1.0, "millimeters": 1e-3, "metres": 1.0}


@dataclass
class MarkerData:
    """Marker trajectories.

    names: M marker labels. positions: (T, M, 3) float64 metres, NaN where missing.
    fps: frames per second. times: (T,) seconds.
    """

    names: list[str]
    positions: np.ndarray
    fps: float
    times: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        self.positions = np.asarray(self.positions, dtype=np.float64)
        if self.positions.ndim != 3 or self.positions.shape[2] != 3:
            raise ValueError(f"positions must be (T, M, 3), got {self.positions.shape}")
        if self.positions.shape[1] != len(self.names):
            raise ValueError(f"{len(self.names)} names but {self.positions.shape[1]} markers")
        if self.times is None:
            self.times = np.arange(self.positions.shape[0], dtype=np.float64) / float(self.fps)
        self.times = np.asarray(self.times, dtype=np.float64)
        self.names = list(self.names)

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    def subset(self, names: list[str]) -> "MarkerData":
        """The markers ``names`` (in that order)."""
        idx = [self.names.index(n) for n in names]
        return MarkerData(list(names), self.positions[:, idx], self.fps, self.times.copy())

    def frames(self, sl: slice) -> "MarkerData":
        return MarkerData(self.names, self.positions[sl], self.fps, self.times[sl])

    def renamed(self, mapping: dict[str, str]) -> "MarkerData":
        """Labels renamed by ``mapping`` (data label -> model marker); others unchanged."""
        return MarkerData([mapping.get(n, n) for n in self.names], self.positions, self.fps, self.times)


#: The one place lab marker data are turned to OpenSim's Y up: the file's vertical axis ->
#: rotation R (new = R @ old). Z up (Vicon, Qualisys, AMASS: X forward, Y left, Z up) keeps X and
#: sends Z to Y and Y to -Z (right), as OpenSim's ground (X forward, Y up, Z right).
UP_TO_Y_UP: dict[str, np.ndarray] = {
    "y": np.eye(3),
    "z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
    "-z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "-y": np.diag([1.0, -1.0, -1.0]),
    "x": np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    "-x": np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
}
#: values of ``--up`` besides ``auto``
UP_AXES = tuple(UP_TO_Y_UP)


def to_y_up(data: MarkerData, up: str) -> MarkerData:
    """``data`` whose vertical axis is ``up`` (``y``, ``z``, ``-z``, ``x``, ...) turned to
    OpenSim's Y up by the proper rotation :data:`UP_TO_Y_UP` (``y``: returned as is)."""
    up = up.strip().lower()
    if up not in UP_TO_Y_UP:
        raise OdahgenError(f"vertical axis must be one of {', '.join(UP_AXES)} or auto, got {up!r}")
    if up == "y":
        return data
    return MarkerData(data.names, data.positions @ UP_TO_Y_UP[up].T, data.fps, data.times.copy())


def detect_up_axis(data: MarkerData, levels: dict[str, float] | None = None, default: str = "y",
                   max_frames: int = 60) -> tuple[str, str, bool]:
    """The vertical axis of marker data: (axis such as ``z`` or ``-y``, reason, sure).

    ``levels``: label -> height rank in a standing pose (0 feet .. 1 head top), e.g. from the
    labels' anatomical roles. The axis along which the markers' positions correlate best with
    their levels (median over up to ``max_frames`` frames; head above pelvis above knees above
    ankles whatever the pose in between) is the vertical, when that correlation is >= 0.6.
    Without usable levels: the axis along which the markers extend most in a frame, if clearly
    (> 1.5x the next, > 0.8 m), pointing away from the floor (the side where the lab origin,
    on the floor, leaves most of the markers). Otherwise ``default``, not sure."""
    pos = data.positions
    T = pos.shape[0]
    fr = np.unique(np.linspace(0, T - 1, min(T, max_frames)).round().astype(int)) if T else np.zeros(0, int)
    P = pos[fr]
    cols = [j for j, n in enumerate(data.names) if levels and n in levels]
    if len(cols) >= 3 and len({levels[data.names[j]] for j in cols}) >= 2:
        lv = np.array([levels[data.names[j]] for j in cols])
        rs = []
        for f in range(len(fr)):
            x = P[f, cols]
            ok = np.isfinite(x).all(axis=1)
            if ok.sum() < 3 or np.ptp(lv[ok]) == 0:
                continue
            xc = x[ok] - x[ok].mean(axis=0)
            lc = lv[ok] - lv[ok].mean()
            den = np.sqrt((xc**2).sum(axis=0) * (lc**2).sum())
            rs.append(np.where(den > 0, (xc * lc[:, None]).sum(axis=0) / np.maximum(den, 1e-300), 0.0))
        if rs:
            r = np.median(np.array(rs), axis=0)
            k = int(np.argmax(np.abs(r)))
            if abs(r[k]) >= 0.6:
                up = ("" if r[k] > 0 else "-") + "xyz"[k]
                return up, (f"landmarks: head above pelvis above feet along {up.upper()} "
                            f"(correlation {abs(r[k]):.2f}, {len(cols)} markers)"), True
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ext = np.nanmedian(np.nanmax(P, axis=1) - np.nanmin(P, axis=1), axis=0) if P.size else np.full(3, np.nan)
        mean = np.nanmedian(np.nanmean(P, axis=1), axis=0) if P.size else np.full(3, np.nan)
    if np.isfinite(ext).all():
        o = np.argsort(-ext)
        if ext[o[0]] > 1.5 * ext[o[1]] and ext[o[0]] > 0.8 and abs(mean[o[0]]) > 0.1:
            up = ("" if mean[o[0]] > 0 else "-") + "xyz"[o[0]]
            return up, (f"the markers extend most along {up.lstrip('-').upper()} ({ext[o[0]]:.2f} m vs "
                        f"{ext[o[1]]:.2f} m), floor on the {'negative' if mean[o[0]] > 0 else 'positive'} side"), True
    return default, f"not detectable from the markers (no recognised landmarks): assumed {default.upper()}", False


def _num(tok: str) -> float:
    tok = tok.strip()
    if not tok:
        return math.nan
    try:
        return float(tok)
    except ValueError:
        return float(tok.replace(",", "."))


def _split_header(line: str) -> list[str]:
    return [t for t in re.split(r"[\t ]+", line.strip()) if t]


def _split_data(line: str, comma_decimal: bool) -> list[str]:
    line = line.rstrip("\r\n")
    if "\t" in line:
        toks = line.split("\t")
    else:
        toks = line.split()
    if comma_decimal:
        toks = [t.replace(",", ".") for t in toks]
    return toks


def read_trc(path: str | os.PathLike, units: str | None = None, strict: bool = True) -> MarkerData:
    """Read a .trc file into metres.

    units: None to use the header's ``Units`` (or detect mm vs m from the data when the
    header lacks it), or "mm"/"cm"/"m" to override. strict: raise on a marker with no valid
    sample at all (else keep it as all-NaN with a warning).

    Refused with a one-line error naming the file and line: a Time column that goes
    backwards, repeats a time or never changes (a Time column with blanks is replaced by
    frame / DataRate), and a truncated last row (fewer fields than the header names, in a
    file without a final newline or after a longer row). Warned, then read as found: a
    header NumMarkers or NumFrames that disagrees with the names or the data rows.
    """
    p = Path(path)
    if not p.is_file():
        raise OdahgenError(f"{p}: file not found")
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise OdahgenError(f"{p}: cannot read ({err})") from err
    lines = text.splitlines()
    if not any(ln.strip() for ln in lines):
        raise OdahgenError(f"{p}: empty file")
    if len(lines) < 5 or not lines[0].strip().lower().startswith("pathfiletype"):
        raise OdahgenError(f"{p}: malformed TRC header (first line must start with PathFileType and 5 header lines follow)")
    keys = _split_header(lines[1])
    vals = _split_header(lines[2])
    header = {k.lower(): v for k, v in zip(keys, vals)}
    try:
        fps = _num(header.get("datarate", header.get("camerarate", "nan")))
        n_markers_hdr = int(_num(header["nummarkers"])) if "nummarkers" in header else None
    except (ValueError, KeyError) as err:
        raise OdahgenError(f"{p}: malformed TRC header line 3 ({err})") from err
    if not (fps > 0 and math.isfinite(fps)):
        raise OdahgenError(f"{p}: malformed TRC header: DataRate {header.get('datarate')!r} is not a positive number")
    name_toks = _split_header(lines[3])
    if len(name_toks) < 3 or name_toks[0].lower().rstrip("#") not in ("frame", "frame#") or name_toks[1].lower() != "time":
        raise OdahgenError(f"{p}: malformed TRC header: line 4 must be 'Frame# Time <marker names>'")
    names = name_toks[2:]
    if n_markers_hdr is not None and n_markers_hdr != len(names):
        warnings.warn(f"{p}: header says {n_markers_hdr} markers but {len(names)} are named; using the names", stacklevel=2)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise OdahgenError(f"{p}: duplicate marker names: {', '.join(dup)}")
    numbered = [(k + 6, ln) for k, ln in enumerate(lines[5:]) if ln.strip()]  # (1-based line, text)
    if not numbered:
        raise OdahgenError(f"{p}: no data rows")
    line_no = [k for k, _ in numbered]
    data_lines = [ln for _, ln in numbered]
    # comma decimals: a numeric locale other than C writes "0,5" (fields are still tab separated)
    sample = data_lines[0]
    comma_decimal = "," in sample and "." not in sample
    ncol = 2 + 3 * len(names)
    rows = np.full((len(data_lines), ncol), np.nan)
    n_fields = []
    for i, ln in enumerate(data_lines):
        toks = _split_data(ln, comma_decimal)
        if len(toks) < 2:
            raise OdahgenError(f"{p}: data row {i + 1} (line {line_no[i]}) has fewer than 2 fields")
        try:
            v = [_num(t) for t in toks[:ncol]]
        except ValueError as err:
            raise OdahgenError(f"{p}: data row {i + 1} (line {line_no[i]}): not a number ({err})") from err
        rows[i, : len(v)] = v
        n_fields.append(len(toks))
    _check_last_row(p, text, n_fields, ncol, line_no[-1])
    n_frames_hdr = header.get("numframes")
    if n_frames_hdr is not None:
        try:
            n_frames_hdr = int(_num(n_frames_hdr))
        except (ValueError, OverflowError):
            n_frames_hdr = None
    if n_frames_hdr is not None and n_frames_hdr != len(rows):
        warnings.warn(f"{p}: header says NumFrames {n_frames_hdr} but {len(rows)} data rows follow; using the rows",
                      stacklevel=2)
    times = rows[:, 1]
    if not np.all(np.isfinite(times)):
        times = np.arange(len(rows)) / fps
    else:
        _check_times(p, times, line_no)
    pos = rows[:, 2:].reshape(len(rows), len(names), 3)
    unit = (units or header.get("units", "")).strip().lower()
    if unit == "":
        med = np.nanmedian(np.abs(pos)) if np.isfinite(pos).any() else 0.0
        unit = "mm" if med > 20 else "m"
    if unit not in UNIT_SCALE:
        raise OdahgenError(f"{p}: unknown units {unit!r} (expected mm, cm or m)")
    pos = pos * UNIT_SCALE[unit]
    finite = np.isfinite(pos).all(axis=2)
    if finite.any():
        mag = np.nanmax(np.abs(pos[finite]))
        if mag > 1000.0 or (mag < 0.05 and mag > 0):
            raise OdahgenError(
                f"{p}: absurd marker coordinates ({mag:.3g} m after reading as {unit}); "
                "set the units explicitly (e.g. --units mm)"
            )
    empty = [n for j, n in enumerate(names) if not finite[:, j].any()]
    if empty:
        msg = f"{p}: markers with no valid sample: {', '.join(empty)}"
        if strict:
            raise OdahgenError(msg)
        warnings.warn(msg, stacklevel=2)
    pos[~finite] = np.nan
    return MarkerData(names, pos, float(fps), times)


def _check_last_row(p: Path, text: str, n_fields: list[int], ncol: int, line: int) -> None:
    """A last data row with fewer fields than the header names, in a file cut short (no
    final newline) or shorter than the row before it, is a truncated file: refused."""
    last = n_fields[-1]
    if last >= ncol:
        return
    cut = not text.endswith(("\n", "\r"))
    shorter = len(n_fields) > 1 and last < n_fields[-2]
    if cut or shorter:
        raise OdahgenError(f"{p}: line {line}: truncated last data row ({last} of {ncol} fields); "
                           "the file looks cut short")


def _check_times(p: Path, times: np.ndarray, line_no: list[int]) -> None:
    """Times must increase from row to row (as the motion sources require)."""
    if len(times) < 2:
        return
    dt = np.diff(times)
    if np.all(dt == 0):
        raise OdahgenError(f"{p}: the Time column never changes ({times[0]:g} s in all {len(times)} rows)")
    back = np.flatnonzero(dt < 0)
    if back.size:
        i = int(back[0]) + 1
        raise OdahgenError(f"{p}: line {line_no[i]}: time goes backwards ({times[i]:g} s after {times[i - 1]:g} s)")
    same = np.flatnonzero(dt == 0)
    if same.size:
        i = int(same[0]) + 1
        raise OdahgenError(f"{p}: line {line_no[i]}: time does not advance ({times[i]:g} s again)")


def _fmt(v: float) -> str:
    return "" if not math.isfinite(v) else f"{v:.6f}"


def write_trc(path: str | os.PathLike, data: MarkerData, units: str = "mm") -> Path:
    """Write ``data`` (metres) as a tab-separated OpenSim TRC in ``units`` (default mm), atomically.

    Missing samples (NaN) are written as empty fields, as OpenSim and most lab software do.
    """
    p = Path(path)
    if units not in ("mm", "m", "cm"):
        raise OdahgenError(f"{p}: cannot write units {units!r}")
    scale = 1.0 / UNIT_SCALE[units]
    T, M = data.positions.shape[:2]
    out = [
        f"PathFileType\t4\t(X/Y/Z)\t{p.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{data.fps:g}\t{data.fps:g}\t{T}\t{M}\t{units}\t{data.fps:g}\t1\t{T}",
        "Frame#\tTime\t" + "\t\t\t".join(data.names) + "\t\t",
        "\t\t" + "\t".join(f"X{j + 1}\tY{j + 1}\tZ{j + 1}" for j in range(M)),
        "",
    ]
    pos = data.positions * scale
    for t in range(T):
        vals = "\t".join(_fmt(v) for v in pos[t].ravel())
        out.append(f"{t + 1}\t{data.times[t]:.6f}\t{vals}")
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp:
        Path(tmp).write_text("\n".join(out) + "\n", encoding="utf-8")
    return p


@dataclass
class TableData:
    """A MOT/STO table: column names (without time), times (T,), values (T, N) as in the file."""

    names: list[str]
    times: np.ndarray
    values: np.ndarray
    in_degrees: bool
    header: dict[str, str]


def read_table(path: str | os.PathLike) -> TableData:
    """Read an OpenSim .mot/.sto (version 1 header ending in ``endheader``, or the old headerless
    ``name/nRows/nColumns`` form). Values are returned as stored (see ``in_degrees``)."""
    p = Path(path)
    if not p.is_file():
        raise OdahgenError(f"{p}: file not found")
    lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    if not any(ln.strip() for ln in lines):
        raise OdahgenError(f"{p}: empty file")
    header: dict[str, str] = {}
    end = None
    for i, ln in enumerate(lines):
        s = ln.strip()
        if s.lower() == "endheader":
            end = i
            break
        if "=" in s:
            k, _, v = s.partition("=")
            header[k.strip()] = v.strip()
    if end is None:
        raise OdahgenError(f"{p}: no 'endheader' line: not an OpenSim MOT/STO file")
    rest = [ln for ln in lines[end + 1 :] if ln.strip()]
    if not rest:
        raise OdahgenError(f"{p}: no column labels after endheader")
    cols = [c for c in re.split(r"\t| {2,}|(?<=\S) (?=\S)", rest[0].strip()) if c]
    if cols[0].lower() != "time":
        raise OdahgenError(f"{p}: the first column must be 'time', got {cols[0]!r}")
    comma = len(rest) > 1 and "," in rest[1] and "." not in rest[1]
    vals = []
    for k, ln in enumerate(rest[1:]):
        toks = _split_data(ln, comma)
        toks = [t for t in toks if t.strip() != ""] if "\t" not in ln else toks
        try:
            row = [_num(t) for t in toks]
        except ValueError as err:
            raise OdahgenError(f"{p}: data row {k + 1}: not a number ({err})") from err
        if len(row) < len(cols):
            row += [math.nan] * (len(cols) - len(row))
        vals.append(row[: len(cols)])
    arr = np.array(vals, dtype=np.float64).reshape(-1, len(cols))
    in_deg = header.get("inDegrees", "no").lower().startswith("y")
    return TableData(cols[1:], arr[:, 0].copy(), arr[:, 1:].copy(), in_deg, header)


def read_mot(path: str | os.PathLike) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, times (T,), values (T, N)) of a .mot/.sto, values as stored in the file."""
    t = read_table(path)
    return t.names, t.times, t.values


def write_mot(
    path: str | os.PathLike,
    names: list[str],
    times: np.ndarray,
    values: np.ndarray,
    in_degrees: bool = True,
    title: str = "Coordinates",
) -> Path:
    """Write a table as OpenSim 4 writes a .mot/.sto (``version=1`` header, tab separated).

    ``values`` (T, N) are written as given; ``in_degrees`` only sets the header flag.
    """
    p = Path(path)
    values = np.asarray(values, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if values.shape != (len(times), len(names)):
        raise ValueError(f"values {values.shape} do not match {len(times)} times x {len(names)} names")
    out = [
        title,
        "version=1",
        f"nRows={len(times)}",
        f"nColumns={len(names) + 1}",
        f"inDegrees={'yes' if in_degrees else 'no'}",
        "",
        "Units are S.I. units (second, meters, Newtons, ...)",
        "If the header above contains a line with 'inDegrees', this indicates whether rotational "
        "values are in degrees (yes) or radians (no).",
        "",
        "endheader",
        "time\t" + "\t".join(names),
    ]
    for i in range(len(times)):
        out.append(f"{times[i]:.10f}\t" + "\t".join(f"{v:.10f}" for v in values[i]))
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp:
        Path(tmp).write_text("\n".join(out) + "\n", encoding="utf-8")
    return p


write_sto = write_mot
read_sto = read_mot


def read_marker_map(path: str | os.PathLike) -> dict[str, str]:
    """A marker-name map: one ``data_label model_marker`` pair per line (spaces, tabs, ``,``,
    ``=`` or ``->`` between; ``#`` comments), or a JSON object {data_label: model_marker}."""
    import json  # noqa: PLC0415

    p = Path(path)
    if not p.is_file():
        raise OdahgenError(f"{p}: marker map file not found")
    text = p.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        try:
            m = json.loads(text)
        except json.JSONDecodeError as err:
            raise OdahgenError(f"{p}: invalid JSON marker map ({err.msg} at line {err.lineno})") from err
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in m.items()):
            raise OdahgenError(f"{p}: marker map values must be strings")
        return dict(m)
    out: dict[str, str] = {}
    for k, ln in enumerate(text.splitlines()):
        s = ln.split("#", 1)[0].strip()
        if not s:
            continue
        toks = [t for t in re.split(r"\s*(?:->|=|,|\t| )\s*", s) if t]
        if len(toks) != 2:
            raise OdahgenError(f"{p}: line {k + 1}: expected 'data_label model_marker', got {s!r}")
        out[toks[0]] = toks[1]
    return out
