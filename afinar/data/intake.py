"""Data intake, in front of training: read a recipe's data, lint it, apply its PII policy.

``afinar run`` and ``afinar train`` refuse data with lint errors (``--allow-data-errors`` trains
on the rows that parse) and, with ``pii.policy: block``, data with any personal data or secret.
With ``pii.policy: mask`` (the default) every turn is masked in memory before tokenization; the
run directory gets ``data_report.json`` and ``pii_report.json`` (counts and locations, never
values).

The masking key is ``$AFINAR_PII_KEY`` when set; otherwise it is derived from the raw bytes of
the recipe's data files (HMAC-SHA256 under a fixed label), so re-running or resuming a recipe
masks identically, while nobody without the raw data (not even with ``lineage.json``'s sha256)
can recompute it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from afinar.config import Recipe, load_recipe, recipe_from_dict
from afinar.data.lint import DataReport, lint
from afinar.data.mask import KEY_ENV, Masker, MaskPolicy, load_policy, mask_examples, mask_file
from afinar.data.read import Example, scan_dataset, split_eval
from afinar.errors import AfinarError
from afinar.security.access import authorize, digests, record
from afinar.shards import dataset_files, open_dataset

__all__ = [
    "RecipeData",
    "apply_pii",
    "check_data",
    "check_recipe_data",
    "data_key",
    "describe_errors",
    "mask_dataset",
    "masker_for",
    "masker_for_file",
    "read_recipe_data",
    "refuse_on_errors",
    "rows_as_trained",
    "split_as_trained",
]

_KEY_LABEL = b"afinar pii key v1"


@dataclass
class RecipeData:
    train: list[Example]
    held: list[Example]
    schema_errors: list[str]
    files: dict[str, str]


def _scan(path: Path, recipe: Recipe) -> tuple[list[Example], list[str]]:
    rows, errors = scan_dataset(path, recipe.data.format, recipe.data.system_prompt, recipe.data.columns)
    if not rows and not errors:
        errors.append(f"{path}: the dataset is empty (no rows)")
    return rows, errors


def read_recipe_data(recipe: Recipe) -> RecipeData:
    """Every readable row of the recipe's train and eval files (eval split off when absent)."""
    d = recipe.data
    train, errors = _scan(d.train, recipe)
    files = {"train": str(d.train)}
    if d.eval is not None:
        held, eval_errors = _scan(d.eval, recipe)
        errors += eval_errors
        files["eval"] = str(d.eval)
    elif train:
        train, held = split_eval(train, d.eval_fraction, recipe.train.seed)
    else:
        held = []
    return RecipeData(train, held, errors, files)


def split_as_trained(recipe: Recipe, name: str) -> list[Example]:
    """The rows of the held-out split ``data.eval_splits[name]``, masked as training masked its rows.

    Raises:
        AfinarError: the file has unreadable rows (the first few named by file and line).
    """
    path = recipe.data.eval_splits[name]
    rows, errors = _scan(path, recipe)
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise AfinarError(f"data.eval_splits.{name}: " + "; ".join(errors[:3]) + more)
    if recipe.pii.policy == "mask":
        mask_examples(rows, masker_for(recipe))
    return rows


def check_recipe_data(recipe: Recipe, data: RecipeData, tokenizer) -> DataReport:
    d = recipe.data
    return lint(data.files, data.train, data.held, data.schema_errors, tokenizer, d.max_seq_len, d.overlong)


def describe_errors(report: DataReport, shown: int = 10) -> str:
    """The report's errors, one a line (the first few locations of each), the first ``shown``."""
    errors = report.errors
    lines = [f.message if f.check == "schema" else f"{f.message} ({', '.join(f.where[:3])})" for f in errors[:shown]]
    more = f"\n  ... and {len(errors) - shown} more" if len(errors) > shown else ""
    return "\n  ".join(lines) + more


def refuse_on_errors(report: DataReport) -> None:
    """Raise an AfinarError listing the report's errors (the first few locations of each)."""
    errors = report.errors
    if not errors:
        return
    raise AfinarError(
        f"the data has {len(errors)} error(s); training refused:\n  "
        + describe_errors(report)
        + "\n'afinar data check' prints the whole report; --allow-data-errors trains on the rows that parse anyway"
    )


def data_key(paths: list[Path]) -> bytes:
    """HMAC-SHA256 under a fixed label over the files' bytes (a folder's shards in order): a key
    only the data's holder has."""
    mac = hmac.new(_KEY_LABEL, digestmod=hashlib.sha256)
    for path in (f for p in paths for f in dataset_files(p)):
        with open_dataset(path) as f:  # the plaintext of an .afe file: its ciphertext is less secret
            while chunk := f.read(1 << 20):
                mac.update(chunk)
    return mac.digest()


