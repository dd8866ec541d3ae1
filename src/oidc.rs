//! OpenID Connect for campus sign-on: the authorization code flow with PKCE (S256), the
//! provider's metadata from its discovery document, and the ID token checked before anything
//! in it is believed — its signature against the provider's published keys (JWKS; RSA, RSA-PSS,
//! ECDSA P-256/P-384 and Ed25519, verified by `ring`), its issuer, its audience (and `azp`),
//! its expiry and issue time, and the nonce this browser's sign-in sent. An unsigned token
//! (`alg: none`) or one signed with a shared secret is refused: the only keys believed are the
//! provider's public ones.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// How long a provider's metadata and keys are used before they are fetched again (sooner
/// when a token names a key not among them: the provider rolled its keys).
const METADATA_TTL: Duration = Duration::from_secs(600);
/// Clock difference allowed between Spindle and the provider.
const SKEW_SECS: i64 = 60;

/// What a provider's discovery document (`{issuer}/.well-known/openid-configuration`) says.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

/// One public key of the provider's JWKS.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

#[derive(Debug, Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

/// Why an ID token is not believed; each says what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the ID token is not a signed JWT: {0}")]
    Malformed(String),
    #[error("the ID token is not signed (alg \"none\")")]
    Unsigned,
    #[error("the ID token is signed with {0}, which Spindle does not accept from a provider")]
    Algorithm(String),
    #[error("the ID token names a key the provider does not publish ({0})")]
    UnknownKey(String),
    #[error("the ID token's signature does not verify against the provider's keys")]
    Signature,
    #[error("the ID token was issued by {found}, not {expected}")]
    Issuer { found: String, expected: String },
    #[error("the ID token is for another client ({0}), not this member's")]
    Audience(String),
    #[error("the ID token expired {0} seconds ago")]
    Expired(i64),
    #[error("the ID token was issued in the future")]
    NotYetValid,
    #[error("the ID token's nonce is not the one this sign-in sent")]
    Nonce,
    #[error("the ID token lacks {0}")]
    Missing(&'static str),
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed(format!("its {what} is not base64url")))
}

/// A key of the provider made ready to check one algorithm's signatures.
enum Key {
    Rsa(&'static signature::RsaParameters, Vec<u8>, Vec<u8>),
    Point(&'static dyn signature::VerificationAlgorithm, Vec<u8>),
}

impl Key {
    fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            Key::Rsa(params, n, e) => signature::RsaPublicKeyComponents { n, e }
                .verify(params, message, sig)
                .is_ok(),
            Key::Point(alg, point) => signature::UnparsedPublicKey::new(*alg, point)
                .verify(message, sig)
                .is_ok(),
        }
    }
}

/// The JWS algorithms believed from a provider: public-key signatures only.
const ALGORITHMS: [&str; 10] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519",
];

/// The provider's key `key` ready to check `alg`, if the two go together.
fn key_for(alg: &str, key: &Jwk) -> Option<Key> {
    if key.alg.as_deref().is_some_and(|a| a != alg)
        || key.use_.as_deref().is_some_and(|u| u != "sig")
    {
        return None;
    }
    let bytes = |v: &Option<String>| v.as_deref().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok());
    let rsa: Option<&'static signature::RsaParameters> = match alg {
        "RS256" => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
        "PS256" => Some(&signature::RSA_PSS_2048_8192_SHA256),
        "PS384" => Some(&signature::RSA_PSS_2048_8192_SHA384),
        "PS512" => Some(&signature::RSA_PSS_2048_8192_SHA512),
        _ => None,
    };
    if let Some(params) = rsa {
        if key.kty != "RSA" {
            return None;
        }
        return Some(Key::Rsa(params, bytes(&key.n)?, bytes(&key.e)?));
    }
    let (alg, kty, crv): (&'static dyn signature::VerificationAlgorithm, &str, &str) = match alg {
        "ES256" => (&signature::ECDSA_P256_SHA256_FIXED, "EC", "P-256"),
        "ES384" => (&signature::ECDSA_P384_SHA384_FIXED, "EC", "P-384"),
        "EdDSA" | "Ed25519" => (&signature::ED25519, "OKP", "Ed25519"),
        _ => return None,
    };
    if key.kty != kty || key.crv.as_deref() != Some(crv) {
        return None;
    }
    let x = bytes(&key.x)?;
    let point = if kty == "EC" {
        [&[4u8][..], &x, &bytes(&key.y)?].concat()
    } else {
        x
    };
    Some(Key::Point(alg, point))
}

