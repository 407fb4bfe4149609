"""Alembic environment: runs migrations on the engine Kehu passes in (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from kehu.store.schema import metadata  # every table is on it: kehu.store (the package) imports their modules

config = context.config
engine = config.attributes.get("engine")

if engine is None:  # offline mode (SQL script), e.g. `alembic upgrade --sql`
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()
