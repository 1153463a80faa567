//! `orakel demo`: a study shaped like the reference study (17 candidates in four sectors, 12 on
//! the panel, 13 themes in 3 categories, nine experts' scores from the demo matrix), made through
//! the same operations people use, and three links to look at it from each side. The names,
//! organisations and texts are invented.

use chrono::{Duration, SecondsFormat, Utc};
use diesel::prelude::*;

use crate::db::models::{Candidate, Study};
use crate::db::schema::{candidates, studies};
use crate::db::{self, DbConn};
use crate::domain::candidate::{CandidateInput, Status, Stratum};
use crate::domain::round::{AnswerInput, Kind, RoundInput};
use crate::domain::study::StudyInput;
use crate::ops::access::ResearcherId;
use crate::ops::answers::{self, AnswersInput};
use crate::ops::codebook::{self, CategoryInput, ThemeInput};
use crate::ops::coding;
use crate::ops::links;
use crate::ops::outbox::MailEnv;
use crate::ops::participation::{self, ConsentAnswer};
use crate::ops::reports::{self, ReportLinkInput};
use crate::ops::{AppResult, accounts, recruitment as cands, rounds, studies as st};

pub const EMAIL: &str = "demo@orakel.example";
pub const PASSWORD: &str = "orakel-demo-2026";
/// The demo's second coder, so the coders' agreement has two to compare.
pub const SECOND_CODER: &str = "koder@orakel.example";
pub const TITLE: &str = "Mentalt helbred i arbejdslivet (demo)";

/// The demo's nine experts' scores: theme → scores of experts 1..9 (`tests/data/demo-ratings.csv`).
pub const RATINGS: [[i32; 9]; 13] = [
    [4, 3, 4, 4, 4, 4, 4, 4, 3],
    [2, 4, 3, 4, 4, 3, 4, 4, 4],
    [3, 3, 3, 3, 3, 3, 4, 3, 2],
    [3, 3, 3, 3, 3, 3, 2, 4, 4],
    [2, 3, 2, 1, 4, 1, 1, 2, 1],
    [1, 4, 3, 1, 3, 3, 2, 4, 4],
    [2, 3, 2, 2, 4, 3, 1, 1, 1],
    [4, 3, 3, 2, 3, 1, 4, 2, 3],
    [3, 3, 4, 4, 3, 3, 3, 3, 3],
    [1, 3, 2, 1, 2, 2, 3, 1, 4],
    [4, 3, 3, 4, 2, 4, 2, 2, 3],
    [1, 2, 4, 2, 2, 1, 3, 3, 3],
    [2, 1, 3, 2, 1, 2, 2, 3, 3],
];

/// (name, e-mail, organisation, organisation type, gender, sector, source, referred by, outcome)
type Person = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Outcome,
);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepts,
    Declines(&'static str),
    Silent,
}

const SO: &str = "Brancheorganisation";
const CO: &str = "Virksomhed";
const MU: &str = "Kommune";
const NETWORK: &str = "Opdragsgiverens netværk";
const BRANCH: &str = "Brancheorganisation";
const REFERRED: &str = "Henvist af en anden kandidat";

