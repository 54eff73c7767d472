"""The images and users tables as infra/template.yaml defines them, on a DynamoDB server."""

from __future__ import annotations

from typing import Any

KEYS = {
    "KeySchema": [
        {"AttributeName": "userId", "KeyType": "HASH"},
        {"AttributeName": "imageId", "KeyType": "RANGE"},
    ],
}
KEY_ATTRIBUTES = [
    {"AttributeName": "userId", "AttributeType": "S"},
    {"AttributeName": "imageId", "AttributeType": "S"},
]


def create_catalog_table(dynamodb: Any, name: str) -> None:
    """On-demand table, userId (S) / imageId (S), with the sweeper's sparse index."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            *KEY_ATTRIBUTES,
            {"AttributeName": "processingShard", "AttributeType": "N"},
            {"AttributeName": "processingSince", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "processing-since",
                "KeySchema": [
                    {"AttributeName": "processingShard", "KeyType": "HASH"},
                    {"AttributeName": "processingSince", "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": ["originalKey", "status", "createdAt", "updatedAt"],
                },
            }
        ],
        **KEYS,
    )


def create_users_table(dynamodb: Any, name: str) -> None:
    """The accounts table: on-demand, the same key schema as the images table."""
    dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=KEY_ATTRIBUTES, **KEYS
    )
