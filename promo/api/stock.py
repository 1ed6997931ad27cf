"""Stock: events in, positions and availability out (from the in-memory view)."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort

from promo.api.auth import requires
from promo.api.context import runtime, uow
from promo.api.pagination import limit_batch, page_args, page_body
from promo.api.parsing import Blueprint, json_body
from promo.api.stock_events import load_stock_event_batch
from promo.api.stock_schemas import (
    AvailabilityBatchSchema,
    AvailabilityListSchema,
    AvailabilityQuerySchema,
    AvailabilitySchema,
    LowStockQuerySchema,
    LowStockSchema,
    MinSeqQuerySchema,
    ProductStockSchema,
    SafetyStockSchema,
    StockEventBatchSchema,
    StockIngestResultSchema,
)
from promo.domain.access import Permission
from promo.services import stock

blp = Blueprint("stock", __name__, url_prefix="/v1", description="Stock events, positions and availability")


@blp.route("/stock/events")
class StockEvents(MethodView):
    @requires(Permission.STOCK_WRITE)
    @blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": StockEventBatchSchema}}})
    @blp.response(200, StockIngestResultSchema)
    def post(self):
        """Log and apply stock events (validation all or nothing; requests may be refused one by one)"""
        # StockEventBatchSchema is the contract; its fast twin parses (see stock_events.py).
        body = json_body()
        if body is None:
            abort(400, message="invalid JSON body: the body is empty", errors={"json": ["Invalid JSON body: empty."]})
        events, errors = load_stock_event_batch(body)
        if errors:
            abort(422, message="invalid stock events; nothing was written", errors={"json": errors})
        return stock.ingest_events(uow(write=True), runtime().stock, limit_batch(events))


@blp.route("/stock/safety")
class SafetyStock(MethodView):
    @requires(Permission.STOCK_WRITE)
    @blp.arguments(SafetyStockSchema(many=True))
    @blp.response(200, StockIngestResultSchema)
    def put(self, items):
        """Set safety stock for many positions (logged as safety_stock events)"""
        return stock.set_safety_stock(uow(write=True), runtime().stock, limit_batch(items))


@blp.route("/stock/low")
class LowStock(MethodView):
    @requires(Permission.STOCK_READ)
    @blp.arguments(LowStockQuerySchema, location="query")
    @blp.response(200, LowStockSchema)
    def get(self, args):
        """Positions at a location at or under their threshold (absolute, or days of cover)"""
        after, limit = page_args(args, "stock_low")
        found = stock.low_stock(uow(), runtime().stock, args["location"], threshold=args.get("threshold"),
                                cover_days=args.get("cover_days"), velocity_days=args["velocity_days"],
                                after=after, limit=limit, min_seq=args.get("min_seq"))
        return {"location": found["location"], "as_of_seq": found["as_of_seq"],
                **page_body(found["page"], "stock_low")}


# Under the product, not /stock/<sku>: a fixed route there (/stock/low, /stock/events)
# would hide the sku of the same name.
@blp.route("/products/<id:sku>/stock")
class ProductStock(MethodView):
    @requires(Permission.STOCK_READ)
    @blp.arguments(MinSeqQuerySchema, location="query")
    @blp.response(200, ProductStockSchema)
    def get(self, args, sku):
        """A product's stock at every location"""
        return stock.stock_of_product(runtime().stock, sku, args.get("min_seq"))


@blp.route("/availability")
class Availability(MethodView):
    @requires(Permission.STOCK_READ)
    @blp.arguments(AvailabilityQuerySchema, location="query")
    @blp.response(200, AvailabilitySchema)
    def get(self, args):
        """Available-to-promise for one sku and quantity through a channel (404 for an unknown sku)"""
        return stock.availability_of(runtime().stock, args["sku"], args["quantity"], args["channel"],
                                     args.get("location"), args.get("min_seq"))

    @requires(Permission.STOCK_READ)
    @blp.arguments(AvailabilityBatchSchema)
    @blp.response(200, AvailabilityListSchema)
    def post(self, body):
        """Available-to-promise for many skus at once (reads only; POST for the body); an
        unknown sku's item carries an `error` naming it"""
        items = [(item["sku"], item["quantity"]) for item in limit_batch(body["items"])]
        return {"items": stock.availability(runtime().stock, items, body["channel"], body.get("location"),
                                            body.get("min_seq"))}


@blp.route("/admin/stock/verify")
class StockVerify(MethodView):
    @requires(Permission.ADMIN)
    @blp.response(200)
    def get(self):
        """Compare the log replayed, the positions table and this process's in-memory view"""
        return stock.verify(uow(), runtime().stock)
