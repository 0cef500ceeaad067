//! Signed app URLs (the embedded mode's stand-in for S3 presigned URLs): an HMAC-SHA256 over
//! what the URL allows (the action, the track, the object key, the size for uploads) and its
//! expiry, with a secret every instance shares (kept in the database).

use audioproc_s3::digest::hex;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::now_ms;

/// How long a signed URL lasts at most (and by default), milliseconds: 15 minutes.
pub const URL_LIFETIME_MS: i64 = 15 * 60 * 1000;

/// What a signed URL may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `PUT` the input (or one part of it).
    Upload,
    /// `GET` the output as an attachment.
    Download,
    /// `GET` the output inline (an `<audio>` element).
    Play,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Upload => "upload",
            Action::Download => "download",
            Action::Play => "play",
        }
    }
}

/// Signs and checks URLs with one secret.
#[derive(Clone)]
pub struct Signer {
    secret: Vec<u8>,
    lifetime_ms: i64,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

/// Why a signed URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Its time is up.
    #[error("this link has expired: ask for a new one")]
    Expired,
    /// The signature does not match what is asked.
    #[error("this link is not valid")]
    BadSignature,
}

impl Signer {
    /// A signer with `secret` whose URLs last `lifetime_ms` (at most [`URL_LIFETIME_MS`]).
    pub fn new(secret: &str, lifetime_ms: i64) -> Self {
        Signer { secret: secret.as_bytes().to_vec(), lifetime_ms: lifetime_ms.clamp(1, URL_LIFETIME_MS) }
    }

    fn mac(&self, action: Action, track: &str, scope: &str, expires: i64) -> String {
        // A key of any length is accepted by HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!());
        for part in [action.name(), track, scope, &expires.to_string()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        hex(&mac.finalize().into_bytes())
    }

    /// The query string (`expires=…&signature=…`) allowing `action` on `track` within `scope`
    /// (a key, a part number and size…) for the signer's lifetime from now.
    pub fn query(&self, action: Action, track: &str, scope: &str) -> String {
        self.query_until(action, track, scope, now_ms() + self.lifetime_ms)
    }

    /// Like [`query`](Self::query), expiring at `expires` (Unix milliseconds).
    pub fn query_until(&self, action: Action, track: &str, scope: &str, expires: i64) -> String {
        format!("expires={expires}&signature={}", self.mac(action, track, scope, expires))
    }

    /// Checks a URL's `expires` and `signature` for `action` on `track` within `scope`.
    ///
    /// # Errors
    /// Expired, or not signed for this.
    pub fn check(
        &self,
        action: Action,
        track: &str,
        scope: &str,
        expires: i64,
        signature: &str,
    ) -> Result<(), Refused> {
        let want = self.mac(action, track, scope, expires);
        // Compare in constant time: the signature is a secret until it matches.
        let same = want.len() == signature.len()
            && want.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !same {
            return Err(Refused::BadSignature);
        }
        if expires < now_ms() {
            return Err(Refused::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(q: &str) -> (i64, String) {
        let mut expires = 0;
        let mut sig = String::new();
        for kv in q.split('&') {
            match kv.split_once('=') {
                Some(("expires", v)) => expires = v.parse().unwrap(),
                Some(("signature", v)) => sig = v.to_owned(),
                _ => {}
            }
        }
        (expires, sig)
    }

    #[test]
    fn a_url_allows_exactly_what_it_was_signed_for_until_it_expires() {
        let s = Signer::new("secret", URL_LIFETIME_MS);
        let (expires, sig) = parts(&s.query(Action::Upload, "t1", "k:100"));
        assert!(expires > now_ms() && expires <= now_ms() + URL_LIFETIME_MS);
        assert_eq!(s.check(Action::Upload, "t1", "k:100", expires, &sig), Ok(()));
        for (a, t, scope) in
            [(Action::Download, "t1", "k:100"), (Action::Upload, "t2", "k:100"), (Action::Upload, "t1", "k:101")]
        {
            assert_eq!(s.check(a, t, scope, expires, &sig), Err(Refused::BadSignature));
        }
        assert_eq!(s.check(Action::Upload, "t1", "k:100", expires + 1, &sig), Err(Refused::BadSignature));
        assert_eq!(
            Signer::new("other", URL_LIFETIME_MS).check(Action::Upload, "t1", "k:100", expires, &sig),
            Err(Refused::BadSignature)
        );
        let (old, old_sig) = parts(&s.query_until(Action::Play, "t1", "k", now_ms() - 1));
        assert_eq!(s.check(Action::Play, "t1", "k", old, &old_sig), Err(Refused::Expired));
    }
}
