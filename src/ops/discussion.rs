//! Anonymous discussion per theme of an open rating round. A post appears under a handle that
//! is random per panellist and thread ("Participant 7" here, "Participant 2" on the next
//! theme), never a pseudonym, so posts in different threads cannot be linked to one person or
//! to a score; days, not minutes, and the order of publication, not of writing. Posts wait for
//! a researcher's approval unless the study's discussion is open; researchers may hide a post
//! with a reason, reply as facilitator, clear posts for the funder's report and see who wrote
//! what (logged as identity access). Panellists who ask for it get one digest a day, never an
//! e-mail per post, whose timing would point at its author.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::Actor;
use super::access::{self, ResearcherId, Role};
use super::audit;
use super::outbox::{self, Letter, MailEnv};
use super::participation::Participant;
use super::{AppError, AppResult};
use crate::db::models::{Candidate, Post, PostHandle, Round, Study};
use crate::db::schema::{
    candidates, discussion_digests, panellists, post_handles, posts, researchers,
    round_participations, round_themes, rounds, studies,
};
use crate::db::{self, DbConn, new_id, now, utc};
use crate::domain::Invalid;
use crate::domain::round::State;
use crate::domain::study::Discussion;

/// The longest post, in characters.
pub const MAX_POST: usize = 4000;

/// The local hour from which a day's digest may go out.
const DIGEST_HOUR: u32 = 7;

/// A post's state: waiting for approval, seen by the panel, or hidden by a researcher.
pub const PENDING: &str = "pending";
pub const PUBLISHED: &str = "published";
pub const HIDDEN: &str = "hidden";

/// A post as an expert sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostView {
    pub id: String,
    /// "Deltager 7": the writer's handle in this thread, drawn at random for each panellist
    /// and theme; the facilitator's name for the researchers' posts.
    pub handle: String,
    pub text: String,
    /// The day it was published, on the study's clock (for the writer's own post waiting for
    /// approval, the day it was written).
    #[schema(value_type = String, format = Date)]
    pub day: chrono::NaiveDate,
    pub reply_to: Option<String>,
    /// Written by the researchers.
    pub facilitator: bool,
    /// `published`, or for the reader's own post: `pending` (waiting for approval) or
    /// `hidden`.
    pub state: String,
    /// Whether the reader wrote it; only their own unpublished posts can change.
    pub own: bool,
}

/// A theme's discussion as an expert reads it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Thread {
    pub theme_id: String,
    pub number: i32,
    pub title: String,
    /// `moderated` (posts wait for approval) or `open`.
    pub moderation: Discussion,
    /// Whether the round still takes posts.
    pub open: bool,
    /// The published posts in their order of publication, and the reader's own others.
    pub posts: Vec<PostView>,
    /// Whether the reader asked for the daily digest of new posts.
    pub digest: bool,
}

/// A new post or reply.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostInput {
    /// At most 4,000 characters; markup is kept as text.
    pub text: String,
    /// The published post of the same theme this one answers.
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// A changed text of one's own post while it waits for approval.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostEdit {
    pub text: String,
}

/// Whether the panellist gets the daily digest of new posts.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestChoice {
    pub daily: bool,
}

/// The reason a researcher hides a post.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HideInput {
    /// Kept and shown to researchers only; at most 1,000 characters.
    pub reason: String,
}

/// Who wrote a post, for researchers who asked (logged in the audit log).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Writer {
    pub pseudonym: String,
    pub name: String,
}

/// A post as researchers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModeratedPost {
    pub id: String,
    pub theme_id: String,
    pub theme_number: i32,
    /// The handle the panel sees ("Deltager 7"), or the facilitator's name.
    pub handle: String,
    pub text: String,
    pub reply_to: Option<String>,
    /// The researcher who wrote it, for a facilitator's post.
    pub facilitator: Option<String>,
    /// `pending`, `published` or `hidden`.
    pub state: String,
    pub hidden_reason: Option<String>,
    pub written_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// Cleared for the funder's report.
    pub cleared: bool,
    /// The panellist who wrote it: only with `?writers=true`, which the audit log records.
    pub writer: Option<Writer>,
}

