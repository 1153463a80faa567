//! The e-mail templates: `email-templates/{da,en}/<kind>/{subject.txt, letter.txt, body.txt,
//! body.html}` compiled into the binary, replaced file by file from `mail.templates_dir` when
//! set. `letter.txt` is the part a study may rewrite in its own words (its cover letter); the
//! body wraps it with the personal link and the footer.

use std::collections::HashMap;
use std::path::Path;

use minijinja::value::{Serde, Value};
use minijinja::{Environment, UndefinedBehavior, context};

use super::{Kind, MailContext, Rendered};
use crate::assets::EMAIL_TEMPLATES;
use crate::domain::{Invalid, Language};

/// A study's own subject and letter for one kind of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomLetter {
    pub subject: String,
    pub letter: String,
}

pub struct MailTemplates {
    env: Environment<'static>,
}

/// The work one render may do (about 64 bytes of output or one instruction per unit): a long
/// letter uses a few thousand.
const RENDER_FUEL: u64 = 100_000;
/// The longest message body Orakel sends.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The files under `dir`, named by their path below `root` as the built-in ones are.
fn read_dir_into(
    files: &mut HashMap<String, String>,
    root: &Path,
    dir: &Path,
) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            read_dir_into(files, root, &path)?;
        } else {
            let name = path
                .strip_prefix(root)?
                .to_string_lossy()
                .replace('\\', "/");
            let source = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            files.insert(name, source);
        }
    }
    Ok(())
}

/// An environment with the rules every render follows and no templates yet.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A study's own letter is a template its researchers write: each render gets a budget
    // of work and memory, so `{{ "a" * 100000000 }}` fails at once instead of tying up
    // the server.
    env.set_fuel(Some(RENDER_FUEL));
    env
}

/// Paragraphs of plain text as HTML: escaped, blank lines as paragraph breaks.
pub fn text_to_html(text: &str) -> String {
    use crate::i18n::escape;
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", escape(p).replace('\n', "<br>\n")))
        .collect::<Vec<_>>()
        .join("\n")
}

impl MailTemplates {
    /// The built-in templates, with those in `override_dir` (if any) in their place.
    pub fn load(override_dir: Option<&Path>) -> anyhow::Result<MailTemplates> {
        let mut overrides = HashMap::new();
        if let Some(dir) = override_dir {
            if !dir.is_dir() {
                anyhow::bail!("mail.templates_dir {} is not a directory", dir.display());
            }
            read_dir_into(&mut overrides, dir, dir)?;
        }
        // Every template is compiled, and every kind rendered with sample values, once here, so
        // that a broken override stops the start; then that environment is dropped. The one
        // kept compiles a template when a message first needs it: compiled, each holds room
        // for hundreds of instructions, most of which an instance never sends.
        {
            let mut env = environment();
            for (name, source) in EMAIL_TEMPLATES {
                env.add_template(name, source)
                    .map_err(|e| anyhow::anyhow!("built-in template {name}: {e}"))?;
            }
            for (name, source) in &overrides {
                env.add_template_owned(name.clone(), source.clone())
                    .map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
            }
            let t = MailTemplates { env };
            for lang in [Language::Da, Language::En] {
                for &kind in Kind::ALL {
                    t.render(lang, kind, &sample_context(lang), None)
                        .map_err(|e| anyhow::anyhow!("{}/{}: {e}", lang.code(), kind.as_str()))?;
                }
            }
        }
        crate::memory::give_back();
        let mut env = environment();
        env.set_loader(move |name| {
            Ok(overrides
                .get(name)
                .cloned()
                .or_else(|| crate::assets::named(EMAIL_TEMPLATES, name).map(str::to_string)))
        });
        Ok(MailTemplates { env })
    }

    /// The built-in (or overriding) subject and letter, as a starting point for a study's own.
    pub fn default_letter(&self, lang: Language, kind: Kind) -> CustomLetter {
        let source = |file: &str| {
            self.env
                .get_template(&format!("{}/{}/{file}", lang.code(), kind.as_str()))
                .map(|t| t.source().trim_end().to_string())
                .unwrap_or_default()
        };
        CustomLetter {
            subject: source("subject.txt"),
            letter: source("letter.txt"),
        }
    }

