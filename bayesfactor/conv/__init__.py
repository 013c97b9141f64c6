r"""Convolutional factorization (convolutional NMF / seqNMF) and its tooling.

Data :math:`X` (neurons :math:`N` × time :math:`T`) is explained by ``rank``
sequences, each an exemplar :math:`W_{:, :, k}` (neurons × ``lags``) played at the
times given by its timecourse :math:`H_{:, k}`:

.. math::
    \eta_{nt} = \sum_{l=0}^{L-1} \sum_k W_{nlk} H_{t-l,k}
    \qquad (H_{t-l,k} = 0 \text{ for } t < l)

With ``lags=1`` this is :math:`W H^\top`, the ordinary NMF. The MAP objective is the
negative log posterior plus, optionally, seqNMF's cross-orthogonality penalty
(Mackevicius et al. 2019)

.. math::
    \lambda \, \big\| (W \mathbin{\bar\circledast} X)\, S\, H \big\|_{1, i \ne j},
    \qquad (W \mathbin{\bar\circledast} X)_{tk} = \sum_{n,l} W_{nlk} X_{n,t+l},

where :math:`S` sums over a window of :math:`2L - 1` frames around each time:
components that overlap in time *and* in their neurons' activity are penalised.

Factors follow the library's "rank last" convention: ``W`` has shape
``(N, lags, rank)`` and ``H`` has shape ``(T, rank)``. Fit with :func:`bayesfactor.fit`.

References
----------
.. [1] Smaragdis (2004), "Non-negative matrix factor deconvolution",
   doi:10.1007/978-3-540-30110-3_63.
.. [2] Mackevicius, Bahle, Williams et al. (2019), "Unsupervised discovery of
   temporal sequences in high-dimensional datasets, with applications to
   neuroscience", eLife 8:e38471, doi:10.7554/eLife.38471.

Modules: ``model`` (:class:`ConvModel`, :func:`conv_product` and the lag algebra)
and ``tooling`` (:func:`sort_factors`, :func:`factor_power`, :func:`significance`).
"""

from bayesfactor.conv.model import ConvModel, conv_product
from bayesfactor.conv.tooling import Significance, factor_power, significance, sort_factors

__all__ = [
    "ConvModel",
    "conv_product",
    "sort_factors",
    "factor_power",
    "significance",
    "Significance",
]
