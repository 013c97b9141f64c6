"""k-means as a OneHot factorization against scikit-learn's KMeans (Lloyd) from the same start.

A warm start from given centres is used as given (the first step assigns the rows to
them), and an assignment that leaves a cluster empty re-seeds it at the row farthest
from its own centre, as scikit-learn does.
"""

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

import bayesfactor as bf

KMEANS = bf.Model(bf.Gaussian(), 4, (bf.OneHot(), bf.Flat()))


def lloyd(x, centres):
    """scikit-learn's Lloyd k-means from ``centres`` (K x d), run to its strict convergence."""
    return KMeans(len(centres), init=centres, n_init=1, algorithm="lloyd", tol=0).fit(x)


def fitted(x, centres, **kwargs):
    """Our fit from ``centres`` (K x d): labels, centres (K x d), inertia and the result."""
    result = bf.fit(KMEANS, x, init=(None, centres.T), **kwargs)
    u, v = result.factors
    assert set(np.unique(u)) == {0.0, 1.0} and (u.sum(1) == 1).all()
    return u.argmax(1), v.T, np.sum((x - u @ v.T) ** 2), result


@pytest.fixture
def blobs():
    x, _ = make_blobs(300, 5, centers=4, cluster_std=2.5, random_state=0)
    return x


def test_warm_start_from_given_centres_is_sklearn_lloyd(blobs):
    centres = blobs[np.random.default_rng(1).choice(len(blobs), 4, replace=False)]
    peer = lloyd(blobs, centres)
    labels, ours, inertia, _ = fitted(blobs, centres)
    # The same local optimum, clusters in the order of the given centres.
    np.testing.assert_array_equal(labels, peer.labels_)
    np.testing.assert_allclose(ours, peer.cluster_centers_, atol=1e-10)
    np.testing.assert_allclose(inertia, peer.inertia_, rtol=1e-8)


def test_start_at_the_optimum_stays_there(blobs):
    centres = blobs[np.random.default_rng(2).choice(len(blobs), 4, replace=False)]
    peer = lloyd(blobs, centres)
    labels, ours, inertia, result = fitted(blobs, peer.cluster_centers_)
    assert result.n_iter == 1 and result.converged
    np.testing.assert_array_equal(labels, peer.labels_)
    np.testing.assert_allclose(ours, peer.cluster_centers_, atol=1e-10)
    np.testing.assert_allclose(inertia, peer.inertia_, rtol=1e-8)


@pytest.fixture
def separated():
    """Four tight, well-separated blobs of 25 points in 4 dimensions."""
    rng = np.random.default_rng(0)
    means = 10.0 * np.eye(4)
    return np.concatenate([m + 0.5 * rng.standard_normal((25, 4)) for m in means])


def test_empty_cluster_is_reseeded_as_sklearn_does(separated):
    # Two centres in one blob, one in another, one far from all data: the first
    # assignment leaves that one empty, and two blobs share a centre.
    centres = np.stack([separated[0], separated[1], separated[30], np.full(4, 100.0)])
    peer = lloyd(separated, centres)
    labels, ours, inertia, _ = fitted(separated, centres)
    assert np.bincount(labels, minlength=4).min() > 0
    np.testing.assert_array_equal(labels, peer.labels_)
    np.testing.assert_allclose(ours, peer.cluster_centers_, atol=1e-10)
    np.testing.assert_allclose(inertia, peer.inertia_, rtol=1e-8)
    # Every blob its own cluster: the optimum.
    best = KMeans(4, n_init=10, random_state=0).fit(separated).inertia_
    np.testing.assert_allclose(inertia, best, rtol=1e-8)


@pytest.mark.parametrize("key", range(5))
def test_no_cluster_ends_empty(key):
    # Few distinct rows (duplicates), K equal to their number, and random starts.
    rng = np.random.default_rng(key)
    distinct = rng.normal(size=(4, 4))
    x = distinct[rng.integers(0, 4, size=40)]
    x[:4] = distinct  # every distinct row present
    result = bf.fit(KMEANS, x, key=key)
    counts = result.factors[0].sum(0)
    assert counts.min() > 0, counts
    np.testing.assert_allclose(result.predict(), x, atol=1e-12)


def test_empty_cluster_is_reseeded_for_another_likelihood():
    # Poisson counts: the per-row energy is the distance. A centre far above the data
    # is left empty by the first assignment and re-seeded.
    rng = np.random.default_rng(0)
    rates = 10.0 + 30.0 * np.eye(3)  # no zero counts, which a centre could not leave
    x = rng.poisson(np.repeat(rates, 20, axis=0)).astype(float)
    assert x.min() > 0
    model = bf.Model(bf.Poisson(link="identity"), 3, (bf.OneHot(), bf.NonNegative()))
    centres = np.stack([rates[0], rates[0] + 0.1, np.full(3, 1e3)])
    result = bf.fit(model, x, init=(None, centres.T))
    labels = result.factors[0].argmax(1)
    assert np.bincount(labels, minlength=3).min() > 0
    # Each planted group its own cluster.
    assert all(len(set(labels[i : i + 20])) == 1 for i in range(0, 60, 20))


def test_assignment_to_fixed_centres_keeps_empty_clusters(separated):
    # Every other mode fixed: the rows are assigned, no cluster re-seeded.
    centres = np.stack([separated[0], separated[30], separated[60], np.full(4, 100.0)])
    result = bf.fit(KMEANS, separated, init=(None, centres.T), fixed=(1,))
    labels = result.factors[0].argmax(1)
    expected = ((separated[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(labels, expected)
    assert (labels != 3).all()
