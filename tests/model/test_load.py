"""The bundled GGUF's conversion cache when two processes convert it at once."""

from __future__ import annotations

import tempfile

from afinar.model import load


def test_a_conversion_that_loses_the_race_keeps_the_winners_folder(tmp_path, monkeypatch):
    """Another process fills the cache folder while this one converts: renaming onto a non-empty
    folder raises ENOTEMPTY on Linux (not FileExistsError), which used to crash the loser."""
    monkeypatch.setenv("AFINAR_CACHE", str(tmp_path))
    made, real_mkdtemp = [], tempfile.mkdtemp

    def mkdtemp_then_the_other_process_finishes(**kw):
        out = real_mkdtemp(**kw)
        winner = tmp_path / "models" / f"{load._default_gguf().stem}-{_key()}"
        winner.mkdir(parents=True)
        (winner / "config.json").write_text("{}")  # the other process's finished folder
        made.append(winner)
        return out

    def _key():
        import hashlib

        gguf = load._default_gguf()
        stat = gguf.stat()
        return hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp_then_the_other_process_finishes)  # where atomic_path gets it
    target = load._convert_gguf(load._default_gguf())
    assert [target] == made and (target / "config.json").read_text() == "{}"  # the winner's, untouched
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [target.name]  # no temporary left
