"""A bare Flask app: the same-run baseline for bench/stock.py's HTTP ingest and bench/offers.py.

It does what any JSON endpoint must (accept the request, parse the body or the query,
answer JSON) and nothing else, so promo's figure divided by this one says what promo's
own work costs on this machine. The benches serve it with gunicorn as promo is served:

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


def _items(limit: int, location: str | None) -> list[dict[str, object]]:
    """``limit`` items shaped like promo's offers (about the same bytes), made up on the spot."""
    return [{"offer_id": f"off-{i:04d}", "campaign": {"id": f"cmp-{i:012d}", "name": f"Campaign {i}"},
             "sku": f"{1000000 + i}", "discount": {"type": "percent", "value": 10.0},
             "price": 2.49 + i, "final_price": round((2.49 + i) * 0.9, 2),
             "availability": {"in_stock": True, "band": "plenty", "location": location, "promise_date": None},
             "reasons": ["bought_before", f"in_stock_at:{location}"]} for i in range(limit)]


def _listing(key: str, customer: str | None):  # type: ignore[no-untyped-def]
    """Read the query as the real endpoints do (channel, location, limit), answer the list."""
    limit = min(int(request.args.get("limit", 10)), 100)
    location = request.args.get("location")
    return jsonify({"recommendation_id": "rec-0", "customer": customer, "personalised": True,
                    "channel": request.args.get("channel"), "location": location, "stock_as_of_seq": 0,
                    key: _items(limit, location)})


# bench/offers.py's baseline: the same paths as promo's offers, deals and recommendations,
# so that the same wrk script loads both.
@app.get("/v1/customers/<customer>/offers")
def offers(customer: str):  # type: ignore[no-untyped-def]
    return _listing("offers", customer)


@app.get("/v1/customers/<customer>/recommendations")
def recommendations(customer: str):  # type: ignore[no-untyped-def]
    return _listing("items", customer)


@app.get("/v1/deals")
def deals():  # type: ignore[no-untyped-def]
    return _listing("deals", request.args.get("customer"))


@app.post("/v1/carts/evaluate")
def carts():  # type: ignore[no-untyped-def]
    """Parse the cart and answer its lines priced (no promotion), shaped like promo's answer."""
    body = request.get_json()
    lines = [{"index": i, "sku": line["sku"], "quantity": line["quantity"], "unit_price": "2.00",
              "amount": f"{2 * line['quantity']:.2f}", "discount": "0.00", "total": f"{2 * line['quantity']:.2f}",
              "promotions": []} for i, line in enumerate(body["lines"])]
    return jsonify({"customer": body.get("customer"), "channel": body["channel"], "location": body["location"],
                    "currency": "USD", "lines": lines, "applied": [], "not_applied": [], "subtotal": "0.00",
                    "discount": "0.00", "total": "0.00", "stock_as_of_seq": 0})
