"""The invoice desk: the invoicing users' invoices under /invoices, and the staff's desk
under /staff/invoices (with the incoming bank payments, `bank.py`, and the work on the
selected invoices, `bulk.py`); the payment
reminders (`reminders.py`), the receivables' ageing (`receivables.py`) and the payouts
to the users (`payouts.py`) of both, and their lists' downloads (`exports.py`)."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.invoicing import (
    bank,
    bulk,
    exports,
    payouts,
    public,
    receivables,
    reminders,
    staff,
)

bp = public.routes.register(Blueprint("invoicing", __name__, url_prefix="/invoices"))
staff_bp = staff.routes.register(
    Blueprint("invoicing_staff", __name__, url_prefix="/staff/invoices")
)
bank.routes.register(staff_bp)  # incoming bank payments, in the staff's desk
bulk.staff_routes.register(staff_bp)  # the selected invoices forwarded or reminded
reminders.routes.register(bp)  # payment reminders: the user's,
reminders.staff_routes.register(staff_bp)  # and the staff's
receivables.staff_routes.register(staff_bp)  # the receivables' ageing, every user's
receivables.user_routes.register(bp)  # and each user's own
payouts.staff_routes.register(staff_bp)  # payouts to the users: the staff's batches,
payouts.user_routes.register(bp)  # and each user's own
exports.staff_routes.register(staff_bp)  # the lists as CSV and Excel: the staff's,
exports.user_routes.register(bp)  # and the user's own invoices


def register(app: Flask) -> None:
    """Mount the part's blueprints and wire its halves."""
    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    staff.setup_app(app)
    public.setup_app(app)
    app.jinja_env.globals["reminder_preview"] = reminders.preview
    app.jinja_env.globals["service_fee"] = payouts.service_fee
