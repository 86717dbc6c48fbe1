"""One answer on its way out: engine events in, safe text deltas out.

Streamed and non-streamed answers take the same path, so for greedy decoding the chunks of a
stream join to exactly the text of the non-streamed answer. On every event the whole answer so
far is cut at the first stop string, checked for system-prompt leakage and PII-redacted; only
text more than :data:`HOLDBACK` characters behind the end is released, so a stop string, an
e-mail address or an IBAN that is still arriving is never half-sent. An answer that must be JSON
is released only once complete and valid.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from afinar.serve.auth import ApiError
from afinar.serve.engine import Busy, Job, Sampling
from afinar.serve.guard import Sanitizer

__all__ = ["HOLDBACK", "Generation"]

HOLDBACK = 64
"""Characters held back while streaming: longer than any PII value the detectors redact inline."""


class Generation:
    def __init__(
        self,
        engine,
        prompt_ids: list[int],
        adapter: str,
        sampling: Sampling,
        sanitizer: Sanitizer,
        stops: list[str] = (),
        secrets: list[str] = (),
        schema: dict | None = None,
    ):
        self.engine, self.prompt_ids, self.adapter, self.sampling = engine, prompt_ids, adapter, sampling
        self.sanitizer, self.stops, self.secrets, self.schema = sanitizer, list(stops), list(secrets), schema
        self.text = ""
        """What was released (the whole answer once finished)."""
        self.finish: str | None = None
        self.tokens = 0
        self.redacted: dict[str, int] = {}
        self.leaked = False
        self._job: Job | None = None

    def start(self) -> None:
        """Hand the request to the engine (once; :meth:`deltas` calls it if nobody did).

        Raises:
            ApiError: 503 with ``Retry-After`` when the engine's queue is full or it is closing.
        """
        if self._job is not None:
            return
        loop = asyncio.get_running_loop()
        self._events: asyncio.Queue = asyncio.Queue()
        self._job = Job(
            self.prompt_ids,
            self.adapter,
            self.sampling,
            lambda ev: loop.call_soon_threadsafe(self._events.put_nowait, ev),
        )
        try:
            self.engine.submit(self._job)
        except Busy as err:
            raise ApiError(503, "server_busy", f"{err}; retry shortly", "server_error", {"Retry-After": "1"}) from None

    def cancel(self) -> None:
        """Stop generating (the client has gone)."""
        if self._job is not None:
            self._job.cancelled.set()

    def _cut(self, raw: str) -> int | None:
        hits = [raw.find(s) for s in self.stops if s in raw]
        return min(hits) if hits else None

    async def deltas(self) -> AsyncIterator[str]:
        """Safe text deltas; afterwards ``text``, ``finish``, ``tokens`` hold the outcome.

        Raises:
            ApiError: 500 when the model fails, 422 when a JSON promise is broken.
        """
        self.start()
        raw = ""
        try:
            while self.finish is None:
                ev = await self._events.get()
                if ev.error:
                    raise ApiError(500, "model_error", f"generation failed: {ev.error}", "server_error")
                raw += ev.text
                self.tokens = ev.tokens
                finish = ev.finish
                if (cut := self._cut(raw)) is not None:
                    raw, finish = raw[:cut], "stop"
                if self.sanitizer.leaked(raw, self.secrets):
                    self.leaked, self.finish = True, "content_filter"
                    break
                clean, self.redacted = self.sanitizer.clean(raw)
                if self.schema is not None and finish is None:
                    continue
                ready = clean if finish else clean[: max(0, len(clean) - HOLDBACK)]
                if not ready.startswith(self.text):
                    self.finish = "content_filter"  # a late redaction reached text already sent
                    break
                if finish and self.schema is not None and (why := self.sanitizer.schema_errors(ready, self.schema)):
                    raise ApiError(422, "output_schema_violation", why, "invalid_response_error")
                if len(ready) > len(self.text):
                    delta, self.text = ready[len(self.text) :], ready
                    yield delta
                self.finish = finish
        finally:
            self.cancel()

    async def complete(self) -> str:
        async for _ in self.deltas():
            pass
        return self.text
