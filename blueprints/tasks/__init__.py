"""Background tasks' pages under /tasks: a task's state and progress (refreshed by
script, or by a reload without it), its items, a retry of what failed, an export's file,
and the user's own tasks. Staff also follow the staff's tasks of their colleagues."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import HTTPException

import security
from blueprints.shared import Routes
from extensions import db, limiter
from forms.tasks import ExportTaskForm, TaskForm, new_key
from models.tasks import Task
from paging import paginate
from services import tasks

routes = Routes()


def _task_or_404(task_id: int) -> Task:
    task = db.session.get(Task, task_id)
    if task is None or not tasks.can_see(task, current_user):
        abort(404)  # another's task is not there, as far as this user can tell
    return task


@routes.get("/")
@login_required
def index() -> ResponseReturnValue:
    """The user's own tasks, the newest first; staff may see all the staff's tasks."""
    everyone = current_user.is_staff and request.args.get("all") == "1"
    stmt = sa.select(Task)
    if everyone:
        staff_kinds = [kind for kind, spec in tasks.KINDS.items() if spec.staff_only]
        stmt = stmt.where(Task.kind.in_(staff_kinds))
    else:
        stmt = stmt.where(Task.created_by_id == current_user.id)
    page = paginate(stmt, (Task.id.desc(),), per_page=25)
    return render_template("tasks/index.html", page=page, everyone=everyone)


@routes.get("/<id:task_id>")
@login_required
def task(task_id: int) -> ResponseReturnValue:
    """The task's state, progress and items; a retry when it failed, a file when made."""
    found = _task_or_404(task_id)
    return render_template("tasks/task.html", task=found, kinds=tasks.KINDS, retry_form=TaskForm())


@routes.post("/<id:task_id>/retry")
@login_required
def retry(task_id: int) -> ResponseReturnValue:
    """Queue a failed task again: what failed is tried once more."""
    found = _task_or_404(task_id)
    if not TaskForm().validate_on_submit():
        abort(400)
    if tasks.retry(found):
        db.session.commit()
        flash(_("The task is queued again."), "success")
    else:
        db.session.rollback()
        flash(_("The task is not failed any more; nothing was queued twice."), "info")
    return redirect(_back(found), 303)


def _back(task: Task) -> str:
    """Where a click about the task returns: the page it came from, when it is ours."""
    return security.safe_next(request.form.get("next")) or url_for("tasks.task", task_id=task.id)


@routes.get("/<id:task_id>/file")
@login_required
def download(task_id: int) -> ResponseReturnValue:
    """The file the task made (an export), to its creator only, while it is kept."""
    found = _task_or_404(task_id)
    if found.created_by_id != current_user.id or not found.file_name:
        abort(404)
    return Response(
        found.file_data,
        mimetype=found.file_type or "application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{found.file_name}"',
            "Cache-Control": "no-store",
        },
    )


@routes.post("/export")
@login_required
@limiter.limit("20 per hour")
def export() -> ResponseReturnValue:
    """Prepare a list's export in the background; its page gives the file when ready."""
    form = ExportTaskForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        target = urlsplit(form.target.data)
    except ValueError:  # not an address at all ("http://[")
        abort(400)
    if target.scheme or target.netloc or not _is_export(target.path):
        abort(400)
    try:
        found, new = tasks.enqueue(
            "export",
            form.key.data,
            current_user,
            params={"path": target.path, "query": target.query, "staff": current_user.is_staff},
        )
    except tasks.TooManyTasks:
        flash(too_many(), "error")
        return redirect(request.referrer or url_for("tasks.index"), 303)
    db.session.commit()
    if new:
        flash(_("The export is being prepared; its file will be here when it is ready."), "info")
    return redirect(url_for("tasks.task", task_id=found.id), 303)


def too_many() -> str:
    """Why no more tasks are queued for the user now."""
    return _(
        "You have %(num)s tasks waiting or running already; wait for one to finish.",
        num=tasks.MAX_ACTIVE_PER_USER,
    )


def _is_export(path: str) -> bool:
    from flask import current_app

    adapter = current_app.url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(path, method="GET")
    except HTTPException:
        return False
    return endpoint.endswith("_export")


bp = routes.register(Blueprint("tasks", __name__, url_prefix="/tasks"))


def register(app: Flask) -> None:
    """Mount the tasks' pages; every template may name a task's kind (`task_kinds`)."""
    from flask_babel import lazy_gettext as _l

    from services import registry

    app.register_blueprint(bp)
    registry.register_staff_section(app, _l("Background tasks"), "tasks.index")
    app.jinja_env.globals["task_kinds"] = tasks.KINDS
    app.jinja_env.globals["new_task_key"] = new_key
