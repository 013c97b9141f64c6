r"""Saving and loading fits: one netCDF file per :class:`~bayesfactor.FitResult`.

A saved fit is an ``xarray.Dataset`` written with the ``h5netcdf`` engine:

=======================  =================================================================
``F0``, ``F1``, ...      the factors, dims ``(<mode dim>, "component")`` (a ConvModel's
                         W: ``(<mode dim>, "lag", "component")``), with the data's
                         labels as coordinates where it had them
``intercept0``, ...      the intercepts of the modes in ``model.intercepts``
``model_array0``, ...    arrays the model holds (an Offset's offset, a Blocks' assignment),
                         referred to by the declaration as ``{"array": i}``
``history``              the objective after each iteration, NaN where not evaluated
                         (dim ``iteration``)
``restart_objectives``   the final objective of every restart (dim ``restart``)
attributes               the model declaration (JSON), objective, n_iter, converged,
                         the container kind, the bayesfactor version
=======================  =================================================================

The model is stored as a declaration (class names and their numbers), not as
pickled code, so a file is readable by any later bayesfactor and loading one runs
no code from it: only the classes of :mod:`bayesfactor.likelihoods`,
:mod:`bayesfactor.priors` and :class:`bayesfactor.Model` can be named.

Files are written atomically: to a temporary file in the target folder, then
renamed over the target (``os.replace``), so an interrupted save (an exception,
Ctrl-C, SIGTERM) leaves any old file intact and no partial file behind; the
temporaries of a killed save are removed by the next save to the same place. A new
file gets the permissions of the umask (an existing one keeps its own), and a
symlink is followed, as ``cp`` and editors do.

Files are treated as coming from strangers. :func:`bayesfactor.load` reads only the
bayesfactor format: before any data are read it refuses HDF5 external storage,
external, soft and virtual links (which would make it read other files), checks
every dataset's size from the file's own metadata against ``max_bytes`` and its
shape against the declared model, and limits the declaration's nesting; after
reading it checks the contents (finite floating factors, consistent attributes)
and a SHA-256 digest of everything saved, so that a corrupted file is refused, not
loaded as NaN factors. Every refusal is a ``ValueError`` naming the file.
"""

from bayesfactor.io.atomic import STALE_S, atomic_write
from bayesfactor.io.hdf5 import MAX_BYTES, check_hdf5
from bayesfactor.io.netcdf import read, save
from bayesfactor.io.spec import MAX_DEPTH, from_spec, to_spec

__all__ = [
    "save",
    "read",
    "to_spec",
    "from_spec",
    "atomic_write",
    "check_hdf5",
    "MAX_BYTES",
    "MAX_DEPTH",
    "STALE_S",
]
