r"""Model comparison and assessment: cross-validation, ensembles, similarity.

Held-out data are a **mask**: a fold is a boolean array of ``X``'s shape (True =
held out), and the fit of a fold is ``bf.fit(model, X, mask=observed & ~heldout)``
(same shapes, new mask), so the fits of all folds, restarts and ranks run batched in
one compiled program (:func:`bayesfactor.solvers.sweep.fit_sweep`).
Held-out entries never reach the objective (they are zeroed and masked before
anything is compiled); they are scored afterwards by the likelihood's own
per-entry log-likelihood and by an error suited to the likelihood:

=====================  =============================================  ==================
likelihood             error (mean over scored entries)               better
=====================  =============================================  ==================
Gaussian, Laplace      ``mse``: :math:`(x - \mu)^2`                   lower
Poisson                ``deviance``: :math:`2(x\log(x/\mu) - x + \mu)`  lower
Bernoulli              ``accuracy``: :math:`[\,[\mu > 1/2] = x\,]`    higher
VonMises               ``circular_error``: :math:`1 - \cos(x - \mu)`  lower
=====================  =============================================  ==================

where :math:`\mu` is the fitted mean (``FitResult.predict()``). Each likelihood
declares its error (``error_name``, ``error``, ``error_higher_is_better``); one that
declares none is scored by squared error.

References
----------
.. [1] Wold (1978), "Cross-validatory estimation of the number of components in
   factor and principal components models", Technometrics 20(4) (speckled holdout).
.. [2] Williams et al. (2018), "Unsupervised discovery of demixed, low-dimensional
   neural dynamics across multiple timescales through tensor component analysis",
   Neuron 98(6), doi:10.1016/j.neuron.2018.05.015 (ensembles, similarity, tensortools).

Modules: ``score`` (:func:`score`, the errors), ``holdout`` (:func:`holdout_masks`),
``batch`` (argument checks and warnings of many fits), ``cv``
(:func:`cross_validate`), ``ensemble`` (:func:`fit_ensemble`, :class:`Ensemble`,
:func:`similarity`) and ``loo`` (:func:`compare`).
"""

from bayesfactor.selection.cv import cross_validate
from bayesfactor.selection.ensemble import Ensemble, fit_ensemble, similarity
from bayesfactor.selection.holdout import SCHEMES, holdout_masks
from bayesfactor.selection.loo import compare
from bayesfactor.selection.score import score

__all__ = [
    "similarity",
    "cross_validate",
    "holdout_masks",
    "score",
    "fit_ensemble",
    "Ensemble",
    "SCHEMES",
    "compare",
]
