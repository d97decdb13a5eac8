-- `rate_bucket` as a WITHOUT ROWID table: the rows live in the key's own B-tree. As a
-- rowid table with a TEXT primary key it was two B-trees, the key's index and the rows,
-- so every hit (a create's send-cap count, a wrong code's failure) sought both and a new
-- bucket was written to both; every read of a budget sought both. Nothing references the
-- table or its rowids, so it is made anew with its rows.
CREATE TABLE rate_bucket_keyed (
    bucket_key   TEXT    PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO rate_bucket_keyed (bucket_key, window_start, hits)
    SELECT bucket_key, window_start, hits FROM rate_bucket;
DROP TABLE rate_bucket;
ALTER TABLE rate_bucket_keyed RENAME TO rate_bucket;
