//! Web Push message encryption (RFC 8291 over the RFC 8188 `aes128gcm` content coding) and
//! VAPID application-server identification (RFC 8292), in pure Rust.
//!
//! The sender side is [`encrypt`] and [`vapid_authorization`]; [`decrypt`] and [`verify_vapid`]
//! do what a browser and a push service do, so tests can check the whole path without either.
//! All base64 here is the URL-safe alphabet; output has no padding, input may have it.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use p256::ecdh::diffie_hellman;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

/// Record size written into the header; the whole message is always one record.
const RECORD_SIZE: u32 = 4096;
/// Length of an uncompressed SEC1 P-256 point: 0x04 || x(32) || y(32).
const POINT_LEN: usize = 65;
/// AES-GCM authentication tag length.
const TAG_LEN: usize = 16;
/// salt(16) || rs(4) || idlen(1) || keyid(65).
const HEADER_LEN: usize = 16 + 4 + 1 + POINT_LEN;
/// Largest payload whose encrypted body (header, delimiter and tag included) stays within the
/// 4096 bytes every push service must accept.
pub const MAX_PAYLOAD: usize = 4096 - HEADER_LEN - 1 - TAG_LEN;
/// How long a VAPID token is valid (RFC 8292 allows at most 24 hours).
const VAPID_TTL_SECS: i64 = 12 * 3600;

/// The application server's VAPID key pair (a P-256 private key; the public key is derived).
#[derive(Clone)]
pub struct VapidKeys {
    secret: SecretKey,
}

impl std::fmt::Debug for VapidKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("VapidKeys")
            .field("public", &self.public_base64url())
            .finish()
    }
}

impl VapidKeys {
    /// Makes a fresh key pair from the operating system's random source.
    pub fn generate() -> VapidKeys {
        VapidKeys {
            secret: SecretKey::random(&mut OsRng),
        }
    }

    /// Loads a key from its 32-byte private scalar in base64url.
    pub fn from_private_base64url(s: &str) -> Result<VapidKeys, String> {
        let bytes = unb64(s, "VAPID private key")?;
        if bytes.len() != 32 {
            return Err(format!(
                "VAPID private key must be 32 bytes, got {}",
                bytes.len()
            ));
        }
        let secret = SecretKey::from_slice(&bytes)
            .map_err(|_| "VAPID private key is not a valid P-256 scalar".to_string())?;
        Ok(VapidKeys { secret })
    }

    /// The 32-byte private scalar in base64url without padding (store this secretly).
    pub fn private_base64url(&self) -> String {
        b64(self.secret.to_bytes())
    }

    /// The uncompressed public point (65 bytes) in base64url without padding: the browser's
    /// `applicationServerKey` and the `k=` value of the Authorization header.
    pub fn public_base64url(&self) -> String {
        b64(self.secret.public_key().to_encoded_point(false).as_bytes())
    }
}

