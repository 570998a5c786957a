"""The base form: every form refuses NUL and other control characters before its own checks.

PostgreSQL refuses NUL in text, and control characters are never meant in a name or title; a
clear message beside the field beats a 500 from the driver.
"""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm

_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BaseForm(FlaskForm):
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