/// A round's discussion as researchers moderate it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoundPosts {
    pub round_id: String,
    pub moderation: Discussion,
    /// Posts waiting for approval.
    pub pending: usize,
    /// Every post, waiting ones first, then by theme and order of publication.
    pub posts: Vec<ModeratedPost>,
}

/// The writer's handle as the panel reads it, in the study's language.
pub fn handle_label(lang: &str, handle: i32) -> String {
    crate::i18n::text_with(lang, "discussion.handle", &[("n", handle.to_string())])
}

fn facilitator_label(lang: &str) -> String {
    crate::i18n::text(lang, "discussion.facilitator")
}

/// The handles drawn in a round's threads.
struct Handles(HashMap<(String, String), i32>);

impl Handles {
    fn of(conn: &mut DbConn, round_id: &str) -> AppResult<Handles> {
        Ok(Handles(
            post_handles::table
                .filter(post_handles::round_id.eq(round_id))
                .select((
                    post_handles::theme_id,
                    post_handles::panellist_id,
                    post_handles::handle,
                ))
                .load::<(String, String, i32)>(conn)?
                .into_iter()
                .map(|(t, p, h)| ((t, p), h))
                .collect(),
        ))
    }

    /// The name a post is shown under: its writer's handle in its thread, or "facilitator".
    fn label(&self, lang: &str, post: &Post) -> String {
        match &post.panellist_id {
            Some(w) => handle_label(
                lang,
                self.0
                    .get(&(post.theme_id.clone(), w.clone()))
                    .copied()
                    .unwrap_or(0),
            ),
            None => facilitator_label(lang),
        }
    }
}

/// The handle of a panellist in a thread: kept once drawn, otherwise a random number not yet
/// taken in the thread, from a range twice the round's panel so its size says little.
pub fn handle_for(
    conn: &mut DbConn,
    round_id: &str,
    theme_id: &str,
    panellist_id: &str,
) -> AppResult<i32> {
    if let Some(h) = post_handles::table
        .find((round_id, theme_id, panellist_id))
        .select(post_handles::handle)
        .first::<i32>(conn)
        .optional()?
    {
        return Ok(h);
    }
    let taken: HashSet<i32> = post_handles::table
        .filter(post_handles::round_id.eq(round_id))
        .filter(post_handles::theme_id.eq(theme_id))
        .select(post_handles::handle)
        .load::<i32>(conn)?
        .into_iter()
        .collect();
    let panel = round_participations::table
        .filter(round_participations::round_id.eq(round_id))
        .count()
        .get_result::<i64>(conn)? as usize;
    let range = (2 * panel).max(taken.len() + 1).max(10);
    let free: Vec<i32> = (1..=range as i32).filter(|h| !taken.contains(h)).collect();
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    let handle = free[(u64::from_le_bytes(bytes) % free.len() as u64) as usize];
    diesel::insert_into(post_handles::table)
        .values(&PostHandle {
            round_id: round_id.into(),
            theme_id: theme_id.into(),
            panellist_id: panellist_id.into(),
            handle,
        })
        .execute(conn)?;
    Ok(handle)
}

/// Checks a post's text: not empty, not too long. Markup is kept as text (pages escape it).
pub fn check_text(text: &str) -> Result<String, Invalid> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Invalid::one("text", "write something before posting"));
    }
    if text.chars().count() > MAX_POST {
        return Err(Invalid::one(
            "text",
            format!("a post has at most {MAX_POST} characters"),
        ));
    }
    crate::domain::text::block("text", text, MAX_POST)
}

/// The next number in a thread's order of publication.
fn next_seq(conn: &mut DbConn, round_id: &str, theme_id: &str) -> AppResult<i32> {
    let max: Option<i32> = posts::table
        .filter(posts::round_id.eq(round_id))
        .filter(posts::theme_id.eq(theme_id))
        .select(diesel::dsl::max(posts::published_seq))
        .first(conn)?;
    Ok(max.unwrap_or(0) + 1)
}

