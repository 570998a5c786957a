"""Static URLs carry the file's digest, so the proxy's year-long cache of /static/ is safe."""

from __future__ import annotations

import hashlib
import re

from blog.config import PROJECT_ROOT


def test_pages_link_static_files_by_their_digest(client):
    page = client.get("/").get_data(as_text=True)
    links = dict(re.findall(r'/static/(css/app\.css)\?v=([0-9a-f]{12})"', page))
    digest = hashlib.sha256((PROJECT_ROOT / "static/css/app.css").read_bytes()).hexdigest()
    assert links == {"css/app.css": digest[:12]}
    # The versioned address serves the same file.
    response = client.get(f"/static/css/app.css?v={digest[:12]}")
    assert response.status_code == 200
    assert response.data == (PROJECT_ROOT / "static/css/app.css").read_bytes()


def test_a_changed_file_gets_a_new_address(app, tmp_path):
    from blog.core.static import static_digest

    (tmp_path / "a.css").write_text("body{}")
    first = static_digest(str(tmp_path), "a.css")
    (tmp_path / "a.css").write_text("body{color:red}")
    assert static_digest(str(tmp_path), "a.css") not in (None, first)
    assert static_digest(str(tmp_path), "../etc/passwd") is None
    assert static_digest(str(tmp_path), "missing.css") is None
