"""``python -m slow_scoring pool ...``: the worker pool, whose first scoring of each job blocks for a minute.

For the tests that kill a worker in the middle of a group job: the job is then surely
running when the test kills its worker; a retry of the same job scores at once.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def main() -> int:
    """Patch the scorer (inherited by the pool's forked workers), then run ``python -m worker``."""
    from rq import get_current_job

    from shared.scorer import Scorer
    from worker.__main__ import main as worker_main

    real = Scorer.score_batch
    key = os.environ["SLOW_SCORING_KEY"]

    def slow_first_time(self: Scorer, rows: Any) -> Any:
        job = get_current_job()
        if job is not None and job.connection.incr(f"{key}:{job.id}") == 1:
            job.connection.set(f"{key}:inside", job.id)
            time.sleep(60)
        return real(self, rows)

    Scorer.score_batch = slow_first_time  # type: ignore[method-assign]
    return worker_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
