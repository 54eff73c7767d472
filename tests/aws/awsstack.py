"""Helpers for the AWS-mode tests: a fresh bucket/table/queue on moto, test images."""

from __future__ import annotations

import io
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from PIL import Image
from tests.catalog_table import create_catalog_table, create_users_table

from imgdrop.settings import Settings, load_settings
from imgdrop.wiring import Runtime, build

REGION = "us-east-1"
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


def client(service: str, url: str) -> Any:
    """A boto3 client for the moto server."""
    return boto3.client(service, endpoint_url=url, region_name=REGION)


@dataclass
class AwsStack:
    """A fresh bucket, images and users tables and notification queue on moto, and the
    IMGDROP_* env for them."""

    url: str
    bucket: str
    table: str
    users_table: str
    queue_url: str
    env: dict[str, str]

    def settings(self, **overrides: Any) -> Settings:
        """AWS-mode settings pointing at moto."""
        return load_settings(self.env, **overrides)

    def s3_events(self, wait_s: int = 5) -> list[dict[str, Any]]:
        """Receive (and delete) the S3 notifications queued so far."""
        sqs = client("sqs", self.url)
        events = []
        for _ in range(wait_s * 2):
            got = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            for message in got:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if any("Records" in e for e in events) and not got:
                break
        return events


def create_stack(url: str) -> AwsStack:
    """Bucket (notifying an SQS queue of uploads/ ObjectCreated) + tables, as the template does."""
    name = f"imgdrop-{uuid.uuid4().hex[:10]}"
    s3, sqs, dynamodb = client("s3", url), client("sqs", url), client("dynamodb", url)
    s3.create_bucket(Bucket=name)
    create_catalog_table(dynamodb, name)
    create_users_table(dynamodb, f"{name}-users")
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                }
            ]
        },
    )
    env = {
        "IMGDROP_BACKEND": "aws",
        "IMGDROP_S3_BUCKET": name,
        "IMGDROP_DYNAMODB_TABLE": name,
        "IMGDROP_USERS_TABLE": f"{name}-users",
        "IMGDROP_AWS_REGION": REGION,
        "IMGDROP_S3_ENDPOINT_URL": url,
        "IMGDROP_DYNAMODB_ENDPOINT_URL": url,
        "IMGDROP_JOB_MAX_ATTEMPTS": "3",
    }
    return AwsStack(url, name, name, f"{name}-users", queue_url, env)


def make_jpeg(width: int = 800, height: int = 600, seed: int = 1) -> bytes:
    """A seeded noisy JPEG photo-like test image."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height))
    image.putdata([(rng.randrange(256), (x * 7) % 256, 128) for x in range(width * height)])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def aws_runtime(stack: AwsStack, **kwargs: Any) -> Runtime:
    """imgdrop.wiring.build in AWS mode against the stack."""
    return build(stack.settings(), **kwargs)