/// Verifies a compact JWS against the provider's keys and answers its claims.
pub fn verify_signature(token: &str, keys: &[Jwk]) -> Result<Map<String, Value>, TokenError> {
    if token.len() > 64 * 1024 {
        return Err(TokenError::Malformed("it is larger than 64 KiB".into()));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("it does not have three parts".into()));
    };
    let header: Map<String, Value> = serde_json::from_slice(&b64(h, "header")?)
        .map_err(|_| TokenError::Malformed("its header is not a JSON object".into()))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg.eq_ignore_ascii_case("none") {
        return Err(TokenError::Unsigned);
    }
    if header.contains_key("crit") {
        return Err(TokenError::Malformed(
            "it has critical header parameters".into(),
        ));
    }
    if !ALGORITHMS.contains(&alg) {
        let named = if alg.is_empty() { "no algorithm" } else { alg };
        return Err(TokenError::Algorithm(named.to_string()));
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<_> = keys
        .iter()
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .filter_map(|k| key_for(alg, k))
        .collect();
    if candidates.is_empty() {
        return Err(TokenError::UnknownKey(
            kid.map_or_else(|| format!("no {alg} key"), |k| format!("kid {k}")),
        ));
    }
    let signature_bytes = b64(s, "signature")?;
    let message = &token.as_bytes()[..h.len() + 1 + p.len()];
    if !candidates
        .iter()
        .any(|k| k.verifies(message, &signature_bytes))
    {
        return Err(TokenError::Signature);
    }
    serde_json::from_slice(&b64(p, "payload")?)
        .map_err(|_| TokenError::Malformed("its payload is not a JSON object".into()))
}

/// What the ID token must say for this sign-in.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Seconds since the epoch.
    pub now: i64,
}

/// Checks the ID token's claims (OpenID Connect Core 1.0, 3.1.3.7): issuer, audience and
/// authorized party, expiry, issue time and nonce; answers the subject.
pub fn check_claims(
    claims: &Map<String, Value>,
    want: &Expected<'_>,
) -> Result<String, TokenError> {
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(TokenError::Missing("iss"))?;
    if iss != want.issuer {
        return Err(TokenError::Issuer {
            found: iss.to_string(),
            expected: want.issuer.to_string(),
        });
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err(TokenError::Missing("aud")),
    };
    if !audiences.contains(&want.client_id) {
        return Err(TokenError::Audience(audiences.join(", ")));
    }
    let azp = claims.get("azp").and_then(Value::as_str);
    if (audiences.len() > 1 || azp.is_some()) && azp != Some(want.client_id) {
        return Err(TokenError::Audience(format!(
            "azp {}",
            azp.unwrap_or("missing")
        )));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(TokenError::Missing("exp"))?;
    if exp + SKEW_SECS <= want.now {
        return Err(TokenError::Expired(want.now - exp));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(TokenError::Missing("iat"))?;
    if iat > want.now + SKEW_SECS {
        return Err(TokenError::NotYetValid);
    }
    match claims.get("nonce").and_then(Value::as_str) {
        Some(n) if n == want.nonce => {}
        _ => return Err(TokenError::Nonce),
    }
    claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .map(str::to_string)
        .ok_or(TokenError::Missing("sub"))
}

/// The claims that describe the token rather than the person.
const PROTOCOL_CLAIMS: [&str; 14] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "azp",
    "at_hash",
    "c_hash",
    "sid",
    "auth_time",
    "jti",
    "amr",
];

/// The person's released claims as attributes for the staff rules: strings as they are, each
/// string of a list as one value (groups), numbers and booleans as text.
pub fn attributes(claims: &Map<String, Value>, into: &mut Vec<(String, String)>) {
    for (name, value) in claims {
        if PROTOCOL_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        let mut add = |v: String| {
            let pair = (name.clone(), v);
            if !into.contains(&pair) && into.len() < 200 {
                into.push(pair);
            }
        };
        match value {
            Value::String(s) => add(s.clone()),
            Value::Number(n) => add(n.to_string()),
            Value::Bool(b) => add(b.to_string()),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .for_each(|s| add(s.to_string())),
            _ => {}
        }
    }
}

/// A PKCE verifier (RFC 7636: 43 characters of base64url) and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    (verifier.clone(), challenge(&verifier))
}

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A provider's metadata and keys as last fetched.
#[derive(Debug)]
pub struct Discovered {
    pub meta: Metadata,
    pub keys: Vec<Jwk>,
    fetched: Instant,
}

