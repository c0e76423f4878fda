"""Payments in the back office, one module per concern; each registers its
own ModelAdmins.

Money fields are read-only everywhere: every change goes through a service in
``payments.services`` (capture, void, refund, reconcile, review), each action
calls one, and each success is written to the admin log. A refusal (the
provider declines, the amount is above what is left) is shown as an error
message, never a server error.
"""

from payments.admin import (
    fraud,  # noqa: F401
    payments,  # noqa: F401
    records,  # noqa: F401
    review,  # noqa: F401
)
