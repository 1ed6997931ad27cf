"""A separate service process for the checkout race tests (run as a script, never collected).

    python checkout_worker.py DATABASE_URL REQUESTS_FILE
        Bootstraps a runtime as a serving worker does, prints "ready", waits for a line on
        stdin, then sends the requests of REQUESTS_FILE (a JSON list of
        {"redeem": body} or {"cancel": redemption_id}) from 8 threads started together, and
        prints the outcomes in order: the answer's redemption_id and status, or the
        refusal's reason.
"""
from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from promo.bootstrap import bootstrap
from promo.config import load_settings
from promo.domain.errors import Conflict
from promo.services import redemptions

THREADS = 8


def outcome(runtime, request: dict) -> list:
    try:
        if "redeem" in request:
            answer, made_now = redemptions.redeem(runtime, runtime.unit_of_work(write=True), request["redeem"],
                                                  caller="race")
            return [answer["redemption_id"], "redeemed" if made_now else "replayed", answer["discount"]]
        answer = redemptions.cancel(runtime, runtime.unit_of_work(write=True), request["cancel"])
        return [answer["redemption_id"], answer["status"], answer["discount"]]
    except Conflict as refused:
        return [None, refused.reason, None]


def main(url: str, path: str) -> None:
    runtime = bootstrap(load_settings({"database_url": url, "env": "test", "log_level": "WARNING"}),
                        follow_stock=True)
    try:
        with open(path) as file:
            requests = json.load(file)
        assert runtime.serving.ready(30)
        print(json.dumps("ready"), flush=True)
        sys.stdin.readline()
        lanes = [list(range(start, len(requests), THREADS)) for start in range(min(THREADS, len(requests)))]
        barrier = threading.Barrier(len(lanes))
        results: list = [None] * len(requests)

        def run(lane: list[int]) -> None:
            barrier.wait(timeout=30)
            for index in lane:
                results[index] = outcome(runtime, requests[index])

        with ThreadPoolExecutor(len(lanes)) as pool:
            for future in [pool.submit(run, lane) for lane in lanes]:
                future.result()
        print(json.dumps(results), flush=True)
    finally:
        runtime.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
