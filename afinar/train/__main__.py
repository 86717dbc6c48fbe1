"""``torchrun ... -m afinar.train RECIPE [options]``: the ``afinar train`` verb on every rank."""

import sys

from afinar.cli import app
from afinar.train.distributed import leave

try:
    app(["train", *sys.argv[1:]], prog_name="afinar train")
finally:
    leave()
