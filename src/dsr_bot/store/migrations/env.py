"""Alembic environment: the engine comes from dsr-bot's own settings, not alembic.ini."""

from alembic import context

from dsr_bot.store.tables import Base

config = context.config
engine = config.attributes["engine"]

# Tables owned by libraries (APScheduler's job store creates its own) are not ours to diff.
FOREIGN_TABLES = {"apscheduler_jobs"}


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    return not (type_ == "table" and name in FOREIGN_TABLES)


with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    context.run_migrations()
