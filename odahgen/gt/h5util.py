"""Small HDF5 helpers shared by the trial schema modules (:mod:`odahgen.gt.schema`,
:mod:`odahgen.gt.schema_dense`): compressed array datasets, string lists, shape checks."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

_STR = h5py.string_dtype(encoding="utf-8")
_GZIP = 4


def _dataset(group: h5py.Group, name: str, data: Any, unit: str = "", dtype=None) -> h5py.Dataset:
    """Write an array; arrays with >= 64 elements are chunked (along the first axis) and
    gzip-compressed with the shuffle filter."""
    arr = np.asarray(data, dtype=dtype)
    kwargs: dict[str, Any] = {}
    if arr.ndim >= 1 and arr.size >= 64 and arr.dtype.kind in "biuf":
        chunk = list(arr.shape)
        row = max(1, int(np.prod(arr.shape[1:])))
        chunk[0] = max(1, min(arr.shape[0], (1 << 16) // (row * arr.dtype.itemsize) or 1))
        kwargs = dict(chunks=tuple(chunk), compression="gzip", compression_opts=_GZIP, shuffle=True)
    ds = group.create_dataset(name, data=arr, **kwargs)
    if unit:
        ds.attrs["unit"] = unit
    return ds


def _strings(group: h5py.Group, name: str, values) -> None:
    group.create_dataset(name, data=np.array([str(v) for v in values], dtype=object), dtype=_STR)


def _shape_problem(name: str, arr: Any, shape: tuple) -> str | None:
    a = np.asarray(arr)
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        return f"{name} has shape {a.shape}, expected {want}"
    return None


def _str_list(ds: h5py.Dataset) -> list[str]:
    return [str(x) for x in ds.asstr()[()]]

