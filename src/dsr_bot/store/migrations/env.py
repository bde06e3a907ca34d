"""Alembic environment: the engine comes from dsr-bot's own settings, not alembic.ini."""

from alembic import context

from dsr_bot.store.tables import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
