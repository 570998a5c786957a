"""Sign-in through an external OpenID Connect provider (Google): link, sign in, sign up, unlink.

Services add and flush; the view commits. The claims given here have already been checked by
the OIDC client (signature against the provider's JWKS, issuer, audience, expiry, nonce).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from blog.auth.models import Account, User
from blog.auth.policy import registration_open
from blog.auth.services import (
    SignInRefused,
    get_user_by_email,
    lift_suspension_if_over,
    normalise_email,
)
from blog.core.db import utcnow
from blog.extensions import db
from blog.outbox.events import emit

PROVIDER_LABELS = {"google": "Google"}


class IdentityRefused(Exception):
    """The provider's answer cannot sign anyone in here; the message says what to do."""


@dataclass(frozen=True)
class ProviderIdentity:
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None = None

    @classmethod
    def from_claims(cls, provider: str, claims: dict[str, object]) -> ProviderIdentity:
        subject = str(claims.get("sub") or "").strip()
        if not subject or len(subject) > 255:
            raise IdentityRefused(f"{PROVIDER_LABELS[provider]} sent no usable account id.")
        email = claims.get("email")
        verified = claims.get("email_verified")
        # Some providers send the flag as the string "true".
        return cls(
            provider=provider,
            subject=subject,
            email=normalise_email(email) if isinstance(email, str) and email.strip() else None,
            email_verified=verified is True or verified == "true",
            name=str(claims["name"]) if claims.get("name") else None,
        )


def get_account(provider: str, subject: str) -> Account | None:
    return db.session.scalar(
        select(Account).where(Account.provider == provider, Account.subject == subject)
    )


def sign_in_with_identity(identity: ProviderIdentity) -> tuple[User, bool]:
    """The user this identity signs in as, and whether the account was created just now.

    An identity seen before signs in its user. Otherwise it is linked to the account with the
    same address only if the provider vouches for the address (else anyone could register
    the victim's address at a provider that does not check it, and walk in). Otherwise a new
    account is created. Raises IdentityRefused, or SignInRefused for a suspended account.
    """
    label = PROVIDER_LABELS[identity.provider]
    account = get_account(identity.provider, identity.subject)
    if account is not None:
        account.last_used_at = utcnow()
        return _may_sign_in(account.user), False
    if identity.email is None:
        raise IdentityRefused(
            f"{label} did not share an email address, so no account can be made for it."
        )
    existing = get_user_by_email(identity.email)
    if existing is not None:
        if existing.deleted_at is not None:
            raise IdentityRefused(f"This {label} account cannot sign in here.")
        if not identity.email_verified:
            raise IdentityRefused(
                f"An account with {identity.email} already exists, and {label} has not confirmed "
                f"that address. Sign in with your password, then link {label} from your "
                "account page."
            )
        link_identity(existing, identity)
        if existing.email_verified_at is None:
            # The provider has just proved the address; asking again would add nothing.
            existing.email_verified_at = utcnow()
            emit("user.email_verified", aggregate_type="user", aggregate_id=existing.id)
        return _may_sign_in(existing), False
    if not registration_open():
        raise IdentityRefused(
            f"Sign-ups are closed for now, and no account here is linked to this {label} account."
        )
    return _create_user(identity), True


def _may_sign_in(user: User) -> User:
    if user.deleted_at is not None:
        raise IdentityRefused(f"This {PROVIDER_LABELS['google']} account cannot sign in here.")
    if user.suspension_is_over(utcnow()):
        lift_suspension_if_over(user)
    if user.status != "active":
        raise SignInRefused(user.suspended_reason, user.suspended_until)
    return user


def _create_user(identity: ProviderIdentity) -> User:
    assert identity.email is not None
    now = utcnow()
    user = User(
        email=identity.email,
        user_name=_free_user_name(identity),
        password_hash=None,
        provider=identity.provider,
        email_verified_at=now if identity.email_verified else None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
            db.session.add(_account(user, identity))
            db.session.flush()
        db.session.expire(user, ["accounts"])
    except IntegrityError:
        # A second callback for the same person raced this one (or took the address).
        raise IdentityRefused(
            "This account was being created at the same moment by another request: "
            "try signing in again."
        ) from None
    emit(
        "user.registered",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"user_name": user.user_name, "provider": user.provider},
    )
    if user.email_verified_at is not None:
        emit("user.email_verified", aggregate_type="user", aggregate_id=user.id)
    return user


def link_identity(user: User, identity: ProviderIdentity) -> Account:
    """Attach an external identity to `user`. Raises IdentityRefused if it belongs elsewhere."""
    label = PROVIDER_LABELS[identity.provider]
    account = get_account(identity.provider, identity.subject)
    if account is not None:
        if account.user_id == user.id:
            return account
        raise IdentityRefused(f"This {label} account is already linked to another user.")
    if any(a.provider == identity.provider for a in user.accounts):
        raise IdentityRefused(
            f"Your account is already linked to a {label} account: unlink that one first."
        )
    account = _account(user, identity)
    try:
        with db.session.begin_nested():
            db.session.add(account)
            db.session.flush()
    except IntegrityError:
        raise IdentityRefused(f"This {label} account is already linked to another user.") from None
    finally:
        db.session.expire(user, ["accounts"])
    emit(
        "user.identity_linked",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"provider": identity.provider},
    )
    return account


def _account(user: User, identity: ProviderIdentity) -> Account:
    # By id, not through the relationship: the row is added (or not) inside a savepoint, and
    # the user's collection is re-read afterwards.
    return Account(
        user_id=user.id,
        provider=identity.provider,
        subject=identity.subject,
        email=identity.email,
        last_used_at=utcnow(),
    )


def unlink_identity(user: User, provider: str) -> None:
    """Detach the user's identity at `provider`, unless it is their last way to sign in."""
    label = PROVIDER_LABELS.get(provider, provider)
    account = next((a for a in user.accounts if a.provider == provider), None)
    if account is None:
        raise IdentityRefused(f"Your account is not linked to {label}.")
    if not user.has_password and len(user.accounts) == 1:
        raise IdentityRefused(
            f"{label} is your only way to sign in. Set a password first (use “Forgot your "
            "password?” on the sign-in page to get a link by mail), then unlink it."
        )
    user.accounts.remove(account)
    db.session.flush()
    emit(
        "user.identity_unlinked",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"provider": provider},
    )


def _free_user_name(identity: ProviderIdentity) -> str:
    """A user name from the address's local part (or the name), made unique with a number."""
    assert identity.email is not None
    base = _clean_user_name(identity.email.split("@", 1)[0]) or _clean_user_name(
        identity.name or ""
    )
    base = (base or "user")[:40]
    if len(base) < 3:
        base = f"{base}_user"
    taken = set(
        db.session.scalars(
            select(func.lower(User.user_name)).where(
                func.lower(User.user_name).like(f"{base.lower()}%")
            )
        )
    )
    if base.lower() not in taken:
        return base
    n = 2
    while f"{base}{n}".lower() in taken:
        n += 1
    return f"{base}{n}"


def _clean_user_name(raw: str) -> str:
    # The register form's alphabet: letters (any script), digits, dot, underscore, hyphen.
    text = unicodedata.normalize("NFKC", raw).strip().replace(" ", "_")
    return re.sub(r"[^\w.-]", "", text).strip(".-_")
