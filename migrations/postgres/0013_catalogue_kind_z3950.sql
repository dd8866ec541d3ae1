-- Issue 20: a member's catalogue may speak Z39.50 as well as SRU.

ALTER TABLE catalogues DROP CONSTRAINT catalogues_kind_check;
ALTER TABLE catalogues ADD CONSTRAINT catalogues_kind_check CHECK (kind IN ('sru', 'z3950'));