/// Builds the `Authorization` header value `vapid t=<JWT>, k=<public key>` for a push request to
/// `endpoint`. The token's audience is the endpoint's origin and it expires 12 hours after `now`
/// (Unix seconds); `subject` is a `mailto:` or `https:` contact for the push service operator.
pub fn vapid_authorization(
    keys: &VapidKeys,
    endpoint: &str,
    subject: &str,
    now: i64,
) -> Result<String, String> {
    let aud = origin(endpoint)?;
    if subject.trim().is_empty() {
        return Err("VAPID subject is empty".to_string());
    }
    let claims = serde_json::json!({
        "aud": aud,
        "exp": now.saturating_add(VAPID_TTL_SECS),
        "sub": subject,
    });
    let signing_input = format!(
        "{}.{}",
        b64(br#"{"typ":"JWT","alg":"ES256"}"#),
        b64(claims.to_string())
    );
    let signature: Signature = SigningKey::from(&keys.secret).sign(signing_input.as_bytes());
    Ok(format!(
        "vapid t={signing_input}.{}, k={}",
        b64(signature.to_bytes()),
        keys.public_base64url()
    ))
}

/// Checks a `vapid t=..., k=...` header the way a push service would: `k` must be
/// `public_b64` and the ES256 signature must verify with it. Returns the token's claims.
pub fn verify_vapid(authorization: &str, public_b64: &str) -> Result<serde_json::Value, String> {
    let params = authorization
        .trim()
        .strip_prefix("vapid ")
        .ok_or("not a vapid Authorization header")?;
    let (mut token, mut key) = (None, None);
    for part in params.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("t=") {
            token = Some(v);
        } else if let Some(v) = part.strip_prefix("k=") {
            key = Some(v);
        }
    }
    let token = token.ok_or("vapid header has no t= token")?;
    let key = key.ok_or("vapid header has no k= key")?;
    if key.trim_end_matches('=') != public_b64.trim().trim_end_matches('=') {
        return Err("vapid k= is not the expected public key".to_string());
    }
    let verifying_key = VerifyingKey::from_sec1_bytes(&unb64(key, "vapid k=")?)
        .map_err(|_| "vapid k= is not a P-256 public key".to_string())?;
    let mut parts = token.split('.');
    let (header, claims, sig) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(c), Some(s), None) => (h, c, s),
        _ => return Err("vapid token is not a three-part JWT".to_string()),
    };
    let header: serde_json::Value = serde_json::from_slice(&unb64(header, "JWT header")?)
        .map_err(|_| "JWT header is not JSON".to_string())?;
    if header["alg"] != "ES256" {
        return Err("JWT algorithm is not ES256".to_string());
    }
    let signature = Signature::from_slice(&unb64(sig, "JWT signature")?)
        .map_err(|_| "JWT signature is not a 64-byte ES256 signature".to_string())?;
    // The signed part is everything before the last '.', exactly as it appears in the token.
    let signed = &token[..token.len() - sig.len() - 1];
    verifying_key
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "JWT signature does not verify".to_string())?;
    serde_json::from_slice(&unb64(claims, "JWT claims")?)
        .map_err(|_| "JWT claims are not JSON".to_string())
}

/// Encrypts `payload` for one browser subscription (its `p256dh` key and `auth` secret, as the
/// browser reports them) with a fresh salt and a fresh ephemeral key. Returns the complete
/// `aes128gcm` request body: salt || record size || key id length || ephemeral key || ciphertext.
pub fn encrypt(
    payload: &[u8],
    ua_public_b64: &str,
    auth_secret_b64: &str,
) -> Result<Vec<u8>, String> {
    let ua_public = unb64(ua_public_b64, "subscription p256dh key")?;
    let auth_secret = unb64(auth_secret_b64, "subscription auth secret")?;
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    encrypt_with(
        payload,
        &ua_public,
        &auth_secret,
        salt,
        SecretKey::random(&mut OsRng),
    )
}

/// The deterministic core of [`encrypt`]: the caller supplies the salt and the ephemeral
/// application-server key. Both must be fresh for every message outside of tests.
fn encrypt_with(
    payload: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
    salt: [u8; 16],
    as_secret: SecretKey,
) -> Result<Vec<u8>, String> {
    if payload.len() > MAX_PAYLOAD {
        return Err(format!(
            "payload is {} bytes, at most {MAX_PAYLOAD} fit",
            payload.len()
        ));
    }
    check_auth_secret(auth_secret)?;
    let ua_key = parse_point(ua_public, "subscription p256dh key")?;
    let as_point = as_secret.public_key().to_encoded_point(false);
    let as_public = as_point.as_bytes();
    let shared = diffie_hellman(as_secret.to_nonzero_scalar(), ua_key.as_affine());
    let (cek, nonce) = derive_keys(
        shared.raw_secret_bytes().as_slice(),
        auth_secret,
        ua_public,
        as_public,
        &salt,
    )?;

    let mut plaintext = Vec::with_capacity(payload.len() + 1);
    plaintext.extend_from_slice(payload);
    plaintext.push(0x02); // padding delimiter of the last (and only) record, no padding after it
    let cipher =
        Aes128Gcm::new_from_slice(&cek).map_err(|_| "bad content key length".to_string())?;
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), plaintext.as_slice())
        .map_err(|_| "AES-GCM encryption failed".to_string())?;

    let mut body = Vec::with_capacity(HEADER_LEN + ciphertext.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(POINT_LEN as u8);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&ciphertext);
    Ok(body)
}

