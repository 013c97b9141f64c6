# %% [markdown]
# # Logistic PCA of the 1984 House votes
#
# 435 representatives $\times$ 16 key votes, $X_{ij} = 1$ for yea, $0$ for nay, and
# missing (NaN) where a representative did not vote clearly (5.6 % of entries). Logistic
# PCA models each vote as a coin flip whose log-odds are low rank,
#
# $$
# X_{ij} \sim \operatorname{Bernoulli}\big(\sigma(\eta_{ij})\big), \qquad
# \eta_{ij} = \sum_{r=1}^R U_{ir} V_{jr}, \qquad
# U_{ir}, V_{jr} \sim \mathcal N(0, s^2),
# $$
#
# with $\sigma(\eta) = 1 / (1 + e^{-\eta})$. Rows of $U$ place representatives in an
# $R$-dimensional "ideal point" space, rows of $V$ place the bills. Missing votes simply
# drop out of the likelihood, $\sum_{(i,j) \in \Omega} \log p(X_{ij} \mid \eta_{ij})$, and the
# fit predicts them. The Normal prior keeps $\eta$ finite when a representative's votes
# are perfectly separable (otherwise the MAP would run off to infinity).
#
# Party is not given to the model: we check afterwards whether the 2-D representation
# separates Democrats from Republicans.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import bayesfactor as bf

FAST = os.environ.get("BAYESFACTOR_FAST") == "1"  # CI sets this
max_iter, restarts = (150, 2) if FAST else (2000, 8)

# %%
votes = bf.datasets.load_house_votes()
X = votes.data
party = votes.party.to_numpy()
print(X.shape, "missing:", int(X.isna().to_numpy().sum()))
print(votes.party.value_counts().to_dict())

# %% [markdown]
# ## Fit: rank 2, Normal(2) priors
#
# Each block update is a per-row solve on the curvature bound $1/4$ of the logistic
# log-likelihood (majorize-minimize), so the objective decreases monotonically.

# %%
model = bf.Model(bf.Bernoulli(), rank=2, priors=bf.Normal(2.0))
fit = bf.fit(model, X, key=0, restarts=restarts, max_iter=max_iter, tol=1e-6)
print(fit)

# %% [markdown]
# ## Party separation in the representatives' factor
#
# With Normal priors on both modes the posterior is invariant under rotations
# $(UQ, VQ)$, so the two axes are not individually meaningful (only the plane is); the
# parties still fall apart in it.

# %%
U, V = fit.factors
fig, ax = plt.subplots(figsize=(4.5, 4), layout="constrained")
for name, color in [("democrat", "tab:blue"), ("republican", "tab:red")]:
    rows = party == name
    ax.scatter(U[rows, 0], U[rows, 1], s=8, alpha=0.6, color=color, label=name)
ax.set_xlabel("$U_{:,1}$")
ax.set_ylabel("$U_{:,2}$")
ax.set_title("representatives (logistic PCA, rank 2)")
ax.legend(frameon=False)
plt.show()
plt.close(fig)

# %% [markdown]
# The same factors component by component with `bf.plot.factors`: representatives as
# dots coloured by party (`color_by`, with the colour key), sorted by the component they
# load on most; the bills as bars named by the DataFrame's columns.

# %%
fig = bf.plot.factors(fit, color_by={0: party})
plt.show()
plt.close(fig)

# %% [markdown]
# How well does the representation alone tell the parties apart? Project onto the line
# joining the two party centroids and split at the midpoint (a crude linear rule; the
# model never saw the labels).

# %%
dem, rep = U[party == "democrat"].mean(0), U[party == "republican"].mean(0)
proj = (U - (dem + rep) / 2) @ (rep - dem)
agreement = np.mean((proj > 0) == (party == "republican"))
print(f"party recovered from the 2-D factor: {agreement:.1%} of representatives")

# %% [markdown]
# The bills in the same plane: each row of $V$ is a direction; a representative votes
# yea with probability $\sigma(U_i \cdot V_j)$, so bills pointing towards a party's
# cluster are that party's.

# %%
fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
ax.scatter(V[:, 0], V[:, 1], s=12, color="k")
for j, name in enumerate(X.columns):
    ax.annotate(name, V[j], fontsize=6, alpha=0.8)
ax.axhline(0, color="0.8", lw=0.5)
ax.axvline(0, color="0.8", lw=0.5)
ax.set_title("bills ($V$)")
plt.show()
plt.close(fig)

# %% [markdown]
# ## Imputed missing votes
#
# `fit.predict()` is $E[X] = \sigma(\eta)$, the probability of a yea, for every entry,
# missing ones included. Rounding it imputes the missing votes.

# %%
prob = fit.predict()  # a DataFrame, with the input's labels
missing = X.isna().to_numpy()
imputed = X.where(~missing, (prob > 0.5).astype(float))
print("imputed yeas among missing votes:", f"{imputed.to_numpy()[missing].mean():.2f}")
print("how sure the imputations are (median max(p, 1 - p)):", end=" ")
print(f"{np.median(np.maximum(prob.to_numpy(), 1 - prob.to_numpy())[missing]):.2f}")

# %% [markdown]
# ## Held-out accuracy
#
# To check the imputations, hide 10 % of the *observed* votes (`bf.holdout_masks`),
# fit to the rest (`mask=` marks what the fit may see), and predict the hidden ones.
# Baselines: each bill's majority vote among the training entries, and (using the
# labels the model never sees) each bill's majority within the representative's party.
#
# A few representatives voted clearly on almost nothing (one on no bill, one on a single
# bill): hiding their only vote would leave their row of $U$ with no data, which
# `bf.holdout_masks` refuses. They are left out of the held-out evaluation: `mask=`
# keeps only representatives with at least 5 clear votes.

# %%
voters = (X.notna().sum(axis=1) >= 5).to_numpy()
scored = voters[:, None] & ~missing  # mask must be False on NaN entries
print("representatives scored:", int(voters.sum()), "of", X.shape[0])
test = bf.holdout_masks(X, 0.1, key=1, mask=scored)[0]
train = ~test & ~missing
held = bf.fit(model, X, mask=train, key=0, restarts=restarts, max_iter=max_iter, tol=1e-6)
x = X.to_numpy()
p_test = held.predict().to_numpy()[test]
accuracy = np.mean((p_test > 0.5) == (x[test] == 1))
majority = np.nanmean(np.where(train, x, np.nan), axis=0) > 0.5
baseline = np.mean(np.broadcast_to(majority, x.shape)[test] == (x[test] == 1))
by_party = np.zeros_like(x)
for name in ("democrat", "republican"):
    rows = party == name
    by_party[rows] = np.nanmean(np.where(train, x, np.nan)[rows], axis=0) > 0.5
party_baseline = np.mean(by_party[test] == x[test])
print(f"held-out accuracy: logistic PCA {accuracy:.3f}")
print(f"  baselines: per-bill majority {baseline:.3f}, per-bill-and-party {party_baseline:.3f}")

# %% [markdown]
# ## Which rank?
#
# `bf.cross_validate` repeats this over ranks (and folds); for a Bernoulli likelihood
# its error is the accuracy (higher is better).

# %%
table = bf.cross_validate(
    model,
    X,
    mask=scored,
    ranks=[1, 2] if FAST else [1, 2, 3, 4, 6],
    holdout=0.1,
    folds=1 if FAST else 5,
    restarts=restarts,
    key=2,
    max_iter=max_iter,
    tol=1e-6,
)
print(table.groupby("rank")[["train_accuracy", "test_accuracy"]].mean().round(3))
fig = bf.plot.error(table)
plt.show()
plt.close(fig)
