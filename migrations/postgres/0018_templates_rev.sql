-- `app.templates_rev` moves with every write to the app's own templates (`app_template`),
-- in the same transaction, so each instance's delivery worker knows when the templates it
-- compiled are stale; every claim reads it with the app.
ALTER TABLE app ADD COLUMN templates_rev BIGINT NOT NULL DEFAULT 0;
-- Revision 0 is an app that never had templates: one that has some starts at 1.
UPDATE app SET templates_rev = 1 WHERE app_id IN (SELECT app_id FROM app_template);
