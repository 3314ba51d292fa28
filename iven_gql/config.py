"""Settings: environment (prefix IVEN_) and an optional .env file, nothing else."""

from __future__ import annotations

import contextlib
import enum
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from strawberry.http.websocket_origin import normalize_origin

from resolvers.core.rates import parse_rate

JWT_SECRET_FILE = "jwt-secret"
SQLITE_FILE = "iven.db"
DEFAULT_VAR_DIR = Path("./var")
DEFAULT_UPLOADS_DIR = Path("./uploads")


def sqlite_url(var_dir: Path) -> str:
    """The default database: the SQLite file under `var_dir`."""
    path = var_dir / SQLITE_FILE
    return f"sqlite+aiosqlite:///{path if path.is_absolute() else f'./{path}'}"


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


def redact_url(url: str) -> str:
    """The URL without its password, safe for logs and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


RATE_FIELDS = (
    "rate_login_account",
    "rate_login_ip",
    "rate_register_ip",
    "rate_register_email",
    "rate_reset_ip",
    "rate_reset_email",
    "rate_confirm_email",
    "rate_chat_send",
    "rate_poll_vote",
    "rate_login_failures_account",
    "rate_invite_sender",
    "rate_invite_email",
)
URL_SCHEMES = {
    "database_url": {"sqlite", "mysql", "mariadb"},
    "mongodb_url": {"mongodb", "mongodb+srv"},
    "redis_url": {"redis", "rediss", "unix"},
    "smtp_url": {"smtp", "smtps"},
    "public_url": {"http", "https"},
}


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"  # `iven-gql serve`'s default --host and --port
WILDCARD_ORIGIN_REFUSED = (
    "'*' is refused: list the origins of your apps (e.g. https://app.example.com,"
    "http://localhost:5173); a wildcard would let every site use the API and embed its media"
)


def serve_url(host: str, port: int) -> str:
    """IVEN_PUBLIC_URL's default for `iven-gql serve --host --port`: the address it listens on
    (a wildcard address is not one to visit: the loopback one instead)."""
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="IVEN_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # the string under each field is its description (`iven-gql --help` lists them)
        use_attribute_docstrings=True,
    )

    env: Environment = Environment.DEVELOPMENT
    """development or production; production refuses to start without IVEN_JWT_SECRET or with
    any embedded store, and turns introspection and field suggestions off."""
    database_url: str = Field(default_factory=lambda: sqlite_url(DEFAULT_VAR_DIR))
    """SQL store: mysql+aiomysql://user:pass@host:3306/iven, or SQLite; unset: the SQLite file
    iven.db under IVEN_VAR_DIR."""
    mongodb_url: str | None = None
    """Document store: mongodb://user:pass@host:27017/; unset: an embedded briskdb MongoDB
    listener started by the server, data under IVEN_VAR_DIR/briskdb."""
    mongodb_database: str = "iven"
    """Database name in MongoDB."""
    redis_url: str | None = None
    """redis://host:6379/0 (needed for several processes); unset: an in-process Redis."""
    redis_channel_namespace: str = ""
    """Prefix of every pub/sub channel: pub/sub is not scoped by Redis database number, so
    deployments sharing one Redis server each set their own, or hear each other's broadcasts."""
    jwt_secret: SecretStr | None = None
    """HS256 secret of tokens, 32+ random characters; unset in development: a random one made
    at first start in IVEN_VAR_DIR/jwt-secret; required outside development."""
    smtp_url: str | None = None
    """smtp://host:port or smtp://user:pass@host:587; unset: mails go to the log and to
    IVEN_VAR_DIR/outbox."""
    mail_from: str = "IVEN <no-reply@iven.local>"
    """Sender of mails."""
    public_url: str = DEFAULT_PUBLIC_URL
    """Where clients reach this server: the base of media and avatar URLs and of links in mails;
    unset: the address `iven-gql serve` listens on; required in production."""
    uploads_dir: Path = DEFAULT_UPLOADS_DIR
    """Uploaded files; unset: ./uploads, or IVEN_VAR_DIR/uploads when IVEN_VAR_DIR is set."""
    var_dir: Path = DEFAULT_VAR_DIR
    """Local data: the default SQLite file, briskdb data, the mail outbox, the development
    secret (and uploads, unless IVEN_UPLOADS_DIR is set)."""

    # Store connection behaviour
    store_connect_timeout_s: float = 5.0
    """Start-up fails after this long (seconds) when a store is unreachable."""
    run_migrations_on_start: bool | None = None
    """Apply pending migrations when the server starts; unset: only in development."""
    dispatcher: bool = True
    """Run the outbox dispatcher inside the server process (off: run `iven-gql dispatcher`)."""
    ws_compression: bool = False
    """permessage-deflate on WebSockets: smaller frames for a little CPU and ~40 KB of server
    memory per socket (bench/bench_chat.py)."""

    # Tokens and sessions
    access_token_ttl_s: int = 15 * 60
    """Lifetime of an access token (seconds)."""
    refresh_token_ttl_s: int = 30 * 24 * 3600
    """Lifetime of a refresh token (seconds)."""
    refresh_reuse_grace_s: int = 10
    """A refresh token used again within this many seconds (a client's retry) is not taken
    for theft."""
    session_cache_ttl_s: float = 5.0
    """How long a process trusts its cached view of a session (seconds)."""
    email_code_ttl_s: int = 15 * 60
    """Lifetime of an e-mail confirmation code (seconds)."""
    email_code_max_attempts: int = 5
    """Wrong guesses of an e-mail code before it is spent."""
    password_reset_ttl_s: int = 3600
    """Lifetime of a password-reset link (seconds)."""

    # Password hashing (argon2id; OWASP minimum m=19 MiB, t=2, p=1)
    argon2_time_cost: int = Field(default=2, ge=2)
    """argon2id iterations (at least 2)."""
    argon2_memory_kib: int = Field(default=19 * 1024, ge=19 * 1024)
    """argon2id memory in KiB (at least 19 MiB)."""
    argon2_parallelism: int = Field(default=1, ge=1)
    """argon2id lanes."""

    # Rate limits: "count/seconds"
    rate_login_account: str = "10/900"
    """Sign-ins per account *and* client address ("count/seconds")."""
    rate_login_ip: str = "50/900"
    """Sign-ins per client address ("count/seconds")."""
    rate_register_ip: str = "10/3600"
    """Registrations per client address ("count/seconds")."""
    rate_register_email: str = "5/3600"
    """Registrations per e-mail address ("count/seconds")."""
    rate_reset_ip: str = "10/3600"
    """Password-reset requests per client address ("count/seconds")."""
    rate_reset_email: str = "5/3600"
    """Password-reset requests per e-mail address ("count/seconds")."""
    rate_confirm_email: str = "10/900"
    """E-mail code confirmations per address ("count/seconds")."""
    rate_chat_send: str = "30/10"
    """Chat messages per sender ("count/seconds")."""
    rate_poll_vote: str = "60/60"
    """Votes in polls per voter ("count/seconds"; one per ballot, whatever its options)."""

    # visibility and abuse limits
    rate_invite_sender: str = "200/3600"
    """Invitations a sender may send ("count/seconds", one per invitee)."""
    rate_invite_email: str = "50/3600"
    """Of those, invitations mailed to addresses without an account ("count/seconds"): each
    one an e-mail the sender makes IVEN write."""

    # GraphQL protections
    max_tokens: int = 2000
    """Tokens in one GraphQL document."""
    max_document_bytes: int = 20_000
    """Bytes of one GraphQL document (413 beyond)."""
    max_request_bytes: int = 1_000_000
    """Bytes of a JSON request body (413 beyond)."""
    introspection: bool | None = None
    """Introspection and field suggestions; unset: on, except in production."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Browser origins allowed to use the API over HTTP (CORS) and WebSocket, and to embed media
    (iven_gql/origins.py): a comma-separated list or a JSON array, e.g.
    https://app.example.com,http://localhost:5173; no `*`."""
    graphiql: bool = True
    """Serve GraphiQL at /graphql to browsers."""

    # transport limits (request body: max_request_bytes above, media_max_request_bytes below)
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    """Request line and headers together, refused with 431 while they are read."""
    max_json_depth: int = Field(default=64, ge=8)
    """Nesting of lists and objects in a JSON body, variables or WebSocket message (400
    beyond)."""

    # request cost: one pass over each document before validation (iven_gql/cost.py); over a
    # limit → QUERY_TOO_COMPLEX, a spent budget → RATE_LIMITED (README "Limits")
    max_depth: int = Field(default=15, ge=1)
    """Depth of a document (the standard introspection query is 14 deep)."""
    max_aliases: int = Field(default=30, ge=0)
    """Aliases in a document."""
    max_fields: int = Field(default=500, ge=1)
    """Field selections once fragments are expanded."""
    max_repeated_fields: int = Field(default=20, ge=1)
    """Selections of one response name in one selection set."""
    max_directives: int = Field(default=50, ge=0)
    """Directives in a document."""
    max_query_cost: int = Field(default=100_000, ge=1)
    """Static cost of one document (lists × page size)."""
    cost_budget_per_minute: int = Field(default=1_000_000, ge=1)
    """Cost a viewer (or a client address, when anonymous) may spend per minute."""
    new_document_bytes_per_minute: int = Field(default=256 * 1024, ge=1)
    """Bytes of documents not seen before a client may send per minute (each is parsed once,
    before its cost is known); documents already in the cache are free."""
    document_cache_entries: int = Field(default=1024, ge=1)
    """Parsed and validated documents kept, in entries."""
    document_cache_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    """Parsed and validated documents kept, in bytes of document text."""

    # Media uploads: limits per file and per request, quotas (bytes), signed file URLs
    media_max_file_bytes: int = 25 * 1024 * 1024
    """Bytes of one uploaded file."""
    media_max_request_bytes: int = 100 * 1024 * 1024
    """Bytes of one multipart upload request (413 beyond)."""
    media_max_files: int = 20
    """File parts of one multipart request, each mapped to exactly one variable."""
    media_max_pixels: int = 80_000_000
    """Larger images are refused (decompression bombs)."""
    media_quota_user_bytes: int = 5 * 1024**3
    """Storage quota of a user (bytes of originals)."""
    media_quota_event_bytes: int = 20 * 1024**3
    """Storage quota of an event (bytes of originals)."""
    media_url_ttl_s: int = 900
    """Lifetime of signed media and avatar URLs (seconds)."""
    media_workers: int = 2
    """Threads for image work (EXIF, variants), off the event loop."""

    # sign-in and upload limits
    rate_login_failures_account: str = "100/900"
    """Failed sign-ins to one account from every address ("count/seconds"): the ceiling a
    stranger spread over many addresses meets; from one address rate_login_account stops far
    earlier."""
    login_delay_after_failures: int = Field(default=10, ge=0)
    """Past this many failures of an account in that window, each sign-in to it first waits
    IVEN_LOGIN_DELAY_STEP_MS, doubled per further failure (the owner still gets in, a guesser
    slows down)."""
    login_delay_step_ms: int = Field(default=250, ge=0)
    """First wait of a sign-in to an account past its failures (milliseconds)."""
    login_delay_max_ms: int = Field(default=4000, ge=0)
    """Longest wait of a sign-in to an account past its failures (milliseconds)."""
    # Uploads: media_max_files (above) bounds the file parts of one multipart request, each part
    # mapped to exactly one variable; a file is hashed while spooled and checked for size, quota
    # and duplicates before any decoding.

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    """JSON logs on stderr: DEBUG, INFO, WARNING, ERROR or CRITICAL."""

    @field_validator("mongodb_url", "redis_url", "smtp_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(*RATE_FIELDS)
    @classmethod
    def _rate_spec(cls, value: str) -> str:
        parse_rate(value)  # "count/seconds", both positive: a typo fails at start, not on use
        return value

    @field_validator("database_url", "mongodb_url", "redis_url", "smtp_url", "public_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and (value or info.field_name != "database_url"):
            scheme = urlsplit(value).scheme.split("+")[0]
            if scheme not in URL_SCHEMES[info.field_name or ""]:
                allowed = ", ".join(sorted(URL_SCHEMES[info.field_name or ""]))
                raise ValueError(f"a URL starting with one of: {allowed}")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_list(cls, value: object) -> object:
        """A comma-separated list, or a JSON array as pydantic-settings reads lists."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        origins = set()
        for origin in value:
            if origin.strip() == "*":
                raise ValueError(WILDCARD_ORIGIN_REFUSED)
            # scheme://host[:port] only, kept in the form browsers send (a typo fails at start)
            normal, parts = normalize_origin(origin), urlsplit(origin.strip())
            if normal is None or parts.path not in ("", "/") or parts.query or parts.username:
                raise ValueError(
                    f"{origin!r} is not an origin: scheme, host and optional port, without a "
                    "path (e.g. https://app.example.com or http://localhost:5173)"
                )
            origins.add(normal)
        return sorted(origins)

    @field_validator("public_url")
    @classmethod
    def _public_url_base(cls, value: str) -> str:
        parts = urlsplit(value)
        if not parts.hostname or parts.query or parts.fragment:
            raise ValueError("an address like https://api.example.com (no query or fragment)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _local_files_under_var_dir(self) -> Settings:
        """Every local file follows IVEN_VAR_DIR unless its own setting names it: a second
        server given another var dir shares nothing with the first (the SQLite file, briskdb
        data, outbox and development secret always live there; uploads too when only
        IVEN_VAR_DIR is set, so that the zero-configuration layout keeps ./uploads)."""
        given = self.model_fields_set
        if "database_url" not in given or not self.database_url:  # empty: unset
            self.database_url = sqlite_url(self.var_dir)
        if "uploads_dir" not in given and "var_dir" in given:
            self.uploads_dir = self.var_dir / "uploads"
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            problems = []
            secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
            if len(secret) < 32:
                problems.append("IVEN_JWT_SECRET must be set to a random value of 32+ characters")
            if self.mongodb_url is None:
                problems.append("IVEN_MONGODB_URL must point at a MongoDB server")
            if self.redis_url is None:
                problems.append("IVEN_REDIS_URL must point at a Redis server")
            if self.database_url.startswith("sqlite"):
                problems.append("IVEN_DATABASE_URL must point at MySQL/MariaDB")
            if "public_url" not in self.model_fields_set:
                problems.append(
                    "IVEN_PUBLIC_URL must be the address clients reach this server at "
                    "(https://api.example.com): media and avatar URLs are built on it"
                )
            if problems:
                raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    def token_secret(self) -> str:
        """The secret tokens (and, through a derived key, media URLs) are signed with:
        IVEN_JWT_SECRET, or in development a random one kept in `var_dir/jwt-secret` (0600),
        made at first start and reused after, so that no two servers share one by default."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        if self.is_production:  # refused by the validator already; never a made-up secret
            raise ValueError("IVEN_JWT_SECRET must be set")
        return development_secret(self.var_dir / JWT_SECRET_FILE)

    @property
    def introspection_enabled(self) -> bool:
        """Introspection (and the field suggestions of validation errors) is on unless it is
        production and not asked for."""
        return self.introspection if self.introspection is not None else not self.is_production

    @cached_property
    def migrate_on_start(self) -> bool:
        if self.run_migrations_on_start is not None:
            return self.run_migrations_on_start
        return not self.is_production


@dataclass(frozen=True)
class SettingHelp:
    variable: str
    default: str
    description: str


def _shown_default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Path):
        return str(value) if value.is_absolute() else f"./{value}"
    if isinstance(value, list) or value == "":
        return json.dumps(value)
    return str(value)


def settings_reference(names: Iterable[str] | None = None) -> list[SettingHelp]:
    """Each setting's variable, default and description (from the string under its field), in
    the order of the class: what `iven-gql --help` lists."""
    wanted = set(names) if names is not None else None
    return [
        SettingHelp(
            variable=f"IVEN_{name.upper()}",
            default=_shown_default(info.get_default(call_default_factory=True)),
            description=" ".join((info.description or "").split()),
        )
        for name, info in Settings.model_fields.items()
        if wanted is None or name in wanted
    ]


def development_secret(path: Path) -> str:
    """The secret in `path`, made (64 hex characters, owner-only) if it does not exist yet.
    Written to a temporary file and linked into place, so a process starting at the same
    time never reads a half-written one: whoever links first wins, the others read it."""
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < 32:
        raise ValueError(f"{path} does not hold a secret of 32+ characters: delete it")
    return secret
