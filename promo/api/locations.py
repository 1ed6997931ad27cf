"""Locations: stores and warehouses, with the channels they serve."""
from __future__ import annotations

from flask.views import MethodView
from promo.api.parsing import Blueprint

from promo.api.auth import requires
from promo.api.context import uow
from promo.api.pagination import limit_batch, page_args, page_body
from promo.api.catalog_schemas import LocationPageSchema, LocationQuerySchema, LocationSchema
from promo.api.schemas import UpsertResultSchema
from promo.domain.access import Permission
from promo.services import catalog

blp = Blueprint("locations", __name__, url_prefix="/v1/locations", description="Stores and warehouses")


@blp.route("")
class Locations(MethodView):
    @requires(Permission.CATALOG_WRITE)
    @blp.arguments(LocationSchema(many=True))
    @blp.response(200, UpsertResultSchema)
    def put(self, items):
        """Create or replace locations by code (all or nothing)"""
        return catalog.upsert_locations(uow(write=True), limit_batch(items))

    @requires(Permission.CATALOG_READ)
    @blp.arguments(LocationQuerySchema, location="query")
    @blp.response(200, LocationPageSchema)
    def get(self, args):
        """List locations by code, optionally of one kind"""
        after, limit = page_args(args, "locations")
        return page_body(catalog.list_locations(uow(), after=after, limit=limit, kind=args.get("kind")), "locations")


@blp.route("/<id:code>")
class LocationByCode(MethodView):
    @requires(Permission.CATALOG_READ)
    @blp.response(200, LocationSchema)
    def get(self, code):
        """One location"""
        return catalog.get_location(uow(), code)
