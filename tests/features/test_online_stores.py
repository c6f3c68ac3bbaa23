"""The online store contract on the in-process store and on Redis (127.0.0.1:6379)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from loopml.features import get_online_store
from loopml.features.memory import InProcessStore
from loopml.features.redis_store import RedisStore
from loopml.testing.feature_store_contract import FeatureStoreContract
from tests.conftest import need_service


class TestInProcessStore(FeatureStoreContract):
    @pytest.fixture
    def make_store(self) -> Any:
        def make(views: Any, clock: Any, share: Any = None) -> InProcessStore:
            store = get_online_store("memory://", views, clock=clock)
            assert isinstance(store, InProcessStore)
            if share is not None:
                store.share(share)
            return store
        return make


class TestRedisStore(FeatureStoreContract):
    @pytest.fixture
    def make_store(self) -> Iterator[Any]:
        need_service("Redis", "127.0.0.1", 6379)
        prefix = f"lo-test-{uuid.uuid4().hex[:10]}"
        made: list[RedisStore] = []

        def make(views: Any, clock: Any, share: Any = None) -> RedisStore:
            store = get_online_store(f"redis://127.0.0.1:6379/0?prefix={prefix}", views, clock=clock)
            assert isinstance(store, RedisStore) and store.prefix == prefix
            made.append(store)
            return store
        yield make
        made[0].clear()
        for s in made:
            s.close()


def test_unknown_scheme() -> None:
    from loopml.errors import InvalidParameterValue

    with pytest.raises(InvalidParameterValue, match="unknown scheme 'cassandra'"):
        get_online_store("cassandra://x", [])
