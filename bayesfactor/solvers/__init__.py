"""Alternating-MAP fitting: the public fit, its pieces and the block updates it chooses."""

from bayesfactor.result import Status as Status
from bayesfactor.solvers._loop import SolverState as SolverState
from bayesfactor.solvers.fit import fit as fit
from bayesfactor.solvers.updates import (
    describe_update as describe_update,
    select_update as select_update,
)

__all__ = ["fit", "Status", "SolverState", "describe_update", "select_update"]
