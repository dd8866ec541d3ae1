-- The search refresh finds the discs whose text is due through an index (issue 22). Its query
-- joined every disc to its image every two seconds on each node: at 1.25 million discs a core
-- of the database's time, all the time. A disc's text is due when it was never searched, or was
-- searched before it was last linked or its image last indexed; the image's time is now also
-- kept on its discs (written with the image's, in the same transaction), so the condition reads
-- one row and a partial index holds only the discs it is true of.
ALTER TABLE discs ADD COLUMN image_indexed_at BIGINT;
UPDATE discs SET image_indexed_at = (SELECT i.indexed_at FROM images i WHERE i.sha256 = discs.sha256);
CREATE INDEX discs_search_due ON discs (id)
    WHERE searched_at IS NULL OR searched_at <= COALESCE(linked_at, 0)
       OR searched_at <= COALESCE(image_indexed_at, 0);