const PEOPLE: [Person; 17] = [
    (
        "Mette Kjærgaard",
        "mette.kjaergaard@passagerforeningen.example",
        "Passagertransportens Arbejdsgivere",
        SO,
        "Kvinde",
        "Persontransport",
        NETWORK,
        None,
        Outcome::Accepts,
    ),
    (
        "Jens Holmgaard",
        "jens.holmgaard@chaufforforbundet.example",
        "Chaufførernes Fagforbund",
        SO,
        "Mand",
        "Persontransport",
        BRANCH,
        None,
        Outcome::Accepts,
    ),
    (
        "Lars Bøgh",
        "lars.boegh@industriforeningen.example",
        "Industriens Arbejdsgiverforening",
        SO,
        "Mand",
        "Industri",
        NETWORK,
        None,
        Outcome::Accepts,
    ),
    (
        "Søren Dalsgaard",
        "soeren.dalsgaard@metalforbundet.example",
        "Metalarbejdernes Forbund",
        SO,
        "Mand",
        "Industri",
        BRANCH,
        None,
        Outcome::Accepts,
    ),
    (
        "Anne Skovbo",
        "anne.skovbo@produktionsforbundet.example",
        "Produktionsansattes Forbund",
        SO,
        "Kvinde",
        "Industri",
        REFERRED,
        Some("lars.boegh@industriforeningen.example"),
        Outcome::Accepts,
    ),
    (
        "Peter Lindholm",
        "peter.lindholm@handelsforeningen.example",
        "Handelens Arbejdsgivere",
        SO,
        "Mand",
        "Detailhandel",
        NETWORK,
        None,
        Outcome::Accepts,
    ),
    (
        "Henrik Østergård",
        "henrik.oestergaard@butiksforbundet.example",
        "Butiksansattes Forbund",
        SO,
        "Mand",
        "Detailhandel",
        BRANCH,
        None,
        Outcome::Accepts,
    ),
    (
        "Michael Brandt",
        "michael.brandt@finansforeningen.example",
        "Finanssektorens Arbejdsgivere",
        SO,
        "Mand",
        "Finans",
        NETWORK,
        None,
        Outcome::Accepts,
    ),
    (
        "Thomas Krogh",
        "thomas.krogh@bankforbundet.example",
        "Bankansattes Forbund",
        SO,
        "Mand",
        "Finans",
        BRANCH,
        None,
        Outcome::Accepts,
    ),
    (
        "Camilla Vestergaard",
        "camilla.vestergaard@dagligvarer.example",
        "Dagligvarekæden Nord",
        CO,
        "Kvinde",
        "Detailhandel",
        REFERRED,
        Some("peter.lindholm@handelsforeningen.example"),
        Outcome::Accepts,
    ),
    (
        "Rasmus Friis",
        "rasmus.friis@forsikring.example",
        "Forsikringsselskabet Tryghed",
        CO,
        "Mand",
        "Finans",
        REFERRED,
        Some("michael.brandt@finansforeningen.example"),
        Outcome::Accepts,
    ),
    (
        "Niels Ravn",
        "niels.ravn@kommune.example",
        "Midtby Kommune",
        MU,
        "Mand",
        "Tværgående",
        NETWORK,
        None,
        Outcome::Accepts,
    ),
    (
        "Kirsten Lund",
        "kirsten.lund@busselskab.example",
        "Busselskabet Vest",
        CO,
        "Kvinde",
        "Persontransport",
        NETWORK,
        None,
        Outcome::Declines("Mangler tid"),
    ),
    (
        "Bo Mikkelsen",
        "bo.mikkelsen@maskinfabrik.example",
        "Maskinfabrikken Syd",
        CO,
        "Mand",
        "Industri",
        NETWORK,
        None,
        Outcome::Declines("Mangler tid"),
    ),
    (
        "Hanne Juul",
        "hanne.juul@pensionsforeningen.example",
        "Pensionsbranchens Forening",
        SO,
        "Kvinde",
        "Finans",
        BRANCH,
        None,
        Outcome::Declines("Føler ikke at have den fornødne viden"),
    ),
    (
        "Ole Sandberg",
        "ole.sandberg@isenkram.example",
        "Isenkræmmeren",
        CO,
        "Mand",
        "Detailhandel",
        REFERRED,
        Some("henrik.oestergaard@butiksforbundet.example"),
        Outcome::Silent,
    ),
    (
        "Karen Bisgaard",
        "karen.bisgaard@plastforeningen.example",
        "Plastindustriens Forening",
        SO,
        "Kvinde",
        "Industri",
        BRANCH,
        None,
        Outcome::Silent,
    ),
];

const CATEGORIES: [(&str, &str); 3] = [
    ("A", "Fokus på virksomheden"),
    ("B", "Tilgang til forebyggelse"),
    ("C", "Eksterne forhold"),
];

