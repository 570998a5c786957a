from __future__ import annotations
from pathlib import Path
import pytest
from flask import Flask
from playwright.sync_api import Browser, expect
from sqlalchemy import update
from tests.e2e.test_export import _alice, _sign_in
from tests.e2e.test_face import _context

OUT = Path("/tmp/export_shots")

def test_shots(browser: Browser, app: Flask, live_server: str, run_jobs) -> None:
    _alice(app)
    from blog.extensions import db
    from blog.exports.models import DataExport
    for state in ("idle", "building", "ready", "refused", "delete", "expired"):
        for width, scheme in ((1280, "light"), (1280, "dark"), (390, "light"), (390, "dark")):
            context = _context(browser, width, scheme)
            page = context.new_page()
            _sign_in(page, live_server)
            if state == "delete":
                page.goto(f"{live_server}/account/delete")
            elif state == "expired":
                with app.app_context():
                    row = db.session.query(DataExport).first()
                    eid = row.id
                    db.session.remove()
                page.goto(f"{live_server}/account/export/{eid}/download")
            else:
                page.goto(f"{live_server}/account#account-export")
            if state == "building" and width == 1280 and scheme == "light":
                page.locator("#account-export").get_by_role("button").click()
                expect(page.locator("#data-export progress")).to_be_visible()
                with app.app_context():
                    db.session.execute(update(DataExport).values(status="building", progress=40))
                    db.session.commit()
                page.wait_for_timeout(2500)
            if state == "refused" and width == 1280 and scheme == "light":
                # a second request through the form in another tab state: post via fetch-less form
                page.evaluate("""() => { const f = document.createElement('form'); f.method='post'; f.action='/account/export';
                  const i = document.createElement('input'); i.name='csrf_token'; i.value=document.querySelector('input[name=csrf_token]').value; f.appendChild(i); document.body.appendChild(f); f.submit(); }""")
                page.wait_for_load_state()
            if state == "refused" and not (width == 1280 and scheme == "light"):
                context.close(); continue
            if state == "expired" and width == 1280 and scheme == "light":
                with app.app_context():
                    db.session.execute(update(DataExport).values(expires_at=DataExport.finished_at - __import__("datetime").timedelta(hours=1)))
                    db.session.commit()
                page.reload()
            if state == "building":
                page.locator("#account-export").scroll_into_view_if_needed()
            page.screenshot(path=str(OUT / f"{state}-{width}-{scheme}.png"), full_page=True)
            context.close()
        if state == "building":
            with app.app_context():
                db.session.execute(update(DataExport).values(status="requested", progress=0, started_at=None))
                db.session.commit()
            run_jobs()
