-- What a verification is for (verify-then-act): its action, the hash of that action's
-- payload and the keyed digest of the session it is bound to, as JSON; empty for none.
ALTER TABLE verification ADD COLUMN intent TEXT NOT NULL DEFAULT '';
