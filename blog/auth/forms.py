from __future__ import annotations

import re
import unicodedata
from typing import Any

from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from blog.auth.passwords import MAX_LENGTH, password_problems
from blog.core.forms import BaseForm

# Letters (any script), digits, dot, underscore, hyphen: safe in /u/<user_name> URLs.
USER_NAME = re.compile(r"^[\w.-]+$")


def _nfkc(value: Any) -> Any:
    return unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def email_field(
    label: str, *, required: str = "Enter your email address.", description: str = ""
) -> EmailField:
    """An email address that must be valid (sign-up, reset, change of address)."""
    return EmailField(
        label,
        filters=[_strip],
        validators=[
            DataRequired(required),
            Length(max=320, message="An email address has at most 320 characters."),
            Email("Enter a valid email address.", check_deliverability=False),
        ],
        description=description,
        render_kw={"autocomplete": "email"},
    )


def new_password_field(label: str) -> PasswordField:
    """A password being chosen (sign-up, reset, change): the policy runs in validate_password."""
    return PasswordField(
        label,
        validators=[DataRequired("Choose a password."), Length(max=MAX_LENGTH)],
        description="At least 8 characters, with upper- and lower-case letters and a digit.",
        render_kw={"autocomplete": "new-password"},
    )


def confirm_password_field(label: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired("Repeat the password."),
            EqualTo("password", "The passwords do not match."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class RegisterForm(BaseForm):
    email = email_field("Email")
    user_name = StringField(
        "User name",
        filters=[_nfkc],
        validators=[
            DataRequired("Choose a user name."),
            Length(min=3, max=255, message="Use 3 to 255 characters."),
        ],
        description="Letters, digits, '.', '_' and '-'. Shown on your posts.",
        render_kw={"autocomplete": "username"},
    )
    password = new_password_field("Password")
    confirm = confirm_password_field("Repeat the password")

    def validate_user_name(self, field: StringField) -> None:
        if not USER_NAME.match(field.data or ""):
            raise ValidationError("Use only letters, digits, '.', '_' and '-'.")
        # Purged accounts are renamed deleted-<id>: a live account must never collide.
        if (field.data or "").lower().startswith("deleted-"):
            raise ValidationError("This user name is reserved.")

    def validate_password(self, field: PasswordField) -> None:
        problems = password_problems(
            field.data or "", user_name=self.user_name.data or "", email=self.email.data or ""
        )
        if problems:
            raise ValidationError(" ".join(problems))


class LoginForm(BaseForm):
    email = EmailField(
        "Email",
        filters=[_strip],
        validators=[DataRequired("Enter your email address."), Length(max=320)],
        render_kw={"autocomplete": "email"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired("Enter your password."), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField("Keep me signed in for 30 days")


class ResetRequestForm(BaseForm):
    email = email_field("Email")


class NewPasswordForm(BaseForm):
    """A new password under the sign-up policy, for the account it will belong to."""

    password = new_password_field("New password")
    confirm = confirm_password_field("Repeat the new password")

    def __init__(self, *args: Any, user_name: str = "", email: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._user_name = user_name
        self._email = email

    def validate_password(self, field: PasswordField) -> None:
        problems = password_problems(field.data or "", user_name=self._user_name, email=self._email)
        if problems:
            raise ValidationError(" ".join(problems))


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


class ChangeEmailForm(BaseForm):
    email = email_field(
        "New email address",
        required="Enter the new email address.",
        description="We send a link there; the change happens when you open it.",
    )
    password = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


class DeleteAccountForm(BaseForm):
    password = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


class EmptyForm(BaseForm):
    """For POST-only buttons (sign out, revoke): the CSRF token is the whole form."""
