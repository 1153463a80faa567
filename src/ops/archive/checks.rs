//! The checks an archive passes before anything is written: every reference resolves inside the archive, every id occurs once, and every value is one later reading relies on.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::domain::Invalid;

use super::*;

/// Collects faults as `table[index].field` with a message, and stops reading after a few.
struct Faults(Invalid);

impl Faults {
    fn add(&mut self, table: &str, i: usize, field: &str, message: impl Into<String>) {
        if self.0.0.len() < 20 {
            self.0.add(format!("{table}[{i}].{field}"), message);
        }
    }
}

/// Every reference of every row resolves inside the archive, and every id occurs once.
pub(super) fn check_references(a: &Archive) -> Result<(), Invalid> {
    let sid = a.study.id.as_str();
    let mut f = Faults(Invalid::new());
    let mut all_ids: HashSet<String> = HashSet::new();
    let mut ids_of = |table: &str, ids: Vec<&str>, f: &mut Faults| -> HashSet<String> {
        let mut own = HashSet::new();
        for (i, id) in ids.into_iter().enumerate() {
            if id.trim().is_empty() || id.len() > 100 {
                f.add(
                    table,
                    i,
                    "id",
                    "must be a non-empty id of at most 100 characters",
                );
            } else if !all_ids.insert(id.to_string()) || !own.insert(id.to_string()) {
                f.add(
                    table,
                    i,
                    "id",
                    format!("{id} occurs more than once in the archive"),
                );
            }
        }
        own
    };
    let _ = ids_of("study", vec![sid], &mut f);
    let strata = ids_of(
        "strata",
        a.strata.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let panellists = ids_of(
        "panellists",
        a.panellists.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let candidates = ids_of(
        "candidates",
        a.candidates.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let _ = ids_of(
        "candidate_events",
        a.candidate_events.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let consent_texts = ids_of(
        "consent_texts",
        a.consent_texts.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let _ = ids_of(
        "consents",
        a.consents.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let rounds = ids_of(
        "rounds",
        a.rounds.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let categories = ids_of(
        "categories",
        a.categories.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let themes = ids_of(
        "themes",
        a.themes.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let _ = ids_of(
        "theme_revisions",
        a.theme_revisions.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let statements = ids_of(
        "statements",
        a.statements.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let sections = ids_of(
        "guide_sections",
        a.guide_sections.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let questions = ids_of(
        "guide_questions",
        a.guide_questions.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let _ = ids_of(
        "appointments",
        a.appointments.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let _ = ids_of(
        "questionnaire_answers",
        a.questionnaire_answers
            .iter()
            .map(|x| x.id.as_str())
            .collect(),
        &mut f,
    );
    let transcripts = ids_of(
        "transcripts",
        a.transcripts.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let excerpts = ids_of(
        "excerpts",
        a.excerpts.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let coders = ids_of(
        "coders",
        a.coders.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let _ = ids_of(
        "codings",
        a.codings.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let answers = ids_of(
        "answers",
        a.answers.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let _ = ids_of(
        "answer_changes",
        a.answer_changes.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    let _ = ids_of(
        "small_cell_releases",
        a.small_cell_releases
            .iter()
            .map(|x| x.id.as_str())
            .collect(),
        &mut f,
    );
    let _ = strata;

    let study = |f: &mut Faults, table: &str, i: usize, v: &str| {
        if v != sid {
            f.add(table, i, "study_id", "must be the archive's own study");
        }
    };
    let within = |f: &mut Faults,
                  table: &str,
                  i: usize,
                  field: &str,
                  set: &HashSet<String>,
                  v: &str,
                  what: &str| {
        if !set.contains(v) {
            f.add(
                table,
                i,
                field,
                format!("refers to a {what} that is not in this archive"),
            );
        }
    };
    for (i, x) in a.strata.iter().enumerate() {
        study(&mut f, "strata", i, &x.study_id);
    }
    for (i, x) in a.panellists.iter().enumerate() {
        study(&mut f, "panellists", i, &x.study_id);
    }
    for (i, x) in a.candidates.iter().enumerate() {
        study(&mut f, "candidates", i, &x.study_id);
        if let Some(p) = &x.panellist_id {
            within(
                &mut f,
                "candidates",
                i,
                "panellist_id",
                &panellists,
                p,
                "panellist",
            );
        }
        if let Some(r) = &x.referred_by {
            within(
                &mut f,
                "candidates",
                i,
                "referred_by",
                &candidates,
                r,
                "candidate",
            );
        }
    }
    for (i, x) in a.candidate_events.iter().enumerate() {
        within(
            &mut f,
            "candidate_events",
            i,
            "candidate_id",
            &candidates,
            &x.candidate_id,
            "candidate",
        );
    }
    for (i, x) in a.consent_texts.iter().enumerate() {
        study(&mut f, "consent_texts", i, &x.study_id);
    }
    for (i, x) in a.consents.iter().enumerate() {
        within(
            &mut f,
            "consents",
            i,
            "candidate_id",
            &candidates,
            &x.candidate_id,
            "candidate",
        );
        if let Some(t) = &x.consent_text_id {
            within(
                &mut f,
                "consents",
                i,
                "consent_text_id",
                &consent_texts,
                t,
                "consent text",
            );
        }
    }
    for (i, x) in a.email_templates.iter().enumerate() {
        study(&mut f, "email_templates", i, &x.study_id);
    }
    for (i, x) in a.rounds.iter().enumerate() {
        study(&mut f, "rounds", i, &x.study_id);
    }
    for (i, x) in a.categories.iter().enumerate() {
        study(&mut f, "categories", i, &x.study_id);
    }
    for (i, x) in a.themes.iter().enumerate() {
        study(&mut f, "themes", i, &x.study_id);
        within(
            &mut f,
            "themes",
            i,
            "category_id",
            &categories,
            &x.category_id,
            "category",
        );
    }
    for (i, x) in a.theme_revisions.iter().enumerate() {
        within(
            &mut f,
            "theme_revisions",
            i,
            "theme_id",
            &themes,
            &x.theme_id,
            "theme",
        );
        match serde_json::from_str::<Vec<String>>(&x.related) {
            Ok(related) => {
                for r in related {
                    within(
                        &mut f,
                        "theme_revisions",
                        i,
                        "related",
                        &themes,
                        &r,
                        "theme",
                    );
                }
            }
            Err(_) => f.add(
                "theme_revisions",
                i,
                "related",
                "must be a list of theme ids",
            ),
        }
    }
    for (i, x) in a.statements.iter().enumerate() {
        within(
            &mut f,
            "statements",
            i,
            "theme_id",
            &themes,
            &x.theme_id,
            "theme",
        );
    }
    for (i, x) in a.round_themes.iter().enumerate() {
        within(
            &mut f,
            "round_themes",
            i,
            "round_id",
            &rounds,
            &x.round_id,
            "round",
        );
        within(
            &mut f,
            "round_themes",
            i,
            "theme_id",
            &themes,
            &x.theme_id,
            "theme",
        );
    }
    for (i, x) in a.guide_sections.iter().enumerate() {
        within(
            &mut f,
            "guide_sections",
            i,
            "round_id",
            &rounds,
            &x.round_id,
            "round",
        );
    }
    for (i, x) in a.guide_questions.iter().enumerate() {
        within(
            &mut f,
            "guide_questions",
            i,
            "section_id",
            &sections,
            &x.section_id,
            "guide section",
        );
    }
    for (i, x) in a.appointments.iter().enumerate() {
        within(
            &mut f,
            "appointments",
            i,
            "round_id",
            &rounds,
            &x.round_id,
            "round",
        );
        within(
            &mut f,
            "appointments",
            i,
            "panellist_id",
            &panellists,
            &x.panellist_id,
            "panellist",
        );
    }
    for (i, x) in a.questionnaire_answers.iter().enumerate() {
        within(
            &mut f,
            "questionnaire_answers",
            i,
            "round_id",
            &rounds,
            &x.round_id,
            "round",
        );
        within(
            &mut f,
            "questionnaire_answers",
            i,
            "panellist_id",
            &panellists,
            &x.panellist_id,
            "panellist",
        );
        within(
            &mut f,
            "questionnaire_answers",
            i,
            "question_id",
            &questions,
            &x.question_id,
            "guide question",
        );
    }
    for (i, x) in a.transcripts.iter().enumerate() {
        study(&mut f, "transcripts", i, &x.study_id);
        if let Some(r) = &x.round_id {
            within(&mut f, "transcripts", i, "round_id", &rounds, r, "round");
        }
        within(
            &mut f,
            "transcripts",
            i,
            "panellist_id",
            &panellists,
            &x.panellist_id,
            "panellist",
        );
    }
    for (i, x) in a.excerpts.iter().enumerate() {
        within(
            &mut f,
            "excerpts",
            i,
            "transcript_id",
            &transcripts,
            &x.transcript_id,
            "transcript",
        );
    }
    for (i, x) in a.codings.iter().enumerate() {
        within(
            &mut f,
            "codings",
            i,
            "excerpt_id",
            &excerpts,
            &x.excerpt_id,
            "passage",
        );
        within(
            &mut f,
            "codings",
            i,
            "theme_id",
            &themes,
            &x.theme_id,
            "theme",
        );
        within(
            &mut f,
            "codings",
            i,
            "coder_id",
            &coders,
            &x.coder_id,
            "coder",
        );
    }
    for (i, x) in a.statement_excerpts.iter().enumerate() {
        within(
            &mut f,
            "statement_excerpts",
            i,
            "statement_id",
            &statements,
            &x.statement_id,
            "statement",
        );
        within(
            &mut f,
            "statement_excerpts",
            i,
            "excerpt_id",
            &excerpts,
            &x.excerpt_id,
            "passage",
        );
    }
    for (i, x) in a.answers.iter().enumerate() {
        within(
            &mut f,
            "answers",
            i,
            "round_id",
            &rounds,
            &x.round_id,
            "round",
        );
        within(
            &mut f,
            "answers",
            i,
            "panellist_id",
            &panellists,
            &x.panellist_id,
            "panellist",
        );
        within(
            &mut f,
            "answers",
            i,
            "theme_id",
            &themes,
            &x.theme_id,
            "theme",
        );
    }
    for (i, x) in a.answer_changes.iter().enumerate() {
        within(
            &mut f,
            "answer_changes",
            i,
            "answer_id",
            &answers,
            &x.answer_id,
            "answer",
        );
    }
    for (i, x) in a.round_participations.iter().enumerate() {
        within(
            &mut f,
            "round_participations",
            i,
            "round_id",
            &rounds,
            &x.round_id,
            "round",
        );
        within(
            &mut f,
            "round_participations",
            i,
            "panellist_id",
            &panellists,
            &x.panellist_id,
            "panellist",
        );
    }
    for (i, x) in a.small_cell_releases.iter().enumerate() {
        study(&mut f, "small_cell_releases", i, &x.study_id);
    }
    for (i, x) in a.protocols.iter().enumerate() {
        study(&mut f, "protocols", i, &x.study_id);
    }
    for (i, x) in a.protocol_amendments.iter().enumerate() {
        study(&mut f, "protocol_amendments", i, &x.study_id);
    }
    let _ = ids_of(
        "live_snapshots",
        a.live_snapshots.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    for (i, x) in a.live_snapshots.iter().enumerate() {
        within(
            &mut f,
            "live_snapshots",
            i,
            "round_id",
            &rounds,
            &x.round_id,
            "round",
        );
        within(
            &mut f,
            "live_snapshots",
            i,
            "theme_id",
            &themes,
            &x.theme_id,
            "theme",
        );
    }
    for (i, x) in a.live_changes.iter().enumerate() {
        within(
            &mut f,
            "live_changes",
            i,
            "round_id",
            &rounds,
            &x.round_id,
            "round",
        );
        within(
            &mut f,
            "live_changes",
            i,
            "theme_id",
            &themes,
            &x.theme_id,
            "theme",
        );
        within(
            &mut f,
            "live_changes",
            i,
            "panellist_id",
            &panellists,
            &x.panellist_id,
            "panellist",
        );
    }
    let posts = ids_of(
        "posts",
        a.posts.iter().map(|x| x.id.as_str()).collect(),
        &mut f,
    );
    for (i, x) in a.posts.iter().enumerate() {
        within(
            &mut f,
            "posts",
            i,
            "round_id",
            &rounds,
            &x.round_id,
            "round",
        );
        within(
            &mut f,
            "posts",
            i,
            "theme_id",
            &themes,
            &x.theme_id,
            "theme",
        );
        if let Some(p) = &x.panellist_id {
            within(
                &mut f,
                "posts",
                i,
                "panellist_id",
                &panellists,
                p,
                "panellist",
            );
        }
        if let Some(r) = &x.reply_to {
            within(&mut f, "posts", i, "reply_to", &posts, r, "post");
        }
    }
    for (i, x) in a.post_handles.iter().enumerate() {
        within(
            &mut f,
            "post_handles",
            i,
            "round_id",
            &rounds,
            &x.round_id,
            "round",
        );
        within(
            &mut f,
            "post_handles",
            i,
            "theme_id",
            &themes,
            &x.theme_id,
            "theme",
        );
        within(
            &mut f,
            "post_handles",
            i,
            "panellist_id",
            &panellists,
            &x.panellist_id,
            "panellist",
        );
    }
    for (i, x) in a.discussion_digests.iter().enumerate() {
        within(
            &mut f,
            "discussion_digests",
            i,
            "panellist_id",
            &panellists,
            &x.panellist_id,
            "panellist",
        );
    }
    for (i, x) in a.minority_statements.iter().enumerate() {
        within(
            &mut f,
            "minority_statements",
            i,
            "round_id",
            &rounds,
            &x.round_id,
            "round",
        );
        within(
            &mut f,
            "minority_statements",
            i,
            "theme_id",
            &themes,
            &x.theme_id,
            "theme",
        );
    }
    f.0.into_result(())
}

/// The values that later reading relies on: settings, states, attribute values, snapshots,
/// scores on the scale and passages inside their texts.
pub(super) fn check_values(a: &Archive) -> Result<(), Invalid> {
    let mut f = Faults(Invalid::new());
    let settings = match a.study.settings() {
        Ok(s) => Some(s),
        Err(e) => {
            f.0.add("study", format!("the study's settings cannot be read: {e}"));
            None
        }
    };
    for (i, c) in a.candidates.iter().enumerate() {
        if serde_json::from_str::<BTreeMap<String, String>>(&c.strata).is_err() {
            f.add("candidates", i, "strata", "must map attributes to values");
        }
    }
    for (i, r) in a.rounds.iter().enumerate() {
        if !["draft", "open", "closed"].contains(&r.state.as_str()) {
            f.add(
                "rounds",
                i,
                "state",
                format!("{:?} is not a round state", r.state),
            );
        }
    }
    for (i, r) in a.round_themes.iter().enumerate() {
        if serde_json::from_str::<crate::domain::codebook::ThemeSnapshot>(&r.snapshot).is_err() {
            f.add(
                "round_themes",
                i,
                "snapshot",
                "is not a theme as a round published it",
            );
        }
    }
    if let Some(s) = &settings {
        for (i, x) in a.answers.iter().enumerate() {
            if x.score.is_some_and(|v| v < s.scale.min || v > s.scale.max) {
                f.add("answers", i, "score", "is off the study's scale");
            }
        }
    }
    let lengths: HashMap<&str, usize> = a
        .transcripts
        .iter()
        .map(|t| (t.id.as_str(), t.body.chars().count()))
        .collect();
    for (i, e) in a.excerpts.iter().enumerate() {
        let len = lengths.get(e.transcript_id.as_str()).copied().unwrap_or(0);
        if e.start_offset < 0 || e.start_offset >= e.end_offset || e.end_offset as usize > len {
            f.add("excerpts", i, "end_offset", "lies outside its transcript");
        }
    }
    f.0.into_result(())
}
