"""``afinar serve``: build a deployment from a run, a base model and adapters, or an exported
GGUF, check its settings, and run it under uvicorn (TLS 1.3 only, when TLS is on)."""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import uvicorn

from afinar.errors import AfinarError
from afinar.eval.derive import derived_fields
from afinar.eval.gate import require_promoted
from afinar.lineage import sha256_file
from afinar.model.adapters import is_full_model, load_adapter
from afinar.model.bottleneck import is_bottleneck
from afinar.model.load import load_base, load_tokenizer
from afinar.model.precision import autocast_for, weights_in_bf16
from afinar.registry import Registry, access_registry
from afinar.run_folder import RECIPE_FILE, load_run
from afinar.security.access import authorize, record
from afinar.security.audit import audit_log
from afinar.serve.app import create_app
from afinar.serve.auth import Gatekeeper
from afinar.serve.deps import Deployment
from afinar.serve.engine import BASE, TorchEngine
from afinar.serve.fine_tuning import FineTuning
from afinar.serve.guard import Guard, Sanitizer
from afinar.serve.llamacpp_engine import LlamaCppEngine

__all__ = [
    "ServeOptions",
    "bind",
    "build",
    "check_exposure",
    "gguf_adapters",
    "parse_adapters",
    "run_server",
    "serve",
    "tls13_context",
    "uvicorn_server",
]


@dataclass
class ServeOptions:
    run: Path | None = None
    model: str | None = None
    """A base model spec (default, a HF folder, a .gguf to dequantize) when there is no run."""
    adapters: dict[str, Path] = field(default_factory=dict)
    gguf: Path | None = None
    """Serve this exported GGUF with llama.cpp instead of PyTorch."""
    system_prompt: str | None = None
    injection: str = "block"
    pii: str = "mask"
    json_schema: Path | None = None
    rate_per_minute: int = 600
    max_body_bytes: int = 1 << 20
    max_prompt_tokens: int = 2048
    max_tokens: int = 512
    max_batch: int = 8
    max_queue: int = 64
    """Requests that may wait for the model; past that, 503 with Retry-After."""
    force: bool = False
    """Serve a run that the promotion gate rejected (the override is audited)."""
    precision: str = "fp32"
    """The PyTorch engine's weights: ``fp32``, ``bf16``, or ``auto`` (a run's training precision
    as its evaluation resolves it: bf16 where this CPU or GPU computes it natively). ``afinar
    serve`` passes ``auto``; fp32 here keeps answers equal to an fp32 reference on any machine."""
    engine: str = "auto"
    """``--run``'s engine: ``llamacpp`` (its GGUF LoRA export on its base GGUF), ``torch``, or
    ``auto``: llama.cpp when the run has that export and no other adapter is named, else PyTorch."""
    fine_tuning: bool = False
    """Also serve OpenAI's files and fine-tuning jobs API (:mod:`afinar.serve.fine_tuning`)."""
    job_recipe: Path | None = None
    """The recipe fine-tuning jobs train with (None: :data:`~afinar.serve.fine_tuning.DEFAULT_RECIPE`)."""
    workers: int = 1
    """``afinar worker`` processes this server starts for its jobs (0: they run elsewhere)."""
    jobs_per_user: int = 2
    jobs_per_role: int = 8
    max_upload_bytes: int = 512 << 20
    runs_dirs: list[Path] = field(default_factory=list)
    """Folders of run folders the pages under ``/ui`` list; none given: ``--run``'s folder, else
    ``./runs`` when it exists."""


def _choice(value: str, allowed: tuple[str, ...], flag: str) -> None:
    if value not in allowed:
        raise AfinarError(f"{flag} {value}: accepted: {', '.join(allowed)}")


