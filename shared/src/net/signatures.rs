//! HMAC-SHA256 request signatures, both ways: the ones Outbox puts on what it sends (the `http`
//! provider's `X-Outbox-Signature`, webhooks' `Outbox-Signature`) and the ones it checks on what it
//! receives (Meta's `X-Hub-Signature-256`, an `http` gateway's receipts). Every check compares in
//! constant time over the raw body, before anything parses it.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// How far a signed timestamp may be from now, either way: replays older than this are refused.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// Why a signature was not accepted; each is a 401 at the edge, and none says which secret was tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request is not signed")]
    Missing,
    #[error("the signature header is not in the expected form")]
    Malformed,
    #[error("the signed timestamp is more than {TIMESTAMP_TOLERANCE_SECS} seconds from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

fn mac(secret: &SecretString) -> Hmac<Sha256> {
    // HMAC takes a key of any length, so this never fails.
    Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).expect("HMAC accepts keys of any length")
}

/// The hex HMAC-SHA256 of `"{timestamp}.{body}"`: what both of Outbox's own schemes sign.
pub fn timestamped_hex(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `hex_signature` is the HMAC of `"{timestamp}.{body}"` under `secret`, in constant time.
fn timestamped_matches(secret: &SecretString, timestamp: i64, body: &[u8], hex_signature: &str) -> bool {
    let Ok(expected) = hex::decode(hex_signature) else { return false };
    let mut mac = mac(secret);
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The webhook header `Outbox-Signature: t=<unix>,v1=<hex>[,v1=<hex>]`: one `v1` per live secret,
/// the current one first (two during a rotation, so a receiver with either secret verifies it).
pub fn webhook_header(secrets: &[&SecretString], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&timestamped_hex(secret, timestamp, body));
    }
    header
}

