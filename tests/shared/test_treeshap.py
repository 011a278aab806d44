"""TreeSHAP through LightGBM's C library: LightGBM's own numbers, without its Python package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from shared.encoding import EncodingState, encode
from shared.treeshap import TreeShap, library_path
from tests.utils.data import synthetic_applications
from training.bundle import read_metadata


@pytest.fixture(scope="module")
def matrix(tiny_bundle: Path) -> np.ndarray:
    state = EncodingState.from_dict(read_metadata(tiny_bundle)["encoding"])
    rows = synthetic_applications(200, seed=31)
    rows[0] = {}  # every value missing
    return encode(rows, state)


def test_equals_lightgbm_pred_contrib(tiny_bundle: Path, matrix: np.ndarray) -> None:
    expected = lgb.Booster(model_file=str(tiny_bundle / "model.txt")).predict(matrix, pred_contrib=True)
    model = TreeShap(tiny_bundle / "model.txt")
    assert model.num_features == matrix.shape[1]
    assert model.num_trees() == lgb.Booster(model_file=str(tiny_bundle / "model.txt")).num_trees()
    batch = model.contributions(matrix)
    assert batch.shape == expected.shape
    assert np.array_equal(batch, expected)
    single = np.vstack([model.contributions(matrix[i:i + 1]) for i in range(20)])
    assert np.array_equal(single, expected[:20])  # the single-row fast path: the same numbers
    assert np.array_equal(model.contributions(matrix, threads=2), expected)
    assert model.contributions(matrix[:0]).shape == (0, matrix.shape[1] + 1)


def test_refuses_the_wrong_width(tiny_bundle: Path, matrix: np.ndarray) -> None:
    with pytest.raises(ValueError, match="features"):
        TreeShap(tiny_bundle / "model.txt").contributions(matrix[:, :-1])


def test_needs_neither_the_lightgbm_package_nor_scipy(tiny_bundle: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "from shared.treeshap import TreeShap\n"
        f"m = TreeShap({str(tiny_bundle / 'model.txt')!r})\n"
        "m.contributions(np.zeros((1, m.num_features), dtype=np.float32))\n"
        "print(sorted(name for name in ('lightgbm', 'scipy', 'pandas', 'sklearn') if name in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"
    assert library_path().name == "lib_lightgbm.so"