/// Why a provider could not be asked (it is down, or answered something unusable).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// What the token endpoint answered.
#[derive(Debug, Deserialize)]
pub struct Tokens {
    pub id_token: Option<String>,
    pub access_token: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The providers' metadata and keys, kept for [`METADATA_TTL`].
#[derive(Default)]
pub struct Providers {
    known: std::sync::Mutex<HashMap<String, Arc<Discovered>>>,
}

impl Providers {
    /// The provider's metadata and keys, fetched when not known, older than the TTL, or when
    /// `refresh` (a token named a key not among them).
    pub async fn get(
        &self,
        client: &reqwest::Client,
        issuer: &str,
        refresh: bool,
    ) -> Result<Arc<Discovered>, Unreachable> {
        if !refresh {
            let known = self
                .known
                .lock()
                .map_err(|_| Unreachable("poisoned".into()))?;
            if let Some(d) = known
                .get(issuer)
                .filter(|d| d.fetched.elapsed() < METADATA_TTL)
            {
                return Ok(d.clone());
            }
        }
        let url = format!("{issuer}/.well-known/openid-configuration");
        let meta: Metadata = fetch_json(client, &url, None).await?;
        if meta.issuer != issuer {
            return Err(Unreachable(format!(
                "the discovery document names the issuer {}, not {issuer}",
                meta.issuer
            )));
        }
        let set: JwkSet = fetch_json(client, &meta.jwks_uri, None).await?;
        let found = Arc::new(Discovered {
            meta,
            keys: set.keys,
            fetched: Instant::now(),
        });
        if let Ok(mut known) = self.known.lock() {
            known.insert(issuer.to_string(), found.clone());
        }
        Ok(found)
    }
}

/// GETs `url` (with the access token, when given) and reads its JSON answer.
async fn fetch_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
) -> Result<T, Unreachable> {
    let mut request = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let r = request
        .send()
        .await
        .map_err(|e| Unreachable(format!("{url}: {e}")))?;
    if !r.status().is_success() {
        return Err(Unreachable(format!("{url}: HTTP {}", r.status())));
    }
    let body = r
        .bytes()
        .await
        .map_err(|e| Unreachable(format!("{url}: {e}")))?;
    serde_json::from_slice(&body).map_err(|e| Unreachable(format!("{url}: {e}")))
}

