-- No query reads `verification_expiry`: a verification's expiry is compared when it is
-- read by its id, and nothing sweeps by expiry. Each create still wrote an entry to it
-- and each status change moved one.
DROP INDEX verification_expiry;
