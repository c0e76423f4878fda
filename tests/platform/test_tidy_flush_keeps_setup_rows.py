"""The suite's flush keeps the content types and permissions the test
database was created with (post_migrate finds them all and writes nothing),
instead of deleting them for post_migrate to write again after every
transactional test. Rows a test adds still go; rows a test deletes come
back; every other table is emptied as before (test_speed_flush.py)."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from integrations.models import ProviderAccount
from tests.pg import flush_as_after_a_test

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _ids(model) -> set[int]:
    return set(model.objects.values_list("id", flat=True))


def test_the_setup_rows_are_kept_with_their_ids():
    content_types, permissions = _ids(ContentType), _ids(Permission)
    assert ContentType.objects.get_for_model(ProviderAccount).pk in content_types
    flush_as_after_a_test()
    assert (_ids(ContentType), _ids(Permission)) == (content_types, permissions)


def test_rows_a_test_adds_go_and_rows_it_deletes_come_back():
    content_types, permissions = _ids(ContentType), _ids(Permission)
    added = ContentType.objects.create(app_label="tidy_test", model="thing")
    Permission.objects.create(content_type=added, codename="poke", name="Poke")
    ContentType.objects.get_for_model(ProviderAccount).delete()  # its permissions too
    flush_as_after_a_test()
    assert not ContentType.objects.filter(app_label="tidy_test").exists()
    assert not Permission.objects.filter(codename="poke").exists()
    assert ContentType.objects.filter(model="provideraccount").exists()
    assert Permission.objects.filter(codename="add_provideraccount").exists()
    assert len(_ids(ContentType)) == len(content_types)
    assert len(_ids(Permission)) == len(permissions)
