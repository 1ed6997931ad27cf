"""Bearer API keys, and the one decorator that says which permission a view needs."""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from flask import g, request

from promo.api.context import runtime
from promo.domain.access import ALLOWED_ROLES, Permission, role_allows
from promo.domain.errors import PermissionDenied

F = TypeVar("F", bound=Callable[..., Any])
PERMISSION_ATTRIBUTE = "promo_permission"


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def requires(permission: Permission) -> Callable[[F], F]:
    """Let the view run only for a valid key whose role holds ``permission``, within the
    key's request rate (429 past it).

    Put it above the flask-smorest decorators, so a caller without the right key is
    refused before its request body is even parsed.
    """
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            served = runtime()
            name, role = served.keys.authenticate(bearer_token())
            g.api_key_name = name
            served.key_requests.take(name)
            if not role_allows(role, permission):
                allowed = ", ".join(sorted(r.value for r in ALLOWED_ROLES[permission]))
                raise PermissionDenied(f"role {role.value!r} may not do this; it needs one of: {allowed}")
            return view(*args, **kwargs)

        setattr(guarded, PERMISSION_ATTRIBUTE, permission)
        return guarded  # type: ignore[return-value]

    return decorate
