-- No query reads xapi_statements by enrolment: statements are looked up by their own id, and an
-- enrolment's progress is in its events. The index only cost an entry, on a page of its own once
-- the table is large, for every statement stored. Enrolments are never deleted, so the foreign key
-- never needs it either. The column stays.
DROP INDEX IF EXISTS ix_xapi_statements_enrolment;
