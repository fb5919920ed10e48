"""Data: every file the course reads, fetched on demand and verified by hash.

Taught in the setup of notebooks 03 and later. Public datasets are never part of
the repository. ``fetch(name)`` returns a local path to the file:

1. If the environment variable ``COURSE_DATA_DIR`` names a folder that holds
   the file with the right sha256, that path is returned. Nothing touches the
   network and nothing is written (classrooms and CI use this).
2. Otherwise the file is downloaded with pooch from its canonical public URL
   into a user cache (``COURSE_CACHE_DIR``, or pooch's per-user cache folder)
   and verified against its sha256. A later call finds it there.

Nothing here downloads at import time. A wrong hash is always an error, and so
is being offline without the file: the message names the file, its URL and
``COURSE_DATA_DIR`` (or ``COURSE_CACHE_DIR`` when the cache cannot be written),
and it is the whole message, not the last line of a long chained traceback.
A download or archive that fails its check is deleted, so the next ``fetch``
starts clean. The SMS archive has no published hash; the member we extract
from it is verified instead.

Tiny files we make ourselves (the N2 heat capacity table) ship inside the
package instead, see ``load_n2_cp``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

DATA_DIR_VAR = "COURSE_DATA_DIR"
CACHE_DIR_VAR = "COURSE_CACHE_DIR"


@dataclass(frozen=True)
class DataFile:
    """One public file: where it comes from and the sha256 of its exact bytes.

    ``archive_member`` is set when the URL serves a zip archive: the file is that
    member, and the hash is checked on the extracted bytes.
    """

    filename: str
    url: str
    sha256: str
    about: str
    archive_member: str | None = None


_OPENAI_GPT2 = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"
_RASBT = "https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/"
_NAMES = "https://raw.githubusercontent.com/spro/practical-pytorch/master/data/names/"

REGISTRY: dict[str, DataFile] = {
    "tinyshakespeare": DataFile(
        "tinyshakespeare.txt",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "Tiny Shakespeare, 1,115,394 characters (karpathy/char-rnn, MIT; text public domain)",
    ),
    "the-verdict": DataFile(
        "the-verdict.txt",
        _RASBT + "ch02/01_main-chapter-code/the-verdict.txt",
        "b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f",
        "Edith Wharton, The Verdict (1908), public domain, 20,479 characters",
    ),
    "sms-spam-collection": DataFile(
        "SMSSpamCollection.tsv",
        "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip",
        "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d",
        "UCI SMS Spam Collection v.1 (Almeida & Gómez Hidalgo, 2011), 5,574 labelled messages",
        archive_member="SMSSpamCollection",
    ),
    "instruction-data": DataFile(
        "instruction-data.json",
        _RASBT + "ch07/01_main-chapter-code/instruction-data.json",
        "7e09a9af353722ca15c18bc580f093f9c39d3178335a75177319cb1e1d163944",
        "1,100 instruction/input/output examples (rasbt/LLMs-from-scratch, Apache-2.0)",
    ),
    "instruction-preference-data": DataFile(
        "instruction-data-with-preference.json",
        _RASBT + "ch07/04_preference-tuning-with-dpo/instruction-data-with-preference.json",
        "305315abf14f65fa42c01a0877572f832606571c2a7d49f152ac1d758b16756e",
        "the 1,100 instructions of instruction-data, each with a chosen and a rejected response "
        "(rasbt/LLMs-from-scratch, Apache-2.0)",
    ),
    "gpt2-encoder": DataFile(
        "encoder.json",
        _OPENAI_GPT2 + "encoder.json",
        "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
        "GPT-2's token-to-id vocabulary (OpenAI, modified MIT)",
    ),
    "gpt2-vocab": DataFile(
        "vocab.bpe",
        _OPENAI_GPT2 + "vocab.bpe",
        "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        "GPT-2's 50,000 BPE merges (OpenAI, modified MIT)",
    ),
    "names-arabic": DataFile(
        "names/Arabic.txt",
        _NAMES + "Arabic.txt",
        "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc",
        "Arabic surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-chinese": DataFile(
        "names/Chinese.txt",
        _NAMES + "Chinese.txt",
        "09ba8f1f7e38dbc99372d461b26ad4433b811fc6bfa6a3ecca6fe11a9a777465",
        "Chinese surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-czech": DataFile(
        "names/Czech.txt",
        _NAMES + "Czech.txt",
        "e17ab0ec47616a72c39cb85c783f70c3663ab64488721e5d8378f146d2226be7",
        "Czech surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-dutch": DataFile(
        "names/Dutch.txt",
        _NAMES + "Dutch.txt",
        "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3",
        "Dutch surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-english": DataFile(
        "names/English.txt",
        _NAMES + "English.txt",
        "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2",
        "English surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-french": DataFile(
        "names/French.txt",
        _NAMES + "French.txt",
        "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95",
        "French surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-german": DataFile(
        "names/German.txt",
        _NAMES + "German.txt",
        "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db",
        "German surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-greek": DataFile(
        "names/Greek.txt",
        _NAMES + "Greek.txt",
        "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6",
        "Greek surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-irish": DataFile(
        "names/Irish.txt",
        _NAMES + "Irish.txt",
        "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058",
        "Irish surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-italian": DataFile(
        "names/Italian.txt",
        _NAMES + "Italian.txt",
        "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4",
        "Italian surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-japanese": DataFile(
        "names/Japanese.txt",
        _NAMES + "Japanese.txt",
        "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f",
        "Japanese surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-korean": DataFile(
        "names/Korean.txt",
        _NAMES + "Korean.txt",
        "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136",
        "Korean surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-polish": DataFile(
        "names/Polish.txt",
        _NAMES + "Polish.txt",
        "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826",
        "Polish surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-portuguese": DataFile(
        "names/Portuguese.txt",
        _NAMES + "Portuguese.txt",
        "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53",
        "Portuguese surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-russian": DataFile(
        "names/Russian.txt",
        _NAMES + "Russian.txt",
        "0cfe53ac18041e8f63666aa77313e0a3ff378facb132abee052d8ebdc8c3d62c",
        "Russian surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-scottish": DataFile(
        "names/Scottish.txt",
        _NAMES + "Scottish.txt",
        "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd",
        "Scottish surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-spanish": DataFile(
        "names/Spanish.txt",
        _NAMES + "Spanish.txt",
        "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7",
        "Spanish surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
    "names-vietnamese": DataFile(
        "names/Vietnamese.txt",
        _NAMES + "Vietnamese.txt",
        "f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d",
        "Vietnamese surnames, one per line (spro/practical-pytorch data/names, MIT)",
    ),
}


class DataUnavailableError(FileNotFoundError):
    """The file is neither in ``COURSE_DATA_DIR`` nor in the cache, and the download failed."""


class UnknownDatasetError(KeyError, ValueError):
    """``fetch`` was given a name the registry does not have (a KeyError and a ValueError)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class DataCorruptError(ValueError):
    """A downloaded file or archive failed its sha256 check (it has been deleted)."""


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    """Where downloads go: ``COURSE_CACHE_DIR`` if set, else pooch's per-user cache."""
    configured = os.environ.get(CACHE_DIR_VAR)
    if configured:
        return Path(configured).expanduser()
    import pooch

    return Path(pooch.os_cache("course_lib"))


