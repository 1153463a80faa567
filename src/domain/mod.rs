//! Orakel's rules as pure types and functions: what a valid study, scale, consensus rule,
//! candidate or answer is, and the statistics. No I/O happens here.

pub mod agreement;
pub mod candidate;
pub mod codebook;
pub mod compare;
pub mod csv_import;
pub mod moment;
pub mod protocol;
pub mod robustness;
pub mod round;
pub mod states;
pub mod stats;
pub mod study;
pub mod text;
pub mod validation;

pub use study::{ConsensusRule, DontKnow, Language, Scale, StudySettings};
pub use validation::{FieldError, Invalid};
