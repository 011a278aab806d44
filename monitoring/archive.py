"""Archive past retention: snapshot old daily event indices to a repository, then drop them; restore on demand.

Retention drops whole daily indices (``scoring-events-YYYY.MM.DD``) older than
``RETENTION_DAYS``. Where the events must be kept longer (a regulator, a model
audit), this snapshots those indices first to a shared-filesystem repository
(``type: fs``, a folder listed in the node's ``path.repo``; the core server
supports it, no plugin needed), checks the snapshot succeeded, and only then
deletes them. A snapshot is compressed Lucene segments: it can sit on cheap
storage (a mounted bucket, tape) and be restored under another name when needed.

    python -m monitoring.archive register --location /srv/es-archive
    python -m monitoring.archive archive --days 90 [--keep]
    python -m monitoring.archive list
    python -m monitoring.archive restore SNAPSHOT [--rename-prefix restored-]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from shared.store import common
from shared.store.elastic import ElasticsearchEventStore

REPOSITORY = "scoring-archive"


def register_repository(store: ElasticsearchEventStore, location: str, name: str = REPOSITORY) -> None:
    """Register (or update) a shared-filesystem snapshot repository at ``location`` (inside ``path.repo``)."""
    store.client.snapshot.create_repository(name=name, repository={"type": "fs", "settings": {
        "location": location, "compress": True}})


def archive(store: ElasticsearchEventStore, days: int, name: str = REPOSITORY, now: datetime | None = None,
            delete: bool = True) -> dict[str, Any]:
    """Snapshot the daily event indices older than ``days``, then (by default) delete them.

    Returns:
        ``{"snapshot", "indices", "state", "deleted"}``; ``snapshot`` is None when nothing is old enough.

    Raises:
        RuntimeError: when the snapshot did not succeed (nothing is deleted then).
    """
    cutoff = common.cutoff_day(days, now)
    old = sorted(index for index, day in store.event_indices().items() if day < cutoff)
    if not old:
        return {"snapshot": None, "indices": [], "state": None, "deleted": []}
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dt%H%M%S")
    snapshot = f"{store.prefix}-events-{old[0].rsplit('-', 1)[-1]}-{old[-1].rsplit('-', 1)[-1]}-{stamp}"
    response = store.client.snapshot.create(repository=name, snapshot=snapshot, indices=",".join(old),
                                            include_global_state=False, wait_for_completion=True)
    state = response.body.get("snapshot", {}).get("state")
    if state != "SUCCESS":
        raise RuntimeError(f"snapshot {snapshot} ended {state}: indices kept")
    if delete:
        store.client.indices.delete(index=old, ignore_unavailable=True)
    return {"snapshot": snapshot, "indices": old, "state": state, "deleted": old if delete else []}


def list_snapshots(store: ElasticsearchEventStore, name: str = REPOSITORY) -> list[dict[str, Any]]:
    """The repository's snapshots: name, state, indices, start time."""
    body = store.client.snapshot.get(repository=name, snapshot="_all").body
    return [{"snapshot": s["snapshot"], "state": s.get("state"), "indices": sorted(s.get("indices", [])),
             "start_time": s.get("start_time")} for s in body.get("snapshots", [])]


def restore(store: ElasticsearchEventStore, snapshot: str, name: str = REPOSITORY,
            rename_prefix: str = "restored-") -> list[str]:
    """Restore a snapshot's indices as ``<rename_prefix><index>`` (beside the live ones); returns their names."""
    response = store.client.snapshot.restore(repository=name, snapshot=snapshot, include_global_state=False,
                                             rename_pattern="(.+)", rename_replacement=f"{rename_prefix}$1",
                                             wait_for_completion=True)
    return sorted(response.body.get("snapshot", {}).get("indices", []))


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m monitoring.archive", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--prefix", default=os.environ.get("ES_INDEX_PREFIX", "scoring"))
    parser.add_argument("--repository", default=REPOSITORY)
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register", help="register the fs repository (the folder must be in path.repo)")
    reg.add_argument("--location", required=True)
    arc = sub.add_parser("archive", help="snapshot the daily indices older than --days, then delete them")
    arc.add_argument("--days", type=int, default=int(os.environ.get("RETENTION_DAYS", "90")))
    arc.add_argument("--keep", action="store_true", help="snapshot only, delete nothing")
    sub.add_parser("list", help="the repository's snapshots")
    res = sub.add_parser("restore", help="restore a snapshot beside the live indices")
    res.add_argument("snapshot")
    res.add_argument("--rename-prefix", default="restored-")
    args = parser.parse_args(argv)
    store = ElasticsearchEventStore(args.url, args.prefix)
    try:
        if args.command == "register":
            register_repository(store, args.location, args.repository)
            result: Any = {"repository": args.repository, "location": args.location}
        elif args.command == "archive":
            result = archive(store, args.days, args.repository, delete=not args.keep)
        elif args.command == "list":
            result = list_snapshots(store, args.repository)
        else:
            result = {"restored": restore(store, args.snapshot, args.repository, args.rename_prefix)}
    finally:
        store.close()
    print(json.dumps(result, indent=2))  # noqa: T201 - the command's output
    return 0


if __name__ == "__main__":
    sys.exit(main())