/// Redeems the code at the token endpoint with the PKCE verifier, authenticating as the
/// client by HTTP Basic (or in the form, when the provider takes only that; a public client
/// without a secret sends only its id).
pub async fn redeem(
    client: &reqwest::Client,
    meta: &Metadata,
    client_id: &str,
    secret: Option<&str>,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<Tokens, Unreachable> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    let mut request = client
        .post(&meta.token_endpoint)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
    let methods = &meta.token_endpoint_auth_methods_supported;
    match secret {
        Some(s) if methods.is_empty() || methods.iter().any(|m| m == "client_secret_basic") => {
            // RFC 6749 2.3.1: both are form-encoded before they are joined.
            let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(client_id),
                enc(s)
            ));
            request = request.header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"));
        }
        Some(s) => form.extend([("client_id", client_id), ("client_secret", s)]),
        None => form.push(("client_id", client_id)),
    }
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = request
        .body(body)
        .send()
        .await
        .map_err(|e| Unreachable(format!("token endpoint: {e}")))?;
    let status = r.status();
    let body = r
        .bytes()
        .await
        .map_err(|e| Unreachable(format!("token endpoint: {e}")))?;
    match serde_json::from_slice::<Tokens>(&body) {
        Ok(t) if status.is_success() || t.error.is_some() => Ok(t),
        _ => Err(Unreachable(format!("token endpoint: HTTP {status}"))),
    }
}

