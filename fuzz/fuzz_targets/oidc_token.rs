//! OpenID Connect ID tokens: a provider's JWKS (the first line) and a compact JWS (the rest),
//! both from outside. Verified or refused, never a panic; a token that verifies has its claims
//! checked and read as attributes without a panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle::oidc::{Expected, Jwk, attributes, check_claims, verify_signature};

fuzz_target!(|input: &str| {
    let (keys, token) = input.split_once('\n').unwrap_or(("[]", input));
    let keys: Vec<Jwk> = serde_json::from_str(keys).unwrap_or_default();
    if let Ok(claims) = verify_signature(token, &keys) {
        let want = Expected {
            issuer: "https://sso.example.edu.cn",
            client_id: "spindle",
            nonce: "n",
            now: 1_800_000_000,
        };
        if let Ok(sub) = check_claims(&claims, &want) {
            assert!(!sub.is_empty() && sub.len() <= 255);
        }
        let mut attrs = Vec::new();
        attributes(&claims, &mut attrs);
        assert!(attrs.len() <= 200);
    }
});
