"""LightGBM's TreeSHAP through its C library, without the ``lightgbm`` Python package.

The ``lightgbm`` package imports SciPy (and pandas and scikit-learn when they
are installed) and its ``predict`` re-parses its parameters on every call. The
explanations need one thing from it: ``pred_contrib``, the exact TreeSHAP
contributions computed by ``lib_lightgbm.so``. This module loads that library
from the installed wheel (found without importing the package) and calls its C
API: ``LGBM_BoosterPredictForMatSingleRowFast`` for one row (the prediction
configuration prepared once), ``LGBM_BoosterPredictForMat`` for a batch. Same
library, same numbers as ``Booster.predict(X, pred_contrib=True)``; the
gateway image then needs the wheel's library (and libgomp), not SciPy.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from pathlib import Path

import numpy as np

from shared.exceptions import BundleError

_DTYPE_FLOAT32 = 0  # C_API_DTYPE_FLOAT32
_PREDICT_CONTRIB = 3  # C_API_PREDICT_CONTRIB
_LIB: ctypes.CDLL | None = None
_LIB_LOCK = threading.Lock()


def library_path() -> Path:
    """Where the installed ``lightgbm`` wheel keeps ``lib_lightgbm.so`` (its package is not imported).

    Raises:
        BundleError: LightGBM is not installed.
    """
    spec = importlib.util.find_spec("lightgbm")
    if spec is None or not spec.submodule_search_locations:
        raise BundleError("explanations need the lightgbm wheel (pip install lightgbm)")
    for folder in spec.submodule_search_locations:
        for candidate in (Path(folder) / "lib" / "lib_lightgbm.so", Path(folder) / "lib_lightgbm.so"):
            if candidate.is_file():
                return candidate
    raise BundleError(f"lib_lightgbm.so not found in {list(spec.submodule_search_locations)}")


def _lib() -> ctypes.CDLL:
    global _LIB
    with _LIB_LOCK:
        if _LIB is None:
            lib = ctypes.cdll.LoadLibrary(str(library_path()))
            lib.LGBM_GetLastError.restype = ctypes.c_char_p
            _LIB = lib
        return _LIB


def _check(code: int) -> None:
    if code != 0:
        raise BundleError(f"LightGBM: {_lib().LGBM_GetLastError().decode('utf-8', 'replace')}")


class TreeShap:
    """A LightGBM model file loaded in the C library, answering exact TreeSHAP contributions.

    ``contributions`` is thread-safe (a lock around the single-row fast path,
    whose configuration holds one output buffer).

    Attributes:
        num_features: the model's input width.
    """

    def __init__(self, model_file: str | Path, threads: int = 1) -> None:
        lib = _lib()
        self._handle = ctypes.c_void_p()
        iterations = ctypes.c_int()
        _check(lib.LGBM_BoosterCreateFromModelfile(str(model_file).encode(), ctypes.byref(iterations),
                                                   ctypes.byref(self._handle)))
        width = ctypes.c_int()
        _check(lib.LGBM_BoosterGetNumFeature(self._handle, ctypes.byref(width)))
        self.num_features = int(width.value)
        self._parameters = f"num_threads={threads}".encode()
        self._fast = ctypes.c_void_p()
        _check(lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            self._handle, ctypes.c_int(_PREDICT_CONTRIB), ctypes.c_int(0), ctypes.c_int(-1),
            ctypes.c_int(_DTYPE_FLOAT32), ctypes.c_int32(self.num_features), self._parameters,
            ctypes.byref(self._fast)))
        self._lock = threading.Lock()

    def num_trees(self) -> int:
        """Trees in the model."""
        out = ctypes.c_int()
        _check(_lib().LGBM_BoosterNumberOfTotalModel(self._handle, ctypes.byref(out)))
        return int(out.value)

    def contributions(self, matrix: np.ndarray, threads: int | None = None) -> np.ndarray:
        """TreeSHAP contributions to the margin: ``(n, num_features + 1)`` float64, the expected margin last.

        Args:
            matrix: encoded float32 rows ``(n, num_features)``.
            threads: LightGBM threads for a batch (default: the ones given at load).
        """
        rows = np.ascontiguousarray(matrix, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.num_features:
            raise ValueError(f"expected rows of {self.num_features} features, got shape {rows.shape}")
        n = rows.shape[0]
        out = np.empty((n, self.num_features + 1), dtype=np.float64)
        length = ctypes.c_int64()
        lib = _lib()
        if n == 1 and threads is None:
            with self._lock:
                _check(lib.LGBM_BoosterPredictForMatSingleRowFast(
                    self._fast, rows.ctypes.data_as(ctypes.c_void_p), ctypes.byref(length),
                    out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))))
        elif n:
            parameters = self._parameters if threads is None else f"num_threads={threads}".encode()
            _check(lib.LGBM_BoosterPredictForMat(
                self._handle, rows.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(_DTYPE_FLOAT32),
                ctypes.c_int32(n), ctypes.c_int32(self.num_features), ctypes.c_int(1),
                ctypes.c_int(_PREDICT_CONTRIB), ctypes.c_int(0), ctypes.c_int(-1), parameters,
                ctypes.byref(length), out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))))
        if length.value != out.size and n:
            raise BundleError(f"LightGBM returned {length.value} contributions, expected {out.size}")
        return out

    def __del__(self) -> None:
        lib = _LIB
        if lib is None:
            return
        if getattr(self, "_fast", None) is not None and self._fast.value:
            lib.LGBM_FastConfigFree(self._fast)
        if getattr(self, "_handle", None) is not None and self._handle.value:
            lib.LGBM_BoosterFree(self._handle)
