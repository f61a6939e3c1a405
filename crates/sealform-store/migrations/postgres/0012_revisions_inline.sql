-- A submission's revision row is about 3.5 KB (the sealed answers and the wrapped data key, issue #8). By default
-- PostgreSQL moves any row over 2 KB into TOAST: it first tries to compress the envelope (ciphertext, which never
-- compresses), then writes it in chunks to the TOAST table and its index, four more inserts per submission. Rows
-- up to a page now stay in the table, and sealed bytes are never compressed; a larger envelope still goes to TOAST,
-- uncompressed.
ALTER TABLE submission_revisions SET (toast_tuple_target = 8160);
ALTER TABLE submission_revisions ALTER COLUMN envelope SET STORAGE EXTERNAL;
ALTER TABLE submission_revisions ALTER COLUMN wrapped_key SET STORAGE EXTERNAL;
ALTER TABLE files ALTER COLUMN wrapped_key SET STORAGE EXTERNAL;
