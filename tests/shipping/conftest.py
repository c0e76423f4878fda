# A committed database the fan-out's threads share (rate shopping).
from tests.integrations.fanout.conftest import threads_db  # noqa: F401
