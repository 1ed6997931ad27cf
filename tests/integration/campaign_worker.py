"""A separate service process for the campaign watch tests (run as a script, never collected).

    python campaign_worker.py
        Bootstraps a runtime as a serving worker does (stock view followed, models
        followed, the campaign watch running every PROMO_CAMPAIGN_WATCH_INTERVAL_MS),
        prints "ready", and runs until a line arrives on stdin or stdin closes.
"""
from __future__ import annotations

import sys

from promo.bootstrap import bootstrap

if __name__ == "__main__":
    runtime = bootstrap(follow_stock=True)
    print("ready", flush=True)
    try:
        sys.stdin.readline()
    finally:
        runtime.close()
