"""``python -m training``: one-line errors with exit code 2, CSV generation, builds from synthetic rows and a CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.scorer import Scorer
from training.__main__ import main
from training.bundle import read_metadata
from training.data import load_csv
from training.synthetic import generate

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_missing_file_is_one_line_exit_2_no_traceback(tmp_path: Path) -> None:
    done = _run("build", "--data", str(tmp_path / "application_train.csv"), "--output", str(tmp_path / "b"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {tmp_path / 'application_train.csv'}: no such file"]
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "b").exists()


def test_bad_columns_named_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    generate(50, seed=1).drop(columns=["DAYS_BIRTH"]).to_csv(path, index=False)
    assert main(["build", "--data", str(path), "--output", str(tmp_path / "b"), "--no-mlflow"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "1 missing column(s): DAYS_BIRTH" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--rows", "0"], "--rows must be >= 1"),
        (["build", "--rows", "1000", "--holdout", "0.95"], "--holdout"),
        (["build", "--rows", "1000", "--folds", "1"], "--folds"),
        (["build", "--rows", "1000", "--cost-fn", "0"], "--cost-fn"),
        (["build", "--rows", "1000", "--pos-weight", "0"], "--pos-weight"),
        (["build", "--rows", "1000", "--rounds", "0"], "--rounds must be >= 1"),
        (["build", "--rows", "1000", "--learning-rate", "0"], "--learning-rate"),
        (["build", "--rows", "1000", "--num-leaves", "1"], "--num-leaves must be >= 2"),
        (["build", "--rows", "100"], "at least 500"),
        (["generate", "--rows", "10", "--drift", "{nope"], "--drift is not valid JSON"),
        (["generate", "--rows", "10", "--drift", '{"income_factor": -1}'], "income_factor must be > 0"),
        (["generate", "--rows", "10", "--drift", '{"colour": 1}'], "unknown drift options"),
        (["generate", "--rows", "10", "--drift", "@/no/such/file.json"], "cannot read"),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / ("out.csv" if args[0] == "generate" else "bundle")
    assert main([*args, "--output", str(output), *(["--no-mlflow"] if args[0] == "build" else [])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_usage_errors_from_argparse_exit_2() -> None:
    done = _run("build", "--rows", "many", "--output", "x")
    assert done.returncode == 2 and "invalid int value" in done.stderr


def test_generate_writes_a_kaggle_format_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sub" / "train.csv"
    assert main(["generate", "--rows", "300", "--seed", "4", "--output", str(path)]) == 0
    assert "wrote 300 rows x 122 columns" in capsys.readouterr().out
    assert load_csv(path).equals(generate(300, seed=4))


def test_generate_with_drift(tmp_path: Path) -> None:
    drift = {"income_factor": 2.0, "category_shift": {"NAME_CONTRACT_TYPE": {"Revolving loans": 1.0}}}
    (tmp_path / "drift.json").write_text(json.dumps(drift))
    path = tmp_path / "drifted.csv"
    assert main(["generate", "--rows", "400", "--output", str(path), "--drift", f"@{tmp_path / 'drift.json'}"]) == 0
    df = load_csv(path)
    assert set(df["NAME_CONTRACT_TYPE"]) == {"Revolving loans"}
    assert df["AMT_INCOME_TOTAL"].median() > 1.6 * generate(400)["AMT_INCOME_TOTAL"].median()


@pytest.mark.slow
def test_build_from_a_csv_in_the_kaggle_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real-file path end to end: generate a CSV, build from it, load the bundle."""
    path = tmp_path / "application_train.csv"
    assert main(["generate", "--rows", "2000", "--seed", "9", "--output", str(path)]) == 0
    output = tmp_path / "bundle"
    code = main(["build", "--data", str(path), "--output", str(output), "--no-mlflow", "--folds", "3",
                 "--reference-rows", "500"])
    assert code == 0
    out = capsys.readouterr().out
    assert "fold 3/3" in out and "cross-validation" in out and f"written to {output}" in out
    metadata = read_metadata(output)
    assert metadata["data"]["source"] == "csv" and metadata["data"]["rows"] == 2000
    assert len(metadata["data"]["file_sha256"]) == 64
    assert metadata["reference"]["rows"] == 500
    assert Scorer.load(output).model_version == metadata["version"]


def test_build_with_a_fixed_number_of_trees(tmp_path: Path) -> None:
    """--rounds N: every fold and the final model get exactly N trees, no early stopping."""
    import lightgbm as lgb

    output = tmp_path / "bundle"
    assert main(["build", "--rows", "2000", "--output", str(output), "--no-mlflow", "--folds", "2",
                 "--rounds", "7", "--learning-rate", "0.2", "--num-leaves", "7", "--reference-rows", "200"]) == 0
    training = read_metadata(output)["training"]
    assert training["rounds"] == 7 and training["best_iterations"] == [7, 7] and training["final_rounds"] == 7
    assert training["learning_rate"] == 0.2 and training["num_leaves"] == 7
    assert lgb.Booster(model_file=str(output / "model.txt")).num_trees() == 7

