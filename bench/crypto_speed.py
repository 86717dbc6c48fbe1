"""Encrypt and decrypt a 1 GiB file: afinar's .afe vs the tools a user would otherwise reach for.

    .venv/bin/python bench/crypto_speed.py [--gib 1]

afinar: AES-256-GCM in 1 MiB authenticated chunks (:mod:`afinar.security.crypto`), key from a
keyring. Baselines, run the same way on the same file: ``openssl enc -aes-256-cbc -pbkdf2``
(what most scripts use: no integrity check at all) and ``gpg --symmetric --cipher-algo AES256``
(OpenPGP, integrity by MDC/SHA-1). Each row: MB/s (10^6 bytes per second of plaintext), and the
peak resident memory of the process that did the work. The file is random bytes, so compression
cannot help anyone. Timings include writing the output file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# run in a child process so its peak memory is its own
CHILD = """
import os, resource, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from afinar.security import crypto
from afinar.security.keys import KeyringProvider
ring = KeyringProvider(Path({ring!r}))
src, enc = Path({src!r}), Path({enc!r})
t = time.perf_counter()
if {mode!r} == "encrypt":
    crypto.encrypt_file(src, enc, ring)
else:
    n = 0
    for chunk in crypto.decrypt_chunks(enc, ring):
        n += len(chunk)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def afinar_run(mode: str, src: Path, enc: Path, ring: Path) -> tuple[float, int]:
    code = CHILD.format(repo=str(REPO), ring=str(ring), src=str(src), enc=str(enc), mode=mode)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1])


def tool_run(cmd: list[str]) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of ``cmd``, measured from a fresh parent so only it counts."""
    wrapper = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    wrapper += "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, int(out.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=1.0)
    args = ap.parse_args()
    size = int(args.gib * (1 << 30))
    work = Path(tempfile.mkdtemp(prefix="afe-bench-", dir=REPO / "bench"))
    try:
        src = work / "data.bin"
        with src.open("wb") as f:
            left = size
            while left:
                block = os.urandom(min(left, 64 << 20))
                f.write(block)
                left -= len(block)
        from afinar.security.keys import KeyringProvider

        ring = KeyringProvider.create(work / "keyring.json").path
        rows = []
        t_enc, m_enc = afinar_run("encrypt", src, work / "data.bin.afe", ring)
        t_dec, m_dec = afinar_run("decrypt", src, work / "data.bin.afe", ring)
        rows.append(("afinar .afe (AES-256-GCM, 1 MiB chunks)", "yes, per chunk", t_enc, t_dec, max(m_enc, m_dec)))
        if shutil.which("openssl"):
            enc, out = work / "data.ossl", work / "data.ossl.out"
            base = ["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-pass", "pass:bench"]
            te, me = tool_run([*base, "-in", str(src), "-out", str(enc)])
            td, md = tool_run([*base, "-d", "-in", str(enc), "-out", str(out)])
            rows.append(("openssl enc -aes-256-cbc", "none", te, td, max(me, md)))
            out.unlink()
        if shutil.which("gpg"):
            enc, out = work / "data.gpg", work / "data.gpg.out"
            base = ["gpg", "--batch", "--yes", "--homedir", str(work), "--pinentry-mode", "loopback"]
            base += ["--passphrase", "bench", "--compress-algo", "none"]
            te, me = tool_run([*base, "--symmetric", "--cipher-algo", "AES256", "-o", str(enc), str(src)])
            td, md = tool_run([*base, "--decrypt", "-o", str(out), str(enc)])
            rows.append(("gpg --symmetric AES256", "MDC (SHA-1), whole file", te, td, max(me, md)))
        mb = size / 1e6
        print(f"\n{args.gib:g} GiB of random bytes, this machine ({os.cpu_count()} cores)\n")
        head = f"{'tool':42} {'integrity':26} {'encrypt MB/s':>12} {'decrypt MB/s':>12} {'peak RSS MiB':>12}"
        print(head)
        print("-" * len(head))
        for name, integ, te, td, rss in rows:
            print(f"{name:42} {integ:26} {mb / te:12.0f} {mb / td:12.0f} {rss / 1024:12.0f}")
        ours = rows[0]
        for name, _, te, td, _ in rows[1:]:
            print(f"afinar vs {name}: encrypt {te / ours[2]:.1f}x, decrypt {td / ours[3]:.1f}x as fast")
        print("\ntarget: >= 200 MB/s both ways, in constant memory")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
