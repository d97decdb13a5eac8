-- `verification_inbound` named `status` in its condition, so every change of status (a
-- right code's consumption, a lock) changed an indexed column: PostgreSQL could never
-- make it a heap-only update and wrote the new row version into each of the table's
-- indexes. An inbound key now lives exactly as long as its verification is pending: a
-- verification that leaves `pending` has its key cleared by the trigger below, so the
-- index can say `inbound_key IS NOT NULL` alone and stays unique among the open ones.
-- Only the key's own verification reads it (`find_inbound`, pending ones only).
UPDATE verification SET inbound_key = NULL
    WHERE inbound_key IS NOT NULL AND status <> 'pending';
DROP INDEX verification_inbound;
CREATE UNIQUE INDEX verification_inbound ON verification (inbound_key)
    WHERE inbound_key IS NOT NULL;

CREATE FUNCTION otpgate_inbound_key_closed() RETURNS trigger AS $$
BEGIN
    NEW.inbound_key := NULL;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

-- The condition is evaluated without calling the function: an update of a verification
-- without an inbound key, or one that stays pending, costs one comparison.
CREATE TRIGGER verification_inbound_key_closed BEFORE UPDATE ON verification
    FOR EACH ROW WHEN (NEW.inbound_key IS NOT NULL AND NEW.status <> 'pending')
    EXECUTE FUNCTION otpgate_inbound_key_closed();
