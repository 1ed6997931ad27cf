"""A bare Flask app: the same-run baseline for bench/stock.py's HTTP ingest.

It does what any JSON endpoint must (accept the request, parse the body, answer JSON)
and nothing else, so promo's figure divided by this one says what promo's own work costs
on this machine. bench/stock.py serves it with gunicorn as promo is served:

    .venv/bin/python -m gunicorn -w 2 -b 127.0.0.1:8001 --pythonpath bench bare_app:app
"""
from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/ingest")
def ingest():  # type: ignore[no-untyped-def]
    """Parse the JSON body and answer how many events it held."""
    body = request.get_json()
    return jsonify(items=len(body["events"]))


@app.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return jsonify(status="ok")