/// Round 1's interviews, written for the demo: each a few passages, each passage coded to a
/// theme (by number) by the first coder and, where the second coder read it, by the second —
/// who differs twice, so the agreement page has something to show.
const INTERVIEWS: [&[(&str, u8, Option<u8>)]; 3] = [
    &[
        (
            "Interviewer: Hvad gør I, når en medarbejder begynder at mistrives?",
            0,
            None,
        ),
        (
            "Deltager: Vi har lært, at det gælder om at tage samtalen tidligt. Venter man, til der kommer en sygemelding, har man ventet for længe.",
            1,
            Some(1),
        ),
        (
            "Deltager: Mellemlederne står alene med det. De har ikke fået redskaber til at spotte, at nogen er ved at gå ned.",
            2,
            Some(2),
        ),
        (
            "Deltager: Og så glemmer vi, at lederne selv er pressede. Hvem tager sig af deres arbejdsmiljø?",
            3,
            Some(3),
        ),
        (
            "Deltager: Det bedste, vi har gjort, er at lade tillidsrepræsentanten og ledelsen lægge planen sammen.",
            4,
            Some(4),
        ),
    ],
    &[
        ("Interviewer: Hvad mangler de mindre virksomheder?", 0, None),
        (
            "Deltager: En lille virksomhed har ingen HR-afdeling. De har brug for ét sted at ringe hen, når det brænder på.",
            5,
            Some(5),
        ),
        (
            "Deltager: Jeg tror ikke på kampagner for særlige grupper. Man må se på den konkrete situation på den enkelte arbejdsplads.",
            6,
            Some(6),
        ),
        (
            "Deltager: Mobning og grænseoverskridende adfærd fylder mere, end ledelsen tror.",
            7,
            Some(7),
        ),
        (
            "Deltager: Forskningen skal ud på gulvet og laves sammen med dem, der skal bruge den.",
            8,
            Some(10),
        ),
    ],
    &[
        ("Interviewer: Hvem kan hjælpe udefra?", 0, None),
        (
            "Deltager: En ekstern psykolog, der kender branchen, kan åbne samtaler, som ledelsen ikke selv kan.",
            9,
            Some(9),
        ),
        (
            "Deltager: Branchenetværket er guld værd: her hører vi, hvad andre virksomheder har prøvet.",
            10,
            Some(10),
        ),
        (
            "Deltager: Når en medarbejder er i behandling, taler arbejdspladsen og behandleren sjældent sammen. Det burde de.",
            11,
            Some(11),
        ),
        (
            "Deltager: Behandlingen skal passe til den enkeltes job, ikke være den samme for alle.",
            12,
            Some(13),
        ),
        (
            "Deltager: Og vi skal holde øje med, hvordan arbejdet ændrer sig, for eksempel med mere hjemmearbejde.",
            13,
            None,
        ),
    ],
];

const THEMES: [(&str, &str, &[&str]); 13] = [
    (
        "A",
        "Tidlig indsats på arbejdspladsen",
        &[
            "Tegn på mistrivsel bør opfanges, før de bliver til sygefravær.",
            "Kolleger og ledere skal vide, hvad de gør, når de ser tegnene.",
            "En kort vej til hjælp betyder mere end store programmer.",
        ],
    ),
    (
        "A",
        "Ledere klædt på til det psykiske arbejdsmiljø og til medarbejdere, der mistrives",
        &[
            "Ledere efterlyser konkrete redskaber til den svære samtale.",
            "Uddannelse bør følges op i hverdagen.",
            "Ledere skal kende deres egne grænser og vide, hvornår de henviser.",
        ],
    ),
    (
        "A",
        "Ledernes eget psykiske arbejdsmiljø",
        &[
            "Mellemledere står i et krydspres mellem ledelse og medarbejdere.",
            "Ledere mangler ofte én at sparre med.",
        ],
    ),
    (
        "A",
        "Samarbejdet mellem ledelse og medarbejdere",
        &[
            "Arbejdsmiljøorganisationen og samarbejdsudvalget kan bruges mere aktivt.",
            "Tillidsrepræsentanten er en vigtig brobygger.",
        ],
    ),
    (
        "A",
        "Målrettet støtte til små og mellemstore virksomheder",
        &[
            "Små virksomheder har sjældent egne ressourcer til arbejdsmiljø.",
            "Tilbud skal være enkle og lette at gå til.",
        ],
    ),
    (
        "B",
        "Tag udgangspunkt i den konkrete situation frem for særlige målgrupper",
        &[
            "Behovene afhænger mere af situationen end af alder eller køn.",
            "Tilbud til bestemte grupper kan virke stigmatiserende.",
        ],
    ),
    (
        "B",
        "Forebyggelse af krænkende handlinger",
        &[
            "Mobning og chikane skal kunne tages op uden frygt.",
            "Klare retningslinjer og opfølgning er afgørende.",
        ],
    ),
    (
        "B",
        "Dialogbaserede, praksisnære forskningsprojekter",
        &[
            "Forskning bør udvikles sammen med arbejdspladserne.",
            "Resultaterne skal kunne omsættes til praksis.",
        ],
    ),
    (
        "C",
        "Brug af eksterne ressourcepersoner og rådgivning",
        &[
            "Ekstern rådgivning giver et neutralt blik udefra.",
            "Adgangen til rådgivning bør være hurtig.",
        ],
    ),
    (
        "C",
        "Brug af eksterne branchenetværk",
        &["Netværk kan dele erfaringer på tværs af virksomheder."],
    ),
    (
        "C",
        "Samarbejde mellem arbejdspladser og behandlere",
        &[
            "Behandlere kender sjældent arbejdspladsens muligheder.",
            "En fælles dialog kan lette vejen tilbage til arbejdet.",
        ],
    ),
    (
        "C",
        "Fokus på målrettede behandlingstilbud",
        &["Behandlingen skal passe til den enkeltes situation."],
    ),
    (
        "C",
        "Fokus på udviklingstendenser og rammevilkår",
        &[
            "Digitalisering og omstilling ændrer kravene i arbejdet.",
            "Rammevilkårene påvirker, hvad virksomhederne kan gøre.",
        ],
    ),
];