def _entry(name: str) -> DataFile:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownDatasetError(f"no dataset called {name!r}; the course knows: {known}") from None


def _from_data_dir(entry: DataFile) -> Path | None:
    """The file in ``COURSE_DATA_DIR``, if that variable is set and the file is there."""
    configured = os.environ.get(DATA_DIR_VAR)
    if not configured:
        return None
    folder = Path(configured).expanduser()
    if not folder.is_dir():
        raise NotADirectoryError(
            f"{DATA_DIR_VAR}={configured!r} is not a folder. Point it at a folder that holds "
            f"the course's data files, or unset it to download them into {cache_dir()}."
        )
    path = folder / entry.filename
    if not path.is_file():
        return None
    found = sha256_of(path)
    if found != entry.sha256:
        raise ValueError(
            f"{path} has sha256 {found}, but the course expects {entry.sha256}. The file is "
            f"corrupt or a different version: replace it with a fresh copy from {entry.url}."
        )
    return path.resolve()


def _registry_key(entry: DataFile) -> str:
    """The name pooch stores a download under: the archive's name for zipped files."""
    return entry.url.rsplit("/", 1)[-1] if entry.archive_member else entry.filename


def _pooch(folder: Path):
    """A pooch registry of every dataset, downloading into ``folder``.

    Zipped downloads are registered without a hash (the archive's is not
    published); their extracted member is verified instead, in ``_download``.
    """
    import pooch

    return pooch.create(
        path=folder,
        base_url="",
        registry={_registry_key(e): None if e.archive_member else f"sha256:{e.sha256}" for e in REGISTRY.values()},
        urls={_registry_key(e): e.url for e in REGISTRY.values()},
    )


def _remove(*paths: Path) -> None:
    """Delete files and folders, ignoring those that are not there."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _check_writable(folder: Path, entry: DataFile) -> None:
    """Make sure a download can be written into ``folder``, or say which variable to change."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise DataUnavailableError(
            f"could not get {entry.filename}: the download cache {folder} cannot be written "
            f"({type(error).__name__}: {error.strerror or error}).\n"
            f"  Fix: set {CACHE_DIR_VAR} to a folder you can write to, or put {entry.filename} "
            f"(from {entry.url}) in a folder and set {DATA_DIR_VAR} to that folder."
        ) from None


