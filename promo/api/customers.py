"""Customers: bulk upsert, one by id, and a paginated listing."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from promo.api.auth import requires
from promo.api.context import uow
from promo.api.pagination import limit_batch, page_args, page_body
from promo.api.schemas import CustomerDetailSchema, CustomerPageSchema, CustomerSchema, PageQuerySchema, UpsertResultSchema
from promo.domain.access import Permission
from promo.services import customers

blp = Blueprint("customers", __name__, url_prefix="/v1/customers", description="Customers")


@blp.route("")
class Customers(MethodView):
    @requires(Permission.CUSTOMER_WRITE)
    @blp.arguments(CustomerSchema(many=True))
    @blp.response(200, UpsertResultSchema)
    def put(self, items):
        """Create or replace customers by id (all or nothing)"""
        return customers.upsert_customers(uow(write=True), limit_batch(items))

    @requires(Permission.CUSTOMER_READ)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, CustomerPageSchema)
    def get(self, args):
        """List customers by id"""
        after, limit = page_args(args, "customers")
        return page_body(customers.list_customers(uow(), after=after, limit=limit), "customers")


@blp.route("/<string:customer_id>")
class CustomerById(MethodView):
    @requires(Permission.CUSTOMER_READ)
    @blp.response(200, CustomerDetailSchema)
    def get(self, customer_id):
        """One customer"""
        return customers.get_customer(uow(), customer_id)
