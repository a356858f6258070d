"""Read a log group forward with FilterLogEvents, each event once, including ones that arrive late."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Lambda's log events can reach CloudWatch Logs a few seconds after their timestamp; each poll looks back this
# far and skips the events it already returned.
LOOKBACK_MS = 60_000


class LogTail:
    def __init__(self, client: Any, group: str, pattern: str | None, start_ms: int) -> None:
        self._client = client
        self._group = group
        self._pattern = pattern
        self._start_ms = start_ms
        self._seen: dict[str, int] = {}  # eventId -> timestamp, for the lookback window only

    def poll(self) -> list[dict[str, Any]]:
        """The events not returned before, oldest first."""
        fresh = [event for event in self._events() if event["eventId"] not in self._seen]
        for event in fresh:
            self._seen[event["eventId"]] = event["timestamp"]
        newest = max(self._seen.values(), default=self._start_ms)
        self._start_ms = max(self._start_ms, newest - LOOKBACK_MS)
        self._seen = {key: stamp for key, stamp in self._seen.items() if stamp >= self._start_ms}
        return sorted(fresh, key=lambda event: (event["timestamp"], event.get("ingestionTime", 0)))

    def _events(self) -> Iterator[dict[str, Any]]:
        # A page may be empty and still carry a nextToken: only its absence ends the listing.
        request: dict[str, Any] = {"logGroupName": self._group, "startTime": self._start_ms}
        if self._pattern:
            request["filterPattern"] = self._pattern
        while True:
            page = self._client.filter_log_events(**request)
            yield from page.get("events", [])
            if not page.get("nextToken"):
                return
            request["nextToken"] = page["nextToken"]
