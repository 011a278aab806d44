"""The HTML drift report: one self-contained page with every check and the distributions worth a look."""

from __future__ import annotations

import re
from pathlib import Path

from monitoring.drift.html import pick_features, render_page, write_html
from tests.monitoring.factories import make_applications


def test_the_page_shows_every_check_and_the_plots_of_the_drifted_features(fitted_calculator, tmp_path: Path) -> None:
    shifted = make_applications(2000, seed=9, income_factor=1.5,
                                category_shift={"NAME_CONTRACT_TYPE": "Revolving loans"})
    result = fitted_calculator.calculate(shifted, window={"last": 2000})
    assert {"AMT_INCOME_TOTAL", "NAME_CONTRACT_TYPE"} <= set(result.drifted_features)
    page = render_page(result, max_features=3)
    assert "<script" not in page and page.count("<svg") == 4  # the score and three features, nothing to fetch
    picked = pick_features(result, 3)
    assert set(picked[:2]) == {"AMT_INCOME_TOTAL", "NAME_CONTRACT_TYPE"}
    plots = page[page.index("Distributions: reference vs current"):]
    assert re.findall(r"<h3>([^<]+)</h3>", plots) == ["score", *picked]
    assert "Revolving loans" in plots and "Wasserstein distance (normed)" in plots
    assert "Jensen-Shannon distance" in plots and "drift detected" in plots
    table = page[page.index("Every check"):page.index("Distributions")]
    assert table.count("<tr") == len(result.checks) + 2  # the header, the score, every check
    assert table.count("<tr class=drift>") == sum(c.drifted for c in result.checks) + bool(result.score.drifted)
    path = write_html(result, tmp_path / "reports", 3)
    assert path.parent == tmp_path / "reports" and path.read_text() == page
