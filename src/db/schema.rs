//! The database schema, shared by SQLite and PostgreSQL (only types both backends support).
//! Kept in step with `migrations/{sqlite,postgres}` by hand; `tests/migrations.rs` checks they agree.

diesel::table! {
    researchers (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        locale -> Text,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        researcher_id -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        researcher_id -> Text,
        label -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_attempts (id) {
        id -> Text,
        email -> Text,
        address -> Text,
        succeeded -> Bool,
        at -> Timestamp,
    }
}

diesel::table! {
    studies (id) {
        id -> Text,
        title -> Text,
        purpose -> Text,
        funder -> Text,
        contact -> Text,
        language -> Text,
        scale_min -> Integer,
        scale_max -> Integer,
        scale_low_label -> Text,
        scale_high_label -> Text,
        allow_dont_know -> Bool,
        consensus_rule -> Text,
        consensus_locked_at -> Nullable<Timestamp>,
        min_group_size -> Integer,
        small_cell_threshold -> Integer,
        priority_threshold -> Double,
        reminder_days -> Text,
        no_reply_after_days -> Integer,
        link_grace_days -> Integer,
        retention_until -> Nullable<Date>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        archived_at -> Nullable<Timestamp>,
        time_zone -> Text,
        groups_by -> Nullable<Text>,
        rationale -> Text,
        panel_size_rationale -> Text,
        limitations -> Text,
        funding_and_interests -> Text,
        discussion -> Text,
    }
}

diesel::table! {
    study_members (study_id, researcher_id) {
        study_id -> Text,
        researcher_id -> Text,
        role -> Text,
        added_at -> Timestamp,
        added_by -> Nullable<Text>,
    }
}

diesel::table! {
    strata (id) {
        id -> Text,
        study_id -> Text,
        key -> Text,
        label -> Text,
        allowed_values -> Text,
        position -> Integer,
    }
}

diesel::table! {
    panellists (id) {
        id -> Text,
        study_id -> Text,
        pseudonym -> Text,
        created_at -> Timestamp,
        withdrawn_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    candidates (id) {
        id -> Text,
        study_id -> Text,
        name -> Text,
        email -> Nullable<Text>,
        organisation -> Text,
        strata -> Text,
        source -> Text,
        referred_by -> Nullable<Text>,
        status -> Text,
        status_reason -> Nullable<Text>,
        status_changed_at -> Timestamp,
        panellist_id -> Nullable<Text>,
        invited_at -> Nullable<Timestamp>,
        reminders_sent -> Integer,
        mail_failure -> Nullable<Text>,
        mail_opt_out_at -> Nullable<Timestamp>,
        notes -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        erased_at -> Nullable<Timestamp>,
        decline_category -> Nullable<Text>,
    }
}

diesel::table! {
    candidate_events (id) {
        id -> Text,
        candidate_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        reason -> Nullable<Text>,
        actor -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    consent_texts (id) {
        id -> Text,
        study_id -> Text,
        version -> Integer,
        language -> Text,
        body -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    consents (id) {
        id -> Text,
        candidate_id -> Text,
        consent_text_id -> Nullable<Text>,
        decision -> Text,
        reason -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    participation_tokens (id) {
        id -> Text,
        candidate_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        purpose -> Text,
    }
}

diesel::table! {
    email_templates (study_id, name, language) {
        study_id -> Text,
        name -> Text,
        language -> Text,
        subject -> Text,
        body -> Text,
        updated_by -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    rounds (id) {
        id -> Text,
        study_id -> Text,
        number -> Integer,
        kind -> Text,
        questionnaire -> Bool,
        validation -> Bool,
        rating -> Bool,
        feedback -> Bool,
        state -> Text,
        instructions -> Text,
        reminder_days -> Text,
        closes_at -> Nullable<Timestamp>,
        opened_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        feedback_by_group -> Bool,
        mode -> Text,
    }
}

diesel::table! {
    categories (id) {
        id -> Text,
        study_id -> Text,
        code -> Text,
        title -> Text,
        position -> Integer,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    themes (id) {
        id -> Text,
        study_id -> Text,
        category_id -> Text,
        number -> Integer,
        title -> Text,
        description -> Text,
        colour -> Text,
        status -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    theme_revisions (id) {
        id -> Text,
        theme_id -> Text,
        version -> Integer,
        change -> Text,
        reason -> Text,
        snapshot -> Text,
        related -> Text,
        changed_by -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    statements (id) {
        id -> Text,
        theme_id -> Text,
        letter -> Text,
        text -> Text,
        position -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    round_themes (round_id, theme_id) {
        round_id -> Text,
        theme_id -> Text,
        position -> Integer,
        theme_version -> Integer,
        snapshot -> Text,
    }
}

diesel::table! {
    guide_sections (id) {
        id -> Text,
        round_id -> Text,
        title -> Text,
        position -> Integer,
    }
}

diesel::table! {
    guide_questions (id) {
        id -> Text,
        section_id -> Text,
        text -> Text,
        note -> Text,
        position -> Integer,
    }
}

diesel::table! {
    appointments (id) {
        id -> Text,
        round_id -> Text,
        panellist_id -> Text,
        interviewer_id -> Nullable<Text>,
        starts_at -> Nullable<Timestamp>,
        duration_minutes -> Integer,
        state -> Text,
        notes -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    transcripts (id) {
        id -> Text,
        study_id -> Text,
        round_id -> Nullable<Text>,
        panellist_id -> Text,
        title -> Text,
        body -> Text,
        source_kind -> Text,
        original_filename -> Nullable<Text>,
        uploaded_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    excerpts (id) {
        id -> Text,
        transcript_id -> Text,
        start_offset -> Integer,
        end_offset -> Integer,
        quote -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    coders (id) {
        id -> Text,
        study_id -> Text,
        researcher_id -> Nullable<Text>,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    codings (id) {
        id -> Text,
        excerpt_id -> Text,
        theme_id -> Text,
        coder_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    statement_excerpts (statement_id, excerpt_id) {
        statement_id -> Text,
        excerpt_id -> Text,
    }
}

diesel::table! {
    answers (id) {
        id -> Text,
        round_id -> Text,
        panellist_id -> Text,
        theme_id -> Text,
        score -> Nullable<Integer>,
        dont_know -> Bool,
        comment -> Nullable<Text>,
        proposal -> Nullable<Text>,
        reason -> Nullable<Text>,
        comment_cleared_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    answer_changes (id) {
        id -> Text,
        answer_id -> Text,
        score -> Nullable<Integer>,
        dont_know -> Bool,
        comment -> Nullable<Text>,
        proposal -> Nullable<Text>,
        reason -> Nullable<Text>,
        at -> Timestamp,
        kept -> Text,
    }
}

diesel::table! {
    round_participations (round_id, panellist_id) {
        round_id -> Text,
        panellist_id -> Text,
        first_opened_at -> Nullable<Timestamp>,
        submitted_at -> Nullable<Timestamp>,
        reminders_sent -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        study_id -> Nullable<Text>,
        candidate_id -> Nullable<Text>,
        round_id -> Nullable<Text>,
        kind -> Text,
        dedup_key -> Nullable<Text>,
        recipient -> Nullable<Text>,
        subject -> Text,
        body_text -> Nullable<Text>,
        body_html -> Nullable<Text>,
        message_id -> Text,
        headers -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        attachments -> Text,
    }
}

diesel::table! {
    questionnaire_answers (id) {
        id -> Text,
        round_id -> Text,
        panellist_id -> Text,
        question_id -> Text,
        text -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    report_links (id) {
        id -> Text,
        study_id -> Text,
        token_hash -> Text,
        label -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    small_cell_releases (id) {
        id -> Text,
        study_id -> Text,
        table_key -> Text,
        cell_key -> Text,
        reason -> Text,
        released_by -> Nullable<Text>,
        released_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Nullable<Text>,
        study_id -> Nullable<Text>,
        action -> Text,
        target -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    funders (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        password_hash -> Nullable<Text>,
        locale -> Text,
        setup_token_hash -> Nullable<Text>,
        setup_expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    funder_sessions (id) {
        id -> Text,
        funder_id -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    funder_access (study_id, funder_id) {
        study_id -> Text,
        funder_id -> Text,
        granted_by -> Nullable<Text>,
        granted_at -> Timestamp,
        withdrawn_at -> Nullable<Timestamp>,
        last_viewed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    change_counter (id) {
        id -> Integer,
        value -> BigInt,
    }
}

diesel::joinable!(sessions -> researchers (researcher_id));
diesel::joinable!(funder_sessions -> funders (funder_id));
diesel::joinable!(funder_access -> funders (funder_id));
diesel::joinable!(funder_access -> studies (study_id));
diesel::joinable!(api_tokens -> researchers (researcher_id));
diesel::joinable!(studies -> researchers (created_by));
diesel::joinable!(study_members -> studies (study_id));
diesel::joinable!(study_members -> researchers (researcher_id));
diesel::joinable!(strata -> studies (study_id));
diesel::joinable!(panellists -> studies (study_id));
diesel::joinable!(candidates -> studies (study_id));
diesel::joinable!(candidates -> panellists (panellist_id));
diesel::joinable!(candidates -> researchers (created_by));
diesel::joinable!(candidate_events -> candidates (candidate_id));
diesel::joinable!(consent_texts -> studies (study_id));
diesel::joinable!(consent_texts -> researchers (created_by));
diesel::joinable!(consents -> candidates (candidate_id));
diesel::joinable!(consents -> consent_texts (consent_text_id));
diesel::joinable!(participation_tokens -> candidates (candidate_id));
diesel::joinable!(email_templates -> studies (study_id));
diesel::joinable!(email_templates -> researchers (updated_by));
diesel::joinable!(rounds -> studies (study_id));
diesel::joinable!(categories -> studies (study_id));
diesel::joinable!(themes -> studies (study_id));
diesel::joinable!(themes -> categories (category_id));
diesel::joinable!(theme_revisions -> themes (theme_id));
diesel::joinable!(theme_revisions -> researchers (changed_by));
diesel::joinable!(statements -> themes (theme_id));
diesel::joinable!(round_themes -> rounds (round_id));
diesel::joinable!(round_themes -> themes (theme_id));
diesel::joinable!(guide_sections -> rounds (round_id));
diesel::joinable!(guide_questions -> guide_sections (section_id));
diesel::joinable!(appointments -> rounds (round_id));
diesel::joinable!(appointments -> panellists (panellist_id));
diesel::joinable!(appointments -> researchers (interviewer_id));
diesel::joinable!(transcripts -> studies (study_id));
diesel::joinable!(transcripts -> rounds (round_id));
diesel::joinable!(transcripts -> panellists (panellist_id));
diesel::joinable!(transcripts -> researchers (uploaded_by));
diesel::joinable!(excerpts -> transcripts (transcript_id));
diesel::joinable!(excerpts -> researchers (created_by));
diesel::joinable!(codings -> excerpts (excerpt_id));
diesel::joinable!(codings -> themes (theme_id));
diesel::joinable!(codings -> coders (coder_id));
diesel::joinable!(coders -> studies (study_id));
diesel::joinable!(coders -> researchers (researcher_id));
diesel::joinable!(statement_excerpts -> statements (statement_id));
diesel::joinable!(statement_excerpts -> excerpts (excerpt_id));
diesel::joinable!(answers -> rounds (round_id));
diesel::joinable!(answers -> panellists (panellist_id));
diesel::joinable!(answers -> themes (theme_id));
diesel::joinable!(answer_changes -> answers (answer_id));
diesel::joinable!(round_participations -> rounds (round_id));
diesel::joinable!(round_participations -> panellists (panellist_id));
diesel::joinable!(outbox -> studies (study_id));
diesel::joinable!(outbox -> candidates (candidate_id));
diesel::joinable!(outbox -> rounds (round_id));
diesel::joinable!(report_links -> studies (study_id));
diesel::joinable!(report_links -> researchers (created_by));
diesel::table! {
    minority_statements (round_id, theme_id) {
        round_id -> Text,
        theme_id -> Text,
        statement -> Text,
        written_by -> Nullable<Text>,
        written_at -> Timestamp,
    }
}

diesel::table! {
    protocols (study_id) {
        study_id -> Text,
        draft -> Text,
        document -> Nullable<Text>,
        sha256 -> Nullable<Text>,
        registered_at -> Nullable<Timestamp>,
        registered_by -> Nullable<Text>,
    }
}

diesel::table! {
    protocol_amendments (id) {
        id -> Text,
        study_id -> Text,
        at -> Timestamp,
        reason -> Text,
        changes -> Text,
        document -> Text,
        sha256 -> Text,
        amended_by -> Nullable<Text>,
    }
}

diesel::table! {
    live_snapshots (id) {
        id -> Text,
        round_id -> Text,
        theme_id -> Text,
        published_at -> Timestamp,
        n -> Integer,
        counts -> Text,
        median -> Nullable<Double>,
    }
}

diesel::table! {
    live_changes (round_id, theme_id, panellist_id) {
        round_id -> Text,
        theme_id -> Text,
        panellist_id -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    posts (id) {
        id -> Text,
        round_id -> Text,
        theme_id -> Text,
        panellist_id -> Nullable<Text>,
        facilitator_id -> Nullable<Text>,
        reply_to -> Nullable<Text>,
        text -> Text,
        state -> Text,
        hidden_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
        published_seq -> Nullable<Integer>,
        cleared_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    post_handles (round_id, theme_id, panellist_id) {
        round_id -> Text,
        theme_id -> Text,
        panellist_id -> Text,
        handle -> Integer,
    }
}

diesel::table! {
    discussion_digests (panellist_id) {
        panellist_id -> Text,
        last_sent_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(posts -> rounds (round_id));
diesel::joinable!(posts -> themes (theme_id));
diesel::joinable!(post_handles -> rounds (round_id));
diesel::joinable!(discussion_digests -> panellists (panellist_id));
diesel::joinable!(live_snapshots -> rounds (round_id));
diesel::joinable!(live_snapshots -> themes (theme_id));
diesel::joinable!(live_changes -> rounds (round_id));
diesel::joinable!(live_changes -> themes (theme_id));
diesel::joinable!(live_changes -> panellists (panellist_id));
diesel::joinable!(protocols -> studies (study_id));
diesel::joinable!(protocol_amendments -> studies (study_id));
diesel::joinable!(minority_statements -> rounds (round_id));
diesel::joinable!(minority_statements -> themes (theme_id));
diesel::joinable!(small_cell_releases -> studies (study_id));
diesel::joinable!(small_cell_releases -> researchers (released_by));

diesel::joinable!(questionnaire_answers -> rounds (round_id));
diesel::joinable!(questionnaire_answers -> panellists (panellist_id));
diesel::joinable!(questionnaire_answers -> guide_questions (question_id));

diesel::allow_tables_to_appear_in_same_query!(
    posts,
    post_handles,
    discussion_digests,
    live_snapshots,
    live_changes,
    minority_statements,
    protocols,
    protocol_amendments,
    researchers,
    sessions,
    api_tokens,
    login_attempts,
    studies,
    study_members,
    strata,
    panellists,
    candidates,
    candidate_events,
    consent_texts,
    consents,
    participation_tokens,
    email_templates,
    rounds,
    categories,
    themes,
    theme_revisions,
    statements,
    round_themes,
    guide_sections,
    guide_questions,
    appointments,
    transcripts,
    excerpts,
    coders,
    codings,
    statement_excerpts,
    answers,
    answer_changes,
    round_participations,
    outbox,
    report_links,
    small_cell_releases,
    audit_log,
    questionnaire_answers,
    funders,
    funder_sessions,
    funder_access,
);
