# %% [markdown]
# # CP decomposition of a systems-serology tensor
#
# Antibody measurements of 438 COVID-19 serum samples against 6 SARS-CoV-2 antigens,
# read out by 11 antibody isotypes / Fc receptors (Zohar et al. 2020; Tan et al. 2021):
# a 3-way tensor $X_{ijk}$ (sample $\times$ antigen $\times$ receptor), standardised per
# (antigen, receptor). The CP model writes it as a sum of $R$ rank-one tensors,
#
# $$
# X_{ijk} \sim \mathcal N\Big(\sum_{r=1}^R A_{ir} B_{jr} C_{kr},\ \sigma^2\Big), \qquad
# A_{ir} \sim \mathcal N(0, 3^2), \quad B_{jr}, C_{kr} \sim \mathcal N^+(0, 3^2) ,
# $$

#
# with one prior per mode: the antigen and receptor profiles of a component are
# non-negative (a component is "this set of antibodies against these antigens"), and
# each sample's score $A_{ir}$ says, with its sign, whether it has more or less of
# that combination than average. Non-negativity also pins the components down: unlike a
# matrix, a CP model is already unique up to permutation and scale under mild
# conditions, and the constraint makes its fits more reproducible.
#
# The patients' disease status is never shown to the model; we look at it afterwards.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import bayesfactor as bf

FAST = os.environ.get("BAYESFACTOR_FAST") == "1"  # CI sets this
ranks = [2, 3] if FAST else [1, 2, 3, 4, 5, 6]
restarts = 3 if FAST else 10
max_iter = 150 if FAST else 2000

# %%
sero = bf.datasets.load_serology()
X = sero.data
status = X.status.to_numpy()
print(X.dims, X.shape)
print(X.status.to_series().value_counts().to_dict())

# %% [markdown]
# ## An ensemble of fits over ranks
#
# `bf.fit_ensemble` fits each rank from several random starts and keeps every run. Two
# things to read off per rank: how much of the variance the best fit explains, and
# whether the restarts agree (`bf.similarity`: components matched across the two fits,
# cosines multiplied over the modes, 1 = the same components).

# %%
model = bf.Model(
    bf.Gaussian(scale=0.5),
    rank=ranks[0],
    # Proper priors on every mode: a flat NonNegative() mode next to a Normal one would let
    # the fit shrink the sample scores and grow the profiles (bf.IdentifiabilityWarning).
    priors=(bf.Normal(3.0), bf.HalfNormal(3.0), bf.HalfNormal(3.0)),
)
ensemble = bf.fit_ensemble(model, X, ranks=ranks, restarts=restarts, key=0, max_iter=max_iter)
print(ensemble)

x = X.to_numpy()
explained = {
    r: 1 - np.mean((x - ensemble.best(r).predict().to_numpy()) ** 2) / np.var(x) for r in ranks
}
print("variance explained by the best fit:", {r: round(float(v), 3) for r, v in explained.items()})

fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
axes[0].plot(list(explained), list(explained.values()), "o-")
axes[0].set_xticks(ranks)
axes[0].set_xlabel("rank")
axes[0].set_ylabel("variance explained")
bf.plot.similarity(ensemble, ax=axes[1])
plt.show()
plt.close(fig)

# %% [markdown]
# `bf.similarity` also compares any two fits directly, e.g. the best and the worst
# restart at the chosen rank.

# %%
rank = 3
runs = sorted(ensemble.results[rank], key=lambda r: r.objective)
print(f"rank {rank}: objectives {runs[0].objective:.1f} .. {runs[-1].objective:.1f}")
print(f"similarity of best and worst restart: {bf.similarity(runs[0], runs[-1]):.3f}")

# %% [markdown]
# ## The components
#
# `bf.plot.factors` draws one row per component (largest first, each scaled to equal
# norm in every mode), one column per mode. It fixes each component's sign on every
# mode but the last, which absorbs it; so that the non-negative profiles stay
# non-negative we pass the factors with the real-valued sample mode last: antigens and
# receptors as bars, samples as dots (in their original order: negatives first, then
# by severity).

# %%
fit = ensemble.best(rank)
A, B, C = fit.factors
fig = bf.plot.factors(
    (B, C, A),
    kinds=["bar", "bar", "scatter"],
    sort=False,
    labels={0: X.antigen, 1: X.receptor},  # named on the ticks
    figsize=(10, 6),
)
for ax, title in zip(fig.axes[:3], ["antigen", "receptor", "sample"], strict=True):
    ax.set_title(title)
plt.show()
plt.close(fig)

# %% [markdown]
# ## Sample scores against disease status
#
# The sample factor $A$, one box per status group and component (in the fit's own
# order and sign, which may differ from the figure above). A component whose scores
# differ between negative (uninfected) and severe patients is a signature of the
# antibody response.

# %%
groups = ["Negative", "Mild", "Moderate", "Severe", "Deceased"]
fig, axes = plt.subplots(1, rank, figsize=(3 * rank, 3), sharey=True, layout="constrained")
for r, ax in enumerate(axes):
    ax.boxplot([A[status == g, r] for g in groups], showfliers=False)
    ax.set_xticks(range(1, len(groups) + 1), groups, rotation=45, fontsize=8)
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_title(f"component {r + 1}")
axes[0].set_ylabel("sample score $A_{ir}$")
plt.show()
plt.close(fig)

for r in range(rank):
    means = [A[status == g, r].mean() for g in groups]
    print(f"component {r + 1}: mean score by status", np.round(means, 2))

# %% [markdown]
# ## Per-mode priors matter: unconstrained CP for comparison
#
# The same rank with Normal priors on every mode (plain regularised CP): fewer
# constraints, so components may mix signs, and restarts may agree less.

# %%
free = bf.Model(bf.Gaussian(scale=0.5), rank=rank, priors=bf.Normal(3.0))
free_ens = bf.fit_ensemble(free, X, restarts=restarts, key=0, max_iter=max_iter)
free_sims = free_ens.similarities()["similarity"]
free_fit = free_ens.best(rank)
free_explained = 1 - np.mean((x - free_fit.predict().to_numpy()) ** 2) / np.var(x)
print(f"variance explained: non-negative {explained[rank]:.3f}, unconstrained {free_explained:.3f}")
print(
    "mean similarity of restarts to the best:",
    f"non-negative {ensemble.similarities().query('rank == @rank')['similarity'].mean():.3f},",
    f"unconstrained {free_sims.mean():.3f}",
)
print(f"similarity of the two best fits: {bf.similarity(fit, free_fit):.3f}")
