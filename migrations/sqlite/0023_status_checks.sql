-- The `status` CHECKs of `verification` and `delivery`, written as comparisons instead of
-- `IN` lists. SQLite tests an `IN` list of more than two values by building a temporary
-- index at every statement that writes the column: each create writes both rows, each
-- message's outcome and each consumption one. The comparisons allow exactly the same
-- values.
--
-- Changing a CHECK in SQLite means making the table anew, and that is not possible here:
-- migrations run in a transaction, where foreign keys cannot be turned off, and dropping
-- `verification` would delete its events and outbox rows through ON DELETE CASCADE.
-- Every row already satisfies both forms, so the table's stored definition is rewritten
-- in place, as SQLite documents for constraint changes that leave the file's contents as
-- they are (lang_altertable.html, "Making Other Kinds Of Table Schema Changes"). The
-- table created and dropped after it is a schema change, so every connection reads the
-- schema anew. `store::sqlite`'s tests check the stored definitions and that the checks
-- still refuse an unknown status.
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (status IN (''pending'', ''verified'', ''expired'', ''locked'', ''cancelled''))',
    'CHECK (status = ''pending'' OR status = ''verified'' OR status = ''expired''
            OR status = ''locked'' OR status = ''cancelled'')')
WHERE type = 'table' AND name = 'verification';

UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (status IN (''queued'', ''sending'', ''sent'', ''dead'', ''suppressed'', ''dropped''))',
    'CHECK (status = ''queued'' OR status = ''sending'' OR status = ''sent''
            OR status = ''dead'' OR status = ''suppressed'' OR status = ''dropped'')')
WHERE type = 'table' AND name = 'delivery';

PRAGMA writable_schema = OFF;

CREATE TABLE schema_reread (x INTEGER);
DROP TABLE schema_reread;