    /// Renders one message. A study's `custom` letter replaces the template's subject and letter.
    pub fn render(
        &self,
        lang: Language,
        kind: Kind,
        ctx: &MailContext,
        custom: Option<&CustomLetter>,
    ) -> Result<Rendered, String> {
        let base = format!("{}/{}", lang.code(), kind.as_str());
        let value = Value::from(Serde(ctx));
        let (subject, letter) = match custom {
            Some(c) => (
                self.env.render_str(&c.subject, value.clone()),
                self.env.render_str(&c.letter, value.clone()),
            ),
            None => (
                self.render_file(&format!("{base}/subject.txt"), value.clone()),
                self.render_file(&format!("{base}/letter.txt"), value.clone()),
            ),
        };
        let subject = subject.map_err(|e| format!("subject: {}", describe(&e)))?;
        let letter = letter.map_err(|e| format!("letter: {}", describe(&e)))?;
        let subject = subject.lines().map(str::trim).collect::<Vec<_>>().join(" ");
        if subject.chars().count() > 1000 {
            return Err("subject: the subject would be longer than 1000 characters".into());
        }
        let letter = letter.trim().to_string();
        // Links are our own URLs; shown unescaped they stay readable in the HTML source.
        let plain_url = |u: &str| !u.contains(['"', '\'', '<', '>', '&', ' ']);
        let link = if plain_url(&ctx.link) {
            Value::from_safe_string(ctx.link.clone())
        } else {
            Value::from(ctx.link.clone())
        };
        let unsubscribe_link = if plain_url(&ctx.unsubscribe_link) {
            Value::from_safe_string(ctx.unsubscribe_link.clone())
        } else {
            Value::from(ctx.unsubscribe_link.clone())
        };
        let full = context! {
            subject => subject.clone(),
            letter => letter.clone(),
            letter_html => Value::from_safe_string(text_to_html(&letter)),
            link => link,
            unsubscribe_link => unsubscribe_link,
            ..value,
        };
        let text = self
            .render_file(&format!("{base}/body.txt"), full.clone())
            .map_err(|e| format!("body.txt: {}", describe(&e)))?;
        let html = self
            .render_file(&format!("{base}/body.html"), full)
            .map_err(|e| format!("body.html: {}", describe(&e)))?;
        if text.len() > MAX_BODY_BYTES || html.len() > MAX_BODY_BYTES {
            return Err(format!(
                "letter: the message would be longer than {} KB",
                MAX_BODY_BYTES / 1024
            ));
        }
        Ok(Rendered {
            subject,
            text: text.trim().to_string() + "\n",
            html,
        })
    }

    fn render_file(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }

    /// Checks a study's own letter by rendering it with sample values.
    pub fn check_custom(
        &self,
        lang: Language,
        kind: Kind,
        custom: &CustomLetter,
    ) -> Result<Rendered, Invalid> {
        if custom.subject.trim().is_empty() {
            return Err(Invalid::one("subject", "must not be empty"));
        }
        if custom.letter.trim().is_empty() {
            return Err(Invalid::one("letter", "must not be empty"));
        }
        if custom.subject.chars().count() > 200 {
            return Err(Invalid::one("subject", "must be at most 200 characters"));
        }
        if custom.letter.chars().count() > 20_000 {
            return Err(Invalid::one("letter", "must be at most 20000 characters"));
        }
        self.render(lang, kind, &sample_context(lang), Some(custom))
            .map_err(|e| {
                let (field, message) = e.split_once(": ").unwrap_or(("letter", e.as_str()));
                Invalid::one(field, message.to_string())
            })
    }
}

