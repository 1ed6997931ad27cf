"""Roles of API keys and what each may do.

Every endpoint declares one :class:`Permission`; ``ALLOWED_ROLES`` is the role matrix
shown in the README, and a test walks every route against every role with it.
"""
from __future__ import annotations

import enum


class Role(str, enum.Enum):
    INVENTORY = "inventory"   # the stock and catalog systems
    CHANNEL = "channel"       # the e-commerce site and the mobile app
    MARKETING = "marketing"   # marketing staff and their tools
    ADMIN = "admin"           # operators


class Permission(str, enum.Enum):
    CATALOG_READ = "catalog_read"            # products, locations
    CATALOG_WRITE = "catalog_write"
    STOCK_READ = "stock_read"                # stock positions, availability
    STOCK_WRITE = "stock_write"              # stock events
    CUSTOMER_READ = "customer_read"          # customers and their profiles
    CUSTOMER_WRITE = "customer_write"        # customers and their interactions
    CHANNEL_SERVE = "channel_serve"          # offers, deals, recommendations
    MARKETING_WRITE = "marketing_write"      # campaigns, audiences, coupon codes, reports
    CHECKOUT = "checkout"                    # carts evaluated, redemptions and cancellations
    ADMIN = "admin"                          # keys, operations


_ALL = frozenset(Role)

ALLOWED_ROLES: dict[Permission, frozenset[Role]] = {
    Permission.CATALOG_READ: _ALL,
    Permission.CATALOG_WRITE: frozenset({Role.INVENTORY, Role.ADMIN}),
    Permission.STOCK_READ: _ALL,
    Permission.STOCK_WRITE: frozenset({Role.INVENTORY, Role.ADMIN}),
    Permission.CUSTOMER_READ: frozenset({Role.MARKETING, Role.ADMIN}),
    Permission.CUSTOMER_WRITE: frozenset({Role.CHANNEL, Role.ADMIN}),
    Permission.CHANNEL_SERVE: frozenset({Role.CHANNEL, Role.MARKETING, Role.ADMIN}),
    Permission.MARKETING_WRITE: frozenset({Role.MARKETING, Role.ADMIN}),
    Permission.CHECKOUT: frozenset({Role.CHANNEL, Role.ADMIN}),
    Permission.ADMIN: frozenset({Role.ADMIN}),
}


def role_allows(role: Role, permission: Permission) -> bool:
    return role in ALLOWED_ROLES[permission]
