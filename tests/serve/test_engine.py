"""The model workers under failure: a row or a client that fails takes only its own request down,
the queue is bounded (503 with Retry-After), closing answers every waiting request, and a plain
(non-streamed) request whose client leaves stops holding the model."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time

import httpx2
import pytest
import torch

from afinar.serve.engine import BASE, Busy, Event, Job, Sampling
from tests.serve.conftest import audit_records, running

PROMPT = [1, 422, 1237, 88, 9]  # token ids; the tiny model reads any


class Answer:
    """A job's events, collected from the worker thread; ``done`` is set on the last one."""

    def __init__(self, adapter: str = BASE, max_tokens: int = 8, hold: threading.Event | None = None):
        self.events: list[Event] = []
        self.started = threading.Event()
        """Set when the first event reaches it: the worker (or slot) has taken the job."""
        self.done = threading.Event()
        self.hold = hold  # the first event waits for it: the worker is busy until it is set
        self.job = Job(PROMPT, adapter, Sampling(max_tokens, temperature=0), self._emit)

    def _emit(self, ev: Event) -> None:
        self.started.set()
        if self.hold is not None:
            self.hold.wait(30)
        self.events.append(ev)
        if ev.finish:
            self.done.set()

    def wait_started(self) -> Answer:
        assert self.started.wait(60), "the job was not taken"
        return self

    def wait(self) -> Answer:
        assert self.done.wait(60), "no final event"
        return self

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events)

    @property
    def finish(self) -> str | None:
        return self.events[-1].finish if self.events else None


def _engine(tiny_model_dir, tiny_adapters, **kw):
    from afinar.serve.server import _torch_engine

    return _torch_engine(str(tiny_model_dir), tiny_adapters, kw.pop("max_batch", 4), kw.pop("max_queue", 64))[0]


def _alone(engine, adapter: str) -> str:
    a = Answer(adapter)
    engine.submit(a.job)
    return a.wait().text


def test_a_raising_emit_or_a_failing_row_takes_down_only_its_request(tiny_model_dir, tiny_adapters):
    engine = _engine(tiny_model_dir, tiny_adapters)
    engine.window = 0.5  # the jobs below are submitted together: one batch
    try:
        expected = _alone(engine, "alpha")

        def broken(ev):  # the client's event loop has closed
            raise RuntimeError("Event loop is closed")

        gone, good = Job(PROMPT, "beta", Sampling(8, temperature=0), broken), Answer("alpha")
        engine.submit(gone)
        engine.submit(good.job)
        assert good.wait().text == expected and good.finish == "length"
        assert gone.cancelled.is_set() and engine.alive()

        unknown, good = Answer("no-such-adapter"), Answer("alpha")
        engine.submit(unknown.job)
        engine.submit(good.job)
        assert good.wait().text == expected and good.finish == "length"
        assert unknown.wait().finish == "error" and "no-such-adapter" in unknown.events[-1].error
        assert _alone(engine, "alpha") == expected and engine.alive()  # and it still serves
    finally:
        engine.close()


def test_the_queue_is_bounded_and_close_answers_every_waiting_request(tiny_model_dir, tiny_adapters):
    engine = _engine(tiny_model_dir, tiny_adapters, max_batch=1, max_queue=2)
    release = threading.Event()
    busy = Answer(hold=release)
    engine.submit(busy.job)
    busy.wait_started()  # the worker has taken it and waits in its first emit
    waiting = [Answer(), Answer()]
    for a in waiting:
        engine.submit(a.job)
    with pytest.raises(Busy, match="2 requests are waiting"):
        engine.submit(Answer().job)
    threading.Timer(0.5, release.set).start()
    engine.close()  # finishes the batch in progress, answers the rest
    assert busy.wait().finish == "length"
    assert [a.wait().finish for a in waiting] == ["error", "error"]
    assert "shutting down" in waiting[0].events[-1].error
    assert not engine.alive()
    with pytest.raises(Busy, match="shutting down"):
        engine.submit(Answer().job)