/// A template error as a sentence, with the line where it occurred.
fn describe(e: &minijinja::Error) -> String {
    if e.kind() == minijinja::ErrorKind::OutOfFuel {
        return "the letter does too much work when it is filled in (a very long repetition or \
                loop); write the text out instead"
            .into();
    }
    let mut s = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    if let Some(line) = e.line() {
        s = format!("{s} (line {line})");
    }
    if e.kind() == minijinja::ErrorKind::UndefinedError {
        s = format!(
            "{s}; the names you can use are name, link, deadline, round_number, study.title, study.purpose, study.funder, study.contact"
        );
    }
    s
}

/// Values for previews and checks, with times and names as a message in `lang` has them.
pub fn sample_context(lang: Language) -> MailContext {
    let at = |s: &str| {
        let t: chrono::DateTime<chrono::Utc> = s.parse().expect("a fixed moment");
        crate::i18n::long_datetime(t, lang.code(), crate::i18n::zone::DEFAULT)
    };
    let da = lang == Language::Da;
    MailContext {
        study: super::StudyFacts {
            title: "Mental health at work".into(),
            purpose: "Which initiatives matter most?".into(),
            funder: "A funder".into(),
            contact: "research@example.org".into(),
        },
        name: if da { "Anne Eksempel" } else { "Anne Example" }.into(),
        link: "https://orakel.example/p/EXAMPLE".into(),
        unsubscribe_link: "https://orakel.example/unsubscribe/EXAMPLE".into(),
        deadline: at("2017-11-24T22:59:00Z"),
        round_number: 2,
        validation: true,
        rating: true,
        extra: [
            ("appointment".to_string(), at("2017-11-14T09:00:00Z")),
            ("minutes".to_string(), "60".to_string()),
            (
                "interviewer".to_string(),
                if da { "Anna Forsker" } else { "Anna Fielding" }.to_string(),
            ),
            (
                "sharer".to_string(),
                if da { "Anna Forsker" } else { "Anna Fielding" }.to_string(),
            ),
            ("email".to_string(), "anne@example.org".to_string()),
            ("new_account".to_string(), "true".to_string()),
            ("posts".to_string(), "3".to_string()),
            ("themes".to_string(), "2".to_string()),
        ]
        .into(),
    }
}

/// One name a letter can use: its code as written in the letter, the key of its explanation in
/// the `letters` texts, and the value a preview fills in.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LetterName {
    pub code: String,
    pub text: &'static str,
    pub example: String,
}

/// The help beside a letter's text: the names it can use, and the conditions it can test
/// (`example` empty).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LetterHelp {
    pub names: Vec<LetterName>,
    pub conditions: Vec<LetterName>,
}

