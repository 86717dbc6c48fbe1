"""The governance verbs: ``afinar data`` (check, mask, encrypt, decrypt, rotate, shred, feedback,
register, grant, revoke, list), ``afinar keys``, ``afinar users`` and ``afinar audit``. Each hands off to
the data gate or the security layer; the table that mounts them is in ``afinar/cli/__init__.py``.
Like the verbs there, each imports its stage inside its function, for start-up time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from afinar.atomic import write_json
from afinar.cli.common import console, err_console, user_errors
from afinar.errors import AfinarError

__all__ = ["audit_app", "data_app", "keys_app", "users_app"]

DATASET_HELP = "Dataset (.jsonl, .csv, .parquet, .arrow, documents .txt/.md; .afe encrypted; or a folder of them)"
data_app = typer.Typer(no_args_is_help=True, help="Check, mask, encrypt and register datasets.")
keys_app = typer.Typer(no_args_is_help=True, help="Key-encryption keys for encrypted (.afe) datasets.")
users_app = typer.Typer(no_args_is_help=True, help="Users, roles and API keys (the registry).")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")


@data_app.command("check")
@user_errors
def data_check_cmd(
    file: Annotated[
        Path | None,
        typer.Argument(help=f"{DATASET_HELP}; default: the recipe's."),
    ] = None,
    recipe: Annotated[Path | None, typer.Option(help="Use this recipe's settings and eval file.")] = None,
    eval_file: Annotated[Path | None, typer.Option("--eval", help="Held-out file to check for leakage.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
) -> None:
    """Lint a dataset: schema, duplicates, leakage, lengths, template, scenarios, PII. Exit 1 on errors."""
    from afinar.cli.tables import data_report_tables
    from afinar.data.intake import check_data
    from afinar.model.load import load_tokenizer

    report, _ = check_data(file, recipe, eval_file, load_tokenizer)
    out = report.to_json()
    for table in data_report_tables(out):
        console.print(table)
    if json_out is not None:
        write_json(json_out, out)
    if report.errors:
        raise typer.Exit(1)


@data_app.command("mask")
@user_errors
def data_mask_cmd(
    file: Annotated[Path, typer.Argument(help=f"{DATASET_HELP}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Masked copy to write (same type; a folder: a new one).")],
    policy: Annotated[
        str | None, typer.Option(help="redact | mask | hash | surrogate for every type, or a policy YAML file.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write counts by type (never values) as JSON here.")] = None,
) -> None:
    """Replace personal data and secrets in every text field; the input is left untouched."""
    from afinar.cli.tables import mask_table
    from afinar.data.intake import mask_dataset

    masker, rows = mask_dataset(file, out, policy)
    operators = {k: masker.policy.operator(k) for k in masker.counts}
    console.print(mask_table(dict(masker.counts), operators, rows, out))
    if report is not None:
        info = {"rows": rows, "replaced": dict(sorted(masker.counts.items())), "operators": operators}
        write_json(report, {**info, "key": masker.key_source})


@data_app.command("encrypt")
@user_errors
def data_encrypt_cmd(
    file: Annotated[Path, typer.Argument(help="Plaintext file, or a dataset folder (each shard encrypted).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Default: FILE.afe")] = None,
    remove: Annotated[bool, typer.Option("--remove-plaintext", help="Delete FILE (folder) once encrypted.")] = False,
) -> None:
    """Encrypt a file (AES-256-GCM, fresh data key wrapped by the current KEK) into .afe."""
    from afinar.security.commands import data_encrypt

    dst, n = data_encrypt(file, out, remove)
    console.print(f"encrypted {n:,} bytes into {dst}", highlight=False)


@data_app.command("decrypt")
@user_errors
def data_decrypt_cmd(
    file: Annotated[Path, typer.Argument(help="Encrypted .afe file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Plaintext file to write.")],
) -> None:
    """Write an .afe file's plaintext to disk (audited); training reads .afe directly instead."""
    from afinar.security.commands import data_decrypt

    n = data_decrypt(file, out)
    console.print(f"decrypted {n:,} bytes into {out}", highlight=False)


