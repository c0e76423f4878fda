# The contract runner's fixtures: one client attempt per call, and `rsps`.
from tests.contract.runner import rsps, single_attempt  # noqa: F401
