-- Whether a message has been counted against its address's send cap. The cap is counted
-- once per message, in the write that marks it, so a message claimed again (its worker
-- died, or the count failed and its lease ran out) is still counted exactly once. Rows
-- claimed before had their chance under the earlier rule (the first claim counted).
ALTER TABLE delivery ADD COLUMN send_counted INTEGER NOT NULL DEFAULT 0;
UPDATE delivery SET send_counted = 1 WHERE attempts > 0;
