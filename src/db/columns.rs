//! Enums stored as text columns: each written from and read into its domain type here, so no
//! state, kind or role is ever compared as a string.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, Text};

/// A domain enum that is stored as its `as_str()`.
pub trait TextColumn: Sized + Copy {
    fn as_column(self) -> &'static str;
    fn from_column(s: &str) -> Option<Self>;
    const WHAT: &'static str;
}

macro_rules! text_column {
    ($t:ty) => {
        impl AsExpression<Text> for $t {
            type Expression = <String as AsExpression<Text>>::Expression;
            fn as_expression(self) -> Self::Expression {
                <String as AsExpression<Text>>::as_expression(self.as_column().to_string())
            }
        }
        impl<'a> AsExpression<Text> for &'a $t {
            type Expression = <String as AsExpression<Text>>::Expression;
            fn as_expression(self) -> Self::Expression {
                <String as AsExpression<Text>>::as_expression(self.as_column().to_string())
            }
        }
        impl AsExpression<Nullable<Text>> for $t {
            type Expression = <String as AsExpression<Nullable<Text>>>::Expression;
            fn as_expression(self) -> Self::Expression {
                <String as AsExpression<Nullable<Text>>>::as_expression(
                    self.as_column().to_string(),
                )
            }
        }
        impl<'a> AsExpression<Nullable<Text>> for &'a $t {
            type Expression = <String as AsExpression<Nullable<Text>>>::Expression;
            fn as_expression(self) -> Self::Expression {
                <String as AsExpression<Nullable<Text>>>::as_expression(
                    self.as_column().to_string(),
                )
            }
        }
        impl<DB> ToSql<Text, DB> for $t
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_column(), out)
            }
        }
        impl<DB> FromSql<Text, DB> for $t
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let row = <String as FromSql<Text, DB>>::from_sql(bytes)?;
                <$t as TextColumn>::from_column(&row).ok_or_else(|| {
                    format!(
                        "{} {row:?} is not one Orakel knows",
                        <$t as TextColumn>::WHAT
                    )
                    .into()
                })
            }
        }
        impl<DB> Queryable<Text, DB> for $t
        where
            DB: Backend,
            $t: FromSql<Text, DB>,
        {
            type Row = $t;
            fn build(row: $t) -> deserialize::Result<Self> {
                Ok(row)
            }
        }
    };
}

/// An enum with `as_str` and `parse`, stored as that text.
macro_rules! stored_as_text {
    ($t:ty, $what:literal) => {
        stored_as_text!($t, $what, parse);
    };
    ($t:ty, $what:literal, $parse:ident) => {
        impl TextColumn for $t {
            fn as_column(self) -> &'static str {
                self.as_str()
            }
            fn from_column(s: &str) -> Option<Self> {
                Self::$parse(s)
            }
            const WHAT: &'static str = $what;
        }
        text_column!($t);
    };
}

stored_as_text!(crate::domain::round::State, "the round state");
stored_as_text!(crate::domain::round::Kind, "the round kind");
stored_as_text!(crate::domain::round::Mode, "the round mode");
stored_as_text!(crate::domain::candidate::Status, "the candidate status");
stored_as_text!(crate::domain::study::Role, "the role", from_stored);
stored_as_text!(crate::domain::states::MessageState, "the message state");
stored_as_text!(crate::domain::states::ThemeStatus, "the theme status");
stored_as_text!(
    crate::domain::states::AppointmentState,
    "the appointment state"
);
stored_as_text!(crate::domain::states::Decision, "the consent decision");
stored_as_text!(crate::domain::states::Purpose, "the link's purpose");
stored_as_text!(
    crate::domain::candidate::DeclineCategory,
    "the decline category",
    parse
);
stored_as_text!(crate::domain::states::MessageKind, "the message kind");