/// What a letter of `kind` can say, with `sample`'s values as the examples.
pub fn letter_help(kind: Kind, sample: &MailContext) -> LetterHelp {
    let name = |code: &str, text: &'static str, example: String| LetterName {
        code: format!("{{{{ {code} }}}}"),
        text,
        example,
    };
    let condition = |test: &str, text: &'static str| LetterName {
        code: format!("{{% if {test} %}}…{{% endif %}}"),
        text,
        example: String::new(),
    };
    let s = &sample.study;
    let mut names = vec![
        name("name", "var_name", sample.name.clone()),
        name("study.title", "var_study_title", s.title.clone()),
        name("study.purpose", "var_study_purpose", s.purpose.clone()),
        name("study.funder", "var_study_funder", s.funder.clone()),
        name("study.contact", "var_study_contact", s.contact.clone()),
    ];
    let mut conditions = vec![condition("study.funder", "condition_funder")];
    if matches!(
        kind,
        Kind::RoundInvitation | Kind::RoundReminder | Kind::RoundExtended
    ) {
        names.push(name(
            "round_number",
            "var_round_number",
            sample.round_number.to_string(),
        ));
        names.push(name("deadline", "var_deadline", sample.deadline.clone()));
        conditions.push(condition("validation", "condition_validation"));
        conditions.push(condition("rating", "condition_rating"));
        conditions.push(condition(
            "extra.questionnaire is defined",
            "condition_questionnaire",
        ));
    }
    if kind == Kind::Appointment {
        for (key, text) in [
            ("appointment", "var_appointment"),
            ("minutes", "var_minutes"),
            ("interviewer", "var_interviewer"),
        ] {
            let example = sample.extra.get(key).cloned().unwrap_or_default();
            names.push(name(&format!("extra.{key}"), text, example));
        }
    }
    if kind == Kind::DiscussionDigest {
        for (key, text) in [("posts", "var_posts"), ("themes", "var_themes")] {
            let example = sample.extra.get(key).cloned().unwrap_or_default();
            names.push(name(&format!("extra.{key}"), text, example));
        }
    }
    LetterHelp { names, conditions }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_condition_the_help_lists_works_in_its_letter() {
        let t = MailTemplates::load(None).unwrap();
        for lang in [Language::Da, Language::En] {
            for kind in Kind::letters() {
                let help = letter_help(kind, &sample_context(lang));
                let letter = help
                    .names
                    .iter()
                    .chain(&help.conditions)
                    .map(|n| n.code.replace('…', "x"))
                    .collect::<Vec<_>>()
                    .join("\n");
                let custom = CustomLetter {
                    subject: "S".into(),
                    letter: letter.clone(),
                };
                t.check_custom(lang, kind, &custom)
                    .unwrap_or_else(|e| panic!("{kind:?}: {e:?}\n{letter}"));
                let r = t
                    .render(lang, kind, &sample_context(lang), Some(&custom))
                    .unwrap();
                for n in &help.names {
                    assert!(
                        r.text.contains(&n.example),
                        "{kind:?} {}: {}",
                        n.code,
                        r.text
                    );
                }
                for n in help.names.iter().chain(&help.conditions) {
                    let key = format!("letters.{}", n.text);
                    assert!(crate::i18n::has_text(lang.code(), &key), "{key}");
                }
            }
        }
    }

    #[test]
    fn every_kind_renders_in_both_languages() {
        let t = MailTemplates::load(None).unwrap();
        for lang in [Language::Da, Language::En] {
            for kind in Kind::letters() {
                let r = t.render(lang, kind, &sample_context(lang), None).unwrap();
                assert!(!r.subject.is_empty());
                assert!(
                    r.text.contains("https://orakel.example/p/EXAMPLE"),
                    "{kind:?}"
                );
                assert!(
                    r.html.contains("https://orakel.example/p/EXAMPLE"),
                    "{kind:?}"
                );
                assert!(r.text.contains("/unsubscribe"), "{kind:?}");
                assert!(!r.text.contains("{{") && !r.html.contains("{%"));
            }
        }
    }

    #[test]
    fn the_invitation_snapshot() {
        let t = MailTemplates::load(None).unwrap();
        let r = t
            .render(
                Language::Da,
                Kind::Invitation,
                &sample_context(Language::Da),
                None,
            )
            .unwrap();
        assert_eq!(
            r.subject,
            "Invitation: ekspertpanel om Mental health at work"
        );
        // The whole plain-text body, so any change to the letter is a visible diff.
        // UPDATE_SNAPSHOTS=1 rewrites the file after a deliberate change.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/mail/snapshots/invitation.da.txt"
        );
        if std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
            std::fs::write(path, &r.text).unwrap();
        }
        let expected = std::fs::read_to_string(path).unwrap();
        assert_eq!(r.text, expected);
    }

    #[test]
    fn a_message_to_researchers_has_no_personal_link_footer() {
        let t = MailTemplates::load(None).unwrap();
        for lang in [Language::Da, Language::En] {
            let r = t
                .render(lang, Kind::RetentionWarning, &sample_context(lang), None)
                .unwrap();
            assert!(r.subject.contains("Mental health at work"));
            assert!(r.text.contains("https://orakel.example/p/EXAMPLE"));
            assert!(r.text.contains("Orakel"));
            assert!(!r.text.contains("/unsubscribe") && !r.html.contains("/unsubscribe"));
        }
    }

    /// Every kind in both languages, subject, text and HTML, against `snapshots/` — so any
    /// change to what people receive is a visible diff. `UPDATE_SNAPSHOTS=1` rewrites them
    /// after a deliberate change. The sample values are fixed, so nothing needs masking.
    #[test]
    fn every_kind_and_language_matches_its_snapshot() {
        let t = MailTemplates::load(None).unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/mail/snapshots");
        let update = std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1");
        let mut differ = Vec::new();
        for lang in [Language::Da, Language::En] {
            for &kind in Kind::ALL {
                let r = t.render(lang, kind, &sample_context(lang), None).unwrap();
                let got = format!(
                    "Subject: {}\n\n{}\n-- HTML --\n{}",
                    r.subject, r.text, r.html
                );
                let path = format!("{dir}/{}.{}.eml.txt", kind.as_str(), lang.code());
                if update {
                    std::fs::write(&path, &got).unwrap();
                }
                let expected = std::fs::read_to_string(&path).unwrap_or_default();
                if got != expected {
                    differ.push(path);
                }
            }
        }
        assert!(differ.is_empty(), "differ from their snapshots: {differ:?}");
    }

    #[test]
    fn html_escapes_what_people_typed() {
        let t = MailTemplates::load(None).unwrap();
        let mut ctx = sample_context(Language::Da);
        ctx.study.title = "<script>alert(1)</script> & Co".into();
        ctx.name = "<b>Eve</b>".into();
        let r = t
            .render(Language::En, Kind::Invitation, &ctx, None)
            .unwrap();
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(!r.html.contains("<b>Eve</b>"));
    }

    #[test]
    fn a_study_letter_replaces_the_default_and_is_checked() {
        let t = MailTemplates::load(None).unwrap();
        let custom = CustomLetter {
            subject: "Vil du være med, {{ name }}?".into(),
            letter: "Kære {{ name }}\n\nVores egne ord.".into(),
        };
        let r = t
            .check_custom(Language::Da, Kind::Invitation, &custom)
            .unwrap();
        assert_eq!(r.subject, "Vil du være med, Anne Eksempel?");
        assert!(r.text.starts_with("Kære Anne Eksempel\n\nVores egne ord."));
        assert!(r.html.contains("<p>Vores egne ord.</p>"));
        let bad = CustomLetter {
            subject: "x".into(),
            letter: "Kære {{ nmae }}".into(),
        };
        let err = t
            .check_custom(Language::Da, Kind::Invitation, &bad)
            .unwrap_err();
        assert_eq!(err.0[0].field, "letter");
        assert!(err.0[0].message.contains("names you can use"), "{err}");
        let bad = CustomLetter {
            subject: "x".into(),
            letter: "{% if %}".into(),
        };
        assert!(
            t.check_custom(Language::Da, Kind::Invitation, &bad)
                .is_err()
        );
    }

    #[test]
    fn a_directory_overrides_the_built_in_templates() {
        let dir = std::env::temp_dir().join(format!("orakel-tpl-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("en/invitation")).unwrap();
        std::fs::write(
            dir.join("en/invitation/subject.txt"),
            "Our own subject for {{ study.title }}",
        )
        .unwrap();
        let t = MailTemplates::load(Some(&dir)).unwrap();
        let r = t
            .render(
                Language::En,
                Kind::Invitation,
                &sample_context(Language::En),
                None,
            )
            .unwrap();
        assert_eq!(r.subject, "Our own subject for Mental health at work");
        assert!(
            r.text.contains("Dear Anne Example"),
            "the other files stay built in"
        );
        // A broken override stops the start with its name.
        std::fs::write(dir.join("en/invitation/subject.txt"), "{{ nope").unwrap();
        let err = MailTemplates::load(Some(&dir)).err().unwrap().to_string();
        assert!(err.contains("invitation"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn text_becomes_paragraphs() {
        assert_eq!(
            text_to_html("a\nb\n\nc <d>"),
            "<p>a<br>\nb</p>\n<p>c &lt;d&gt;</p>"
        );
    }
}
