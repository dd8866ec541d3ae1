//! Every stable machine code an error answer can carry, with the short summary (the RFC 9457
//! `title`) of each. This list is the only place a code is spelled: clients match on these
//! strings, so a code once published is never renamed.

use serde::Serialize;

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $title:literal;)*) => {
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

            /// What the problem is, in a few words (RFC 9457 `title`).
            pub const fn title(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $title,)*
                }
            }
        }
    };
}

error_codes! {
    // Requests that are not of the API's form.
    NoRoute = "no-route", "There is no such resource";
    MethodNotAllowed = "method-not-allowed", "The resource does not answer this method";
    InvalidJson = "invalid-json", "The JSON body is not what this operation takes";
    InvalidQuery = "invalid-query", "The query string is not what this operation takes";
    InvalidPath = "invalid-path", "The address is not what this operation takes";
    InvalidCharacter = "invalid-character", "The request holds a NUL character";
    InvalidField = "invalid-field", "A field's value is not acceptable";
    BodyTooLarge = "body-too-large", "The request body is too large";
    WrongContentType = "wrong-content-type", "The request body has the wrong content type";
    // Credentials and permissions.
    MissingToken = "missing-token", "No credential was given";
    InvalidToken = "invalid-token", "The credential is not valid";
    SessionEnded = "session-ended", "The staff session has ended";
    Forbidden = "forbidden", "The caller may not do this";
    NotAdmitted = "not-admitted", "The disc is for readers of its library";
    MemberRequired = "member-required", "The operation needs a member";
    TooManyAttempts = "too-many-attempts", "Too many refused credentials from this address";
    SlowDown = "slow-down", "Too many expensive requests from this address";
    // What a request names, missing.
    NotFound = "not-found", "Not found";
    AssetNotFound = "asset-not-found", "No such asset";
    BlobNotFound = "blob-not-found", "No stored blob has this hash";
    CatalogueNotFound = "catalogue-not-found", "The member has no catalogue connection";
    DirNotFound = "dir-not-found", "No such folder on the disc";
    DiscNotFound = "disc-not-found", "No such disc";
    FileNotFound = "file-not-found", "No such file on the disc";
    LinkNotFound = "link-not-found", "No such catalogue link";
    MemberNotFound = "member-not-found", "No such member";
    UnknownMember = "unknown-member", "The member named is not known";
    PartNotFound = "part-not-found", "No such part of the image";
    TrackNotFound = "track-not-found", "No such audio track";
    UploadNotFound = "upload-not-found", "No such upload";
    NoSuchTable = "no-such-table", "No such statistics table";
    NoDisc = "no-disc", "No disc matches";
    NoLaunchTarget = "no-launch-target", "The disc has nothing to launch";
    // Values that are not acceptable.
    InvalidCatalogue = "invalid-catalogue", "The catalogue settings are not valid";
    InvalidExpiry = "invalid-expiry", "The expiry is not acceptable";
    InvalidIsbn = "invalid-isbn", "The ISBN is not valid";
    NotAnIsbn = "not-an-isbn", "The value is not an ISBN";
    InvalidLookup = "invalid-lookup", "The lookup names nothing to look for";
    InvalidManifest = "invalid-manifest", "The upload manifest is not valid";
    InvalidNetwork = "invalid-network", "A network range is not valid";
    TooManyNetworks = "too-many-networks", "Too many network ranges";
    InvalidPattern = "invalid-pattern", "The pattern is not valid";
    InvalidSample = "invalid-sample", "The sample of the image is not usable";
    InvalidSha256 = "invalid-sha256", "The SHA-256 is not 64 hexadecimal digits";
    MissingSha256 = "missing-sha256", "The upload does not declare its SHA-256";
    DuplicateFile = "duplicate-file", "The same file is named twice";
    TooManyFiles = "too-many-files", "Too many files";
    ZipTooLarge = "zip-too-large", "The folder is too large to zip";
    // Disc images.
    ImageNotIndexed = "image-not-indexed", "The disc image has not been read yet";
    ImageNotReadable = "image-not-readable", "The disc image could not be read";
    UnrecognisedImage = "unrecognised-image", "The file is not a disc image Spindle reads";
    UnsupportedImageFormat = "unsupported-image-format", "The disc image's format is not supported";
    ImageTruncated = "image-truncated", "The disc image is cut short";
    ImageMalformed = "image-malformed", "The disc image is malformed";
    ImageLimitExceeded = "image-limit-exceeded", "The disc image exceeds what one image may hold";
    ImagePartMissing = "image-part-missing", "A part the CUE sheet names is missing";
    UnexpectedParts = "unexpected-parts", "Parts were given for an image that has none";
    ImageFailedFixity = "image-failed-fixity", "The stored image failed its integrity check";
    ImageReadFailed = "storage-error", "The storage failed again and again while the image was read";
    DiscConflict = "disc-conflict", "The disc is already registered differently";
    // Downloads.
    RangeNotSatisfiable = "range-not-satisfiable", "The range is outside the resource";
    PreconditionFailed = "precondition-failed", "A precondition of the request failed";
    // Uploads (tus).
    TusVersion = "tus-version", "The tus protocol version is not supported";
    MissingUploadLength = "missing-upload-length", "The upload does not declare its length";
    InvalidUploadLength = "invalid-upload-length", "Upload-Length is not a number";
    InvalidUploadOffset = "invalid-upload-offset", "Upload-Offset is not a number";
    InvalidContentLength = "invalid-content-length", "Content-Length is not a number";
    InvalidMetadata = "invalid-metadata", "Upload-Metadata is not valid";
    EmptyUpload = "empty-upload", "An upload must hold at least one byte";
    UploadTooLarge = "upload-too-large", "The upload is larger than allowed";
    UploadExceedsLength = "upload-exceeds-length", "The body goes past the declared length";
    OffsetMismatch = "offset-mismatch", "Upload-Offset is not the upload's offset";
    UploadComplete = "upload-complete", "The upload is already complete";
    UploadLocked = "upload-locked", "Another request is sending this upload";
    UploadTakenOver = "upload-taken-over", "Another node took this upload over";
    UploadExpired = "upload-expired", "The upload expired";
    UploadTerminated = "upload-terminated", "The upload was terminated";
    UploadFailed = "upload-failed", "The upload failed";
    BodyInterrupted = "body-interrupted", "The request body ended early";
    BodyIdle = "body-idle", "The request body stopped arriving";
    HashMismatch = "hash-mismatch", "The bytes do not have the declared SHA-256";
    SizeMismatch = "size-mismatch", "The bytes do not have the declared size";
    // The server's own state.
    Internal = "internal", "Internal error";
    DatabaseUnavailable = "database-unavailable", "The database is unavailable";
    StorageUnavailable = "storage-unavailable", "The storage is unavailable";
    StorageFull = "storage-full", "The disc store is full";
    BlobMissing = "blob-missing", "A stored image is missing";
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
            assert!(!code.title().is_empty());
        }
    }
}
