from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def test_it_serves_stored_files_with_immutable_caching(client):
    name = default_storage.save("r/ab/abcdef.jpg", ContentFile(b"\xff\xd8\xff fake jpeg"))
    response = client.get(f"/media/{name}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\xff\xd8\xff fake jpeg"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_it_refuses_paths_outside_the_storage(client):
    assert client.get("/media/../secret_key").status_code == 404
    assert client.get("/media/r/../../secret_key").status_code == 404
    assert client.get("/media/missing.jpg").status_code == 404