def _masker(policy: MaskPolicy, files: list[Path]) -> Masker:
    if os.environ.get(KEY_ENV):
        return Masker(policy)
    masker = Masker(policy, key=data_key(files))
    masker.key_source = f"derived from the data files (set {KEY_ENV} to share pseudonyms across datasets)"
    return masker


def masker_for(recipe: Recipe) -> Masker:
    """The masker a recipe's ``pii`` section describes, keyed as the module docstring says."""
    p = recipe.pii
    policy = MaskPolicy(default=p.default, secrets=p.secrets, operators=dict(p.operators))
    return _masker(policy, recipe.data.files)


def masker_for_file(path: Path, policy: str | None) -> Masker:
    """The masker for ``afinar data mask``: ``policy`` is an operator name or a policy YAML file."""
    if not Path(path).exists():
        raise AfinarError(f"{path}: dataset file not found")
    return _masker(load_policy(policy), [Path(path)])


def apply_pii(recipe: Recipe, data: RecipeData, report: DataReport) -> dict:
    """Apply ``recipe.pii.policy`` to the rows in place; returns the pii_report.json content.

    Raises:
        AfinarError: the policy is ``block`` and the report found personal data or secrets.
    """
    found = report.stats.get("pii", {})
    locations = next((f.where for f in report.findings if f.check == "pii"), [])
    out = {"policy": recipe.pii.policy, "found": found, "where": locations}
    if recipe.pii.policy == "block" and found:
        summary = ", ".join(f"{k} {v}" for k, v in found.items())
        raise AfinarError(
            f"pii.policy is 'block' and the data holds personal data or secrets ({summary}) at "
            f"{', '.join(locations[:5])}{' ...' if len(locations) > 5 else ''}; mask it ('afinar data mask') "
            "or set pii.policy to 'mask'"
        )
    if recipe.pii.policy == "off":
        out["note"] = "pii.policy is 'off': training used the text unmasked"
        return out
    if recipe.pii.policy == "mask" and found:
        masker = masker_for(recipe)
        mask_examples(data.train, masker)
        mask_examples(data.held, masker)
        out["operators"] = {k: masker.policy.operator(k) for k in found}
        out["replaced"] = dict(sorted(masker.counts.items()))
        out["key"] = masker.key_source
    return out


def rows_as_trained(recipe: Recipe) -> RecipeData:
    """The recipe's readable rows, masked exactly as training masked them, without the lint
    (for ``afinar eval`` and ``afinar export``, which need the rows, not a second report).

    The masker is keyed and deterministic, so masking every turn here gives the text training
    saw: a row with nothing to find comes back unchanged, as it did then.
    """
    data = read_recipe_data(recipe)
    if recipe.pii.policy == "mask":
        masker = masker_for(recipe)
        mask_examples(data.train, masker)
        mask_examples(data.held, masker)
    return data


def check_data(
    path: Path | None, recipe_file: Path | None, eval_file: Path | None, tokenizer_for
) -> tuple[DataReport, Recipe]:
    """``afinar data check``: lint ``path`` (or a recipe's own files) and return the report.

    With a recipe, its format, system prompt, max_seq_len, base model tokenizer and eval file
    (for leakage) apply, and ``path`` replaces its train file. Without one, the defaults apply.
    ``tokenizer_for(base_model)`` gives the base's tokenizer (the caller's model code: the data
    stage loads no model).
    """
    if recipe_file is not None:
        recipe = load_recipe(recipe_file)
    elif path is not None:
        recipe = recipe_from_dict({"name": "check", "data": {"train": str(path), "eval_fraction": 0.0}})
    else:
        raise AfinarError("give a dataset file, or --recipe RECIPE")
    if path is not None:
        recipe.data.train = Path(path)
    if eval_file is not None:
        recipe.data.eval = Path(eval_file)
    files = recipe.data.files
    actor = authorize("data.check", "dataset:read", files)
    data = read_recipe_data(recipe)
    report = check_recipe_data(recipe, data, tokenizer_for(recipe.base_model))
    summary = report.to_json()["summary"]
    record("data.check", str(recipe.data.train), actor, digests=digests(files), details=summary)
    return report, recipe


def mask_dataset(src: Path, dst: Path, policy: str | None) -> tuple[Masker, int]:
    """``afinar data mask``: check access, mask ``src`` into ``dst``, audit it; returns the masker
    (its ``counts`` say what was replaced) and the rows written."""
    actor = authorize("data.mask", "dataset:read", [src])
    masker = masker_for_file(src, policy)
    rows = mask_file(src, dst, masker)
    details = {"rows": rows, "replaced": dict(sorted(masker.counts.items())), "to": str(dst)}
    record("data.mask", str(src), actor, digests=digests([src, dst]), details=details)
    return masker, rows