/// Decrypts a single-record `aes128gcm` body the way the browser does, given the
/// subscription's private key and auth secret, and strips the padding.
pub fn decrypt(body: &[u8], ua_secret: &SecretKey, auth_secret: &[u8]) -> Result<Vec<u8>, String> {
    check_auth_secret(auth_secret)?;
    if body.len() < HEADER_LEN + TAG_LEN + 1 {
        return Err("body is too short for an aes128gcm message".to_string());
    }
    let salt = &body[..16];
    let record_size = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
    if body[20] as usize != POINT_LEN {
        return Err("key id is not a 65-byte P-256 public key".to_string());
    }
    let as_public = &body[21..HEADER_LEN];
    let ciphertext = &body[HEADER_LEN..];
    if record_size < TAG_LEN + 2 {
        return Err("record size is too small".to_string());
    }
    if ciphertext.len() > record_size {
        return Err("messages of more than one record are not supported".to_string());
    }
    let as_key = parse_point(as_public, "sender key")?;
    let ua_point = ua_secret.public_key().to_encoded_point(false);
    let shared = diffie_hellman(ua_secret.to_nonzero_scalar(), as_key.as_affine());
    let (cek, nonce) = derive_keys(
        shared.raw_secret_bytes().as_slice(),
        auth_secret,
        ua_point.as_bytes(),
        as_public,
        salt,
    )?;
    let cipher =
        Aes128Gcm::new_from_slice(&cek).map_err(|_| "bad content key length".to_string())?;
    let mut plaintext = cipher
        .decrypt(Nonce::from_slice(&nonce), ciphertext)
        .map_err(|_| "decryption failed (wrong key or tampered body)".to_string())?;
    // Padding is the delimiter followed by zeros; 0x02 marks the last record.
    let end = plaintext
        .iter()
        .rposition(|&b| b != 0)
        .ok_or("record has no padding delimiter")?;
    if plaintext[end] != 0x02 {
        return Err("record is not marked as the last one".to_string());
    }
    plaintext.truncate(end);
    Ok(plaintext)
}

/// RFC 8291 §3.4 key schedule: returns the AES-128 content key and the 12-byte nonce.
fn derive_keys(
    ecdh_secret: &[u8],
    auth_secret: &[u8],
    ua_public: &[u8],
    as_public: &[u8],
    salt: &[u8],
) -> Result<([u8; 16], [u8; 12]), String> {
    let mut key_info = Vec::with_capacity(14 + 2 * POINT_LEN);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth_secret), ecdh_secret)
        .expand(&key_info, &mut ikm)
        .map_err(|_| "HKDF expand failed".to_string())?;
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .and_then(|()| prk.expand(b"Content-Encoding: nonce\0", &mut nonce))
        .map_err(|_| "HKDF expand failed".to_string())?;
    Ok((cek, nonce))
}

/// Parses an uncompressed P-256 point, rejecting other lengths and points off the curve.
fn parse_point(bytes: &[u8], what: &str) -> Result<PublicKey, String> {
    if bytes.len() != POINT_LEN || bytes[0] != 0x04 {
        return Err(format!("{what} is not a 65-byte uncompressed P-256 point"));
    }
    PublicKey::from_sec1_bytes(bytes).map_err(|_| format!("{what} is not on the P-256 curve"))
}

