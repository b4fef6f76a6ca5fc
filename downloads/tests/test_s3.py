"""Downloads with the media on S3 (a local moto server): one file is a redirect to a presigned URL
that names it, and a zip reads its files through the storage API."""

import io
import zipfile

from library.tests.test_media_s3 import bucket, fetch, s3_endpoint  # noqa: F401


def test_it_redirects_one_file_to_a_presigned_url_that_names_it(bucket, owner_client, owner, stored_asset_named):
    asset = stored_asset_named(owner, "Beach day.png", data=b"beach bytes")
    response = owner_client.get(f"/downloads/assets/{asset.id}")
    assert response.status_code == 302
    status, headers, body = fetch(response["Location"])
    assert status == 200 and body == b"beach bytes"
    assert headers["Content-Disposition"] == 'attachment; filename="Beach-day.jpg"'


def test_it_zips_files_from_s3(bucket, owner_client, owner, stored_pipeline):
    p = stored_pipeline(owner, outputs=2)
    response = owner_client.get("/downloads/zip", {"pipelines": p.id})
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert len(names) == 4 and archive.read(names[1]) == f"file {p.id}-1".encode()
