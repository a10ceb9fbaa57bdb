-- Room on each page of enrolments for the next version of its rows. Every progress event rewrites
-- its enrolment's row (the state, the version, updated_at). At fillfactor 90 a page kept about
-- 800 bytes free, less than one row of about a kilobyte, so the new version mostly went to another
-- page and each of the table's five indexes got a new entry (the old ones cleared later). With 30%
-- free, the new version fits beside the old one and, as next_wake_at and status seldom change with
-- progress, PostgreSQL makes it a heap-only update and leaves the indexes alone.
-- New pages are filled to 70%; pages already written keep what they hold until they are rewritten.
ALTER TABLE enrolments SET (fillfactor = 70);
