-- School leads who receive the weekly digest, and the digests already decided: one per school per week.

CREATE TABLE school_contacts (
    id          uuid    NOT NULL PRIMARY KEY,
    school_urn  text    NOT NULL,
    name        text    NOT NULL,
    email       text    NOT NULL,
    created_at  bigint  NOT NULL
);
-- The same address twice for one school is the same contact, whatever its case.
CREATE UNIQUE INDEX ux_school_contacts_email ON school_contacts (school_urn, lower(email));

-- Written in the same transaction as the digest's emails, so the primary key is what makes it at
-- most one per school per week, however many workers tick at once. A school with nobody behind
-- gets a row too (no emails), so it is not looked at again that week.
CREATE TABLE school_digests (
    school_urn     text    NOT NULL,
    week_start     date    NOT NULL,   -- the local date of the week's Monday (a date, not a moment)
    people_listed  integer NOT NULL,
    people_behind  integer NOT NULL,
    emails         integer NOT NULL,
    created_at     bigint  NOT NULL,
    PRIMARY KEY (school_urn, week_start)
);
