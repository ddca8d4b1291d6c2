"""``evalplane tasks list | runs | trigger``: tasks for operators, on the server's own database.

These commands open the database the server uses (EVALPLANE_DATABASE_URL, or the SQLite file
under EVALPLANE_HOME) and go through the same domain services as the API, acting as the
first admin. Whoever can reach the database already holds every key, so asking for an API key
would add nothing; remote users have the SDK and the HTTP API for the same operations.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from evalplane.settings import Settings

T = TypeVar("T")

_HELP_ACCESS = (
    "Works on the server's database directly (EVALPLANE_DATABASE_URL or EVALPLANE_HOME), "
    "as the first admin, through the same rules as the API; no API key needed."
)


@click.group(help=f"Evaluation tasks and their runs. {_HELP_ACCESS}")
def tasks() -> None:
    pass


def _run(body: Callable[[Any], Awaitable[T]]) -> T:
    """Open the database (migrating it like the server would), run ``body(state)``, close."""
    from evalplane.api.app import start
    from evalplane.core.errors import DomainError

    async def go() -> T:
        state = await start(Settings())
        try:
            return await body(state)
        except DomainError as exc:
            raise click.ClickException(exc.detail) from None
        finally:
            await state.db.dispose()

    return asyncio.run(go())


async def _admin(session: Any) -> Any:
    from sqlalchemy import select

    from evalplane.db.models import User
    from evalplane.domains.access.principal import Principal

    user_id = await session.scalar(select(User.id).where(User.account_role == "ADMIN").order_by(User.id).limit(1))
    if user_id is None:
        raise click.ClickException("the database has no admin user")
    return Principal(user_id=user_id, api_key_id=None, is_account_admin=True)


async def _resolve_task(session: Any, reference: str) -> Any:
    """A task by its id (as the API and `tasks list` show it) or by its exact name."""
    from sqlalchemy import select

    from evalplane.core.errors import UnknownId
    from evalplane.core.ids import Kind, decode_id
    from evalplane.db.models import Task

    try:
        task = await session.get(Task, decode_id(Kind.TASK, reference))
        if task is not None:
            return task
    except UnknownId:
        pass
    found = (await session.scalars(select(Task).where(Task.name == reference).order_by(Task.id).limit(2))).all()
    if not found:
        raise click.ClickException(f"no task with the id or name {reference!r}")
    if len(found) > 1:
        raise click.ClickException(f"several tasks are named {reference!r} (in different spaces); use the task id")
    return found[0]


class IsoTime(click.ParamType):
    name = "ISO-8601 time"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 time such as 2025-01-31T12:00:00Z", param, ctx)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@tasks.command("list", help=f"List tasks, newest first. {_HELP_ACCESS}")
@click.option("--name", default=None, help="Only tasks whose name contains this text (case-insensitive).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100))
def list_tasks(name: str | None, limit: int) -> None:
    from evalplane.core.ids import Kind, encode_id
    from evalplane.db.paging import PageRequest
    from evalplane.domains.tasks import service

    async def body(state: Any) -> list[list[str]]:
        async with state.db.session() as session:
            page = await service.list_tasks(
                session, await _admin(session), service.TaskFilters(name=name), PageRequest(limit=limit), state.cursors
            )
            return [
                [
                    encode_id(Kind.TASK, view.task.id),
                    view.task.name,
                    view.task.type.lower(),
                    "yes" if view.task.is_continuous else "no",
                    ", ".join(e.evaluator_name for e in view.evaluators),
                    _when(view.task.last_run_at),
                ]
                for view in page.items
            ]

    rows = _run(body)
    _table(["ID", "NAME", "TYPE", "CONTINUOUS", "EVALUATORS", "LAST RUN"], rows)


def _run_row(run: Any) -> list[str]:
    from evalplane.core.ids import Kind, encode_id

    return [
        encode_id(Kind.TASK_RUN, run.id),
        run.status,
        run.kind.lower(),
        _when(run.created_at),
        str(run.num_successes),
        str(run.num_errors),
        str(run.num_skipped),
        (run.failure_reason or "")[:80],
    ]


@tasks.command("runs", help=f"List a task's runs, newest first. TASK is a task id or exact name. {_HELP_ACCESS}")
@click.argument("task")
@click.option(
    "--status",
    default=None,
    type=click.Choice(["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"], case_sensitive=False),
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100))
def list_runs(task: str, status: str | None, limit: int) -> None:
    from evalplane.db.paging import PageRequest
    from evalplane.domains.task_runs import service

    async def body(state: Any) -> list[list[str]]:
        async with state.db.session() as session:
            found = await _resolve_task(session, task)
            page = await service.list_runs(
                session,
                await _admin(session),
                found.id,
                status.upper() if status else None,
                PageRequest(limit=limit),
                state.cursors,
            )
            return [_run_row(run) for run in page.items]

    _table(["RUN", "STATUS", "KIND", "CREATED", "SUCCESSES", "ERRORS", "SKIPPED", "REASON"], _run(body))


@tasks.command(
    "trigger",
    help=f"Start a backfill run of TASK (a task id or exact name). With --wait, follow it to the end "
    f"with a progress bar; the exit status is 1 if the run FAILED or was CANCELLED. {_HELP_ACCESS}",
)
@click.argument("task")
@click.option(
    "--start",
    "start",
    type=IsoTime(),
    default=None,
    help="Window start (UTC unless an offset is given); default: where the last run ended.",
)
@click.option("--end", "end", type=IsoTime(), default=None, help="Window end (default: now).")
@click.option(
    "--max-spans", type=click.IntRange(min=1), default=None, help="Evaluate at most this many spans (default 10,000)."
)
@click.option("--override", is_flag=True, help="Evaluate spans again even if this task already evaluated them.")
@click.option("--wait", is_flag=True, help="Follow the run until it ends, showing progress.")
@click.option("--poll", type=float, default=1.0, show_default=True, help="Seconds between progress checks.")
@click.option(
    "--timeout", type=float, default=None, help="With --wait: give up waiting after this many seconds (exit 2)."
)
def trigger(
    task: str,
    start: datetime | None,
    end: datetime | None,
    max_spans: int | None,
    override: bool,
    wait: bool,
    poll: float,
    timeout: float | None,
) -> None:
    from evalplane.core.ids import Kind, encode_id
    from evalplane.domains.task_runs import service
    from evalplane.domains.tasks.inputs import RunRequest

    async def body(state: Any) -> int:
        async with state.db.session() as session:
            found = await _resolve_task(session, task)
            request = RunRequest(
                data_start_time=start, data_end_time=end, max_spans=max_spans, override_evaluations=override or None
            )
            run = await service.trigger(session, await _admin(session), found.id, request)
            return run.id

    run_id = _run(body)
    click.echo(f"triggered run {encode_id(Kind.TASK_RUN, run_id)}")
    if wait:
        sys.exit(_follow(run_id, poll, timeout))


def _follow(run_id: int, poll: float, timeout: float | None) -> int:
    from evalplane.db.models import TaskRun
    from evalplane.domains.task_runs import stats
    from evalplane.domains.task_runs.transitions import COMPLETED, TERMINAL

    live = ProgressLine(sys.stderr)

    async def body(state: Any) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            async with state.db.session() as session:
                run = await session.get(TaskRun, run_id)
                assert run is not None
                progress = await stats.progress(session, run_id)
            live.show(progress.done, progress.total, run.status)
            if run.status in TERMINAL:
                live.close()
                click.echo(
                    f"{run.status}: {run.num_successes} succeeded, {run.num_errors} errored, {run.num_skipped} skipped"
                    + (
                        f" ({run.prompt_tokens + run.completion_tokens} tokens)"
                        if run.prompt_tokens or run.completion_tokens
                        else ""
                    )
                )
                if run.failure_reason and run.status != COMPLETED:
                    click.echo(f"reason: {run.failure_reason}")
                return 0 if run.status == COMPLETED else 1
            if deadline is not None and time.monotonic() > deadline:
                live.close()
                click.echo(f"still {run.status} after {timeout:g} s; stopped waiting (the run goes on)")
                return 2
            await asyncio.sleep(poll)

    return _run(body)


class ProgressLine:
    """A progress bar redrawn in place on a terminal; on a pipe, a line per tenth of the way."""

    WIDTH = 30

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last_tenth = -1
        self.last_status = ""

    def show(self, done: int, total: int, status: str) -> None:
        fraction = done / total if total else 0.0
        filled = int(fraction * self.WIDTH)
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} units  {status}"
        if self.tty:
            self.stream.write("\r" + line + "\033[K")
            self.stream.flush()
            return
        tenth = int(fraction * 10)
        if tenth != self.last_tenth or status != self.last_status:
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last_tenth, self.last_status = tenth, status

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
