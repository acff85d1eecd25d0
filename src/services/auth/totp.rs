//! TOTP as RFC 6238 defines it (HMAC-SHA-1, 6 digits, 30-second steps, ±1 step of
//! clock drift), the secrets and recovery codes it hands out, and the [`Vault`] that seals
//! secrets at rest and hashes recovery codes. No I/O and no clock of its own: callers pass
//! the time, which keeps this testable against the RFC's vectors.
//!
//! - Secrets are 20 random bytes (160 bits, RFC 4226 §4), shown once as unpadded base32.
//! - At rest a secret is sealed with ChaCha20-Poly1305 under a key derived from the
//!   instance's `totp_key` setting, with the user id as associated data (a sealed secret
//!   copied to another user's row does not open).
//! - Recovery codes carry 80 random bits; only HMAC-SHA-256(pepper, user id, code) is
//!   stored. At that entropy a slow hash buys nothing, and checking one must not cost ten
//!   argon2 runs on the shared password pool; the pepper (derived from the same setting)
//!   keeps a leaked table of hashes useless on its own.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// How many recovery codes an enrolment hands out.
pub const RECOVERY_CODES: usize = 10;
/// The issuer authenticator apps show.
pub const ISSUER: &str = "Vellum";

const BASE32_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The HOTP value of `secret` at counter `step` with `digits` digits (RFC 4226 §5.3).
pub fn code_at(secret: &[u8], step: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The step a Unix time falls in.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The step whose code `code` is, among the current step and one either side, if it is
/// later than `last_step` (a step's code works once). Every candidate is compared, so the
/// time taken does not depend on which one matched.
pub fn verify(secret: &[u8], code: &str, now_step: i64, last_step: Option<i64>) -> Option<i64> {
    let given = parse_code(code)?;
    let mut found = None;
    for step in [now_step - 1, now_step, now_step + 1] {
        let Ok(counter) = u64::try_from(step) else {
            continue;
        };
        let fresh = last_step.is_none_or(|last| step > last);
        if code_at(secret, counter, DIGITS) == given && fresh && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// Six ASCII digits, or nothing.
fn parse_code(code: &str) -> Option<u32> {
    (code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit()))
        .then(|| code.parse().ok())
        .flatten()
}

/// A new secret: 20 random bytes.
pub fn new_secret() -> [u8; 20] {
    rand::random()
}

/// Unpadded upper-case base32 (RFC 4648), as authenticator apps take it.
pub fn base32(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

/// The `otpauth://` URI of the Key Uri Format: label = the email, issuer `Vellum`.
pub fn otpauth_uri(email: &str, secret_b32: &str) -> String {
    format!(
        "otpauth://totp/{}?secret={secret_b32}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent_encode(email)
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A new recovery code: 16 base32 characters (80 bits) as `abcd-efgh-ijkl-mnop`.
pub fn new_recovery_code() -> String {
    let bytes: [u8; 16] = rand::random();
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(BASE32_ALPHABET[usize::from(b & 31)]))
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// A recovery code as typed (any case, dashes or not) in its one canonical form, or
/// nothing when it cannot be one.
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == 16 && code.bytes().all(|b| BASE32_ALPHABET.contains(&b))).then_some(code)
}

/// Why a secret would not seal, or a sealed one not open (a wrong key, a tampered row).
#[derive(Debug, thiserror::Error)]
#[error("a TOTP secret could not be sealed or opened with this instance's key")]
pub struct SealError;

/// Seals TOTP secrets and hashes recovery codes with keys derived from one instance key.
pub struct Vault {
    sealing: LessSafeKey,
    pepper: hmac::Key,
}

impl Vault {
    /// From the instance key (32 random bytes, URL-safe base64, the `totp_key` setting).
    pub fn new(instance_key: &str) -> anyhow::Result<Vault> {
        let master = URL_SAFE_NO_PAD.decode(instance_key)?;
        anyhow::ensure!(master.len() >= 32, "the totp_key setting is too short");
        let master = hmac::Key::new(hmac::HMAC_SHA256, &master);
        let derive = |label: &str| hmac::sign(&master, label.as_bytes());
        let sealing = UnboundKey::new(
            &aead::CHACHA20_POLY1305,
            derive("vellum totp secret sealing v1").as_ref(),
        )
        .map_err(|_| anyhow::anyhow!("could not make the TOTP sealing key"))?;
        Ok(Vault {
            sealing: LessSafeKey::new(sealing),
            pepper: hmac::Key::new(
                hmac::HMAC_SHA256,
                derive("vellum recovery code pepper v1").as_ref(),
            ),
        })
    }

    /// `v1.` + base64(nonce ‖ ciphertext ‖ tag), bound to `user_id`.
    pub fn seal(&self, user_id: &str, secret: &[u8]) -> Result<String, SealError> {
        let nonce: [u8; 12] = rand::random();
        let mut sealed = secret.to_vec();
        self.sealing
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(user_id.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("v1.{}", URL_SAFE_NO_PAD.encode(out)))
    }

    pub fn open(&self, user_id: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let bytes = sealed
            .strip_prefix("v1.")
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|b| b.len() > 12 + aead::CHACHA20_POLY1305.tag_len())
            .ok_or(SealError)?;
        let (nonce, body) = bytes.split_at(12);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError)?;
        let mut body = body.to_vec();
        let plain = self
            .sealing
            .open_in_place(nonce, Aad::from(user_id.as_bytes()), &mut body)
            .map_err(|_| SealError)?;
        Ok(plain.to_vec())
    }

    /// The stored form of a (normalized) recovery code of `user_id`: 64 hex digits.
    pub fn recovery_hash(&self, user_id: &str, normalized: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.pepper);
        ctx.update(user_id.as_bytes());
        ctx.update(&[0]);
        ctx.update(normalized.as_bytes());
        hex::encode(ctx.sign().as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_6238_sha1_vectors() {
        // RFC 6238 Appendix B (8 digits), and the same values cut to our 6.
        for (time, code) in [
            (59i64, 94287082u32),
            (1_111_111_109, 7081804),
            (1_111_111_111, 14050471),
            (1_234_567_890, 89005924),
            (2_000_000_000, 69279037),
            (20_000_000_000, 65353130),
        ] {
            let step = u64::try_from(step_of(time)).expect("positive");
            assert_eq!(code_at(RFC_SECRET, step, 8), code, "T = {time}");
            assert_eq!(code_at(RFC_SECRET, step, 6), code % 1_000_000, "T = {time}");
        }
    }

    #[test]
    fn verification_allows_one_step_of_drift_and_each_step_once() {
        let now = step_of(1_111_111_111);
        let code = |step: i64| format!("{:06}", code_at(RFC_SECRET, step as u64, 6));
        assert_eq!(verify(RFC_SECRET, &code(now), now, None), Some(now));
        assert_eq!(verify(RFC_SECRET, &code(now - 1), now, None), Some(now - 1));
        assert_eq!(verify(RFC_SECRET, &code(now + 1), now, None), Some(now + 1));
        assert_eq!(verify(RFC_SECRET, &code(now - 2), now, None), None);
        assert_eq!(verify(RFC_SECRET, &code(now + 2), now, None), None);
        // Used steps, and the ones before them, are spent.
        assert_eq!(verify(RFC_SECRET, &code(now), now, Some(now)), None);
        assert_eq!(verify(RFC_SECRET, &code(now - 1), now, Some(now)), None);
        assert_eq!(
            verify(RFC_SECRET, &code(now + 1), now, Some(now)),
            Some(now + 1)
        );
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            " 12345",
            "+12345",
            "１２３４５６",
        ] {
            assert_eq!(verify(RFC_SECRET, bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn the_uri_and_secret_are_what_authenticator_apps_read() {
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            otpauth_uri("a.b+c@example.com", "ABC"),
            "otpauth://totp/a.b%2Bc%40example.com?secret=ABC&issuer=Vellum&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_are_80_bits_in_a_forgiving_shape() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 19, "{code}");
        let normal = normalize_recovery_code(&code).expect("normalizes");
        assert_eq!(normal.len(), 16);
        assert_eq!(
            normalize_recovery_code(&normal.to_uppercase()),
            Some(normal.clone())
        );
        assert_eq!(normalize_recovery_code("abcd-efgh-ijkl-mno1"), None);
        assert_eq!(normalize_recovery_code("abcd"), None);
        assert_ne!(new_recovery_code(), code);
    }

    #[test]
    fn sealed_secrets_open_only_for_their_user_and_key() {
        let key = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let vault = Vault::new(&key).expect("vault");
        let sealed = vault.seal("user-1", RFC_SECRET).expect("seals");
        assert!(!sealed.contains(&base32(RFC_SECRET)));
        assert_eq!(vault.open("user-1", &sealed).expect("opens"), RFC_SECRET);
        assert!(vault.open("user-2", &sealed).is_err(), "bound to the user");
        let other = Vault::new(&URL_SAFE_NO_PAD.encode([8u8; 32])).expect("vault");
        assert!(other.open("user-1", &sealed).is_err(), "bound to the key");
        assert!(vault.open("user-1", "v1.AAAA").is_err());
        assert_ne!(
            vault.seal("user-1", RFC_SECRET).expect("seals"),
            sealed,
            "fresh nonce"
        );
        let h = vault.recovery_hash("user-1", "abcdefghijklmnop");
        assert_eq!(h.len(), 64);
        assert_ne!(h, vault.recovery_hash("user-2", "abcdefghijklmnop"));
        assert_ne!(h, other.recovery_hash("user-1", "abcdefghijklmnop"));
    }
}