/// The three links the demo prints.
pub struct Links {
    pub study_id: String,
    pub expert: String,
    pub funder: String,
    pub created: bool,
}

fn find_demo(conn: &mut DbConn) -> AppResult<Option<Study>> {
    let owner = accounts::researcher_by_email(conn, EMAIL)?;
    let Some(owner) = owner else { return Ok(None) };
    Ok(
        st::list(conn, &ResearcherId::authenticated(owner.id.clone()))?
            .into_iter()
            .find(|s| s.title == TITLE)
            .map(|s| {
                studies::table
                    .find(&s.id)
                    .select(Study::as_select())
                    .first(conn)
            })
            .transpose()?,
    )
}

/// Makes the demo study unless it exists, then fresh links to an expert's page and the report.
pub fn ensure(conn: &mut DbConn, env: &MailEnv) -> AppResult<Links> {
    let (study, created) = match find_demo(conn)? {
        Some(s) => (s, false),
        None => (create(conn, env)?, true),
    };
    let owner = accounts::researcher_by_email(conn, EMAIL)?.expect("the demo researcher exists");
    // The expert link goes to a panellist of the open feedback round.
    let first: Candidate = candidates::table
        .filter(candidates::study_id.eq(&study.id))
        .filter(candidates::email.eq(PEOPLE[0].1))
        .select(Candidate::as_select())
        .first(conn)?;
    let token = db::write(conn, |c| links::issue_access(c, &first.id))?;
    let link = reports::create_link(
        conn,
        &ResearcherId::authenticated(owner.id.clone()),
        &study.id,
        ReportLinkInput {
            label: "Demo".into(),
            expires_at: None,
        },
        &env.public_url,
    )?;
    let base = env.public_url.trim_end_matches('/');
    Ok(Links {
        study_id: study.id,
        expert: format!("{base}/p/{token}"),
        funder: link.url.unwrap_or_default(),
        created,
    })
}

