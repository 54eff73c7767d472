"""DynamoDB attribute-value encoding for imgdrop records (numbers back to int)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_attributes(data: dict[str, Any]) -> dict[str, Any]:
    """A plain dict (None values dropped) as DynamoDB attribute values."""
    return {k: _SERIALIZER.serialize(v) for k, v in data.items() if v is not None}


def from_attributes(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as a plain dict; whole numbers become int."""
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def value(v: Any) -> dict[str, Any]:
    """One Python value as an attribute value (for ExpressionAttributeValues)."""
    return dict(_SERIALIZER.serialize(v))


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v
