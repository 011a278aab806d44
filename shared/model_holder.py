"""The serving model, swapped without a restart: load beside, check, then swap atomically.

A :class:`ModelHolder` owns the scorer a process serves. A request takes
``holder.current`` once and scores with it to the end, so it is scored wholly
by one version even when a swap happens meanwhile (the old scorer stays alive
for as long as a request holds it). :meth:`ModelHolder.load` builds the new
scorer beside the old one, checks it on a few rows of its own reference
sample (the probabilities the build stored for them, computed by the same
ONNX model: a bundle that does not reproduce them is refused), and only then
replaces the reference, one atomic assignment in CPython.

:class:`ChampionFollower` keeps a holder on the registry's champion: at start
it reads :data:`shared.champion.CHAMPION_KEY`, then it listens on the channel
in a daemon thread (blocked on the socket most of the time, so it does not
compete with the event loop for the GIL) and loads each notice it receives.
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from shared.champion import CHAMPION_CHANNEL, CHAMPION_KEY, ChampionNotice, fetch_bundle
from shared.event import utc_now_iso
from shared.scorer import REFERENCE_FILE, Scorer

logger = logging.getLogger(__name__)
CHECK_ROWS = 16
CHECK_TOLERANCE = 1e-5


class BundleCheckError(RuntimeError):
    """A new bundle does not reproduce the scores stored with it: it is not swapped in."""


def check_bundle(scorer: Scorer, rows: int = CHECK_ROWS, tolerance: float = CHECK_TOLERANCE) -> int:
    """Score the first rows of the bundle's reference sample and compare with their stored scores.

    Returns:
        The number of rows checked (0 when the bundle has no reference sample).

    Raises:
        BundleCheckError: a score differs by more than ``tolerance``.
    """
    path = Path(scorer.bundle_dir) / REFERENCE_FILE
    if not path.is_file():
        return 0
    applications: list[dict[str, Any]] = []
    expected: list[float] = []
    with gzip.open(path, "rb") as handle:
        for line in handle:
            if len(applications) >= rows:
                break
            record = orjson.loads(line)
            expected.append(float(record.pop("score")))
            applications.append(record)
    if not applications:
        return 0
    got = np.asarray([r.probability for r in scorer.score_batch(applications)])
    worst = float(np.max(np.abs(got - np.asarray(expected))))
    if worst > tolerance:
        raise BundleCheckError(f"bundle {scorer.model_version}: scores differ from its reference by {worst:.2e}")
    return len(applications)


class ModelHolder:
    """The scorer a process serves, and the registry version it came from."""

    def __init__(self, scorer: Scorer | None, registry_version: str | None = None,
                 on_swap: Callable[[Scorer], None] | None = None) -> None:
        self._current = (scorer, registry_version)
        self._lock = threading.Lock()  # one load at a time; readers never take it
        self.on_swap = on_swap
        self.swaps = 0
        self.since = utc_now_iso()  # when the current model started serving here (or became champion)

    @property
    def current(self) -> Scorer | None:
        """The scorer to use for one whole request (None: nothing loaded, e.g. no challenger)."""
        return self._current[0]

    def clear(self) -> None:
        """Serve nothing any more (a challenger promoted or withdrawn)."""
        with self._lock:
            self._current = (None, None)

    @property
    def registry_version(self) -> str | None:
        """The registry version serving now (None: the bundle of ``MODEL_DIR``)."""
        return self._current[1]

    def load(self, bundle_dir: Path, threads: int = 1, registry_version: str | None = None) -> Scorer:
        """Load a bundle beside the current one, check it, then swap.

        Raises:
            BundleError: the bundle cannot be loaded.
            BundleCheckError: it does not reproduce its stored scores.
        """
        with self._lock:
            scorer = Scorer.load(bundle_dir, threads=threads)
            checked = check_bundle(scorer)
            self._current = (scorer, registry_version)  # atomic: a request holds the old one or the new one
            self.since = utc_now_iso()
            self.swaps += 1
        logger.info("model swapped", extra={"model_version": scorer.model_version, "checked_rows": checked,
                                             "registry_version": registry_version})
        if self.on_swap is not None:
            self.on_swap(scorer)
        return scorer


class ChampionFollower:
    """Keep a holder on the champion the registry publishes in Redis.

    Args:
        holder: the process's model holder.
        redis: a redis-py client (the follower opens its own pub/sub connection on it).
        cache_dir: where remote bundles are copied.
        threads: ONNX Runtime threads of each loaded scorer.
    """

    def __init__(self, holder: ModelHolder, redis: Any, cache_dir: Path, threads: int = 1,
                 key: str = CHAMPION_KEY, channel: str = CHAMPION_CHANNEL) -> None:
        self.holder = holder
        self.key = key
        self.channel = channel
        self.redis = redis
        self.cache_dir = cache_dir
        self.threads = threads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    def apply(self, notice: ChampionNotice | None) -> bool:
        """Load the notice's bundle unless it already serves; False when nothing changed or it failed."""
        if notice is None or notice.model_version == self.holder.registry_version:
            return False
        if not notice.model_version:  # withdrawn (a challenger promoted or cleared)
            self.holder.clear()
            return True
        try:
            path = fetch_bundle(notice.bundle_uri, self.cache_dir)
            self.holder.load(path, self.threads, notice.model_version)
            if notice.at:
                self.holder.since = notice.at  # when the registry made it champion
            return True
        except Exception as exc:  # noqa: BLE001 - a bad bundle must never stop serving the current one
            self.errors += 1
            logger.error("champion not loaded: still serving the current model",
                         extra={"registry_version": notice.model_version, "error": str(exc)[:300]})
            return False

    def sync(self) -> bool:
        """Read the stored champion once (at start); True when a new model was loaded."""
        try:
            raw = self.redis.get(self.key)
        except Exception as exc:  # noqa: BLE001 - Redis down at start: serve MODEL_DIR
            logger.warning("champion key not read: serving the local bundle", extra={"error": str(exc)[:200]})
            return False
        return self.apply(ChampionNotice.from_json(raw))

    def start(self) -> None:
        """Follow the channel in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name=f"follower-{self.key}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following (within a second)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self.sync()  # a notice published while unsubscribed is not lost: the key holds it
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        self.apply(ChampionNotice.from_json(message.get("data")))
            except Exception as exc:  # noqa: BLE001 - Redis gone: retry, keep serving
                logger.warning("champion channel lost; retrying", extra={"error": str(exc)[:200]})
                self._stop.wait(2.0)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001, S110
                        pass


def follow_champion(scorer: Scorer, redis: Any, settings: Any,
                    on_swap: Callable[[Scorer], None]) -> ChampionFollower:
    """Serve the registry's champion from now on: load it if it is not ``scorer``, then follow its channel.

    Args:
        scorer: the scorer loaded from ``MODEL_DIR`` at start.
        redis: a redis-py client.
        settings: a service's settings (``bundle_cache_dir``, ``scorer_threads`` when it has one).
        on_swap: called with each new scorer (the process points its core at it).

    Returns:
        The started follower (``stop()`` it at shutdown).
    """
    holder = ModelHolder(scorer, on_swap=on_swap)
    follower = ChampionFollower(holder, redis, Path(settings.bundle_cache_dir),
                                threads=int(getattr(settings, "scorer_threads", 1)))
    follower.sync()
    follower.start()
    return follower
