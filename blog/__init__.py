"""The application factory. Only `create_app()` makes an app."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from flask import Flask

from blog.config import PROJECT_ROOT, ConfigError, load_settings

VENDOR_FILES = ("htmx.min.js", "htmx-ext-ws.min.js", "pico.min.css")


def create_app(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Flask:
    """Build the app from the environment (or `environ`), with optional config overrides.

    A bad setting or a missing dependency exits with one line naming it, never a traceback.
    """
    try:
        settings = load_settings(environ)
        _check_front_end()
    except ConfigError as exc:
        print(f"blog: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(settings.flask_config())
    if overrides:
        app.config.update(overrides)

    from blog.core.security import configure_logging

    configure_logging(app.config["LOG_LEVEL"])
    _trust_proxies(app, int(app.config.get("PROXY_HOPS", 0)), app.config.get("PROXY_ALLOW", ()))
    _init_extensions(app)
    _register_blueprints(app)
    _init_cli(app)
    # Static URLs carry their file's digest, so a proxy may cache them for good (deploy/).
    from blog.core.static import init_static_versions

    init_static_versions(app)
    return app


def _trust_proxies(app: Flask, hops: int, allow: Sequence[IPv4Network | IPv6Network]) -> None:
    """Believe X-Forwarded-For/-Proto from exactly `hops` proxies in front of us, and only
    when the peer is one of `allow` (the proxies' addresses; empty: any peer).

    Security boundary: request.remote_addr keys the rate limiter and is stored with each
    session. With no proxy configured the peer address stands and forwarded headers are
    ignored, or a client could pick its own address; with BLOG_PROXY_ALLOW, so are the headers
    of a client that reaches a web host directly, past the proxy. X-Forwarded-Host is never
    trusted: the host is checked against TRUSTED_HOSTS and links are built from SITE_URL.
    """
    if hops <= 0:
        return
    from werkzeug.middleware.proxy_fix import ProxyFix

    direct = app.wsgi_app
    proxied = ProxyFix(direct, x_for=hops, x_proto=hops, x_host=0)
    if not allow:
        app.wsgi_app = proxied  # type: ignore[method-assign]
        return
    networks = tuple(allow)

    def from_allowed_proxies(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            peer = ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            return direct(environ, start_response)
        if any(peer in network for network in networks):
            return proxied(environ, start_response)
        return direct(environ, start_response)

    app.wsgi_app = from_allowed_proxies  # type: ignore[method-assign]


def _check_front_end() -> None:
    vendor = PROJECT_ROOT / "static" / "vendor"
    missing = [name for name in VENDOR_FILES if not (vendor / name).is_file()]
    if missing:
        raise ConfigError(
            f"front-end packages are not installed (static/vendor/{missing[0]} is missing): "
            "run `make install`"
        )


def _init_extensions(app: Flask) -> None:
    from blog.auth.oidc import init_oidc
    from blog.auth.sessions import init_sessions
    from blog.core.dbgate import init_dbgate
    from blog.core.errors import init_errors
    from blog.core.htmx import append_flashes_oob
    from blog.core.redis import init_redis
    from blog.core.security import init_security, standard_rate_limit_headers
    from blog.extensions import csrf, db, limiter, login_manager, migrate, sock
    from blog.ops.maintenance import init_maintenance
    from blog.ops.metrics import init_metrics
    from blog.ops.monitoring import init_slow_log

    db.init_app(app)
    # First of the request hooks: more threads than connections must not deadlock the pool.
    init_dbgate(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    # Before the limiter: after_request hooks run last-registered first, and this one rewrites
    # the headers the limiter adds.
    app.after_request(standard_rate_limit_headers)
    limiter.init_app(app)
    sock.init_app(app)
    init_redis(app)

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    init_sessions(app)
    init_oidc(app)

    init_security(app)
    init_metrics(app)
    init_errors(app)
    init_maintenance(app)
    app.after_request(append_flashes_oob)

    # Models must be imported so Alembic and relationship() see every table.
    import blog.audit.models
    import blog.auth.models
    import blog.chat.models
    import blog.comments.models
    import blog.exports.models  # --- exports
    import blog.flags.models
    import blog.notifications.models
    import blog.ops.models
    import blog.outbox.models
    import blog.posts.models
    import blog.reactions.models
    import blog.safety.models
    import blog.uploads.models  # noqa: F401
    from blog.outbox.events import init_outbox_hooks
    from blog.outbox.registry import load_handler_modules

    init_outbox_hooks()
    init_slow_log(app)
    load_handler_modules(app)


def _register_blueprints(app: Flask) -> None:
    from blog.admin.views import bp as admin_bp
    from blog.audit.views import bp as audit_bp
    from blog.auth.oidc import bp as oidc_bp
    from blog.auth.views import bp as auth_bp
    from blog.home.views import bp as home_bp
    from blog.ops.metrics import bp as metrics_bp
    from blog.ops.views import bp as ops_bp
    from blog.profiles.views import bp as profiles_bp

    for bp in (home_bp, auth_bp, oidc_bp, profiles_bp, ops_bp, metrics_bp, admin_bp, audit_bp):
        app.register_blueprint(bp)
    from blog.core.ui import init_ui
    from blog.core.urls import init_urls
    from blog.posts.editor import bp as editor_bp
    from blog.posts.views import bp as posts_bp

    init_urls(app)
    init_ui(app)
    from blog.seo.meta import init_seo
    from blog.seo.views import bp as seo_bp

    init_seo(app)
    app.register_blueprint(seo_bp)

    app.register_blueprint(posts_bp)
    app.register_blueprint(editor_bp)
    from blog.notifications.live import bp as live_bp
    from blog.notifications.views import bp as notifications_bp

    app.register_blueprint(notifications_bp)
    app.register_blueprint(live_bp)
    from blog.comments.views import bp as comments_bp
    from blog.comments.views import init_comments

    app.register_blueprint(comments_bp)
    from blog.flags.views import bp as flags_bp

    app.register_blueprint(flags_bp)
    from blog.safety.views import bp as safety_bp

    app.register_blueprint(safety_bp)
    from blog.reactions.views import bp as reactions_bp
    from blog.reactions.views import init_reactions

    app.register_blueprint(reactions_bp)
    init_reactions(app)
    from blog.uploads.views import bp as uploads_bp

    app.register_blueprint(uploads_bp)
    from blog.chat.attachment_views import bp as chat_attachments_bp
    from blog.chat.views import bp as chat_bp
    from blog.chat.views import init_chat

    app.register_blueprint(chat_bp)
    # Pictures and files in chat; importing it registers their @file_rule("chat").
    app.register_blueprint(chat_attachments_bp)
    init_comments(app)
    init_chat(app)
    # --- exports: Download your data
    from blog.exports.views import bp as exports_bp

    app.register_blueprint(exports_bp)
    # --- end exports
    # The mailbox of the development mail sink has no access check and shows sign-in and
    # reset links: it must not exist in production, so it is not even registered there.
    if app.config["ENV_NAME"] in ("development", "testing"):
        from blog.devmail.views import bp as devmail_bp

        app.register_blueprint(devmail_bp)


def _init_cli(app: Flask) -> None:
    from blog.jobs.cli import init_cli
    from blog.ops.bulk import init_bulk
    from blog.ops.demo import init_demo
    from blog.outbox.cli import init_outbox_cli
    from blog.posts.cli import init_posts_cli

    init_cli(app)
    init_demo(app)
    init_bulk(app)
    init_outbox_cli(app)
    init_posts_cli(app)
