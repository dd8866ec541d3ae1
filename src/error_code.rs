//! Every stable machine code an error answer can carry. This list is the only place a code is
//! spelled: clients match on these strings, so a code once published is never renamed. Each
//! code's short summary (the RFC 9457 `title`) is in the language catalogue, as
//! `problem_{code}` (hyphens as underscores), in every language.

use serde::Serialize;

macro_rules! error_codes {
    ($($variant:ident = $code:literal;)*) => {
        /// A stable machine code, answered as the `code` member of a problem document.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of this list.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as clients read it (`invalid-json`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

        }
    };
}

error_codes! {
    // Requests that are not of the API's form.
    NoRoute = "no-route";
    MethodNotAllowed = "method-not-allowed";
    InvalidJson = "invalid-json";
    InvalidQuery = "invalid-query";
    InvalidPath = "invalid-path";
    InvalidCharacter = "invalid-character";
    InvalidField = "invalid-field";
    BodyTooLarge = "body-too-large";
    WrongContentType = "wrong-content-type";
    // Credentials and permissions.
    MissingToken = "missing-token";
    InvalidToken = "invalid-token";
    SessionEnded = "session-ended";
    Forbidden = "forbidden";
    NotAdmitted = "not-admitted";
    MemberRequired = "member-required";
    TooManyAttempts = "too-many-attempts";
    SlowDown = "slow-down";
    SignOnRefused = "sign-on-refused";
    SignOnUnavailable = "sign-on-unavailable";
    // What a request names, missing.
    NotFound = "not-found";
    AssetNotFound = "asset-not-found";
    BlobNotFound = "blob-not-found";
    CatalogueNotFound = "catalogue-not-found";
    DirNotFound = "dir-not-found";
    DiscNotFound = "disc-not-found";
    FileNotFound = "file-not-found";
    LinkNotFound = "link-not-found";
    MemberNotFound = "member-not-found";
    UnknownMember = "unknown-member";
    PartNotFound = "part-not-found";
    TrackNotFound = "track-not-found";
    TitleNotFound = "title-not-found";
    SegmentNotFound = "segment-not-found";
    UploadNotFound = "upload-not-found";
    NoSuchTable = "no-such-table";
    NoDisc = "no-disc";
    NoLaunchTarget = "no-launch-target";
    // Values that are not acceptable.
    InvalidCatalogue = "invalid-catalogue";
    InvalidExpiry = "invalid-expiry";
    InvalidIsbn = "invalid-isbn";
    NotAnIsbn = "not-an-isbn";
    InvalidLookup = "invalid-lookup";
    InvalidManifest = "invalid-manifest";
    InvalidNetwork = "invalid-network";
    TooManyNetworks = "too-many-networks";
    InvalidOffCampus = "invalid-off-campus";
    InvalidIdentity = "invalid-identity";
    InvalidPattern = "invalid-pattern";
    InvalidSample = "invalid-sample";
    InvalidSha256 = "invalid-sha256";
    MissingSha256 = "missing-sha256";
    DuplicateFile = "duplicate-file";
    TooManyFiles = "too-many-files";
    ZipTooLarge = "zip-too-large";
    // Disc images.
    ImageNotIndexed = "image-not-indexed";
    ImageNotReadable = "image-not-readable";
    UnrecognisedImage = "unrecognised-image";
    UnsupportedImageFormat = "unsupported-image-format";
    ImageTruncated = "image-truncated";
    ImageMalformed = "image-malformed";
    ImageLimitExceeded = "image-limit-exceeded";
    ImagePartMissing = "image-part-missing";
    UnexpectedParts = "unexpected-parts";
    ImageFailedFixity = "image-failed-fixity";
    ImageReadFailed = "storage-error";
    DiscConflict = "disc-conflict";
    // Registering bytes a member did not upload.
    PossessionUnproven = "possession-unproven";
    PossessionNotProven = "possession-not-proven";
    ChallengeNotFound = "challenge-not-found";
    // Playing.
    CannotPlay = "cannot-play";
    Preparing = "preparing";
    // Running discs in the browser.
    EnvironmentNotFound = "environment-not-found";
    InvalidEnvironment = "invalid-environment";
    CannotEmulate = "cannot-emulate";
    // Downloads.
    RangeNotSatisfiable = "range-not-satisfiable";
    PreconditionFailed = "precondition-failed";
    // Uploads (tus).
    TusVersion = "tus-version";
    MissingUploadLength = "missing-upload-length";
    InvalidUploadLength = "invalid-upload-length";
    InvalidUploadOffset = "invalid-upload-offset";
    InvalidContentLength = "invalid-content-length";
    InvalidMetadata = "invalid-metadata";
    EmptyUpload = "empty-upload";
    UploadTooLarge = "upload-too-large";
    TooManyUploads = "too-many-uploads";
    TooManyBytesPending = "too-many-bytes-pending";
    UploadExceedsLength = "upload-exceeds-length";
    OffsetMismatch = "offset-mismatch";
    UploadComplete = "upload-complete";
    UploadLocked = "upload-locked";
    UploadTakenOver = "upload-taken-over";
    UploadExpired = "upload-expired";
    UploadTerminated = "upload-terminated";
    UploadFailed = "upload-failed";
    BodyInterrupted = "body-interrupted";
    BodyIdle = "body-idle";
    HashMismatch = "hash-mismatch";
    SizeMismatch = "size-mismatch";
    // The server's own state.
    Internal = "internal";
    DatabaseUnavailable = "database-unavailable";
    StorageUnavailable = "storage-unavailable";
    StorageFull = "storage-full";
    BlobMissing = "blob-missing";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl ErrorCode {
    /// The catalogue key of the code's title.
    fn title_key(self) -> String {
        format!("problem_{}", self.as_str().replace('-', "_"))
    }

    /// What the problem is, in a few words (RFC 9457 `title`), in `lang` (`en`, `zh-CN`).
    pub fn title(self, lang: &str) -> &'static str {
        crate::i18n::table(lang)
            .get(self.title_key())
            .and_then(|v| v.as_str())
            .unwrap_or(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_are_unique_kebab_case_with_titles() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} is listed twice");
            assert!(
                s.split('-').all(|w| !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                "{s} is not kebab-case"
            );
            for (lang, _) in crate::i18n::LANGUAGES {
                let title = code.title(lang);
                assert_ne!(title, s, "{s} has no title in {lang}");
            }
        }
    }
}
