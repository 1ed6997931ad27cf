"""Random ids minted on hot paths (request ids, recommendation ids): 128 bits from a
generator seeded from the operating system once per process, rather than a system call
per id (uuid4 reads /dev/urandom each time, which a loaded machine makes slow). They
only need to be unique and unpredictable to other clients, not secret."""
from __future__ import annotations

import os
import random

_generator = random.Random()
_seeded_in: int | None = None


def random_hex() -> str:
    """32 hexadecimal digits."""
    global _seeded_in
    if _seeded_in != os.getpid():       # a forked worker must not repeat its parent's ids
        _generator.seed(os.urandom(32))
        _seeded_in = os.getpid()
    return f"{_generator.getrandbits(128):032x}"
