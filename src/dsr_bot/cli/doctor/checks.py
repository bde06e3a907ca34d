"""`dsr-bot doctor`: check the configuration end to end and say how to fix what is wrong.

Each check answers one question an operator would otherwise answer by reading logs: can we
reach the database, log in to the mailbox, see the folder, talk to the mail server, reach
Slack, render every reply, load the model? A failure carries a fix in the operator's terms
(which setting, which command), never a stack trace.

Doctor only looks: it opens the IMAP folder read-only (EXAMINE, RFC 3501 §6.3.2), sends no
mail (MAIL FROM is followed by RSET, RFC 5321 §4.1.1.5), posts nothing to Slack, and does not
create a SQLite file that is not there yet.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from dsr_bot.cli.doctor.findings import Finding, fail, ok, skip
from dsr_bot.cli.doctor.remote import check_imap, check_smtp
from dsr_bot.cli.doctor.slack import check_slack
from dsr_bot.config import ConfigError, Settings, env_name
from dsr_bot.logs import Redactor, secrets_of

SAMPLE_REQUEST = (
    "Begäran om registerutdrag",
    "Hej, jag vill enligt artikel 15 i GDPR få en kopia av alla personuppgifter ni har om mig.",
)


Check = Callable[[Settings], Iterator[Finding]]


def run_checks(settings: Settings, checks: list[Check] | None = None) -> Iterator[Finding]:
    """Yield findings as they come (a slow server should not hide the lines before it)."""
    redact = Redactor(secrets_of(settings))
    for check in checks or default_checks():
        try:
            for finding in check(settings):
                yield Finding(finding.name, finding.status, redact(finding.detail), finding.fix)
        except Exception as exc:  # a bug in a check must not hide the other checks
            name = getattr(check, "__name__", "check").removeprefix("check_")
            yield fail(name, redact(f"unexpected {type(exc).__name__}: {exc}"), "report a bug")


def default_checks() -> list[Check]:
    return [
        check_settings,
        check_database,
        check_imap,
        check_smtp,
        check_slack,
        check_templates,
        check_model,
    ]


# -- local checks ---------------------------------------------------------------------------
def check_settings(settings: Settings) -> Iterator[Finding]:
    missing = [
        n
        for n in ("imap_host", "imap_user", "imap_password", "mail_from")
        if not getattr(settings, n)
    ]
    if settings.mail_outbox_dir is None and not settings.smtp_host:
        missing.append("smtp_host")
    if missing:
        names = ", ".join(env_name(n) for n in missing)
        yield fail("settings", f"not set: {names}", f"set {names} (see deploy/env.example)")
    else:
        yield ok("settings", "the settings `dsr-bot run` needs are present")
    try:
        controller = settings.resolved_controller()
    except ConfigError as exc:
        yield fail(
            "controller profile",
            str(exc),
            f"set {env_name('controller_profile')} or add a [controller] table to the config file "
            "(deploy/config.example.toml)",
        )
        return
    yield ok("controller profile", controller.name)


def check_database(settings: Settings) -> Iterator[Finding]:
    from sqlalchemy.engine import make_url

    from dsr_bot.store import db

    url = make_url(settings.database_url)
    where = url.render_as_string(hide_password=True)
    if settings.is_sqlite:
        path = Path(url.database or "")
        if url.database and not path.exists():
            parent = path.parent if str(path.parent) else Path(".")
            if not os.access(parent, os.W_OK):
                yield fail(
                    "database",
                    f"{where}: directory {parent} is not writable",
                    f"create {parent} for the service user or change {env_name('database_url')}",
                )
            else:
                yield ok("database", f"{where} will be created at the first `dsr-bot run`")
            return
    engine = db.make_engine(settings.database_url)
    try:
        current = db.current_revision(engine)
    except Exception as exc:
        yield fail("database", f"{where}: {_first_line(exc)}", _database_fix(settings, exc))
        return
    finally:
        engine.dispose()
    head = db.head_revision()
    if current == head:
        yield ok("database", f"{where}, schema {current} (current)")
    elif settings.is_sqlite:
        yield ok("database", f"{where}, schema {current or 'empty'} → {head} at next start")
    else:
        yield fail(
            "database",
            f"{where}: schema is at {current or 'nothing'}, this version needs {head}",
            "run `dsr-bot db upgrade` (back up first: docs/operations.md)",
        )


def _database_fix(settings: Settings, exc: Exception) -> str:
    text = str(exc).lower()
    var = env_name("database_url")
    if "password authentication failed" in text or "no password supplied" in text:
        return f"check the user name and password in {var}"
    if "does not exist" in text and "database" in text:
        return f"create the database (createdb) or correct its name in {var}"
    if "connection refused" in text or "could not connect" in text or "timeout" in text:
        return f"start PostgreSQL, or correct host and port in {var} (try `pg_isready -h HOST`)"
    if "unable to open database file" in text:
        return f"make the SQLite file's directory writable for the service user, or fix {var}"
    return f"check {var}"


def check_templates(settings: Settings) -> Iterator[Finding]:
    from dsr_bot.replies import ReplyRenderer

    try:
        renderer = ReplyRenderer(settings.resolved_controller())
    except ConfigError:
        yield skip("templates", "not checked: no controller profile (see above)")
        return
    problems = renderer.check()
    count = len(renderer.names()) * len(renderer.languages())
    if problems:
        shown = "; ".join(problems[:3]) + (
            f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        )
        yield fail(
            "templates",
            f"{len(problems)} problem(s): {shown}",
            "run `dsr-bot templates check` for the full list and correct the templates or "
            "the controller profile",
        )
    else:
        yield ok("templates", f"{count} templates render in {', '.join(renderer.languages())}")


def check_model(settings: Settings) -> Iterator[Finding]:
    from dsr_bot.classify import load_classifier
    from dsr_bot.classify.spacy_classifier import MODEL_DIR, model_available

    if not model_available(MODEL_DIR):
        yield fail(
            "classifier model",
            f"no trained model in {MODEL_DIR}: only explicit phrases would be recognised",
            "reinstall dsr-bot from the release wheel (it ships the model), or run `dsr-bot train`",
        )
        return
    classifier = load_classifier(settings.classifier_threshold, settings.classifier_review_low)
    result = classifier.classify(*SAMPLE_REQUEST)
    labels = ", ".join(str(label) for label in result.labels) or "nothing"
    if "access" not in {str(label) for label in result.labels}:
        yield fail(
            "classifier model",
            f"loaded, but a plain Swedish access request came out as {labels}",
            "reinstall dsr-bot from the release wheel; check DSR_BOT_CLASSIFIER_THRESHOLD",
        )
        return
    yield ok("classifier model", f"loaded from {MODEL_DIR}; sample access request → {labels}")
    if settings.classifier_process:
        yield from _check_worker(settings, labels)


def _check_worker(settings: Settings, expected: str) -> Iterator[Finding]:
    """DSR_BOT_CLASSIFIER_PROCESS: the worker starts, loads and answers as this process does."""
    from dsr_bot.classify.worker import ClassifierUnavailable, ProcessClassifier

    worker = ProcessClassifier(settings.classifier_threshold, settings.classifier_review_low)
    try:
        result = worker.classify(*SAMPLE_REQUEST)
    except ClassifierUnavailable as exc:
        yield fail(
            "classifier worker",
            f"DSR_BOT_CLASSIFIER_PROCESS is on, but the worker process failed: {exc}",
            "the worker's own error is printed above this report; fix the installation, or "
            "set DSR_BOT_CLASSIFIER_PROCESS=false",
        )
        return
    finally:
        worker.close()
    labels = ", ".join(str(label) for label in result.labels) or "nothing"
    if labels != expected:
        yield fail(
            "classifier worker",
            f"the worker process answers {labels}, this process {expected}",
            "reinstall dsr-bot: the worker runs the interpreter and package this process runs",
        )
        return
    yield ok("classifier worker", f"a worker process answers the sample alike ({labels})")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
