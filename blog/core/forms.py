"""The base form: every form reads only real form fields, and refuses NUL and other control
characters before its own checks.

PostgreSQL refuses NUL in text, and control characters are never meant in a name or title; a
clear message beside the field beats a 500 from the driver.
"""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict
from wtforms.fields import FileField

_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SUBMIT_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FROM_REQUEST: Any = object()


class BaseForm(FlaskForm):
    def __init__(self, formdata: Any = _FROM_REQUEST, **kwargs: Any) -> None:
        if formdata is _FROM_REQUEST:
            formdata = self._request_formdata()
        super().__init__(formdata=formdata, **kwargs)

    def _request_formdata(self) -> Any:
        """The submitted form fields, and uploads only for a form that has a file field.

        Flask-WTF would also read a JSON body, which puts numbers, lists and objects where a
        text field expects a string (a 500 from len() or the email validator); and an upload
        under a text field's name would put a FileStorage there. Our forms are HTML forms.
        """
        if request.method not in _SUBMIT_METHODS:
            return None
        wants_files = any(
            issubclass(unbound.field_class, FileField)
            for _name, unbound in self._unbound_fields or ()
        )
        if wants_files and request.files:
            return CombinedMultiDict((request.files, request.form))
        return request.form or None

    def validate(self, extra_validators: Any = None) -> bool:
        clean = True
        for field in self:
            data = field.data
            if isinstance(data, str) and _FORBIDDEN.search(data):
                field.errors = [*field.errors, "Contains a character that is not allowed."]
                clean = False
        # Run the field validators only on clean input, so their messages are not confusing.
        if not clean:
            return False
        return super().validate(extra_validators=extra_validators)
