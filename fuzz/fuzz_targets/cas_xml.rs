//! Campus sign-on XML: a CAS server's /serviceValidate answer, and the single-logout
//! `logoutRequest` anyone may POST to a member's CAS address. Read or refused, never a panic;
//! a success always names a user, and a logout names a short ticket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle::identity::{CasAnswer, logout_ticket, parse_service_response};

fuzz_target!(|body: &str| {
    if let Ok(CasAnswer::Success(p)) = parse_service_response(body) {
        assert!(!p.user.is_empty());
    }
    if let Some(t) = logout_ticket(body) {
        assert!(!t.is_empty() && t.len() <= 256);
    }
});
