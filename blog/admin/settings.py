"""Admin pages for runtime settings (the `configuration` table of this environment)."""

from __future__ import annotations

import json

from flask import abort, current_app, flash, request, url_for
from flask_login import current_user

from blog.admin.forms import MaintenanceForm, SettingForm
from blog.admin.views import bp
from blog.auth.access import require_admin
from blog.core.htmx import redirect_to, render
from blog.core.inputs import InputRefused, loads_bounded
from blog.core.settings import SETTINGS, SettingInvalid, forget_settings, invalidate_settings
from blog.extensions import db
from blog.ops import services


def _page(status: int = 200, forms: dict[str, SettingForm] | None = None, **extra):
    environment = current_app.config["ENV_NAME"]
    stored = services.stored_settings(environment)
    forms = dict(forms or {})
    for key, setting in SETTINGS.items():
        if key not in forms:
            value = stored.get(key, setting.default)
            forms[key] = SettingForm(
                formdata=None, prefix=key, value=json.dumps(value, indent=2, sort_keys=True)
            )
    maintenance = {**SETTINGS["maintenance"].default, **stored.get("maintenance", {})}
    extra.setdefault(
        "maintenance_form",
        MaintenanceForm(
            formdata=None, enabled=maintenance["enabled"], message=maintenance.get("message", "")
        ),
    )
    return render(
        "admin/settings.html",
        settings=SETTINGS,
        stored=stored,
        forms=forms,
        environment=environment,
        **extra,
    ), status


@bp.get("/settings")
@require_admin
def settings():
    return _page()


def _save(key: str, value, form_errors: list[str]):
    environment = current_app.config["ENV_NAME"]
    try:
        changed = services.set_setting(
            key, value, environment=environment, actor=current_user, ip=request.remote_addr
        )
    except SettingInvalid as exc:
        db.session.rollback()
        form_errors.append(str(exc))
        return None
    db.session.commit()
    # This process (and, best effort, every other) sees the change at once; the
    # config.changed handler makes sure of it if this fails.
    try:
        invalidate_settings(environment)
    except Exception:  # noqa: BLE001 - the handler repeats it; the change is committed
        forget_settings()
    flash(f"“{key}” saved." if changed else f"“{key}” was already set so.", "success")
    return redirect_to(url_for("admin.settings") + f"#setting-{key}")


@bp.post("/settings/<key>")
@require_admin
def save_setting(key: str):
    if key not in SETTINGS:
        abort(404)
    form = SettingForm(prefix=key)
    if form.validate():
        try:
            value = loads_bounded(form.value.data)
        except json.JSONDecodeError as exc:
            form.value.errors = [f"Not valid JSON: {exc.msg} (line {exc.lineno})."]
        except InputRefused as exc:
            form.value.errors = [str(exc)]
        else:
            errors: list[str] = []
            response = _save(key, value, errors)
            if response is not None:
                return response
            form.value.errors = errors
    return _page(422, forms={key: form})


@bp.post("/maintenance")
@require_admin
def maintenance():
    form = MaintenanceForm()
    if form.validate():
        errors: list[str] = []
        response = _save(
            "maintenance",
            {"enabled": bool(form.enabled.data), "message": form.message.data or ""},
            errors,
        )
        if response is not None:
            return response
        form.message.errors = errors
    return _page(422, maintenance_form=form)
