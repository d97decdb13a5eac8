-- What an app sets for itself (code TTL, attempts, sends, code shape, channels, number
-- prefixes, hosted pages' look and embed origins), as JSON; `{}` keeps the engine's defaults.
ALTER TABLE app ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- TRUE for an app the config file declares: the dashboard shows it read-only, to the
-- tenant the config names.
ALTER TABLE app ADD COLUMN declared BOOLEAN NOT NULL DEFAULT FALSE;
