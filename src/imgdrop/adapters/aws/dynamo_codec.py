"""DynamoDB attribute-value encoding for imgdrop records (numbers back to int)."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from imgdrop.core.errors import InvalidRequest
from imgdrop.core.keys import is_image_id

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


def encode_cursor(image_id: str) -> str:
    """Opaque page cursor: the last imageId of the page (same shape as the local catalog's)."""
    return base64.urlsafe_b64encode(image_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """Back to an imageId; raises InvalidRequest for anything else."""
    try:
        image_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("bad cursor") from None
    if not is_image_id(image_id):
        raise InvalidRequest("bad cursor")
    return image_id
