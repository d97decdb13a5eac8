-- App settings declared in the config file, and the hosted-flow fields of a verification.

-- Exact redirect URLs the app may send users back to (JSON array of strings).
ALTER TABLE app ADD COLUMN redirect_urls TEXT NOT NULL DEFAULT '[]';

-- Where the hosted page sends the user when done (one of the app's redirect_urls), the
-- integrator's opaque state echoed with it, and the language asked for.
ALTER TABLE verification ADD COLUMN redirect_url TEXT NOT NULL DEFAULT '';
ALTER TABLE verification ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE verification ADD COLUMN locale TEXT NOT NULL DEFAULT '';