/// Checks a webhook header as a receiver would: a `t` within the tolerance of `now` and one `v1`
/// that matches `secret`. Outbox's own tests use it as the reference receiver.
pub fn verify_webhook_header(
    secret: &SecretString,
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = vec![];
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", value)) => signatures.push(value),
            // Later schemes may add entries; a receiver ignores what it does not know.
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > TIMESTAMP_TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    // Every entry is checked, so the time taken does not say which one matched.
    let matched = signatures.iter().fold(false, |found, sig| timestamped_matches(secret, timestamp, body, sig) | found);
    if matched { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// The `http` provider's `X-Outbox-Signature` value: `sha256=<hex HMAC of "{timestamp}.{body}">`,
/// with the timestamp sent beside it as `X-Outbox-Timestamp`.
pub fn outbox_signature(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    format!("sha256={}", timestamped_hex(secret, timestamp, body))
}

/// Checks a request signed the way the `http` provider signs (a gateway's receipts):
/// `X-Outbox-Timestamp` within the tolerance of `now` and `X-Outbox-Signature` matching.
pub fn verify_outbox_signature(
    secret: &SecretString,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (timestamp, signature) = timestamp.zip(signature).ok_or(SignatureError::Missing)?;
    let timestamp: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Malformed)?;
    let hex_signature = signature.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    if (now - timestamp).abs() > TIMESTAMP_TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    if timestamped_matches(secret, timestamp, body, hex_signature) { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// Meta's `X-Hub-Signature-256` value for `body`: what a fake Graph API (the tests) sends.
pub fn meta_signature(app_secret: &SecretString, body: &[u8]) -> String {
    let mut mac = mac(app_secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks Meta's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body under the app secret>`.
/// Meta signs no timestamp, so there is no replay window to check; applying a status twice is harmless.
pub fn verify_meta_signature(
    app_secret: &SecretString,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_signature = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_signature).map_err(|_| SignatureError::Malformed)?;
    let mut mac = mac(app_secret);
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// Whether `given` equals `secret`, in time independent of where they differ and of their
/// lengths: both are MACed under one key and the MACs compared with `verify_slice`.
pub fn same_secret(secret: &SecretString, given: &str) -> bool {
    let key = SecretString::from("outbox/same-secret".to_string());
    let mut expected = mac(&key);
    expected.update(secret.expose_secret().as_bytes());
    let mut candidate = mac(&key);
    candidate.update(given.as_bytes());
    candidate.verify_slice(&expected.finalize().into_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value.to_string())
    }

    #[test]
    fn the_timestamped_scheme_matches_an_independent_computation() {
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"whsec", b"1700000000.{\"a\":1}", hashlib.sha256).hexdigest())'
        assert_eq!(
            timestamped_hex(&secret("whsec"), 1_700_000_000, br#"{"a":1}"#),
            "8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032"
        );
        // The `http` provider's header, computed independently with Python's hmac module.
        assert_eq!(
            outbox_signature(&secret("whsec_test"), 1_700_000_000, br#"{"queue_id":"q-1"}"#),
            "sha256=8c6ea99d528a51adba9bfd130517d6385cd0896b299bf210f1be15fd51151df2"
        );
    }

    #[test]
    fn a_webhook_header_lists_one_v1_per_secret_and_verifies_with_either() {
        let (new, old) = (secret("new"), secret("old"));
        let body = br#"{"id":"evt_1"}"#;
        let header = webhook_header(&[&new, &old], 1_000, body);
        assert!(header.starts_with("t=1000,v1="), "{header}");
        assert_eq!(header.matches("v1=").count(), 2);
        assert_eq!(verify_webhook_header(&new, Some(&header), body, 1_000), Ok(()));
        assert_eq!(verify_webhook_header(&old, Some(&header), body, 1_299), Ok(()));
        assert_eq!(verify_webhook_header(&secret("other"), Some(&header), body, 1_000), Err(SignatureError::Mismatch));
        assert_eq!(verify_webhook_header(&new, Some(&header), b"{}", 1_000), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_webhook_header_outside_the_tolerance_or_malformed_is_refused() {
        let key = secret("k");
        let header = webhook_header(&[&key], 1_000, b"x");
        assert_eq!(verify_webhook_header(&key, Some(&header), b"x", 1_301), Err(SignatureError::Stale));
        assert_eq!(verify_webhook_header(&key, Some(&header), b"x", 699), Err(SignatureError::Stale));
        assert_eq!(verify_webhook_header(&key, None, b"x", 1_000), Err(SignatureError::Missing));
        for bad in ["v1=abc", "t=1000", "t=soon,v1=ab", "garbage"] {
            assert_eq!(verify_webhook_header(&key, Some(bad), b"x", 1_000), Err(SignatureError::Malformed), "{bad}");
        }
    }

    #[test]
    fn the_outbox_signature_round_trips_and_names_what_is_wrong() {
        let key = secret("gateway-secret");
        let signature = outbox_signature(&key, 50, b"body");
        assert_eq!(verify_outbox_signature(&key, Some("50"), Some(&signature), b"body", 60), Ok(()));
        assert_eq!(
            verify_outbox_signature(&key, Some("50"), Some(&signature), b"body!", 60),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify_outbox_signature(&key, None, Some(&signature), b"body", 60), Err(SignatureError::Missing));
        assert_eq!(
            verify_outbox_signature(&key, Some("50"), Some("md5=00"), b"body", 60),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_outbox_signature(&key, Some("50"), Some(&signature), b"body", 400),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn same_secret_compares_whole_values_only() {
        let token = secret("verify-me");
        assert!(same_secret(&token, "verify-me"));
        for other in ["verify-m", "verify-me!", "", "VERIFY-ME"] {
            assert!(!same_secret(&token, other), "{other}");
        }
    }

    #[test]
    fn metas_signature_is_the_hmac_of_the_raw_body() {
        let app_secret = secret("app-secret");
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let mut mac = mac(&app_secret);
        mac.update(body);
        let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(verify_meta_signature(&app_secret, Some(&header), body), Ok(()));
        assert_eq!(verify_meta_signature(&secret("wrong"), Some(&header), body), Err(SignatureError::Mismatch));
        assert_eq!(verify_meta_signature(&app_secret, Some(&header), b"{}"), Err(SignatureError::Mismatch));
        assert_eq!(verify_meta_signature(&app_secret, None, body), Err(SignatureError::Missing));
        assert_eq!(verify_meta_signature(&app_secret, Some("sha1=00"), body), Err(SignatureError::Malformed));
        assert_eq!(verify_meta_signature(&app_secret, Some("sha256=zz"), body), Err(SignatureError::Malformed));
    }
}
