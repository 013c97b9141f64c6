"""The ``demo`` command: choose a rank by cross-validation, then fit Poisson NMF of cell counts."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bayesfactor.cli.commands import _CV_FILES, _check_outputs, _quietly, _report_cv

__all__: list[str] = []


def _count_shares(cells, genes, cell_type):
    """Per cell type and component: the mean share of a cell's expected count it explains.

    Component ``r`` contributes ``W[i, r] * sum_j H[j, r]`` to cell ``i``'s expected
    total count (identity link).
    """
    expected = cells * genes.sum(axis=0).to_numpy()
    return expected.div(expected.sum(axis=1), axis=0).groupby(cell_type.to_numpy()).mean()


def _demo_figure(path: Path, cells, genes, cell_type, chosen: int) -> None:
    """Mean share of each cell type per component, and each component's top genes."""
    import matplotlib.pyplot as plt

    share = _count_shares(cells, genes, cell_type)
    rank = cells.shape[1]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, 1.5 + 0.45 * max(rank, len(share))), layout="constrained"
    )
    image = left.imshow(share.to_numpy(), cmap="viridis", vmin=0, aspect="auto")
    left.set_xticks(range(rank), [str(k + 1) for k in range(rank)])
    left.set_yticks(range(len(share)), share.index)
    left.set_xlabel("component")
    left.set_title("mean share of a cell's expected count, by cell type", fontsize=10)
    fig.colorbar(image, ax=left, shrink=0.8)
    right.axis("off")
    right.set_title("top genes (share of the component's counts)", fontsize=10)
    for k in range(rank):
        top = genes.iloc[:, k].nlargest(5)
        words = ", ".join(f"{g} {v:.0%}" for g, v in (top / genes.iloc[:, k].sum()).items())
        right.text(0, 1 - (k + 0.5) / rank, f"{k + 1}: {words}", va="center", fontsize=9)
    fig.suptitle(
        f"Poisson NMF of {cells.shape[0]} blood cells x {genes.shape[0]} genes at rank {rank} "
        f"(the held-out choice: rank {chosen})"
    )
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)


def _demo(args: argparse.Namespace) -> int:
    from bayesfactor.datasets import load_pbmc68k

    out = args.out
    names = ("factors.png", "cell_factors.csv", "gene_factors.csv", "model.nc", *_CV_FILES)
    _check_outputs(args, folder=out, names=names)  # fail before the fit, not after
    out.mkdir(parents=True, exist_ok=True)
    pbmc = load_pbmc68k()
    genes = pbmc.counts.sum().sort_values(ascending=False, kind="stable").index[:200]
    counts = pbmc.counts[genes]
    restarts, max_iter, tol = (1, 200, 1e-4) if args.quick else (5, 500, 1e-6)
    ranks, folds = (list(range(1, 6)), 1) if args.quick else (list(range(1, 13)), 3)
    chosen = _demo_choose_rank(counts, out, ranks, folds, max_iter, tol)
    rank = args.rank or chosen
    why = "given with --rank" if args.rank else "the cross-validation's choice"
    result = _demo_fit(counts, rank, why, restarts, max_iter, tol)
    cells, gene_f = _sorted_factors(result, counts)
    _print_components(cells, gene_f, pbmc.cell_type)
    paths = [out / "factors.png", out / "cell_factors.csv", out / "gene_factors.csv"]
    _demo_figure(paths[0], cells, gene_f, pbmc.cell_type, chosen)
    cells.assign(cell_type=pbmc.cell_type).to_csv(paths[1])
    gene_f.to_csv(paths[2])
    paths.append(result.save(out / "model.nc"))
    print("\nWrote:")
    for path in paths:
        print(f"  {path.resolve()}")
    return 0


def _demo_choose_rank(counts, out: Path, ranks: list, folds: int, max_iter: int, tol: float):
    """Step 1: cross-validate Poisson NMF at ``ranks``, report it in ``out``; the chosen rank."""
    import bayesfactor as bf

    model = bf.Model(bf.Poisson(link="identity"), rank=1, priors=bf.NonNegative())
    print(
        f"Data: UMI counts of {counts.shape[0]} blood cells x {counts.shape[1]} genes (the "
        "highest total counts; Zheng et al. 2017, CC BY 4.0)."
    )
    print(
        f"1. Choosing the rank: Poisson NMF at ranks {ranks[0]}-{ranks[-1]}, 10 % of the "
        f"entries held out in {folds} fold(s) ...",
        flush=True,
    )
    table = _quietly(
        bf.cross_validate,
        model,
        counts,
        ranks=ranks,
        holdout=0.1,
        folds=folds,
        restarts=1,
        max_iter=max_iter,
        tol=10 * tol,  # the choice needs the scores to about 1e-3, not the optimum's digits
        key=0,
    )
    return _report_cv(table, out)


def _demo_fit(counts, rank: int, why: str, restarts: int, max_iter: int, tol: float):
    """Step 2: fit ``rank`` to all the counts; print the summary and the gain over rank 0."""
    import numpy as np
    from scipy.special import gammaln, xlogy

    import bayesfactor as bf

    model = bf.Model(bf.Poisson(link="identity"), rank=rank, priors=bf.NonNegative())
    print(f"\n2. Fitting rank {rank} ({why}) to all the data, {restarts} restarts ...", flush=True)
    start = time.perf_counter()
    result = _quietly(bf.fit, model, counts, restarts=restarts, key=0, max_iter=max_iter, tol=tol)
    elapsed = time.perf_counter() - start

    x = counts.to_numpy(dtype=float)
    rate0 = x.mean(axis=0)  # rank 0: one rate per gene, the same in every cell
    loglik = result.log_likelihood(counts)
    loglik0 = float(np.sum(xlogy(x, rate0) - rate0 - gammaln(x + 1)))
    print(result)
    print(
        f"  log-lik     {loglik:.6g}   (one rate per gene: {loglik0:.6g}; gain "
        f"{(loglik - loglik0) / x.size:.3f} per entry)"
    )
    print(f"  time        {elapsed:.2f} s for {result.n_iter} iterations (incl. compilation)")
    return result


def _sorted_factors(result, counts):
    """The cell and gene factors as DataFrames, largest expected total count first."""
    import numpy as np
    import pandas as pd

    columns = [f"component_{k + 1}" for k in range(result.model.rank)]
    cells, gene_f = result.factors
    size = cells.sum(axis=0) * gene_f.sum(axis=0)  # each component's expected total count
    order = np.argsort(-size, kind="stable")
    cells = pd.DataFrame(cells[:, order], index=counts.index, columns=columns)
    gene_f = pd.DataFrame(gene_f[:, order], index=counts.columns, columns=columns)
    return cells, gene_f


def _print_components(cells, gene_f, cell_type) -> None:
    """Each component's cell type of the highest mean share, and its top genes."""
    share = _count_shares(cells, gene_f, cell_type)
    print("\nComponents (largest first): the cell type of the highest mean share, top genes")
    for k, column in enumerate(gene_f.columns):
        top = ", ".join(gene_f[column].nlargest(5).index)
        kind = share[column].idxmax()
        print(f"  {k + 1}: {kind} ({share[column].max():.0%} of its cells' expected counts): {top}")