fn create(conn: &mut DbConn, env: &MailEnv) -> AppResult<Study> {
    let owner = match accounts::researcher_by_email(conn, EMAIL)? {
        Some(r) => r,
        None => accounts::add_researcher(conn, EMAIL, "Demo Forsker", PASSWORD)?,
    };
    let me = &ResearcherId::authenticated(owner.id.clone());
    let study = st::create(
        conn,
        me,
        StudyInput {
            title: Some(TITLE.into()),
            purpose: Some("Hvilke indsatser kan bedst forebygge mentale helbredsudfordringer blandt erhvervsaktive? Panelets prioriteringer bruges til at målrette fremtidige bevillinger.".into()),
            funder: Some("Demofonden".into()),
            contact: Some("Demo Forsker, demo@orakel.example".into()),
            language: Some("da".into()),
            ..Default::default()
        },
        crate::i18n::zone::DEFAULT,
    )?;
    let sid = study.id.as_str();
    cands::set_strata(
        conn,
        me,
        sid,
        vec![
            Stratum {
                key: "org_type".into(),
                label: "Organisationstype".into(),
                values: vec![SO.into(), CO.into(), MU.into()],
            },
            Stratum {
                key: "gender".into(),
                label: "Køn".into(),
                values: vec!["Kvinde".into(), "Mand".into()],
            },
            Stratum {
                key: "sector".into(),
                label: "Sektor".into(),
                values: [
                    "Persontransport",
                    "Industri",
                    "Detailhandel",
                    "Finans",
                    "Tværgående",
                ]
                .map(String::from)
                .to_vec(),
            },
        ],
    )?;
    // Candidates, in the order they were found; a referral names someone found before.
    let mut ids: Vec<(String, &Person)> = Vec::new();
    for p in &PEOPLE {
        let referred_by =
            p.7.and_then(|e| ids.iter().find(|(_, q)| q.1 == e).map(|(id, _)| id.clone()));
        let view = cands::add(
            conn,
            me,
            sid,
            CandidateInput {
                name: p.0.into(),
                email: p.1.into(),
                organisation: p.2.into(),
                strata: [("org_type", p.3), ("gender", p.4), ("sector", p.5)]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                source: p.6.into(),
                referred_by,
                notes: String::new(),
            },
        )?;
        ids.push((view.id, p));
    }
    let all: Vec<String> = ids.iter().map(|(id, _)| id.clone()).collect();
    cands::invite(conn, env, me, sid, &all)?;
    // Each answers through a link of their own, as they would from the e-mail.
    for (id, p) in &ids {
        let token = db::write(conn, |c| links::issue_access(c, id))?;
        match p.8 {
            Outcome::Accepts => {
                participation::answer(
                    conn,
                    env,
                    &token,
                    ConsentAnswer {
                        accept: true,
                        reason: None,
                        referral: None,
                        reason_category: None,
                    },
                )?;
            }
            Outcome::Declines(why) => {
                participation::answer(
                    conn,
                    env,
                    &token,
                    ConsentAnswer {
                        accept: false,
                        reason: Some(why.into()),
                        referral: None,
                        reason_category: Some(crate::domain::candidate::DeclineCategory::Busy),
                    },
                )?;
            }
            Outcome::Silent => {
                let cand: Candidate = candidates::table
                    .find(id)
                    .select(Candidate::as_select())
                    .first(conn)?;
                db::write(conn, |c| {
                    diesel::update(candidates::table.find(id))
                        .set(candidates::reminders_sent.eq(2))
                        .execute(c)?;
                    cands::transition(c, &cand, Status::NoReply, None, "system")
                })?;
            }
        }
    }
    // The codebook of round 1.
    let mut cat_ids = std::collections::HashMap::new();
    for (code, title) in CATEGORIES {
        let c = codebook::add_category(
            conn,
            me,
            sid,
            CategoryInput {
                code: code.into(),
                title: title.into(),
                position: None,
            },
        )?;
        cat_ids.insert(code, c.id);
    }
    let mut theme_ids = Vec::new();
    for (i, (cat, title, statements)) in THEMES.iter().enumerate() {
        let t = codebook::add_theme(
            conn,
            me,
            sid,
            ThemeInput {
                category_id: cat_ids[cat].clone(),
                number: i as i32 + 1,
                title: (*title).into(),
                description: String::new(),
                statements: statements.iter().map(|s| s.to_string()).collect(),
            },
        )?;
        theme_ids.push(t.id);
    }
    let week = (Utc::now() + Duration::days(7))
        .to_rfc3339_opts(SecondsFormat::Secs, true)
        .parse()
        .ok();
    let round = |kind, validation, rating, feedback| RoundInput {
        kind,
        validation,
        rating,
        feedback,
        // The panel's groups are women and men: feedback shows each of them.
        feedback_by_group: feedback,
        questionnaire: false,
        mode: Default::default(),
        closes_at: week,
        instructions: String::new(),
        reminder_days: None,
    };
    // Round 1: the interviews.
    let r1 = rounds::create(conn, me, sid, round(Kind::Qualitative, false, false, false))?;
    rounds::open(conn, env, me, &r1.id)?;
    rounds::close(conn, me, &r1.id)?;
    interviews(conn, me, sid, &r1.id, &theme_ids)?;
    st::update(
        conn,
        me,
        sid,
        StudyInput {
            groups_by: Some(Some("gender".into())),
            // Two of the researchers' four texts for the checklist; the other two show as
            // "to be completed" in the report's appendix.
            rationale: Some(
                "Viden om, hvad der forebygger mentale helbredsudfordringer blandt erhvervsaktive, er spredt over mange faggrupper; et Delphi-panel samler vurderingerne fra dem, der arbejder med det, uden at én faggruppe kommer til at dominere."
                    .into(),
            ),
            funding_and_interests: Some(
                "Demofonden har ikke haft indflydelse på valget af panel eller temaer. Forskerne har ingen interessekonflikter."
                    .into(),
            ),
            ..Default::default()
        },
    )?;
    // The protocol is registered before any rating: two rating rounds, the second with each
    // group's feedback; stop when every theme is decided, when fewer than 15 % of scores
    // change, or after two rating rounds.
    let mut plan = crate::ops::protocol::get(conn, me, sid)?.protocol;
    plan.planned_rounds = 2;
    plan.feedback = vec!["none".into(), "distribution_by_group".into()];
    plan.stopping.max_rounds = Some(2);
    crate::ops::protocol::put(
        conn,
        me,
        sid,
        crate::ops::protocol::ProtocolInput {
            protocol: plan,
            amendment_reason: None,
        },
    )?;
    crate::ops::protocol::register(conn, me, sid)?;
    // Rounds 2 and 3 of the study, run as one: validation and rating; nine of twelve answer.
    let r2 = rounds::create(conn, me, sid, round(Kind::Rating, true, true, false))?;
    rounds::open(conn, env, me, &r2.id)?;
    // The ninth to accept stays silent and the tenth answers, so both panel groups (women and
    // men) reach the group size and the report can compare them.
    for (j, (id, _)) in ids
        .iter()
        .filter(|(_, p)| p.8 == Outcome::Accepts)
        .enumerate()
        .filter(|(i, _)| *i != 8)
        .map(|(_, x)| x)
        .take(9)
        .enumerate()
    {
        let token = db::write(conn, |c| links::issue_access(c, id))?;
        let answers = theme_ids
            .iter()
            .enumerate()
            .map(|(t, theme_id)| AnswerInput {
                theme_id: theme_id.clone(),
                score: Some(RATINGS[t][j]),
                comment: match (t, j) {
                    (0, 0) => {
                        Some("Det vigtigste er at handle, før medarbejderen er sygemeldt.".into())
                    }
                    (4, 2) => Some("Små virksomheder har brug for et sted at ringe hen.".into()),
                    _ => None,
                },
                ..Default::default()
            })
            .collect();
        answers::save(
            conn,
            &token,
            r2.number,
            AnswersInput {
                answers,
                submit: true,
            },
            0,
        )?;
    }
    let responses = rounds::responses(conn, me, &r2.id)?;
    if let Some(c) = responses.themes.first().and_then(|t| t.comments.first()) {
        rounds::clear_comment(conn, me, &c.answer_id, true)?;
    }
    rounds::set_minority_statement(
        conn,
        me,
        &r2.id,
        &theme_ids[4],
        "Et mindretal fra de mindre virksomheder fandt målrettet støtte afgørende: uden en fast kontakt udefra når de små arbejdspladser ikke at handle, før problemerne er vokset.",
    )?;
    rounds::close(conn, me, &r2.id)?;
    // A feedback round, open, so the expert's link shows the form with the group's answers.
    let r3 = rounds::create(conn, me, sid, round(Kind::Rating, false, true, true))?;
    rounds::open(conn, env, me, &r3.id)?;
    // The study as it would stand after some weeks: each round on dates of its own.
    let now = db::now();
    for (id, opened, closed) in [
        (&r1.id, 70, Some(49)),
        (&r2.id, 28, Some(14)),
        (&r3.id, 3, None),
    ] {
        use crate::db::schema::rounds as r;
        let closed = closed.map(|d: i64| now - Duration::days(d));
        diesel::update(r::table.find(id))
            .set((
                r::opened_at.eq(Some(now - Duration::days(opened))),
                r::closed_at.eq(closed),
                r::closes_at.eq(Some(closed.unwrap_or(now + Duration::days(7)))),
            ))
            .execute(conn)?;
    }
    diesel::update(studies::table.find(sid))
        .set(studies::consensus_locked_at.eq(Some(now - Duration::days(28))))
        .execute(conn)?;
    {
        use crate::db::schema::protocols as p;
        diesel::update(p::table.find(sid))
            .set(p::registered_at.eq(Some(now - Duration::days(30))))
            .execute(conn)?;
    }
    backdate(conn, sid, &r2.id)?;
    discussion(conn, me, sid, &r3.id, &theme_ids)?;
    Ok(studies::table
        .find(&study.id)
        .select(Study::as_select())
        .first(conn)?)
}

