"""Uploading (avatar, post images, any file), "Your uploads", and serving /files/<id>.

The upload views are exempt from the global CSRF hook because that hook parses the body
under the app's small default limit (1 MiB): each raises this request's limit to the
`uploads` setting first, then checks the token itself (`forms.read_upload_form`). Werkzeug
refuses a declared Content-Length over the limit before reading any of the body, stops a
chunked one at the limit, spools file parts to temporary files (memory stays bounded) and
refuses more than MAX_FORM_PARTS parts.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, request, url_for
from flask_login import current_user

from blog.auth.access import require_user, require_verified
from blog.auth.forms import EmptyForm
from blog.core.htmx import is_htmx, redirect_to, render
from blog.extensions import csrf, db
from blog.uploads import services
from blog.uploads.access import access_file
from blog.uploads.forms import AvatarForm, UploadForm, read_upload_form
from blog.uploads.inspect import EXTENSIONS, UploadRefused, download_name
from blog.uploads.models import FileMetadata
from blog.uploads.storage import get_storage, iter_blob, thumbnail_key

bp = Blueprint("uploads", __name__)

PUBLIC_MAX_AGE = 3600


def _refused(exc: UploadRefused, back: str) -> Any:
    db.session.rollback()
    if is_htmx():
        return render("uploads/_result.html", message=exc.message, ok=False), exc.status
    return render("uploads/refused.html", message=exc.message, back=back), exc.status


def _form_errors(form: Any) -> str:
    return " ".join(e for errors in form.errors.values() for e in errors) or "Check the form."


# --------------------------------------------------------------------------- avatar


@bp.post("/account/avatar")
@csrf.exempt
@require_user
def upload_avatar():
    back = url_for("profiles.edit")
    try:
        read_upload_form()
        form = AvatarForm()
        if not form.validate():
            raise UploadRefused(_form_errors(form), 422)
        row = services.upload_file(
            current_user,
            form.file.data.stream,
            client_name=form.file.data.filename,
            purpose="avatar",
            storage=get_storage(),
            images_only=True,
        )
        services.set_avatar(current_user, row)
    except UploadRefused as exc:
        return _refused(exc, back)
    db.session.commit()
    flash("Your new picture is saved. It shows everywhere your name does.", "success")
    return redirect_to(back)


@bp.post("/account/avatar/remove")
@require_user
def remove_avatar():
    EmptyForm()  # CSRFProtect has checked the token
    if services.remove_avatar(current_user):
        db.session.commit()
        flash("Your picture is removed; the generated one is back.", "success")
    return redirect_to(url_for("profiles.edit"))


# --------------------------------------------------------------------------- uploads


@bp.get("/uploads")
@require_user
def index():
    max_bytes, quota = services.upload_limits()
    files = services.own_files(current_user)
    used = sum(f.size_bytes for f in files)
    return render(
        "uploads/index.html",
        files=files,
        used=used,
        quota=quota,
        max_bytes=max_bytes,
        form=UploadForm(formdata=None),
        human_size=services.human_size,
    )


@bp.post("/uploads")
@csrf.exempt
@require_verified
def create():
    back = url_for("uploads.index")
    try:
        read_upload_form()
        form = UploadForm()
        if not form.validate():
            raise UploadRefused(_form_errors(form), 422)
        row = services.upload_file(
            current_user,
            form.file.data.stream,
            client_name=form.file.data.filename,
            purpose=form.purpose.data,
            storage=get_storage(),
            images_only=form.purpose.data == "post_image",
        )
    except UploadRefused as exc:
        return _refused(exc, back)
    db.session.commit()
    flash(f"Uploaded {row.file_name}.", "success")
    return redirect_to(back)


@bp.post("/uploads/image")
@csrf.exempt
@require_verified
def create_image():
    """An image for the post editor: answers with the Markdown that shows it. htmx gets it
    as an event too (HX-Trigger), which static/js/uploads.js inserts at the cursor."""
    back = url_for("uploads.index")
    try:
        read_upload_form()
        form = UploadForm()
        if not form.validate():
            raise UploadRefused(_form_errors(form), 422)
        row = services.upload_file(
            current_user,
            form.file.data.stream,
            client_name=form.file.data.filename,
            purpose="post_image",
            storage=get_storage(),
            images_only=True,
        )
    except UploadRefused as exc:
        return _refused(exc, back)
    db.session.commit()
    alt = form.alt.data or row.file_name.rsplit(".", 1)[0]
    markdown = f"![{alt}]({url_for('uploads.show', file_id=row.id)})"
    if is_htmx():
        response = Response(render("uploads/_result.html", markdown=markdown, ok=True))
        # Not "target" in the detail: htmx reads that key as where to fire the event.
        response.headers["HX-Trigger"] = json.dumps(
            {"blog:image-uploaded": {"markdown": markdown, "field": "content"}}
        )
        return response
    return render("uploads/uploaded.html", markdown=markdown, file=row)


@bp.post("/uploads/<uuid:file_id>/delete")
@require_user
def delete(file_id: uuid.UUID):
    EmptyForm()  # CSRFProtect has checked the token
    file = db.session.get(FileMetadata, file_id, with_for_update=True)
    if file is None or file.uploader_id != current_user.id:
        abort(404)
    name = file.file_name
    services.delete_file(file)
    db.session.commit()
    flash(f"Deleted {name}.", "success")
    if is_htmx():
        return ""  # the row's outerHTML swap removes it; the message comes out of band
    return redirect_to(url_for("uploads.index"))


# --------------------------------------------------------------------------- serving


@bp.get("/files/<uuid:file_id>")
def show(file_id: uuid.UUID):
    file, public = access_file(current_user, file_id)
    return _send(file, file.storage_key, file.mime_type, file.checksum_sha256, public)


@bp.get("/files/<uuid:file_id>/thumb")
def thumbnail(file_id: uuid.UUID):
    """The small version of an image; the original until the thumbnail job has run."""
    file, public = access_file(current_user, file_id)
    if not file.is_image:
        abort(404)
    if file.thumbnail_key == thumbnail_key(file.checksum_sha256):
        return _send(file, file.thumbnail_key, "image/webp", file.checksum_sha256 + "-t", public)
    return _send(file, file.storage_key, file.mime_type, file.checksum_sha256, public)


def _content_disposition(file: FileMetadata, mime_type: str) -> str:
    """RFC 6266: an ASCII fallback name, and the real one as RFC 8187 UTF-8 (filename*)."""
    kind = "inline" if mime_type.startswith("image/") else "attachment"
    name = download_name(file.file_name, file.mime_type)
    if mime_type != file.mime_type:  # a thumbnail
        name = name.rsplit(".", 1)[0] + ".webp"
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = "".join("_" if c in '"\\%' or ord(c) < 0x20 else c for c in fallback)
    value = f'{kind}; filename="{fallback or "download"}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def _send(file: FileMetadata, key: str, mime_type: str, etag: str, public: bool) -> Response:
    headers = {
        # Never run as a document, whatever a browser makes of it.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": _content_disposition(file, mime_type),
        # The bytes under an id never change; who may see them can (a post is archived).
        "Cache-Control": f"public, max-age={PUBLIC_MAX_AGE}" if public else "private, no-cache",
    }
    if not public:
        headers["Vary"] = "Cookie"
    content_type = "text/plain; charset=utf-8" if mime_type == "text/plain" else mime_type
    if request.if_none_match.contains(etag):
        response = Response(status=304, headers=headers)
        response.set_etag(etag)
        return response
    try:
        stream = get_storage().open(key)
    except FileNotFoundError:
        abort(404)
    response = Response(
        iter_blob(stream), content_type=content_type, headers=headers, direct_passthrough=True
    )
    if key == file.storage_key:
        response.content_length = file.size_bytes
    response.set_etag(etag)
    return response


@bp.app_template_global()
def upload_max_bytes() -> int:
    return services.upload_limits()[0]


@bp.app_template_global()
def upload_max_mb() -> str:
    return f"{services.upload_limits()[0] / (1024 * 1024):g}"


@bp.app_template_filter("human_size")
def human_size_filter(size: int) -> str:
    return services.human_size(size)


@bp.app_template_filter("file_kind")
def file_kind(mime_type: str) -> str:
    """PDF, ZIP, TXT, PNG: what a file is, in a word."""
    return EXTENSIONS.get(mime_type, "file").upper()
