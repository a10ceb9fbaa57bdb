-- Issued certificates. The PDF bytes are kept: a presented file is checked against exactly what
-- was issued, whatever the renderer does later.

CREATE TABLE certificates (
    number          TEXT    NOT NULL PRIMARY KEY,
    enrolment_id    TEXT    NOT NULL REFERENCES enrolments (id),
    version         INTEGER NOT NULL,
    school_urn      TEXT    NOT NULL,
    status          TEXT    NOT NULL,      -- valid | superseded | revoked
    details         TEXT    NOT NULL,      -- what the certificate says, as JSON
    sha256          TEXT    NOT NULL,
    pdf             BLOB    NOT NULL,
    issued_at       INTEGER NOT NULL,
    revoked_at      INTEGER,
    revoked_reason  TEXT,
    UNIQUE (enrolment_id, version)
);
CREATE INDEX ix_certificates_sha256 ON certificates (sha256);
CREATE INDEX ix_certificates_school ON certificates (school_urn, status);
