"""Who is signed in, as Flask-Login keeps them: the account's id and its session epoch,
so that a password change or a disabled account ends the sessions opened before."""
from __future__ import annotations

import functools
from typing import Any, Callable

from flask import render_template
from flask_login import UserMixin, current_user, login_required

from promo.api.context import uow
from promo.services import staff


class SignedIn(UserMixin):
    def __init__(self, person: staff.Person):
        self.person = person

    def get_id(self) -> str:
        return f"{self.person.id}:{self.person.session_epoch}"


def load_signed_in(session_id: str) -> SignedIn | None:
    user_id, _, epoch = session_id.partition(":")
    if not (user_id.isdigit() and epoch.isdigit()):
        return None
    person = staff.signed_in(uow(), int(user_id), int(epoch))
    return SignedIn(person) if person is not None else None


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages for admins only (staff accounts); marketing staff get a 403 page."""
    @functools.wraps(view)
    @login_required
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if current_user.person.role != "admin":
            return render_template("error.html", title="Not allowed",
                                   message="This page is for admins; ask one if you need it."), 403
        return view(*args, **kwargs)
    return guarded
