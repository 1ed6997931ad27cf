"""Products: bulk upsert, one by sku, and a filtered, paginated listing."""
from __future__ import annotations

from flask.views import MethodView
from promo.api.parsing import Blueprint

from promo.api.auth import requires
from promo.api.context import runtime, uow
from promo.api.pagination import limit_batch, page_args, page_body
from promo.api.catalog_schemas import ProductPageSchema, ProductQuerySchema, ProductSchema
from promo.api.schemas import UpsertResultSchema
from promo.domain.access import Permission
from promo.services import catalog

blp = Blueprint("products", __name__, url_prefix="/v1/products", description="The product catalog")


@blp.route("")
class Products(MethodView):
    @requires(Permission.CATALOG_WRITE)
    @blp.arguments(ProductSchema(many=True))
    @blp.response(200, UpsertResultSchema)
    def put(self, items):
        """Create or replace up to max_batch_items products by sku (all or nothing)"""
        result = catalog.upsert_products(uow(write=True), limit_batch(items))
        runtime().serving.touch()       # names and prices in cached answers: at once in this process
        return result

    @requires(Permission.CATALOG_READ)
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, ProductPageSchema)
    def get(self, args):
        """List products by sku, optionally by category, brand or text in the name; or read
        exactly the products named by repeated `sku=`"""
        if args.get("sku"):
            return {**catalog.products_by_sku(uow(), args["sku"]), "next_cursor": None}
        after, limit = page_args(args, "products")
        page = catalog.list_products(uow(), after=after, limit=limit, category=args.get("category"),
                                     brand=args.get("brand"), text=args.get("q"))
        return page_body(page, "products")


@blp.route("/<id:sku>")
class ProductBySku(MethodView):
    @requires(Permission.CATALOG_READ)
    @blp.response(200, ProductSchema)
    def get(self, sku):
        """One product"""
        return catalog.get_product(uow(), sku)
