-- xAPI statements as received at POST /xapi/statements. A statement id is stored once: the same id
-- again with the same content changes nothing, with different content it is refused (409).

CREATE TABLE xapi_statements (
    id            uuid    NOT NULL PRIMARY KEY,        -- the statement id
    enrolment_id  uuid    REFERENCES enrolments (id),  -- the enrolment it was about, when it could be told
    verb          text    NOT NULL,                    -- the verb IRI
    content_hash  text    NOT NULL,                    -- SHA-256 of the statement's canonical form (xAPI's comparison rules)
    occurred_at   bigint,                              -- the statement's own timestamp, when it had one
    statement     text    NOT NULL,                    -- the statement's JSON, with the id given to it if it came without one
    client_id     uuid    NOT NULL,                    -- the API client that sent it (the statement's authority)
    stored_at     bigint  NOT NULL
);
CREATE INDEX ix_xapi_statements_enrolment ON xapi_statements (enrolment_id) WHERE enrolment_id IS NOT NULL;

-- A statement names a person by school and their id in the school's systems, across programmes.
CREATE INDEX ix_enrolments_person ON enrolments (school_urn, external_id);
