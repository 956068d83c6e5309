//! Tests of virtual-key authentication: which header wins, `Bearer` parsing, revoked and
//! expired keys, `require_virtual_key` both ways, digests in the config, minted secrets.

use std::rc::Rc;

use super::keys::{SECRET_PREFIX, SECRET_RANDOM_CHARS, bearer_token, hash_secret, mint_secret};
use super::tests_support::*;
use super::*;

fn governor(require: bool, extra: &str) -> (Rc<ManualClock>, Rc<Governor>) {
    let clock = Rc::new(ManualClock::new(utc(2026, 1, 1, 0, 0, 0)));
    let mut config = config("soft", &format!("{}{extra}", hierarchy("", "", "")));
    config.governance.require_virtual_key = require;
    let governor = shard(&config, 0, 1, &clock);
    (clock, governor)
}

fn key_id(governor: &Governor, found: Option<KeyRef>) -> Option<String> {
    found
        .and_then(|k| governor.key_name(k))
        .map(|n| n.to_string())
}

#[test]
fn either_header_carries_the_key_and_a_known_key_wins() {
    let (_, g) = governor(true, "");
    assert_eq!(
        key_id(&g, g.authenticate(Some(b"sk-alice"), None).unwrap()).as_deref(),
        Some("alice")
    );
    assert_eq!(
        key_id(&g, g.authenticate(None, Some(b"Bearer sk-alice")).unwrap()).as_deref(),
        Some("alice")
    );
    assert_eq!(
        key_id(
            &g,
            g.authenticate(None, Some(b"bearer  sk-alice ")).unwrap()
        )
        .as_deref(),
        Some("alice")
    );
    // Both present: the one that is a virtual key wins, whichever header it is in.
    assert_eq!(
        key_id(
            &g,
            g.authenticate(Some(b"sk-ant-real"), Some(b"Bearer sk-alice"))
                .unwrap()
        )
        .as_deref(),
        Some("alice")
    );
    assert_eq!(
        key_id(
            &g,
            g.authenticate(Some(b"sk-alice"), Some(b"Bearer sk-ant-real"))
                .unwrap()
        )
        .as_deref(),
        Some("alice")
    );
    // Not a bearer credential: ignored.
    assert_eq!(
        g.authenticate(None, Some(b"Basic sk-alice")),
        Err(Rejection::Unauthenticated(AuthFailure::Unknown))
    );
}

#[test]
fn require_virtual_key_decides_what_happens_without_one() {
    let (_, required) = governor(true, "");
    assert_eq!(
        required.authenticate(None, None),
        Err(Rejection::Unauthenticated(AuthFailure::Missing))
    );
    assert_eq!(
        required.authenticate(Some(b"  "), None),
        Err(Rejection::Unauthenticated(AuthFailure::Missing))
    );
    let unknown = required.authenticate(Some(b"sk-ant-real"), None);
    assert_eq!(
        unknown,
        Err(Rejection::Unauthenticated(AuthFailure::Unknown))
    );
    let rejection = unknown.unwrap_err();
    assert_eq!(
        (rejection.status(), rejection.error_type()),
        (401, "authentication_error")
    );
    let (_, optional) = governor(false, "");
    assert_eq!(optional.authenticate(None, None), Ok(None));
    assert_eq!(optional.authenticate(Some(b"sk-ant-real"), None), Ok(None));
}

#[test]
fn revoked_and_expired_keys_are_refused_even_when_keys_are_optional() {
    let expiring = "[[virtual_keys]]\nid = \"bob\"\nsecret = \"sk-bob\"\nteam = \"platform\"\nexpires_at = \"2026-01-01T00:00:10Z\"\n";
    let (clock, g) = governor(false, expiring);
    assert!(g.authenticate(Some(b"sk-bob"), None).unwrap().is_some());
    let bob = g.authenticate(Some(b"sk-bob"), None).unwrap();
    clock.set(utc(2026, 1, 1, 0, 0, 10) - 1);
    assert!(
        g.authenticate(Some(b"sk-bob"), None).unwrap().is_some(),
        "valid until its second"
    );
    clock.set(utc(2026, 1, 1, 0, 0, 10));
    assert_eq!(
        g.authenticate(Some(b"sk-bob"), None),
        Err(Rejection::Unauthenticated(AuthFailure::Expired))
    );
    // A key authenticated before it expired is refused at admission after.
    let refused = g.admit(bob, "p", "m", 0, 0).err();
    assert_eq!(
        refused,
        Some(Rejection::Unauthenticated(AuthFailure::Expired))
    );

    let alice_before = g.authenticate(Some(b"sk-alice"), None).unwrap();
    g.revoke_key("alice").unwrap();
    assert_eq!(
        g.authenticate(Some(b"sk-alice"), None),
        Err(Rejection::Unauthenticated(AuthFailure::Revoked))
    );
    assert_eq!(
        g.authenticate(None, Some(b"Bearer sk-alice")),
        Err(Rejection::Unauthenticated(AuthFailure::Revoked))
    );
    assert_eq!(
        g.admit(alice_before, "p", "m", 0, 0).err(),
        Some(Rejection::Unauthenticated(AuthFailure::Revoked))
    );
}

#[test]
fn config_keys_may_be_given_as_digests() {
    let digest: String = hash_secret(b"sk-carol")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let carol = format!(
        "[[virtual_keys]]\nid = \"carol\"\nsecret_sha256 = \"{digest}\"\nteam = \"platform\"\n"
    );
    let (_, g) = governor(true, &carol);
    assert_eq!(
        key_id(&g, g.authenticate(Some(b"sk-carol"), None).unwrap()).as_deref(),
        Some("carol")
    );
    assert_eq!(
        g.authenticate(Some(b"sk-caro"), None),
        Err(Rejection::Unauthenticated(AuthFailure::Unknown))
    );
}

#[test]
fn minted_secrets_have_the_prefix_and_256_random_bits() {
    let a = mint_secret().unwrap();
    let b = mint_secret().unwrap();
    assert!(a.starts_with(SECRET_PREFIX));
    assert_eq!(a.len(), SECRET_PREFIX.len() + SECRET_RANDOM_CHARS);
    assert!(
        a[SECRET_PREFIX.len()..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric())
    );
    assert_ne!(a, b);
}

#[test]
fn bearer_parsing_takes_only_the_token() {
    assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
    assert_eq!(bearer_token(b"BEARER abc "), Some(&b"abc"[..]));
    assert_eq!(bearer_token(b"Bearer "), None);
    assert_eq!(bearer_token(b"Bearer"), None);
    assert_eq!(bearer_token(b"Token abc"), None);
}
