"""The catalog table as infra/template.yaml defines it, created on a DynamoDB protocol server."""

from __future__ import annotations

from typing import Any


def create_catalog_table(dynamodb: Any, name: str) -> None:
    """On-demand table, partition key userId (S), sort key imageId (S)."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "userId", "AttributeType": "S"},
            {"AttributeName": "imageId", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "userId", "KeyType": "HASH"},
            {"AttributeName": "imageId", "KeyType": "RANGE"},
        ],
    )
