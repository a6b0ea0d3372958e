"""Publishing flat files: keeps the bucket equal to "every due object, as its faults say".

A session's object is due once the sandbox clock reaches publish_time New York on the calendar
day after the session (plus any `late` delay); it is put with boto3 `put_object`, republished
when its faults change and deleted when the clock moves back before it was due.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from finance_pipeline.calendar import NEW_YORK
from finance_pipeline.sandbox.s3.objects import DATASETS, DAY_AGGS, object_key, render_object

Action = tuple[str, str, dt.date, str, int]  # (put|delete, dataset, session, key, fault version)


class FlatFilePublisher:
    def __init__(
        self,
        *,
        client: Any,
        bucket: str,
        market: Any,
        faults: Any,
        clock: Callable[[], dt.datetime],
        publish_time: dt.time,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.market = market
        self.faults = faults
        self.clock = clock
        self.publish_time = publish_time
        self._lock = threading.RLock()
        self._state: dict[str, int] = {}  # key -> fault version published
        self.puts = 0
        listings = market.listings()
        self._otc = frozenset(listings.loc[listings["market"] == "otc", "ticker"])

    def publish_at(self, dataset: str, session: dt.date) -> dt.datetime:
        """When the object of (dataset, session) becomes visible (aware, New York)."""
        day = session + dt.timedelta(days=1)
        moment = dt.datetime.combine(day, self.publish_time, NEW_YORK)
        faults = self.faults.file_faults(dataset, session)
        return moment + (faults.delay if faults else dt.timedelta(0))

    def sync(
        self,
        *,
        create: Iterable[str] = (DAY_AGGS,),
        prefix: str | None = None,
        key: str | None = None,
    ) -> int:
        """Publish due objects of the `create` datasets; republish or delete existing ones
        whose faults or due state changed. Limited to `prefix` / `key` when given. Returns the
        number of objects written or deleted."""
        create = set(create)
        now = self.clock()
        with self._lock:
            work = []
            for session in self.market.sessions:
                for dataset in DATASETS:
                    name = object_key(dataset, session)
                    if key is not None and name != key:
                        continue
                    if prefix is not None and not name.startswith(prefix):
                        continue
                    action = self._action(dataset, session, name, now, dataset in create)
                    if action is not None:
                        work.append(action)
            if len(work) > 1:
                # S3 puts wait on the child process: overlap them with rendering here.
                with ThreadPoolExecutor(4, thread_name_prefix="sandbox-publish") as pool:
                    list(pool.map(self._apply, work))
            else:
                for action in work:
                    self._apply(action)
            return len(work)

    def touch(self, dataset: str, session: dt.date) -> None:
        """A fault changed on (dataset, session): bring that object up to date now."""
        name = object_key(dataset, session)
        with self._lock:
            create = name in self._state or dataset == DAY_AGGS
            action = self._action(dataset, session, name, self.clock(), create)
            if action is not None:
                self._apply(action)

    def _action(
        self, dataset: str, session: dt.date, name: str, now: dt.datetime, create: bool
    ) -> Action | None:
        faults = self.faults.file_faults(dataset, session)
        version = faults.version if faults else 0
        wanted = now >= self.publish_at(dataset, session) and not (faults and faults.remove)
        if wanted and self._state.get(name) != version and (create or name in self._state):
            return ("put", dataset, session, name, version)
        if not wanted and name in self._state:
            return ("delete", dataset, session, name, version)
        return None

    def _apply(self, action: Action) -> None:
        kind, dataset, session, name, version = action
        if kind == "put":
            body = self.render(dataset, session)
            self.client.put_object(Bucket=self.bucket, Key=name, Body=body)
            self._state[name] = version
            self.puts += 1
        else:
            self.client.delete_object(Bucket=self.bucket, Key=name)
            self._state.pop(name, None)

    def render(self, dataset: str, session: dt.date) -> bytes:
        """The object's bytes (see `objects.render_object`)."""
        return render_object(self.market, self.faults, self._otc, dataset, session)
