"""What most peer projects serve: pandas per request and LightGBM through its scikit-learn API.

Used by the inference benchmark and by the baseline service (``benchmarks.apps.baseline``).
The pandas encoding below reproduces :func:`shared.encoding.encode` column for
column (the benchmarks check the parity), the way such services usually write it:
a one-row DataFrame, column arithmetic, then a reindex of dummy columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.columns import DAYS_EMPLOYED_UNEMPLOYED
from shared.encoding import DOMAIN_FEATURES, EXT_SOURCES, EncodingState


def sklearn_classifier(model_txt: Path) -> Any:
    """An ``LGBMClassifier`` around the bundle's booster (what ``joblib.load`` gives peers).

    The bundle keeps the booster (``model.txt``); the classifier's fitted attributes
    are set around it, so ``predict_proba`` runs the same trees through the sklearn API.
    """
    import lightgbm as lgb
    from sklearn.preprocessing import LabelEncoder

    booster = lgb.Booster(model_file=str(model_txt))
    clf = lgb.LGBMClassifier(n_jobs=1, verbose=-1)
    clf._Booster = booster
    clf._n_features = clf._n_features_in = booster.num_feature()
    clf._n_classes = 2
    clf._classes = np.array([0, 1])
    clf._le = LabelEncoder().fit([0, 1])
    clf._objective = "binary"
    clf.fitted_ = True
    return clf


def pandas_encode(df: pd.DataFrame, state: EncodingState) -> pd.DataFrame:
    """The encoding, in pandas: raw application columns in, the model's named columns out."""
    out = df.reindex(columns=list(state.numeric)).astype("float64")
    employed = out["DAYS_EMPLOYED"]
    unemployed = employed == DAYS_EMPLOYED_UNEMPLOYED
    out["DAYS_EMPLOYED"] = employed.mask(unemployed)
    income, credit = out["AMT_INCOME_TOTAL"], out["AMT_CREDIT"]
    annuity, goods = out["AMT_ANNUITY"], out["AMT_GOODS_PRICE"]
    ext = out[list(EXT_SOURCES)]
    domain = pd.DataFrame({
        "DAYS_EMPLOYED_UNEMPLOYED": unemployed.astype("float64"),
        "CREDIT_INCOME_RATIO": credit / income.replace(0, np.nan),
        "ANNUITY_INCOME_RATIO": annuity / income.replace(0, np.nan),
        "CREDIT_TERM": credit / annuity.replace(0, np.nan),
        "GOODS_CREDIT_RATIO": goods / credit.replace(0, np.nan),
        "EMPLOYED_AGE_RATIO": out["DAYS_EMPLOYED"] / out["DAYS_BIRTH"].replace(0, np.nan),
        "AGE_YEARS": -out["DAYS_BIRTH"] / 365.25,
        "EXT_SOURCE_MEAN": ext.mean(axis=1),
        "EXT_SOURCE_MIN": ext.min(axis=1),
        "EXT_SOURCE_MAX": ext.max(axis=1),
        "EXT_SOURCE_PROD": ext.prod(axis=1, min_count=1),
        "EXT_SOURCE_STD": ext.std(axis=1, ddof=0),
    }, index=df.index)
    onehot_names = [f"{column}={v}" for column, values in state.categories.items() for v in values]
    dummies = pd.get_dummies(df[list(state.categories)], prefix_sep="=", dtype="float64")
    dummies = dummies.reindex(columns=onehot_names, fill_value=0.0)
    encoded = pd.concat([out, domain[list(DOMAIN_FEATURES)], dummies], axis=1)
    return encoded.astype("float32")
