-- The actor's e-mail address kept on each audit line, so the log still names who acted
-- after a member is removed.
ALTER TABLE audit ADD COLUMN actor TEXT NOT NULL DEFAULT '';
UPDATE audit SET actor = COALESCE(
    (SELECT email FROM member WHERE member.member_id = audit.member_id), '');
