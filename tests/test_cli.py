"""The `bayesfactor` command line."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import bayesfactor as bf
from bayesfactor.cli import main


@pytest.mark.slow  # over ~9 s on two cores (moved out of the default suite)
def test_demo_quick_writes_the_figure_and_factors(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--rank", "2", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "FitResult(" in stdout and "one rate per gene" in stdout and str(out) in stdout
    assert "Fitting rank 2 (given with --rank)" in stdout
    assert (out / "factors.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cells = pd.read_csv(out / "cell_factors.csv", index_col="cell")
    genes = pd.read_csv(out / "gene_factors.csv", index_col="gene")
    assert cells.shape == (700, 3) and genes.shape == (200, 2)  # + the cell_type column
    assert cells.columns.tolist() == ["component_1", "component_2", "cell_type"]
    assert (genes.to_numpy() >= 0).all() and (cells.iloc[:, :2].to_numpy() >= 0).all()
    assert bf.load(out / "model.nc").model.rank == 2
    cv = pd.read_csv(out / "cv.csv")
    assert sorted(cv["rank"].unique()) == [1, 2, 3, 4, 5]
    assert (out / "error.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # the full demo: a 36-fit CV sweep and 5 restarts (~30 s)
def test_demo_fits_the_rank_its_cross_validation_chooses(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    chosen = bf.choose_rank(pd.read_csv(out / "cv.csv"), warn=False).rank
    assert f"Chosen rank {chosen}: the smallest rank" in stdout
    assert f"Fitting rank {chosen} (the cross-validation's choice)" in stdout
    assert bf.load(out / "model.nc").model.rank == chosen >= 4
    # Real structure, checked against biology the model never saw: the component that
    # natural killer cells load on most has the NK markers GNLY and NKG7 (granulysin,
    # NK granule protein 7) among its top genes.
    cells = pd.read_csv(out / "cell_factors.csv", index_col="cell")
    genes = pd.read_csv(out / "gene_factors.csv", index_col="gene")
    expected = cells.drop(columns="cell_type") * genes.sum().to_numpy()  # identity link
    share = expected.div(expected.sum(axis=1), axis=0).groupby(cells["cell_type"]).mean()
    nk = share.loc["CD56+ NK"].idxmax()
    assert {"GNLY", "NKG7"} <= set(genes[nk].nlargest(5).index)


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["demo", "--bogus"], "--bogus"),
        (["demo", "--rank", "0"], "--rank"),
        (["demo", "--rank", "three"], "--rank"),
        (["fitt"], "invalid choice"),
        (["fit", "x.npy"], "--rank"),
        (["fit", "x.npy", "--rank", "0"], "--rank"),
        (["fit", "x.npy", "--rank", "2", "--prior", "gamma:1"], "unknown prior 'gamma'"),
        (["fit", "x.npy", "--rank", "2", "--prior", "normal"], "needs a number"),
        (["fit", "x.npy", "--rank", "2", "--likelihood", "cauchy"], "unknown likelihood"),
        (["cv", "x.npy", "--ranks", "3:a"], "--ranks"),
        ([], "required"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(argv, word, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "error:" in err and word in err


def test_failure_is_one_line_unless_debug(tmp_path, capsys):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert main(["demo", "--quick", "--out", str(not_a_folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayesfactor: error:") and "Traceback" not in err
    with pytest.raises(NotADirectoryError):
        main(["demo", "--quick", "--debug", "--out", str(not_a_folder)])


def test_help(capsys):
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: bayesfactor demo") and "--quick" in out and "--rank R" in out


def test_python_dash_m(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bayesfactor", "demo", "--no-such-option"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "--no-such-option" in proc.stderr


@pytest.fixture
def counts_file(tmp_path, rng):
    rates = np.abs(rng.normal(size=(30, 2))) @ np.abs(rng.normal(size=(2, 12))) * 3
    path = tmp_path / "counts.npy"
    np.save(path, rng.poisson(rates).astype(float))
    return path


def test_fit_then_load_predicts_as_a_direct_fit(counts_file, tmp_path, capsys):
    out = tmp_path / "fit.nc"
    argv = ["fit", str(counts_file), "--likelihood", "poisson", "--rank", "2"]
    argv += ["--prior", "exponential:0.5", "--restarts", "2", "--max-iter", "2000"]
    assert main([*argv, "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    loaded = bf.load(out)
    model = bf.Model(bf.Poisson(link="identity"), 2, bf.Exponential(0.5))
    direct = bf.fit(model, np.load(counts_file), restarts=2, max_iter=2000, key=0)
    assert loaded.model == model
    np.testing.assert_array_equal(loaded.predict(), direct.predict())


def test_fit_reads_csv_with_labels_and_per_mode_priors(tmp_path, rng, capsys):
    frame = pd.DataFrame(rng.normal(size=(8, 5)), columns=list("abcde"))
    frame.index.name = "sample"
    frame.iloc[0, 0] = np.nan
    frame.to_csv(tmp_path / "x.csv")
    argv = ["fit", str(tmp_path / "x.csv"), "--rank", "1", "--prior", "normal:1"]
    argv += ["--prior", "laplace:0.5", "--out", str(tmp_path / "x.nc")]
    assert main(argv) == 0
    loaded = bf.load(tmp_path / "x.nc")
    assert loaded.model.priors == (bf.Normal(1.0), bf.Laplace(0.5))
    assert list(loaded.predict().columns) == list("abcde")


def test_fit_auto_chooses_a_likelihood_per_csv_column(tmp_path, rng, capsys):
    frame = pd.DataFrame(
        {
            "spikes": rng.poisson(3.0, size=40),
            "lick": rng.random(40) < 0.5,
            "speed": rng.normal(10.0, 2.0, size=40),
        }
    )
    frame.to_csv(tmp_path / "session.csv")
    argv = ["fit", str(tmp_path / "session.csv"), "--likelihood", "auto", "--rank", "1"]
    argv += ["--restarts", "2", "--max-iter", "3000"]
    assert main([*argv, "--out", str(tmp_path / "s.nc")]) == 0
    out = capsys.readouterr().out
    assert "lick" in out and "Bernoulli()" in out and "Poisson(link='log')" in out
    loaded = bf.load(tmp_path / "s.nc")
    frame = pd.read_csv(tmp_path / "session.csv", index_col=0)
    direct = bf.fit(bf.Model(rank=1), frame, restarts=2, max_iter=3000, key=0)
    assert loaded.model == direct.model
    np.testing.assert_allclose(np.asarray(loaded.predict()), np.asarray(direct.predict()))


def test_cv_writes_a_table_and_a_figure(counts_file, tmp_path, capsys):
    out = tmp_path / "cv"
    argv = ["cv", str(counts_file), "--likelihood", "poisson", "--ranks", "1:2"]
    assert main([*argv, "--restarts", "1", "--max-iter", "300", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "cv.csv")
    # The rank it reports is the one-standard-error rule's on the table it wrote.
    assert f"Chosen rank {bf.choose_rank(table, warn=False).rank}: the " in printed
    assert sorted(table["rank"].unique()) == [1, 2]
    assert (out / "error.png").exists()


@pytest.mark.parametrize(
    ("make", "argv", "word"),
    [
        (lambda d: d / "missing.npy", [], "no data file"),
        (lambda d: (d / "bad.npy").write_text("not numpy") and d / "bad.npy", [], "cannot read"),
        (lambda d: (d / "x.txt").write_text("1 2") and d / "x.txt", [], "unknown data format"),
        (
            lambda d: np.save(d / "neg.npy", -np.ones((3, 3))) or d / "neg.npy",
            ["--likelihood", "poisson"],
            "negative",
        ),
        (
            lambda d: np.save(d / "ok.npy", np.ones((3, 3))) or d / "ok.npy",
            ["--out", "no/such/folder/fit.nc"],
            "does not exist",
        ),
    ],
    ids=["missing", "unreadable", "format", "negative-counts", "out-folder"],
)
def test_bad_data_is_one_line_with_status_2(tmp_path, make, argv, word, capsys):
    path = make(tmp_path)
    assert main(["fit", str(path), "--rank", "1", *argv]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("bayesfactor: error:"), err
    assert word in err and "Traceback" not in err


def test_outputs_never_replace_the_input_and_need_overwrite(tmp_path):
    data = tmp_path / "counts.npy"
    np.save(data, np.random.default_rng(0).poisson(2.0, size=(12, 8)))
    argv = ["fit", str(data), "--likelihood", "poisson", "--rank", "2", "--max-iter", "20"]
    before = data.read_bytes()
    for extra in ([], ["--overwrite"]):
        assert main([*argv, "--out", str(data), *extra]) == 2
        assert data.read_bytes() == before
    out = tmp_path / "fit.nc"
    assert main([*argv, "--out", str(out)]) == 0
    assert main([*argv, "--out", str(out)]) == 2  # exists
    assert main([*argv, "--out", str(out), "--overwrite"]) == 0
    assert main([*argv, "--out", str(tmp_path)]) == 2  # a folder


def test_cv_refuses_bad_arguments_before_creating_its_folder(tmp_path):
    data = tmp_path / "counts.npy"
    np.save(data, np.random.default_rng(0).poisson(2.0, size=(12, 8)))
    out = tmp_path / "new"
    argv = ["cv", str(data), "--likelihood", "poisson", "--ranks", "1", "2", "--out", str(out)]
    assert main([*argv, "--holdout", "0"]) == 2
    assert not out.exists()


def test_an_npz_named_npy_gets_a_clear_error(tmp_path, capsys):
    path = tmp_path / "x.npy"
    with open(path, "wb") as f:
        np.savez(f, a=np.ones((3, 2)))
    assert main(["fit", str(path), "--rank", "1"]) == 2
    assert ".npz archive of arrays ['a']" in capsys.readouterr().err


def test_an_infinite_scale_is_named(tmp_path, capsys):
    argv = ["fit", str(tmp_path / "x.npy"), "--likelihood", "gaussian:inf", "--rank", "1"]
    assert main(argv) == 2
    assert "must be positive and finite" in capsys.readouterr().err


def test_help_does_not_import_jax():
    # `bayesfactor --help` took ~4 s importing JAX; the package imports its names lazily.
    code = (
        "import sys, bayesfactor, bayesfactor.cli as cli;"
        "codes = [cli.main([*a, '--help']) for a in ([], ['fit'], ['cv'], ['demo'])];"
        "print(codes, sorted(m for m in ('jax', 'numpyro', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[0, 0, 0, 0] []"


def test_cv_announces_the_ranks_not_a_model_of_one_rank(counts_file, tmp_path, capsys):
    argv = ["cv", str(counts_file), "--likelihood", "poisson", "--ranks", "1:2"]
    argv += ["--folds", "1", "--restarts", "1", "--max-iter", "20", "--out", str(tmp_path / "o")]
    main(argv)
    first = capsys.readouterr().out.splitlines()[0]
    assert "rank=" not in first and "at ranks 1, 2 on" in first
