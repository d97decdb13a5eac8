-- Live updates across instances: every statement that adds events notifies the channel
-- `otpgate_event` when its transaction commits, and each instance's live-update pump,
-- listening there, reads the new rows at once instead of waiting for its next poll.
-- The payload is constant, so PostgreSQL folds the notifications of one transaction
-- into one.
CREATE FUNCTION otpgate_event_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('otpgate_event', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER event_notify AFTER INSERT ON event
    FOR EACH STATEMENT EXECUTE FUNCTION otpgate_event_notify();