@data_app.command("rotate")
@user_errors
def data_rotate_cmd(files: Annotated[list[Path], typer.Argument(help="Encrypted .afe files.")]) -> None:
    """Re-wrap each file's data key under the current KEK, without re-encrypting the payload."""
    from afinar.security.commands import data_rotate

    for path, old, new in data_rotate(files):
        console.print(f"{path}: {old} -> {new}", highlight=False)


@data_app.command("shred")
@user_errors
def data_shred_cmd(
    file: Annotated[Path, typer.Argument(help="Encrypted .afe file.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the data becomes unrecoverable.")] = False,
) -> None:
    """Crypto-shred: destroy the file's data key; nobody can decrypt it afterwards."""
    from afinar.security.commands import data_shred

    if not yes:
        raise AfinarError(f"{file}: shredding cannot be undone; repeat with --yes")
    data_shred(file)
    console.print(f"{file}: data key destroyed", highlight=False)


@data_app.command("feedback")
@user_errors
def data_feedback_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="The KTO dataset to write (.jsonl).")],
    model: Annotated[str | None, typer.Option(help="Only answers of this served model id.")] = None,
    since: Annotated[str | None, typer.Option(help="Only ratings from this ISO date or time on (UTC).")] = None,
) -> None:
    """Rated answers of 'afinar serve' (POST /v1/feedback) as a KTO dataset: prompt, completion,
    label (good: true), masked, who rated and when in meta; needs the export permission."""
    from afinar.data.feedback import feedback_dataset

    report = feedback_dataset(out, model, since)
    left = ", ".join(f"{why} {n}" for why, n in report["left_out"].items()) or "none"
    console.print(f"wrote {report['rows']} rated answers to {out} ({report['good']} good, {report['bad']} bad) "
                  f"from {report['ratings']} rating(s); left out: {left}", highlight=False)  # fmt: skip


@data_app.command("register")
@user_errors
def data_register_cmd(
    file: Annotated[Path, typer.Argument(help="Dataset file (.jsonl, .csv, .parquet, .arrow, or one as .afe).")],
    name: Annotated[str, typer.Option(help="Name used in grants.")],
    classification: Annotated[str, typer.Option(help="public | internal | confidential | restricted")],
) -> None:
    """Register a dataset in the registry with a classification (access is then checked)."""
    from afinar.security.commands import data_register

    data_register(file, name, classification)
    console.print(f"registered {file} as '{name}' ({classification})", highlight=False)


@data_app.command("grant")
@user_errors
def data_grant_cmd(
    dataset: Annotated[str, typer.Argument(help="Registered dataset name.")],
    principal: Annotated[str, typer.Argument(help="A user name, or role:NAME.")],
    permission: Annotated[str, typer.Option(help="read | train")] = "read",
) -> None:
    """Grant a user (or a role) read or train access to a confidential/restricted dataset."""
    from afinar.security.commands import data_grant

    data_grant(dataset, principal, permission)
    console.print(f"granted {permission} on '{dataset}' to {principal}", highlight=False)


@data_app.command("revoke")
@user_errors
def data_revoke_cmd(
    dataset: Annotated[str, typer.Argument()],
    principal: Annotated[str, typer.Argument()],
    permission: Annotated[str, typer.Option(help="read | train")] = "read",
) -> None:
    """Remove a grant."""
    from afinar.security.commands import data_revoke

    removed = data_revoke(dataset, principal, permission)
    console.print(f"{'revoked' if removed else 'no such grant:'} {permission} on '{dataset}' for {principal}")


@data_app.command("list")
@user_errors
def data_list_cmd() -> None:
    """Registered datasets, their classification and grants."""
    from afinar.cli.tables import rows_table
    from afinar.security.commands import data_list

    console.print(rows_table("registered datasets", data_list()))