fn in_round(conn: &mut DbConn, round_id: &str, theme_id: &str) -> AppResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        round_themes::table
            .filter(round_themes::round_id.eq(round_id))
            .filter(round_themes::theme_id.eq(theme_id)),
    ))
    .get_result::<bool>(conn)?)
}

fn check_reply(
    conn: &mut DbConn,
    round_id: &str,
    theme_id: &str,
    reply_to: Option<&str>,
) -> AppResult<()> {
    if let Some(parent) = reply_to {
        let ok = diesel::select(diesel::dsl::exists(
            posts::table
                .filter(posts::id.eq(parent))
                .filter(posts::round_id.eq(round_id))
                .filter(posts::theme_id.eq(theme_id))
                .filter(posts::state.eq(PUBLISHED)),
        ))
        .get_result::<bool>(conn)?;
        if !ok {
            return Err(Invalid::one("reply_to", "is not a published post of this theme").into());
        }
    }
    Ok(())
}

fn closed(r: &Round) -> AppError {
    AppError::Conflict(format!(
        "round {} is closed, and so is its discussion",
        r.number
    ))
}

fn off() -> AppError {
    AppError::Conflict("this study's panel does not hold discussions".into())
}

/// The panellist, the round and the study's discussion setting behind an expert's request
/// about theme `theme_id` of their round `number`; a theme not in the round is not found.
fn expert_scope(
    conn: &mut DbConn,
    p: &Participant,
    number: i32,
    theme_id: &str,
) -> AppResult<(String, Round, Discussion)> {
    let pid = super::answers::panellist(p)?;
    let r = super::answers::round_by_number(conn, &p.study.id, number)?;
    let member = diesel::select(diesel::dsl::exists(
        round_participations::table.find((&r.id, &pid)),
    ))
    .get_result::<bool>(conn)?;
    if !member || !in_round(conn, &r.id, theme_id)? {
        return Err(AppError::NotFound);
    }
    let moderation = p.study.settings()?.discussion;
    if moderation == Discussion::Off {
        return Err(off());
    }
    Ok((pid, r, moderation))
}

fn day_of(t: NaiveDateTime, tz: crate::i18n::Tz) -> chrono::NaiveDate {
    crate::i18n::zone::local(utc(t), tz).date_naive()
}

/// A thread as one expert reads it: the published posts in order of publication, and their
/// own others; handles, never pseudonyms; days, never times.
pub fn thread(
    conn: &mut DbConn,
    p: &Participant,
    number: i32,
    theme_id: &str,
) -> AppResult<Thread> {
    let (pid, r, moderation) = expert_scope(conn, p, number, theme_id)?;
    let lang = p.study.language.clone();
    let tz = p.study.zone();
    let all: Vec<Post> = posts::table
        .filter(posts::round_id.eq(&r.id))
        .filter(posts::theme_id.eq(theme_id))
        .order((posts::published_seq.asc(), posts::created_at.asc()))
        .select(Post::as_select())
        .load(conn)?;
    let handles = Handles::of(conn, &r.id)?;
    // Published first, in their order; the reader's own others after them.
    let (mut shown, own_others): (Vec<Post>, Vec<Post>) =
        all.into_iter().partition(|p| p.state == PUBLISHED);
    shown.extend(
        own_others
            .into_iter()
            .filter(|p| p.panellist_id.as_deref() == Some(pid.as_str())),
    );
    let posts = shown
        .into_iter()
        .map(|post| {
            let own = post.panellist_id.as_deref() == Some(pid.as_str());
            PostView {
                handle: handles.label(&lang, &post),
                day: day_of(post.published_at.unwrap_or(post.created_at), tz),
                facilitator: post.panellist_id.is_none(),
                state: post.state,
                reply_to: post.reply_to,
                text: post.text,
                id: post.id,
                own,
            }
        })
        .collect();
    let t = super::rounds::published(conn, &r.id)?
        .into_iter()
        .find(|t| t.theme_id == theme_id)
        .ok_or(AppError::NotFound)?;
    Ok(Thread {
        theme_id: theme_id.into(),
        number: t.snapshot.number,
        title: t.snapshot.title,
        moderation,
        open: r.state == State::Open && r.accepting(now()),
        posts,
        digest: digest_of(conn, &pid)?,
    })
}

