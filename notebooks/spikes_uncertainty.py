# %% [markdown]
# # Uncertainty in a Poisson factorization of spike trains
#
# One neuron of the human subthalamic nucleus, recorded over 50 trials of a joystick
# movement (Kramer & Eden 2016), binned into spike counts $X_{it}$ (trial $i$, time bin
# $t$). KL-NMF is MAP inference in a Poisson model whose rate is a sum of $R$
# non-negative components,
#
# $$
# X_{it} \sim \operatorname{Poisson}\Big(\sum_{r=1}^R U_{ir} V_{tr}\Big), \qquad
# U_{ir} \sim \operatorname{Exponential}(\lambda_U), \quad
# V_{tr} \sim \operatorname{Exponential}(\lambda_V),
# $$
#
# with trial loadings $U$ and time profiles $V$ (firing rates, in spikes per bin).
# The exponential priors are proper, so the posterior $p(U, V \mid X)$ is too: after the
# MAP fit we draw from it with NUTS (`bf.sample`, started at the MAP) and from a
# Gaussian approximation at the MAP (`bf.laplace`), and turn the draws into credible
# bands for the time profiles and for the firing rate of every trial.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import bayesfactor as bf

FAST = os.environ.get("BAYESFACTOR_FAST") == "1"  # CI sets this
max_iter, restarts = (200, 2) if FAST else (2000, 8)
num_warmup, num_samples, num_chains = (50, 50, 1) if FAST else (1000, 1000, 2)

# %% [markdown]
# ## Data: spike counts in 50-ms bins
#
# Rows are trials, columns are bins from 1 s before to 1 s after the GO cue; half the
# trials were movements to the left, half to the right.

# %%
stn = bf.datasets.load_stn_spikes(bin_ms=50)
counts = stn.counts
time_ms = counts.columns.to_numpy()
print(counts.shape, "total spikes:", int(counts.to_numpy().sum()))
print(stn.direction.value_counts().to_dict())

# %% [markdown]
# ## MAP fit (KL-NMF with exponential priors)
#
# `rate=` is $\lambda$ of the prior: a weak prior (mean $1/\lambda = 10$) on the trial
# loadings and on the time profiles. Restarts run vmapped in one compiled program.

# %%
model = bf.Model(
    bf.Poisson(link="identity"), rank=2, priors=(bf.Exponential(0.1), bf.Exponential(0.1))
)
fit = bf.fit(model, counts, key=0, restarts=restarts, max_iter=max_iter, tol=1e-7)
print(fit)

# KL-NMF evaluates its objective every 10 iterations (`check_every`; fit.history is NaN
# in between): fit.objectives holds the evaluated iterations and values.
fig, ax = plt.subplots(figsize=(4, 2.5), layout="constrained")
ax.plot(*fit.objectives, ".-")
ax.set_xlabel("iteration")
ax.set_ylabel("negative log posterior")
plt.show()
plt.close(fig)

# %% [markdown]
# ## Posterior draws with NUTS, started at the MAP
#
# `bf.sample` runs numpyro's NUTS on $\log U, \log V$ and aligns every draw to the MAP,
# so per-component summaries are meaningful. CP/NMF components are identified only up
# to their order, sign and scale: $U V^\top$ is unchanged when component $r$ becomes
# $(U_{:r} c, V_{:r} / c)$. The non-negative priors pin the components down (no
# rotation symmetry), but the scale trade-off is held only by the weak priors (and the
# Jacobian of the sampler's $\log F$ scale), so the posterior of $V$ alone sits on
# another scale than the MAP's. The alignment therefore matches each draw's
# components to the MAP's (order) and moves each component's scale between $U$ and
# $V$ to the MAP's column norms, which leaves every rate $U V^\top$ unchanged.

# %%
nuts = dict(init=fit, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains)
idata = bf.sample(model, counts, **nuts, key=1, progress_bar=False)
print(idata.posterior)
print("divergences:", int(idata.sample_stats["diverging"].sum()))

# %% [markdown]
# `bf.plot.factors` draws the MAP factors (normalised: equal norm in both modes, largest
# component first) with the posterior's equal-tailed 90 % bands, computed on the same
# scale as the MAP's components.

# %%
fig = bf.plot.factors(fit, idata=idata, band=0.9, kinds=["bar", "line"])
plt.show()
plt.close(fig)

# %% [markdown]
# ## Why not the Laplace approximation here?
#
# `bf.laplace` draws from $z \sim \mathcal N(\hat z, H^{-1})$, with $H$ the Hessian of the
# negative log posterior at the MAP on the unconstrained scale ($z = \log F$). That
# needs a tight MAP in the interior of the support. KL-NMF's multiplicative updates
# push some loadings towards 0, the boundary, where $\log F \to -\infty$ and the
# curvature along $\log F$ vanishes. `bf.laplace` refuses a MAP with exact zeros, or
# whose Hessian has a negative eigenvalue (a fit short of a minimum: the small CI run
# stops at `max_iter`), and warns about nearly flat directions otherwise. The cell
# prints which of these happened here, and how many loadings are exactly 0 or within
# 1e-6 of their factor's largest: either way the Gaussian at the MAP does not describe
# this posterior, so NUTS is the tool here.

