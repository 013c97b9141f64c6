"""Checks of an HDF5 / netCDF4 file from a stranger, from its metadata alone."""

from __future__ import annotations

import math
import os

__all__ = ["check_hdf5", "MAX_BYTES"]

#: Most bytes of data :func:`bayesfactor.load` (and the CLI's ``.nc`` reader) read from one file
#: unless given ``max_bytes``: sizes come from the file's metadata, checked first.
MAX_BYTES = 2**30


def check_hdf5(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> dict[str, tuple]:
    """The ``(shape, dtype)`` of every dataset in an HDF5 / netCDF4 file, read from metadata.

    Nothing is read from the datasets themselves. Refused, with a ``ValueError``
    naming the file: a file that is not HDF5; external links, soft links and virtual
    datasets (which make a reader open other files); datasets stored in external
    raw files (which make it read any local file); data of more than ``max_bytes``
    in all (a small compressed file can expand to gigabytes).

    Examples
    --------
    >>> import tempfile, numpy as np, bayesfactor as bf
    >>> fit = bf.fit(bf.Model(bf.Gaussian(), 2, bf.Flat()), np.eye(4), max_iter=5)
    >>> path = fit.save(tempfile.mkdtemp() + "/fit.nc")
    >>> shape, dtype = check_hdf5(path)["F0"]
    >>> shape, dtype == np.float64
    ((4, 2), True)
    """
    import h5py

    where = repr(str(path))
    try:
        file = h5py.File(path, "r")
    except (OSError, RuntimeError) as err:
        raise ValueError(f"{where} is not an HDF5 / netCDF4 file: {err}") from None
    found: dict[str, tuple] = {}

    def visit(group, prefix):
        for name in group:  # iterating names resolves no link
            link = group.get(name, getlink=True)
            full = f"{prefix}{name}"
            if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
                kind = "an external" if isinstance(link, h5py.ExternalLink) else "a soft"
                raise ValueError(
                    f"{where} holds {kind} link {full!r}, which would read another "
                    "object or file; bayesfactor never writes links: refusing the file."
                )
            obj = group[name]
            if isinstance(obj, h5py.Group):
                visit(obj, full + "/")
                continue
            if obj.external or obj.is_virtual:
                raise ValueError(
                    f"{where} stores dataset {full!r} outside the file (external or virtual "
                    "storage), which would read other files; refusing the file."
                )
            found[full] = (obj.shape, obj.dtype)

    with file:
        try:
            visit(file, "")
        except (OSError, RuntimeError, KeyError) as err:  # damaged metadata
            raise ValueError(f"{where} is damaged: {type(err).__name__}: {err}") from None
    total = sum(math.prod(shape or ()) * dtype.itemsize for shape, dtype in found.values())
    if total > max_bytes:
        raise ValueError(
            f"{where} declares {total:,} bytes of data, more than max_bytes={max_bytes:,}; "
            "pass a larger max_bytes if the file is trusted and the memory is there."
        )
    return found
