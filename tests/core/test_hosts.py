def test_untrusted_host_is_refused(client):
    response = client.get("/", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


def test_trusted_hosts_are_served(client):
    for host in ("127.0.0.1", "localhost"):
        assert client.get("/", headers={"Host": host}).status_code == 200