def test_llama_cpp_engine_is_bounded_and_close_answers_waiting_requests(tiny_model_dir, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    from afinar.export.gguf import write_gguf
    from afinar.serve.llamacpp_engine import LlamaCppEngine

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    write_gguf(model, tmp_path / "tiny.gguf", "f32", tokenizer, "tiny")
    engine = LlamaCppEngine(tmp_path / "tiny.gguf", context=256, parallel=1, max_queue=1)
    release = threading.Event()
    busy, waiting = Answer(max_tokens=4, hold=release), Answer()
    engine.submit(busy.job)
    busy.wait_started()
    engine.submit(waiting.job)
    with pytest.raises(Busy, match="1 requests are waiting"):
        engine.submit(Answer().job)
    assert engine.alive()
    engine.close()
    release.set()
    assert waiting.wait().finish == "error" and "shutting down" in waiting.events[-1].error
    assert busy.wait().finish == "length"  # the running one finishes
    assert not engine.alive()
    with pytest.raises(Busy, match="shutting down"):
        engine.submit(Answer().job)


def test_a_full_queue_is_503_with_retry_after_and_audited(deployment, tiny_model_dir, tiny_adapters):
    engine = _engine(tiny_model_dir, tiny_adapters, max_batch=1, max_queue=1)
    release = threading.Event()
    try:
        busy = Answer(hold=release)
        engine.submit(busy.job)
        busy.wait_started()  # the worker is busy ...
        engine.submit(Answer().job)  # ... and the queue is full
        with running(deployment, engine=engine) as url:
            r = httpx2.post(
                f"{url}/v1/chat/completions",
                json={"model": "alpha", "messages": [{"role": "user", "content": "Hola"}], "max_tokens": 4},
                timeout=30,
            )
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert r.json()["error"]["code"] == "server_busy"
            record = audit_records()[-1]
            assert record["details"]["status"] == 503 and record["details"]["error"] == "server_busy"
    finally:
        release.set()
        engine.close()


def test_a_plain_request_whose_client_leaves_is_not_generated(deployment, tiny_model_dir, tiny_adapters):
    """The client hangs up while its request waits for the model: the request is dropped, not
    decoded to max_tokens for nobody, and its one audit record says so."""
    engine = _engine(tiny_model_dir, tiny_adapters, max_batch=1)
    release = threading.Event()
    try:
        busy = Answer(hold=release)
        engine.submit(busy.job)
        busy.wait_started()
        with running(deployment, engine=engine) as url:
            host, port = url.removeprefix("http://").split(":")
            body = b'{"model": "alpha", "messages": [{"role": "user", "content": "Hola"}], "max_tokens": 30}'
            head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            before = len(audit_records())
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                deadline = time.monotonic() + 30
                while engine._queue.qsize() == 0:  # the request is waiting for the model
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
            deadline = time.monotonic() + 30
            while len(audit_records()) == before:
                assert time.monotonic() < deadline, "no audit record for the request whose client left"
                time.sleep(0.02)
            admitted = engine.admitted
            release.set()
            busy.wait()
            time.sleep(0.5)  # the worker would have taken it by now
            record = audit_records()[-1]
            assert record["details"]["status"] == 499 and record["details"]["error"] == "client_closed_request"
            assert record["details"]["completion_tokens"] == 0
            assert engine.admitted == admitted  # dropped from the queue, never decoded
    finally:
        release.set()
        engine.close()


def test_serve_settings_below_one_are_refused(tiny_model_dir):
    from afinar.errors import AfinarError
    from afinar.serve.server import ServeOptions, build

    for field in ("max_queue", "max_batch"):
        opts = dataclasses.replace(ServeOptions(model=str(tiny_model_dir)), **{field: 0})
        with pytest.raises(AfinarError, match=f"--{field.replace('_', '-')} 0: accepted: a whole number"):
            build(opts)
