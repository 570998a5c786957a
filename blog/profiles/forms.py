from __future__ import annotations

from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional

from blog.auth.forms import _nfkc
from blog.core.forms import BaseForm

BIO_MAX = 1000
DISPLAY_NAME_MAX = 100


class ProfileForm(BaseForm):
    """Only what a person may set about themselves: role, status, ids and verification flags
    are not fields here, so a forged POST carrying them changes nothing."""

    display_name = StringField(
        "Display name",
        filters=[_nfkc],
        validators=[
            Optional(),
            Length(max=DISPLAY_NAME_MAX, message=f"At most {DISPLAY_NAME_MAX} characters."),
        ],
        description="Shown beside your user name. Leave empty to show only the user name.",
        render_kw={"autocomplete": "name"},
    )
    bio = TextAreaField(
        "About you",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[Optional(), Length(max=BIO_MAX, message=f"At most {BIO_MAX} characters.")],
        description=f"Plain text, up to {BIO_MAX} characters. Shown on your public profile.",
        render_kw={"rows": 5, "maxlength": BIO_MAX},
    )
