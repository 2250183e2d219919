-- Databases of the single-server stack (compose.yaml), run once by the postgis image on
-- an empty data volume: `tiandi` (patch store, created by POSTGRES_DB, PostGIS added
-- here), `stac` (pgstac, migrated by the stac-migrate service), `prefect` (Prefect server).
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE DATABASE stac;
CREATE DATABASE prefect;
\connect stac
CREATE EXTENSION IF NOT EXISTS postgis;
