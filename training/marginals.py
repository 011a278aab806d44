"""Building blocks of the synthetic generator, derived from the profile's figures.

A :class:`Marginal` is an inverse CDF interpolated through the profile's
quantiles (plus its minimum, maximum and point mass at zero), so a uniform
draw becomes a value with the real column's distribution. Columns whose real
values sit on a lattice (the building statistics of floors, entrances and
elevators: counts divided by a fixed maximum, 1/24, 1/29, ...) are snapped to
it, as the real table is: :func:`lattice_step` finds the step from the
profiled quantiles. The copula helpers
turn the profile's Spearman matrix into a valid latent Gaussian correlation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

_EPS = 1e-9


@dataclass(frozen=True)
class Marginal:
    """Inverse CDF of one numeric column.

    Attributes:
        probs: increasing cumulative probabilities of the knots (0 to 1).
        values: the column's values at those knots.
        integer: True to round the draws to whole numbers.
        step: the lattice the values sit on (None: any value). Such a column's mass sits on its
            profiled quantiles (the real ones hold most of it: 5- and 9-storey buildings, ...): a
            draw between two knots takes the value of the nearer one (never 0 above the share of
            zeros), then the nearest lattice point. Every profiled quantile stays a quantile.
    """

    probs: np.ndarray
    values: np.ndarray
    integer: bool
    step: float | None = None

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """Values for uniform draws ``u`` in [0, 1]."""
        if self.step:
            index = np.clip(np.searchsorted(self.probs, u, side="left"), 1, len(self.probs) - 1)
            low_p, high_p = self.probs[index - 1], self.probs[index]
            low, high = self.values[index - 1], self.values[index]
            nearer_low = (u - low_p < high_p - u) & ((low > 0) | (high <= 0))
            x = np.where(nearer_low, low, high)
            cells = np.floor(x / self.step + 0.5)
            cells = np.where(x > 0, np.maximum(cells, 1.0), cells)
            return np.round(np.minimum(cells * self.step, self.values[-1]), _LATTICE_DECIMALS)
        x = np.interp(u, self.probs, self.values)
        return np.floor(x + 0.5) if self.integer else x

    @classmethod
    def from_profile(cls, figures: dict[str, Any], integer: bool | None = None) -> Marginal:
        """Inverse CDF from a profile column (quantiles, min, max, zero rate).

        A point mass at zero (``zero_rate``) becomes a flat stretch of the
        inverse CDF, at the bottom when zero is the minimum (counts, building
        shares) or at the top when it is the maximum (``DAYS_*``).
        """
        if integer is None:
            integer = figures["kind"] == "integer"
        lattice = None if integer else lattice_step(figures)
        low, high = float(figures["min"]), float(figures["max"])
        knots = [(0.0, low)] + [(float(p), float(v)) for p, v in figures["quantiles"].items()] + [(1.0, high)]
        zero = float(figures.get("zero_rate") or 0.0)
        step = 0.5 if integer else 0.0  # keeps the rounding from widening the zero mass
        if zero > 0 and low == 0:
            rest = [(p, v) for p, v in knots if p > zero + _EPS and v > 0]
            knots = [(0.0, 0.0), (zero, 0.0), (zero + _EPS, step), *rest]
        elif zero > 0 and high == 0:
            cut = 1.0 - zero
            rest = [(p, v) for p, v in knots if p < cut - _EPS and v < 0]
            knots = [*rest, (cut - _EPS, -step), (cut, 0.0), (1.0, 0.0)]
        probs = np.array([p for p, _ in knots])
        values = np.maximum.accumulate(np.array([v for _, v in knots]))
        return cls(probs, values, integer, lattice)

    def truncated(self, upper_prob: float, top: float) -> Marginal:
        """The distribution conditioned on being below the ``upper_prob`` quantile.

        Used for ``DAYS_EMPLOYED`` among the employed: the profile's quantiles
        include the 365243 mass of the not-employed at the top.
        """
        keep = self.probs < upper_prob - _EPS
        probs = np.append(self.probs[keep] / upper_prob, 1.0)
        values = np.append(np.minimum(self.values[keep], top), top)
        return Marginal(probs, values, self.integer, self.step)


_LATTICE_DECIMALS = 4  # the profile's (and the table's) precision of these shares
_LATTICE_LEVELS = ("0.01", "0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95", "0.99")
_LATTICE_TOLERANCE = 1.2e-4  # values are rounded to 4 decimals: k/24 is off by up to 5e-5
_LATTICE_MIN_STEP = 0.01
_LATTICE_MAX_STEP = 0.05  # counts scaled by their maximum: 20 units at least (floors: 24, entrances: 29)


def lattice_step(figures: dict[str, Any]) -> float | None:
    """The step of the lattice a [0, 1] column's values sit on, from its profiled quantiles; None if none.

    Every quantile from the 1st to the 99th percentile must be a multiple of
    the step (at the profile's 4-decimal precision), with at least three
    distinct non-zero ones; the coarsest such step between 0.01 and 0.05 wins
    (the real columns: 1/24 for FLOORSMAX/FLOORSMIN, 1/29 for ENTRANCES, about
    1/25 for ELEVATORS, whose smallest profiled value is already 3 steps). A
    column averaged over buildings (ELEVATORS_AVG) has quantiles off any lattice
    and stays continuous.
    """
    if figures.get("kind") != "continuous" or float(figures["min"]) < 0 or float(figures["max"]) > 1:
        return None
    quantiles = figures.get("quantiles") or {}
    values = np.array(sorted({float(quantiles[level]) for level in _LATTICE_LEVELS if level in quantiles} - {0.0}))
    if len(values) < 3:
        return None
    for k in range(1, 13):
        step = float(values[0]) / k
        for _ in range(3):  # least-squares refinement: the smallest value is itself rounded
            cells = np.round(values / step)
            step = float(np.sum(values * cells) / np.sum(cells * cells))
        if step < _LATTICE_MIN_STEP:
            return None
        if step <= _LATTICE_MAX_STEP and np.all(np.abs(values - np.round(values / step) * step) <= _LATTICE_TOLERANCE):
            units = round(1 / step)
            return 1 / units if abs(1 / step - units) < 0.01 else step  # 1/24 exactly, not 0.041668
    return None


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF, vectorised."""
    return np.asarray(ndtr(z))


def normal_ppf(p: float) -> float:
    """Standard normal quantile."""
    return float(ndtri(p))


def spearman_to_pearson(rho: np.ndarray) -> np.ndarray:
    """Latent Gaussian correlation giving the Spearman correlation ``rho``."""
    return 2.0 * np.sin(np.pi * np.asarray(rho) / 6.0)


def binary_spearman_to_pearson(rho: float, rate: float) -> float:
    """Latent correlation between a normal and the liability of a binary target.

    With ``T = 1{Z > t}`` (``P(T=1) = rate``) and ``corr(X, Z) = r``, the
    Spearman correlation of X and T is ``(E[Phi(X) T] - rate/2) / (sd(U) sd(T))``
    and ``E[Phi(X) | Z=z] = Phi(r z / sqrt(2 - r^2))``. Solved for r by bisection.
    """
    t = normal_ppf(1.0 - rate)
    z = np.linspace(t, t + 12.0, 4001)
    dz = z[1] - z[0]
    density = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    scale = math.sqrt(1 / 12) * math.sqrt(rate * (1 - rate))

    def spearman(r: float) -> float:
        inner = normal_cdf(r * z / math.sqrt(2 - r * r)) * density
        expectation = float(np.sum((inner[1:] + inner[:-1]) / 2) * dz)
        return (expectation - rate / 2) / scale

    lo, hi = -0.99, 0.99
    for _ in range(60):
        mid = (lo + hi) / 2
        if spearman(mid) < rho:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def nearest_correlation(matrix: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Clip the eigenvalues to make a symmetric matrix a valid correlation matrix."""
    sym = (matrix + matrix.T) / 2
    values, vectors = np.linalg.eigh(sym)
    fixed = vectors @ np.diag(np.maximum(values, floor)) @ vectors.T
    d = np.sqrt(np.diag(fixed))
    return fixed / np.outer(d, d)
