# %% [markdown]
# # The lecture's menu on real data
#
# Each model is one choice of likelihood and priors (`bf.Model`), fitted by the same
# `bf.fit`. This notebook (jupytext percent format: open it in Jupyter with jupytext,
# or run it as a script) uses only bundled data and the public API.

# %%
import os

import numpy as np

import bayesfactor as bf

FAST = os.environ.get("BAYESFACTOR_FAST") == "1"  # CI sets this
max_iter, restarts = (100, 2) if FAST else (1000, 8)

# %% [markdown]
# ## KL-NMF of spike counts (Poisson, identity link, non-negative factors)

# %%
stn = bf.datasets.load_stn_spikes(bin_ms=50)
kl_nmf = bf.Model(bf.Poisson(link="identity"), rank=2, priors=bf.NonNegative())
fit = bf.fit(kl_nmf, stn.counts, key=0, restarts=restarts, max_iter=max_iter, tol=1e-5)
print(fit)
trials, time = fit.factors
print(
    "trial loadings by direction:\n",
    np.round([trials[(stn.direction == d).to_numpy()].mean(0) for d in stn.direction.unique()], 2),
)

# %% [markdown]
# ## Logistic PCA of votes with missing entries (Bernoulli, ridge prior)

# %%
votes = bf.datasets.load_house_votes()
logistic_pca = bf.Model(bf.Bernoulli(), rank=2, priors=bf.Normal(1.0))
fit = bf.fit(logistic_pca, votes.data, key=0, restarts=restarts, max_iter=max_iter, tol=1e-5)
legislators = fit.factors[0]
# The first component separates the parties (sign is arbitrary).
for party in ("democrat", "republican"):
    print(party, np.round(legislators[(votes.party == party).to_numpy()].mean(0), 2))

# %% [markdown]
# ## Circular data: wind directions (von Mises), calm hours missing, 3-way tensor

# %%
wind = bf.datasets.load_wind()
circular = bf.Model(bf.VonMises(2.0), rank=2, priors=bf.Normal(3.0))
fit = bf.fit(circular, wind.data, key=0, restarts=restarts, max_iter=max_iter, tol=1e-5)
print(fit)
print(
    "mean log-likelihood per observed hour:",
    fit.log_likelihood(wind.data) / np.isfinite(wind.data.values).sum(),
)

# %% [markdown]
# ## k-means as factorization (OneHot rows) on El Niño temperatures

# %%
sst = bf.datasets.load_elnino().data
kmeans = bf.Model(bf.Gaussian(), rank=3, priors=(bf.OneHot(), bf.Flat()))
fit = bf.fit(kmeans, sst, key=0, restarts=restarts)
clusters = fit.factors[0].argmax(1)
print({k: list(sst.index[clusters == k][:5]) for k in range(3)})