/// Who writes a new post.
enum Author {
    Panellist(String),
    Facilitator(String),
}

/// Stores a new post in a round that takes posts, published at once or held for approval;
/// returns its id.
fn insert(
    c: &mut DbConn,
    r: &Round,
    theme_id: &str,
    writer: Author,
    input: &PostInput,
    text: String,
    published: bool,
) -> AppResult<String> {
    let at = now();
    if r.state != State::Open || !r.accepting(at) {
        return Err(closed(r));
    }
    check_reply(c, &r.id, theme_id, input.reply_to.as_deref())?;
    let seq = if published {
        Some(next_seq(c, &r.id, theme_id)?)
    } else {
        None
    };
    let (panellist_id, facilitator_id) = match writer {
        Author::Panellist(p) => (Some(p), None),
        Author::Facilitator(f) => (None, Some(f)),
    };
    let post = Post {
        id: new_id(),
        round_id: r.id.clone(),
        theme_id: theme_id.into(),
        panellist_id,
        facilitator_id,
        reply_to: input.reply_to.clone(),
        text,
        state: if published { PUBLISHED } else { PENDING }.into(),
        hidden_reason: None,
        created_at: at,
        updated_at: at,
        published_at: published.then_some(at),
        published_seq: seq,
        cleared_at: None,
    };
    diesel::insert_into(posts::table).values(&post).execute(c)?;
    Ok(post.id)
}

/// An expert's post to a theme of their open round: held for approval, or published at once
/// when the study's discussion is open. Returns the thread with it.
pub fn post_as_expert(
    conn: &mut DbConn,
    p: &Participant,
    number: i32,
    theme_id: &str,
    input: &PostInput,
) -> AppResult<(String, Thread)> {
    let text = check_text(&input.text)?;
    let id = db::write(conn, |c| {
        let (pid, r, moderation) = expert_scope(c, p, number, theme_id)?;
        handle_for(c, &r.id, theme_id, &pid)?;
        let writer = Author::Panellist(pid);
        let published = moderation != Discussion::Moderated;
        let id = insert(c, &r, theme_id, writer, input, text, published)?;
        Ok::<_, AppError>(id)
    })?;
    Ok((id, thread(conn, p, number, theme_id)?))
}

/// The expert's own post that may still change: theirs, in their study, waiting for approval,
/// in a round that takes posts.
fn own_pending(conn: &mut DbConn, p: &Participant, post_id: &str) -> AppResult<Post> {
    let pid = super::answers::panellist(p)?;
    let post: Post = posts::table
        .find(post_id)
        .filter(posts::panellist_id.eq(&pid))
        .select(Post::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    let r: Round = rounds::table
        .find(&post.round_id)
        .select(Round::as_select())
        .first(conn)?;
    if r.study_id != p.study.id {
        return Err(AppError::NotFound);
    }
    if r.state != State::Open || !r.accepting(now()) {
        return Err(closed(&r));
    }
    if post.state != PENDING {
        return Err(AppError::Conflict(
            "the post is no longer waiting for approval and cannot change".into(),
        ));
    }
    Ok(post)
}

/// Changes the text of the expert's own post while it waits for approval.
pub fn edit_own(
    conn: &mut DbConn,
    p: &Participant,
    post_id: &str,
    edit: &PostEdit,
) -> AppResult<Post> {
    let text = check_text(&edit.text)?;
    db::write(conn, |c| {
        let post = own_pending(c, p, post_id)?;
        diesel::update(posts::table.find(&post.id))
            .set((posts::text.eq(&text), posts::updated_at.eq(now())))
            .execute(c)?;
        Ok(Post { text, ..post })
    })
}

/// Withdraws the expert's own post while it waits for approval: it is gone, for everyone.
pub fn withdraw_own(conn: &mut DbConn, p: &Participant, post_id: &str) -> AppResult<Post> {
    db::write(conn, |c| {
        let post = own_pending(c, p, post_id)?;
        diesel::delete(posts::table.find(&post.id)).execute(c)?;
        Ok(post)
    })
}

/// Where an expert's post lives: the round's number, for a page to return to its thread.
pub fn round_number_of(conn: &mut DbConn, post: &Post) -> AppResult<i32> {
    Ok(rounds::table
        .find(&post.round_id)
        .select(rounds::number)
        .first(conn)?)
}

fn digest_of(conn: &mut DbConn, panellist_id: &str) -> AppResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        discussion_digests::table.find(panellist_id),
    ))
    .get_result::<bool>(conn)?)
}