/// The open round's discussion: a few posts on the first theme, one of them answered by the
/// facilitator, and one waiting for approval so the to-do list has it.
fn discussion(
    conn: &mut DbConn,
    me: &ResearcherId,
    sid: &str,
    round_id: &str,
    theme_ids: &[String],
) -> AppResult<()> {
    use crate::ops::discussion::{self as d, PostInput};
    let study: Study = studies::table
        .find(sid)
        .select(Study::as_select())
        .first(conn)?;
    let panel = rounds::panel(conn, sid)?;
    let number: i32 = {
        use crate::db::schema::rounds as r;
        r::table.find(round_id).select(r::number).first(conn)?
    };
    let posts = [
        (
            0,
            "Tidlig indsats virker kun, hvis lederne ved, hvem de kan ringe til. Ellers bliver det ved de gode hensigter.",
        ),
        (
            3,
            "Vi har prøvet en fast kontaktperson i kommunen. Det hjalp mest i de første uger af et sygeforløb.",
        ),
        (
            5,
            "Hvad tæller som tidligt? Et par dages fravær, eller når kollegerne begynder at bemærke noget?",
        ),
    ];
    let mut first = None;
    for (j, text) in posts {
        let Some(cand) = panel.get(j) else { continue };
        let who = participation::Participant {
            candidate: cand.clone(),
            study: study.clone(),
        };
        let input = PostInput {
            text: text.into(),
            reply_to: None,
        };
        let (id, _) = d::post_as_expert(conn, &who, number, &theme_ids[0], &input)?;
        if j != 5 {
            d::approve(conn, me, &id)?;
            first.get_or_insert(id);
        }
    }
    d::post_as_facilitator(
        conn,
        me,
        round_id,
        &theme_ids[0],
        &PostInput {
            text:
                "Tak for eksemplerne. Skriv gerne, hvilken kontakt der gjorde forskellen hos jer."
                    .into(),
            reply_to: first,
        },
    )?;
    Ok(())
}