def _download(entry: DataFile, folder: Path) -> None:
    """Download ``entry`` into the cache ``folder`` through the pooch registry, verifying its hash.

    pooch checks a plain file's sha256 itself and keeps nothing that fails. An
    archive has no registered hash, so pooch would keep a broken one forever;
    we check the extracted member and delete the archive and its extraction
    when it is not the expected file.
    """
    import pooch

    registry = _pooch(folder)
    downloader = pooch.HTTPDownloader(progressbar=True, timeout=60)
    if entry.archive_member is None:
        try:
            registry.fetch(entry.filename, downloader=downloader)
        except ValueError as error:  # pooch's hash mismatch; the download was not kept
            if "hash" not in str(error).lower():
                raise
            raise DataCorruptError(
                f"{entry.filename} downloaded from {entry.url} has the wrong hash (sha256), not {entry.sha256}: "
                f"the download was damaged or the file changed upstream. It was deleted; run again to retry, "
                f"or put a good copy in a folder and set {DATA_DIR_VAR} to that folder."
            ) from None
        return
    archive = folder / _registry_key(entry)
    extracted_dir = archive.with_name(archive.name + ".unzip")  # where pooch.Unzip extracts
    try:
        members = registry.fetch(
            _registry_key(entry), downloader=downloader, processor=pooch.Unzip(members=[entry.archive_member])
        )
        extracted = Path(members[0])
        found = sha256_of(extracted)
    except (zipfile.BadZipFile, KeyError, IndexError, FileNotFoundError) as error:
        _remove(archive, extracted_dir)
        raise DataCorruptError(
            f"the archive downloaded from {entry.url} is broken or lacks {entry.archive_member} "
            f"({type(error).__name__}: {error}). It was deleted; run again to download it afresh, or put "
            f"{entry.filename} in a folder and set {DATA_DIR_VAR} to that folder."
        ) from None
    if found != entry.sha256:
        _remove(archive, extracted_dir)
        raise DataCorruptError(
            f"{entry.archive_member} from {entry.url} has sha256 {found}, but the course expects "
            f"{entry.sha256}: the archive has changed upstream or was damaged. It was deleted; run again to "
            f"retry, or put the expected file in {DATA_DIR_VAR}."
        )
    shutil.copyfile(extracted, folder / entry.filename)


def fetch(name: str) -> Path:
    """Return the local path of dataset ``name``, downloading and verifying it if needed.

    ``name`` is a key of ``REGISTRY``: ``tinyshakespeare``, ``the-verdict``,
    ``sms-spam-collection``, ``instruction-data``, ``gpt2-encoder`` (encoder.json)
    or ``gpt2-vocab`` (vocab.bpe).
    """
    from course_lib.validation import as_str

    entry = _entry(as_str(name, "name", hint="a dataset name such as 'the-verdict'"))
    local = _from_data_dir(entry)
    if local is not None:
        return local
    folder = cache_dir()
    target = folder / entry.filename
    if target.is_file() and sha256_of(target) == entry.sha256:
        return target
    _check_writable(target.parent, entry)
    import requests

    try:
        _download(entry, folder)
    except (requests.exceptions.RequestException, OSError) as error:
        # `from None`: this message is the whole story; the chain below it would be ~200 lines of urllib3.
        cause = f"{type(error).__name__}: {error}"
        raise DataUnavailableError(
            f"could not get {entry.filename} ({entry.about}).\n"
            f"  It is not in {DATA_DIR_VAR} ({os.environ.get(DATA_DIR_VAR) or 'unset'}) nor in the cache "
            f"({folder}),\n  and downloading it from {entry.url} failed: "
            f"{cause if len(cause) < 300 else cause[:297] + '...'}\n"
            f"  Fix: connect to the internet and run again, or download that URL yourself, save it as "
            f"{entry.filename} in a folder, and set {DATA_DIR_VAR} to that folder."
        ) from None
    return target


def read_text(name: str) -> str:
    """The text of dataset ``name`` (UTF-8), fetched as ``fetch`` does."""
    return fetch(name).read_text(encoding="utf-8")


def _resource_csv(filename: str) -> pd.DataFrame:
    import pandas as pd

    with resources.files("course_lib.resources").joinpath(filename).open("rb") as f:
        return pd.read_csv(f)


def load_n2_cp() -> pd.DataFrame:
    """Isobaric heat capacity of N2 gas at 1 bar, 300–2000 K in 50 K steps (notebook 02).

    Columns ``T_K`` (kelvin) and ``Cp_kJ_per_kgK`` (kJ/(kg·K)), 35 rows, computed
    from the reference equation of state of Span et al. (2000) by
    ``data/make_n2_cp.py``. Shipped with the package, so no download is needed.
    """
    return _resource_csv("n2_cp.csv")


def load_n2_cp_extrapolation() -> pd.DataFrame:
    """True Cp of N2 at 275 K and 2100 K, just outside the training range (notebook 02).

    Same columns and source as ``load_n2_cp``; used to test extrapolation.
    """
    return _resource_csv("n2_cp_extrapolation.csv")
