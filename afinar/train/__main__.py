"""``torchrun ... -m afinar.train RECIPE [options]``: the ``afinar train`` verb on every rank.

A rank that finished (or stopped with a clear error) leaves the process group, flushes its output
and exits at once, without the interpreter's teardown: there, a gloo group's C++ threads can
still be joinable when their owners are destroyed, and the rank dies of SIGABRT ("terminate
called without an active exception") after its work succeeded, failing the whole job (seen in
CI runs, in two of the distributed tests, with the group already destroyed).
A rank that crashes with a traceback goes through the normal exit.
"""

import logging
import os
import sys

from afinar.cli import app
from afinar.train.distributed import leave

try:
    app(["train", *sys.argv[1:]], prog_name="afinar train")
    code = 0
except SystemExit as done:
    code = done.code
finally:
    leave()
if isinstance(code, str):  # what sys.exit("message") prints itself
    print(code, file=sys.stderr)
    code = 1
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code or 0)