/// Round 1's interviews: one transcript for each of three panellists, coded into the themes by
/// two researchers, and the first theme's first statement linked to the passage it came from.
fn interviews(
    conn: &mut DbConn,
    me: &ResearcherId,
    sid: &str,
    round_id: &str,
    theme_ids: &[String],
) -> AppResult<()> {
    let second = match accounts::researcher_by_email(conn, SECOND_CODER)? {
        Some(r) => r,
        None => accounts::add_researcher(conn, SECOND_CODER, "Anden Koder", PASSWORD)?,
    };
    st::set_member(conn, me, sid, SECOND_CODER, "researcher")?;
    let second = ResearcherId::authenticated(second.id);
    let people = coding::pseudonyms(conn, me, sid)?;
    let mut first_excerpt = None;
    for (passages, (_, pseudonym)) in INTERVIEWS.iter().zip(&people) {
        let text = passages
            .iter()
            .map(|(p, _, _)| *p)
            .collect::<Vec<_>>()
            .join("\n\n");
        let t = coding::add_transcript(
            conn,
            me,
            sid,
            pseudonym,
            &format!("Interview med {pseudonym}"),
            Some(round_id),
            "interview.txt",
            text.as_bytes(),
        )?;
        // Offsets count characters, as the coding page does.
        let mut start = 0;
        for (passage, first, other) in passages.iter() {
            let end = start + passage.chars().count();
            for (coder, theme) in [(me, Some(*first)), (&second, *other)] {
                let Some(theme) = theme.filter(|n| *n > 0) else {
                    continue;
                };
                let e = coding::add_excerpt(
                    conn,
                    coder,
                    &t.id,
                    coding::ExcerptInput {
                        start,
                        end,
                        theme_ids: vec![theme_ids[usize::from(theme) - 1].clone()],
                    },
                )?;
                if first_excerpt.is_none() {
                    first_excerpt = Some(e.id);
                }
            }
            start = end + 2;
        }
    }
    let book = codebook::codebook(conn, me, sid, false)?;
    if let (Some(excerpt), Some(statement)) = (
        first_excerpt,
        book.categories
            .first()
            .and_then(|c| c.themes.first())
            .and_then(|t| t.statements.first()),
    ) {
        coding::link_statement(
            conn,
            me,
            &statement.id,
            coding::EvidenceInput {
                excerpt_ids: vec![excerpt],
            },
        )?;
    }
    Ok(())
}

