-- Issued certificates. The PDF bytes are kept: a presented file is checked against exactly what
-- was issued, whatever the renderer does later.

CREATE TABLE certificates (
    number          text    NOT NULL PRIMARY KEY,
    enrolment_id    uuid    NOT NULL REFERENCES enrolments (id),
    version         integer NOT NULL,
    school_urn      text    NOT NULL,
    status          text    NOT NULL,      -- valid | superseded | revoked
    details         text    NOT NULL,      -- what the certificate says, as JSON
    sha256          text    NOT NULL,
    pdf             bytea   NOT NULL,
    issued_at       bigint  NOT NULL,
    revoked_at      bigint,
    revoked_reason  text,
    UNIQUE (enrolment_id, version)
);
CREATE INDEX ix_certificates_sha256 ON certificates (sha256);
CREATE INDEX ix_certificates_school ON certificates (school_urn, status);
