"""Outside review of Amazon SES events over SNS (task "mail"): the signing
certificate is only ever fetched from an SNS host. ``sns.<label>.amazonaws.com``
is not enough: an S3 bucket named ``sns`` answers over HTTPS at
``sns.s3-us-west-2.amazonaws.com`` (a legacy regional S3 endpoint) with the
certificate its owner chose, and a self-made certificate named for SNS would
then verify a forged bounce. The label must be an AWS region."""

import pytest
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent
from integrations.webhooks.verification import WebhookVerificationError
from notifications.providers.sns_signature import check_sns_url
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness_amazon_ses import TOPIC
from tests.notifications.providers.test_ses_webhooks import fields, serve_cert
from tests.notifications.signing_keys import sns_body

pytestmark = pytest.mark.django_db

NOT_SNS = [
    "https://sns.s3-us-west-2.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.s3-external-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.s3-website-us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.compute-1.amazonaws.com/SimpleNotificationService-1.pem",
]
SNS = [
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.ap-southeast-3.amazonaws.com/SimpleNotificationService-1.pem",
    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
]


@pytest.fixture
def ses() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="amazon_ses",
        credentials={"access_key_id": "AKIATEST", "secret_access_key": "secret"},
        settings={"region": "us-east-1", "sns_topic_arns": TOPIC},
    )


@pytest.mark.parametrize("url", NOT_SNS)
def test_a_certificate_on_another_aws_host_is_never_fetched(ses, rsps, url) -> None:
    serve_cert(rsps, url)  # what the bucket's owner would serve
    response = Client().post(
        f"/webhooks/{ses.slug}/",
        data=sns_body(fields(), cert_url=url),
        content_type="text/plain; charset=UTF-8",
    )
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "invalid_signature"
    assert len(rsps.calls) == 0
    assert not WebhookEvent.objects.filter(account=ses).exists()


@pytest.mark.parametrize("url", NOT_SNS)
def test_nor_is_a_subscription_confirmed_there(url) -> None:
    with pytest.raises(WebhookVerificationError):
        check_sns_url(url.replace(".pem", ""), param="SubscribeURL")


@pytest.mark.parametrize("url", SNS)
def test_sns_hosts_of_every_partition_still_pass(url) -> None:
    check_sns_url(url, param="SigningCertURL", pem=True)