/// RFC 8291 fixes the auth secret at 16 bytes.
fn check_auth_secret(auth_secret: &[u8]) -> Result<(), String> {
    if auth_secret.len() != 16 {
        return Err(format!(
            "auth secret must be 16 bytes, got {}",
            auth_secret.len()
        ));
    }
    Ok(())
}

/// `scheme://host[:port]` of a URL, lowercased, without path, query or fragment.
fn origin(endpoint: &str) -> Result<String, String> {
    let (scheme, rest) = endpoint
        .trim()
        .split_once("://")
        .ok_or("endpoint has no scheme")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Err("endpoint has an invalid scheme".to_string());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    if host.is_empty() {
        return Err("endpoint has no host".to_string());
    }
    Ok(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    ))
}

fn b64(data: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes base64url with or without trailing '=' padding.
fn unb64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(s.trim().trim_end_matches('='))
        .map_err(|_| format!("{what} is not valid base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8291 §5 / Appendix A example values.
    const PLAINTEXT: &str = "When I grow up, I want to be a watermelon";
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH_SECRET: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const AS_PUBLIC: &str =
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const BODY: &str = concat!(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml",
        "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT",
        "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    );

    fn secret(s: &str) -> SecretKey {
        SecretKey::from_slice(&unb64(s, "test key").unwrap()).unwrap()
    }

    #[test]
    fn rfc8291_vector_encrypts_and_decrypts_exactly() {
        let as_secret = secret(AS_PRIVATE);
        assert_eq!(
            b64(as_secret.public_key().to_encoded_point(false).as_bytes()),
            AS_PUBLIC
        );
        let salt: [u8; 16] = unb64(SALT, "salt").unwrap().try_into().unwrap();
        let ua_public = unb64(UA_PUBLIC, "ua").unwrap();
        let auth = unb64(AUTH_SECRET, "auth").unwrap();
        let body = encrypt_with(PLAINTEXT.as_bytes(), &ua_public, &auth, salt, as_secret).unwrap();
        assert_eq!(b64(&body), BODY);

        let ua_secret = secret(UA_PRIVATE);
        assert_eq!(
            b64(ua_secret.public_key().to_encoded_point(false).as_bytes()),
            UA_PUBLIC
        );
        let plain = decrypt(&unb64(BODY, "body").unwrap(), &ua_secret, &auth).unwrap();
        assert_eq!(plain, PLAINTEXT.as_bytes());
    }

    #[test]
    fn encrypt_round_trips_through_a_generated_receiver() {
        let ua_secret = SecretKey::random(&mut OsRng);
        let ua_public = b64(ua_secret.public_key().to_encoded_point(false).as_bytes());
        let mut auth = [0u8; 16];
        OsRng.fill_bytes(&mut auth);
        // Padded base64url input is accepted too.
        let auth_padded = base64::engine::general_purpose::URL_SAFE.encode(auth);
        assert!(auth_padded.ends_with("=="));
        let payload = br#"{"title":"Order 42","body":"Your plumber is on the way"}"#;

        let body = encrypt(payload, &ua_public, &auth_padded).unwrap();
        assert_eq!(body.len(), HEADER_LEN + payload.len() + 1 + TAG_LEN);
        assert_eq!(&body[16..20], &4096u32.to_be_bytes());
        assert_eq!(body[20], 65);
        assert_eq!(body[21], 0x04);
        assert_eq!(decrypt(&body, &ua_secret, &auth).unwrap(), payload);

        // Fresh salt and ephemeral key every time.
        let again = encrypt(payload, &ua_public, &b64(auth)).unwrap();
        assert_ne!(body, again);
        assert_eq!(decrypt(&again, &ua_secret, &auth).unwrap(), payload);

        // Wrong auth secret, tampered ciphertext, oversized payload and bad keys all fail.
        assert!(decrypt(&body, &ua_secret, &[7u8; 16]).is_err());
        let mut tampered = body.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(decrypt(&tampered, &ua_secret, &auth).is_err());
        assert!(encrypt(&vec![0u8; MAX_PAYLOAD], &ua_public, &b64(auth)).is_ok());
        assert!(encrypt(&vec![0u8; MAX_PAYLOAD + 1], &ua_public, &b64(auth)).is_err());
        assert!(encrypt(payload, "not-a-key", &b64(auth)).is_err());
        assert!(encrypt(payload, &ua_public, &b64([1u8; 8])).is_err());
    }

    #[test]
    fn vapid_header_verifies_and_rejects_tampering() {
        let keys = VapidKeys::generate();
        let now = 1_700_000_000;
        let endpoint = "https://fcm.googleapis.com/fcm/send/abc:def?x=1";
        let header = vapid_authorization(&keys, endpoint, "mailto:ops@example.com", now).unwrap();
        assert!(header.starts_with("vapid t="));
        assert!(header.ends_with(&format!(", k={}", keys.public_base64url())));

        let claims = verify_vapid(&header, &keys.public_base64url()).unwrap();
        assert_eq!(claims["aud"], "https://fcm.googleapis.com");
        assert_eq!(claims["exp"], now + 12 * 3600);
        assert_eq!(claims["sub"], "mailto:ops@example.com");

        let with_port = vapid_authorization(
            &keys,
            "https://Push.Example.com:8443/p/1",
            "mailto:a@b.c",
            now,
        )
        .unwrap();
        let claims = verify_vapid(&with_port, &keys.public_base64url()).unwrap();
        assert_eq!(claims["aud"], "https://push.example.com:8443");

        // Swap the claims for other ones, keeping the original signature.
        let token = header["vapid t=".len()..].split(", k=").next().unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims = b64(r#"{"aud":"https://evil.example","exp":1,"sub":"mailto:x@y.z"}"#);
        let forged = header.replacen(parts[1], &forged_claims, 1);
        assert!(verify_vapid(&forged, &keys.public_base64url()).is_err());

        // Flip one signature character.
        let sig = parts[2];
        let flipped_char = if sig.starts_with('A') { "B" } else { "A" };
        let bad_sig = format!("{flipped_char}{}", &sig[1..]);
        assert!(
            verify_vapid(&header.replacen(sig, &bad_sig, 1), &keys.public_base64url()).is_err()
        );

        // Another key's public key, and a header claiming another key, are both refused.
        let other = VapidKeys::generate();
        assert!(verify_vapid(&header, &other.public_base64url()).is_err());
        let swapped = header.replace(&keys.public_base64url(), &other.public_base64url());
        assert!(verify_vapid(&swapped, &other.public_base64url()).is_err());

        assert!(vapid_authorization(&keys, "fcm.googleapis.com/x", "mailto:a@b.c", now).is_err());
        assert!(vapid_authorization(&keys, "https:///x", "mailto:a@b.c", now).is_err());
        assert!(vapid_authorization(&keys, endpoint, "", now).is_err());
    }

    #[test]
    fn vapid_keys_export_and_import() {
        let keys = VapidKeys::generate();
        let private = keys.private_base64url();
        assert_eq!(unb64(&private, "private").unwrap().len(), 32);
        let public = unb64(&keys.public_base64url(), "public").unwrap();
        assert_eq!(public.len(), 65);
        assert_eq!(public[0], 0x04);
        assert!(!keys.public_base64url().contains('='));

        let again = VapidKeys::from_private_base64url(&private).unwrap();
        assert_eq!(again.public_base64url(), keys.public_base64url());
        assert_eq!(again.private_base64url(), private);
        assert!(!format!("{again:?}").contains(&private));

        assert!(VapidKeys::from_private_base64url("not base64!").is_err());
        assert!(VapidKeys::from_private_base64url(&b64([1u8; 31])).is_err());
        assert!(VapidKeys::from_private_base64url(&b64([0u8; 32])).is_err());
        assert!(VapidKeys::from_private_base64url(&b64([0xffu8; 32])).is_err());
    }
}
