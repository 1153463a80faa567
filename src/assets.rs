//! The files built into the binary (see `build.rs`): e-mail templates, page templates, the
//! texts in Danish and English, and the static files, so Orakel runs from any directory with
//! nothing beside it.

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

pub use embedded::{EMAIL_TEMPLATES, PAGE_TEMPLATES, STATIC_FILES, TRANSLATIONS};

/// The file named `name` among `files` (one of the lists above).
pub fn named(files: &[(&str, &'static str)], name: &str) -> Option<&'static str> {
    files
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, body)| *body)
}
