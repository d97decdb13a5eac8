-- The store now sends `NOTIFY otpgate_event` itself, after a commit that added events and
-- on a transaction of its own: a NOTIFY inside the writing transaction makes PostgreSQL
-- serialise those commits, and it cost creates about a third of their throughput.
DROP TRIGGER event_notify ON event;
DROP FUNCTION otpgate_event_notify();
