r"""Posterior sampling: the model as a numpyro program, NUTS from the MAP, Laplace.

The same declaration that :func:`bayesfactor.fit` maximises defines the posterior

.. math::
    p(F_1, \dots, F_N \mid X) \propto \prod_{i \in \Omega} p(X_i \mid \eta_i)
    \prod_k p_k(F_k), \qquad
    \eta = \textstyle\sum_r F_1[:, r] \circ \cdots \circ F_N[:, r]

:func:`numpyro_model` writes it as a numpyro program (each prior's own
``log_prob`` is the prior density; each likelihood's numpyro ``distribution`` is
the data density), :func:`sample` runs NUTS from the MAP and :func:`laplace`
draws from a Gaussian approximation at the MAP. Both return
``arviz.InferenceData`` with the same layout, after :func:`align` has aligned
the draws to the MAP (label switching, signs and scales). Only
:mod:`bayesfactor.sampling.idata` imports ArviZ (lazily: importing ArviZ takes
seconds, and ``import bayesfactor`` should not).

Modules: ``program`` (the numpyro program), ``checks`` (arguments and
identifiability warnings), ``nuts`` (:func:`sample`), ``laplace``
(:func:`laplace`), ``pointwise`` (functions of every draw, in batches), ``idata``
(building the ``InferenceData``) and ``draws`` (reading it:
:func:`factor_draws`, :func:`predictive_interval`).

Identifiability
---------------
:math:`\eta` is unchanged when components are permuted, when two modes of one
component change sign together, and when one mode is scaled by :math:`c` and
another by :math:`1/c`. Permutations and sign flips are exact symmetries of the
posterior for the priors here, so draws are aligned to the MAP before summaries
(:func:`align`, :mod:`bayesfactor.alignment`). The scale between modes is held only
by the priors (and the Jacobian of the sampler's ``log F`` scale), so the posterior
of one mode alone sits on another scale than the MAP's (for KL-NMF of spike trains,
posterior medians of :math:`\sum_t V_{tr}` at 40-50 % of the MAP's): every draw's
components are rescaled between the modes to the MAP's column norms (their product,
and so :math:`\eta`, unchanged), so that the ``posterior`` group's ``F{k}`` and any
band or interval computed from them are on the MAP's scale. For a matrix whose
priors are all rotation invariant (``Flat``, ``Normal``, real ``Smooth``) and
``rank >= 2``, :math:`(U Q, V Q)` has the same
posterior for every orthogonal :math:`Q`, whatever the likelihood: single
components are then not identified (only the subspace and :math:`\eta` are), and
:func:`sample` warns (:class:`IdentifiabilityWarning`). Improper flat priors
(``Flat``, ``NonNegative``) on every mode leave the scale :math:`(U c, V / c)`
free: the posterior is improper, and :func:`sample` warns and suggests
``Normal`` priors.

Modes held fixed (``fixed=(k,)``, at their ``init`` values, as in
:func:`bayesfactor.fit`) are constants of the program: the draws are from the
conditional posterior of the free modes, which are the only variables of the
``posterior`` group (the fixed factors are in ``constant_data``). A fixed mode
breaks the symmetries that would move it (the permutation, the rotation of a
matrix, the scale between it and another mode), so these warnings consider the
free modes only.
"""

from bayesfactor.alignment import align
from bayesfactor.result import IdentifiabilityWarning
from bayesfactor.sampling.draws import factor_draws, predictive_interval
from bayesfactor.sampling.laplace import MAX_LAPLACE_PARAMETERS, laplace
from bayesfactor.sampling.nuts import INIT_RADIUS, sample
from bayesfactor.sampling.program import numpyro_model

__all__ = [
    "sample",
    "laplace",
    "predictive_interval",
    "factor_draws",
    "align",
    "numpyro_model",
    "IdentifiabilityWarning",
    "MAX_LAPLACE_PARAMETERS",
    "INIT_RADIUS",
]
