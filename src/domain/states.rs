//! The states and kinds of things that are stored as words: a message in the outbox and its kind, a theme in the
//! codebook, an interview appointment, a consent decision. Each has one spelling, here.

use serde::{Deserialize, Serialize};

/// An enum whose values are stored and sent as fixed words.
macro_rules! words {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident => $word:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vm])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|x| x.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words! {
    /// The kinds of message Orakel sends: to candidates and panellists, and to researchers.
    pub enum MessageKind {
        /// The cover letter inviting a candidate.
        Invitation => "invitation",
        /// To invited candidates who have not answered.
        Reminder => "reminder",
        /// Thanks after consent.
        Confirmation => "confirmation",
        /// A round has opened.
        RoundInvitation => "round_invitation",
        /// Before a round's deadline, to those who have not submitted.
        RoundReminder => "round_reminder",
        /// A round's deadline moved.
        RoundExtended => "round_extended",
        /// A proposed or agreed interview time, with a calendar invitation.
        Appointment => "appointment",
        /// To a study's owners, before its retention date erases identities and transcripts.
        RetentionWarning => "retention_warning",
        /// To a funder: a study's report is shared with their account.
        FunderAccess => "funder_access",
        /// Once a day to panellists who asked: how many posts the panel's discussion has had.
        DiscussionDigest => "discussion_digest",
    }
}

impl MessageKind {
    /// Whether a study may write this message in its own words: every message to candidates and
    /// panellists is a letter; what Orakel tells researchers is not.
    pub fn is_letter(self) -> bool {
        !matches!(
            self,
            MessageKind::RetentionWarning | MessageKind::FunderAccess
        )
    }

    /// The letters, in order.
    pub fn letters() -> impl Iterator<Item = MessageKind> {
        MessageKind::ALL.iter().copied().filter(|k| k.is_letter())
    }

    /// A kind of letter a study may rewrite, by name.
    pub fn letter(name: &str) -> Option<MessageKind> {
        MessageKind::parse(name).filter(|k| k.is_letter())
    }
}

words! {
    /// Where a message is on its way out.
    pub enum MessageState {
        Queued => "queued",
        /// A worker holds it for delivery.
        Sending => "sending",
        Sent => "sent",
        /// Given up (refused, or too many attempts), or no longer wanted.
        Failed => "failed",
    }
}

words! {
    /// A theme of the codebook: in use, or ended by one of the revisions.
    pub enum ThemeStatus {
        Active => "active",
        Merged => "merged",
        Split => "split",
        Dropped => "dropped",
    }
}

words! {
    /// An interview appointment.
    pub enum AppointmentState {
        Proposed => "proposed",
        Agreed => "agreed",
        Done => "done",
        Cancelled => "cancelled",
    }
}

words! {
    /// What a candidate answered to the invitation.
    pub enum Decision {
        Accepted => "accepted",
        Declined => "declined",
    }
}

words! {
    /// What a personal link may be used for: a person's link opens everything of theirs; an
    /// unsubscribe link (the one in `List-Unsubscribe`, which mail providers may fetch) can only
    /// stop mail.
    pub enum Purpose {
        Access => "access",
        Unsubscribe => "unsubscribe",
    }
}