/// Turns the daily digest on or off. A new digest counts posts from now on.
pub fn set_digest(conn: &mut DbConn, p: &Participant, daily: bool) -> AppResult<DigestChoice> {
    let pid = super::answers::panellist(p)?;
    db::write(conn, |c| {
        let has = digest_of(c, &pid)?;
        if daily && !has {
            diesel::insert_into(discussion_digests::table)
                .values((
                    discussion_digests::panellist_id.eq(&pid),
                    discussion_digests::last_sent_at.eq(Some(now())),
                ))
                .execute(c)?;
        } else if !daily && has {
            diesel::delete(discussion_digests::table.find(&pid)).execute(c)?;
        }
        Ok(DigestChoice { daily })
    })
}

/// Whether the expert asked for the digest.
pub fn digest(conn: &mut DbConn, p: &Participant) -> AppResult<DigestChoice> {
    let pid = super::answers::panellist(p)?;
    Ok(DigestChoice {
        daily: digest_of(conn, &pid)?,
    })
}

/// Published posts per theme of a round (what each theme's link to its discussion counts).
pub fn published_counts(conn: &mut DbConn, round_id: &str) -> AppResult<HashMap<String, i64>> {
    Ok(posts::table
        .filter(posts::round_id.eq(round_id))
        .filter(posts::state.eq(PUBLISHED))
        .group_by(posts::theme_id)
        .select((posts::theme_id, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Researchers

/// A round's discussion for its researchers: every post with its state; with `writers`, who
/// wrote each (recorded in the audit log as access to identities).
pub fn for_round(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
    writers: bool,
) -> AppResult<RoundPosts> {
    let (r, study) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    if writers {
        audit::record(
            conn,
            &Actor::researcher(researcher_id),
            Some(&study.id),
            audit::Action::IdentityViewed,
            Some(&r.id),
            serde_json::json!({ "discussion_writers": r.number }),
        )?;
    }
    let mut posts = moderated_posts(conn, &r, &study, writers)?;
    posts.sort_by_key(|p| (p.state != PENDING, p.theme_number));
    Ok(RoundPosts {
        round_id: r.id.clone(),
        moderation: study.settings()?.discussion,
        pending: posts.iter().filter(|p| p.state == PENDING).count(),
        posts,
    })
}

/// Every post of a round as researchers see it, by theme and order of publication (waiting
/// ones by when they were written).
fn moderated_posts(
    conn: &mut DbConn,
    r: &Round,
    study: &Study,
    writers: bool,
) -> AppResult<Vec<ModeratedPost>> {
    let lang = study.language.clone();
    let numbers: HashMap<String, i32> = super::rounds::published(conn, &r.id)?
        .into_iter()
        .map(|t| (t.theme_id, t.snapshot.number))
        .collect();
    let handles = Handles::of(conn, &r.id)?;
    let rows: Vec<(Post, Option<String>)> = posts::table
        .left_join(researchers::table.on(researchers::id.nullable().eq(posts::facilitator_id)))
        .filter(posts::round_id.eq(&r.id))
        .order((
            posts::published_seq.is_null(),
            posts::published_seq.asc(),
            posts::created_at.asc(),
        ))
        .select((Post::as_select(), researchers::name.nullable()))
        .load(conn)?;
    let who: HashMap<String, Writer> = if writers {
        panellists::table
            .inner_join(
                candidates::table.on(candidates::panellist_id.eq(panellists::id.nullable())),
            )
            .filter(panellists::study_id.eq(&study.id))
            .select((panellists::id, panellists::pseudonym, candidates::name))
            .load::<(String, String, String)>(conn)?
            .into_iter()
            .map(|(id, pseudonym, name)| (id, Writer { pseudonym, name }))
            .collect()
    } else {
        HashMap::new()
    };
    let mut out: Vec<ModeratedPost> = rows
        .into_iter()
        .map(|(post, facilitator)| ModeratedPost {
            theme_number: numbers.get(&post.theme_id).copied().unwrap_or(0),
            handle: handles.label(&lang, &post),
            facilitator: post
                .panellist_id
                .is_none()
                .then(|| facilitator.unwrap_or_default()),
            writer: post.panellist_id.as_ref().and_then(|w| who.get(w)).cloned(),
            written_at: utc(post.created_at),
            published_at: post.published_at.map(utc),
            cleared: post.cleared_at.is_some(),
            theme_id: post.theme_id,
            text: post.text,
            reply_to: post.reply_to,
            state: post.state,
            hidden_reason: post.hidden_reason,
            id: post.id,
        })
        .collect();
    out.sort_by_key(|p| p.theme_number);
    Ok(out)
}

/// One moderation of a post in one transaction: the post reached through its study, the change
/// `f` makes (returning what the audit log records), and the audit entry.
fn moderate(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    post_id: &str,
    f: impl FnOnce(&mut DbConn, &Post) -> AppResult<(audit::Action, serde_json::Value)>,
) -> AppResult<()> {
    db::write(conn, |c| {
        let (post, study) = access::in_study::<Post>(c, researcher_id, post_id, Role::Researcher)?;
        let (action, details) = f(c, &post)?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(&study.id),
            action,
            Some(&post.id),
            details,
        )
    })
}

/// Publishes a post waiting for approval.
pub fn approve(conn: &mut DbConn, researcher_id: &ResearcherId, post_id: &str) -> AppResult<()> {
    moderate(conn, researcher_id, post_id, |c, post| {
        if post.state != PENDING {
            return Err(AppError::Conflict(
                "the post is not waiting for approval".into(),
            ));
        }
        let at = now();
        let seq = next_seq(c, &post.round_id, &post.theme_id)?;
        diesel::update(posts::table.find(&post.id))
            .set((
                posts::state.eq(PUBLISHED),
                posts::published_at.eq(Some(at)),
                posts::published_seq.eq(Some(seq)),
                posts::updated_at.eq(at),
            ))
            .execute(c)?;
        Ok((audit::Action::PostApproved, serde_json::json!({})))
    })
}

/// Hides a post (waiting or published) with the researcher's reason, kept for researchers.
pub fn hide(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    post_id: &str,
    reason: &str,
) -> AppResult<()> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Invalid::one("reason", "say why the post is hidden").into());
    }
    let reason = crate::domain::text::block("reason", reason, 1000)?;
    moderate(conn, researcher_id, post_id, |c, post| {
        if post.state == HIDDEN {
            return Err(AppError::Conflict("the post is already hidden".into()));
        }
        diesel::update(posts::table.find(&post.id))
            .set((
                posts::state.eq(HIDDEN),
                posts::hidden_reason.eq(Some(&reason)),
                posts::cleared_at.eq(None::<NaiveDateTime>),
                posts::updated_at.eq(now()),
            ))
            .execute(c)?;
        Ok((
            audit::Action::PostHidden,
            serde_json::json!({ "reason": reason }),
        ))
    })
}