/// Moves recruitment twelve weeks back and round 2's answers three weeks back, so that every
/// step happened before the round it led to, as in a study run over months.
fn backdate(conn: &mut DbConn, sid: &str, rating_round: &str) -> AppResult<()> {
    use crate::db::schema::{answers, candidate_events, consents, round_participations as rp};
    let (recruited, answered) = (Duration::days(84), Duration::days(20));
    let cands: Vec<Candidate> = candidates::table
        .filter(candidates::study_id.eq(sid))
        .select(Candidate::as_select())
        .load(conn)?;
    for c in &cands {
        diesel::update(candidates::table.find(&c.id))
            .set((
                candidates::created_at.eq(c.created_at - recruited),
                candidates::updated_at.eq(c.updated_at - recruited),
                candidates::status_changed_at.eq(c.status_changed_at - recruited),
                candidates::invited_at.eq(c.invited_at.map(|t| t - recruited)),
            ))
            .execute(conn)?;
        let events: Vec<(String, chrono::NaiveDateTime)> = candidate_events::table
            .filter(candidate_events::candidate_id.eq(&c.id))
            .select((candidate_events::id, candidate_events::at))
            .load(conn)?;
        for (id, at) in events {
            diesel::update(candidate_events::table.find(id))
                .set(candidate_events::at.eq(at - recruited))
                .execute(conn)?;
        }
        let given: Vec<(String, chrono::NaiveDateTime)> = consents::table
            .filter(consents::candidate_id.eq(&c.id))
            .select((consents::id, consents::at))
            .load(conn)?;
        for (id, at) in given {
            diesel::update(consents::table.find(id))
                .set(consents::at.eq(at - recruited))
                .execute(conn)?;
        }
    }
    let rows: Vec<(String, chrono::NaiveDateTime, chrono::NaiveDateTime)> = answers::table
        .filter(answers::round_id.eq(rating_round))
        .select((answers::id, answers::created_at, answers::updated_at))
        .load(conn)?;
    for (id, created, updated) in rows {
        diesel::update(answers::table.find(id))
            .set((
                answers::created_at.eq(created - answered),
                answers::updated_at.eq(updated - answered),
            ))
            .execute(conn)?;
    }
    type Part = (
        String,
        Option<chrono::NaiveDateTime>,
        Option<chrono::NaiveDateTime>,
        chrono::NaiveDateTime,
    );
    let parts: Vec<Part> = rp::table
        .filter(rp::round_id.eq(rating_round))
        .select((
            rp::panellist_id,
            rp::first_opened_at,
            rp::submitted_at,
            rp::updated_at,
        ))
        .load(conn)?;
    for (panellist, opened, submitted, updated) in parts {
        diesel::update(rp::table.find((rating_round, panellist)))
            .set((
                rp::first_opened_at.eq(opened.map(|t| t - answered)),
                rp::submitted_at.eq(submitted.map(|t| t - answered)),
                rp::updated_at.eq(updated - answered),
            ))
            .execute(conn)?;
    }
    Ok(())
}
