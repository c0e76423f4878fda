"""django-q2 tasks: thin, each calls one service."""

from inventory import services


def expire_reservations() -> int:
    return services.reservations_expire()