/// Clears a published post for the funder's report, without attribution (or takes the
/// clearance back).
pub fn clear(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    post_id: &str,
    cleared: bool,
) -> AppResult<()> {
    moderate(conn, researcher_id, post_id, |c, post| {
        if cleared && post.state != PUBLISHED {
            return Err(AppError::Conflict(
                "only a published post can be cleared for the report".into(),
            ));
        }
        diesel::update(posts::table.find(&post.id))
            .set(posts::cleared_at.eq(cleared.then(now)))
            .execute(c)?;
        let action = if cleared {
            audit::Action::PostCleared
        } else {
            audit::Action::PostUncleared
        };
        Ok((action, serde_json::json!({})))
    })
}

/// A researcher's post as the facilitator: published at once, marked as the facilitator's.
pub fn post_as_facilitator(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
    theme_id: &str,
    input: &PostInput,
) -> AppResult<ModeratedPost> {
    let text = check_text(&input.text)?;
    let (id, r, study) = db::write(conn, |c| {
        let (r, study) = access::in_study::<Round>(c, researcher_id, round_id, Role::Researcher)?;
        if !in_round(c, &r.id, theme_id)? || !r.rating {
            return Err(AppError::NotFound);
        }
        if study.settings()?.discussion == Discussion::Off {
            return Err(off());
        }
        let writer = Author::Facilitator(researcher_id.as_str().into());
        let id = insert(c, &r, theme_id, writer, input, text, true)?;
        Ok::<_, AppError>((id, r, study))
    })?;
    moderated_posts(conn, &r, &study, false)?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(AppError::NotFound)
}

