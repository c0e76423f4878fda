"""The size limits (``test_sizes``) hold for every package of the project,
not a list that a new app is left out of."""

from tests.platform.test_sizes import PACKAGES, ROOT


def test_every_project_package_is_size_checked() -> None:
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    assert packages - {"tests"} <= set(PACKAGES), packages - set(PACKAGES)
