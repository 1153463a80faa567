-- Orakel's whole data model. Ids are application-generated UUID strings, times are naive UTC,
-- JSON is stored as text: the subset SQLite and PostgreSQL share (see src/db/schema.rs).
-- Identity (candidates and everything naming a person) and answers (keyed by panellists, the
-- pseudonyms) live in separate tables; the only join between them is candidates.panellist_id.

CREATE TABLE researchers (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    locale TEXT NOT NULL DEFAULT 'en',
    created_at TIMESTAMP NOT NULL,
    disabled_at TIMESTAMP
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    researcher_id TEXT NOT NULL REFERENCES researchers(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_researcher ON sessions(researcher_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    researcher_id TEXT NOT NULL REFERENCES researchers(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX api_tokens_researcher ON api_tokens(researcher_id);

CREATE TABLE login_attempts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    address TEXT NOT NULL,
    succeeded BOOLEAN NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX login_attempts_email ON login_attempts(email, at);
CREATE INDEX login_attempts_address ON login_attempts(address, at);

CREATE TABLE studies (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    purpose TEXT NOT NULL DEFAULT '',
    funder TEXT NOT NULL DEFAULT '',
    contact TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL,
    scale_min INTEGER NOT NULL,
    scale_max INTEGER NOT NULL,
    scale_low_label TEXT NOT NULL,
    scale_high_label TEXT NOT NULL,
    allow_dont_know BOOLEAN NOT NULL,
    consensus_rule TEXT NOT NULL,
    consensus_locked_at TIMESTAMP,
    min_group_size INTEGER NOT NULL,
    small_cell_threshold INTEGER NOT NULL,
    priority_threshold DOUBLE PRECISION NOT NULL,
    reminder_days TEXT NOT NULL,
    no_reply_after_days INTEGER NOT NULL,
    link_grace_days INTEGER NOT NULL,
    retention_until DATE,
    created_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    archived_at TIMESTAMP
);

CREATE TABLE study_members (
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    researcher_id TEXT NOT NULL REFERENCES researchers(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    added_at TIMESTAMP NOT NULL,
    added_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    PRIMARY KEY (study_id, researcher_id)
);
CREATE INDEX study_members_researcher ON study_members(researcher_id);

CREATE TABLE strata (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    allowed_values TEXT NOT NULL,
    position INTEGER NOT NULL,
    UNIQUE (study_id, key)
);

-- Pseudonyms: the only identity answers know. Assigned in random order on acceptance.
CREATE TABLE panellists (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    pseudonym TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    withdrawn_at TIMESTAMP,
    UNIQUE (study_id, pseudonym)
);

CREATE TABLE candidates (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    email TEXT,
    organisation TEXT NOT NULL DEFAULT '',
    strata TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    referred_by TEXT REFERENCES candidates(id) ON DELETE SET NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    status_changed_at TIMESTAMP NOT NULL,
    panellist_id TEXT UNIQUE REFERENCES panellists(id) ON DELETE SET NULL,
    invited_at TIMESTAMP,
    reminders_sent INTEGER NOT NULL DEFAULT 0,
    mail_failure TEXT,
    mail_opt_out_at TIMESTAMP,
    notes TEXT NOT NULL DEFAULT '',
    created_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    erased_at TIMESTAMP,
    UNIQUE (study_id, email)
);
CREATE INDEX candidates_study ON candidates(study_id, status);
CREATE INDEX candidates_referred_by ON candidates(referred_by);

CREATE TABLE candidate_events (
    id TEXT PRIMARY KEY,
    candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
    from_status TEXT,
    to_status TEXT NOT NULL,
    reason TEXT,
    actor TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX candidate_events_candidate ON candidate_events(candidate_id, at);

CREATE TABLE consent_texts (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    language TEXT NOT NULL,
    body TEXT NOT NULL,
    created_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (study_id, version)
);

CREATE TABLE consents (
    id TEXT PRIMARY KEY,
    candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
    consent_text_id TEXT REFERENCES consent_texts(id) ON DELETE RESTRICT,
    decision TEXT NOT NULL,
    reason TEXT,
    at TIMESTAMP NOT NULL
);
CREATE INDEX consents_candidate ON consents(candidate_id);

-- Personal links: only the SHA-256 of the token is kept.
CREATE TABLE participation_tokens (
    id TEXT PRIMARY KEY,
    candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    last_used_at TIMESTAMP
);
CREATE INDEX participation_tokens_candidate ON participation_tokens(candidate_id);

CREATE TABLE email_templates (
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (study_id, name, language)
);

CREATE TABLE rounds (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    kind TEXT NOT NULL,
    questionnaire BOOLEAN NOT NULL DEFAULT FALSE,
    validation BOOLEAN NOT NULL,
    rating BOOLEAN NOT NULL,
    feedback BOOLEAN NOT NULL,
    state TEXT NOT NULL,
    instructions TEXT NOT NULL DEFAULT '',
    reminder_days TEXT NOT NULL,
    closes_at TIMESTAMP,
    opened_at TIMESTAMP,
    closed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (study_id, number)
);

CREATE TABLE categories (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    title TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP
);
CREATE INDEX categories_study ON categories(study_id);

CREATE TABLE themes (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    category_id TEXT NOT NULL REFERENCES categories(id) ON DELETE RESTRICT,
    number INTEGER NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    colour TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX themes_study ON themes(study_id, number);

-- Every change to a theme or its statements: what changed, why, and the theme as it then was.
CREATE TABLE theme_revisions (
    id TEXT PRIMARY KEY,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    change TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    snapshot TEXT NOT NULL,
    related TEXT NOT NULL DEFAULT '[]',
    changed_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    at TIMESTAMP NOT NULL,
    UNIQUE (theme_id, version)
);

CREATE TABLE statements (
    id TEXT PRIMARY KEY,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE CASCADE,
    letter TEXT NOT NULL,
    text TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP
);
CREATE INDEX statements_theme ON statements(theme_id);

-- The codebook as a round published it: frozen, so later revisions never change what experts saw.
CREATE TABLE round_themes (
    round_id TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE RESTRICT,
    position INTEGER NOT NULL,
    theme_version INTEGER NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (round_id, theme_id)
);

CREATE TABLE guide_sections (
    id TEXT PRIMARY KEY,
    round_id TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    position INTEGER NOT NULL
);

CREATE TABLE guide_questions (
    id TEXT PRIMARY KEY,
    section_id TEXT NOT NULL REFERENCES guide_sections(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL
);

CREATE TABLE appointments (
    id TEXT PRIMARY KEY,
    round_id TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    panellist_id TEXT NOT NULL REFERENCES panellists(id) ON DELETE CASCADE,
    interviewer_id TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    starts_at TIMESTAMP,
    duration_minutes INTEGER NOT NULL,
    state TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE transcripts (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    round_id TEXT REFERENCES rounds(id) ON DELETE SET NULL,
    panellist_id TEXT NOT NULL REFERENCES panellists(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    source_kind TEXT NOT NULL,
    original_filename TEXT,
    uploaded_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX transcripts_study ON transcripts(study_id);

CREATE TABLE excerpts (
    id TEXT PRIMARY KEY,
    transcript_id TEXT NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    start_offset INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    quote TEXT NOT NULL,
    created_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX excerpts_transcript ON excerpts(transcript_id);

CREATE TABLE codings (
    id TEXT PRIMARY KEY,
    excerpt_id TEXT NOT NULL REFERENCES excerpts(id) ON DELETE CASCADE,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE CASCADE,
    coder_id TEXT NOT NULL REFERENCES researchers(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (excerpt_id, theme_id, coder_id)
);
CREATE INDEX codings_theme ON codings(theme_id);

CREATE TABLE statement_excerpts (
    statement_id TEXT NOT NULL REFERENCES statements(id) ON DELETE CASCADE,
    excerpt_id TEXT NOT NULL REFERENCES excerpts(id) ON DELETE CASCADE,
    PRIMARY KEY (statement_id, excerpt_id)
);

CREATE TABLE answers (
    id TEXT PRIMARY KEY,
    round_id TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    panellist_id TEXT NOT NULL REFERENCES panellists(id) ON DELETE CASCADE,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE RESTRICT,
    score INTEGER,
    dont_know BOOLEAN NOT NULL,
    comment TEXT,
    proposal TEXT,
    reason TEXT,
    comment_cleared_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (round_id, panellist_id, theme_id)
);
CREATE INDEX answers_round_theme ON answers(round_id, theme_id);

CREATE TABLE answer_changes (
    id TEXT PRIMARY KEY,
    answer_id TEXT NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
    score INTEGER,
    dont_know BOOLEAN NOT NULL,
    comment TEXT,
    proposal TEXT,
    reason TEXT,
    at TIMESTAMP NOT NULL
);
CREATE INDEX answer_changes_answer ON answer_changes(answer_id, at);

CREATE TABLE round_participations (
    round_id TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    panellist_id TEXT NOT NULL REFERENCES panellists(id) ON DELETE CASCADE,
    first_opened_at TIMESTAMP,
    submitted_at TIMESTAMP,
    reminders_sent INTEGER NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (round_id, panellist_id)
);

-- Messages waiting for, or done with, delivery. A row is written in the same transaction as the
-- state change that needs it; dedup_key makes "send this once" hold across server instances.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    study_id TEXT REFERENCES studies(id) ON DELETE CASCADE,
    candidate_id TEXT REFERENCES candidates(id) ON DELETE SET NULL,
    round_id TEXT REFERENCES rounds(id) ON DELETE SET NULL,
    kind TEXT NOT NULL,
    dedup_key TEXT UNIQUE,
    recipient TEXT,
    subject TEXT NOT NULL,
    body_text TEXT,
    body_html TEXT,
    message_id TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX outbox_candidate ON outbox(candidate_id);

CREATE TABLE report_links (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL DEFAULT '',
    created_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    last_used_at TIMESTAMP
);

CREATE TABLE small_cell_releases (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    table_key TEXT NOT NULL,
    cell_key TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    released_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    released_at TIMESTAMP NOT NULL,
    UNIQUE (study_id, table_key, cell_key)
);

-- Append-only: the triggers below refuse any change to a written entry.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    study_id TEXT,
    action TEXT NOT NULL,
    target TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_study ON audit_log(study_id, at);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit log entries cannot be changed';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
