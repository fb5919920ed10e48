"""Fetching public data: the data folder, the cache, hashes and the offline error."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from course_lib import data

SHARED = Path(os.environ.get("COURSE_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
needs_shared = pytest.mark.skipif(
    not (SHARED / "the-verdict.txt").is_file(), reason=f"no local copy of the data in {SHARED}"
)


@pytest.fixture
def offline(monkeypatch):
    """No name resolves and no socket connects, as on a machine without internet."""

    def refuse(*args, **kwargs):
        raise socket.gaierror("network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    return cache


NAME_LANGUAGES = (
    "arabic chinese czech dutch english french german greek irish italian japanese korean polish portuguese "
    "russian scottish spanish vietnamese"
).split()


def test_registry_names_every_course_dataset():
    assert set(data.REGISTRY) == {
        "tinyshakespeare",
        "the-verdict",
        "sms-spam-collection",
        "instruction-data",
        "gpt2-encoder",
        "gpt2-vocab",
        "instruction-preference-data",
    } | {f"names-{language}" for language in NAME_LANGUAGES}
    for entry in data.REGISTRY.values():
        assert entry.url.startswith("https://") and len(entry.sha256) == 64


@needs_shared
@pytest.mark.parametrize("name", sorted(data.REGISTRY))
def test_data_dir_is_used_without_network_or_writes(name, monkeypatch, offline, empty_cache):
    monkeypatch.setenv("COURSE_DATA_DIR", str(SHARED))
    path = data.fetch(name)
    assert path == (SHARED / data.REGISTRY[name].filename).resolve()
    assert data.sha256_of(path) == data.REGISTRY[name].sha256
    assert not empty_cache.exists(), "nothing may be written when the data folder has the file"


@needs_shared
def test_read_text_gives_the_whole_file(monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(SHARED))
    assert len(data.read_text("the-verdict")) == 20479


def test_offline_without_the_file_names_file_url_and_variable(monkeypatch, offline, empty_cache):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    with pytest.raises(data.DataUnavailableError) as error:
        data.fetch("the-verdict")
    message = str(error.value)
    assert "the-verdict.txt" in message
    assert data.REGISTRY["the-verdict"].url in message
    assert "COURSE_DATA_DIR" in message


def test_offline_archive_dataset_is_the_same_clear_error(monkeypatch, offline, empty_cache):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    with pytest.raises(data.DataUnavailableError, match=r"SMSSpamCollection\.tsv[\s\S]*sms\+spam\+collection\.zip"):
        data.fetch("sms-spam-collection")


def test_a_wrong_hash_in_the_data_dir_is_an_error(monkeypatch, tmp_path, offline, empty_cache):
    (tmp_path / "the-verdict.txt").write_text("not the verdict")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=r"the-verdict\.txt has sha256 [0-9a-f]{64}, but the course expects"):
        data.fetch("the-verdict")


def test_a_verified_file_in_the_cache_is_reused_offline(monkeypatch, offline, empty_cache):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    empty_cache.mkdir()
    entry = data.REGISTRY["the-verdict"]
    source = SHARED / entry.filename
    if not source.is_file():
        pytest.skip(f"no local copy of the data in {SHARED}")
    (empty_cache / entry.filename).write_bytes(source.read_bytes())
    assert data.fetch("the-verdict") == empty_cache / entry.filename


def test_a_corrupt_cached_file_is_not_accepted(monkeypatch, offline, empty_cache):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    empty_cache.mkdir()
    (empty_cache / "the-verdict.txt").write_text("truncated")
    with pytest.raises(data.DataUnavailableError):
        data.fetch("the-verdict")


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(KeyError, match="the course knows: gpt2-encoder"):
        data.fetch("wikipedia")


def test_data_dir_that_is_not_a_folder_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        data.fetch("the-verdict")


# ---- downloads, from a server on this machine -------------------------------


@pytest.fixture
def local_server(tmp_path, monkeypatch):
    """Serve a folder over HTTP on 127.0.0.1, standing in for the public URLs.

    Yields ``served(name)``: the path where dataset ``name`` must be put to be downloaded.
    """
    import dataclasses
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    registry = {name: dataclasses.replace(e, url=base + e.url.rsplit("/", 1)[-1]) for name, e in data.REGISTRY.items()}
    monkeypatch.setattr(data, "REGISTRY", registry)
    yield lambda name: served / data.REGISTRY[name].url.rsplit("/", 1)[-1]
    server.shutdown()
    server.server_close()


@needs_shared
def test_download_into_an_empty_cache_verifies_and_keeps_the_file(monkeypatch, local_server, empty_cache):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    local_server("the-verdict").write_bytes((SHARED / "the-verdict.txt").read_bytes())
    path = data.fetch("the-verdict")
    assert path == empty_cache / "the-verdict.txt"
    assert data.sha256_of(path) == data.REGISTRY["the-verdict"].sha256
    local_server("the-verdict").unlink()  # a second fetch must not need the server
    assert data.fetch("the-verdict") == path


def test_a_download_with_the_wrong_hash_is_rejected(monkeypatch, local_server, empty_cache):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    local_server("the-verdict").write_text("a different story")
    with pytest.raises(ValueError, match="(?i)hash"):
        data.fetch("the-verdict")
    assert not (empty_cache / "the-verdict.txt").exists(), "a file that failed its hash must not be kept"


@needs_shared
def test_an_archived_dataset_is_extracted_and_its_member_verified(monkeypatch, local_server, empty_cache):
    import zipfile

    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    entry = data.REGISTRY["sms-spam-collection"]
    with zipfile.ZipFile(local_server("sms-spam-collection"), "w") as archive:
        archive.write(SHARED / "SMSSpamCollection.tsv", arcname=entry.archive_member)
        archive.writestr("readme", "not the data")
    path = data.fetch("sms-spam-collection")
    assert path == empty_cache / "SMSSpamCollection.tsv"
    assert data.sha256_of(path) == entry.sha256


def test_an_archive_whose_member_changed_is_rejected(monkeypatch, local_server, empty_cache):
    import zipfile

    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    entry = data.REGISTRY["sms-spam-collection"]
    with zipfile.ZipFile(local_server("sms-spam-collection"), "w") as archive:
        archive.writestr(entry.archive_member, "ham\thello\n")
    with pytest.raises(ValueError, match="the archive has changed upstream"):
        data.fetch("sms-spam-collection")
    assert not (empty_cache / "SMSSpamCollection.tsv").exists()


# ---- clear errors and recovery from broken downloads (issue 9) --------------


def test_the_offline_error_is_the_whole_story_not_a_chain(monkeypatch, offline, empty_cache):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    with pytest.raises(data.DataUnavailableError) as error:
        data.fetch("the-verdict")
    assert error.value.__cause__ is None and error.value.__suppress_context__, "raise ... from None"
    message = str(error.value)
    assert "ConnectionError" in message and len(message) < 1200


def test_a_cache_that_cannot_be_created_names_course_cache_dir(monkeypatch, tmp_path, offline):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    with pytest.raises(data.DataUnavailableError, match=r"cannot be written[\s\S]*set COURSE_CACHE_DIR") as error:
        data.fetch("the-verdict")
    assert "connect to the internet" not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_a_read_only_cache_names_course_cache_dir(monkeypatch, offline, empty_cache):
    # The tests may run as root, for whom chmod does not forbid writing: refuse the write the way a
    # read-only folder does.
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setattr(data.tempfile, "TemporaryFile", read_only)
    with pytest.raises(data.DataUnavailableError, match=r"Permission denied[\s\S]*set COURSE_CACHE_DIR to a folder"):
        data.fetch("the-verdict")


def test_a_file_in_a_read_only_cache_is_still_used(monkeypatch, offline, empty_cache):
    entry = data.REGISTRY["the-verdict"]
    if not (SHARED / entry.filename).is_file():
        pytest.skip(f"no local copy of the data in {SHARED}")
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    empty_cache.mkdir()
    (empty_cache / entry.filename).write_bytes((SHARED / entry.filename).read_bytes())
    monkeypatch.setattr(data.tempfile, "TemporaryFile", None)  # any write attempt would fail
    assert data.fetch("the-verdict") == empty_cache / entry.filename


@needs_shared
def test_a_broken_download_is_dropped_and_the_next_fetch_succeeds(monkeypatch, local_server, empty_cache):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    served = local_server("the-verdict")
    served.write_text("a truncated story")
    with pytest.raises(data.DataCorruptError, match=r"the-verdict\.txt downloaded from .* wrong hash") as error:
        data.fetch("the-verdict")
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert not (empty_cache / "the-verdict.txt").exists()
    served.write_bytes((SHARED / "the-verdict.txt").read_bytes())  # the server is fixed
    assert data.sha256_of(data.fetch("the-verdict")) == data.REGISTRY["the-verdict"].sha256


def _zip_with(path: Path, member: str, source: Path | None, text: str = "") -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        if source is None:
            archive.writestr(member, text)
        else:
            archive.write(source, arcname=member)


@needs_shared
@pytest.mark.parametrize("broken", ["not a zip", "truncated zip", "wrong member", "member missing"])
def test_a_broken_archive_is_deleted_and_the_next_fetch_succeeds(broken, monkeypatch, local_server, empty_cache):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    entry = data.REGISTRY["sms-spam-collection"]
    served = local_server("sms-spam-collection")
    source = SHARED / entry.filename
    if broken == "not a zip":
        served.write_text("<html>503 Service Unavailable</html>")
    elif broken == "truncated zip":
        _zip_with(served, entry.archive_member, source)
        served.write_bytes(served.read_bytes()[:5000])
    elif broken == "wrong member":
        _zip_with(served, entry.archive_member, None, "ham\thello\n")
    else:
        _zip_with(served, "readme.txt", None, "no data in here")
    with pytest.raises(data.DataCorruptError, match="It was deleted") as error:
        data.fetch("sms-spam-collection")
    assert error.value.__cause__ is None
    assert sorted(p.name for p in empty_cache.iterdir()) == [], "the broken archive and its extraction are gone"

    _zip_with(served, entry.archive_member, source)  # the server now has the right archive
    path = data.fetch("sms-spam-collection")
    assert path == empty_cache / entry.filename
    assert data.sha256_of(path) == entry.sha256


def test_a_file_in_a_subfolder_is_downloaded_to_the_path_fetch_returns(monkeypatch, local_server, empty_cache):
    entry = data.REGISTRY["names-arabic"]
    if not (SHARED / entry.filename).is_file():
        pytest.skip(f"no local copy of {entry.filename} in {SHARED}")
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    local_server("names-arabic").write_bytes((SHARED / entry.filename).read_bytes())
    path = data.fetch("names-arabic")
    assert path == empty_cache / "names" / "Arabic.txt" and path.is_file()
    assert data.sha256_of(path) == entry.sha256


# ---- tiktoken's own downloads -------------------------------------------------


def test_tiktoken_offline_without_its_cache_is_a_clear_error(monkeypatch, tmp_path, offline):
    import tiktoken.registry

    from course_lib.tokenizer import load_tiktoken

    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})  # forget encodings loaded earlier in this process
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty"))
    with pytest.raises(data.DataUnavailableError, match=r"'gpt2'[\s\S]*TIKTOKEN_CACHE_DIR") as error:
        load_tiktoken("gpt2")
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert str(tmp_path / "empty") in str(error.value)


def test_tiktoken_from_its_cache_needs_no_network(monkeypatch, offline):
    import tiktoken.registry

    from course_lib.tokenizer import load_tiktoken

    cache = SHARED / "tiktoken_cache"
    if not cache.is_dir():
        pytest.skip(f"no tiktoken cache in {cache}")
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    assert load_tiktoken("gpt2").encode("Hello world") == [15496, 995]
    with pytest.raises(ValueError, match="no encoding 'gpt-2'.*gpt2"):
        load_tiktoken("gpt-2")


def test_ci_sets_the_data_folders_only_when_they_exist(root: Path):
    script = (root / ".ci" / "run").read_text()
    guarded = script.split('if [ -d "$shared" ]; then', 1)
    assert len(guarded) == 2, ".ci/run must test that ../shared/data exists"
    before, inside = guarded[0], guarded[1].split("fi", 1)[0]
    assert "COURSE_DATA_DIR" not in before and "TIKTOKEN_CACHE_DIR" not in before
    assert 'export COURSE_DATA_DIR="$shared"' in inside and "export TIKTOKEN_CACHE_DIR" in inside
