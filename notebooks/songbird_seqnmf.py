# %% [markdown]
# # Sequences in songbird HVC: convolutional NMF (seqNMF) as MAP inference
#
# Deconvolved calcium activity of 75 HVC neurons in a singing zebra finch (the seqNMF
# example data, Mackevicius et al. 2019). During song, HVC neurons fire in precise
# *sequences*: ordinary NMF needs one component per time step of a sequence, while a
# convolutional factorization explains each sequence by one exemplar $W_{:,:,k}$
# (neurons $\times$ lags) played at the times of its timecourse $H_{:,k}$:
#
# $$
# X_{nt} \sim \mathcal N\Big(\sum_{l=0}^{L-1} \sum_k W_{nlk} H_{t-l,k},\ 1\Big),
# \qquad W, H \ge 0,
# $$
#
# plus seqNMF's cross-orthogonality penalty
# $\lambda \sum_{i \ne j} [(W \bar\circledast X) S H]_{ij}$, which discourages two
# components from explaining the same sequence (`xortho=`$\lambda$).
#
# We fit on the first two thirds of the recording, test each sequence for
# significance on the last third (`bf.significance`), and show the sequences next to
# the song's spectrogram.

# %%
import os

import jax
import matplotlib.pyplot as plt
import numpy as np

import bayesfactor as bf

# The Gaussian objective carries the constant N T log(2 pi) / 2, large next to its
# changes: float64 resolves them (float32 stops the fit early at relative change 0).
jax.config.update("jax_enable_x64", True)

FAST = os.environ.get("BAYESFACTOR_FAST") == "1"  # CI sets this
restarts, max_iter = (1, 60) if FAST else (5, 1000)

# %% [markdown]
# ## Data
#
# 666 frames at 30 Hz (22 s); the song's spectrogram is sampled at 200 Hz.

# %%
bird = bf.datasets.load_songbird()
X = bird.neural.to_numpy()
fs = bird.fs_neural
split = 2 * X.shape[1] // 3
train, test = X[:, :split], X[:, split:]
print("neurons x frames:", X.shape, " train", train.shape, " test", test.shape)

# %% [markdown]
# ## The model
#
# Exemplars one second long ($L = 30$ frames, as seqNMF's demo), three components, a
# small cross-orthogonality penalty.

# %%
model = bf.ConvModel(bf.Gaussian(), rank=3, lags=fs, xortho=0.005)
fit = bf.fit(model, train, key=0, restarts=restarts, max_iter=max_iter, tol=1e-7)
fit

# %% [markdown]
# The objective never increases (each multiplicative update is a majorize-minimize
# step, the cross-orthogonality term included):

# %%
fig, ax = plt.subplots(figsize=(4, 2.5))
ax.plot(fit.history)
ax.set(xlabel="iteration", ylabel="negative log posterior")
plt.show()
assert np.all(np.diff(fit.history) <= 1e-9 * np.abs(fit.history[1:]))

# %% [markdown]
# ## Significance on held-out data and explained power
#
# For each component, the overlap of its exemplar with the *test* data is skewed when
# the sequence recurs there; the null shifts each neuron's row of the exemplar by a
# random lag (Bonferroni over the components).

# %%
sig = bf.significance(test, fit, key=1)
power = bf.factor_power(train, fit)
for k in range(model.rank):
    print(
        f"component {k + 1}: power explained {power[k]:.3f}, p = {sig.pvalues[k]:.3g}, "
        f"significant: {bool(sig.significant[k])}"
    )

# %% [markdown]
# ## The sequences (seqNMF layout)
#
# Exemplars on the left (neurons sorted by component and lag of their peak), the
# training data in the middle, the timecourses above.

# %%
fig = bf.plot.seqnmf(fit, train, fs=fs)
plt.show()

# %% [markdown]
# ## Next to the song
#
# The timecourses of the training part on the time axis of the song's spectrogram:
# each sequence plays once per song motif.

# %%
w_sorted, h_sorted, _ = bf.sort_factors(fit, train)
song = bird.song.to_numpy()[:, : split * bird.fs_song // fs]
fig, (ax_song, ax_h) = plt.subplots(2, 1, sharex=True, figsize=(9, 4.5), layout="constrained")
ax_song.imshow(
    song,
    aspect="auto",
    origin="lower",
    cmap="gray_r",
    extent=(0, song.shape[1] / bird.fs_song, 0, song.shape[0]),
)
ax_song.set_ylabel("frequency bin")
time = np.arange(split) / fs
for k in range(model.rank):
    top = model.rank - 1 - k  # component 1 on top, as in bf.plot.seqnmf
    ax_h.plot(time, h_sorted[:, k] / max(h_sorted[:, k].max(), 1e-12) + top, color=f"C{k}")
ax_h.set_yticks(model.rank - 1 - np.arange(model.rank) + 0.5, range(1, model.rank + 1))
ax_h.set(xlabel="time (s)", ylabel="component")
plt.show()
