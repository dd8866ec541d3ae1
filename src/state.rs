//! The states and kinds the database stores as words, as enums: one spelling each, checked
//! when a row is read (they decode from a text column on either database; bind them with
//! `as_str`) and by the migrations' CHECKs, so no code compares a state as a string.

use std::fmt;
use std::str::FromStr;

/// A stored word that names none of an enum's values (a row written by a newer version, or
/// edited by hand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState {
    pub kind: &'static str,
    pub text: String,
}

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a known {}", self.text, self.kind)
    }
}

impl std::error::Error for UnknownState {}

macro_rules! stored {
    ($(#[$meta:meta])* $name:ident: $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The word the database stores and the API answers.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;

            fn from_str(s: &str) -> Result<Self, UnknownState> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownState { kind: $what, text: s.to_string() }),
                }
            }
        }

        /// Read from a text column, on either database; an unknown word is a decode error.
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<&'r str as sqlx::Decode<'r, DB>>::decode(value)?.parse()?)
            }
        }
    };
}

stored! {
    /// Where a resumable upload is (`uploads.state`).
    UploadState: "upload state" {
        /// Receiving parts.
        Pending = "pending",
        /// Every byte arrived and hashed as promised; the blob is stored.
        Complete = "complete",
        /// The bytes did not hash as promised, or could not be stored.
        Failed = "failed",
        /// Nobody finished it in time; the sweeper aborted it.
        Expired = "expired",
        /// The client ended it (tus termination).
        Terminated = "terminated",
    }
}

stored! {
    /// Where an upload's bytes go while it is open (`uploads.target_kind`).
    TargetKind: "upload target" {
        /// Nowhere: the consortium had the blob already.
        None = "none",
        /// An S3 multipart upload.
        Multipart = "multipart",
        /// A staging file of the local store.
        Staging = "staging",
    }
}

stored! {
    /// How far an image's reading has come (`images.status`).
    ImageStatus: "image status" {
        Pending = "pending",
        Indexing = "indexing",
        Indexed = "indexed",
        Failed = "failed",
    }
}

stored! {
    /// A disc's linking to its catalogue record (`discs.link_status`).
    LinkStatus: "link status" {
        /// The member has no catalogue configured.
        NoCatalogue = "no-catalogue",
        /// Waiting for a linker.
        Pending = "pending",
        /// Linked to one record, surely or by a librarian.
        Linked = "linked",
        /// Candidates wait for a librarian.
        Review = "review",
        /// The catalogue has no record for the disc's identifiers.
        Unmatched = "unmatched",
        /// The catalogue could not be asked.
        Failed = "failed",
    }
}

impl LinkStatus {
    /// Needs a librarian: candidates to review, nothing found, or the catalogue failed.
    pub fn wants_attention(self) -> bool {
        matches!(
            self,
            LinkStatus::Review | LinkStatus::Unmatched | LinkStatus::Failed
        )
    }
}

stored! {
    /// One candidate record's standing for a disc (`disc_links.state`).
    LinkState: "link state" {
        Linked = "linked",
        Review = "review",
        Rejected = "rejected",
    }
}

stored! {
    /// What an entry of a disc's file table is (`files.kind`).
    FileKind: "file kind" {
        File = "file",
        Dir = "dir",
        Symlink = "symlink",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_strangers_are_named() {
        for s in LinkStatus::ALL {
            assert_eq!(s.as_str().parse::<LinkStatus>(), Ok(*s));
            assert_eq!(
                serde_json::to_value(s).expect("json"),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(
            "done"
                .parse::<UploadState>()
                .expect_err("unknown")
                .to_string(),
            "\"done\" is not a known upload state"
        );
    }
}