/// Posts waiting for approval in a study's open rounds, per round number (the study's to-do
/// list names them).
pub fn waiting(conn: &mut DbConn, study_id: &str) -> AppResult<Vec<(String, i32, i64)>> {
    Ok(posts::table
        .inner_join(rounds::table)
        .filter(rounds::study_id.eq(study_id))
        .filter(rounds::state.eq(State::Open))
        .filter(posts::state.eq(PENDING))
        .group_by((rounds::id, rounds::number))
        .select((rounds::id, rounds::number, diesel::dsl::count_star()))
        .order(rounds::number.asc())
        .load(conn)?)
}

// ---------------------------------------------------------------------------------------------
// The report

/// A theme's discussion in a round's report: for researchers every published post; for a
/// funder the count, and only the posts the researchers cleared, without handles.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportThread {
    pub theme_number: i32,
    /// Published posts, the facilitator's included.
    pub posts: usize,
    /// Distinct panellists who posted (researchers only; none for a funder).
    pub writers: Option<usize>,
    pub shown: Vec<ReportPost>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportPost {
    /// The handle in the thread (researchers only).
    pub handle: Option<String>,
    #[schema(value_type = String, format = Date)]
    pub day: chrono::NaiveDate,
    pub facilitator: bool,
    pub text: String,
}

