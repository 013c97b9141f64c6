# %% [markdown]
# # The tutorial's exercise: NMF of a neural recording, step by step
#
# The lecture's assessment workflow on real data (songbird HVC calcium activity,
# Mackevicius et al. 2019, bundled): sweep the rank of an NMF
#
# $$\min_{W \ge 0,\ H \ge 0} \tfrac12 \|X - W H^\top\|_F^2
# \quad\Longleftrightarrow\quad
# X_{nt} \sim \mathcal N\big((W H^\top)_{nt}, 1\big),\ W, H \text{ flat on } [0, \infty),$$
#
# with several restarts per rank, plot the error against the truncated-SVD bound,
# look at the sorted factors, compare the rank-4 and rank-5 solutions, and compare
# with PCA (the same likelihood with flat real priors).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import bayesfactor as bf

FAST = os.environ.get("BAYESFACTOR_FAST") == "1"  # CI sets this
ranks = [1, 2, 4, 5] if FAST else list(range(1, 11))
restarts = 2 if FAST else 6
max_iter = 150 if FAST else 1000

# %% [markdown]
# ## Data: neurons × time
#
# 75 neurons, 666 frames at 30 Hz, summed into 100-ms bins (3 frames).

# %%
bird = bf.datasets.load_songbird()
frames = bird.neural.to_numpy()
n_bins = frames.shape[1] // 3
X = frames[:, : 3 * n_bins].reshape(frames.shape[0], n_bins, 3).sum(axis=2)
print("X:", X.shape)

# %% [markdown]
# ## Rank sweep: every restart kept
#
# `bf.fit_ensemble` fits every rank from several random starts and keeps every run.
# The error plot shows one dot per run and the Eckart–Young bound: no rank-$r$
# matrix, non-negative or not, can do better than the truncated SVD.

# %%
nmf = bf.Model(bf.Gaussian(), rank=1, priors=bf.NonNegative())
ensemble = bf.fit_ensemble(nmf, X, ranks=ranks, restarts=restarts, max_iter=max_iter, key=0)
print(ensemble)
fig = bf.plot.error(ensemble)
plt.show()

# %% [markdown]
# The similarity of every restart to the best run of its rank (1 = the same components
# up to order and scale): where it drops, the optimum is no longer unique and the
# components of a single fit should not be over-interpreted.

# %%
fig = bf.plot.similarity(ensemble)
plt.show()

# %% [markdown]
# ## Sorted factors at rank 4
#
# Neurons are grouped by the component they load on most (as in the tensortools
# tutorial); each component's neuron and time factors have equal norms.

# %%
best4 = ensemble.best(4)
fig = bf.plot.factors(best4, kinds=["bar", "line"])
plt.show()

# %% [markdown]
# ## Rank 4 vs rank 5
#
# Matching the rank-4 components into the rank-5 ones (Hungarian matching on
# normalised factors, `bf.similarity`) shows which components persist and which one
# the extra component splits or adds.

# %%
best5 = ensemble.best(5)
print("similarity(rank 4, rank 5) =", round(bf.similarity(best4, best5), 3))


def unit(f):
    return f / np.maximum(np.linalg.norm(f, axis=0), 1e-12)


# Per-pair similarity: product over modes of |cosine| between components.
pair = np.abs(unit(best4.factors[0]).T @ unit(best5.factors[0])) * np.abs(
    unit(best4.factors[1]).T @ unit(best5.factors[1])
)
for r4, row in enumerate(pair):
    r5 = int(np.argmax(row))
    print(f"rank-4 component {r4} -> rank-5 component {r5} (similarity {row[r5]:.2f})")
unmatched = sorted(set(range(5)) - {int(np.argmax(row)) for row in pair})
print("rank-5 components without a rank-4 partner:", unmatched)

# %% [markdown]
# ## PCA: the same likelihood, real-valued factors
#
# PCA's error is the Eckart–Young bound itself (lower than NMF's at every rank), but its
# components are only defined up to a rotation: $(U Q, V Q)$ fits equally well for any
# orthogonal $Q$. Restarts of a flat-prior fit land on different rotations, so their
# similarity is low even though their errors agree — the "rotation problem" that
# non-negativity (or sparsity) removes.

# %%
pca = bf.Model(bf.Gaussian(), rank=4, priors=bf.Flat())
pca_runs = [bf.fit(pca, X, key=k, max_iter=max_iter) for k in range(2)]
mse = [float(np.mean((X - r.predict()) ** 2)) for r in pca_runs]
nmf_mse = float(np.mean((X - best4.predict()) ** 2))
print("rank-4 mean squared error: PCA", [round(m, 4) for m in mse], "NMF", round(nmf_mse, 4))
print("similarity of two PCA restarts:", round(bf.similarity(*pca_runs), 3))
print("similarity PCA vs NMF:", round(bf.similarity(pca_runs[0], best4), 3))
print("negative entries in the PCA neuron factor:", int((pca_runs[0].factors[0] < 0).sum()))

# %%
fig = bf.plot.factors(pca_runs[0], kinds=["bar", "line"])
plt.show()

# %% [markdown]
# ## Sparse PCA: an L1 prior removes the rotation too
#
# A Laplace prior on the neuron factor, $p(W) \propto \exp(-\|W\|_1 / s)$, keeps
# real-valued components but prefers few neurons per component: the rotation that
# spreads loadings over all neurons now costs prior mass, so restarts agree and many
# loadings are exactly zero. Two details make the prior mean something: the time
# factors get a proper `Normal` prior (with a flat one, shrinking $W$ and growing $H$
# would make any L1 penalty vanish), and the Gaussian scale is set near the noise level
# (about 0.15 here), since the prior's strength is relative to it.

# %%
sparse = bf.Model(bf.Gaussian(0.15), rank=4, priors=(bf.Laplace(0.05), bf.Normal(1.0)))
sparse_runs = [bf.fit(sparse, X, key=k, max_iter=max_iter) for k in range(2)]
zeros = float(np.mean(sparse_runs[0].factors[0] == 0))
print(f"sparse PCA: {100 * zeros:.0f} % of neuron loadings exactly 0")
print("similarity of two sparse-PCA restarts:", round(bf.similarity(*sparse_runs), 3))
print(
    "rank-4 mean squared error: sparse PCA",
    round(float(np.mean((X - sparse_runs[0].predict()) ** 2)), 4),
)
