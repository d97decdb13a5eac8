-- `app.templates_rev` moves with every write to the app's own templates (`app_template`),
-- in the same transaction, so each instance's delivery worker knows when the templates it
-- compiled are stale; every claim reads it with the app.
ALTER TABLE app ADD COLUMN templates_rev INTEGER NOT NULL DEFAULT 0;
