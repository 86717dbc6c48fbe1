"""One answer on its way out: engine events in, safe text deltas out.

Streamed and non-streamed answers take the same path, so for greedy decoding the chunks of a
stream join to exactly the text of the non-streamed answer. On every event the whole answer so
far is cut at the first stop string, checked for system-prompt leakage and PII-redacted; only
text more than :data:`HOLDBACK` characters behind the end is released, so a stop string, an
e-mail address or an IBAN that is still arriving is never half-sent. An answer that must be JSON
is released only once complete and valid; fields its schema marks ``x-afinar-derive`` (totals,
arg-maxes, rule findings: :mod:`afinar.eval.derive`) are written by afinar from the model's own
lists first, as the eval scores and ``afinar chat`` answers.

Log-probabilities (when asked for) follow the released text: an entry goes out once all of its
text has. Tokens that together make up a redacted value are one entry whose text is the
redaction, with their summed log-probability and no alternatives, so no token of a value the
sanitizer removed is shown, as text or as an alternative; the entries' texts join to the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from afinar.eval.derive import derive_answer, derived_fields
from afinar.serve.auth import ApiError
from afinar.serve.engine import Busy, Event, Job, Sampling, TokenLogprob
from afinar.serve.guard import Sanitizer

__all__ = ["HOLDBACK", "Generation", "logprob_entries"]

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
        self.derived: list[str] = []
        """The fields afinar wrote (``x-afinar-derive``), when it changed any."""
        self._rules = derived_fields(schema) if schema else {}
        self._job: Job | None = None
        self._pieces: list[tuple[int, TokenLogprob]] = []  # by raw start offset
        self._entries: list[tuple[int, dict]] = []  # (end offset in the clean text, entry)
        self._sent = 0  # entries handed out by take_logprobs()

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
                self._add_pieces(len(raw), ev)
                raw += ev.text
                self.tokens = ev.tokens
                finish = ev.finish
                if (cut := self._cut(raw)) is not None:
                    raw, finish = raw[:cut], "stop"
                if self.sanitizer.leaked(raw, self.secrets):
                    self.leaked, self.finish = True, "content_filter"
                    break
                if finish and self._rules:
                    raw, self.derived = derive_answer(raw, self._rules)
                clean, self.redacted, spans = self.sanitizer.redact(raw)
                if self.sampling.logprobs is not None:  # none for a rewritten text: no token wrote it
                    self._entries = [] if self.derived else logprob_entries(self._pieces, raw, spans)
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

    def _add_pieces(self, at: int, ev: Event) -> None:
        """Keep ``ev``'s token log-probabilities at raw offset ``at``. Tokens whose texts do not
        join to the event's text (llama.cpp reports no token that ends inside a UTF-8 character)
        are kept as one piece with the log-probabilities it reported."""
        if not ev.probs:
            return
        if "".join(p.text for p in ev.probs) != ev.text:
            self._pieces.append((at, TokenLogprob(ev.text, sum(p.logprob for p in ev.probs))))
            return
        for p in ev.probs:
            self._pieces.append((at, p))
            at += len(p.text)

    def logprobs(self) -> list[dict]:
        """OpenAI's ``logprobs.content`` entries of the released text (all of it once finished)."""
        return [e for end, e in self._entries if end <= len(self.text)]

    def take_logprobs(self) -> list[dict]:
        """The entries released since the last call (streaming)."""
        out = self.logprobs()[self._sent :]
        self._sent += len(out)
        return out

    async def complete(self) -> str:
        async for _ in self.deltas():
            pass
        return self.text


def logprob_entries(
    pieces: list[tuple[int, TokenLogprob]], raw: str, spans: list[tuple[int, int, str]]
) -> list[tuple[int, dict]]:
    """OpenAI ``logprobs.content`` entries for ``raw`` (the answer before redaction, already cut at
    a stop string) from its tokens (``pieces``: raw start offset, token), with the end offset of
    each entry in the redacted text. ``spans``: the redactions (start, end, replacement), sorted.

    Tokens are grouped so that no group ends inside a redacted value or inside a character (an
    empty piece joins the next); a group of one token keeps its alternatives, a larger one is one
    entry with the summed log-probability, and one that holds a redaction shows the redaction.
    """
    entries: list[tuple[int, dict]] = []
    clean_end, group, start = 0, [], 0

    def close(end: int) -> None:
        nonlocal clean_end, group
        text, pos, redacted = "", start, False
        for s, e, replacement in spans:
            if start <= s and e <= end:
                text, pos, redacted = text + raw[pos:s] + replacement, e, True
        text += raw[pos:end]
        one = len(group) == 1 and not redacted and group[0].text == text
        top = [_alternative(t, lp) for t, lp in group[0].top] if one else []
        entry = _alternative(text, sum(p.logprob for p in group)) | {"top_logprobs": top}
        clean_end += len(text)
        entries.append((clean_end, entry))
        group = []

    for at, piece in pieces:
        if at >= len(raw):
            break
        if not group:
            start = at
        group.append(piece)
        end = min(at + len(piece.text), len(raw))
        if end > start and not any(s < end < e for s, e, _ in spans):
            close(end)
    return entries


def _alternative(text: str, logprob: float) -> dict:
    return {"token": text, "logprob": logprob, "bytes": list(text.encode())}