@keys_app.command("init")
@user_errors
def keys_init_cmd() -> None:
    """Create the keyring ($AFINAR_HOME/keys/keyring.json, mode 0600) with a first KEK."""
    from afinar.security.commands import keys_init

    path, kek = keys_init()
    console.print(f"created {path} with key {kek}; back it up: without it, encrypted files are lost", highlight=False)


@keys_app.command("rotate")
@user_errors
def keys_rotate_cmd() -> None:
    """Add a new KEK and make it current (then 'afinar data rotate FILES' re-wraps files)."""
    from afinar.security.commands import keys_rotate

    old, new = keys_rotate()
    console.print(f"current key: {new} (was {old}); re-wrap files with 'afinar data rotate'", highlight=False)


@keys_app.command("retire")
@user_errors
def keys_retire_cmd(kek_id: Annotated[str, typer.Argument()]) -> None:
    """Delete an old KEK: files still wrapped under it become unrecoverable."""
    from afinar.security.commands import keys_retire

    keys_retire(kek_id)
    console.print(f"retired {kek_id}", highlight=False)


@keys_app.command("list")
@user_errors
def keys_list_cmd() -> None:
    """The keyring's KEK ids (never the keys)."""
    from afinar.cli.tables import rows_table
    from afinar.security.commands import keys_list

    console.print(rows_table("key-encryption keys", keys_list()))


@users_app.command("init")
@user_errors
def users_init_cmd(admin: Annotated[str, typer.Option(help="Name of the first admin.")]) -> None:
    """Create the registry and its first admin; prints the admin's API key once."""
    from afinar.security.commands import users_init

    key = users_init(admin)
    console.print(f"registry created; API key for {admin} (shown once, store it now):\n{key}", highlight=False)


@users_app.command("add")
@user_errors
def users_add_cmd(
    name: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="admin | data_steward | ml_engineer | auditor | viewer")],
) -> None:
    """Add a user (admin only); prints their API key once."""
    from afinar.security.commands import users_add

    key = users_add(name, role)
    console.print(f"API key for {name} (shown once, store it now):\n{key}", highlight=False)


@users_app.command("list")
@user_errors
def users_list_cmd() -> None:
    """Users and roles (never keys)."""
    from afinar.cli.tables import rows_table
    from afinar.security.commands import users_list

    console.print(rows_table("users", users_list()))


@users_app.command("disable")
@user_errors
def users_disable_cmd(name: Annotated[str, typer.Argument()]) -> None:
    """Disable a user: their API key stops working."""
    from afinar.security.commands import users_disable

    users_disable(name)
    console.print(f"disabled {name}", highlight=False)


@audit_app.command("show")
@user_errors
def audit_show_cmd(last: Annotated[int, typer.Option(help="How many of the newest records.")] = 20) -> None:
    """The newest audit records."""
    from afinar.cli.tables import audit_table
    from afinar.security.commands import audit_show

    console.print(audit_table(audit_show(last)))


@audit_app.command("verify")
@user_errors
def audit_verify_cmd() -> None:
    """Replay the hash chain and the signed checkpoints; exit 1 and name the first bad record."""
    from afinar.security.commands import audit_verify

    result = audit_verify()
    if result.ok:
        chains = f" in {result.chains} chains" if result.chains > 1 else ""
        console.print(f"audit log intact: {result.records} records{chains}, {result.checkpoints} checkpoint(s)")
        return
    for problem in result.problems:
        err_console.print(Text.assemble(("tampered: ", "bold red"), problem), soft_wrap=True)
    raise typer.Exit(1)


@audit_app.command("checkpoint")
@user_errors
def audit_checkpoint_cmd() -> None:
    """Sign the chain head and record count (Ed25519) so a deleted tail is detected."""
    from afinar.security.commands import audit_checkpoint

    for cp in audit_checkpoint():
        chain = f"replica {cp['replica']}: " if cp["replica"] else ""
        console.print(f"checkpoint: {chain}{cp['count']} records, head {cp['head'][:16]}...", highlight=False)
