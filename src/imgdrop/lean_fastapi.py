"""Import FastAPI for a Lambda cold start without building its OpenAPI models up front.

`import fastapi` defines the ~40 pydantic models of the OpenAPI document
(`fastapi.openapi.models`, imported by `fastapi.params`) and builds a validator and serializer
for each, plus `Schema.model_rebuild()` and two more explicit builds: ~0.1 s, about a tenth of
the web function's init, for models only GET /openapi.json uses. FastAPI does not let them
defer (fastapi/fastapi#10546 proposed it), so for the import of FastAPI only, pydantic's
default `defer_build` is turned on and a module's own "build now" `model_rebuild()` call is
left for the model's first use; both are put back right after. A deferred model is built by
pydantic itself the first time it validates (the first /openapi.json, which answers the same
document). imgdrop's own models are defined later and built at init as before.

Both levers are pydantic internals (its defaults table, the classmethod's signature): if
either is not as expected, FastAPI is imported plainly. tests/aws/test_cold_imports.py checks
that the deferral happens, and that /openapi.json is unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def _pydantic_defaults() -> dict[str, Any] | None:
    """pydantic's model config defaults (a private table: None if it is not there)."""
    try:
        from pydantic._internal._config import config_defaults
    except ImportError:
        return None
    table: Any = config_defaults
    return table if isinstance(table, dict) and table.get("defer_build") is False else None


def _deferring(rebuild: Callable[..., Any]) -> Callable[..., Any]:
    """`model_rebuild` that leaves a module's explicit call on an unbuilt model for later."""

    def model_rebuild(
        cls: Any,
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        if raise_errors and not force and not cls.__pydantic_complete__:
            return None  # built by pydantic at first use (its own rebuild passes raise_errors)
        depth = _parent_namespace_depth + 1 if _parent_namespace_depth > 0 else 0  # this frame
        return rebuild(  # type: ignore[no-any-return]
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=depth,
            _types_namespace=_types_namespace,
        )

    return model_rebuild


@contextmanager
def _models_deferred() -> Iterator[None]:
    """Within the block, new pydantic models (and their explicit rebuilds) wait for first use."""
    from pydantic import BaseModel

    defaults = _pydantic_defaults()
    original = BaseModel.__dict__.get("model_rebuild")
    if defaults is None or not isinstance(original, classmethod):
        yield
        return
    defaults["defer_build"] = True
    BaseModel.model_rebuild = classmethod(_deferring(original.__func__))  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign,assignment]
        defaults["defer_build"] = False


def import_fastapi() -> None:
    """Import FastAPI with its OpenAPI models deferred (nothing to do if it is loaded)."""
    if "fastapi" in sys.modules:
        return
    with _models_deferred():
        import fastapi  # noqa: F401
