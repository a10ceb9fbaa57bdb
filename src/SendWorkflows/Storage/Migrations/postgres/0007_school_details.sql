-- What the operator knows about a school beyond its URN. A URN does not say which local authority a
-- school belongs to, so national reports group schools by this mapping, set by an admin; a school
-- with no row here counts under "unknown".

CREATE TABLE school_details (
    school_urn       text    NOT NULL PRIMARY KEY,
    local_authority  text    NOT NULL,
    updated_at       bigint  NOT NULL
);
