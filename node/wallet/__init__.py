"""The member's wallet: a phone-browser app the node serves itself (docs/wallet.md, docs/api.md §11).

How this works: the wallet is plain ES modules, HTML and CSS under static/, with no build step. The
node serves one shell (shell.html) for `/wallet` and each of its screens; the browser then routes
between screens with the History API and reads the member's data from the JSON API as the member,
so nothing served here holds member data and every route is anyone's. The files of static/ are read
once, when the routes are added, into a table keyed by their path under static/: a request names a
key of that table or gets a 404, so no request ever reaches the file system and no path, however
encoded (`..`, `%2e%2e`, a backslash), can name a file outside static/. The version of the wallet is
a hash of every file; the shell names its entry files with `?v=<version>`, which are then cached for
a year (immutable), and every other file carries an ETag for a cheap revalidation (modules import
each other by relative URLs, which carry no version). The service worker (sw.js, served from
/wallet/sw.js with the version and the file list written in) precaches the shell and the files, so
the wallet opens offline; a new version is a new sw.js, which the browser installs.

Every answer carries a strict Content-Security-Policy (no inline script or style: the app's code is
all in static/), nosniff and no-referrer, 404s included.

Languages (catalogue.py): each language's gettext catalogue (locale/<language>/LC_MESSAGES/wallet.po)
is compiled here, when the wallet loads, into static/locale/<language>.json in the same table, so it
is versioned and precached like every other file. The shell names the languages shipped and, as its
`<html lang>`, the community's default (config.json `default_language`), from which the app picks
the reader's language (strings.js); the few texts of the shell and the 404 page, which no script
draws, are written in that default language.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from . import catalogue

package_root = Path(__file__).resolve().parent
static_root = package_root / "static"

# The screens of the shell besides home (/wallet), each the same HTML, the app drawing the screen:
# one per module static/screens/<name>.js (home.js is /wallet itself), so a screen is added by
# adding its module, and the node and the app (app.js) read the same list.
home_screen = "home"

# Bounds on what is read at start-up: the wallet is a few dozen small files; more is a packaging
# mistake, refused loudly rather than served.
static_files_max = 100
static_file_bytes_max = 1024 * 1024
# The longest path under static/ a request may name (docs/api.md: public_path_chars_max).
static_path_chars_max = 256
# A versioned URL (?v= the current version) never changes: a year, the longest browsers honour.
immutable_max_age_seconds = 365 * 24 * 3600

content_security_policy = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
security_headers = {
    "Content-Security-Policy": content_security_policy,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

content_types = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
}
text_plain = "text/plain; charset=utf-8"  # LICENSE files and anything without a known extension


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True)
class Wallet:
    """Everything the wallet serves, read once."""

    files: dict[str, StaticFile]
    version: str
    shell: bytes
    not_found: bytes
    service_worker: bytes
    manifest: bytes
    screens: frozenset[str]


wallet_key = web.AppKey("wallet", Wallet)


def _read_static() -> dict[str, StaticFile]:
    files: dict[str, StaticFile] = {}
    for path in sorted(static_root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".py":
            continue
        relative = path.relative_to(static_root).as_posix()
        body = path.read_bytes()
        if len(body) > static_file_bytes_max:
            raise RuntimeError(f"wallet file {relative} is over {static_file_bytes_max} bytes")
        files[relative] = StaticFile(body, content_types.get(path.suffix, text_plain),
                                     '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"')
        if len(files) > static_files_max:
            raise RuntimeError(f"the wallet has over {static_files_max} static files")
    return files


def _version_of(files: dict[str, StaticFile], *others: bytes) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for name, file in files.items():
        digest.update(name.encode() + b"\0" + file.etag.encode() + b"\0")
    for other in others:
        digest.update(hashlib.blake2b(other, digest_size=16).digest())
    return digest.hexdigest()


def _screens_of(files: dict[str, StaticFile]) -> frozenset[str]:
    named = (name.removeprefix("screens/").removesuffix(".js") for name in files
             if name.startswith("screens/") and name.endswith(".js") and name.count("/") == 1)
    return frozenset(name for name in named if name != home_screen)


def _add_catalogues(files: dict[str, StaticFile], english: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each shipped language's finished translations, added to `files` as locale/<language>.json."""
    translations: dict[str, dict[str, str]] = {}
    for language in catalogue.shipped_languages():
        if language == catalogue.source_language:
            continue
        translations[language] = catalogue.compiled(english, catalogue.read_catalogue(language))
        body = json.dumps(translations[language], ensure_ascii=False, sort_keys=True).encode()
        files[f"locale/{language}.json"] = StaticFile(
            body, content_types[".json"], '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"')
    if len(files) > static_files_max:
        raise RuntimeError(f"the wallet has over {static_files_max} static files")
    return translations


def _fill(template: bytes, texts: dict[str, str]) -> bytes:
    for name, text in texts.items():
        template = template.replace(b"{" + name.encode() + b"}", text.encode())
    return template