/// The userinfo endpoint's claims for the access token (OpenID Connect Core 5.3).
pub async fn userinfo(
    client: &reqwest::Client,
    endpoint: &str,
    access_token: &str,
) -> Result<Map<String, Value>, Unreachable> {
    fetch_json(client, endpoint, Some(access_token)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};
    use serde_json::json;

    fn b64j(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn es256() -> (EcdsaKeyPair, Jwk) {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("key");
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("pair");
        let public = pair.public_key().as_ref();
        let jwk = Jwk {
            kty: "EC".into(),
            kid: Some("ec-1".into()),
            crv: Some("P-256".into()),
            x: Some(URL_SAFE_NO_PAD.encode(&public[1..33])),
            y: Some(URL_SAFE_NO_PAD.encode(&public[33..])),
            ..Jwk::default()
        };
        (pair, jwk)
    }

    fn signed_es256(pair: &EcdsaKeyPair, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64j(header), b64j(claims));
        let sig = pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    #[test]
    fn signatures_verify_only_with_the_providers_key_and_a_public_key_algorithm() {
        let (pair, jwk) = es256();
        let claims = json!({"sub": "chen", "iss": "https://sso.example"});
        let good = signed_es256(&pair, &json!({"alg": "ES256", "kid": "ec-1"}), &claims);
        let got = verify_signature(&good, std::slice::from_ref(&jwk)).expect("verifies");
        assert_eq!(got["sub"], "chen");

        // Another key of the same shape, the payload changed, the kid unknown.
        let (_, stranger) = es256();
        let stranger = Jwk {
            kid: Some("ec-1".into()),
            ..stranger
        };
        assert_eq!(
            verify_signature(&good, &[stranger]),
            Err(TokenError::Signature)
        );
        let parts: Vec<&str> = good.split('.').collect();
        let changed = format!(
            "{}.{}.{}",
            parts[0],
            b64j(&json!({"sub": "admin", "iss": "https://sso.example"})),
            parts[2]
        );
        assert_eq!(
            verify_signature(&changed, std::slice::from_ref(&jwk)),
            Err(TokenError::Signature)
        );
        let other_kid = signed_es256(&pair, &json!({"alg": "ES256", "kid": "ec-9"}), &claims);
        assert!(matches!(
            verify_signature(&other_kid, std::slice::from_ref(&jwk)),
            Err(TokenError::UnknownKey(_))
        ));
        // An EC key is no RSA key: a header claiming RS256 finds nothing to check with.
        let confused = format!(
            "{}.{}.{}",
            b64j(&json!({"alg": "RS256", "kid": "ec-1"})),
            parts[1],
            parts[2]
        );
        assert!(matches!(
            verify_signature(&confused, std::slice::from_ref(&jwk)),
            Err(TokenError::UnknownKey(_))
        ));
        // Unsigned, shared-secret and critical-header tokens are refused before any key.
        let none = format!("{}.{}.", b64j(&json!({"alg": "none"})), parts[1]);
        assert_eq!(
            verify_signature(&none, std::slice::from_ref(&jwk)),
            Err(TokenError::Unsigned)
        );
        let hs = format!("{}.{}.AAAA", b64j(&json!({"alg": "HS256"})), parts[1]);
        assert_eq!(
            verify_signature(&hs, std::slice::from_ref(&jwk)),
            Err(TokenError::Algorithm("HS256".into()))
        );
        let crit = signed_es256(&pair, &json!({"alg": "ES256", "crit": ["exp"]}), &claims);
        assert!(matches!(
            verify_signature(&crit, std::slice::from_ref(&jwk)),
            Err(TokenError::Malformed(_))
        ));
        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.e30"] {
            assert!(
                verify_signature(junk, std::slice::from_ref(&jwk)).is_err(),
                "{junk}"
            );
        }
    }

    #[test]
    fn ed25519_keys_verify_eddsa_tokens() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair");
        let jwk = Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())),
            ..Jwk::default()
        };
        let input = format!(
            "{}.{}",
            b64j(&json!({"alg": "EdDSA"})),
            b64j(&json!({"sub": "x"}))
        );
        let token = format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(pair.sign(input.as_bytes()).as_ref())
        );
        assert!(verify_signature(&token, &[jwk]).is_ok());
    }

    #[test]
    fn claims_are_checked_for_this_client_and_this_sign_in() {
        let want = Expected {
            issuer: "https://sso.example",
            client_id: "spindle",
            nonce: "n-1",
            now: 1_000_000,
        };
        let base = json!({"iss": "https://sso.example", "aud": "spindle", "sub": "chen",
            "exp": 1_000_300, "iat": 999_990, "nonce": "n-1"});
        let check = |patch: Value| {
            let mut c = base.as_object().cloned().unwrap_or_default();
            for (k, v) in patch.as_object().cloned().unwrap_or_default() {
                if v.is_null() {
                    c.remove(&k);
                } else {
                    c.insert(k, v);
                }
            }
            check_claims(&c, &want)
        };
        assert_eq!(check(json!({})), Ok("chen".into()));
        assert_eq!(check(json!({"aud": ["spindle"]})), Ok("chen".into()));
        assert_eq!(
            check(json!({"aud": ["spindle", "other"], "azp": "spindle"})),
            Ok("chen".into())
        );
        assert!(matches!(
            check(json!({"aud": ["spindle", "other"]})),
            Err(TokenError::Audience(_))
        ));
        assert!(matches!(
            check(json!({"aud": "other"})),
            Err(TokenError::Audience(_))
        ));
        assert!(matches!(
            check(json!({"azp": "other"})),
            Err(TokenError::Audience(_))
        ));
        assert!(matches!(
            check(json!({"iss": "https://evil"})),
            Err(TokenError::Issuer { .. })
        ));
        assert_eq!(
            check(json!({"exp": 999_900})),
            Err(TokenError::Expired(100))
        );
        assert_eq!(
            check(json!({"exp": 999_950})),
            Ok("chen".into()),
            "within the skew"
        );
        assert_eq!(
            check(json!({"iat": 1_000_500})),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(check(json!({"nonce": "n-2"})), Err(TokenError::Nonce));
        assert_eq!(check(json!({"nonce": null})), Err(TokenError::Nonce));
        for missing in ["iss", "aud", "exp", "iat", "sub"] {
            assert!(check(json!({missing: null})).is_err(), "{missing}");
        }
        assert!(check(json!({"sub": ""})).is_err());
        assert!(check(json!({"exp": "soon"})).is_err());
    }

    #[test]
    fn released_claims_become_attributes_and_pkce_is_s256() {
        let claims = json!({"sub": "x", "iss": "i", "name": "陈", "groups": ["a", "b", 3], "email_verified": true, "address": {"country": "CN"}});
        let mut attrs = Vec::new();
        attributes(claims.as_object().expect("object"), &mut attrs);
        attrs.sort();
        assert_eq!(
            attrs,
            [
                ("email_verified", "true"),
                ("groups", "a"),
                ("groups", "b"),
                ("name", "陈")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        // RFC 7636 appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let (v, c) = pkce();
        assert_eq!(v.len(), 43);
        assert_eq!(challenge(&v), c);
    }
}
