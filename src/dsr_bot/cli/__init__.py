"""`dsr-bot …`: every command group, registered on the one `main` group.

Each module beside this one holds one group of commands and imports only `cli/main.py`
(settings, errors, output helpers); this file is the only place that knows them all.
Commands are thin: they parse options, load the settings once and call the library.
"""

from dsr_bot.cli import cases as _cases
from dsr_bot.cli import classify as _classify
from dsr_bot.cli import db as _db
from dsr_bot.cli import fulfilment as _fulfilment
from dsr_bot.cli import ops as _ops
from dsr_bot.cli import outbox as _outbox
from dsr_bot.cli import requests as _requests
from dsr_bot.cli import service as _service
from dsr_bot.cli.doctor import command as _doctor
from dsr_bot.cli.main import main

main.add_command(_service.run)
main.add_command(_service.demo)
main.add_command(_cases.messages)
main.add_command(_cases.cases)
main.add_command(_cases.deadline)
main.add_command(_db.db)
main.add_command(_outbox.outbox)
main.add_command(_fulfilment.suppression)
main.add_command(_fulfilment.fulfil)
main.add_command(_classify.classify)
main.add_command(_classify.train)
main.add_command(_classify.evaluate)
main.add_command(_classify.templates)
main.add_command(_doctor.doctor)
main.add_command(_ops.reminders_group)
main.add_command(_ops.report_command)
main.add_command(_ops.retention_group)
_cases.cases.add_command(_ops.cases_extend)
_cases.cases.add_command(_requests.cases_new)
main.add_command(_requests.letters_group)

__all__ = ["main"]
