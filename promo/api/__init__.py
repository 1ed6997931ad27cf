"""The HTTP API: flask-smorest blueprints under /v1, public operational endpoints, errors."""
from __future__ import annotations

from flask import Flask, Response, request

from promo.api import (
    audiences,
    campaigns,
    checkout,
    coupon_codes,
    customers,
    interactions,
    locations,
    offers,
    products,
    stock,
    webhooks,
)
from promo.api.checkout_schemas import amount_property
from promo.api.errors import PromoApi, register_error_handlers
from promo.api.parsing import IdConverter, id_parameter_schema, require_json_content_type
from promo.api.health import (
    READINESS_CHECKS,
    blueprint as operations_blueprint,
    database_check,
    serving_check,
    stock_view_check,
)

RESOURCES = (products.blp, locations.blp, customers.blp, interactions.blp, stock.blp, audiences.blp,
             campaigns.blp, offers.blp, checkout.blp, coupon_codes.blp, webhooks.blp)

API_SETTINGS = {
    "API_TITLE": "promo",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
    "API_SPEC_OPTIONS": {
        "info": {"description": "Stock-aware promotion targeting and personalisation. "
                                "Send `Authorization: Bearer <API key>` on every /v1 call."},
        "security": [{"bearerAuth": []}],
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    },
}


# On every answer but the web app's pages (which send their own, promo.web.views): JSON is
# never sniffed as something else, framed or cached on the way (customers' data), and the
# API's answers load nothing. /docs (Swagger UI's page, whose script is inline) keeps no CSP.
API_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                        "Referrer-Policy": "no-referrer"}
V1_SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
                       "Cache-Control": "no-store"}


def _secure(response: Response) -> Response:
    if request.path.startswith("/app/"):
        return response
    for name, value in API_SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/v1/"):
        for name, value in V1_SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def init_api(app: Flask) -> PromoApi:
    app.config.update(API_SETTINGS)
    app.url_map.converters["id"] = IdConverter
    api = PromoApi(app)
    api.register_converter(IdConverter, id_parameter_schema)
    api.ma_plugin.converter.add_attribute_function(amount_property)
    for blueprint in RESOURCES:
        api.register_blueprint(blueprint)
    app.register_blueprint(operations_blueprint)
    app.before_request(require_json_content_type)
    app.after_request(_secure)
    app.extensions[READINESS_CHECKS] = {"database": database_check, "stock_view": stock_view_check,
                                        "serving": serving_check}
    register_error_handlers(app, api)
    return api