/// The round's discussion per theme, as the report's reader may see it.
pub fn for_report(
    conn: &mut DbConn,
    r: &Round,
    study: &Study,
    numbers: &HashMap<String, i32>,
    for_funder: bool,
) -> AppResult<Vec<ReportThread>> {
    let handles = Handles::of(conn, &r.id)?;
    let rows: Vec<Post> = posts::table
        .filter(posts::round_id.eq(&r.id))
        .filter(posts::state.eq(PUBLISHED))
        .order(posts::published_seq.asc())
        .select(Post::as_select())
        .load(conn)?;
    let lang = study.language.clone();
    let tz = study.zone();
    let mut by_theme: BTreeMap<i32, ReportThread> = BTreeMap::new();
    let mut writers: HashMap<i32, HashSet<String>> = HashMap::new();
    for post in rows {
        let Some(&number) = numbers.get(&post.theme_id) else {
            continue;
        };
        let t = by_theme.entry(number).or_insert_with(|| ReportThread {
            theme_number: number,
            posts: 0,
            writers: None,
            shown: Vec::new(),
        });
        t.posts += 1;
        if let Some(w) = &post.panellist_id {
            writers.entry(number).or_default().insert(w.clone());
        }
        if for_funder && post.cleared_at.is_none() {
            continue;
        }
        t.shown.push(ReportPost {
            handle: (!for_funder).then(|| handles.label(&lang, &post)),
            day: day_of(post.published_at.unwrap_or(post.created_at), tz),
            facilitator: post.panellist_id.is_none(),
            text: post.text,
        });
    }
    Ok(by_theme
        .into_values()
        .map(|mut t| {
            if !for_funder {
                t.writers = Some(writers.get(&t.theme_number).map_or(0, HashSet::len));
            }
            t
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The daily digest

/// Sends each panellist who asked for it, once a day from 07:00 on their study's clock, how
/// many posts others published since the last digest in the open rounds they take part in.
/// Returns the digests queued.
pub fn run_digests(conn: &mut DbConn, env: &MailEnv, at: NaiveDateTime) -> AppResult<usize> {
    let subscribers: Vec<(String, Option<NaiveDateTime>, Candidate, Study)> =
        discussion_digests::table
            .inner_join(
                candidates::table
                    .on(candidates::panellist_id.eq(discussion_digests::panellist_id.nullable())),
            )
            .inner_join(studies::table.on(studies::id.eq(candidates::study_id)))
            .select((
                discussion_digests::panellist_id,
                discussion_digests::last_sent_at,
                Candidate::as_select(),
                Study::as_select(),
            ))
            .load(conn)?;
    let mut queued = 0;
    for (pid, last, cand, study) in subscribers {
        let tz = study.zone();
        let local_now = crate::i18n::zone::local(utc(at), tz);
        if local_now.hour() < DIGEST_HOUR
            || last.is_some_and(|l| day_of(l, tz) >= local_now.date_naive())
            || study.settings()?.discussion == Discussion::Off
        {
            continue;
        }
        let since = last.unwrap_or(at);
        let fresh: Vec<(String, i32, String, Option<NaiveDateTime>)> = posts::table
            .inner_join(rounds::table)
            .inner_join(
                round_participations::table.on(round_participations::round_id
                    .eq(posts::round_id)
                    .and(round_participations::panellist_id.eq(&pid))),
            )
            .filter(rounds::state.eq(State::Open))
            .filter(posts::state.eq(PUBLISHED))
            .filter(posts::published_at.gt(since))
            .filter(posts::published_at.le(at))
            .filter(
                posts::panellist_id
                    .ne(&pid)
                    .or(posts::panellist_id.is_null()),
            )
            .select((
                posts::theme_id,
                rounds::number,
                rounds::id,
                rounds::closes_at,
            ))
            .load(conn)?;
        db::write(conn, |c| {
            diesel::update(discussion_digests::table.find(&pid))
                .set(discussion_digests::last_sent_at.eq(Some(at)))
                .execute(c)?;
            if fresh.is_empty() {
                return Ok::<_, AppError>(());
            }
            let themes: HashSet<&String> = fresh.iter().map(|f| &f.0).collect();
            let latest = fresh.iter().max_by_key(|f| f.1).expect("not empty");
            let round: Round = rounds::table
                .find(&latest.2)
                .select(Round::as_select())
                .first(c)?;
            let facts = super::rounds::facts(&round);
            let extra = [
                ("posts", fresh.len().to_string()),
                ("themes", themes.len().to_string()),
            ];
            let letter = Letter {
                extra: &extra,
                ..Letter::new(
                    crate::mail::Kind::DiscussionDigest,
                    &facts,
                    Some(format!("digest:{pid}:{}", local_now.date_naive())),
                )
            };
            if outbox::enqueue_with(c, env, &study, &cand, letter)? {
                queued += 1;
            }
            Ok(())
        })?;
    }
    Ok(queued)
}
