# %% [markdown]
# # Wind directions: a von Mises CP model of circular data
#
# Hourly wind direction (an angle) over a typical year at two U.S. stations (NREL TMY3:
# Greensboro, NC and Sand Point, AK), a 3-way tensor $X_{sdh}$ (station $\times$ day
# $\times$ hour). Angles wrap around, so squared error is the wrong loss: $359°$ and
# $1°$ are $2°$ apart. The von Mises likelihood is the circle's Gaussian,
#
# $$
# X_{sdh} \sim \operatorname{VonMises}(\eta_{sdh}, \kappa), \qquad
# -\log p(X \mid \eta) = -\kappa \cos(X - \eta) + \log 2\pi I_0(\kappa),
# $$
#
# with mean direction a CP (rank-$R$) product of a station, a day and an hour factor,
#
# $$
# \eta_{sdh} = \sum_{r=1}^R A_{sr} B_{dr} C_{hr}, \qquad
# A_{sr} \sim \mathcal N(0, 3^2), \quad
# B_{d+1,r} - B_{dr} \sim \mathcal N(0, s^2), \quad C_{h+1,r} - C_{hr} \sim \mathcal N(0, s^2),
# $$
#
# where the random-walk (`bf.Smooth`) priors on days and hours say that the wind's
# direction drifts slowly from one day, or hour, to the next. Calm hours have no
# direction: they are missing (NaN), and we also mask the near-calm hours (below
# 1 m/s), whose direction is mostly vane noise.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import bayesfactor as bf

FAST = os.environ.get("BAYESFACTOR_FAST") == "1"  # CI sets this
max_iter, restarts = (150, 2) if FAST else (3000, 8)

# %%
wind = bf.datasets.load_wind()
X = wind.data  # xarray DataArray (station, day, hour), radians, NaN = calm
observed = (wind.speed >= 1.0).to_numpy()  # False on calm (NaN) hours too
print(X.dims, X.shape)
print("calm hours:", int(X.isnull().sum()), " masked in all:", int((~observed).sum()))

# %% [markdown]
# Wind roses (histograms of direction, 0 = from the north, clockwise) of the observed
# hours: each station has its prevailing directions, and no single mean fits well.

# %%
fig, axes = plt.subplots(
    1, 2, figsize=(7, 3.5), subplot_kw={"projection": "polar"}, layout="constrained"
)
for s, ax in enumerate(axes):
    angles = X.values[s][observed[s]]
    ax.hist(angles, bins=36, color=f"C{s}", alpha=0.8)
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(-1)
    ax.set_yticklabels([])
    ax.set_title(str(X.station.values[s]), fontsize=9)
plt.show()
plt.close(fig)

# %% [markdown]
# ## MAP fit: rank 2, smooth day and hour factors
#
# One prior per mode: `(Normal(3), Smooth(0.3), Smooth(0.3))`. `mask=` marks the hours
# the fit may use. The von Mises block updates are majorize-minimize steps on the
# curvature bound $\kappa$.

# %%
kappa = 2.0
model = bf.Model(
    bf.VonMises(kappa), rank=2, priors=(bf.Normal(3.0), bf.Smooth(0.3), bf.Smooth(0.3))
)
fit = bf.fit(model, X, mask=observed, key=0, restarts=restarts, max_iter=max_iter, tol=1e-6)
print(fit)

# %% [markdown]
# The factors: station weights (bars), the daily factor over the year and the hourly
# factor over the day (lines). Since $\eta$ is a product, a component moves the mean
# direction by $A_{sr} B_{dr} C_{hr}$ radians: a flat hourly factor with a varying daily
# one is a direction that changes with the weather over the year, a varying hourly
# factor is a diurnal (sea/land or valley breeze) rotation.

# %%
fig = bf.plot.factors(fit, kinds=["bar", "line", "line"], sort=False, figsize=(9, 3.2))
plt.show()
plt.close(fig)

# %% [markdown]
# ## Fitted mean direction against the data
#
# `fit.predict()` is the mean direction $\eta$ wrapped to $(-\pi, \pi]$; below, two
# weeks of hourly data at each station (dots) and the fitted direction (line), both
# in $[0°, 360°)$.

# %%
mean = np.mod(fit.predict().values, 2 * np.pi)  # DataArray -> array, wrapped to [0, 2 pi)
days = slice(0, 14)
fig, axes = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True, layout="constrained")
for s, ax in enumerate(axes):
    x = X.values[s, days].ravel()
    keep = observed[s, days].ravel()
    t = np.arange(x.size) / 24
    ax.plot(t[keep], np.degrees(x[keep]), ".", ms=3, color="0.3", label="observed")
    ax.plot(t, np.degrees(mean[s, days].ravel()), ".", ms=2, color=f"C{s}", label="fitted")
    ax.set_ylim(0, 360)
    ax.set_yticks([0, 90, 180, 270, 360])
    ax.set_ylabel("direction (°)")
    ax.set_title(str(X.station.values[s]), fontsize=9)
axes[0].legend(frameon=False, fontsize=8, ncol=2)
axes[1].set_xlabel("day of the year")
plt.show()
plt.close(fig)

# %% [markdown]
# How good is it? The mean resultant length $\bar R = \operatorname{mean} \cos(X - \eta)$
# over the observed hours is 1 for a perfect fit and near 0 for no skill; a constant
# direction per station (the circular mean) is the baseline. $\bar R$ of the residuals
# also estimates the concentration: $\hat\kappa = A_1^{-1}(\bar R)$ (Fisher's
# approximation), a check on the $\kappa$ we fixed.

# %%
x = X.values
eta = fit.eta()
r_fit = np.mean(np.cos(x - eta)[observed])
r_base = np.mean(
    np.concatenate(
        [
            np.cos(x[s][observed[s]] - np.angle(np.mean(np.exp(1j * x[s][observed[s]]))))
            for s in range(x.shape[0])
        ]
    )
)


def a1_inverse(r):
    """Fisher's approximation of the inverse of A1(kappa) = I1(kappa) / I0(kappa)."""
    if r < 0.53:
        return 2 * r + r**3 + 5 * r**5 / 6
    if r < 0.85:
        return -0.4 + 1.39 * r + 0.43 / (1 - r)
    return 1 / (r**3 - 4 * r**2 + 3 * r)


print(f"mean cos(residual): CP fit {r_fit:.3f}, station mean direction {r_base:.3f}")
print(f"kappa fixed at {kappa}, estimated from the residuals {a1_inverse(r_fit):.2f}")

# %% [markdown]
# ## Do the smooth priors help? Held-out hours
#
# A dict of models is compared by `bf.cross_validate` on held-out hours (speckled
# entries); for a von Mises likelihood the error is the mean circular error
# $1 - \cos(X - \hat\eta)$ (lower is better). The alternative: i.i.d. Normal priors on
# every mode, which know nothing about time.

# %%
models = {
    "smooth": model,
    "normal": bf.Model(bf.VonMises(kappa), rank=2, priors=bf.Normal(3.0)),
}
table = bf.cross_validate(
    models,
    X,
    mask=observed,
    holdout=0.1,
    folds=1 if FAST else 5,
    restarts=restarts,
    key=1,
    max_iter=max_iter,
    tol=1e-6,
)
print(table.groupby("model")[["train_circular_error", "test_circular_error"]].mean().round(3))
fig = bf.plot.error(table)
plt.show()
plt.close(fig)