def _torch_engine(spec: str, adapters: dict[str, Path], max_batch: int, max_queue: int, precision: str = "fp32"):
    """The base model with its adapters on the first GPU when there is one, else on the CPU, its
    weights in ``precision`` (bf16 as the evaluation casts them: :func:`weights_in_bf16`)."""
    model, tokenizer, _ = load_base(spec)
    if torch.cuda.is_available():
        model = model.to("cuda")  # adapters loaded below follow the base's device
    _, autocast = autocast_for(precision, next(model.parameters()).device)
    first = True
    for name, path in adapters.items():
        if first:
            model = load_adapter(model, path, name)
            first = False
        else:
            model.load_adapter(str(path), adapter_name=name)
    model, _ = weights_in_bf16(model.eval(), autocast)
    return TorchEngine(model, tokenizer, max_batch=max_batch, max_queue=max_queue), tokenizer


def build(opts: ServeOptions):
    """The :class:`~afinar.serve.deps.Deployment` for ``opts`` (loads the model).

    Raises:
        AfinarError: a missing run/model/adapter/schema, or settings out of range.
    """
    _choice(opts.injection, ("block", "flag", "off"), "--injection")
    _choice(opts.pii, ("mask", "reject", "off"), "--pii")
    _choice(opts.engine, ("auto", "torch", "llamacpp"), "--engine")
    _choice(opts.precision, ("auto", "bf16", "fp32"), "--precision")
    if opts.engine != "auto" and (opts.run is None or opts.gguf is not None):
        raise AfinarError(f"--engine {opts.engine}: it chooses --run's engine (--gguf is served by llama.cpp, "
                          "--model alone by PyTorch)")  # fmt: skip
    flags = ("rate_per_minute", "max_body_bytes", "max_prompt_tokens", "max_tokens", "max_batch", "max_queue",
             "jobs_per_user", "jobs_per_role", "max_upload_bytes")  # fmt: skip
    if opts.workers < 0:
        raise AfinarError(f"--workers {opts.workers}: accepted: 0 (workers run elsewhere) or more")
    for flag in flags:
        if getattr(opts, flag) < 1:
            name = "--rate-limit" if flag == "rate_per_minute" else "--" + flag.replace("_", "-")
            raise AfinarError(f"{name} {getattr(opts, flag)}: accepted: a whole number of at least 1")
    if opts.run is None and opts.model is None:
        raise AfinarError("give --run RUN_DIR, or --model BASE (with --adapter NAME=PATH or --gguf FILE)")
    adapters = dict(opts.adapters)
    system_prompt, spec, name, precision = opts.system_prompt, opts.model, None, opts.precision
    if opts.run is not None:
        recipe = load_run(opts.run)
        spec, name = spec or recipe.base_model, recipe.name
        precision = recipe.train.precision if precision == "auto" else precision
        adapters = {name: Path(opts.run) / "adapter", **adapters}
        system_prompt = system_prompt or recipe.data.system_prompt
    lora, lora_runs, base_gguf, why = {}, {}, None, None
    if opts.gguf is not None:  # --adapter names GGUF LoRA adapters for the base; --run's is merged into --gguf
        lora, lora_runs = gguf_adapters(opts.adapters, Path(opts.gguf), opts.force)
        adapters = {k: v for k, v in adapters.items() if k not in lora}
    elif opts.run is not None and opts.engine != "torch":
        base_gguf, why = _run_base_gguf(Path(opts.run))
        if opts.engine == "auto" and base_gguf is not None and opts.adapters:
            base_gguf, why = None, "other adapters are named (give them as GGUF LoRA files with --engine llamacpp)"
        if base_gguf is None and opts.engine == "llamacpp":
            raise AfinarError(f"--engine llamacpp: {why}")
        if base_gguf is not None:
            lora, lora_runs = gguf_adapters({name: Path(opts.run), **opts.adapters}, base_gguf, opts.force)
            adapters = {}
    # the gate follows the adapter, not the flag that named it: RUN/adapter given as --adapter is that run
    for run_dir in sorted({Path(p).parent for p in adapters.values() if (Path(p).parent / RECIPE_FILE).is_file()}):
        require_promoted(run_dir, "serve", opts.force)
    for adapter_name, path in adapters.items():
        if not (Path(path) / "adapter_config.json").is_file() and not is_full_model(path):
            raise AfinarError(
                f"--adapter {adapter_name}={path}: no PEFT adapter there (adapter_config.json is missing)"
            )
    alone = [n for n, p in adapters.items() if is_full_model(p) or is_bottleneck(p)]
    if alone and len(adapters) > 1:
        raise AfinarError(
            f"{alone[0]}: a full fine-tune or bottleneck adapter is served alone (PEFT adapters share a base);"
            " start one server per such model"
        )
    schema = None
    if opts.json_schema is not None:
        try:
            schema = json.loads(Path(opts.json_schema).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise AfinarError(f"--json-schema {opts.json_schema}: not a readable JSON schema ({err})") from None
        try:
            derived_fields(schema)
        except ValueError as err:
            raise AfinarError(f"--json-schema {opts.json_schema}: {err}") from None
    registry = access_registry()
    gate = Gatekeeper(registry.url if registry else None, opts.rate_per_minute)
    fine_tuning = None
    if opts.fine_tuning:  # before minutes of model loading: a missing key fails now
        if opts.gguf is not None or base_gguf is not None or alone:
            raise AfinarError(
                "--fine-tuning: jobs' adapters are served by the PyTorch engine on a base model; serve --model BASE "
                "(or --run RUN --engine torch) instead of a GGUF or a full fine-tune"
            )
        url = registry.url if registry else Registry.default_location().url
        fine_tuning = FineTuning.open(
            url, registry, opts.job_recipe, workers=opts.workers, jobs_per_user=opts.jobs_per_user,
            jobs_per_role=opts.jobs_per_role,
        )  # fmt: skip
    if opts.gguf is not None or base_gguf is not None:
        served = "base" if base_gguf is not None else name or Path(opts.gguf).stem
        if served in lora:
            raise AfinarError(f"--adapter {served}=...: '{served}' names the base model here; rename the adapter")
        tokenizer = load_tokenizer(spec)
        engine = LlamaCppEngine(
            Path(opts.gguf or base_gguf), opts.max_prompt_tokens + opts.max_tokens, opts.max_batch, opts.max_queue,
            lora,
        )  # fmt: skip
        models = {served: BASE, **{a: a for a in lora}}
        context = engine.context
        note = None if base_gguf is None else (
            f"llama.cpp engine: the run's GGUF LoRA adapter on {base_gguf} (--engine torch for PyTorch)"
        )  # fmt: skip
    else:
        engine, tokenizer = _torch_engine(spec, adapters, opts.max_batch, opts.max_queue, precision)
        note = f"PyTorch engine, {str(engine.dtype).removeprefix('torch.')} weights" + (f": {why}" if why else "")
        models = {"base": BASE, **{a: a for a in adapters}} if not alone else {alone[0]: BASE}
        context = engine.context
    return Deployment(
        engine=engine,
        tokenizer=tokenizer,
        models=models,
        guard=Guard(opts.injection, opts.pii),
        sanitizer=Sanitizer(secrets=[system_prompt] if system_prompt else [], schema=schema),
        gate=gate,
        audit=audit_log(),
        system_prompt=system_prompt,
        max_body_bytes=opts.max_body_bytes,
        max_prompt_tokens=opts.max_prompt_tokens,
        max_tokens=opts.max_tokens,
        context=context,
        runs={**_runs_of(models, adapters), **lora_runs},
        base=None if opts.gguf is not None or base_gguf is not None else spec,
        note=note,
        fine_tuning=fine_tuning,
        max_upload_bytes=opts.max_upload_bytes,
        runs_dirs=_runs_dirs(opts),
    )


def _runs_dirs(opts: ServeOptions) -> list[Path]:
    if opts.runs_dirs:
        return [Path(p) for p in opts.runs_dirs]
    if opts.run is not None:
        return [Path(opts.run).resolve().parent]
    return [Path("runs").resolve()] if Path("runs").is_dir() else []


def _run_base_gguf(run: Path) -> tuple[Path | None, str]:
    """The base GGUF that ``run``'s GGUF LoRA export was verified on (None, and why, when it has
    none). The newest export counts; a base written beside the adapter is found there if the run
    folder has moved since."""
    found = sorted((run / "export" / "gguf-lora").glob("*.export.json"), key=lambda f: f.stat().st_mtime)
    if not found:
        return None, f"{run} has no GGUF LoRA export ('afinar export {run} --format gguf-lora' serves it in llama.cpp)"
    try:
        info = json.loads(found[-1].read_text(encoding="utf-8"))
        recorded = Path(info["base"]["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, f"{found[-1]}: not a readable export record; export the run again"
    for base in (recorded, found[-1].parent / recorded.name):
        if base.is_file():
            return base, ""
    return None, f"the base GGUF its adapter was verified on ({recorded}) is gone; export the run again"


def _lora_file(name: str, path: Path) -> Path:
    """The GGUF LoRA file ``--adapter NAME=PATH`` names: the file, or a run's (or its adapter
    folder's) ``afinar export --format gguf-lora`` output."""
    if path.suffix == ".gguf":
        if not path.is_file():
            raise AfinarError(f"--adapter {name}={path}: file not found")
        return path
    run = path if (path / RECIPE_FILE).is_file() else path.parent if (path.parent / RECIPE_FILE).is_file() else None
    found = sorted((run / "export" / "gguf-lora").glob("*-lora.gguf")) if run else []
    if len(found) != 1:
        why = "is not a run" if run is None else "has no gguf-lora export" if not found else "has several"
        raise AfinarError(
            f"--adapter {name}={path}: with --gguf an adapter is a GGUF LoRA file, and this {why}; make one with "
            f"'afinar export RUN --format gguf-lora --base-gguf BASE.gguf' and give its .gguf"
        )
    return found[0]


def gguf_adapters(specs: dict[str, Path], base: Path, force: bool = False) -> tuple[dict[str, Path], dict[str, str]]:
    """For ``--gguf BASE --adapter NAME=PATH ...``: name -> GGUF LoRA file, and name -> the run
    each was trained in. Each must be an afinar export (its ``.export.json`` beside it) verified
    on this very base (by sha256) from a run the gate promoted (or ``force``).

    Raises:
        AfinarError: a file that is not such an export, made for another base, or not promoted.
    """
    files, runs, base_digest = {}, {}, None
    for name, path in specs.items():
        file = _lora_file(name, Path(path))
        record_file = file.with_suffix(".export.json")
        try:
            info = json.loads(record_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        if info.get("format") != "gguf-lora":
            raise AfinarError(
                f"--adapter {name}={file}: no afinar gguf-lora export record ({record_file.name}) beside it: an "
                "adapter is served only on the base it was verified on; make one with afinar export RUN --format "
                "gguf-lora"
            )
        base_digest = base_digest or sha256_file(base)
        if info["base"]["sha256"] != base_digest:
            raise AfinarError(
                f"--adapter {name}={file}: verified on the base {info['base']['path']} (sha256 "
                f"{info['base']['sha256'][:16]}...), not on --gguf {base} ({base_digest[:16]}...); export it with "
                f"--base-gguf {base}"
            )
        if sha256_file(file) != info["adapter"]["sha256"]:
            raise AfinarError(f"--adapter {name}={file}: the file changed since it was exported and verified "
                              f"(its sha256 is not the one in {record_file.name}); export it again")  # fmt: skip
        require_promoted(Path(info["run_dir"]), "serve", force)
        files[name], runs[name] = file, str(Path(info["run_dir"]).resolve())
    return files, runs


def _runs_of(models: dict[str, str], adapters: dict) -> dict[str, str]:
    """Served model id -> the run directory its adapter was trained in (adapters inside a run)."""
    runs = {}
    for model, adapter in models.items():
        path = adapters.get(model, adapters.get(adapter))  # --gguf serves the run's merged model as BASE
        if path is not None and (Path(path).parent / RECIPE_FILE).is_file():
            runs[model] = str(Path(path).parent.resolve())
    return runs


def tls13_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context that speaks TLS 1.3 and nothing older."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as err:
        raise AfinarError(f"--tls-cert {cert} / --tls-key {key}: cannot load the certificate and key ({err})") from None
    return ctx


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_exposure(host: str, has_registry: bool, tls: bool) -> str | None:
    """Refuse serving without access control beyond loopback; a warning for plain HTTP beyond it."""
    if _loopback(host):
        return None
    if not has_registry:
        raise AfinarError(
            f"--host {host}: without a registry anyone who reaches this address could use the model; "
            "run 'afinar users init' (API keys) or serve on 127.0.0.1"
        )
    if not tls:
        return f"warning: serving on {host} without TLS; API keys and prompts cross the network in clear text"
    return None


def uvicorn_server(deployment, host: str, port: int, tls_cert: Path | None = None, tls_key: Path | None = None):
    """A configured ``uvicorn.Server`` for ``deployment`` (not started)."""
    if (tls_cert is None) != (tls_key is None):
        raise AfinarError("give both --tls-cert and --tls-key, or neither")
    context = tls13_context(tls_cert, tls_key) if tls_cert else None
    config = uvicorn.Config(
        create_app(deployment),
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        ssl_context_factory=(lambda _config, _default: context) if context else None,
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


def serve(deployment, host: str, port: int, tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
    """Run until Ctrl-C or SIGTERM."""
    uvicorn_server(deployment, host, port, tls_cert, tls_key).run()


@contextmanager
def serving(deployment, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Serve ``deployment`` from a thread on a free loopback port; yields the base URL, and stops
    the server (not the engine) on exit."""
    sock = bind("127.0.0.1", 0)
    server = uvicorn_server(deployment, "127.0.0.1", sock.getsockname()[1], *(tls or (None, None)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise AfinarError("the server did not start on loopback")
            time.sleep(0.02)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def parse_adapters(specs: list[str]) -> dict[str, Path]:
    """``["name=path", ...]`` -> ``{name: path}``.

    Raises:
        AfinarError: a spec without ``=``, or a name given twice.
    """
    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise AfinarError(f"--adapter {spec}: expected NAME=PATH (e.g. --adapter sales=runs/x/adapter)")
        if name in out or name == "base":
            raise AfinarError(f"--adapter {spec}: the name '{name}' is taken")
        out[name] = Path(path)
    return out


def run_server(opts: ServeOptions, host: str, port: int, tls_cert: Path | None, tls_key: Path | None, say) -> None:
    """``afinar serve``: check who starts it and where, load the model, serve until stopped."""
    actor = authorize("serve.start", "serve")
    if (warning := check_exposure(host, access_registry() is not None, tls_cert is not None)) is not None:
        say(warning)
    if (tls_cert is None) != (tls_key is None):
        raise AfinarError("give both --tls-cert and --tls-key, or neither")
    if tls_cert is not None:
        tls13_context(tls_cert, tls_key)  # fail now, before minutes of model loading
    deployment = build(opts)
    if deployment.note:
        say(deployment.note)
    scheme = "https" if tls_cert else "http"
    details = {"host": host, "port": port, "tls": tls_cert is not None, "models": deployment.models}
    record("serve.start", str(opts.run or opts.gguf or opts.model), actor, details=details)
    mode = "API keys from the registry" if deployment.gate.registry is not None else "local mode, no API keys"
    say(f"serving {', '.join(deployment.models)} on {scheme}://{host}:{port}/v1 ({mode}); Ctrl-C stops")
    if deployment.fine_tuning is not None:
        deployment.fine_tuning.start(deployment)
        say(f"fine-tuning: jobs in {deployment.fine_tuning.store.engine.url}, {opts.workers} local worker(s)")
    try:
        serve(deployment, host, port, tls_cert, tls_key)
    finally:
        if deployment.fine_tuning is not None:
            deployment.fine_tuning.close()
        deployment.engine.close()
