//! The authorisation matrix, on both backend pairs: every endpoint asked by each kind of
//! caller, with the status each must get. Ids of another member's discs, uploads and reviews
//! in paths, queries and bodies (IDOR) are refused; a reader's address counts only through
//! the trusted proxy; a signed link opens its disc and nothing else.

use crate::common;

use anyhow::{Context, Result};
use common::{Backend, TestApp, iso_image};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

on_both_backends!(authorisation_matrix);

/// Who asks. Readers come through the trusted proxy (127.0.0.1) with their address in
/// X-Forwarded-For; staff send their bearer token and carry a signed-in page session.
const ROLES: [&str; 11] = [
    "anonymous",
    "reader in A's ranges",
    "reader outside",
    "signed link to dA",
    "librarian A",
    "librarian B",
    "admin",
    "librarian A by CAS",
    "reader of A by CAS, outside",
    "reader of B by OpenID Connect, outside",
    "reader of C by proxy headers, outside",
];

/// method, path, body (`{…}` JSON, `form:` a staff form with the role's form token, `tus:`
/// an empty tus PATCH), and
/// the status for each role in [`ROLES`] order. Placeholders: {dA} {dB} (closed discs of A
/// and B), {uA} (an upload of A's), {shaA} (the bytes of dA), {keyA} (A's SUSHI key).
const MATRIX: &[(&str, &str, &str, [u16; 11])] = &[
    // Operations. Metrics only from the configured addresses (loopback here).
    (
        "GET",
        "/healthz",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "GET",
        "/readyz",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "GET",
        "/metrics",
        "",
        [200, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403],
    ),
    // The API's description of itself is public.
    (
        "GET",
        "/api/v1/openapi.json",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "GET",
        "/api/v1/problems",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    // The home page is everyone's (what it lists depends on who asks).
    (
        "GET",
        "/",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    // A link in the path that is no link opens nothing (the role's own access still holds);
    // the path form takes only disc addresses.
    (
        "GET",
        "/g/x/api/v1/discs/{dA}/files/data.bin",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    (
        "GET",
        "/g/x/staff/stats",
        "",
        [404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404],
    ),
    // Reader pages: A's closed disc opens for A's readers, its link, A's staff and admins.
    (
        "GET",
        "/search?q=disc",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "GET",
        "/discs/{dA}",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    (
        "GET",
        "/discs/{dA}/browse/",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    (
        "GET",
        "/discs/{dA}/browse",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    // A file in the browser redirects to its download, once admitted.
    (
        "GET",
        "/discs/{dA}/browse/data.bin",
        "",
        [403, 303, 403, 303, 303, 403, 303, 303, 303, 403, 403],
    ),
    (
        "GET",
        "/discs/{dB}",
        "",
        [403, 403, 403, 403, 403, 200, 200, 403, 403, 200, 403],
    ),
    (
        "GET",
        "/discs/{dB}/browse/",
        "",
        [403, 403, 403, 403, 403, 200, 200, 403, 403, 200, 403],
    ),
    // The disc API and its content.
    (
        "GET",
        "/api/v1/discs/{dA}",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/image",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/files/",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/files",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/files/data.bin",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/tree",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/zip",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    // A zip is of a folder; data.bin is a file.
    (
        "GET",
        "/api/v1/discs/{dA}/zip/data.bin",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    // This disc has nothing to launch: 404 once admitted, never before.
    (
        "GET",
        "/api/v1/discs/{dA}/launch",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/tracks/1",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/parts/x.bin",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    // This disc has nothing to play: title 1 is 404 once admitted, never before.
    (
        "GET",
        "/api/v1/discs/{dA}/titles/1",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/titles/1/hls.m3u8",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/titles/1/hls/0.ts",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    // A disc as a WebDAV drive: a folder GET shows its page (303), a file its bytes. A
    // signed link in the path that is not valid opens nothing (it replaces any other link).
    (
        "GET",
        "/dav/discs/{dA}",
        "",
        [403, 303, 403, 303, 303, 403, 303, 303, 303, 403, 403],
    ),
    (
        "GET",
        "/dav/discs/{dA}/",
        "",
        [403, 303, 403, 303, 303, 403, 303, 303, 303, 403, 403],
    ),
    (
        "GET",
        "/dav/discs/{dA}/data.bin",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    (
        "GET",
        "/dav/g/x/discs/{dA}",
        "",
        [403, 303, 403, 403, 303, 403, 303, 303, 303, 403, 403],
    ),
    (
        "GET",
        "/dav/g/x/discs/{dA}/",
        "",
        [403, 303, 403, 403, 303, 403, 303, 303, 303, 403, 403],
    ),
    (
        "GET",
        "/dav/g/x/discs/{dA}/data.bin",
        "",
        [403, 200, 403, 403, 200, 403, 200, 200, 200, 403, 403],
    ),
    // The media loopback's route (`/s/{key}`, for this node's ffmpeg) is not on the public
    // listener at all.
    (
        "GET",
        "/s/0123456789abcdef",
        "",
        [404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/tracks/1/hls.m3u8",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/tracks/1/hls/0.ts",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    (
        "GET",
        "/discs/{dA}/listen/1",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    (
        "GET",
        "/discs/{dA}/play/1",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    // Running in the browser: dA is a plain ISO (no boot image), so by itself it cannot run
    // (422); its bytes as the emulator's CD-ROM open as the disc does; there is no
    // environment "none".
    (
        "GET",
        "/discs/{dA}/run",
        "",
        [403, 422, 403, 422, 422, 403, 422, 422, 422, 403, 403],
    ),
    (
        "GET",
        "/discs/{dA}/run/none",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/cdrom",
        "",
        [403, 200, 403, 200, 200, 403, 200, 200, 200, 403, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dA}/environments/none/disk",
        "",
        [403, 404, 403, 404, 404, 403, 404, 404, 404, 403, 403],
    ),
    // Environments: staff see those their member may use; only admins make or remove them.
    (
        "GET",
        "/api/v1/environments",
        "",
        [401, 401, 401, 401, 200, 200, 200, 200, 401, 401, 401],
    ),
    (
        "GET",
        "/api/v1/environments/none",
        "",
        [401, 401, 401, 401, 404, 404, 404, 404, 401, 401, 401],
    ),
    (
        "PUT",
        "/api/v1/environments/none",
        r#"{"name":"x","licence":"y","sha256":"{shaA}","disk":"floppy","members":["A"]}"#,
        [401, 401, 401, 401, 403, 403, 422, 403, 401, 401, 401],
    ),
    (
        "DELETE",
        "/api/v1/environments/none",
        "",
        [401, 401, 401, 401, 403, 403, 404, 403, 401, 401, 401],
    ),
    (
        "GET",
        "/api/v1/discs/{dB}/image",
        "",
        [403, 403, 403, 403, 403, 200, 200, 403, 403, 200, 403],
    ),
    (
        "GET",
        "/api/v1/discs/{dB}/files/data.bin",
        "",
        [403, 403, 403, 403, 403, 200, 200, 403, 403, 200, 403],
    ),
    (
        "GET",
        "/api/v1/discs?member=A",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "GET",
        "/api/v1/discs?member=B",
        "",
        [401, 401, 401, 401, 403, 200, 200, 403, 401, 401, 401],
    ),
    (
        "POST",
        "/api/v1/discs",
        r#"{"sha256":"{shaA}","filename":"again.iso","member":"A"}"#,
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    // Any member's staff may ask whether bytes are stored (so a shelf shared by ten libraries
    // is uploaded once): asking needs the bytes' SHA-256, and the answer names no member.
    (
        "GET",
        "/api/v1/blobs/{shaA}",
        "",
        [401, 401, 401, 401, 200, 200, 200, 200, 401, 401, 401],
    ),
    // Whether the bytes are held (a HEAD, for deduplication) is answered to staff as GET is.
    (
        "HEAD",
        "/api/v1/blobs/{shaA}",
        "",
        [401, 401, 401, 401, 200, 200, 200, 200, 401, 401, 401],
    ),
    // Proof of possession: a member's staff ask and answer for their own member (A holds
    // shaA; the challenge named here does not exist).
    (
        "POST",
        "/api/v1/blobs/{shaA}/challenges",
        r#"{"member":"A"}"#,
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "POST",
        "/api/v1/blobs/{shaA}/challenges/0123456789abcdef0123456789abcdef",
        r#"{"member":"A","answers":[]}"#,
        [401, 401, 401, 401, 404, 403, 404, 404, 401, 401, 401],
    ),
    // Uploads (tus): a member's upload is its staff's alone.
    (
        "OPTIONS",
        "/api/v1/uploads",
        "",
        [204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204],
    ),
    // Any staff may start an upload; whose disc it becomes is decided when it is registered.
    (
        "POST",
        "/api/v1/uploads",
        "tus-create:",
        [401, 401, 401, 401, 201, 201, 201, 201, 401, 401, 401],
    ),
    (
        "HEAD",
        "/api/v1/uploads/{uA}",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "GET",
        "/api/v1/uploads/{uA}",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "PATCH",
        "/api/v1/uploads/{uA}",
        "tus:",
        [401, 401, 401, 401, 204, 403, 204, 204, 401, 401, 401],
    ),
    (
        "DELETE",
        "/api/v1/uploads/{uA}",
        "",
        [401, 401, 401, 401, 204, 403, 204, 204, 401, 401, 401],
    ),
    // tus discovery on an upload's address says only what the server supports.
    (
        "OPTIONS",
        "/api/v1/uploads/{uA}",
        "",
        [204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204],
    ),
    // Catalogue connection, review and relinking.
    (
        "GET",
        "/api/v1/members/A/catalogue",
        "",
        [401, 401, 401, 401, 404, 403, 404, 404, 401, 401, 401],
    ),
    (
        "PUT",
        "/api/v1/members/A/catalogue",
        r#"{"kind":"sru","sru":{"url":"http://127.0.0.1:9/sru"},"opac_record_url":"https://opac.example.edu/r/{id}"}"#,
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "GET",
        "/api/v1/members/A/review",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "POST",
        "/api/v1/discs/{dA}/links/1/accept",
        "",
        [401, 401, 401, 401, 404, 403, 404, 404, 401, 401, 401],
    ),
    (
        "POST",
        "/api/v1/discs/{dA}/relink",
        "",
        [401, 401, 401, 401, 202, 403, 202, 202, 401, 401, 401],
    ),
    (
        "POST",
        "/api/v1/members/A/catalogue/resync",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "POST",
        "/api/v1/members/A/catalogue/check",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    // Networks: staff of the member read them; only admins set them.
    (
        "GET",
        "/api/v1/members/A/networks",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "PUT",
        "/api/v1/members/A/networks",
        r#"{"cidrs":["198.51.100.0/24"]}"#,
        [401, 401, 401, 401, 403, 403, 200, 403, 401, 401, 401],
    ),
    // A member's off-campus routes: its librarians and admins.
    (
        "GET",
        "/api/v1/members/A/off-campus",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "PUT",
        "/api/v1/members/A/off-campus",
        r#"{"proxy_prefix":"https://ezproxy.a.example/login?url=","contact":"desk"}"#,
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    // A member's campus sign-on: its librarians read it; only admins set or remove it (its
    // rules can make admins). D has none.
    (
        "GET",
        "/api/v1/members/A/identity",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "PUT",
        "/api/v1/members/A/identity",
        "{identityA}",
        [401, 401, 401, 401, 403, 403, 200, 403, 401, 401, 401],
    ),
    (
        "DELETE",
        "/api/v1/members/D/identity",
        "",
        [401, 401, 401, 401, 403, 403, 404, 403, 401, 401, 401],
    ),
    // The people who signed in as staff: each librarian their member's, admins all; only
    // admins grant.
    (
        "GET",
        "/api/v1/people",
        "",
        [401, 401, 401, 401, 200, 200, 200, 200, 401, 401, 401],
    ),
    (
        "GET",
        "/api/v1/people?member=A",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "PUT",
        "/api/v1/people/999999/role",
        r#"{"role":"librarian"}"#,
        [401, 401, 401, 401, 403, 403, 404, 403, 401, 401, 401],
    ),
    // Personal tokens: any staff member's own.
    (
        "GET",
        "/api/v1/tokens",
        "",
        [401, 401, 401, 401, 200, 200, 200, 200, 401, 401, 401],
    ),
    (
        "POST",
        "/api/v1/tokens",
        r#"{"name":"script"}"#,
        [401, 401, 401, 401, 201, 201, 201, 201, 401, 401, 401],
    ),
    (
        "DELETE",
        "/api/v1/tokens/999999",
        "",
        [401, 401, 401, 401, 404, 404, 404, 404, 401, 401, 401],
    ),
    (
        "GET",
        "/staff/tokens",
        "",
        [303, 303, 303, 303, 200, 200, 200, 200, 303, 303, 303],
    ),
    (
        "POST",
        "/staff/tokens",
        "form:name=script&days=30",
        [303, 303, 303, 303, 201, 201, 201, 201, 303, 303, 303],
    ),
    (
        "POST",
        "/staff/tokens/999999/revoke",
        "form:",
        [303, 303, 303, 303, 404, 404, 404, 404, 303, 303, 303],
    ),
    // The people page: staff see it (each their scope); only admins grant there.
    (
        "GET",
        "/staff/people",
        "",
        [303, 303, 303, 303, 200, 200, 200, 200, 303, 303, 303],
    ),
    (
        "POST",
        "/staff/people/999999/role",
        "form:role=librarian",
        [303, 303, 303, 303, 403, 403, 404, 403, 303, 303, 303],
    ),
    // The way out to the CAS server is anyone's; the way back takes only a browser that
    // started there; a logout request must name a ticket; D offers no sign-on.
    (
        "GET",
        "/sso/A/sign-in?as=reader",
        "",
        [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303],
    ),
    (
        "GET",
        "/sso/D/sign-in?as=staff",
        "",
        [404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404],
    ),
    // (Callers that keep cookies — staff, and the readers signed in by sign-on — started a
    // sign-in in the row above: their forged ticket is put to the CAS server, which refuses it.)
    (
        "GET",
        "/sso/A/cas?ticket=ST-1-forged",
        "",
        [400, 400, 400, 400, 401, 401, 401, 401, 401, 401, 401],
    ),
    // The way back from an OpenID provider takes only a browser that started a sign-in (the
    // row above spent every caller's).
    (
        "GET",
        "/sso/A/oidc?code=c-1&state=s-1",
        "",
        [400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400],
    ),
    // Nor the way back through a signing-in proxy.
    (
        "GET",
        "/sso/A/proxy",
        "",
        [400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400],
    ),
    (
        "POST",
        "/sso/A/cas",
        "form:logoutRequest=junk",
        [400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400],
    ),
    // Signed links and SUSHI keys.
    (
        "POST",
        "/api/v1/discs/{dA}/signed-links",
        r#"{"expires_in_secs":60}"#,
        [401, 401, 401, 401, 201, 403, 201, 201, 401, 401, 401],
    ),
    (
        "POST",
        "/api/v1/members/A/signed-links",
        r#"{"expires_in_secs":60}"#,
        [401, 401, 401, 401, 201, 403, 201, 201, 401, 401, 401],
    ),
    (
        "POST",
        "/api/v1/sushi-keys",
        r#"{"member":"A"}"#,
        [401, 401, 401, 401, 201, 403, 201, 201, 401, 401, 401],
    ),
    // The uploader's planning calls.
    (
        "POST",
        "/api/v1/images/probe?size=4096",
        "x",
        [401, 401, 401, 401, 400, 400, 400, 400, 401, 401, 401],
    ),
    (
        "POST",
        "/api/v1/upload-plans",
        r#"{"files":[]}"#,
        [401, 401, 401, 401, 200, 200, 200, 200, 401, 401, 401],
    ),
    // The OPAC: resolver links and the lookup are public; the 856 export is the member's.
    (
        "GET",
        "/r/isbn/9787302123456",
        "",
        [404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404],
    ),
    (
        "GET",
        "/r/A/record/nothing",
        "",
        [404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404],
    ),
    (
        "GET",
        "/r/A/barcode/nothing",
        "",
        [404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404],
    ),
    (
        "GET",
        "/widget.js",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "GET",
        "/api/v1/lookup?member=A&isbn=9787302123456",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    // The widget's CORS preflight.
    (
        "OPTIONS",
        "/api/v1/lookup?member=A&isbn=9787302123456",
        "",
        [204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204],
    ),
    (
        "GET",
        "/api/v1/members/A/export.xml",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    (
        "GET",
        "/api/v1/members/A/export.mrc",
        "",
        [401, 401, 401, 401, 200, 403, 200, 200, 401, 401, 401],
    ),
    // Staff pages: sign-in first; another member's pages are refused, by path or by query.
    (
        "GET",
        "/staff/sign-in",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    // Signing in needs the sign-in page's own form token (a cookie set by that page): a
    // posted token alone, even a session's form token, is refused before it is looked at.
    (
        "POST",
        "/staff/sign-in",
        "form:token=not-a-token",
        [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403],
    ),
    (
        "GET",
        "/assets/spindle.css",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "GET",
        "/staff/stats?member=A",
        "",
        [303, 303, 303, 303, 200, 403, 200, 200, 303, 303, 303],
    ),
    (
        "GET",
        "/staff/stats/years.csv?member=A",
        "",
        [303, 303, 303, 303, 200, 403, 200, 200, 303, 303, 303],
    ),
    (
        "GET",
        "/staff/review?member=A",
        "",
        [303, 303, 303, 303, 200, 403, 200, 200, 303, 303, 303],
    ),
    (
        "GET",
        "/staff/discs?member=A",
        "",
        [303, 303, 303, 303, 200, 403, 200, 200, 303, 303, 303],
    ),
    (
        "GET",
        "/staff/settings?member=A",
        "",
        [303, 303, 303, 303, 200, 403, 200, 200, 303, 303, 303],
    ),
    (
        "GET",
        "/staff/export?member=A",
        "",
        [303, 303, 303, 303, 200, 403, 200, 200, 303, 303, 303],
    ),
    (
        "GET",
        "/staff/export/marcxml.xml?member=A",
        "",
        [303, 303, 303, 303, 200, 403, 200, 200, 303, 303, 303],
    ),
    (
        "POST",
        "/staff/settings/catalogue",
        "form:member=A&sru_url=http%3A%2F%2F127.0.0.1%3A9%2Fsru&sru_version=1.2&record_schema=marcxml&opac_record_url=https%3A%2F%2Fopac.example.edu%2Fr%2F%7Bid%7D",
        [303, 303, 303, 303, 303, 403, 303, 303, 303, 303, 303],
    ),
    (
        "POST",
        "/staff/settings/catalogue",
        "form:member=B&sru_url=http%3A%2F%2F127.0.0.1%3A9%2Fsru&sru_version=1.2&record_schema=marcxml&opac_record_url=https%3A%2F%2Fopac.example.edu%2Fr%2F%7Bid%7D",
        [303, 303, 303, 303, 403, 303, 303, 403, 303, 303, 303],
    ),
    (
        "POST",
        "/staff/settings/networks",
        "form:member=A&cidrs=198.51.100.0%2F24",
        [303, 303, 303, 303, 403, 403, 303, 403, 303, 303, 303],
    ),
    (
        "POST",
        "/staff/settings/off-campus",
        "form:member=A&proxy_prefix=&vpn_url=https%3A%2F%2Fvpn.a.example%2F&contact=",
        [303, 303, 303, 303, 303, 403, 303, 303, 303, 303, 303],
    ),
    // Sign-on is set by admins only: a librarian of the member is refused, an admin's
    // address that is no address is told so (422), nothing is changed.
    (
        "POST",
        "/staff/settings/sign-on",
        "form:member=A&kind=cas&cas_url=not-an-address&action=save",
        [303, 303, 303, 303, 403, 403, 422, 403, 303, 303, 303],
    ),
    (
        "POST",
        "/staff/review/{dA}/1/accept",
        "form:",
        [303, 303, 303, 303, 404, 403, 404, 404, 303, 303, 303],
    ),
    (
        "GET",
        "/librarian/upload",
        "",
        [303, 303, 303, 303, 200, 200, 200, 200, 303, 303, 303],
    ),
    // SUSHI: the key is the credential, whoever holds it; it opens its own member only.
    (
        "GET",
        "/sushi/r51/status?customer_id=A&api_key={keyA}",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "GET",
        "/sushi/r51/members?customer_id=A&api_key={keyA}",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "GET",
        "/sushi/r51/reports?customer_id=A&api_key={keyA}",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "GET",
        "/sushi/r51/reports/pr?customer_id=A&api_key={keyA}&begin_date=2026-01&end_date=2026-01",
        "",
        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
    ),
    (
        "GET",
        "/sushi/r51/reports/pr?customer_id=B&api_key={keyA}&begin_date=2026-01&end_date=2026-01",
        "",
        [403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403],
    ),
    (
        "GET",
        "/sushi/r51/reports/pr?customer_id=A&api_key=wrong&begin_date=2026-01&end_date=2026-01",
        "",
        [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401],
    ),
    // A reader signing out of their sign-on session (last but one: it ends the CAS reader's).
    (
        "POST",
        "/sso/sign-out",
        "",
        [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303],
    ),
    // Last, since it ends the staff sessions.
    (
        "POST",
        "/staff/sign-out",
        "form:",
        [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303],
    ),
];

struct Caller {
    client: reqwest::Client,
    /// The form token of the caller's staff session.
    csrf: Option<String>,
    /// Whether API calls carry the form token in the header (staff signed in by CAS have no
    /// bearer token: their pages call the API with the session).
    csrf_header: bool,
    /// Appended to every URL (a signed link).
    access: Option<String>,
}

fn reader(forwarded: Option<&str>) -> Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    if let Some(ip) = forwarded {
        headers.insert("x-forwarded-for", HeaderValue::from_str(ip)?);
    }
    Ok(common::http_builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

async fn staff(app: &TestApp, token: &str) -> Result<Caller> {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}"))?,
    );
    let client =
        common::sign_in_with(app, token, common::http_builder().default_headers(headers)).await?;
    let page = client
        .get(app.url("/staff/stats"))
        .send()
        .await?
        .text()
        .await?;
    Ok(Caller {
        client,
        csrf: Some(common::form_token(&page)?),
        csrf_header: false,
        access: None,
    })
}

/// A caller signed in through A's CAS sign-on, as staff (`lib`, A's librarian by a rule) or
/// as a reader from an address outside every range.
async fn by_cas(app: &TestApp, who: &str, lib: &(String, String)) -> Result<Caller> {
    let client = if who == "reader" {
        outside_browser(&[])?
    } else {
        common::http_builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?
    };
    let (user, password) = if who == "reader" {
        common::cas::person("zhang.student", &["student"]).await?
    } else {
        lib.clone()
    };
    let back = common::cas::ticket_for(&client, app, "A", who, &user, &password).await?;
    let r = client.get(&back).send().await?;
    anyhow::ensure!(r.status() == 200, "signing in by CAS: {}", r.status());
    let csrf = if who == "reader" {
        None
    } else {
        let page = client
            .get(app.url("/staff/stats"))
            .send()
            .await?
            .text()
            .await?;
        Some(common::form_token(&page)?)
    };
    Ok(Caller {
        client,
        csrf_header: csrf.is_some(),
        csrf,
        access: None,
    })
}

/// A reader from an address outside every range, signed in through B's OpenID provider.
async fn by_oidc(app: &TestApp, admin: &str) -> Result<Caller> {
    let (client_id, secret) = common::oidc::client_for(app, "B").await?;
    let r = app
        .client
        .put(app.url("/api/v1/members/B/identity"))
        .bearer_auth(admin)
        .json(&json!({
            "kind": "oidc",
            "oidc": {"issuer": common::oidc::issuer(), "client_id": client_id, "client_secret": secret},
            "readers": true,
        }))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "B's sign-on: {}", r.status());
    let client = outside_browser(&[])?;
    let (login, password) = common::oidc::person("liu.reader", &["student"]).await?;
    let back = common::oidc::code_for(&client, app, "B", "reader", &login, &password).await?;
    let r = client.get(&back).send().await?;
    anyhow::ensure!(r.status() == 200, "signing in by OpenID: {}", r.status());
    Ok(Caller {
        client,
        csrf: None,
        csrf_header: false,
        access: None,
    })
}

/// A reader from an address outside every range, signed in by C's signing-in proxy (the
/// matrix's server trusts loopback, where the test stands in for the proxy). It sends the
/// proxy's headers with every request, as a proxy in front would pass them on: only C's way
/// back reads them.
async fn by_proxy(app: &TestApp, admin: &str) -> Result<Caller> {
    let r = app
        .client
        .put(app.url("/api/v1/members/C/identity"))
        .bearer_auth(admin)
        .json(&json!({"kind": "proxy", "proxy": {"scope": "c.example.edu"}, "readers": true}))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "C's sign-on: {}", r.status());
    let client = outside_browser(&[
        ("x-remote-user", "reader-c"),
        ("edupersonscopedaffiliation", "student@c.example.edu"),
    ])?;
    let r = client
        .get(app.url("/sso/C/sign-in?as=reader"))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 303, "to the proxy: {}", r.status());
    let r = client.get(app.url("/sso/C/proxy")).send().await?;
    anyhow::ensure!(r.status() == 200, "signing in by proxy: {}", r.status());
    Ok(Caller {
        client,
        csrf: None,
        csrf_header: false,
        access: None,
    })
}

/// A cookie-keeping client that does not follow redirects, from 192.0.2.9 (outside every
/// member's ranges), sending `extra` headers with every request.
fn outside_browser(extra: &[(&'static str, &'static str)]) -> Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_static("192.0.2.9"));
    for (name, value) in extra {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    Ok(common::http_builder()
        .default_headers(headers)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

async fn authorisation_matrix(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend)
        .behind_loopback_proxy()
        .config(|c| {
            c.auth.proxy.user_header = "X-Remote-User".into();
            c.auth.proxy.attribute_headers = vec!["eduPersonScopedAffiliation".into()];
            c.auth.proxy.member_attribute = "eduPersonScopedAffiliation".into();
        })
        .start()
        .await?;
    let a = app.librarian("A").await?;
    let b = app.librarian("B").await?;
    let admin = app.admin().await?;
    app.member("C").await?;
    app.member("D").await?;
    app.set_networks(&admin, "A", &["198.51.100.0/24"]).await?;
    app.set_networks(&admin, "B", &["203.0.113.0/24"]).await?;
    let image_a = iso_image(3000, 91);
    let da = app.disc(&a, &image_a, json!({})).await?;
    let db = app.disc(&b, &iso_image(3000, 92), json!({})).await?;
    common::wait_indexed(&app, Some(&a), da).await?;
    common::wait_indexed(&app, Some(&b), db).await?;
    let link: Value = app
        .client
        .post(app.url(&format!("/api/v1/discs/{da}/signed-links")))
        .bearer_auth(&a)
        .json(&json!({"expires_in_secs": 3600}))
        .send()
        .await?
        .json()
        .await?;
    let link = link["token"].as_str().context("link token")?.to_string();
    let key: Value = app
        .client
        .post(app.url("/api/v1/sushi-keys"))
        .bearer_auth(&a)
        .json(&json!({"member": "A"}))
        .send()
        .await?
        .json()
        .await?;
    let key_a = key["api_key"].as_str().context("SUSHI key")?.to_string();
    let cas_lib = common::cas::person("wang.lib", &["staff"]).await?;
    let identity_a = json!({
        "kind": "cas",
        "cas": {"base_url": common::cas::cas_url()},
        "staff": [{"user": cas_lib.0, "role": "librarian"}],
        "readers": true,
    })
    .to_string();
    let r = app
        .client
        .put(app.url("/api/v1/members/A/identity"))
        .bearer_auth(&admin)
        .body(identity_a.clone())
        .header("content-type", "application/json")
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "A's sign-on: {}", r.status());

    let callers = [
        Caller {
            client: reader(None)?,
            csrf: None,
            csrf_header: false,
            access: None,
        },
        Caller {
            client: reader(Some("198.51.100.7"))?,
            csrf: None,
            csrf_header: false,
            access: None,
        },
        Caller {
            client: reader(Some("192.0.2.1"))?,
            csrf: None,
            csrf_header: false,
            access: None,
        },
        Caller {
            client: reader(Some("192.0.2.1"))?,
            csrf: None,
            csrf_header: false,
            access: Some(link),
        },
        staff(&app, &a).await?,
        staff(&app, &b).await?,
        staff(&app, &admin).await?,
        by_cas(&app, "staff", &cas_lib).await?,
        by_cas(&app, "reader", &cas_lib).await?,
        by_oidc(&app, &admin).await?,
        by_proxy(&app, &admin).await?,
    ];

    let mut wrong = Vec::new();
    let mut asked = 0;
    for (method, path, body, expected) in MATRIX {
        for (i, caller) in callers.iter().enumerate() {
            // Each caller gets a fresh upload of A's, so that DELETE and PATCH meet one.
            let upload = if path.contains("{uA}") {
                let r = app
                    .create_upload(&a, &common::random_hex(32), 3 * 1024 * 1024)
                    .await?;
                anyhow::ensure!(r.status() == 201, "upload: {}", r.status());
                common::header(&r, "location")
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            } else {
                String::new()
            };
            let fill = |s: &str| {
                s.replace("{dA}", &da.to_string())
                    .replace("{dB}", &db.to_string())
                    .replace("{uA}", &upload)
                    .replace("{shaA}", &common::sha256_hex(&image_a))
                    .replace("{keyA}", &key_a)
                    .replace("{identityA}", &identity_a)
            };
            let mut url = app.url(&fill(path));
            if let Some(token) = &caller.access {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&format!("access={token}"));
            }
            let mut request = caller
                .client
                .request(Method::from_bytes(method.as_bytes())?, &url)
                .header("tus-resumable", "1.0.0");
            if let (true, Some(csrf)) = (caller.csrf_header, &caller.csrf) {
                request = request.header("x-spindle-csrf", csrf);
            }
            if *body == "tus-create:" {
                request = request
                    .header("upload-length", (3 * 1024 * 1024).to_string())
                    .header(
                        "upload-metadata",
                        common::metadata(&common::random_hex(32), "new.iso"),
                    );
            } else if *body == "tus:" {
                // An empty PATCH at offset 0: accepted (204) by whoever owns the upload.
                request = request
                    .header("content-type", "application/offset+octet-stream")
                    .header("upload-offset", "0");
            } else if let Some(form) = body.strip_prefix("form:") {
                let csrf = caller.csrf.clone().unwrap_or_default();
                request = request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("csrf={csrf}&{form}"));
            } else if body.starts_with('{') {
                // ({identityA} is filled in as JSON too.)
                request = request
                    .header("content-type", "application/json")
                    .body(fill(body));
            } else if !body.is_empty() {
                request = request
                    .header("content-type", "application/octet-stream")
                    .body(body.to_string());
            }
            let got = request.send().await?.status().as_u16();
            asked += 1;
            if got != expected[i] {
                wrong.push(format!(
                    "{method} {path} as {}: {got}, expected {}",
                    ROLES[i], expected[i]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {asked} answers differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(asked, MATRIX.len() * ROLES.len());
    Ok(())
}

/// Every route the server declares (read from `src/http`) is asked in the matrix with each
/// method it answers, under the prefix it is mounted at, so a new endpoint or method cannot
/// be added without saying who may use it.
#[test]
fn every_route_is_in_the_matrix() -> Result<()> {
    let routes = declared_routes()?;
    assert!(routes.len() > 50, "found only {} routes", routes.len());
    // The reading itself: methods and prefixes as mounted.
    let has = |m: &str, p: &str| routes.iter().any(|(rm, rp)| rm == m && rp == p);
    for (m, p) in [
        ("GET", "/"),
        ("POST", "/api/v1/discs"),
        ("HEAD", "/api/v1/blobs/{sha256}"),
        ("OPTIONS", "/api/v1/uploads/{id}"),
        ("POST", "/staff/sign-in"),
        ("*", "/dav/discs/{id}/{*path}"),
    ] {
        assert!(has(m, p), "{m} {p} not read from src/http: {routes:?}");
    }
    for (m, p) in [
        ("GET", "/api/v1/staff/stats"),
        ("GET", "/discs"),
        ("DELETE", "/api/v1/discs"),
    ] {
        assert!(!has(m, p), "{m} {p} is not a route: {routes:?}");
    }
    let mut missing = Vec::new();
    for (method, path) in &routes {
        let segments: Vec<String> = path
            .split('/')
            .map(|segment| match segment {
                s if s.starts_with("{*") => ".+".to_string(),
                s if s.starts_with('{') => "[^/]+".to_string(),
                s => regex::escape(s),
            })
            .collect();
        let pattern = regex::Regex::new(&format!("^{}$", segments.join("/")))?;
        let asked = MATRIX.iter().any(|(m, p, _, _)| {
            (method == "*" || m == method) && pattern.is_match(p.split('?').next().unwrap_or(p))
        });
        if !asked {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(missing.is_empty(), "routes not in the matrix: {missing:?}");
    Ok(())
}

/// The routes `src/http` declares as (method, full path), `*` for a route that takes any
/// method. Which router functions sit under `/api/v1` is read from `routes` in `mod.rs`;
/// a router function mounted nowhere is an error, not a route skipped.
fn declared_routes() -> Result<Vec<(String, String)>> {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http"));
    let main = std::fs::read_to_string(dir.join("mod.rs"))?;
    let body = main
        .split_once("pub fn app(")
        .context("mod.rs has no fn app")?
        .1;
    let (api, root) = body
        .split_once("let api =")
        .and_then(|(_, rest)| rest.split_once(';'))
        .context("mod.rs builds `let api = …;`")?;
    let merged = regex::Regex::new(r"\.merge\((\w+)::(\w+)\(")?;
    let mut mounts = std::collections::HashMap::new();
    for (part, in_api) in [(api, true), (root, false)] {
        for m in merged.captures_iter(part) {
            let key = format!("{}::{}", &m[1], &m[2]);
            anyhow::ensure!(
                mounts.insert(key.clone(), in_api).is_none(),
                "{key} is merged twice"
            );
        }
    }
    let function = regex::Regex::new(r"(?m)^pub fn (\w+)\(")?;
    let route = regex::Regex::new(r#"\.route\(\s*"([^"]+)""#)?;
    let method = regex::Regex::new(r"\b(get|post|put|delete|patch|head|options|any)\(")?;
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let module = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        // The media loopback is its own listener for this node's ffmpeg (the matrix asks
        // that its route is not on the public one).
        if module == "loopback" || path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path)?;
        let starts: Vec<(usize, String)> = function
            .captures_iter(&source)
            .filter_map(|c| Some((c.get(0)?.start(), c[1].to_string())))
            .collect();
        for (n, (start, name)) in starts.iter().enumerate() {
            let end = starts.get(n + 1).map_or(source.len(), |(e, _)| *e);
            let text = &source[*start..end];
            let declared: Vec<_> = route.captures_iter(text).collect();
            if declared.is_empty() {
                continue;
            }
            let in_api = mounts
                .get(&format!("{module}::{name}"))
                .copied()
                .with_context(|| format!("{module}::{name} declares routes but is not mounted"))?;
            for r in &declared {
                let whole = r.get(0).context("match")?;
                let handlers = &text[whole.end()..closing(text, whole.start() + ".route".len())?];
                let methods: std::collections::BTreeSet<String> = method
                    .captures_iter(handlers)
                    .map(|m| match &m[1] {
                        "any" => "*".to_string(),
                        other => other.to_uppercase(),
                    })
                    .collect();
                anyhow::ensure!(!methods.is_empty(), "no method for {}", &r[1]);
                // The server sends `/api/v1/…` to the API's router and nothing else there.
                anyhow::ensure!(
                    r[1].starts_with("/api/v1/") == in_api,
                    "{module}::{name} declares {}: the API's routes, and only they, are under /api/v1",
                    &r[1]
                );
                for m in methods {
                    routes.push((m, r[1].to_string()));
                }
            }
        }
    }
    Ok(routes)
}

/// The index of the `)` closing the `(` at `open` in `text`.
fn closing(text: &str, open: usize) -> Result<usize> {
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(open + i);
                }
            }
            _ => {}
        }
    }
    anyhow::bail!("unclosed .route( at {open}")
}
