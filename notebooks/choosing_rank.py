# %% [markdown]
# # Choosing the rank (and the prior) of an NMF of neural activity
#
# Deconvolved calcium activity of 75 HVC neurons in a singing zebra finch (the seqNMF
# example data, Mackevicius et al. 2019), a non-negative matrix $X$ (neurons $\times$
# frames). The model is NMF as MAP inference,
#
# $$
# X_{nt} \sim \mathcal N\Big(\sum_{r=1}^R W_{nr} H_{tr},\ \sigma^2\Big), \qquad
# W, H \ge 0 ,
# $$
#
# and, for the prior sweep, sparse NMF with $W_{nr} \sim \operatorname{Exponential}(\lambda)$
# (an $L_1$ penalty $\lambda \sum |W_{nr}|$ on the neurons' loadings).
#
# Three tools answer "how many components?":
#
# 1. **cross-validation** (`bf.cross_validate`): fit to most entries, score the held-out
#    ones. Training error always falls with $R$; held-out error stops falling (or rises)
#    once extra components fit noise. Holding out *entries* (speckled, Wold 1978) keeps
#    every row and column in the fit, so this works for factor models.
# 2. **stability** (`bf.fit_ensemble`): at a good rank, random restarts find the same
#    components (similarity near 1).
# 3. **prior strength**: at a fixed rank, the same held-out score compares priors.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import bayesfactor as bf

FAST = os.environ.get("BAYESFACTOR_FAST") == "1"  # CI sets this
ranks = [1, 4] if FAST else list(range(1, 9))
max_iter = 100 if FAST else 1000
folds = 1 if FAST else 5
restarts = 2 if FAST else 8

# %% [markdown]
# ## Data
#
# The recording is 666 frames at 30 Hz of sparse, spiky events (most entries are 0).
# Summing 3 frames (10 Hz bins) makes neurons that fire together within 0.1 s share a
# bin, which is what a product $W H^\top$ can express.

# %%
bird = bf.datasets.load_songbird()
frames = bird.neural.to_numpy()
n_bins = frames.shape[1] // 3
neural = frames[:, : 3 * n_bins].reshape(frames.shape[0], n_bins, 3).sum(axis=2)
print(neural.shape, "fraction of zeros:", round(float((neural == 0).mean()), 2))

fig, ax = plt.subplots(figsize=(7, 2.8), layout="constrained")
ax.imshow(neural, aspect="auto", cmap="gray_r", interpolation="nearest")
ax.set_xlabel("100-ms bin")
ax.set_ylabel("neuron")
plt.show()
plt.close(fig)

# %% [markdown]
# ## Cross-validation over ranks
#
# `holdout=0.2, folds=5` is 5-fold cross-validation over the entries (each held out
# once). Every rank compiles one program, reused by all folds. The table has one row per
# fit.

# %%
nmf = bf.Model(bf.Gaussian(), rank=1, priors=bf.NonNegative())
table = bf.cross_validate(
    nmf,
    neural,
    ranks=ranks,
    holdout=0.2,
    folds=folds,
    restarts=restarts,
    key=0,
    max_iter=max_iter,
    tol=1e-5,
)
print(table[["rank", "fold", "train_mse", "test_mse", "converged"]].round(5).to_string())

# %% [markdown]
# `bf.plot.error` draws train and test error per rank, with the Eckart–Young bound: the
# least training error of *any* rank-$R$ matrix (truncated SVD), which NMF can approach
# but not beat.

# %%
fig = bf.plot.error(table)
plt.show()
plt.close(fig)

mean_test = table.groupby("rank")["test_mse"].mean()
best_rank = int(mean_test.idxmin())
print("held-out MSE by rank:\n", mean_test.round(5).to_string())
print("rank with the least held-out error:", best_rank)

# %% [markdown]
# ## Stability of the components across restarts
#
# `bf.fit_ensemble` keeps every restart of every rank, fitted to all the data.
# `bf.similarity` matches components between two fits (Hungarian assignment on the
# product of the modes' cosines, so it ignores permutation and scale); `bf.plot.similarity`
# shows every run's similarity to the best run of its rank.

# %%
ensemble = bf.fit_ensemble(
    nmf,
    neural,
    ranks=ranks[1:] if FAST else ranks,
    restarts=3 if FAST else 10,
    key=1,
    max_iter=max_iter,
    tol=1e-5,
)
print(ensemble)
fig = bf.plot.similarity(ensemble)
plt.show()
plt.close(fig)

# %% [markdown]
# The factors of the best run at the largest rank: neurons (sorted by their largest
# component) and the time courses. Sequences of neurons firing in turn show up as
# blocks of neurons sharing a component.

# %%
fig = bf.plot.factors(ensemble.best(ranks[-1]), kinds=["bar", "line"])
plt.show()
plt.close(fig)

# %% [markdown]
# ## A prior-strength sweep: sparse NMF
#
# Flat NMF overfits at high rank: the held-out error climbs. A prior can rein in the
# extra components instead of dropping them. Here an exponential prior on *both*
# factors, $W_{nr}, H_{tr} \sim \operatorname{Exponential}(\lambda)$, at the largest
# rank. A dict of models is a sweep: each label is one model, all at the same rank. The
# prior's numbers are traced, so every $\lambda$ reuses one compiled program. With a
# single rank, `bf.plot.error` puts the labels (here $\lambda$) on the x axis.
#
# (The penalty is relative to the Gaussian's `scale`, $\sigma = 1$ here: the MAP
# minimises $\frac{1}{2\sigma^2}\|X - W H^\top\|^2 + \lambda (\|W\|_1 + \|H\|_1)$.)

# %%
lams = [0.01, 0.3, 1.0] if FAST else [0.001, 0.01, 0.1, 0.3, 1.0, 3.0]
sweep = {lam: bf.Model(bf.Gaussian(), rank=ranks[-1], priors=bf.Exponential(lam)) for lam in lams}
prior_table = bf.cross_validate(
    sweep,
    neural,
    holdout=0.2,
    folds=folds,
    restarts=restarts,
    key=0,
    max_iter=max_iter,
    tol=1e-5,
)
print(prior_table[["model", "fold", "train_mse", "test_mse"]].round(5).to_string())
fig = bf.plot.error(prior_table)
plt.show()
plt.close(fig)

# %% [markdown]
# Stronger priors shrink more loadings to exactly zero (sparser neuron groups, and
# components switched off entirely); the held-out error says how much sparsity the
# data support.

# %%
for lam, model in sweep.items():
    fit = bf.fit(model, neural, key=0, restarts=restarts, max_iter=max_iter, tol=1e-5)
    w = fit.factors[0]
    print(
        f"lambda={lam:g}: zero loadings {np.mean(w == 0):.2f}, "
        f"components in use {int((np.abs(w).sum(0) > 0).sum())} of {model.rank}"
    )