def load_wallet(default_language: str = catalogue.source_language) -> Wallet:
    """The wallet as served, its shell and 404 page in `default_language` (one of
    catalogue.shipped_languages())."""
    files = _read_static()
    screens = _screens_of(files)
    english = {message_id: text for message_id, (_, text)
               in catalogue.read_strings(files["strings.js"].body.decode("utf-8")).items()}
    translations = _add_catalogues(files, english)
    if default_language != catalogue.source_language and default_language not in translations:
        raise RuntimeError(f"the wallet has no catalogue for {default_language!r}")

    def text(message_id: str) -> str:
        """A text in the default language (English where it has no translation)."""
        return translations.get(default_language, {}).get(message_id, english[message_id])

    def markup(*message_ids: str) -> dict[str, str]:
        """Texts for a template, by their id's last part, escaped for the HTML they are written into."""
        return {message_id.rsplit(".", 1)[-1]: html.escape(text(message_id)) for message_id in message_ids}

    shell_template = (package_root / "shell.html").read_bytes()
    not_found_template = (package_root / "not_found.html").read_bytes()
    worker_template = (package_root / "sw.js").read_bytes()
    version = _version_of(files, shell_template, not_found_template, worker_template, default_language.encode())
    page_texts = {"version": version, "language": default_language,
                  "languages": " ".join(catalogue.shipped_languages())}
    shell = _fill(shell_template, {**page_texts, **markup("app.title", "shell.noscript")})
    not_found = _fill(not_found_template, {**page_texts, **markup("not_found.title", "not_found.text", "not_found.open")})
    # The service worker learns the version (its cache's name) and what to precache.
    precached = ["/wallet", *(f"/wallet/static/{name}" for name in files if not name.endswith("LICENSE"))]
    worker = worker_template.replace(b'"{version}"', json.dumps(version).encode()).replace(
        b'["{files}"]', json.dumps(precached).encode()).replace(
        b'["{screens}"]', json.dumps(sorted(screens)).encode())
    manifest = json.dumps({
        "name": "Tallystick wallet", "short_name": text("app.title"), "start_url": "/wallet", "scope": "/wallet",
        "display": "standalone", "background_color": "#ffffff", "theme_color": "#1d5c4a",
        "icons": [{"src": f"/wallet/static/icon.svg?v={version}", "sizes": "any", "type": "image/svg+xml"}],
    }).encode()
    return Wallet(files, version, shell, not_found, worker, manifest, screens)


def _answer(body: bytes, content_type: str, *, status: int = 200, cache: str = "no-cache",
            extra: dict[str, str] | None = None) -> web.Response:
    headers = {**security_headers, "Content-Type": content_type, "Cache-Control": cache, **(extra or {})}
    return web.Response(body=body, status=status, headers=headers)


def _not_found(request: web.Request) -> web.Response:
    return _answer(request.app[wallet_key].not_found, content_types[".html"], status=404, cache="no-store")


async def shell(request: web.Request) -> web.Response:
    return _answer(request.app[wallet_key].shell, content_types[".html"])


async def shell_at_screen(request: web.Request) -> web.Response:
    if request.match_info["screen"] not in request.app[wallet_key].screens:
        return _not_found(request)
    return await shell(request)


async def static_file(request: web.Request) -> web.Response:
    wallet = request.app[wallet_key]
    name = request.match_info["path"]
    file = wallet.files.get(name) if len(name) <= static_path_chars_max else None
    if file is None:
        return _not_found(request)
    versioned = request.query.get("v") == wallet.version
    cache = f"public, max-age={immutable_max_age_seconds}, immutable" if versioned else "no-cache"
    if request.headers.get("If-None-Match") == file.etag:
        return web.Response(status=304, headers={**security_headers, "ETag": file.etag, "Cache-Control": cache})
    return _answer(file.body, file.content_type, cache=cache, extra={"ETag": file.etag})


async def service_worker(request: web.Request) -> web.Response:
    # Scope /wallet (the home screen's own URL, not only what lies under /wallet/) is wider than
    # the worker's folder, so the browser asks for this header's consent.
    return _answer(request.app[wallet_key].service_worker, content_types[".js"],
                   extra={"Service-Worker-Allowed": "/wallet"})


async def manifest(request: web.Request) -> web.Response:
    return _answer(request.app[wallet_key].manifest, "application/manifest+json")


def add_routes(app: web.Application) -> None:
    """The wallet's routes (docs/api.md §11). The fixed ones first, so `{screen}` never shadows them."""
    from ..app import config_key  # here, not above: node/home.py (which the app imports) imports catalogue.py

    config = app.get(config_key)
    app[wallet_key] = load_wallet(config.default_language if config is not None else catalogue.source_language)
    app.router.add_get("/wallet", shell)
    app.router.add_get("/wallet/sw.js", service_worker)
    app.router.add_get("/wallet/manifest.webmanifest", manifest)
    app.router.add_get("/wallet/static/{path:.*}", static_file)
    app.router.add_get("/wallet/{screen:.*}", shell_at_screen)  # any other path under /wallet/: a 404 page
