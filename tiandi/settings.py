"""Configuration: one typed settings object, read once at the edge (CLI, flow entry).

Environment variables use the prefix ``TIANDI_`` (e.g. ``TIANDI_HOME``,
``TIANDI_STAC_API_URL``, ``TIANDI_DASK_SCHEDULER``). Nothing deeper in the code reads the
environment: functions take the values they need as parameters.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: File name of the embedded patch store (in ``home``, and in the demo cycle's folder).
PATCH_STORE_FILE = "patches.gpkg"


def _cores() -> int:
    """The cores this process may use: CPU affinity and a container's CPU quota counted
    (Dask's own count, which its threaded scheduler defaults to)."""
    import dask.system

    return int(dask.system.CPU_COUNT)


class Settings(BaseSettings):
    """Where tiandi keeps its state and which services it talks to."""

    model_config = SettingsConfigDict(env_prefix="TIANDI_", extra="ignore")

    home: Path = Field(
        default=Path("var"),
        description="Working folder: embedded catalog, Prefect home, server logs.",
    )
    stac_api_url: str | None = Field(
        default=None,
        description="STAC API to search. None: the embedded catalog served by `rustac serve`.",
    )
    stac_provider: str | None = Field(
        default=None,
        description="Profile of the STAC API's asset names and offsets: tiandi, earth-search, "
        "planetary-computer or cdse. None: chosen by the API URL's host.",
    )
    pc_sas_url: str = Field(
        default="https://planetarycomputer.microsoft.com/api/sas/v1",
        description="Planetary Computer SAS token API (asset hrefs are signed with its tokens).",
    )
    dask_scheduler: str | None = Field(
        default=None,
        description=(
            "Address of an existing Dask scheduler. None: Dask's threaded scheduler in "
            "the flow's process."
        ),
    )
    dask_connect_timeout: float = Field(
        default=20.0,
        gt=0,
        description="Seconds to keep trying to reach dask_scheduler before giving up.",
    )
    dask_workers: int = Field(
        default_factory=_cores,
        ge=1,
        description="Threads of the flow's own Dask computations (no scheduler): the cores.",
    )
    dask_memory_limit: str = Field(
        default="4GiB",
        description=(
            "Memory per worker process of a local cluster on loopback (the test session's); "
            "the embedded default computes on threads of the flow's process, not limited."
        ),
    )
    prefect_startup_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds the local Prefect server may take to answer (a busy machine "
        "needs more than a minute).",
    )
    chunk_size: int = Field(default=1024, ge=128, description="Pixels per chunk side.")
    patch_store: Path | None = Field(
        default=None,
        description="Patch store GeoPackage when not <home>/patches.gpkg; ignored with patch_dsn.",
    )
    patch_dsn: SecretStr | None = Field(
        default=None,
        description=(
            "PostgreSQL/PostGIS DSN of the patch store. None: <home>/patches.gpkg. A secret: "
            "shown as ********** wherever settings are printed, logged or stored as flow "
            "parameters (deployments pass no settings, so workers read their own)."
        ),
    )
    patch_schema: str = Field(
        default="tiandi", description="PostgreSQL schema of the patch store (with patch_dsn)."
    )
    field_upload_max_mb: float = Field(
        default=200.0,
        gt=0,
        description="Largest returned field package the service accepts (MB); larger: 413.",
    )
    prefect_api_url: str | None = Field(
        default=None,
        # the field's own name last: read from the environment it would match PREFECT_API_URL
        validation_alias=AliasChoices(
            "TIANDI_PREFECT_API_URL", "PREFECT_API_URL", "prefect_api_url"
        ),
        description="Prefect API the service starts runs through (TIANDI_PREFECT_API_URL, "
        "else PREFECT_API_URL).",
    )
    prefect_ui_url: str | None = Field(
        default=None,
        description="Prefect UI for links to flow runs (None: the API URL without /api).",
    )
    prefect_deployment: str = Field(
        default="detect_changes/on-demand",
        description="Deployment (flow/deployment) that POST /api/v1/runs starts.",
    )

    cdse_base_url: str = Field(
        default="https://sh.dataspace.copernicus.eu",
        description="Sentinel Hub API of the Copernicus Data Space (Catalog and Process API) "
        "that `tiandi fetch cdse` uses.",
    )
    cdse_token_url: str = Field(
        default="https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/"
        "openid-connect/token",
        description="OAuth token endpoint of the Copernicus Data Space.",
    )
    cdse_client_id: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TIANDI_CDSE_CLIENT_ID", "SH_CLIENT_ID", "cdse_client_id"),
        description="OAuth client id for the Copernicus Data Space (TIANDI_CDSE_CLIENT_ID, "
        "else SH_CLIENT_ID); a secret, never printed.",
    )
    cdse_client_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "TIANDI_CDSE_CLIENT_SECRET", "SH_CLIENT_SECRET", "cdse_client_secret"
        ),
        description="OAuth client secret (TIANDI_CDSE_CLIENT_SECRET, else SH_CLIENT_SECRET).",
    )
    cdse_secrets_file: Path | None = Field(
        default=None,
        description="File of client_id=... and client_secret=... lines (mode 0600), read when "
        "the two are not in the environment.",
    )

    @property
    def cdse_path(self) -> Path:
        """Where ``tiandi fetch cdse`` writes each fetched acquisition's COGs."""
        return self.home / "cdse"

    @property
    def catalog_path(self) -> Path:
        """The embedded stac-geoparquet catalog."""
        return self.home / "catalog" / "items.parquet"

    @property
    def patch_store_path(self) -> Path:
        """The embedded patch store (GeoPackage), used when ``patch_dsn`` is not set."""
        return self.patch_store if self.patch_store is not None else self.home / PATCH_STORE_FILE

    @property
    def field_results_path(self) -> Path:
        """The field results store (what crews sent back), as `tiandi field import` uses."""
        return self.home / "field" / "field-results.gpkg"

    @property
    def uav_path(self) -> Path:
        """Where ``tiandi ingest uav`` writes each item's folder (COG, chips) by default."""
        return self.home / "uav"

    @property
    def gf_path(self) -> Path:
        """Where ``tiandi ingest gf`` writes each product's folder (COGs, chips) by default."""
        return self.home / "gf"

    @property
    def detail_paths(self) -> tuple[Path, ...]:
        """The folders whose ``<item>/chips/index.csv`` the service lists as patch evidence."""
        return (self.uav_path, self.gf_path)

    @property
    def tokens_path(self) -> Path:
        """The service's token table (SQLite; hashes only, never the tokens themselves)."""
        return self.home / "service" / "tokens.sqlite"

    @property
    def field_packages_dir(self) -> Path:
        """Where the service finds each station's current field package:
        ``<home>/field/packages/<station>/<station>.gpkg`` (``tiandi dispatch``'s default --out)."""
        return self.home / "field" / "packages"

    @property
    def flow_log_path(self) -> Path:
        """The log file of flow runs started from the CLI (full tracebacks of failures)."""
        return self.home / "logs" / "flows.log"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"