# %%
import warnings

try:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bf.IdentifiabilityWarning)
        bf.laplace(model, counts, fit, num_samples=100)
    for w in caught:
        print("bf.laplace warns:", str(w.message).split(": ", 1)[1].split(". ")[0] + ".")
except ValueError as err:
    print("bf.laplace refuses:", str(err).split(". ")[0] + ".")
zeros = [int((f == 0).sum()) for f in fit.factors]
tiny = [int((f < 1e-6 * f.max()).sum()) for f in fit.factors]
print("loadings exactly 0, per factor:", zeros)
print("loadings within 1e-6 of the factor's largest (zeros included), per factor:", tiny)

# %% [markdown]
# The same bands, drawn with matplotlib straight from the (aligned) NUTS draws of $V$,
# on the MAP's own scale: each component's time profile in spikes per bin, for a trial
# loading of 1. Without the scale alignment (`rescale=False`) the draws of $V$ sit on
# the scale the priors and the Jacobian prefer, and the MAP falls outside most of its
# band; the printout compares both. Even with aligned draws a few MAP entries may lie
# outside: a loading at 0 is below every (positive) draw, and where the posterior is
# skewed its mode, the MAP, need not lie in its central 90 %.

# %%
v = idata.posterior["F1"].stack(s=("chain", "draw")).transpose("s", ...).values
lo, hi = np.quantile(v, [0.05, 0.95], axis=0)
v_map = fit.factors[1]
print("sum over time of V, MAP:          ", np.round(v_map.sum(0), 1))
print("posterior median, aligned draws:  ", np.round(np.median(v.sum(1), 0), 1))
raw = bf.sample(model, counts, **nuts, key=1, progress_bar=False, rescale=False)
v_raw = raw.posterior["F1"].stack(s=("chain", "draw")).transpose("s", ...).values
print("posterior median, raw draws:      ", np.round(np.median(v_raw.sum(1), 0), 1))
for name, draws in (("aligned", v), ("raw", v_raw)):
    q = np.quantile(draws, [0.05, 0.95], axis=0)
    inside = int(((q[0] <= v_map) & (v_map <= q[1])).sum())
    print(f"MAP entries inside their 90 % band ({name} draws): {inside} of {v_map.size}")
fig, ax = plt.subplots(figsize=(5, 2.8), layout="constrained")
for r in range(model.rank):
    ax.fill_between(time_ms, lo[:, r], hi[:, r], alpha=0.3, color=f"C{r}", lw=0)
    ax.plot(time_ms, fit.factors[1][:, r], color=f"C{r}", label=f"component {r + 1}")
ax.axvline(0, color="0.5", lw=0.8, ls=":")
ax.set_title("time profiles $V$: MAP and 90 % band")
ax.set_xlabel("ms from GO cue")
ax.legend(frameon=False, fontsize=8)
plt.show()
plt.close(fig)

# %% [markdown]
# ## Credible intervals of the firing rate
#
# `bf.predictive_interval` computes, for every entry, the quantiles of the posterior
# mean $E[X_{it}] = \sum_r U_{ir} V_{tr}$ over the draws: an interval for the rate, not
# for a new count (which would add Poisson noise). Below: one left and one right trial,
# and the observed counts.

# %%
lower, upper = bf.predictive_interval(idata, model, prob=0.9)
rate = fit.predict().to_numpy()
bin_s = 0.05
fig, axes = plt.subplots(1, 2, figsize=(8, 2.8), sharey=True, layout="constrained")
for ax, direction in zip(axes, ["left", "right"], strict=True):
    i = int(np.flatnonzero((stn.direction == direction).to_numpy())[0])
    ax.fill_between(time_ms, lower[i] / bin_s, upper[i] / bin_s, alpha=0.3, lw=0)
    ax.plot(time_ms, rate[i] / bin_s, label="MAP rate")
    ax.plot(time_ms, counts.to_numpy()[i] / bin_s, "k.", ms=3, label="observed")
    ax.set_title(f"trial {i} ({direction})")
    ax.set_xlabel("ms from GO cue")
axes[0].set_ylabel("spikes / s")
axes[0].legend(frameon=False, fontsize=8)
plt.show()
plt.close(fig)

inside = ((counts.to_numpy() >= lower) & (counts.to_numpy() <= upper)).mean()
width = np.median(upper - lower) / bin_s
print(f"median width of the 90 % rate interval: {width:.1f} spikes/s")
print(f"fraction of counts inside the rate interval (not a coverage check): {inside:.2f}")

# %% [markdown]
# ## Trial loadings by movement direction
#
# The posterior mean of each trial's loadings, averaged by direction, with the spread
# of the posterior draws of that average.

# %%
u = idata.posterior["F0"].stack(s=("chain", "draw")).transpose("s", ...).values
for direction in ["left", "right"]:
    rows = (stn.direction == direction).to_numpy()
    avg = u[:, rows].mean(axis=1)  # (draws, rank)
    lo, hi = np.quantile(avg, [0.05, 0.95], axis=0)
    print(
        direction,
        "mean loading per component:",
        np.round(avg.mean(0), 2),
        "90 %:",
        [f"[{a:.2f}, {b:.2f}]" for a, b in zip(lo, hi, strict=True)],
    )
