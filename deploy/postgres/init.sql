-- Runs once, when the PostgreSQL data volume is first initialised
-- (mounted into /docker-entrypoint-initdb.d by docker-compose.yml).
-- One database per service (each owns its data; no shared tables), the console's
-- (people, roles, sessions), plus the one shared key registry. Owned by
-- POSTGRES_USER, which runs this script.
CREATE DATABASE signpost_intake;
CREATE DATABASE signpost_triage;
CREATE DATABASE signpost_routing;
CREATE DATABASE signpost_notify;
CREATE DATABASE signpost_console;
CREATE DATABASE signpost_keys;
