"""Engine creation and the unit of work: one transaction per request or job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from evalplane.db import dialect


def make_engine(url: str, pool_size: int = 5) -> AsyncEngine:
    engine = create_async_engine(url, **dialect.engine_options(url, pool_size))
    dialect.configure(engine)
    return engine


class Database:
    """Owns the engine and hands out sessions; services never commit, the edge does."""

    def __init__(self, url: str, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @property
    def dialect_name(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on any error."""
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()
